"""analyze --runner beam: a Beam pipeline (DirectRunner, 2 worker processes) gives the in-process statistics."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from records import write_records
from typer.testing import CliRunner

from lstmprune_cli.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "sample_models" / "audioset_lstm.keras"
TWO_WORKERS = "--runner=DirectRunner --direct_num_workers=2 --direct_running_mode=multi_processing"
runner = CliRunner()


@pytest.fixture(scope="module")
def shards(tf, tmp_path_factory):
    """The first 240 records of the shipped calibration slice (AudioSet eval-00000) as three shard files."""
    root = tmp_path_factory.mktemp("shards")
    raws = [r.numpy() for r in tf.data.TFRecordDataset(str(ROOT / "sample_models" / "calibration.tfrecord")).take(240)]
    for i in range(3):
        write_records(root / f"part-{i}.tfrecord", raws[i * 80 : (i + 1) * 80])
    return root


def _analyze(shards, ws, *extra):
    r = runner.invoke(app, ["analyze", str(MODEL), "--data", str(shards), "--json", "-w", str(ws), *extra])
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def test_beam_pipeline_gives_the_in_process_statistics(shards, tmp_path):
    pytest.importorskip("apache_beam")
    from lstmprune_cli.core.statsfile import Statistics

    _analyze(shards, tmp_path / "local")
    record = _analyze(shards, tmp_path / "beam", "--runner", "beam", "--beam-options", TWO_WORKERS)
    local = Statistics.load(tmp_path / "local" / "stats.npz")
    beam = Statistics.load(tmp_path / "beam" / "stats.npz")
    assert beam.meta["runner"] == "beam" and beam.meta["sequences"] == 240
    for name, s in local.stats.items():
        assert beam.stats[name].count == s.count == 240
        np.testing.assert_allclose(beam.stats[name].mean, s.mean, rtol=0, atol=1e-6)  # float32 forward noise
        np.testing.assert_allclose(beam.stats[name].covariance, s.covariance, rtol=0, atol=1e-6)
    assert [g["samples"] for g in record["groups"]] == [240] * len(local.stats)
    r = runner.invoke(
        app, ["prune", "--theta", "0.5", "--dry-run", "--no-latency", "--json", "-w", str(tmp_path / "beam")]
    )
    assert r.exit_code == 0, r.stderr  # the workspace state is the in-process pass's


def test_beam_runner_refusals_are_one_line(shards, tmp_path, monkeypatch):
    r = runner.invoke(app, ["analyze", str(MODEL), "--data", str(shards), "--runner", "spark", "-w", str(tmp_path)])
    assert r.exit_code == 2 and "in-process, beam" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    args = ["analyze", str(MODEL), "--data", str(shards), "--runner", "beam", "-w", str(tmp_path)]
    r = runner.invoke(app, [*args, "--max-samples", "10"])
    assert r.exit_code == 2 and "--max-samples" in r.stderr
    monkeypatch.setitem(sys.modules, "apache_beam", None)  # Beam not installed
    monkeypatch.delitem(sys.modules, "lstmprune_cli.framework.stats.beam", raising=False)
    monkeypatch.delattr("lstmprune_cli.framework.stats.beam", raising=False)
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and "pip install 'lstmprune[beam]'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_damaged_record_is_named_with_its_file_and_index(shards, tmp_path):
    pytest.importorskip("apache_beam")
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(shards, bad)
    raws = [r.numpy() for r in __import__("tensorflow").data.TFRecordDataset(str(bad / "part-1.tfrecord"))]
    raws[5] = b"not a SequenceExample"
    write_records(bad / "part-1.tfrecord", raws)
    args = ["analyze", str(MODEL), "--data", str(bad), "-w", str(tmp_path / "ws"), "--runner", "beam"]
    r = runner.invoke(app, [*args, "--beam-options", TWO_WORKERS])
    assert r.exit_code == 2 and "part-1.tfrecord: one of records 5..5" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1  # one error line, nothing before it
