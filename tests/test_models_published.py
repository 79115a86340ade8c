"""Models as people publish them: float-input Embedding models, Keras 2 .h5 with wrappers and nesting, files
whose names lie, regressors, and outputs that load in the Keras that reads the input."""

import json
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import invoke, one_error_line
from typer.testing import CliRunner

from lstmprune_cli.cli.app import app

runner = CliRunner()
T, V = 8, 30


def ok(r):
    assert r.exit_code == 0, r.output
    return r


def loads_quietly(path: Path, reader: str, must: bool = True) -> list[str]:
    """The warnings `reader` ('keras' or 'tf-keras') prints loading `path` in a fresh process (fails if it cannot;
    without `must`, nothing if it cannot)."""
    code = (
        "import os, warnings; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'; warnings.simplefilter('always')\n"
        f"import {'keras as k' if reader == 'keras' else 'tf_keras as k'}\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        f"    m = k.models.load_model({str(path)!r})\n"
        "print(repr(m.loss))\n"
        "for x in w: print('warning:', x.message)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 or not must, done.stderr[-2000:]
    return done.stdout.strip().splitlines()


def warns_no_more_than_its_input(out: Path, source: Path, reader: str) -> list[str]:
    """Load `out` and `source` as a user would: every warning `out` gives, its input gave too (an input compiled but
    never trained warns that its optimizer has no state; its output carries none either); an input that `reader`
    cannot load (a Keras 2 file the tool converted) gives an output that warns of nothing. Returns what `out` says."""
    said, given = loads_quietly(out, reader), loads_quietly(source, reader, must=False)
    kinds = [{re.sub(r"'[^']*'|\d+", "", s) for s in lines if s.startswith("warning:")} for lines in (said, given)]
    assert kinds[0] <= kinds[1], (said, given)  # the same warnings, names and counts aside
    return said


def strip_modules(config):
    """A config as older Keras 2 releases wrote it: no 'module' or 'registered_name' keys."""
    if isinstance(config, list):
        return [strip_modules(v) for v in config]
    if isinstance(config, dict):
        return {k: strip_modules(v) for k, v in config.items() if k not in ("module", "registered_name")}
    return config


@pytest.fixture(scope="module")
def files(tf, tmp_path_factory):
    """Token data as published text models take it (float ids), and the models of each failure class."""
    import keras
    import tf_keras

    root = tmp_path_factory.mktemp("published")
    rng = np.random.default_rng(0)
    ids = rng.integers(1, V, (48, T))
    labels = rng.integers(0, 2, 48)
    np.savez(root / "ids_int.npz", x=ids.astype("int64"), y=labels)
    np.savez(root / "ids_float.npz", x=ids.astype("float32"), y=labels.astype("float32"))
    keras.utils.set_random_seed(0)
    i = keras.Input((T,))  # float32: Keras' default
    h = keras.layers.LSTM(8)(keras.layers.Embedding(V, 6, mask_zero=True)(i))
    k3 = keras.Model(i, keras.layers.Dense(1, activation="sigmoid")(h))
    k3.compile("adam", "binary_crossentropy")
    k3.save(root / "text3.keras")
    k3.save(root / "text3.h5")  # Keras 3 writes its mask op (NotEqual) where its own .h5 reader cannot find it
    i = keras.Input((T,))
    plain = keras.Model(
        i, keras.layers.Dense(1, activation="sigmoid")(keras.layers.GRU(5)(keras.layers.Embedding(V, 4)(i)))
    )
    plain.compile("adam", "binary_crossentropy")
    plain.save(root / "plain3.h5")
    tf_keras.utils.set_random_seed(0)
    k2 = tf_keras.Sequential(
        [
            tf_keras.layers.Embedding(V, 6, input_length=T),
            tf_keras.layers.Bidirectional(tf_keras.layers.LSTM(6, return_sequences=True)),
            tf_keras.layers.TimeDistributed(tf_keras.layers.Dense(5)),
            tf_keras.layers.Bidirectional(tf_keras.layers.GRU(4)),
            tf_keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    k2.compile("adam", "binary_crossentropy")
    k2.save(root / "bi2.h5")
    with h5py.File(root / "bi2.h5", "r+") as f:  # as the Keras 2 releases before tf-keras wrote it
        f.attrs["model_config"] = json.dumps(strip_modules(json.loads(f.attrs["model_config"])))
    (root / "bi2_named.keras").write_bytes((root / "bi2.h5").read_bytes())  # an HDF5 file under a .keras name
    (root / "zip_named.h5").write_bytes((root / "text3.keras").read_bytes())  # a zip under an .h5 name
    inner = tf_keras.Sequential([tf_keras.layers.LSTM(6, return_sequences=True, input_shape=(T, 3))])
    x = tf_keras.Input((T, 3))
    nested = tf_keras.Model(x, tf_keras.layers.Dense(2)(tf_keras.layers.LSTM(4)(inner(x))))
    nested.compile("adam", "huber")
    nested.save(root / "nested_regressor.h5")
    nested.save(root / "any name")  # a Keras 2 SavedModel directory without a telling name
    np.savez(root / "series.npz", x=rng.normal(size=(48, T, 3)).astype("float32"), y=rng.normal(size=(48, 2)))
    i = keras.Input((T, 3))
    reg = keras.Model(i, keras.layers.Dense(2)(keras.layers.LSTM(6)(i)))
    reg.compile("adam", "mean_absolute_error")
    reg.save(root / "regressor.keras")
    pool = tf_keras.Sequential([tf_keras.layers.Embedding(V, 4, input_length=T), tf_keras.layers.GlobalMaxPool1D()])
    pool.add(tf_keras.layers.Dense(1, activation="sigmoid"))
    pool.save(root / "pooling.h5")
    return root


@pytest.mark.parametrize(
    "model, data", [("text3.keras", "ids_float.npz"), ("text3.h5", "ids_int.npz"), ("bi2.h5", "ids_float.npz")]
)
def test_float_input_embedding_models_take_token_ids(files, tmp_path, model, data):
    ws = tmp_path / "ws"
    ok(invoke("analyze", files / model, "--data", files / data, ws=ws))
    out = tmp_path / f"small{Path(model).suffix}"
    ok(invoke("prune", "--theta", "0.5", "--out", out, "--no-latency", ws=ws))
    r = ok(invoke("report", "--eval", files / data, "--json", ws=ws))
    assert "accuracy" in json.loads(r.stdout)["models"]["pruned"]["metrics"]
    if model == "text3.keras":  # the verbs that train and convert, once
        ok(invoke("finetune", "--data", files / data, "--epochs", "1", "--start", "pruned", ws=ws))
        r = ok(invoke("export", out, "--out", tmp_path / "small.tflite", "--json", ws=ws))
        assert json.loads(r.stdout)["checked_on"] == "calibration data"  # real token ids, not random floats


def test_keras2_h5_wrappers_and_nesting_are_converted(files, tmp_path):
    for model, data in (("bi2.h5", "ids_float.npz"), ("nested_regressor.h5", "series.npz")):
        ws = tmp_path / model
        r = ok(invoke("analyze", files / model, "--data", files / data, ws=ws))
        assert "a Keras 2 .h5 file" in r.stderr
        ok(invoke("prune", "--theta", "0.5", "--out", tmp_path / f"p-{model}", "--no-latency", ws=ws))


def test_model_files_are_recognised_by_content(files, tmp_path):
    for model, data, found in (
        ("bi2_named.keras", "ids_float.npz", "a Keras 2 .h5 file named .keras"),
        ("zip_named.h5", "ids_int.npz", "a Keras 3 .keras file named .h5"),
        ("any name", "series.npz", "a Keras 2 SavedModel directory"),
    ):
        ws = tmp_path / model.replace(" ", "_")
        r = ok(invoke("analyze", files / model, "--data", files / data, ws=ws))
        assert f"model: {found}" in r.stderr
        r = ok(invoke("prune", "--theta", "0.5", "--no-latency", "--dry-run", ws=ws))


def test_regressors_finetune_and_report_with_their_own_loss(files, tmp_path):
    ws = tmp_path / "ws"
    ok(invoke("analyze", files / "regressor.keras", "--data", files / "series.npz", ws=ws))
    ok(invoke("prune", "--theta", "0.5", "--allocate", "sensitivity", "--out", tmp_path / "p.keras", ws=ws))
    data = files / "series.npz"
    r = ok(invoke("finetune", "--data", data, "--val", data, "--epochs", "2", "--json", ws=ws))
    job = json.loads(r.stdout)
    assert job["task"] == "regression" and {"mse", "mae", "r2"} <= set(job["epochs"][0]["validation"])
    r = ok(invoke("report", "--eval", files / "series.npz", "--json", ws=ws))
    found = json.loads(r.stdout)["models"]
    assert {"mse", "mae", "r2"} <= set(found["original"]["metrics"]) and found["finetuned"]["metrics"]["r2"] <= 1
    for out in (tmp_path / "p.keras", Path(job["out"])):
        said = warns_no_more_than_its_input(out, files / "regressor.keras", "keras")
        assert "mean_absolute_error" in said[0], said


def test_outputs_load_in_the_keras_that_reads_the_input(files, tmp_path):
    for model, data, reader in (
        ("bi2.h5", "ids_float.npz", "tf-keras"),
        ("plain3.h5", "ids_int.npz", "keras"),
        ("nested_regressor.h5", "series.npz", "keras"),  # a nested model has no Keras 2 form: Keras 3's, said so
    ):
        ws = tmp_path / model.replace(" ", "_")
        ok(invoke("analyze", files / model, "--data", files / data, ws=ws))
        r = ok(invoke("prune", "--theta", "0.5", "--no-latency", "--json", ws=ws))
        out = Path(json.loads(r.stdout)["out"])
        assert out == files / model.replace(".", "-pruned.")
        assert f"loads with {'tf-keras' if reader == 'tf-keras' else 'Keras 3'}" in json.loads(r.stdout)["format"]
        said = warns_no_more_than_its_input(out, files / model, reader)
        if reader == "keras":  # the input's compile settings, kept
            assert ("huber" if model == "nested_regressor.h5" else "binary") in said[0].lower()
        out.unlink() if out.is_file() else __import__("shutil").rmtree(out)


def test_a_model_without_a_recurrent_layer_is_one_line(files, tmp_path):
    r = invoke("analyze", files / "pooling.h5", "--data", files / "ids_float.npz", ws=tmp_path / "ws")
    one_error_line(r, "has no recurrent layer, nothing for lstmprune to prune")


def test_inspect_says_what_an_npz_holds(files):
    r = ok(runner.invoke(app, ["inspect", str(files / "ids_float.npz"), "--json"]))
    rows = {f["name"]: f for f in json.loads(r.stdout)["features"]}
    assert rows["x"]["kind"] == "float32 48x8" and rows["y"]["where"] == "labels or targets"


def test_a_slowdown_reads_slower():
    from lstmprune_cli.cli.render import speed

    assert speed(1.0, 1.04) == "1.04x slower" and speed(2.0, 1.0) == "2.00x faster"


def test_a_model_saved_before_it_was_built_is_one_line(tf, tmp_path):
    import keras

    model = keras.Sequential([keras.layers.Embedding(50, 4), keras.layers.LSTM(6), keras.layers.Dense(3)])
    model.compile("adam", "mse")
    model.save(tmp_path / "unbuilt.h5")  # as a notebook does that saves before it trains
    np.savez(tmp_path / "d.npz", x=np.ones((4, 5)))
    r = invoke("analyze", tmp_path / "unbuilt.h5", "--data", tmp_path / "d.npz", ws=tmp_path / "ws")
    one_error_line(r, "never built: no input shape and no trained weights")


def test_files_found_in_the_wild(files, tmp_path):
    """A Git LFS pointer committed in place of a model; a .keras that tf.keras 2.15 wrote on Windows (time_major
    false in its config, backslashes in its weight paths); a free-length model exported on real sequences."""
    import zipfile

    (tmp_path / "lfs.h5").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 1\n")
    r = invoke("analyze", tmp_path / "lfs.h5", "--data", files / "series.npz", ws=tmp_path / "ws0")
    one_error_line(r, "is a Git LFS pointer, not the model itself")

    with zipfile.ZipFile(files / "regressor.keras") as src, zipfile.ZipFile(tmp_path / "win.keras", "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "config.json":
                config = json.loads(data)
                for layer in config["config"]["layers"]:
                    if layer["class_name"] == "LSTM":
                        layer["config"]["time_major"] = False
                data = json.dumps(config).encode()
            if item.filename == "model.weights.h5":
                import io

                out = io.BytesIO()
                with h5py.File(io.BytesIO(data)) as f, h5py.File(out, "w") as g:
                    names = []
                    f.visititems(lambda n, o, found=names: found.append(n) if isinstance(o, h5py.Dataset) else None)
                    for n in names:
                        g.create_dataset(n.replace("layers/", "layers\\").replace("/cell", "\\cell"), data=f[n][()])
                data = out.getvalue()
            dst.writestr(item, data)
    ws = tmp_path / "ws1"
    ok(invoke("analyze", tmp_path / "win.keras", "--data", files / "series.npz", ws=ws))
    from lstmprune_cli.framework import models

    np.testing.assert_allclose(
        np.asarray(models.load_model(tmp_path / "win.keras")(np.ones((2, T, 3)))),
        np.asarray(models.load_model(files / "regressor.keras")(np.ones((2, T, 3)))),
    )

    import keras

    i = keras.Input((None, 3))
    keras.Model(i, keras.layers.Dense(2)(keras.layers.LSTM(5)(i))).save(tmp_path / "free.keras")
    ws = tmp_path / "ws2"
    ok(invoke("analyze", tmp_path / "free.keras", "--data", files / "series.npz", ws=ws))
    ok(invoke("prune", "--theta", "0.5", "--out", tmp_path / "p.keras", "--no-latency", ws=ws))
    r = ok(invoke("export", "--out", tmp_path / "p.tflite", "--json", ws=ws))
    assert json.loads(r.stdout)["checked_on"] == "calibration data"
