"""Bad files and bad flags end in one line; free-length models, classifiers and workspaces work as a user expects."""

import gzip
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke, one_error_line
from typer.testing import CliRunner

runner = CliRunner()
T, F, C = 5, 4, 3


def sequence_records(path: Path, frames: list[int], dim: int = F, compress: bool = False) -> Path:
    import tensorflow as tf

    rng = np.random.default_rng(0)
    with tf.io.TFRecordWriter(str(path), "GZIP" if compress else None) as w:
        for n in frames:
            feats = [tf.train.Feature(float_list=tf.train.FloatList(value=rng.normal(size=dim))) for _ in range(n)]
            lists = tf.train.FeatureLists(feature_list={"x": tf.train.FeatureList(feature=feats)})
            labels = tf.train.Features(
                feature={"labels": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(rng.integers(C))]))}
            )
            w.write(tf.train.SequenceExample(context=labels, feature_lists=lists).SerializeToString())
    return path


@pytest.fixture(scope="module")
def project(tf, tmp_path_factory):
    """A softmax classifier compiled with sparse_categorical_crossentropy, integer and one-hot labels, records."""
    import keras

    root = tmp_path_factory.mktemp("hardening")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((T, F))
    x = keras.layers.LSTM(8, return_sequences=True, name="low")(inputs)
    x = keras.layers.LSTM(6, name="top")(x)
    model = keras.Model(inputs, keras.layers.Dense(C, activation="softmax", name="head")(x))
    model.compile("adam", "sparse_categorical_crossentropy")
    model.save(root / "cls.keras")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, T, F)).astype("float32")
    ids = rng.integers(0, C, 48)
    np.savez(root / "ids.npz", x=x, y=ids)
    np.savez(root / "onehot.npz", x=x, y=np.eye(C)[ids])
    sequence_records(root / "data.tfrecord", [T] * 20)
    return root


@pytest.fixture()
def ws(project, tmp_path):
    ws = tmp_path / "ws"
    r = invoke("analyze", project / "cls.keras", "--data", project / "ids.npz", ws=ws)
    assert r.exit_code == 0, r.stderr
    return ws


def learned_plan(ws):
    assert invoke("prune", "--theta", "0.5", "--dry-run", "--no-latency", ws=ws).exit_code == 0
    return json.loads((ws / "plan.json").read_text())


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("fill", float("nan"), "fill"),
        ("fill", 1e308, "fill"),
        ("kept_units", 1.5, "kept_units"),
        ("kept_units", "3", "kept_units"),
        ("kept_units", True, "kept_units"),
        ("units", "8", "units"),
        ("duplicate", None, "appears twice"),
    ],
)
def test_tampered_plans_are_refused(project, ws, tmp_path, field, value, message):
    plan = learned_plan(ws)
    group = plan["groups"][0]
    if field == "fill":
        group["fill"] = [0.0] * group["units"]
        group["fill"][-1] = value
    elif field == "kept_units":
        group["kept_units"][0] = value
    elif field == "units":
        group["units"] = value
    else:
        plan["groups"].append(dict(group))
    (tmp_path / "bad.json").write_text(json.dumps(plan))
    r = invoke("prune", "--plan", tmp_path / "bad.json", "--out", tmp_path / "x.keras", ws=ws)
    one_error_line(r, f"plan .* is malformed: .*{message}")
    assert not (tmp_path / "x.keras").exists()


@pytest.mark.parametrize(
    "tamper, message",
    [
        (lambda a, m: a.update(g0_mean=np.zeros(3)), "shape"),
        (lambda a, m: a.update(g0_count=np.array(0)), "count must be at least 2"),
        (lambda a, m: a.update(g0_scatter=np.full_like(a["g0_scatter"], np.nan)), "NaN"),
        (lambda a, m: a.update(g0_scatter=-np.eye(len(a["g0_mean"]))), "positive semi-definite"),
        (lambda a, m: m.pop("every_step"), "lacks every_step"),
        (lambda a, m: m["groups"][0].update(units=5), "shape"),
    ],
)
def test_tampered_statistics_are_refused(ws, tmp_path, tamper, message):
    with np.load(ws / "stats.npz") as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    tamper(arrays, meta)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "bad.npz", **arrays)
    r = invoke("prune", "--theta", "0.5", "--stats", tmp_path / "bad.npz", "--dry-run", ws=ws)
    one_error_line(r, f"statistics .* malformed: .*{message}")


def test_workspace_paths_hold_from_any_directory(project, tmp_path, monkeypatch):
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    (there / "ws").mkdir(parents=True)
    ws = (here / "ws").absolute()
    monkeypatch.chdir(here)
    assert invoke("analyze", project / "cls.keras", "--data", project / "ids.npz", ws=Path("ws")).exit_code == 0
    (there / "ws" / "stats.npz").write_bytes(b"a decoy that must never be read")
    monkeypatch.chdir(there)
    r = invoke("prune", "--theta", "0.5", "--out", "small.keras", "--no-latency", ws=ws)
    assert r.exit_code == 0, r.stderr
    state = json.loads((ws / "state.json").read_text())
    assert state["stats"] == "stats.npz" and Path(state["model"]).is_absolute()
    assert Path(state["pruned"]) == there / "small.keras"
    assert (ws / "plan.json").is_file() and not (there / "ws" / "plan.json").exists()


def test_free_length_models_are_pruned_exactly(tf, tmp_path):
    import keras
    from golden import assert_pruned_equals_masked

    keras.utils.set_random_seed(0)
    i = keras.Input((None, F))
    model = keras.Model(i, keras.layers.Dense(2)(keras.layers.LSTM(6)(keras.layers.Masking(0.0)(i))))
    model.save(tmp_path / "free.keras")
    x = np.random.default_rng(0).normal(size=(30, 7, F)).astype("float32")
    x[0, 4:] = 0
    np.save(tmp_path / "x.npy", x)
    ws = tmp_path / "ws"
    assert invoke("analyze", tmp_path / "free.keras", "--data", tmp_path / "x.npy", ws=ws).exit_code == 0
    r = invoke("prune", "--theta", "0.5", "--out", tmp_path / "small.keras", "--compensate", "none", ws=ws)
    assert r.exit_code == 0, r.stderr
    from lstmprune_cli.core.plan import Plan
    from lstmprune_cli.framework.models.files import load_model

    assert_pruned_equals_masked(
        model, Plan.load(ws / "plan.json").kept(), x, pruned=load_model(tmp_path / "small.keras")
    )


def test_free_length_language_model_is_analyzed(tf, tmp_path):
    import keras

    i = keras.Input((None,), dtype="int32")
    h = keras.layers.LSTM(6, return_sequences=True, name="lstm")(keras.layers.Embedding(12, 4)(i))
    keras.Model(i, keras.layers.Dense(12, activation="softmax")(h)).save(tmp_path / "lm.keras")
    (tmp_path / "vocab.txt").write_text("\n".join(["<unk>", "<eos>"] + [f"w{k}" for k in range(10)]))
    (tmp_path / "corpus.txt").write_text("\n".join(" ".join(f"w{(k * j) % 10}" for k in range(9)) for j in range(30)))
    for vocab in ("vocab.txt", "long.txt"):
        r = invoke(
            "analyze",
            tmp_path / "lm.keras",
            "--data",
            tmp_path / "corpus.txt",
            "--vocab",
            tmp_path / vocab,
            ws=tmp_path / "ws",
        )
        if vocab == "vocab.txt":
            assert r.exit_code == 0, r.stderr
            (tmp_path / "long.txt").write_text("\n".join(["<unk>", "<eos>"] + [f"w{k}" for k in range(20)]))
    one_error_line(r, "vocabulary .* has 22 tokens; the model's Embedding takes 12")
    # the statistics are those of the final states over the corpus's 35-token windows (ids: w_k -> k + 2, <eos> 1)
    from lstmprune_cli.core.statsfile import Statistics

    ids = np.array([t for j in range(30) for t in [(k * j) % 10 + 2 for k in range(9)] + [1]])
    windows = ids[: (len(ids) - 1) // 35 * 35].reshape(-1, 35)  # (8, 35): the last token is only a target
    model = keras.models.load_model(tmp_path / "lm.keras")
    states = keras.Model(model.inputs, model.layers[2].output)(windows).numpy()[:, -1]  # (8, 6)
    found = Statistics.load(tmp_path / "ws" / "stats.npz").stats["lstm"]
    assert found.count == len(windows) == 8
    np.testing.assert_allclose(found.mean, states.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(found.covariance, np.cov(states, rowvar=False, bias=True), atol=1e-6)


def test_bad_input_write_errors_are_one_line(project, ws, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    r = invoke("prune", "--theta", "0.5", "--out", tmp_path / "file" / "x.keras", ws=ws)
    one_error_line(r, "is a file, not a folder")
    one_error_line(invoke("prune", "--theta", "0.5", "--out", "/dev/null", "--force", ws=ws), "not a regular file")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dirlink").symlink_to(tmp_path / "dir")
    one_error_line(invoke("prune", "--theta", "0.5", "--out", tmp_path / "dirlink", ws=ws), "symbolic link")
    one_error_line(invoke("prune", "--theta", "0.5", "--dry-run", ws=tmp_path / "file"), "is a file; expected a folder")
    for errno, text in ((28, "No space left on device"), (30, "Read-only file system")):

        def refuse(*args, errno=errno, text=text):
            raise OSError(errno, text)

        monkeypatch.setattr(os, "replace", refuse)
        r = invoke("prune", "--theta", "0.5", "--out", tmp_path / "small.keras", "--no-latency", ws=ws)
        one_error_line(r, f"cannot write .*small.keras: {text}")
        monkeypatch.undo()
        assert not (tmp_path / "small.keras").exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".small.keras")]


def test_bad_input_damaged_data_and_files_are_one_line(project, ws, tmp_path):
    model = project / "cls.keras"
    raw = (project / "data.tfrecord").read_bytes()
    (tmp_path / "bad.gz").write_bytes(gzip.compress(raw)[:40] + b"\x00" * 64)
    one_error_line(invoke("analyze", model, "--data", tmp_path / "bad.gz", ws=ws), "bad.gz")
    from lstmprune_cli.framework.data.formats import masked_crc

    payload = b"\xff" * 10
    header = len(payload).to_bytes(8, "little")
    frame = header + masked_crc(header).to_bytes(4, "little") + payload + masked_crc(payload).to_bytes(4, "little")
    (tmp_path / "junk.tfrecord").write_bytes(frame)
    one_error_line(invoke("analyze", model, "--data", tmp_path / "junk.tfrecord", ws=ws), "not a tf.train.Example")
    (tmp_path / "Beef.ts").write_text("@problemName Beef\n@timeStamps false\n@data\n1,2,3:1\n")
    one_error_line(invoke("analyze", model, "--data", tmp_path / "Beef.ts", ws=ws), "UEA/UCR .ts .*lstmprune reads")
    (tmp_path / "schema.json").write_text(json.dumps({"fit": 3, "l2_normalize": "yes"}))
    r = invoke("analyze", model, "--data", project / "data.tfrecord", "--schema", tmp_path / "schema.json", ws=ws)
    one_error_line(r, "schema .*option '(fit|l2_normalize)' must be")
    r = invoke("analyze", model, "--data", project / "data.tfrecord", "--vocab", tmp_path / "schema.json", ws=ws)
    one_error_line(r, "--vocab applies to plain-text corpora")
    (ws / "state.json").write_text("[1, 2]")
    one_error_line(invoke("prune", "--theta", "0.5", ws=ws), "holds a list; expected a JSON object")


@pytest.mark.parametrize(
    "args, message",
    [
        (["prune", "--theta", "0.5", "--seed", "-1", "--dry-run"], "--seed must be at least 0"),
        (["finetune", "--data", "{data}", "--batch-size", "0"], "--batch-size must be at least 1"),
        (["inspect", "{records}", "--sample", "0"], "--sample must be at least 1"),
        (["finetune", "--data", "{data}", "--loss", "zzz"], "--loss must be one of"),
        (["finetune", "--data", "{data}", "--lr", "-1"], "--lr must be a positive number"),
        (["finetune", "--data", "{data}", "--lr", "nan"], "--lr must be a positive number"),
        (["sweep", "--theta", "0.0000001:0.9999999:0.0000001"], "at most 50"),
    ],
)
def test_bad_input_flags_are_one_line(project, ws, args, message):
    args = [a.format(data=project / "ids.npz", records=project / "data.tfrecord") for a in args]
    if args[0] == "inspect":
        r = invoke(*args)
    else:
        assert (
            invoke("prune", "--theta", "0.5", "--out", ws.parent / "small.keras", "--no-latency", ws=ws).exit_code == 0
        )
        r = invoke(*args, ws=ws)
    one_error_line(r, re.escape(message))


def test_low_stale_temporaries_are_cleaned_and_mixed_compression_is_read(project, tmp_path):
    from lstmprune_cli.core.files import TEMP_TAG, write_atomic

    stale = tmp_path / f".out.json{TEMP_TAG}999999999.abc.tmp"
    stale.write_text("left by a killed run")
    write_atomic(tmp_path / "out.json", b"{}")
    assert not stale.exists() and (tmp_path / "out.json").read_bytes() == b"{}"

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    sequence_records(mixed / "a.tfrecord", [0, T, T])  # the first sequence is empty
    sequence_records(mixed / "b.tfrecord.gz", [T] * 4, compress=True)
    r = invoke("analyze", project / "cls.keras", "--data", mixed, "--json", ws=tmp_path / "ws")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["data"]["compression"] == "mixed"


def test_low_complex_arrays_are_refused_not_cast(project, tmp_path):
    np.save(tmp_path / "c.npy", np.ones((4, T, F), dtype=np.complex64))
    r = invoke("analyze", project / "cls.keras", "--data", tmp_path / "c.npy", ws=tmp_path / "ws")
    one_error_line(r, "complex64 values; expected real numbers")


@pytest.mark.parametrize("labels", ["ids.npz", "onehot.npz"])
def test_new_user_sparse_classifier_finetunes_on_integer_or_one_hot_labels(project, ws, tmp_path, labels):
    r = invoke("prune", "--theta", "0.5", "--out", tmp_path / "small.keras", "--no-latency", ws=ws)
    assert r.exit_code == 0, r.stderr
    from lstmprune_cli.framework.models.files import compiled_loss

    assert compiled_loss(tmp_path / "small.keras") == "sparse"  # the original's loss travels with the cut
    r = invoke("finetune", "--data", project / labels, "--epochs", "1", "--seed", "3", "--json", ws=ws)
    assert r.exit_code == 0, r.stderr
    record = json.loads(r.stdout)
    assert record["task"] == "classes"
    assert compiled_loss(tmp_path / "small-finetuned.keras") == "sparse"


def test_new_user_report_does_not_describe_another_pruned_model(project, ws, tmp_path):
    assert invoke("prune", "--theta", "0.5", "--out", tmp_path / "a.keras", "--no-latency", ws=ws).exit_code == 0
    plan_a = json.loads((ws / "plan.json").read_text())
    assert invoke("prune", "--theta", "0.3", "--out", tmp_path / "b.keras", "--no-latency", ws=ws).exit_code == 0
    r = invoke("report", "--pruned", tmp_path / "a.keras", "--json", ws=ws)
    assert r.exit_code == 0, r.stderr
    assert "its plan is not shown" in r.stderr
    assert json.loads(r.stdout)["plan"] is None
    assert plan_a["groups"][0]["num_kept"] != json.loads((ws / "plan.json").read_text())["groups"][0]["num_kept"]


def test_new_user_data_errors_point_the_right_way(project, tmp_path):
    import tensorflow as tf

    model = project / "cls.keras"
    ws = tmp_path / "ws"
    with tf.io.TFRecordWriter(str(tmp_path / "video.tfrecord")) as w:
        for _ in range(3):
            feats = {
                "mean_rgb": tf.train.Feature(float_list=tf.train.FloatList(value=np.zeros(1024))),
                "mean_audio": tf.train.Feature(float_list=tf.train.FloatList(value=np.zeros(128))),
            }
            w.write(tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString())
    r = invoke("analyze", model, "--data", tmp_path / "video.tfrecord", "--features", "mean_rgb,mean_audio", ws=ws)
    one_error_line(
        r, r"mean_rgb \(1024 values\) \+ mean_audio \(128 values\) hold 1152 values per record; .* 5 steps x 4"
    )
    sequence_records(tmp_path / "ragged.tfrecord", [T] * 3)
    with tf.io.TFRecordWriter(str(tmp_path / "ragged.tfrecord")) as w:
        for dim in (F, F, F + 1):
            feats = [tf.train.Feature(float_list=tf.train.FloatList(value=np.zeros(dim))) for _ in range(T)]
            lists = tf.train.FeatureLists(feature_list={"x": tf.train.FeatureList(feature=feats)})
            w.write(tf.train.SequenceExample(feature_lists=lists).SerializeToString())
    r = invoke("analyze", model, "--data", tmp_path / "ragged.tfrecord", ws=ws)
    one_error_line(r, "feature 'x' with another width than record 0")


def test_new_user_next_hint_keeps_the_workspace_and_tables_are_not_cut(project, tmp_path):
    ws = tmp_path / "some" / "deep" / "workspace"
    r = invoke("analyze", project / "cls.keras", "--data", project / "ids.npz", ws=ws)
    assert r.exit_code == 0
    hint = [line for line in r.stderr.splitlines() if line.startswith("next:")]
    assert hint == [f"next: lstmprune prune --theta 0.7 --out small.keras -w {ws}"]
    r = invoke("sweep", "--theta", "0.3,0.5", "--eval", project / "ids.npz", "--plot", tmp_path / "s.png", ws=ws)
    assert r.exit_code == 0, r.stderr
    header = next(line for line in r.stdout.splitlines() if "theta" in line)
    assert "top5" in header and "…" not in r.stdout


def test_new_user_demo_evaluates_on_a_held_out_slice():
    from conftest import ROOT

    makefile = (ROOT / "Makefile").read_text()
    report = next(line for line in makefile.splitlines() if "lstmprune report" in line)
    assert "heldout.tfrecord" in report and (ROOT / "sample_models" / "heldout.tfrecord").is_file()
    calibration = (ROOT / "sample_models" / "calibration.tfrecord").read_bytes()
    assert (ROOT / "sample_models" / "heldout.tfrecord").read_bytes()[:4096] != calibration[:4096]
    # fine-tuning validates on its own slice: the refit's data would favour the refitted start
    finetune = next(line for line in makefile.splitlines() if "lstmprune finetune" in line)
    assert "--val sample_models/valid.tfrecord" in finetune
    heads = {n: (ROOT / "sample_models" / n).read_bytes()[:4096] for n in ("valid.tfrecord", "heldout.tfrecord")}
    assert heads["valid.tfrecord"] not in (calibration[:4096], heads["heldout.tfrecord"])
