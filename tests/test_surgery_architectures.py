"""Golden tests over the layers that may follow a unit group, drawn from a small grammar."""

import numpy as np
import pytest
from golden import assert_pruned_equals_masked, random_kept
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

T, F = 6, 5


def _randomize_normalization(model, seed=0):
    """Non-trivial BatchNormalization statistics, so removed units leave a constant to fold."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            layer.set_weights([np.abs(rng.normal(size=w.shape)) + 0.5 for w in layer.get_weights()])


def _x(seed=0, masked=True):
    x = np.random.default_rng(seed).normal(size=(5, T, F)).astype("float32")  # (B, T, F)
    if masked:
        x[0, 3:] = 0.0
    return x


@st.composite
def architectures(draw):
    return {
        "masked": draw(st.booleans()),
        "branches": draw(st.sampled_from([1, 1, 2])),
        "cell": draw(st.sampled_from(["LSTM", "GRU", "bi-concat", "bi-sum", "bi-mul"])),
        "merge": draw(st.sampled_from(["Concatenate", "Add", "Multiply", "Average"])),
        "stack": draw(st.booleans()),
        "post": draw(
            st.sampled_from(
                [
                    "none",
                    "Dropout",
                    "BatchNormalization",
                    "GlobalAveragePooling1D",
                    "GlobalMaxPooling1D",
                    "Flatten",
                    "last",
                ]
            )
        ),
    }


def build(spec):
    import keras

    L = keras.layers

    def recurrent(units, rs):
        cell = spec["cell"]
        if cell.startswith("bi-"):
            return L.Bidirectional(L.LSTM(units, return_sequences=rs), merge_mode=cell[3:])
        return {"LSTM": L.LSTM, "GRU": L.GRU}[cell](units, return_sequences=rs)

    inputs = keras.Input((T, F))
    x = L.Masking(0.0)(inputs) if spec["masked"] else inputs
    seq = spec["post"] != "last"
    branches = [recurrent(6, seq or spec["stack"])(x) for _ in range(spec["branches"])]
    x = branches[0] if len(branches) == 1 else getattr(L, spec["merge"])()(branches)
    if spec["stack"]:
        x = recurrent(4, seq)(x)
    if spec["post"] not in ("none", "last"):
        x = L.Dropout(0.2)(x) if spec["post"] == "Dropout" else getattr(L, spec["post"])()(x)
    head = L.Dense(3)
    model = keras.Model(inputs, head(x))
    _randomize_normalization(model)
    return model


@given(architectures(), st.integers(0, 1000))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_pruned_equals_masked_for_drawn_architectures(tf, spec, seed):
    from lstmprune_cli.framework.surgery.groups import unit_groups

    model = build(spec)
    groups = unit_groups(model)
    kept = random_kept(groups, seed)
    assert_pruned_equals_masked(model, kept, _x(seed, spec["masked"]))


def test_language_model_with_embedding_and_per_step_softmax(tf):
    import keras

    from lstmprune_cli.framework.surgery.groups import unit_groups

    inputs = keras.Input((T,), dtype="int32")
    x = keras.layers.Embedding(50, 8, mask_zero=True)(inputs)
    x = keras.layers.LSTM(10, return_sequences=True)(x)
    x = keras.layers.Dropout(0.3)(x)
    x = keras.layers.LSTM(9, return_sequences=True)(x)
    model = keras.Model(inputs, keras.layers.Dense(50, activation="softmax")(x))
    tokens = np.random.default_rng(0).integers(1, 50, (4, T))
    tokens[0, 4:] = 0
    pruned = assert_pruned_equals_masked(model, random_kept(unit_groups(model)), tokens)
    from lstmprune_cli.framework.models import costs

    cells = [
        (type(la.cell).__name__, la.cell.kernel.shape[0], la.cell.units) for la in pruned.layers if hasattr(la, "cell")
    ]
    gates = {"LSTMCell": 4, "GRUCell": 3}
    want = sum(2 * gates[c] * h * (f + h) for c, f, h in cells) + 2 * pruned.layers[-1].kernel.shape[0] * 50  # + head
    assert costs.flops(pruned, T) == {"per_step": want, "per_sequence": want * T}
    assert costs.flops(pruned, T)["per_step"] < costs.flops(model, T)["per_step"]


def test_add_ties_the_kept_units_of_its_inputs(tf):
    import keras

    from lstmprune_cli.framework.surgery.groups import unit_groups

    inputs = keras.Input((T, F))
    a = keras.layers.LSTM(6, name="a")(inputs)
    b = keras.layers.GRU(6, name="b")(inputs)
    c = keras.layers.LSTM(5, name="c")(inputs)
    x = keras.layers.Concatenate()([keras.layers.Add()([a, b]), c])
    groups = {g.name: g for g in unit_groups(keras.Model(inputs, keras.layers.Dense(2)(x)))}
    assert groups["a"].tie == groups["b"].tie and groups["a"].same_as == groups["b"].same_as != ""
    assert groups["c"].tie != groups["a"].tie and groups["c"].same_as == ""


def test_a_group_added_to_a_non_group_tensor_is_kept_whole(tf):
    import keras

    from lstmprune_cli.framework.surgery.groups import unit_groups

    inputs = keras.Input((T, F))
    x = keras.layers.LSTM(5, return_sequences=True, name="rnn")(inputs)
    x = keras.layers.Add()([x, inputs])
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    assert [g.prunable for g in unit_groups(model)] == [False]


def test_several_inputs_and_outputs(tf):
    import keras

    from lstmprune_cli.framework.surgery.groups import unit_groups

    a_in, b_in = keras.Input((T, F), name="frames"), keras.Input((T, 3), name="extra")
    a = keras.layers.Bidirectional(keras.layers.LSTM(6, return_sequences=True))(a_in)
    b = keras.layers.LSTM(4, return_sequences=True)(b_in)
    x = keras.layers.Concatenate()([a, b])
    out1 = keras.layers.Dense(2, name="tags")(keras.layers.GlobalAveragePooling1D()(x))
    out2 = keras.layers.TimeDistributed(keras.layers.Dense(3), name="steps")(
        keras.layers.LSTM(5, return_sequences=True)(x)
    )
    model = keras.Model([a_in, b_in], [out1, out2])
    x_b = np.random.default_rng(1).normal(size=(5, T, 3)).astype("float32")
    assert_pruned_equals_masked(model, random_kept(unit_groups(model), 2), [_x(), x_b])


def test_layer_normalization_renormalizes_over_the_kept_units(tf):
    import keras
    from golden import masked_model

    from lstmprune_cli.framework.surgery.cut import prune_model
    from lstmprune_cli.framework.surgery.groups import unit_groups

    inputs = keras.Input((T, F))
    h = keras.layers.LSTM(8, name="rnn")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(keras.layers.LayerNormalization(name="ln")(h)))
    model.get_layer("ln").set_weights([np.linspace(0.5, 2, 8), np.linspace(-1, 1, 8)])
    kept = random_kept(unit_groups(model))
    pruned = prune_model(model, kept)
    masked = masked_model(model, kept)
    h_kept = np.asarray(keras.Model(masked.inputs, masked.get_layer("rnn").output)(_x()))  # (B, H)
    ln = keras.layers.LayerNormalization()
    ln.build((None, len(kept["rnn"])))
    ln.set_weights([w[kept["rnn"]] for w in model.get_layer("ln").get_weights()])
    want = model.get_layer("head").get_weights()
    expected = np.asarray(ln(h_kept[:, kept["rnn"]])) @ want[0][kept["rnn"]] + want[1]
    np.testing.assert_allclose(np.asarray(pruned(_x())), expected, atol=1e-5)


@pytest.mark.parametrize("post", ["BatchNormalization"])
def test_constants_of_removed_units_are_folded_into_the_next_bias(tf, post):
    spec = {"masked": True, "branches": 1, "cell": "LSTM", "merge": "Add", "stack": True, "post": post}
    from lstmprune_cli.framework.surgery.groups import unit_groups

    model = build(spec)
    assert_pruned_equals_masked(model, random_kept(unit_groups(model), 4), _x())
