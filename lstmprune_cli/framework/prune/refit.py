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

from ...core.plan import Plan
from ...core.recurrent import cell_config, spec_of
from ...core.ridge import Ridge
from ..surgery.rules import rule_for

DAMPING = 1e-4  # ridge lambda as a share of the mean input energy
ROUNDS = 2  # fits of a recurrent layer: its own states move with each fit
LINEAR_GATES = ("LSTM", "SimpleRNN")  # cells whose gate pre-activations are linear in (x_t, h_{t-1})
EAGER_STEPS = 64  # time steps a fit pass runs eagerly before it traces: a small calibration set never pays the trace
RECORD_BYTES = 2 << 30  # the original's taps of one layer kept from its first fit round for the next ones


@dataclass
class Kernel:
    """One input kernel of a consumer: where its weights are and which original columns it keeps."""

    weight: int  # index of the kernel in the layer's weights
    bias: int | None  # index of its bias, if any
    bias_row: int | None  # row of a 2-D bias (GRU reset_after: row 0 is the input bias)
    columns: np.ndarray  # the pruned kernel's columns, as columns of the original kernel
    recurrent: int | None = None  # index of the recurrent kernel when the fit also reads h_{t-1}
    direction: str = ""  # whose states the recurrent fit reads ("", "forward" or "backward")
    backwards: bool = False  # the cell reads the sequence from its end


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
    replayed: int = 0  # of them, passes that read the original's recorded taps instead of running it
    consumers: list[ConsumerFit] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Recorded:
    """The original's taps of one layer and the inputs that gave them, batch by batch, while they fit in `limit`
    bytes: the layer's later fit rounds read them instead of running the original again (its taps do not change;
    only the pruned model's do)."""

    limit: int
    batches: list = field(default_factory=list)
    size: int = 0
    complete: bool = False
    overflowed: bool = False

    def keep(self, x, taps: list[np.ndarray]) -> None:
        import tensorflow as tf

        if self.overflowed:
            return
        self.size += sum(np.asarray(a).nbytes for a in [*tf.nest.flatten(x), *taps])
        if self.size > self.limit:
            self.overflowed, self.batches = True, []
            return
        self.batches.append((x, taps))


def input_kernels(layer, original, plan: Plan, recurrent: bool) -> list[Kernel]:
    """The input kernels of `layer` (pruned), matched with the original's columns they keep."""
    class_name, config = type(layer).__name__, layer.get_config()
    weights = layer.get_weights()
    if class_name == "Bidirectional":
        half = len(weights) // 2
        return [
            _recurrent_kernel(
                getattr(original, f"{d}_layer"), weights, offset, plan.kept().get(f"{original.name}/{d}"), recurrent, d
            )
            for d, offset in (("forward", 0), ("backward", half))
        ]
    if spec_of(class_name, config) is not None:
        return [_recurrent_kernel(original, weights, 0, plan.kept().get(original.name), recurrent, "")]
    return [Kernel(0, 1 if len(weights) > 1 else None, None, np.arange(weights[0].shape[1]))]


def _recurrent_kernel(original, weights: list, offset: int, kept, recurrent: bool, direction: str) -> Kernel:
    class_name, config = type(original).__name__, original.get_config()
    spec = spec_of(class_name, config)
    units = cell_config(class_name, config)["units"]
    columns = spec.columns(np.arange(units) if kept is None else kept, units)
    has_bias = len(original.get_weights()) > 2
    bias = offset + 2 if has_bias else None
    return Kernel(
        weight=offset,
        bias=bias,
        bias_row=0 if has_bias and weights[bias].ndim == 2 else None,
        columns=columns,
        recurrent=offset + 1 if recurrent and spec.name in LINEAR_GATES else None,
        direction=direction,
        backwards=bool(config.get("go_backwards")),
    )


def consumers(original, pruned, recurrent: bool = True) -> list[str]:
    """Layers of `pruned` to refit, in network order: those whose kernels lost input rows (they read a cut
    group) and, with `recurrent`, recurrent layers whose own units were cut."""
    names = []
    for layer in pruned.layers:
        rule = rule_for(type(layer).__name__, layer.get_config())
        if rule is None or rule.flow not in ("consume", "group") or not layer.get_weights():
            continue
        ours, theirs = layer.get_weights(), original.get_layer(layer.name).get_weights()
        inputs_cut = theirs[0].shape[0] != ours[0].shape[0]
        units_cut = rule.flow == "group" and any(a.shape != b.shape for a, b in zip(theirs, ours))
        if inputs_cut or (recurrent and units_cut):
            names.append(layer.name)
    return names


def _taps(model, layer, kernels: list[Kernel]) -> list:
    """What the fits of `layer` read: its data input, and for each recurrent fit the cell's states over
    the sequence (processing order, zeros where masked) and the valid steps."""
    from ..models.layers import cells
    from ..stats.probe import clone_recurrent, state_layer_class

    _, Valid = state_layer_class()
    x = data_input(layer)
    mask = layer._inbound_nodes[0].arguments.kwargs.get("mask")
    taps = [x]
    subs = {d: sub for d, _, sub in cells(layer)}
    for k in kernels:
        if k.recurrent is not None:
            seq = clone_recurrent(subs[k.direction], x, mask, True)  # (B, T, H)
            taps += [seq, Valid()(seq, mask)]
    return taps


def _steps(x, states, valid, backwards: bool):
    """(x_t, h_{t-1}) at the valid steps, in the cell's processing order: (N, F), (N, H)."""
    x, valid = np.asarray(x), np.asarray(valid) > 0.5  # (B, T, F), (B, T)
    if backwards:
        x, valid = x[:, ::-1], valid[:, ::-1]
    states = np.asarray(states)
    previous = np.concatenate([np.zeros_like(states[:, :1]), states[:, :-1]], axis=1)  # (B, T, H)
    return x[valid].astype(np.float32), previous[valid].astype(np.float32)  # as the model computes them


def data_input(layer):
    """The tensor a layer reads as data (a recurrent layer called with a mask lists both)."""
    return layer._inbound_nodes[0].arguments.args[0]


def kernel_bias(weights: list, k: Kernel) -> np.ndarray | None:
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
    recurrent: bool = True,
    rounds: int = ROUNDS,
    record_bytes: int | None = None,
    progress: Callable[[Iterable], Iterable] = lambda it: it,
) -> RefitReport:
    """Refit `pruned` in place, layer by layer: each consumer's kept input rows and bias on its own inputs
    against the original's pre-activations; with `recurrent`, an LSTM or SimpleRNN also refits its
    recurrent kernel on its own (x_t, h_{t-1}), every valid step, `rounds` times (each round fits on the
    states the previous one left; the original's taps of the first round are replayed in the next ones when they
    fit in `record_bytes`, RECORD_BYTES by default)."""
    record_bytes = RECORD_BYTES if record_bytes is None else record_bytes
    start = time.perf_counter()
    report = RefitReport(damping, 0.0, 0)
    for name in consumers(original, pruned, recurrent):
        theirs, ours = original.get_layer(name), pruned.get_layer(name)
        kernels = input_kernels(ours, theirs, plan, recurrent)
        n = rounds if any(k.recurrent is not None for k in kernels) else 1
        recorded = Recorded(record_bytes) if n > 1 else None
        for _ in range(n):
            _fit_layer(original, pruned, theirs, ours, kernels, batches, damping, progress, report, recorded)
    report.seconds = time.perf_counter() - start
    return report


def _fit_layer(original, pruned, theirs, ours, kernels, batches, damping, progress, report, recorded=None) -> None:
    """One pass over the batches for one layer's fits; each fit is written back where it is better. With a complete
    `recorded`, the original's taps are read from it; otherwise they are computed, and kept in `recorded`."""
    import keras
    import tensorflow as tf

    name = ours.name
    replay = recorded is not None and recorded.complete
    mine = keras.Model(pruned.inputs, _taps(pruned, ours, kernels))(original.inputs)
    both = keras.Model(original.inputs, mine if replay else [*_taps(original, theirs, kernels), *mine])
    traced = tf.function(lambda x, m=both: m(x, training=False), reduce_retracing=True)
    old, new = theirs.get_weights(), ours.get_weights()
    fits = [_ridge(new, old, k) for k in kernels]
    source = recorded.batches if replay else ((x, None) for x in batches())
    steps = 0
    for x, kept in progress(source):
        steps += _length(x)
        outs = [np.asarray(t) for t in (both(x, training=False) if steps <= EAGER_STEPS else traced(x))]
        if replay:
            theirs_out, ours_out = kept, outs
        else:
            theirs_out, ours_out = outs[: len(outs) // 2], outs[len(outs) // 2 :]
            if recorded is not None:
                recorded.keep(x, theirs_out)
        tap = 1
        for k, fit in zip(kernels, fits):
            b = kernel_bias(old, k)
            shift = 0 if b is None else b[k.columns]
            if k.recurrent is None:
                h_orig = theirs_out[0].reshape(-1, theirs_out[0].shape[-1])  # (N, F)
                if fit.sources:  # a wide head: its targets from the moments of the original's inputs
                    fit.add_sources(ours_out[0], h_orig)
                else:  # the original's pre-activations, in float32 as the model computes them
                    fit.add(ours_out[0], h_orig.astype(np.float32) @ old[k.weight][:, k.columns] + shift)
                continue
            x_o, prev_o = _steps(theirs_out[0], theirs_out[tap], theirs_out[tap + 1], k.backwards)
            x_p, prev_p = _steps(ours_out[0], ours_out[tap], ours_out[tap + 1], k.backwards)
            tap += 2
            z = x_o @ old[k.weight][:, k.columns] + prev_o @ old[k.recurrent][:, k.columns] + shift  # (N, m)
            fit.add(np.concatenate([x_p, prev_p], axis=1), z)
    report.passes += 1
    report.replayed += int(replay)
    if recorded is not None and not recorded.overflowed:
        recorded.complete = True
    for k, fit in zip(kernels, fits):
        if fit.sources:
            b = kernel_bias(old, k)
            shift = np.zeros(len(k.columns)) if b is None else b[k.columns]
            fit.map_sources(np.concatenate([old[k.weight][:, k.columns], shift[None]], axis=0))  # (S + 1, m)
    for k, fit in zip(kernels, fits):
        current = (_stacked(new, k), kernel_bias(new, k))
        solved = fit.solve(damping)
        before, after = fit.residual(*current), fit.residual(*solved)
        if after <= before:
            _assign(new, k, *solved)
        report.consumers.append(ConsumerFit(name, len(kernels), fit.count, before, min(before, after), after <= before))
    ours.set_weights(new)


def _length(x) -> int:
    """Time steps of a batch (its first input's second axis; 1 without one)."""
    import tensorflow as tf

    first = np.shape(tf.nest.flatten(x)[0])
    return int(first[1]) if len(first) > 1 else 1


def _ridge(new: list, old: list, k: Kernel) -> Ridge:
    """The fit of one kernel; a head with more outputs than original inputs accumulates the moments of those
    inputs instead of its targets (the same fit, at a cost that does not grow with its outputs)."""
    inputs, outputs = _rows(new, k), len(k.columns)
    sources = old[k.weight].shape[0] if k.recurrent is None and outputs > old[k.weight].shape[0] else 0
    return Ridge(inputs, outputs, intercept=k.bias is not None, sources=sources)


def _rows(weights: list, k: Kernel) -> int:
    """Inputs of a fit: the kernel's rows, and the recurrent kernel's when the fit reads h_{t-1}."""
    return weights[k.weight].shape[0] + (0 if k.recurrent is None else weights[k.recurrent].shape[0])


def _stacked(weights: list, k: Kernel) -> np.ndarray:
    if k.recurrent is None:
        return weights[k.weight]
    return np.concatenate([weights[k.weight], weights[k.recurrent]], axis=0)  # (F' + K, m)


def _assign(weights: list, k: Kernel, solved: np.ndarray, bias: np.ndarray | None) -> None:
    """Write a solved fit back into the layer's weights (kernel, recurrent kernel, input bias)."""
    rows = weights[k.weight].shape[0]
    weights[k.weight] = solved[:rows].astype(weights[k.weight].dtype)
    if k.recurrent is not None:
        weights[k.recurrent] = solved[rows:].astype(weights[k.recurrent].dtype)
    if k.bias is not None:
        b = weights[k.bias].copy()
        if k.bias_row is not None:
            b[k.bias_row] = bias
        else:
            b[...] = bias
        weights[k.bias] = b
