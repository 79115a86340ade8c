"""Compensation fitted to what the pruned model computes (`compensate="refit"`).

Each consumer of a cut group (a `Dense` or `TimeDistributed` head, the next recurrent layer's input
kernel, each direction of a `Bidirectional`) is refitted in network order, the way sequential layer-wise
calibration works (OBC, SparseGPT): calibration batches run through the original and the pruned-so-far
model together; a ridge fit maps the pruned model's own inputs of the consumer to the original's
pre-activations of it (every step for sequences), and replaces the consumer's kept rows and its bias.
A fit that would reconstruct worse than the weights it replaces is not taken.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

import numpy as np

from ..core.plan import Plan
from ..core.recurrent import cell_config, spec_of
from ..core.ridge import Ridge
from .slicers import rule_for

DAMPING = 1e-4  # ridge lambda as a share of the mean input energy


@dataclass
class Kernel:
    """One input kernel of a consumer: where its weights are and which original columns it keeps."""

    weight: int  # index of the kernel in the layer's weights
    bias: int | None  # index of its bias, if any
    bias_row: int | None  # row of a 2-D bias (GRU reset_after: row 0 is the input bias)
    columns: np.ndarray  # the pruned kernel's columns, as columns of the original kernel


@dataclass
class ConsumerFit:
    """What one consumer's refit did: mean squared error of its pre-activations before and after."""

    layer: str
    kernels: int
    samples: int
    before: float
    after: float
    taken: bool


@dataclass
class RefitReport:
    damping: float
    seconds: float
    passes: int  # passes over the calibration batches (one per consumer)
    consumers: list[ConsumerFit] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _kernels(layer, original, plan: Plan) -> list[Kernel]:
    """The input kernels of `layer` (pruned), matched with the original's columns they keep."""
    class_name, config = type(layer).__name__, layer.get_config()
    weights = layer.get_weights()
    if class_name == "Bidirectional":
        half = len(weights) // 2
        found = []
        for d, offset in (("forward", 0), ("backward", half)):
            sub = getattr(original, f"{d}_layer")
            found.append(
                _recurrent_kernel(sub, weights[offset : offset + half], offset, plan.kept().get(f"{original.name}/{d}"))
            )
        return found
    if spec_of(class_name, config) is not None:
        return [_recurrent_kernel(original, weights, 0, plan.kept().get(original.name))]
    return [Kernel(0, 1 if len(weights) > 1 else None, None, np.arange(weights[0].shape[1]))]


def _recurrent_kernel(original, weights: list, offset: int, kept: np.ndarray | None) -> Kernel:
    spec = spec_of(type(original).__name__, original.get_config())
    units = cell_config(type(original).__name__, original.get_config())["units"]
    columns = spec.columns(np.arange(units) if kept is None else kept, units)
    bias = offset + 2 if len(weights) > 2 else None
    return Kernel(offset, bias, 0 if bias is not None and weights[2].ndim == 2 else None, columns)


def consumers(original, pruned) -> list[str]:
    """Layers of `pruned` whose kernels lost input rows (they read a cut group), in network order."""
    names = []
    for layer in pruned.layers:
        rule = rule_for(type(layer).__name__, layer.get_config())
        if rule is None or rule.flow not in ("consume", "group") or not layer.get_weights():
            continue
        if original.get_layer(layer.name).get_weights()[0].shape[0] != layer.get_weights()[0].shape[0]:
            names.append(layer.name)
    return names


def _data_input(layer):
    """The tensor a layer reads as data (a recurrent layer called with a mask lists both)."""
    return layer._inbound_nodes[0].arguments.args[0]


def _bias(weights: list, k: Kernel) -> np.ndarray | None:
    if k.bias is None:
        return None
    b = weights[k.bias]
    return b[k.bias_row] if k.bias_row is not None else b


def refit(
    original,
    pruned,
    plan: Plan,
    batches: Callable[[], Iterable],
    *,
    damping: float = DAMPING,
    progress: Callable[[Iterable], Iterable] = lambda it: it,
) -> RefitReport:
    """Refit every consumer of `pruned` (in place) on its own inputs against the original's pre-activations."""
    import keras
    import tensorflow as tf

    start = time.perf_counter()
    report = RefitReport(damping, 0.0, 0)
    for name in consumers(original, pruned):
        theirs, ours = original.get_layer(name), pruned.get_layer(name)
        kernels = _kernels(ours, theirs, plan)
        both = keras.Model(
            original.inputs, [_data_input(theirs), keras.Model(pruned.inputs, _data_input(ours))(original.inputs)]
        )
        call = tf.function(lambda x, m=both: m(x, training=False), reduce_retracing=True)
        old, new = theirs.get_weights(), ours.get_weights()
        fits = [Ridge(new[k.weight].shape[0], len(k.columns), intercept=k.bias is not None) for k in kernels]
        for x in progress(batches()):
            h_orig, h_cut = (np.asarray(t) for t in call(x))  # (B, [T,] F), (B, [T,] F')
            h_orig = h_orig.reshape(-1, h_orig.shape[-1]).astype(np.float64)  # (N, F)
            for k, fit in zip(kernels, fits):
                b = _bias(old, k)
                z = h_orig @ old[k.weight][:, k.columns] + (0 if b is None else b[k.columns])  # (N, m)
                fit.add(h_cut, z)
        report.passes += 1
        for k, fit in zip(kernels, fits):
            current = (new[k.weight], _bias(new, k))
            solved = fit.solve(damping)
            before, after = fit.residual(*current), fit.residual(*solved)
            taken = after <= before
            if taken:
                new[k.weight] = solved[0].astype(new[k.weight].dtype)
                if k.bias is not None:
                    b = new[k.bias].copy()
                    if k.bias_row is not None:
                        b[k.bias_row] = solved[1]
                    else:
                        b[...] = solved[1]
                    new[k.bias] = b
            report.consumers.append(ConsumerFit(name, len(kernels), fit.count, before, min(before, after), taken))
        ours.set_weights(new)
    report.seconds = time.perf_counter() - start
    return report
