"""Golden tests: the physically pruned model equals the original with the same units masked."""

import numpy as np
import pytest
from golden import F, T, assert_pruned_equals_masked, build, random_kept, sample_x

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
    ("stacked", "concat", True, True, "RNN-LSTM"),  # keras.layers.RNN over a cell: one registry entry
    ("bidirectional", "sum", False, True, "RNN-GRU"),
]


@pytest.mark.parametrize("arch,merge_mode,return_sequences,masked,cell", ARCHS)
def test_pruned_equals_masked_original(tf, arch, merge_mode, return_sequences, masked, cell):
    from lstmprune_cli.framework.surgery.groups import unit_groups

    model = build(arch, merge_mode, return_sequences, masked, cell)
    groups = unit_groups(model)
    kept = random_kept(groups, seed=len(groups))
    pruned = assert_pruned_equals_masked(model, kept, sample_x(pad=masked))
    assert pruned.count_params() < model.count_params()


def test_sequential_model_and_dense_on_every_step(tf):
    import keras

    from lstmprune_cli.framework.surgery.groups import unit_groups

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
    assert_pruned_equals_masked(model, kept, sample_x())


def test_prune_keep_all_is_identity(tf):
    from lstmprune_cli.framework.surgery.cut import prune_model
    from lstmprune_cli.framework.surgery.groups import unit_groups

    model = build("bidirectional", "concat", False, True)
    kept = {g.name: np.arange(g.units) for g in unit_groups(model)}
    pruned = prune_model(model, kept)
    assert pruned.count_params() == model.count_params()
    np.testing.assert_array_equal(np.asarray(pruned(sample_x())), np.asarray(model(sample_x())))


def test_pruned_model_round_trips_through_keras_and_savedmodel(tf, tmp_path):
    from lstmprune_cli.framework import models
    from lstmprune_cli.framework.surgery.cut import prune_model
    from lstmprune_cli.framework.surgery.groups import unit_groups

    model = build("bidirectional", "concat", False, True)
    kept = random_kept(unit_groups(model), seed=1)
    pruned = prune_model(model, kept)
    for out in (tmp_path / "small.keras", tmp_path / "small"):
        models.save_model(pruned, out)
        assert_pruned_equals_masked(model, kept, sample_x(), pruned=models.load_model(out))
    served = tf.saved_model.load(str(tmp_path / "small"))
    np.testing.assert_allclose(served.serve(sample_x()).numpy(), np.asarray(pruned(sample_x())), atol=1e-5)


def test_groups_feeding_an_output_are_not_prunable(tf):
    import keras

    from lstmprune_cli.framework.surgery.groups import unit_groups

    inputs = keras.Input((T, F))
    x = keras.layers.LSTM(4, return_sequences=True, name="first")(inputs)
    model = keras.Model(inputs, keras.layers.LSTM(3, name="last")(x))
    assert [(g.name, g.prunable) for g in unit_groups(model)] == [("first", True), ("last", False)]


def test_an_unknown_layer_after_a_group_is_named(tf):
    import keras

    from lstmprune_cli.core.errors import LstmpruneError
    from lstmprune_cli.framework.surgery.groups import unit_groups

    inputs = keras.Input((T, F))
    x = keras.layers.LSTM(4, return_sequences=True)(inputs)
    x = keras.layers.Conv1D(2, 3, name="conv")(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    with pytest.raises(LstmpruneError, match=r"'conv' \(Conv1D\).*supported after a recurrent group: Dense"):
        unit_groups(model)


@pytest.mark.parametrize("arch", ["single", "bidirectional"])
def test_compensation_folds_the_mean_of_removed_units_into_the_next_bias(tf, arch):
    """Pruned with fill == masked original whose consumer's bias absorbed fill[removed] @ kernel[removed]."""
    from golden import masked_model

    from lstmprune_cli.framework.surgery.cut import prune_model
    from lstmprune_cli.framework.surgery.groups import unit_groups

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
    got, want = np.asarray(pruned(sample_x())), np.asarray(reference(sample_x()))
    assert np.max(np.abs(got - want)) <= 1e-5
