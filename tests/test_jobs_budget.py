"""prune --max-drop / --max-params: the search finds the border a brute-force grid of cuts finds."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke

from lstmprune_cli.core.budget import RESOLUTION


@pytest.fixture(scope="module")
def regressor(tf, tmp_path_factory):
    """A small LSTM regressor and data whose targets are its own outputs: R² 1 before any cut, lower after."""
    import keras

    root = tmp_path_factory.mktemp("budget")
    keras.utils.set_random_seed(3)
    inputs = keras.Input((6, 4))
    x = keras.layers.LSTM(16, return_sequences=True, name="low")(inputs)
    x = keras.layers.LSTM(16, name="high")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(x))
    model.compile("adam", "mse")
    model.save(root / "model.keras")
    rng = np.random.default_rng(0)
    for name, count in (("calibration", 256), ("valid", 256)):
        x = rng.normal(size=(count, 6, 4)).astype("float32")
        np.savez(root / f"{name}.npz", x=x, y=model.predict(x, verbose=0))
    return root


def test_max_drop_finds_the_largest_cut_within_the_drop_that_a_grid_finds(regressor, tmp_path):
    ws = ["-w", str(tmp_path / "ws")]
    invoke("analyze", regressor / "model.keras", "--data", regressor / "calibration.npz", *ws)
    valid = regressor / "valid.npz"
    out = ["--out", tmp_path / "small.keras"]
    r = invoke("prune", "--max-drop", 10, "--eval", valid, "--no-latency", "--json", *out, *ws)
    assert r.exit_code == 0, r.stderr
    record = json.loads(r.stdout)
    search = record["plan"]["extra"]["search"]
    assert search["measure"] == "r2" and search["reference"] == pytest.approx(1.0, abs=1e-6)
    theta = search["theta"]
    chosen = next(p for p in search["points"] if p["theta"] == theta)
    assert chosen["within"] and chosen["value"] <= 10 and record["plan"]["theta"] == theta
    plots = json.loads(invoke("report", "--json", *ws).stdout)["plots"]
    assert any(p.endswith("search.png") for p in plots)
    swept = json.loads(invoke("sweep", "--theta", "0.5", "--eval", valid, "--json", *ws).stdout)
    assert swept["chosen"] == theta and Path(swept["plot"]).is_file()  # the budget's cut, marked

    from lstmprune_cli.core.plan import PlanSpec
    from lstmprune_cli.core.schema import Options
    from lstmprune_cli.core.statsfile import Statistics
    from lstmprune_cli.framework import models
    from lstmprune_cli.framework.data.calibration import lazy_calibration
    from lstmprune_cli.framework.jobs.prune import scorer
    from lstmprune_cli.framework.prune.planner import cut_and_refit, plan_of

    stats = Statistics.load(tmp_path / "ws" / "stats.npz")
    base = models.load_model(regressor / "model.keras")
    batches = lazy_calibration(base, str(regressor / "calibration.npz"), Options(), 2048)
    score = scorer(base, str(valid), Options())
    shipped = score(models.load_model(tmp_path / "small.keras"))["r2"]
    assert 100 * (1 - shipped) == pytest.approx(chosen["value"], abs=1e-6)  # the file written is the one measured

    def drop(t: float) -> float:  # a cut as prune makes it, scored as the search scores it
        return 100 * (1 - score(cut_and_refit(base, plan_of(base, stats, PlanSpec(t), batches), batches))["r2"])

    grid = [round(t, 1) for t in np.arange(0.1, 0.91, 0.1)]
    best = max(t for t in grid if drop(t) <= 10)  # brute force
    assert best - RESOLUTION <= theta + 1e-9 and theta < best + 0.1  # the border: the grid's, to the search's step
    assert search["seconds"] > 0 and len(search["points"]) <= 8


def test_max_params_gives_the_smallest_cut_under_the_count(regressor, tmp_path):
    ws = ["-w", str(tmp_path / "ws")]
    invoke("analyze", regressor / "model.keras", "--data", regressor / "calibration.npz", *ws)
    r = invoke("prune", "--max-params", 1000, "--no-latency", "--json", "--dry-run", *ws)
    assert r.exit_code == 0, r.stderr
    record = json.loads(r.stdout)
    search = record["plan"]["extra"]["search"]
    assert record["params"]["pruned"] <= 1000 < record["params"]["original"]
    over = [p for p in search["points"] if not p["within"]]
    assert over and max(p["theta"] for p in over) >= search["theta"] - RESOLUTION - 1e-9
    bad = invoke("prune", "--max-params", 10, "--max-drop", 1, "--dry-run", *ws)
    assert bad.exit_code == 2 and "give one of them" in bad.stderr
    bad = invoke("prune", "--max-drop", 1, "--dry-run", *ws)
    assert bad.exit_code == 2 and "pass --eval DATA" in bad.stderr
    bad = invoke("prune", "--max-params", 5, "--dry-run", "--json", *ws)
    assert bad.exit_code == 2 and "raise the limit" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    # --max-latency: timed, so only its logic is asserted: any cut meets a limit no cut can miss, so the search
    # walks down to the smallest theta; none meets 0 ms
    r = invoke("prune", "--max-latency", 1e6, "--latency-batch", 4, "--no-latency", "--dry-run", "--json", *ws)
    assert r.exit_code == 0, r.stderr
    search = json.loads(r.stdout)["plan"]["extra"]["search"]
    assert search["measure"] == "latency" and all(p["within"] and p["value"] > 0 for p in search["points"])
    assert search["theta"] <= 2 * RESOLUTION and "TensorFlow, batch 4" in search["conditions"]
    bad = invoke("prune", "--max-latency", 0, "--dry-run", "--json", *ws)
    assert bad.exit_code == 2 and "raise the limit" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    bad = invoke("prune", "--max-latency", 1, "--latency-runtime", "tflite", "--latency-batch", 8, "--dry-run", *ws)
    assert bad.exit_code == 2 and "1 for tflite" in bad.stderr


def test_report_scores_the_tflite_files_that_ship_beside_the_keras_models(regressor, tmp_path):
    """export float32 and float16 files, then report --tflite-file scores each as the interpreter runs it."""
    ws = ["-w", str(tmp_path / "ws")]
    invoke("analyze", regressor / "model.keras", "--data", regressor / "calibration.npz", *ws)
    assert invoke("prune", "--theta", 0.5, "--no-latency", "--out", tmp_path / "small.keras", *ws).exit_code == 0
    files = {}
    for quantize in ("none", "float16"):
        out = tmp_path / f"small-{quantize}.tflite"
        flags = [] if quantize == "none" else ["--quantize", quantize]
        r = invoke("export", "--out", out, *flags, "--json", *ws)
        assert r.exit_code == 0, r.stderr
        assert json.loads(r.stdout)["checked_on"] == "calibration data"
        files[quantize] = out
    given = [arg for f in files.values() for arg in ("--tflite-file", f)]
    r = invoke("report", "--eval", regressor / "valid.npz", *given, "--json", *ws)
    assert r.exit_code == 0, r.stderr
    record = json.loads(r.stdout)
    float_file, half_file = record["tflite_files"]
    keras_r2 = record["models"]["pruned"]["metrics"]["r2"]
    assert float_file["metrics"]["r2"] == pytest.approx(keras_r2, abs=1e-4)  # the float file computes the model
    assert half_file["metrics"]["r2"] != float_file["metrics"]["r2"]  # float16 weights: its own numbers, measured
    assert half_file["metrics"]["r2"] == pytest.approx(keras_r2, abs=1e-2)
    assert half_file["size_bytes"] == files["float16"].stat().st_size  # the file's own size (this one is tiny)
    assert float_file["latency_ms"] > 0 and half_file["latency_ms"] > 0
    # after finetune, export ships the fine-tuned model: the file computes it, not the cut before training
    tuned = ["--data", regressor / "calibration.npz", "--epochs", 1, "--out", tmp_path / "tuned.keras"]
    assert invoke("finetune", *tuned, *ws).exit_code == 0
    r = invoke("export", "--out", tmp_path / "tuned.tflite", "--json", *ws)
    assert r.exit_code == 0, r.stderr
    from lstmprune_cli.framework import models
    from lstmprune_cli.framework.models.tflite import run_tflite

    x = np.load(regressor / "valid.npz")["x"][:3]
    got = run_tflite((tmp_path / "tuned.tflite").read_bytes(), [[x[i : i + 1]] for i in range(3)])
    for name, expect_equal in (("tuned.keras", True), ("small.keras", False)):
        want = np.asarray(models.load_model(tmp_path / name)(x)).reshape(3, -1)
        assert np.allclose(np.stack(got), want, atol=1e-4) == expect_equal
    (tmp_path / "fake.tflite").write_bytes(b"not a flatbuffer at all")
    bad = invoke("report", "--tflite-file", tmp_path / "fake.tflite", *ws)
    assert bad.exit_code == 2 and "is not a TFLite file" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
