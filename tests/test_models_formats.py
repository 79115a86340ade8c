"""Models users have: Keras 2 SavedModels and .h5 in, Keras and SavedModel out (TFLite: test_models_tflite)."""

import json
from pathlib import Path

import numpy as np
import pytest
from golden import assert_pruned_equals_masked
from records import single_feature_file
from typer.testing import CliRunner

from lstmprune_cli.cli.app import app

runner = CliRunner()
T, F = 6, 8


@pytest.fixture(scope="module")
def keras2_models(tf, tmp_path_factory):
    """A Masking -> Bidirectional -> LSTM -> Dense model written by tf-keras as a SavedModel and as .h5."""
    import tf_keras

    root = tmp_path_factory.mktemp("keras2")
    L = tf_keras.layers
    inputs = L.Input((T, F))
    x = L.Masking()(inputs)
    x = L.Bidirectional(L.LSTM(10, return_sequences=True), name="bi")(x)
    x = L.LSTM(12, name="top")(x)
    model = tf_keras.Model(inputs, L.Dense(4, activation="sigmoid", name="head")(x))
    model.compile("adam", "binary_crossentropy")
    model.fit(np.random.rand(16, T, F), np.random.randint(0, 2, (16, 4)), verbose=0)
    model.save(root / "saved")
    model.save(root / "model.h5")
    (root / "data").mkdir()
    single_feature_file(root / "data" / "a.tfrecord", F, count=40, frames=T)
    return root, model


def _x(seed=0):
    x = np.random.default_rng(seed).random((5, T, F)).astype("float32")  # (B, T, F)
    x[0, 3:] = 0
    return x


@pytest.mark.parametrize("source", ["saved", "model.h5"])
def test_keras2_models_are_read_pruned_and_written_in_their_family(keras2_models, tmp_path, source):
    from lstmprune_cli.core.plan import Plan
    from lstmprune_cli.framework import models

    root, original = keras2_models
    path = root / source
    ws = tmp_path / "ws"
    converted = models.load_model(path)
    np.testing.assert_allclose(np.asarray(converted(_x())), original(_x()).numpy(), atol=1e-6)
    assert (
        runner.invoke(app, ["analyze", str(path), "--data", str(root / "data"), "--json", "-w", str(ws)]).exit_code == 0
    )
    r = runner.invoke(app, ["prune", "--theta", "0.5", "--no-latency", "--compensate", "none", "--json", "-w", str(ws)])
    assert r.exit_code == 0, r.stderr
    out = Path(json.loads(r.stdout)["out"])
    assert out == (root / "saved-pruned" if source == "saved" else root / "model-pruned.h5")
    kept = Plan.load(ws / "plan.json").kept()
    assert_pruned_equals_masked(converted, kept, _x(), pruned=models.load_model(out))
    import tf_keras  # a Keras 2 input gives an output tf-keras loads, a SavedModel that serves as well

    again = tf_keras.models.load_model(str(out))
    np.testing.assert_allclose(again(_x()).numpy(), np.asarray(models.load_model(out)(_x())), atol=1e-6)
    if source == "saved":
        import tensorflow as tf

        served = tf.saved_model.load(str(out)).signatures["serving_default"]
        got = next(iter(served(tf.constant(_x())).values())).numpy()
        np.testing.assert_allclose(got, np.asarray(again(_x())), atol=1e-6)


def test_export_verb_writes_tflite_and_refuses_an_existing_output(keras2_models, tmp_path):
    root, _ = keras2_models
    out = tmp_path / "m.tflite"
    r = runner.invoke(
        app, ["export", str(root / "model.h5"), "--to", "tflite", "--route", "keras3", "--out", str(out), "--json"]
    )
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["max_abs_diff"] <= 1e-4 and out.stat().st_size > 0
    r = runner.invoke(app, ["export", str(root / "model.h5"), "--to", "tflite", "--out", str(out)])
    assert r.exit_code == 2 and "already exists; pass --force" in r.stderr


def test_models_without_an_architecture_are_refused_with_advice(tf, tmp_path):
    import keras

    from lstmprune_cli.core.errors import LstmpruneError
    from lstmprune_cli.framework import models

    inputs = keras.Input((T, F))
    model = keras.Model(inputs, keras.layers.LSTM(3)(inputs))
    model.export(str(tmp_path / "exported"), verbose=False)
    with pytest.raises(LstmpruneError, match="without a Keras architecture.*pass the .keras file"):
        models.load_model(tmp_path / "exported")

    @keras.saving.register_keras_serializable(package="tests")
    class Tagger(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.rnn = keras.layers.LSTM(3)

        def call(self, x):
            return self.rnn(x)

    sub = Tagger()
    sub(np.zeros((1, T, F), "float32"))
    sub.save(tmp_path / "sub.keras")
    with pytest.raises(LstmpruneError, match="subclassed model .*save a Functional or Sequential model"):
        models.load_model(tmp_path / "sub.keras")


def test_an_output_carries_optimizer_state_only_where_its_input_did(tf, tmp_path):
    """A pruning tool's file must not outgrow its input: Adam's zero slots (twice the weights) are written only
    for an input that carried its optimizer's state."""
    import keras

    from lstmprune_cli.framework import models

    model = keras.Sequential(
        [keras.Input((T, F)), keras.layers.LSTM(16, name="lstm"), keras.layers.Dense(3, name="head")]
    )
    model.compile("adam", "mse")
    model.save(tmp_path / "plain.keras")  # compiled, never trained: no optimizer state
    model.fit(np.zeros((4, T, F)), np.zeros((4, 3)), verbose=0)
    model.save(tmp_path / "trained.keras")  # its Adam slots saved
    assert not models.optimizer_saved(tmp_path / "plain.keras") and models.optimizer_saved(tmp_path / "trained.keras")
    for source in ("plain", "trained"):
        loaded = models.load_model(tmp_path / f"{source}.keras")
        like = dict(loss=models.compiled_setting(tmp_path / f"{source}.keras"))
        out = tmp_path / f"{source}-out.keras"
        models.save_model(loaded, out, optimizer=models.optimizer_saved(tmp_path / f"{source}.keras"), **like)
        assert models.optimizer_saved(out) == (source == "trained")
        ratio = out.stat().st_size / (tmp_path / f"{source}.keras").stat().st_size
        assert 0.8 < ratio < 1.25  # the same size class as its input
