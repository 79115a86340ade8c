"""Unit groups as plain records, and the index maps that slice their weights."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from . import recurrent
from .errors import LstmpruneError


@dataclass(frozen=True)
class UnitGroup:
    """One set of recurrent units pruned together with one kept-index set (method.md section 1)."""

    name: str  # "lstm", "bidirectional/forward"
    layer: str  # Keras layer name
    direction: str  # "forward", "backward" or "" for a plain recurrent layer
    cell: str  # a recurrent spec's name: "LSTM", "GRU", "SimpleRNN"
    units: int
    input_dim: int
    tie: str  # groups with the same tie keep the same number of units
    same_as: str = ""  # groups with the same non-empty key keep the same units (merge sum/ave/mul, Add)
    prunable: bool = True  # False when the group's units reach a model output

    @property
    def spec(self) -> recurrent.Recurrent:
        return recurrent.get(self.cell)

    def to_dict(self) -> dict:
        return asdict(self)


def check_kept(kept_units: list[int] | np.ndarray, units: int, where: str) -> np.ndarray:
    """Validate a kept-index list: sorted, unique, inside [0, units), non-empty."""
    kept = np.asarray(kept_units, dtype=np.int64)
    if kept.ndim != 1 or kept.size == 0:
        raise ValueError(f"{where}: kept_units must be a non-empty list; received {kept.size} entries")
    if kept.min() < 0 or kept.max() >= units or np.any(np.diff(kept) <= 0):
        raise ValueError(f"{where}: kept_units must be sorted, unique and inside [0, {units})")
    return kept


def check_groups(found: list[dict], groups: list[UnitGroup], what: str) -> None:
    """Refuse a file whose unit groups differ from the model's in any of name, layer, direction, cell, units."""
    keys = ("name", "layer", "direction", "cell", "units")
    have = {g.name: g.to_dict() for g in groups}
    for record in found:
        model = have.get(record["name"])
        if model is None:
            raise LstmpruneError(
                f"the {what} name group '{record['name']}', which this model lacks; its groups: {', '.join(have)}"
            )
        for k in keys:
            if record[k] != model[k]:
                raise LstmpruneError(
                    f"the {what} give group '{record['name']}' {k} {record[k]!r}; the model's is {model[k]!r}"
                )
    missing = set(have) - {r["name"] for r in found}
    if missing:
        raise LstmpruneError(f"the {what} lack the model's groups {sorted(missing)}")
