"""One spec per recurrent cell type: everything lstmprune knows of it, from its config and numpy weights.

A spec names the Keras layer classes that run the cell (`LSTM`) and the cell classes that
`keras.layers.RNN` wraps (`LSTMCell`). Its weights are kernel (F, G*H), recurrent_kernel (H, G*H)
and bias (G*H,) or (2, G*H) (GRU reset_after), each with G gate blocks of H columns (method.md
section 1). Every place that knows a layer type asks `spec_of`; adding a cell type is one
`register(Recurrent(...))`, or a subclass for another weight layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import LstmpruneError


@dataclass(frozen=True)
class Recurrent:
    """A recurrent cell type whose kernels hold `gates` blocks of `units` columns."""

    name: str  # the name plans and statistics record: "LSTM"
    gates: int
    layers: tuple[str, ...]  # Keras layer classes that run this cell: ("LSTM",)
    cells: tuple[str, ...] = ()  # cell classes inside keras.layers.RNN: ("LSTMCell",)

    def columns(self, kept_units: np.ndarray, units: int) -> np.ndarray:
        """Columns of kernel / recurrent_kernel / bias that belong to `kept_units`, gate by gate, (G * K,)."""
        kept_units = np.asarray(kept_units, dtype=np.int64)
        return np.concatenate([g * units + kept_units for g in range(self.gates)])

    def unit_vectors(self, weights: list[np.ndarray]) -> np.ndarray:
        """w_j = unit j's kernel and recurrent-kernel columns over all gates, (H, G * (F + H))."""
        kernel, recurrent_kernel = (np.asarray(w, dtype=np.float64) for w in weights[:2])
        units = recurrent_kernel.shape[0]
        k = kernel.reshape(kernel.shape[0], self.gates, units)  # (F, G, H)
        r = recurrent_kernel.reshape(units, self.gates, units)  # (H, G, H)
        w = np.concatenate([k.transpose(2, 1, 0), r.transpose(2, 1, 0)], axis=2)  # (H, G, F + H)
        return w.reshape(units, -1)  # (H, Q)

    def slice(self, weights: list[np.ndarray], kept_units: np.ndarray) -> list[np.ndarray]:
        """The weights of a cell that keeps only `kept_units` (kernel rows are the caller's)."""
        kernel, recurrent_kernel, *bias = weights  # (F, GH), (H, GH), (GH,) or (2, GH)
        cols = self.columns(kept_units, recurrent_kernel.shape[0])
        return [kernel[:, cols], recurrent_kernel[kept_units][:, cols]] + [b[..., cols] for b in bias]

    def mask(self, weights: list[np.ndarray], removed: np.ndarray) -> list[np.ndarray]:
        """Same-size weights whose `removed` units output 0 at every step: their columns zeroed in every gate."""
        cols = self.columns(removed, weights[1].shape[0])
        out = [np.array(w, copy=True) for w in weights]
        for w in out:
            w[..., cols] = 0.0
        return out

    def flops(self, input_dim: int, units: int) -> int:
        """Multiply-adds x 2 of one time step."""
        return 2 * self.gates * units * (input_dim + units)


REGISTRY: dict[str, Recurrent] = {}
WRAPPER = "RNN"  # keras.layers.RNN: runs the cell named in its config


def register(spec: Recurrent) -> Recurrent:
    """Add a cell type; its layer and cell class names must be new."""
    known = {n for s in REGISTRY.values() for n in (*s.layers, *s.cells)}
    if spec.name in REGISTRY or known & {*spec.layers, *spec.cells}:
        raise ValueError(f"recurrent cell {spec.name} is already registered")
    REGISTRY[spec.name] = spec
    return spec


register(Recurrent("LSTM", 4, ("LSTM",), ("LSTMCell",)))
register(Recurrent("GRU", 3, ("GRU",), ("GRUCell",)))
register(Recurrent("SimpleRNN", 1, ("SimpleRNN",), ("SimpleRNNCell",)))


def spec_of(class_name: str, config: dict) -> Recurrent | None:
    """The spec of a layer (class and config), or None when it is not a recurrent layer we know."""
    if class_name == WRAPPER:
        cell = config.get("cell")
        inner = cell.get("class_name") if isinstance(cell, dict) else None
        return next((s for s in REGISTRY.values() if inner in s.cells), None)
    return next((s for s in REGISTRY.values() if class_name in s.layers), None)


def cell_config(class_name: str, config: dict) -> dict:
    """The part of a recurrent layer's config that holds `units` and the cell's settings."""
    return config["cell"]["config"] if class_name == WRAPPER else config


def with_units(class_name: str, config: dict, units: int) -> dict:
    """A copy of a recurrent layer's config with another number of units."""
    if class_name != WRAPPER:
        return {**config, "units": int(units)}
    cell = config["cell"]
    return {**config, "cell": {**cell, "config": {**cell["config"], "units": int(units)}}}


def names() -> tuple[str, ...]:
    """The spec names, as plans and statistics record them."""
    return tuple(REGISTRY)


def layer_classes() -> list[str]:
    """Every layer lstmprune prunes, as a user writes it."""
    plain = [n for s in REGISTRY.values() for n in s.layers]
    return plain + [f"{WRAPPER}({c})" for s in REGISTRY.values() for c in s.cells]


def get(name: str) -> Recurrent:
    """The spec a plan or statistics file names."""
    if name not in REGISTRY:
        raise LstmpruneError(f"unknown recurrent cell {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]
