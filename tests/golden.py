"""The golden exactness harness: small models of every supported shape, their inputs, the masked reference."""

from __future__ import annotations

import numpy as np

from lstmprune_cli.framework.models.layers import cells
from lstmprune_cli.framework.surgery.cut import prune_model


def masked_model(model, kept: dict[str, np.ndarray]):
    """A same-size copy of `model` whose removed units are silenced: the reference of the golden test.

    Each removed unit's kernel, recurrent-kernel and bias columns are zeroed in every gate, so its
    output is 0 at every step (method.md section 1).
    """
    masked = type(model).from_config(model.get_config())
    masked.set_weights(model.get_weights())
    for name, kept_units in kept.items():
        layer_name, _, direction = name.partition("/")
        for d, spec, sub in cells(masked.get_layer(layer_name)):
            if d == direction:
                removed = np.setdiff1d(np.arange(sub.cell.recurrent_kernel.shape[0]), kept_units)
                sub.cell.set_weights(spec.mask(sub.cell.get_weights(), removed))
    return masked


def random_kept(groups, seed: int = 0, share: float = 0.5) -> dict[str, np.ndarray]:
    """A random kept set per prunable group: tied groups share the count (and the indices when merged)."""
    rng = np.random.default_rng(seed)
    kept, counts, same = {}, {}, {}
    for g in groups:
        if not g.prunable:
            continue
        count = counts.setdefault(g.tie, max(1, int(round(share * g.units))))
        key = g.same_as or g.name
        if key not in same:
            same[key] = np.sort(rng.choice(g.units, count, replace=False))
        kept[g.name] = same[key]
    return kept


def assert_pruned_equals_masked(model, kept: dict[str, np.ndarray], x: np.ndarray, atol: float = 1e-5, pruned=None):
    """The pruned model's output equals the original with the same units masked, max |diff| <= atol."""
    pruned = pruned if pruned is not None else prune_model(model, kept)
    masked = masked_model(model, kept)
    got, want = pruned(x, training=False), masked(x, training=False)
    got = got if isinstance(got, (list, tuple)) else [got]
    want = want if isinstance(want, (list, tuple)) else [want]
    for a, b in zip(got, want):
        diff = float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
        assert diff <= atol, f"pruned differs from masked original by {diff}"
    assert pruned.count_params() <= model.count_params()
    return pruned


T, F = 7, 5


def sample_x(seed=0, pad=True):
    x = np.random.default_rng(seed).normal(size=(6, T, F)).astype("float32")  # (B, T, F)
    if pad:
        x[0, 4:] = 0.0
        x[1, 1:] = 0.0
    return x


def build(
    arch: str, merge_mode: str = "concat", return_sequences: bool = False, masked: bool = False, cell: str = "LSTM"
):
    import keras

    layers = keras.layers
    rnn = {
        "LSTM": layers.LSTM,
        "GRU": layers.GRU,
        "GRU-v1": lambda *a, **k: layers.GRU(*a, reset_after=False, **k),
        "SimpleRNN": layers.SimpleRNN,
        "RNN-LSTM": lambda units, **k: layers.RNN(layers.LSTMCell(units), **k),
        "RNN-GRU": lambda units, **k: layers.RNN(layers.GRUCell(units), **k),
    }[cell]
    inputs = keras.Input((T, F))
    x = layers.Masking(0.0)(inputs) if masked else inputs
    if arch == "single":
        x = rnn(6, return_sequences=return_sequences)(x)
    elif arch == "stacked":
        x = rnn(6, return_sequences=True)(x)
        x = layers.Dropout(0.2)(x)
        x = rnn(5, return_sequences=return_sequences)(x)
    elif arch == "bidirectional":
        x = layers.Bidirectional(rnn(6, return_sequences=True), merge_mode=merge_mode)(x)
        x = rnn(5, return_sequences=return_sequences)(x)
    elif arch == "bidirectional-last":
        x = layers.Bidirectional(rnn(6, return_sequences=return_sequences), merge_mode=merge_mode)(x)
    head = layers.TimeDistributed(layers.Dense(3)) if return_sequences else layers.Dense(3, activation="sigmoid")
    return keras.Model(inputs, head(x))


def analyzed(model, x):
    """The statistics `analyze` would write for `model` on the inputs `x`."""
    from lstmprune_cli.core.statsfile import Statistics
    from lstmprune_cli.framework import models
    from lstmprune_cli.framework.stats.probe import accumulate, build_probe
    from lstmprune_cli.framework.surgery.groups import model_groups

    groups = model_groups(model)
    stats = accumulate(build_probe(model, groups), [x])
    return Statistics(models.fingerprint(model), groups, stats)
