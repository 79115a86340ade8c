"""The recurrent registry: one spec per cell type, its gate layout, slicing and masking on numpy weights."""

import numpy as np
import pytest

from lstmprune_cli.core import recurrent
from lstmprune_cli.core.recurrent import Recurrent, spec_of


def test_unit_vectors_concatenate_gate_columns_of_kernel_and_recurrent_kernel():
    f, h = 3, 4
    spec = recurrent.get("LSTM")
    kernel = np.arange(f * 4 * h, dtype=float).reshape(f, 4 * h)
    rec = 1000 + np.arange(h * 4 * h, dtype=float).reshape(h, 4 * h)
    w = spec.unit_vectors([kernel, rec])
    assert w.shape == (h, 4 * (f + h))
    j = 2
    want = np.concatenate([np.concatenate([kernel[:, k * h + j], rec[:, k * h + j]]) for k in range(4)])
    np.testing.assert_array_equal(w[j], want)


@pytest.mark.parametrize("name,gates,bias_shape", [("LSTM", 4, (16,)), ("GRU", 3, (2, 12)), ("SimpleRNN", 1, (4,))])
def test_slice_keeps_the_kept_units_columns_in_every_gate_and_mask_zeroes_the_others(name, gates, bias_shape):
    spec, f, h = recurrent.get(name), 3, 4
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(f, gates * h)), rng.normal(size=(h, gates * h)), rng.normal(size=bias_shape)]
    kept = np.array([0, 2])
    cut = spec.slice(weights, kept)
    assert [w.shape for w in cut] == [(f, gates * 2), (2, gates * 2), (*bias_shape[:-1], gates * 2)]
    cols = [g * h + k for g in range(gates) for k in kept]
    np.testing.assert_array_equal(cut[1], weights[1][kept][:, cols])
    masked = spec.mask(weights, np.array([1, 3]))
    removed = [g * h + r for g in range(gates) for r in (1, 3)]
    assert all(
        np.all(m[..., removed] == 0) and np.array_equal(m[..., cols], w[..., cols]) for m, w in zip(masked, weights)
    )
    assert spec.flops(f, h) == 2 * gates * h * (f + h)


def test_layers_and_the_generic_rnn_wrapper_resolve_through_the_registry():
    assert spec_of("LSTM", {}).name == "LSTM"
    assert spec_of("RNN", {"cell": {"class_name": "GRUCell", "config": {"units": 3}}}).name == "GRU"
    assert spec_of("RNN", {"cell": {"class_name": "MyCell", "config": {}}}) is None
    assert spec_of("RNN", {"cell": [{"class_name": "LSTMCell"}]}) is None  # stacked cells are not one group
    assert spec_of("Dense", {}) is None
    config = {"cell": {"class_name": "LSTMCell", "config": {"units": 8, "name": "c"}}, "name": "rnn"}
    assert recurrent.with_units("RNN", config, 3)["cell"]["config"]["units"] == 3
    assert config["cell"]["config"]["units"] == 8  # the original config is not changed
    assert "RNN(LSTMCell)" in recurrent.layer_classes()


def test_a_new_cell_type_is_one_registration_and_names_stay_unique():
    spec = Recurrent("MinimalGatedUnit", 2, ("MGU",), ("MGUCell",))
    try:
        recurrent.register(spec)
        assert spec_of("RNN", {"cell": {"class_name": "MGUCell"}}) is spec and "MinimalGatedUnit" in recurrent.names()
        with pytest.raises(ValueError, match="already registered"):
            recurrent.register(Recurrent("Other", 2, ("LSTM",)))
    finally:
        recurrent.REGISTRY.pop("MinimalGatedUnit", None)
