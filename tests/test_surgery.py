"""Golden tests: the physically pruned model equals the original with the same units masked."""

import numpy as np
import pytest
from golden import assert_pruned_equals_masked, random_kept

T, F = 7, 5


def _x(seed=0, pad=True):
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


ARCHS = [
    ("single", "concat", False, False, "LSTM"),
    ("single", "concat", True, True, "LSTM"),
    ("stacked", "concat", False, True, "LSTM"),
    ("stacked", "concat", True, False, "LSTM"),
    *[("bidirectional", m, rs, True, "LSTM") for m in ("concat", "sum", "ave", "mul") for rs in (False, True)],
    *[("bidirectional-last", m, rs, False, "LSTM") for m in ("concat", "sum") for rs in (False, True)],
    ("bidirectional", "concat", True, True, "GRU"),
    ("stacked", "concat", False, True, "GRU-v1"),
    ("bidirectional", "ave", False, False, "SimpleRNN"),
]


@pytest.mark.parametrize("arch,merge_mode,return_sequences,masked,cell", ARCHS)
def test_pruned_equals_masked_original(tf, arch, merge_mode, return_sequences, masked, cell):
    from lstmprune_cli.framework.graph import unit_groups

    model = build(arch, merge_mode, return_sequences, masked, cell)
    groups = unit_groups(model)
    kept = random_kept(groups, seed=len(groups))
    pruned = assert_pruned_equals_masked(model, kept, _x(pad=masked))
    assert pruned.count_params() < model.count_params()


def test_sequential_model_and_dense_on_every_step(tf):
    import keras

    from lstmprune_cli.framework.graph import unit_groups

    model = keras.Sequential(
        [
            keras.Input((T, F)),
            keras.layers.Masking(0.0),
            keras.layers.LSTM(8, return_sequences=True),
            keras.layers.Dropout(0.1),
            keras.layers.LSTM(6, return_sequences=True),
            keras.layers.Dense(2),
        ]
    )
    kept = random_kept(unit_groups(model), seed=3)
    assert_pruned_equals_masked(model, kept, _x())


def test_prune_keep_all_is_identity(tf):
    from lstmprune_cli.framework.graph import unit_groups
    from lstmprune_cli.framework.surgery import prune_model

    model = build("bidirectional", "concat", False, True)
    kept = {g.name: np.arange(g.units) for g in unit_groups(model)}
    pruned = prune_model(model, kept)
    assert pruned.count_params() == model.count_params()
    np.testing.assert_array_equal(np.asarray(pruned(_x())), np.asarray(model(_x())))


def test_pruned_model_round_trips_through_keras_and_savedmodel(tf, tmp_path):
    from lstmprune_cli.framework import models
    from lstmprune_cli.framework.graph import unit_groups
    from lstmprune_cli.framework.surgery import prune_model

    model = build("bidirectional", "concat", False, True)
    kept = random_kept(unit_groups(model), seed=1)
    pruned = prune_model(model, kept)
    for out in (tmp_path / "small.keras", tmp_path / "small"):
        models.save_model(pruned, out)
        assert_pruned_equals_masked(model, kept, _x(), pruned=models.load_model(out))
    served = tf.saved_model.load(str(tmp_path / "small"))
    np.testing.assert_allclose(served.serve(_x()).numpy(), np.asarray(pruned(_x())), atol=1e-5)


def test_groups_feeding_an_output_are_not_prunable(tf):
    import keras

    from lstmprune_cli.framework.graph import unit_groups

    inputs = keras.Input((T, F))
    x = keras.layers.LSTM(4, return_sequences=True, name="first")(inputs)
    model = keras.Model(inputs, keras.layers.LSTM(3, name="last")(x))
    assert [(g.name, g.prunable) for g in unit_groups(model)] == [("first", True), ("last", False)]


def test_an_unknown_layer_after_a_group_is_named(tf):
    import keras

    from lstmprune_cli.core.errors import LstmpruneError
    from lstmprune_cli.framework.graph import unit_groups

    inputs = keras.Input((T, F))
    x = keras.layers.LSTM(4, return_sequences=True)(inputs)
    x = keras.layers.Conv1D(2, 3, name="conv")(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    with pytest.raises(LstmpruneError, match=r"'conv' \(Conv1D\).*supported after a recurrent group: Dense"):
        unit_groups(model)


@pytest.mark.parametrize("arch", ["single", "bidirectional"])
def test_compensation_folds_the_mean_of_removed_units_into_the_next_bias(tf, arch):
    """Pruned with fill == masked original whose consumer's bias absorbed fill[removed] @ kernel[removed]."""
    from lstmprune_cli.framework.graph import unit_groups
    from lstmprune_cli.framework.surgery import masked_model, prune_model

    model = build(arch, "concat", False, True)
    groups = unit_groups(model)
    kept = random_kept(groups, seed=5)
    rng = np.random.default_rng(0)
    first = groups[0].layer
    fill = {g.name: rng.normal(size=g.units) for g in groups if g.layer == first}
    pruned = prune_model(model, kept, fill)
    reference = masked_model(model, kept)

    consumer = next(
        layer
        for layer in reference.layers
        if layer.name not in ("input_layer",) and type(layer).__name__ in ("LSTM", "Dense") and layer.name != first
    )
    if arch == "single":
        const, removed = fill[groups[0].name], np.setdiff1d(np.arange(6), kept[groups[0].name])
    else:
        fw, bw = groups[0].name, groups[1].name
        const = np.concatenate([fill[fw], fill[bw]])
        removed = np.concatenate([np.setdiff1d(np.arange(6), kept[fw]), 6 + np.setdiff1d(np.arange(6), kept[bw])])
    weights = consumer.get_weights()
    weights[-1] = weights[-1] + const[removed] @ weights[0][removed]
    consumer.set_weights(weights)
    got, want = np.asarray(pruned(_x())), np.asarray(reference(_x()))
    assert np.max(np.abs(got - want)) <= 1e-5
