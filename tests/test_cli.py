"""The command line through typer's CliRunner, bad input included, and one real subprocess run."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, one_error_line
from conftest import invoke as run
from records import single_feature_file
from typer.testing import CliRunner

from lstmprune_cli.cli.app import app

runner = CliRunner()
COMMANDS = [c.name or c.callback.__name__ for c in app.registered_commands]  # every verb the app has


@pytest.fixture(scope="module")
def project(tf, tmp_path_factory):
    """A small trained-shape model (Masking -> BiLSTM -> LSTM -> Dense) and matching data."""
    import keras

    root = tmp_path_factory.mktemp("project")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 8))
    x = keras.layers.Masking(0.0)(inputs)
    x = keras.layers.Bidirectional(keras.layers.LSTM(10, return_sequences=True), name="bi")(x)
    x = keras.layers.LSTM(12, name="top")(x)
    model = keras.Model(inputs, keras.layers.Dense(4, activation="sigmoid")(x))
    model.save(root / "model.keras")
    (root / "data").mkdir()
    single_feature_file(root / "data" / "part0.tfrecord", 8, count=40, frames=6)
    single_feature_file(root / "data" / "part1.tfrecord", 8, count=30, frames=4, seed=1)
    return root


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_analyze_then_prune_writes_a_smaller_model_and_a_replayable_plan(project, tmp_path):
    before = digest(project / "model.keras")
    ws = tmp_path / "ws"
    r = run("analyze", project / "model.keras", "--data", project / "data", "--batch-size", 16, "--json", ws=ws)
    assert r.exit_code == 0, r.stderr
    analysis = json.loads(r.stdout)
    assert [g["samples"] for g in analysis["groups"]] == [70, 70, 70]
    r = run("prune", "--theta", 0.5, "--out", tmp_path / "small.keras", "--json", ws=ws)
    assert r.exit_code == 0, r.stderr
    record = json.loads(r.stdout)
    assert record["params"]["pruned"] < record["params"]["original"]
    kept = {g["group"]: g["num_kept"] for g in record["groups"]}
    assert kept["bi/forward"] == kept["bi/backward"]
    assert sum(kept.values()) == 16  # half of 10 + 10 + 12 units
    latency = record["latency_ms"]
    assert latency["batch"] == 64 and latency["speedup"] == pytest.approx(latency["original"] / latency["pruned"])
    k, top = kept["bi/forward"], kept["top"]  # FLOPs per step: 2 x gates x units x (inputs + units), per cell
    want = 2 * (2 * 4 * k * (8 + k)) + 2 * 4 * top * (2 * k + top)
    assert record["flops"]["pruned"]["per_step"] == want
    assert record["flops"]["original"]["per_step"] == 2 * (2 * 4 * 10 * 18) + 2 * 4 * 12 * 32
    assert record["params"]["pruned"] == want // 2 + 2 * 4 * k + 4 * top + (top + 1) * 4  # + biases, head
    assert digest(project / "model.keras") == before

    r = run("prune", "--plan", ws / "plan.json", "--out", tmp_path / "again", "--json", ws=ws)
    assert r.exit_code == 0, r.stderr
    assert {g["group"]: g["num_kept"] for g in json.loads(r.stdout)["groups"]} == kept
    assert (tmp_path / "again" / "saved_model.pb").is_file()


def test_prune_tables_and_dry_run(project, tmp_path):
    ws = tmp_path / "ws"
    assert run("analyze", project / "model.keras", "--data", project / "data", ws=ws).exit_code == 0
    r = run("prune", "--theta", 0.7, "--dry-run", "--no-latency", "--criterion", "l2", "--target", "layer-mean", ws=ws)
    assert r.exit_code == 0, r.stderr
    assert "bi/forward" in r.stdout and "FLOPs per step" in r.stdout
    assert list(tmp_path.iterdir()) == [ws]


@pytest.mark.parametrize(
    "option, expected", [("--target", "--target must be one of units, layer-mean"), ("--criterion", "--criterion must")]
)
def test_unknown_target_or_criterion_is_one_line(project, tmp_path, option, expected):
    ws = tmp_path / "ws"
    run("analyze", project / "model.keras", "--data", project / "data", "--json", ws=ws)
    r = run("prune", "--theta", 0.5, option, "bogus", "--out", tmp_path / "x.keras", ws=ws)
    one_error_line(r, f"{expected}.*received 'bogus'")
    assert not (tmp_path / "x.keras").exists()


@pytest.mark.parametrize("theta", ["1.3", "0", "-0.2", "1"])
def test_theta_outside_zero_one_is_refused(project, tmp_path, theta):
    ws = tmp_path / "ws"
    run("analyze", project / "model.keras", "--data", project / "data", "--json", ws=ws)
    r = run("prune", "--theta", theta, "--out", tmp_path / "x.keras", ws=ws)
    one_error_line(r, rf"theta must be in \(0, 1\); received {float(theta)}")
    assert not (tmp_path / "x.keras").exists()


def test_bad_models_and_data_are_refused(project, tmp_path):
    ws = tmp_path / "ws"
    (tmp_path / "notes.txt").write_text("hello")
    one_error_line(run("analyze", tmp_path / "missing.keras", "--data", project / "data", ws=ws), "does not exist")
    one_error_line(run("analyze", tmp_path / "notes.txt", "--data", project / "data", ws=ws), "not a Keras model file")
    (tmp_path / "empty").mkdir()
    one_error_line(run("analyze", project / "model.keras", "--data", tmp_path / "empty", ws=ws), "no TFRecord files")
    wide = single_feature_file(tmp_path / "wide.tfrecord", 12, count=3)
    one_error_line(run("analyze", project / "model.keras", "--data", wide, ws=ws), "12 features .* expects 8")
    cut = tmp_path / "cut.tfrecord"
    cut.write_bytes((project / "data" / "part0.tfrecord").read_bytes()[:-7])
    one_error_line(run("analyze", project / "model.keras", "--data", cut, ws=ws), "cut.tfrecord is truncated")
    assert not ws.exists()


def test_an_existing_output_needs_force(project, tmp_path):
    ws = tmp_path / "ws"
    run("analyze", project / "model.keras", "--data", project / "data", "--json", ws=ws)
    out = tmp_path / "small.keras"
    out.write_bytes(b"keep me")
    one_error_line(run("prune", "--theta", 0.5, "--out", out, ws=ws), "already exists; pass --force")
    assert out.read_bytes() == b"keep me"
    assert run("prune", "--theta", 0.5, "--out", out, "--force", "--no-latency", ws=ws).exit_code == 0
    assert out.read_bytes() != b"keep me"


def test_measured_allocation_and_refit_read_analyzes_data_and_are_recorded(project, tmp_path):
    ws = tmp_path / "ws"
    run("analyze", project / "model.keras", "--data", project / "data", "--json", ws=ws)
    args = ["--allocate", "sensitivity", "--compensate", "refit", "--criterion", "obs", "--no-latency", "--json"]
    r = run("prune", "--theta", 0.5, "--out", tmp_path / "small.keras", *args, ws=ws)
    assert r.exit_code == 0, r.stderr
    extra = json.loads(r.stdout)["plan"]["extra"]
    assert extra["compensate"] == "refit" and extra["allocation"]["evaluations"] > 0
    layers = [c["layer"] for c in extra["refit"]["consumers"]]  # each direction's and each round's fit
    order = list(dict.fromkeys(layers))
    assert order[:2] == ["bi", "top"] and order[2].startswith("dense") and layers.count("bi") == 4  # 2 dirs x 2
    assert all(c["after"] <= c["before"] for c in extra["refit"]["consumers"])
    curves = extra["allocation"]["curves"]
    assert [c["groups"] for c in curves] == [["bi/forward", "bi/backward"], ["top"]]
    r = run("report", "--json", ws=ws)
    assert r.exit_code == 0, r.stderr
    assert any(p.endswith("sensitivity.png") for p in json.loads(r.stdout)["plots"])
    one_error_line(
        run("prune", "--theta", 0.5, "--allocate", "uniform", "--target", "layer-mean", "--dry-run", ws=ws),
        "--target layer-mean applies to --allocate energy",
    )
    one_error_line(
        run("prune", "--theta", 0.5, "--paper", "--compensate", "refit", "--dry-run", ws=ws),
        "--paper fixes the recipe; received --compensate refit",
    )
    r = run("prune", "--theta", 0.5, "--paper", "--dry-run", "--no-latency", "--json", ws=ws)
    plan = json.loads(r.stdout)["plan"]
    assert (plan["target"], plan["criterion"], plan["extra"]["compensate"]) == ("units", "gm", "mean")


def test_a_plan_for_another_model_is_refused(project, tmp_path):
    ws = tmp_path / "ws"
    run("analyze", project / "model.keras", "--data", project / "data", "--json", ws=ws)
    assert not (ws / "plan.json").exists()  # analyze leaves statistics, not a plan
    run("prune", "--theta", 0.5, "--dry-run", "--no-latency", ws=ws)
    plan = json.loads((ws / "plan.json").read_text())
    plan["fingerprint"] = "0" * 64
    (tmp_path / "other.json").write_text(json.dumps(plan))
    one_error_line(run("prune", "--plan", tmp_path / "other.json", "--dry-run", ws=ws), "belongs to model 000000000000")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example_and_is_in_the_readme(command):
    r = runner.invoke(app, [command, "--help"])
    assert r.exit_code == 0 and "Example" in r.stdout
    assert f"lstmprune {command}" in (ROOT / "README.md").read_text()


def test_help_does_not_import_tensorflow():
    code = (
        "import sys\nsys.argv = ['lstmprune', 'prune', '--help']\n"
        "from lstmprune_cli.cli.app import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


@pytest.mark.slow
def test_sample_model_analyze_then_prune_in_a_subprocess(tmp_path):
    exe = Path(sys.executable).parent / "lstmprune"
    sample = ROOT / "sample_models"
    common = ["--workspace", str(tmp_path / "ws")]
    subprocess.run(
        [
            exe,
            "analyze",
            sample / "audioset_lstm.keras",
            "--data",
            sample / "calibration.tfrecord",
            "--json",
            "--max-samples",
            "500",
            *common,
        ],
        check=True,
        capture_output=True,
    )
    r = subprocess.run(
        [exe, "prune", "--theta", "0.7", "--out", tmp_path / "small.keras", "--json", *common],
        check=True,
        capture_output=True,
        text=True,
    )
    record = json.loads(r.stdout)
    assert record["plan"]["achieved"]["units"] == pytest.approx(0.7, abs=0.01)
    assert (tmp_path / "small.keras").is_file()
    groups = {g["group"]: g["num_kept"] for g in record["groups"]}
    assert groups["bilstm/forward"] == groups["bilstm/backward"]
    assert np.isfinite(record["latency_ms"]["speedup"])
