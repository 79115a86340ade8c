"""A probe model that exposes every unit group's responses, and the pass that accumulates statistics.

The response of a group to a sequence is its final hidden state (method.md section 2): the last
valid step going forward, the first valid step for the backward direction of a Bidirectional
(Keras flips its output back into input order). With `every_step`, every valid step is a sample.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ...core.groups import UnitGroup
from ...core.stats import GroupStats
from ..models.layers import sub_layer


def state_layer_class():
    import keras
    from keras import ops

    class TakeState(keras.layers.Layer):
        """(seq (B, T, H), valid (B, T) or None) -> the state at the last or first valid step (B, H)."""

        def __init__(self, position: str, **kwargs):
            super().__init__(**kwargs)
            self.position = position
            self.supports_masking = True

        def compute_mask(self, seq, mask=None):
            return None

        def call(self, seq, valid=None):
            if valid is None:
                return seq[:, -1] if self.position == "last" else seq[:, 0]
            v = ops.cast(valid, "int32")  # (B, T)
            if self.position == "last":
                idx = ops.shape(seq)[1] - 1 - ops.argmax(ops.flip(v, axis=1), axis=1)  # (B,)
            else:
                idx = ops.argmax(v, axis=1)  # (B,)
            idx = ops.cast(idx, "int32")[:, None, None]  # (B, 1, 1)
            return ops.take_along_axis(seq, idx, axis=1)[:, 0]  # (B, H)

    class Valid(keras.layers.Layer):
        """The mask as float (B, T), ones where there is none."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def compute_mask(self, seq, mask=None):
            return None

        def call(self, seq, valid=None):
            if valid is None:
                return ops.ones(ops.shape(seq)[:2])
            return ops.cast(valid, seq.dtype)

    return TakeState, Valid


@dataclass
class Probe:
    """A model from the original inputs to each group's responses."""

    model: object  # keras.Model
    groups: list[UnitGroup]
    every_step: bool
    _call: object = None

    def responses(self, x) -> Iterator[tuple[UnitGroup, np.ndarray]]:
        """(group, samples (N, H)) for one batch of inputs."""
        if self._call is None:
            import tensorflow as tf

            x0 = self.model.inputs[0]
            spec = tf.TensorSpec((None, *x0.shape[1:]), x0.dtype)  # one trace for every batch size
            self._call = tf.function(lambda x: self.model(x, training=False), input_signature=[spec])

        outs = self._call(x)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]

        if self.every_step:
            for i, g in enumerate(self.groups):
                seq, valid = np.asarray(outs[2 * i]), np.asarray(outs[2 * i + 1]) > 0.5  # (B, T, H), (B, T)
                yield g, seq[valid]  # (N, H)
        else:
            for g, z in zip(self.groups, outs):
                yield g, np.asarray(z)  # (B, H)


def clone_recurrent(sub, x, mask, return_sequences: bool):
    """Call a copy of recurrent layer `sub` (same weights) with another return_sequences."""
    config = {**sub.get_config(), "return_sequences": return_sequences, "zero_output_for_mask": return_sequences}
    clone = type(sub).from_config({**config, "name": sub.name + "_probe"})
    y = clone(x, mask=mask)
    clone.set_weights(sub.get_weights())
    return y


def build_probe(model, groups: list[UnitGroup], every_step: bool = False) -> Probe:
    """Tap each group's hidden states inside `model` (weights shared, nothing changed)."""
    import keras
    from keras import ops

    TakeState, Valid = state_layer_class()
    outputs = []
    for g in groups:
        layer = model.get_layer(g.layer)
        node = layer._inbound_nodes[0]
        x, mask = node.arguments.args[0], node.arguments.kwargs.get("mask")
        y = node.output_tensors[0]
        sub = sub_layer(model, g)
        concat = g.direction and layer.merge_mode == "concat"
        position = "first" if g.direction == "backward" else "last"
        if not g.direction or concat:
            if g.direction:
                y = y[..., : g.units] if g.direction == "forward" else y[..., g.units :]  # (B, [T,] H)
            if sub.return_sequences or not every_step:
                seq = y
            else:
                seq = clone_recurrent(sub, x, mask, True)
                seq = ops.flip(seq, axis=1) if sub.go_backwards else seq  # input order
        else:
            seq = clone_recurrent(sub, x, mask, every_step)
            if every_step and sub.go_backwards:
                seq = ops.flip(seq, axis=1)
        if every_step:
            outputs += [seq, Valid()(seq, mask)]
        elif len(seq.shape) == 3:
            outputs.append(TakeState(position)(seq, mask))
        else:
            outputs.append(seq)
    return Probe(keras.Model(model.inputs, outputs), groups, every_step)


def _batch_stats_fn(probe: Probe):
    """x -> per group (count, mean (H,), scatter (H, H)) of the batch in float64, computed by TensorFlow.

    The batch's matrix product runs in TensorFlow, so numpy's threaded BLAS does not compete with
    TensorFlow's threads for the cores (measured: that contention made the pass 2x slower than a
    forward pass); numpy only merges the small per-batch results (Chan et al.).
    """
    import tensorflow as tf

    x0 = probe.model.inputs[0]
    spec = tf.TensorSpec((None, *x0.shape[1:]), x0.dtype)

    def stats(z):
        z = tf.cast(z, tf.float64)  # (N, H)
        n = tf.shape(z)[0]
        mean = tf.reduce_sum(z, axis=0) / tf.cast(tf.maximum(n, 1), tf.float64)  # (H,)
        centred = z - mean  # (N, H)
        return n, mean, tf.matmul(centred, centred, transpose_a=True)  # (H, H)

    @tf.function(input_signature=[spec])
    def fn(x):
        outs = probe.model(x, training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        if probe.every_step:
            return [stats(tf.boolean_mask(outs[2 * i], outs[2 * i + 1] > 0.5)) for i in range(len(probe.groups))]
        return [stats(z) for z in outs]

    return fn


class Accumulator:
    """Statistics of every group, merged batch by batch (one traced function computes a batch's)."""

    def __init__(self, probe: Probe):
        self.probe = probe
        self.stats = {g.name: GroupStats.empty(g.units) for g in probe.groups}
        self._fn = _batch_stats_fn(probe)

    def add(self, x) -> int:
        """Merge one batch of model inputs; returns its number of sequences."""
        for g, (n, mean, scatter) in zip(self.probe.groups, self._fn(x)):
            self.stats[g.name] = self.stats[g.name].merge(GroupStats(int(n), mean.numpy(), scatter.numpy()))
        return len(x)


def accumulate(probe: Probe, batches: Iterable) -> dict[str, GroupStats]:
    """Statistics of every group over all `batches` of model inputs, in one pass."""
    acc = Accumulator(probe)
    for x in batches:
        acc.add(x)
    return acc.stats
