"""One slicer per Keras layer class: how a layer's config and weights change when units go.

A slicer takes a `LayerCut` (the layer's name, class, config and weights, the `Features` of each
input: which of the original features are kept, and the constant a removed feature holds in the
masked original, and the kept units of every group) and returns the new config, the new weights
and the `Features` of its output. `RULES` is the one table of supported layers: the surgery
slices by it and the graph follows units by it. Constants (non-zero after BatchNormalization) are folded into the
next consumer's bias, so the cut stays exact.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ...core.errors import LstmpruneError
from ...core.recurrent import cell_config, layer_classes, spec_of, with_units


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


@dataclass
class LayerCut:
    """What a slicer reads: one layer of the original model and the cut as it reaches the layer."""

    name: str
    class_name: str
    config: dict
    weights: list[np.ndarray]
    inputs: list[Features]  # one per data input
    cut: Cut
    width: int  # the output's original last-axis width


Sliced = tuple[dict, list[np.ndarray], Features]  # the new config, the new weights, the output's features
Slicer = Callable[[LayerCut], Sliced]


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


def _cell(
    name: str, class_name: str, config: dict, weights: list, f: Features, kept_units
) -> tuple[dict, list, np.ndarray]:
    """Slice one recurrent layer: its input rows by `f`, its units by `kept_units` (None: all)."""
    spec = spec_of(class_name, config)
    units = cell_config(class_name, config)["units"]
    kept_units = np.arange(units) if kept_units is None else np.asarray(kept_units)
    kernel, recurrent_kernel, *bias = weights
    kernel, bias = _fold(name, kernel, bias, f)  # kernel (F', GH)
    new = spec.slice([kernel, recurrent_kernel, *bias], kept_units)
    return with_units(class_name, config, len(kept_units)), new, kept_units


def recurrent(layer: LayerCut) -> Sliced:
    """A recurrent layer (LSTM, GRU, SimpleRNN, RNN over a known cell): one group."""
    cut = layer.cut
    config, weights, out = _cell(
        layer.name, layer.class_name, layer.config, layer.weights, layer.inputs[0], cut.kept.get(layer.name)
    )
    width = layer.width
    return config, weights, Features(width, None if len(out) == width else out, cut.fill.get(layer.name))


def bidirectional(layer: LayerCut) -> Sliced:
    """Bidirectional: two groups, forward then backward weights, merged by concat, sum, ave or mul."""
    name, cut, width = layer.name, layer.cut, layer.width
    config = copy.deepcopy(layer.config)
    weights = layer.weights
    half = len(weights) // 2
    fw_cfg, bw_cfg = config["layer"], config["backward_layer"]
    units = cell_config(fw_cfg["class_name"], fw_cfg["config"])["units"]
    fw_cfg["config"], fw_w, fw_out = _cell(
        name, fw_cfg["class_name"], fw_cfg["config"], weights[:half], layer.inputs[0], cut.kept.get(f"{name}/forward")
    )
    bw_cfg["config"], bw_w, bw_out = _cell(
        name, bw_cfg["class_name"], bw_cfg["config"], weights[half:], layer.inputs[0], cut.kept.get(f"{name}/backward")
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


def dense(layer: LayerCut) -> Sliced:
    """Dense or TimeDistributed(Dense): drop the kernel rows of removed inputs."""
    kernel, *bias = layer.weights
    kernel, bias = _fold(layer.name, kernel, bias, layer.inputs[0])  # kernel (F', U)
    return layer.config, [kernel] + bias, Features(layer.width)


def pass_through(layer: LayerCut) -> Sliced:
    """Dropout, noise, pooling over time, Masking: the features pass unchanged."""
    return layer.config, layer.weights, layer.inputs[0]


def batch_normalization(layer: LayerCut) -> Sliced:
    """Keep the statistics of kept features; a removed feature's constant goes through the affine map."""
    f, config, weights = layer.inputs[0], layer.config, layer.weights
    if f.kept is None:
        return config, weights, f
    _check_last_axis(layer.name, config)
    it = iter(weights)
    gamma = next(it) if config.get("scale", True) else np.ones(f.width)
    beta = next(it) if config.get("center", True) else np.zeros(f.width)
    mean, var = next(it), next(it)
    const = gamma * (f.consts() - mean) / np.sqrt(var + config.get("epsilon", 1e-3)) + beta  # (F,)
    return config, [w[f.kept] for w in weights], Features(f.width, f.kept, const)


def layer_normalization(layer: LayerCut) -> Sliced:
    """Exact only up to the renormalisation: the pruned layer normalises over the kept features."""
    f = layer.inputs[0]
    if f.kept is None:
        return layer.config, layer.weights, f
    _check_last_axis(layer.name, layer.config)
    return layer.config, [w[f.kept] for w in layer.weights], Features(f.width, f.kept)


def flatten(layer: LayerCut) -> Sliced:
    """(B, T, F) -> (B, T * F): the kept features repeat every step."""
    f = layer.inputs[0]
    steps = layer.width // f.width
    idx = np.concatenate([t * f.width + f.all_kept() for t in range(steps)])
    return layer.config, layer.weights, Features(layer.width, idx, np.tile(f.consts(), steps))


def concatenate(layer: LayerCut) -> Sliced:
    """Kept features of every input, at their offsets along the last axis."""
    inputs = layer.inputs
    offsets = np.cumsum([0] + [f.width for f in inputs])
    idx = np.concatenate([off + f.all_kept() for off, f in zip(offsets, inputs)])
    const = np.concatenate([f.consts() for f in inputs])
    return layer.config, layer.weights, Features(layer.width, None if len(idx) == layer.width else idx, const)


_COMBINE = {
    "Add": lambda c: np.sum(c, axis=0),
    "Subtract": lambda c: c[0] - c[1],
    "Multiply": lambda c: np.prod(c, axis=0),
    "Average": lambda c: np.mean(c, axis=0),
    "Maximum": lambda c: np.max(c, axis=0),
    "Minimum": lambda c: np.min(c, axis=0),
}


def elementwise(layer: LayerCut) -> Sliced:
    """Add, Multiply, ...: every input keeps the same units; the removed units' constants combine."""
    first = layer.inputs[0]
    if any(not np.array_equal(f.all_kept(), first.all_kept()) for f in layer.inputs):
        raise LstmpruneError(f"layer '{layer.name}' ({layer.class_name}) merges inputs that keep different units")
    const = _COMBINE[layer.class_name](np.stack([f.consts() for f in layer.inputs]))
    return layer.config, layer.weights, Features(layer.width, first.kept, const)


def _check_last_axis(name: str, config: dict) -> None:
    axis = config.get("axis", -1)
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    if axis not in (-1, 2, 1):
        raise LstmpruneError(f"layer '{name}' normalises along axis {axis}; lstmprune supports the feature axis")


@dataclass(frozen=True)
class Rule:
    """How one Keras layer class meets a group's units: its slicer, and how the units flow through it."""

    slicer: Slicer
    flow: str  # "group": makes groups; "consume": reads units, outputs fresh features; "pass": same features;
    # "merge": element-wise over inputs; "concat": side by side; "flatten": repeated every step
    shown: str = ""  # the name in the list of supported layers, when it differs from the class


DROPOUT = ("Dropout", "SpatialDropout1D", "GaussianDropout", "GaussianNoise", "AlphaDropout", "ActivityRegularization")
POOLING = ("GlobalAveragePooling1D", "GlobalMaxPooling1D", "Masking")

RULES: dict[str, Rule] = {
    "Bidirectional": Rule(bidirectional, "group"),
    "Dense": Rule(dense, "consume"),
    "TimeDistributed": Rule(dense, "consume", "TimeDistributed(Dense)"),
    **{c: Rule(pass_through, "pass") for c in DROPOUT + POOLING},
    "BatchNormalization": Rule(batch_normalization, "pass"),
    "LayerNormalization": Rule(layer_normalization, "pass"),
    "Flatten": Rule(flatten, "flatten"),
    "Concatenate": Rule(concatenate, "concat"),
    **{c: Rule(elementwise, "merge") for c in _COMBINE},
}
RECURRENT_RULE = Rule(recurrent, "group")


def rule_for(class_name: str, config: dict) -> Rule | None:
    """The rule of a layer: a recurrent layer the registry knows, or an entry of RULES."""
    return RECURRENT_RULE if spec_of(class_name, config) is not None else RULES.get(class_name)


def supported_after_group() -> str:
    """The layers that may read a group's units, as a user writes them."""
    shown = {c: r.shown or c for c, r in RULES.items()}
    consumers = [shown[c] for c, r in RULES.items() if r.flow == "consume"]
    return ", ".join([*consumers, *layer_classes(), *(shown[c] for c, r in RULES.items() if r.flow != "consume")])
