"""Data verbs end to end: inspect, analyze with a schema, and sharded analysis merged exactly."""

import json

import numpy as np
import pytest
from records import sequence_example, single_feature_file, write_records
from typer.testing import CliRunner

from lstmprune_cli.cli.app import app

runner = CliRunner()


@pytest.fixture(scope="module")
def custom(tf, tmp_path_factory):
    """A model of 4 features per step and records whose frames are two float features 'b' (1) and 'a' (3)."""
    import keras

    root = tmp_path_factory.mktemp("custom")
    inputs = keras.Input((5, 4))
    x = keras.layers.LSTM(6, return_sequences=True, name="low")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.LSTM(5, name="high")(x)))
    model.save(root / "model.keras")
    rng = np.random.default_rng(0)
    for part in range(3):
        records = []
        for _ in range(9):
            f = rng.normal(size=(int(rng.integers(2, 8)), 3)).astype(np.float32)
            records.append(sequence_example({"a": f, "b": f[:, :1] ** 2, "noise": f}, quantized=False))
        write_records(root / f"part{part}.tfrecord", records)
    (root / "schema.json").write_text(json.dumps({"features": ["b", "a"], "l2_normalize": True, "fit": "sample"}))
    return root


def test_analyze_with_a_schema_file_and_merge_of_four_shards_equals_one_pass(custom, tmp_path):
    from lstmprune_cli.core.statsfile import Statistics

    base = [
        "analyze",
        str(custom / "model.keras"),
        "--data",
        str(custom / "part*.tfrecord"),
        "--schema",
        str(custom / "schema.json"),
        "--json",
        "--batch-size",
        "4",
    ]
    r = runner.invoke(app, base + ["-w", str(tmp_path / "one")])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["data"]["features"][0]["name"] == "b"
    parts = []
    for i in range(4):
        part = tmp_path / f"part{i}.npz"
        r = runner.invoke(app, base + ["--shard", f"{i}/4", "--stats", str(part), "-w", str(tmp_path / f"s{i}")])
        assert r.exit_code == 0, r.stderr
        parts.append(str(part))
    r = runner.invoke(app, ["merge", *parts, "--json", "-w", str(tmp_path / "merged")])
    assert r.exit_code == 0, r.stderr
    one = Statistics.load(tmp_path / "one" / "stats.npz")
    merged = Statistics.load(tmp_path / "merged" / "stats.npz")
    for name, s in one.stats.items():
        assert merged.stats[name].count == s.count == 27
        # the merge is exact (test_core_stats); the model's float32 states differ with the batch make-up by ~1e-7
        np.testing.assert_allclose(merged.stats[name].covariance, s.covariance, rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(merged.stats[name].mean, s.mean, rtol=1e-5, atol=1e-9)

    r = runner.invoke(
        app, ["prune", "--theta", "0.5", "--dry-run", "--no-latency", "--json", "-w", str(tmp_path / "merged")]
    )
    assert r.exit_code == 0, r.stderr


def test_inspect_shows_features_and_lengths(custom):
    r = runner.invoke(app, ["inspect", str(custom), "--json"])
    assert r.exit_code == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["records"] == 27 and report["record_type"] == "sequence"
    a = next(f for f in report["features"] if f["name"] == "a")
    assert a["values"] == 3 and 2 <= a["frames"]["min"] <= a["frames"]["max"] <= 7


def test_merge_refuses_statistics_of_another_model(custom, tmp_path, tf):
    import keras

    inputs = keras.Input((5, 8))
    other = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.LSTM(3)(inputs)))
    other.save(tmp_path / "other.keras")
    single_feature_file(tmp_path / "o.tfrecord", 8, count=6, frames=5)
    for name, model, data, extra in (
        ("a", custom / "model.keras", custom / "part0.tfrecord", ["--schema", str(custom / "schema.json")]),
        ("b", tmp_path / "other.keras", tmp_path / "o.tfrecord", []),
    ):
        r = runner.invoke(
            app,
            [
                "analyze",
                str(model),
                "--data",
                str(data),
                "--stats",
                str(tmp_path / f"{name}.npz"),
                "--json",
                "-w",
                str(tmp_path / name),
                *extra,
            ],
        )
        assert r.exit_code == 0, r.stderr
    r = runner.invoke(app, ["merge", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "-w", str(tmp_path / "m")])
    assert r.exit_code == 2 and "cannot merge statistics of different models" in r.stderr


def test_analyze_reads_youtube8m_frame_level_files_without_flags(tf, tmp_path):
    import keras
    from records import youtube8m_file

    inputs = keras.Input((8, 1152))
    x = keras.layers.Bidirectional(keras.layers.LSTM(6, return_sequences=True))(inputs)
    keras.Model(inputs, keras.layers.Dense(5)(keras.layers.LSTM(4)(x))).save(tmp_path / "yt8m.keras")
    youtube8m_file(tmp_path / "train0000.tfrecord", count=12, min_frames=3, max_frames=12)
    youtube8m_file(tmp_path / "train0001.tfrecord", count=9, seed=1)
    r = runner.invoke(
        app,
        [
            "analyze",
            str(tmp_path / "yt8m.keras"),
            "--data",
            str(tmp_path / "train*.tfrecord"),
            "--json",
            "-w",
            str(tmp_path / "ws"),
        ],
    )
    assert r.exit_code == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["data"]["preset"] == "youtube8m" and [f["name"] for f in report["data"]["features"]] == [
        "rgb",
        "audio",
    ]
    assert all(g["samples"] == 21 for g in report["groups"])


def test_inspect_of_examples_counts_values_per_record(tmp_path, tf):
    """Example records: tfrecord-lite decodes the sampled records (tf.data read them first) for the spreads."""
    from records import write_records

    def example(n: int) -> bytes:
        feats = {
            "frames": tf.train.Feature(float_list=tf.train.FloatList(value=np.arange(n, dtype=float))),
            "id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"x"])),
        }
        return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()

    write_records(tmp_path / "e.tfrecord", [example(n) for n in (4, 8, 8, 12)])
    r = runner.invoke(app, ["inspect", str(tmp_path / "e.tfrecord"), "--json"])
    assert r.exit_code == 0, r.stderr
    report = json.loads(r.stdout)
    frames = next(f for f in report["features"] if f["name"] == "frames")
    assert report["record_type"] == "example" and frames["values_seen"] == {"min": 4, "median": 8, "max": 12}
