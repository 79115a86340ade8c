"""No code runs from a model file, no input or workspace is replaced, no changed function is shipped."""

import hashlib
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import one_error_line
from typer.testing import CliRunner

from lstmprune_cli.cli.app import app

runner = CliRunner()
T, F = 5, 4


def invoke(*args, ws: Path):
    return runner.invoke(app, [*map(str, args), "--workspace", str(ws)])


def digest(path: Path) -> str:
    if path.is_dir():
        return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file())).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def files(tf, tmp_path_factory):
    """A plain model with data, and models that carry code: a tf-keras SavedModel and .h5 with a Lambda
    that writes the file named by $LSTMPRUNE_TEST_MARKER, and a .keras naming a module outside Keras."""
    import keras
    import tf_keras

    root = tmp_path_factory.mktemp("security")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((T, F))
    x = keras.layers.LSTM(6, return_sequences=True, name="low")(inputs)
    x = keras.layers.LSTM(5, name="top")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid", name="head")(x))
    model.compile("adam", "binary_crossentropy")
    model.save(root / "base.keras")
    rng = np.random.default_rng(0)
    np.savez(root / "data.npz", x=rng.normal(size=(40, T, F)).astype("float32"), y=rng.integers(0, 2, (40, 3)))

    os.environ["LSTMPRUNE_TEST_MARKER"] = str(root / "written-while-saving")
    L = tf_keras.layers
    i = L.Input((T, F))
    h = L.LSTM(6, return_sequences=True)(i)
    h = L.Lambda(
        lambda t: (__import__("pathlib").Path(__import__("os").environ["LSTMPRUNE_TEST_MARKER"]).touch(), t)[1]
    )(h)
    h = L.LSTM(5)(h)
    evil = tf_keras.Model(i, L.Dense(3, activation="sigmoid")(h))
    evil.save(root / "lambda_saved")
    evil.save(root / "lambda.h5")

    config = json.loads(__import__("zipfile").ZipFile(root / "base.keras").read("config.json"))
    config["config"]["layers"][1]["module"] = "os"
    import zipfile

    with zipfile.ZipFile(root / "base.keras") as src, zipfile.ZipFile(root / "custom.keras", "w") as dst:
        for item in src.infolist():
            data = json.dumps(config).encode() if item.filename == "config.json" else src.read(item)
            dst.writestr(item, data)
    return root


VERBS = {
    "analyze": lambda m, root: ["analyze", m, "--data", root / "data.npz"],
    "prune": lambda m, root: ["prune", "--model", m, "--theta", "0.5", "--dry-run", "--no-latency"],
    "export": lambda m, root: ["export", m, "--to", "keras", "--out", root / "out" / "x.keras"],
    "finetune": lambda m, root: ["finetune", m, "--data", root / "data.npz", "--out", root / "out" / "f.keras"],
    "finetune --teacher": lambda m, root: [
        "finetune",
        root / "base.keras",
        "--teacher",
        m,
        "--data",
        root / "data.npz",
        "--out",
        root / "out" / "t.keras",
    ],
    "report": lambda m, root: ["report", "--original", m, "--pruned", root / "base.keras"],
    "sweep": lambda m, root: ["sweep", "--model", m, "--theta", "0.5"],
}


@pytest.mark.parametrize("source", ["lambda_saved", "lambda.h5", "custom.keras"])
@pytest.mark.parametrize("verb", list(VERBS))
def test_code_execution_no_verb_runs_code_from_a_model_file(files, tmp_path, monkeypatch, verb, source):
    marker = tmp_path / "marker"
    monkeypatch.setenv("LSTMPRUNE_TEST_MARKER", str(marker))
    ws = tmp_path / "ws"
    invoke("analyze", files / "base.keras", "--data", files / "data.npz", ws=ws)  # statistics for prune and sweep
    r = invoke(*VERBS[verb](files / source, files), ws=ws)
    one_error_line(r, "Lambda layer|custom object|module 'os'")
    assert not marker.exists()


def test_code_execution_a_workspace_naming_a_lambda_model_runs_nothing(files, tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    monkeypatch.setenv("LSTMPRUNE_TEST_MARKER", str(marker))
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "state.json").write_text(
        json.dumps({"model": str(files / "lambda_saved"), "pruned": str(files / "lambda.h5")})
    )
    one_error_line(invoke("report", ws=ws), "Lambda layer")
    one_error_line(invoke("export", "--to", "keras", "--out", tmp_path / "x.keras", ws=ws), "Lambda layer")
    assert not marker.exists()


@pytest.fixture()
def analyzed(files, tmp_path):
    ws = tmp_path / "ws"
    assert invoke("analyze", files / "base.keras", "--data", files / "data.npz", ws=ws).exit_code == 0
    return ws


def test_force_never_replaces_an_input_or_the_workspace(files, tmp_path, analyzed, monkeypatch):
    ws = analyzed
    model = tmp_path / "base.keras"
    model.write_bytes((files / "base.keras").read_bytes())
    before = digest(model)
    stats = digest(ws / "stats.npz")
    monkeypatch.chdir(tmp_path)
    r = invoke("prune", "--model", "base.keras", "--theta", "0.5", "--out", "base.keras", "--force", ws=ws)
    one_error_line(r, "would replace the model base.keras")
    r = invoke("prune", "--model", model, "--theta", "0.5", "--out", model, "--force", ws=ws)
    one_error_line(r, "would replace the model")
    link = tmp_path / "link.keras"
    link.symlink_to(model)
    one_error_line(invoke("prune", "--model", link, "--theta", "0.5", "--out", model, "--force", ws=ws), "replace")
    r = invoke("analyze", model, "--data", files / "data.npz", "--stats", model, "--force", ws=ws)
    one_error_line(r, "--stats .* would replace the model")
    r = invoke("report", "--original", model, "--pruned", model, "--markdown", model, "--force", ws=ws)
    one_error_line(r, "--markdown .* would replace the model")
    one_error_line(
        invoke("export", model, "--to", "keras", "--out", model, "--force", ws=ws), "would replace the model"
    )
    r = invoke("finetune", model, "--data", files / "data.npz", "--out", model, "--force", ws=ws)
    one_error_line(r, "would replace the model")
    r = invoke(
        "finetune", files / "base.keras", "--teacher", model, "--data", files / "data.npz", "--out", model, ws=ws
    )
    one_error_line(r, "would replace the model")
    r = invoke("prune", "--model", model, "--theta", "0.5", "--out", ws, "--force", ws=ws)
    one_error_line(r, "would replace the workspace")
    r = invoke("prune", "--model", model, "--theta", "0.5", "--out", tmp_path, "--force", ws=ws)
    one_error_line(r, "would replace")
    r = invoke("analyze", model, "--data", files / "data.npz", "--stats", files / "data.npz", "--force", ws=ws)
    one_error_line(r, "would replace .*data.npz, which this run reads")
    assert digest(model) == before and digest(ws / "stats.npz") == stats
    # the workspace's own pruned model is an earlier output: --force may replace it, but not when it is the input
    assert (
        invoke("prune", "--model", model, "--theta", "0.5", "--out", "small.keras", "--no-latency", ws=ws).exit_code
        == 0
    )
    r = invoke("finetune", "--data", files / "data.npz", "--out", "small.keras", "--force", ws=ws)
    one_error_line(r, "would replace the model .*small.keras")
    r = invoke("prune", "--model", model, "--theta", "0.6", "--out", "small.keras", "--force", "--no-latency", ws=ws)
    assert r.exit_code == 0, r.stderr


def test_time_major_h5_is_refused_not_converted(tf, tmp_path):
    import tf_keras

    L = tf_keras.layers
    i = L.Input((T, F))
    model = tf_keras.Model(i, L.Dense(2)(L.LSTM(5, time_major=True)(i)))
    model.save(tmp_path / "tm.h5")
    r = invoke("prune", "--model", tmp_path / "tm.h5", "--theta", "0.5", "--dry-run", ws=tmp_path / "ws")
    assert r.exit_code == 2
    from lstmprune_cli.core.errors import LstmpruneError
    from lstmprune_cli.framework.models.files import load_model

    with pytest.raises(LstmpruneError, match="time_major=True"):
        load_model(tmp_path / "tm.h5")


def test_time_major_rule_any_conversion_that_changes_the_function_is_refused(tf):
    import keras

    from lstmprune_cli.core.errors import LstmpruneError
    from lstmprune_cli.framework.models.safety import check_same_function

    def make(seed):
        keras.utils.set_random_seed(seed)
        i = keras.Input((None, F))
        return keras.Model(i, keras.layers.Dense(2)(keras.layers.LSTM(5)(i)))

    a, b = make(0), make(1)
    assert check_same_function(a, a, "same") == 0.0
    with pytest.raises(LstmpruneError, match="cannot be converted exactly"):
        check_same_function(a, b, "converted")


def test_concurrent_outputs_two_writers_to_one_name_cannot_both_succeed(tmp_path):
    from lstmprune_cli.core.errors import LstmpruneError
    from lstmprune_cli.core.files import staged

    out = tmp_path / "small.keras"
    barrier, results = threading.Barrier(2), []

    def write(text):
        try:
            with staged(out) as tmp:
                tmp.write_text(text)
                barrier.wait()  # both finished writing: the two renames race
            results.append("ok")
        except LstmpruneError as e:
            results.append(str(e))

    threads = [threading.Thread(target=write, args=(t,)) for t in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and results.count("ok") == 1
    assert any("already exists" in r for r in results)
    assert out.read_text() in ("first", "second")
    assert [p.name for p in tmp_path.iterdir()] == ["small.keras"]  # no temporary left
