"""Hardening II: the verbs and options added since the first pass (learn, --runner beam, --strategy, --backup-dir)
keep the same promises: no data loss, no wrong model with exit 0, no hang, one line for bad input."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke, one_error_line
from typer.testing import CliRunner

runner = CliRunner()
T, F, C = 5, 4, 3


def digest(*paths: Path) -> dict:
    return {p: p.read_bytes() for p in paths}


@pytest.fixture(scope="module")
def project(tf, tmp_path_factory):
    """A multi-label classifier, a sibling of the same shape, an unrelated regressor, data with a NaN label."""
    import keras

    root = tmp_path_factory.mktemp("hardening2")
    keras.utils.set_random_seed(0)
    for name, units in (("m", 6), ("sib", 4)):
        i = keras.Input((T, F))
        h = keras.layers.LSTM(units, return_sequences=True)(i)
        model = keras.Model(i, keras.layers.Dense(C, activation="sigmoid")(keras.layers.LSTM(5)(h)))
        model.compile("adam", "binary_crossentropy")
        model.save(root / f"{name}.keras")
    i = keras.Input((T, F))
    keras.Model(i, keras.layers.Dense(2)(keras.layers.GRU(3)(i))).save(root / "other.keras")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, T, F)).astype("float32")
    y = rng.integers(0, 2, (30, C)).astype("float32")
    np.savez(root / "d.npz", x=x, y=y)
    y[4, 1] = np.nan
    np.savez(root / "nanlabel.npz", x=x, y=y)
    return root


@pytest.fixture()
def ws(project, tmp_path):
    ws = tmp_path / "ws"
    assert invoke("analyze", project / "m.keras", "--data", project / "d.npz", ws=ws).exit_code == 0
    return ws


def learned_plan(ws) -> dict:
    assert invoke("prune", "--theta", "0.5", "--dry-run", "--no-latency", ws=ws).exit_code == 0
    return json.loads((ws / "plan.json").read_text())


# Data loss


def test_beam_output_never_replaces_an_input_or_an_existing_file(project, ws, tmp_path):
    (tmp_path / "kept.npz").write_bytes(b"mine")
    guarded = digest(project / "m.keras", project / "d.npz", tmp_path / "kept.npz", ws / "stats.npz")
    base = ["analyze", project / "m.keras", "--data", project / "d.npz", "--runner", "beam", "--beam-output"]
    one_error_line(invoke(*base, project / "m.keras", ws=ws), "would replace the model")
    one_error_line(invoke(*base, project / "d.npz", ws=ws), "would replace .*d.npz, which this run reads")
    one_error_line(invoke(*base, tmp_path / "kept.npz", ws=ws), "already exists; pass --force")
    one_error_line(invoke(*base, ws / "stats.npz", ws=ws), "would replace the workspace")
    assert digest(*guarded) == guarded


# A wrong model with exit 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--theta", "1.5"], "theta must be in \\(0, 1\\); received 1.5"),
        (["--theta", "nan"], "theta must be in \\(0, 1\\); received nan"),
        (["--theta", "0"], "theta must be in \\(0, 1\\); received 0"),
        (["--penalty", "-1"], "--penalty must be a positive number"),
        (["--theta", "0.5", "--epochs", "0"], "--epochs must be at least 1"),
        (["--theta", "0.5", "--alpha", "2"], "--alpha must be in \\[0, 1\\]"),
        (["--theta", "0.5", "--lr", "inf"], "--lr must be a positive number"),
        (["--theta", "0.5", "--min-units", "0"], "--min-units must be at least 1"),
    ],
)
def test_learn_options_are_checked_where_parsed(project, ws, args, message):
    r = invoke("learn", "--method", "l0", "--data", project / "d.npz", *args, ws=ws)
    one_error_line(r, message)


def test_learn_every_must_not_be_negative(project, ws):
    r = invoke("learn", "--method", "soft-gm", "--theta", "0.5", "--every", "-1", "--data", project / "d.npz", ws=ws)
    one_error_line(r, "--every must be at least 0")


def test_non_finite_labels_are_refused_or_skipped_and_counted(project, ws, tmp_path):
    data = project / "nanlabel.npz"
    for args in (
        ["finetune", project / "m.keras", "--data", data, "--out", tmp_path / "f.keras"],
        ["learn", "--method", "l0", "--theta", "0.5", "--data", data, "--epochs", "1", "--no-distill"],
        ["sweep", "--theta", "0.5", "--train", data, "--epochs", "1", "--compensate", "mean"],
    ):
        one_error_line(invoke(*args, ws=ws), "record 4 has a NaN or Inf label or target; pass --skip-nonfinite")
    r = invoke(
        "finetune", project / "m.keras", "--data", data, "--skip-nonfinite", "--epochs", "1", "--json",
        "--out", tmp_path / "f.keras", ws=ws,
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["epochs"][0]["samples"] == 29  # one of 30 skipped


def test_a_model_with_non_finite_weights_is_never_written(project, tmp_path, tf):
    import keras

    from lstmprune_cli.core.errors import LstmpruneError
    from lstmprune_cli.framework import models

    model = keras.saving.load_model(project / "m.keras")
    weights = model.get_weights()
    weights[0][0, 0] = np.nan
    model.set_weights(weights)
    with pytest.raises(LstmpruneError, match="NaN or Inf weights"):
        models.save_model(model, tmp_path / "nan.keras")
    assert not list(tmp_path.iterdir())


def test_a_workspace_knows_its_model(project, ws, tmp_path):
    r = invoke("learn", "--method", "l0", "--theta", "0.5", "--data", project / "d.npz", "--model",
               project / "sib.keras", ws=ws)  # fmt: skip
    one_error_line(r, "belongs to .*m.keras; --model .*sib.keras is another model")
    r = invoke("finetune", project / "sib.keras", "--data", project / "d.npz", "--epochs", "1", "--json",
               "--out", tmp_path / "s.keras", ws=ws)  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["teacher"] is None and "no teacher" in r.stderr  # not the workspace's original
    learned_plan(ws)
    one_error_line(invoke("report", "--pruned", project / "other.keras", ws=ws), "is not a cut of the original")


@pytest.mark.parametrize(
    "field, value, message",
    [("cell", "GRU", "cell 'GRU'; the model's is 'LSTM'"), ("layer", "dense", "layer 'dense'; the model's is")],
)
def test_plans_are_checked_against_the_models_groups(ws, tmp_path, field, value, message):
    plan = learned_plan(ws)
    plan["groups"][0][field] = value
    (tmp_path / "p.json").write_text(json.dumps(plan))
    one_error_line(invoke("prune", "--plan", tmp_path / "p.json", "--dry-run", ws=ws), message)


def test_a_vocabulary_with_duplicates_is_refused(tf, tmp_path):
    import keras

    i = keras.Input((6,), dtype="int32")
    h = keras.layers.LSTM(5)(keras.layers.Embedding(6, 4)(i))
    keras.Model(i, keras.layers.Dense(6, activation="softmax")(h)).save(tmp_path / "lm.keras")
    (tmp_path / "vocab.txt").write_text("<unk>\na\nb\na\nc\nd\n")
    (tmp_path / "c.txt").write_text("a b c d\n" * 10)
    r = invoke("analyze", tmp_path / "lm.keras", "--data", tmp_path / "c.txt", "--vocab", tmp_path / "vocab.txt")
    one_error_line(r, "lists 'a' twice \\(ids 1 and 3\\)")


def test_backups_are_checked_like_plans(project, ws, tmp_path, monkeypatch):
    from lstmprune_cli.framework.train import distribute

    monkeypatch.setattr(distribute.Backup, "clear", lambda self: None)  # a run lost after its last epoch
    args = ["finetune", project / "m.keras", "--data", project / "d.npz", "--no-distill", "--start", "pruned",
            "--backup-dir", tmp_path / "bk", "--out", tmp_path / "f.keras", "--force"]  # fmt: skip
    assert invoke(*args, "--epochs", "2", ws=ws).exit_code == 0
    monkeypatch.undo()
    with np.load(tmp_path / "bk" / "state.npz") as f:
        good = dict(f)
    state = json.loads(bytes(good["state"]).decode())

    def resume(**change):
        np.savez(tmp_path / "bk" / "state.npz", **{**good, **change})
        return invoke(*args, "--epochs", "3", ws=ws)

    one_error_line(resume(b0=np.full_like(good["b0"], np.nan)), "holds NaN, Inf or non-numbers in its best_weights")
    as_bytes = lambda d: np.frombuffer(json.dumps(d).encode(), np.uint8)  # noqa: E731
    one_error_line(resume(state=as_bytes({**state, "epoch": 99})), "epoch must be at most 2; received 99")
    other = {**state, "run": {**state["run"], "seed": 7}}
    one_error_line(resume(state=as_bytes(other)), "belongs to another run")
    r = resume()
    assert r.exit_code == 0, r.stderr
    assert not (tmp_path / "bk" / "state.npz").exists() and not list((tmp_path / "bk").iterdir())


# Hangs and exhaustion


def test_special_files_and_deep_json_are_one_line(project, ws, tmp_path):
    os.mkfifo(tmp_path / "fifo.keras")
    os.mkfifo(tmp_path / "fifo.npz")
    one_error_line(invoke("analyze", tmp_path / "fifo.keras", "--data", project / "d.npz", ws=ws), "not a regular")
    one_error_line(invoke("analyze", project / "m.keras", "--data", tmp_path / "fifo.npz", ws=ws), "not a regular")
    one_error_line(invoke("analyze", project / "m.keras", "--data", "/dev/zero", ws=ws), "not a regular file")
    one_error_line(invoke("prune", "--plan", "/dev/zero", "--dry-run", ws=ws), "not a regular file")
    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / "deep.json").write_text(deep)
    one_error_line(invoke("prune", "--plan", tmp_path / "deep.json", "--dry-run", ws=ws), "nests 100000 levels deep")
    with np.load(ws / "stats.npz") as f:
        arrays = dict(f)
    np.savez(tmp_path / "deep.npz", **{**arrays, "meta": np.array(deep)})
    r = invoke("prune", "--theta", "0.5", "--stats", tmp_path / "deep.npz", "--dry-run", ws=ws)
    one_error_line(r, "meta nests 100000 levels deep")
    (tmp_path / "deep_ws").mkdir()
    (tmp_path / "deep_ws" / "state.json").write_text(deep)
    one_error_line(invoke("prune", "--theta", "0.5", ws=tmp_path / "deep_ws"), "is damaged .*nests 100000 levels")


# Unexpected errors where the input is at fault


@pytest.mark.parametrize(
    "config, message",
    [
        ("", "TF_CONFIG is not JSON"),
        ('{"cluster": {"worker": "h:1"}, "task": {"type": "worker", "index": 0}}', "not a list of host:port"),
        ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "boss", "index": 0}}', "task type 'boss'"),
        ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "worker", "index": 5}}', "task index 5"),
    ],
)
def test_a_malformed_tf_config_is_one_line(project, ws, tmp_path, monkeypatch, config, message):
    monkeypatch.setenv("TF_CONFIG", config)
    r = invoke("finetune", project / "m.keras", "--data", project / "d.npz", "--strategy", "multi-worker",
               "--out", tmp_path / "f.keras", ws=ws)  # fmt: skip
    one_error_line(r, message)


def test_bad_beam_options_are_one_line(project, ws):
    pytest.importorskip("apache_beam")
    from lstmprune_cli.core.errors import LstmpruneError
    from lstmprune_cli.framework.stats.beam import pipeline_options

    with pytest.raises(LstmpruneError, match="invalid int value: 'abc'"):
        pipeline_options("--direct_num_workers=abc")


def test_bad_output_paths_and_fields_are_one_line(project, ws, tmp_path):
    (tmp_path / "loop").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop")
    one_error_line(invoke("prune", "--theta", "0.5", "--out", tmp_path / "loop", ws=ws), "points nowhere")
    plan = learned_plan(ws)
    plan["min_units"] = 2**80
    (tmp_path / "huge.json").write_text(json.dumps(plan))
    one_error_line(invoke("prune", "--plan", tmp_path / "huge.json", "--dry-run", ws=ws), "must be at most")
    with np.load(ws / "stats.npz") as f:
        arrays = dict(f)
    meta = json.loads(str(arrays["meta"]))
    meta["groups"][0]["name"] = "ghost"
    np.savez(tmp_path / "ghost.npz", **{**arrays, "meta": np.array(json.dumps(meta))})
    r = invoke("prune", "--theta", "0.5", "--stats", tmp_path / "ghost.npz", "--dry-run", ws=ws)
    one_error_line(r, "name group 'ghost', which this model lacks")


def test_a_full_disk_under_a_savedmodel_is_one_line(project, ws, tmp_path, monkeypatch):
    import keras

    def full(self, *args, **kwargs):
        raise RuntimeError("write failed: No space left on device")

    monkeypatch.setattr(keras.Model, "export", full)
    r = invoke("export", project / "m.keras", "--to", "savedmodel", "--out", tmp_path / "sm", ws=ws)
    one_error_line(r, "cannot write .*sm: No space left on device")
    assert not list(tmp_path.glob("*sm*"))


# Failure that leaves things behind


def test_failures_leave_nothing_behind(project, ws, tmp_path, monkeypatch):
    long = tmp_path / ("n" * 249 + ".keras")  # a legal 255-byte name
    assert invoke("prune", "--theta", "0.5", "--out", long, "--no-latency", ws=ws).exit_code == 0
    state = (ws / "state.json").read_text()
    from lstmprune_cli.core.statsfile import Statistics

    save = Statistics.save

    def refuse(self, path, force=False):
        if Path(path).parent != ws:
            raise OSError(28, "No space left on device", str(path))
        return save(self, path, force)

    monkeypatch.setattr(Statistics, "save", refuse)
    r = invoke("analyze", project / "sib.keras", "--data", project / "d.npz", "--stats", tmp_path / "s.npz", ws=ws)
    one_error_line(r, "No space left on device")
    assert (ws / "state.json").read_text() == state  # the workspace still names the model its statistics are of
    monkeypatch.undo()
    real = os.access
    read_only = (ws, tmp_path / "ro")
    monkeypatch.setattr(os, "access", lambda p, m: real(p, m) and not (m & os.W_OK and Path(p) in read_only))
    one_error_line(invoke("prune", "--theta", "0.5", "--out", tmp_path / "x.keras", ws=ws), "cannot be written")
    (tmp_path / "ro").mkdir()
    r = invoke("finetune", project / "m.keras", "--data", project / "d.npz", "--out", tmp_path / "ro" / "f.keras",
               ws=tmp_path / "ws2")  # fmt: skip
    one_error_line(r, "the folder .*ro is not writable")
    assert not (tmp_path / "x.keras").exists()


def test_backup_write_errors_are_one_line(project, ws, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    base = ["finetune", project / "m.keras", "--data", project / "d.npz", "--epochs", "1", "--no-distill",
            "--out", tmp_path / "f.keras"]  # fmt: skip
    one_error_line(invoke(*base, "--backup-dir", tmp_path / "file", ws=ws), "is a file; expected a folder")
    one_error_line(invoke(*base, "--backup-dir", tmp_path / "file" / "sub", ws=ws), "is a file, not a folder")
    one_error_line(invoke(*base, "--backup-dir", project / "m.keras", ws=ws), "is a file; expected a folder")

    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    one_error_line(invoke(*base, "--backup-dir", tmp_path / "bk", ws=ws), "state.npz: No space left on device")
    monkeypatch.undo()
    assert not [p for p in (tmp_path / "bk").rglob("*") if p.is_file()]


# Two lines where one is promised


def test_notes_wait_for_success(ws, tmp_path):
    (tmp_path / "file").write_text("x")
    (ws / "state.json").write_text(json.dumps({**json.loads((ws / "state.json").read_text()), "data": None}))
    r = invoke("prune", "--theta", "0.5", "--out", tmp_path / "file" / "x.keras", ws=ws)
    one_error_line(r, "is a file, not a folder")  # the no-calibration-data note is not printed before it
    r = invoke("sweep", "--theta", "0.5", "--plot", tmp_path / "file" / "p.png", ws=ws)
    one_error_line(r, "is a file, not a folder")
