"""The probe reads each group's final hidden state where Keras puts it."""

import numpy as np
import pytest
from golden import F, T, build, sample_x


def _reference_states(model, layer_name, x, lengths):
    """Final states by running each direction alone on the unpadded sequence."""
    layer = model.get_layer(layer_name)
    fw, bw = [], []
    for seq, n in zip(x, lengths):
        seq = seq[None, :n]  # (1, L, F)
        for direction, states in ((layer.forward_layer, fw), (layer.backward_layer, bw)):
            y = np.asarray(direction(seq))[0]  # (L, H) or (H,); go_backwards keeps processing order
            states.append(y[-1] if y.ndim == 2 else y)
    return np.array(fw), np.array(bw)


def _bidirectional(merge_mode, return_sequences):
    import keras

    inputs = keras.Input((T, F))
    x = keras.layers.Masking(0.0)(inputs)
    x = keras.layers.Bidirectional(
        keras.layers.LSTM(6, return_sequences=return_sequences), merge_mode=merge_mode, name="bi"
    )(x)
    x = keras.layers.Flatten()(x) if return_sequences else x
    return keras.Model(inputs, keras.layers.Dense(2)(x))


@pytest.mark.parametrize("merge_mode", ["concat", "sum"])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_backward_state_is_first_step_and_masks_are_respected(tf, merge_mode, return_sequences):
    from lstmprune_cli.core.groups import UnitGroup
    from lstmprune_cli.framework.stats.probe import build_probe

    model = _bidirectional(merge_mode, return_sequences)
    groups = [UnitGroup(f"bi/{d}", "bi", d, "LSTM", 6, F, "bi", merge_mode == "sum") for d in ("forward", "backward")]
    x = sample_x()
    lengths = [4, 1, T, T, T, T]
    fw, bw = _reference_states(model, "bi", x, lengths)
    got = dict((g.name, z) for g, z in build_probe(model, groups).responses(x))
    np.testing.assert_allclose(got["bi/forward"], fw, atol=1e-5)
    np.testing.assert_allclose(got["bi/backward"], bw, atol=1e-5)


def test_streamed_statistics_equal_numpy_cov_of_all_states(tf):
    from lstmprune_cli.framework.stats.probe import accumulate, build_probe
    from lstmprune_cli.framework.surgery.groups import unit_groups

    model = build("bidirectional", "concat", True, True)
    groups = unit_groups(model)
    x = np.concatenate([sample_x(seed) for seed in range(5)])  # (30, T, F)
    probe = build_probe(model, groups)
    stats = accumulate(probe, [x[i : i + 7] for i in range(0, len(x), 7)])
    whole = dict((g.name, z) for g, z in probe.responses(x))
    for g in groups:
        assert stats[g.name].count == len(x)
        np.testing.assert_allclose(stats[g.name].covariance, np.cov(whole[g.name], rowvar=False, bias=True), atol=1e-7)


def test_every_step_samples_are_each_directions_states_at_every_valid_step(tf):
    import keras

    from lstmprune_cli.framework.stats.probe import build_probe
    from lstmprune_cli.framework.surgery.groups import unit_groups

    model = build("bidirectional", "sum", False, True)
    layer = next(la for la in model.layers if type(la).__name__ == "Bidirectional")
    x = sample_x()
    lengths = (np.abs(x).sum(axis=2) > 0).sum(axis=1)  # masked zeros end each sequence
    want = {}
    for d in ("forward", "backward"):
        sub = getattr(layer, f"{d}_layer")
        alone = keras.layers.LSTM.from_config({**sub.get_config(), "return_sequences": True})
        alone.build((None, None, F))
        alone.set_weights(sub.get_weights())
        states = [np.asarray(alone(seq[None, :n]))[0] for seq, n in zip(x, lengths)]  # (n, H) each
        want[f"{layer.name}/{d}"] = np.concatenate([s[::-1] if d == "backward" else s for s in states])
    got = {g.name: z for g, z in build_probe(model, unit_groups(model), every_step=True).responses(x)}
    for name, states in want.items():
        np.testing.assert_allclose(got[name], states, atol=1e-5)
