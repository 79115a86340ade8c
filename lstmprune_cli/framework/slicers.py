"""One slicer per Keras layer class: how a layer's config and weights change when units go.

A slicer takes the layer's name, class, config and weights, the `Features` of each input (which
of the original features are kept, and the constant a removed feature holds in the masked
original) and the kept units of every group, and returns the new config, the new weights and
the `Features` of its output. Constants (non-zero after BatchNormalization) are folded into the
next consumer's bias, so the cut stays exact.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..core.errors import LstmpruneError
from ..core.groups import GATES, gate_columns


@dataclass
class Cut:
    """The units each group keeps and, optionally, the value a removed unit is replaced by (its mean)."""

    kept: dict[str, np.ndarray]
    fill: dict[str, np.ndarray] = field(default_factory=dict)  # group -> (H,) values of its units


@dataclass
class Features:
    """The last axis of a tensor after the cut."""

    width: int  # original width
    kept: np.ndarray | None = None  # kept indices, None: all
    const: np.ndarray | None = None  # (width,) value of each removed feature in the masked original; None: 0

    @property
    def removed(self) -> np.ndarray:
        return np.setdiff1d(np.arange(self.width), self.kept) if self.kept is not None else np.zeros(0, np.int64)

    def all_kept(self) -> np.ndarray:
        return np.arange(self.width) if self.kept is None else self.kept

    def consts(self) -> np.ndarray:
        return np.zeros(self.width) if self.const is None else self.const


Slicer = Callable[[str, str, dict, list, list[Features], Cut, int], tuple[dict, list, Features]]


def _fold(name: str, kernel: np.ndarray, bias: list[np.ndarray], f: Features) -> tuple[np.ndarray, list[np.ndarray]]:
    """Drop the kernel rows of removed inputs; fold their constant value into the bias."""
    if f.kept is None:
        return kernel, bias
    removed = f.removed
    shift = f.consts()[removed] @ kernel[removed] if f.const is not None else None  # (out,)
    if shift is not None and np.any(shift != 0):
        if not bias:
            raise LstmpruneError(f"layer '{name}' has no bias to absorb the constant of removed units")
        b = bias[0].copy()
        if b.ndim == 2:  # GRU reset_after: (2, 3H), row 0 is the input bias
            b[0] += shift
        else:
            b += shift
        bias = [b] + bias[1:]
    return kernel[f.kept], bias


def _cell(name, config, weights, f: Features, kept_units, cell: str):
    """Slice one recurrent layer: kernel (F, GH), recurrent_kernel (H, GH), bias (GH,) or (2, GH)."""
    units = config["units"]
    kept_units = np.arange(units) if kept_units is None else np.asarray(kept_units)
    cols = gate_columns(kept_units, units, GATES[cell])  # (G * K,)
    kernel, recurrent_kernel, *bias = weights
    kernel, bias = _fold(name, kernel, bias, f)  # kernel (F', GH)
    new = [kernel[:, cols], recurrent_kernel[kept_units][:, cols]] + [b[..., cols] for b in bias]
    return {**config, "units": int(len(kept_units))}, new, kept_units


def recurrent(name, class_name, config, weights, inputs, cut, width):
    config, weights, out = _cell(name, config, weights, inputs[0], cut.kept.get(name), class_name)
    return config, weights, Features(width, None if len(out) == width else out, cut.fill.get(name))


def bidirectional(name, class_name, config, weights, inputs, cut, width):
    config = copy.deepcopy(config)
    half = len(weights) // 2
    fw_cfg, bw_cfg = config["layer"], config["backward_layer"]
    cell, units = fw_cfg["class_name"], fw_cfg["config"]["units"]
    fw_cfg["config"], fw_w, fw_out = _cell(
        name, fw_cfg["config"], weights[:half], inputs[0], cut.kept.get(f"{name}/forward"), cell
    )
    bw_cfg["config"], bw_w, bw_out = _cell(
        name, bw_cfg["config"], weights[half:], inputs[0], cut.kept.get(f"{name}/backward"), cell
    )
    if len(fw_out) != len(bw_out):
        raise LstmpruneError(
            f"'{name}': both directions must keep the same number of units ({len(fw_out)} != {len(bw_out)})"
        )
    mode = config.get("merge_mode")
    fills = [cut.fill.get(f"{name}/{d}") for d in ("forward", "backward")]
    const = None
    if mode == "concat":
        out = np.concatenate([fw_out, units + bw_out])
        if any(f is not None for f in fills):
            const = np.concatenate([np.zeros(units) if f is None else f for f in fills])
    elif not np.array_equal(fw_out, bw_out):
        raise LstmpruneError(f"'{name}': merge_mode {mode} needs the same kept units in both directions")
    else:
        out = fw_out
        if all(f is not None for f in fills):
            const = {"sum": fills[0] + fills[1], "ave": (fills[0] + fills[1]) / 2, "mul": fills[0] * fills[1]}[mode]
    return config, fw_w + bw_w, Features(width, None if len(out) == width else out, const)


def dense(name, class_name, config, weights, inputs, cut, width):
    kernel, *bias = weights
    kernel, bias = _fold(name, kernel, bias, inputs[0])  # kernel (F', U)
    return config, [kernel] + bias, Features(width)


def pass_through(name, class_name, config, weights, inputs, cut, width):
    return config, weights, inputs[0]


def batch_normalization(name, class_name, config, weights, inputs, cut, width):
    f = inputs[0]
    if f.kept is None:
        return config, weights, f
    _check_last_axis(name, config)
    it = iter(weights)
    gamma = next(it) if config.get("scale", True) else np.ones(f.width)
    beta = next(it) if config.get("center", True) else np.zeros(f.width)
    mean, var = next(it), next(it)
    const = gamma * (f.consts() - mean) / np.sqrt(var + config.get("epsilon", 1e-3)) + beta  # (F,)
    return config, [w[f.kept] for w in weights], Features(f.width, f.kept, const)


def layer_normalization(name, class_name, config, weights, inputs, cut, width):
    """Exact only up to the renormalisation: the pruned layer normalises over the kept features."""
    f = inputs[0]
    if f.kept is None:
        return config, weights, f
    _check_last_axis(name, config)
    return config, [w[f.kept] for w in weights], Features(f.width, f.kept)


def flatten(name, class_name, config, weights, inputs, cut, width):
    f = inputs[0]
    steps = width // f.width
    idx = np.concatenate([t * f.width + f.all_kept() for t in range(steps)])
    return config, weights, Features(width, idx, np.tile(f.consts(), steps))


def concatenate(name, class_name, config, weights, inputs, cut, width):
    offsets = np.cumsum([0] + [f.width for f in inputs])
    idx = np.concatenate([off + f.all_kept() for off, f in zip(offsets, inputs)])
    const = np.concatenate([f.consts() for f in inputs])
    return config, weights, Features(width, None if len(idx) == width else idx, const)


_COMBINE = {
    "Add": lambda c: np.sum(c, axis=0),
    "Subtract": lambda c: c[0] - c[1],
    "Multiply": lambda c: np.prod(c, axis=0),
    "Average": lambda c: np.mean(c, axis=0),
    "Maximum": lambda c: np.max(c, axis=0),
    "Minimum": lambda c: np.min(c, axis=0),
}


def elementwise(name, class_name, config, weights, inputs, cut, width):
    first = inputs[0]
    if any(not np.array_equal(f.all_kept(), first.all_kept()) for f in inputs):
        raise LstmpruneError(f"layer '{name}' ({class_name}) merges inputs that keep different units")
    const = _COMBINE[class_name](np.stack([f.consts() for f in inputs]))
    return config, weights, Features(width, first.kept, const)


def _check_last_axis(name: str, config: dict) -> None:
    axis = config.get("axis", -1)
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    if axis not in (-1, 2, 1):
        raise LstmpruneError(f"layer '{name}' normalises along axis {axis}; lstmprune supports the feature axis")


RECURRENT = tuple(GATES)
DROPOUT = ("Dropout", "SpatialDropout1D", "GaussianDropout", "GaussianNoise", "AlphaDropout", "ActivityRegularization")
POOLING = ("GlobalAveragePooling1D", "GlobalMaxPooling1D", "Masking")
NORMALIZATION = {"BatchNormalization": batch_normalization, "LayerNormalization": layer_normalization}
PASS_THROUGH = DROPOUT + POOLING + tuple(NORMALIZATION)
ELEMENTWISE = tuple(_COMBINE)
CONSUMERS = RECURRENT + ("Bidirectional", "Dense", "TimeDistributed")

SLICERS: dict[str, Slicer] = {
    **{c: recurrent for c in RECURRENT},
    "Bidirectional": bidirectional,
    "Dense": dense,
    "TimeDistributed": dense,
    **{c: pass_through for c in DROPOUT + POOLING},
    **NORMALIZATION,
    "Flatten": flatten,
    "Concatenate": concatenate,
    **{c: elementwise for c in ELEMENTWISE},
}


def supported_after_group() -> str:
    names = ["Dense", "TimeDistributed(Dense)", *RECURRENT, "Bidirectional", *PASS_THROUGH, "Flatten", "Concatenate"]
    return ", ".join(names + list(ELEMENTWISE))
