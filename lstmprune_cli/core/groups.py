"""Unit groups as plain records, and the index maps that slice their weights."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}


@dataclass(frozen=True)
class UnitGroup:
    """One set of recurrent units pruned together with one kept-index set (method.md section 1)."""

    name: str  # "lstm", "bidirectional/forward"
    layer: str  # Keras layer name
    direction: str  # "forward", "backward" or "" for a plain recurrent layer
    cell: str  # "LSTM", "GRU", "SimpleRNN"
    units: int
    input_dim: int
    tie: str  # groups with the same tie keep the same number of units
    same_as: str = ""  # groups with the same non-empty key keep the same units (merge sum/ave/mul, Add)
    prunable: bool = True  # False when the group's units reach a model output

    @property
    def gates(self) -> int:
        return GATES[self.cell]

    def to_dict(self) -> dict:
        return asdict(self)


def gate_columns(kept_units: np.ndarray, units: int, gates: int) -> np.ndarray:
    """Columns of kernel / recurrent_kernel / bias that belong to `kept_units`, gate by gate."""
    kept_units = np.asarray(kept_units, dtype=np.int64)
    return np.concatenate([g * units + kept_units for g in range(gates)])  # (G * K,)


def check_kept(kept_units: list[int] | np.ndarray, units: int, where: str) -> np.ndarray:
    """Validate a kept-index list: sorted, unique, inside [0, units), non-empty."""
    kept = np.asarray(kept_units, dtype=np.int64)
    if kept.ndim != 1 or kept.size == 0:
        raise ValueError(f"{where}: kept_units must be a non-empty list; received {kept.size} entries")
    if kept.min() < 0 or kept.max() >= units or np.any(np.diff(kept) <= 0):
        raise ValueError(f"{where}: kept_units must be sorted, unique and inside [0, {units})")
    return kept
