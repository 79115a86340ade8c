"""Part 5: measured speedup against the FLOP ratio: TensorFlow at batch 1 (also with XLA) and 64, TFLite float,
dynamic-range and full int8."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from .common import SAMPLE, Mode, log, save

THETAS = (0.3, 0.5, 0.7)
QUANTIZE = (None, "dynamic", "int8")  # the TFLite files timed: float32, int8 weights, int8 weights and activations
SIZES = {  # time steps of the YouTube-8M-shaped model, repeats at batch 1 / 64 / TFLite, thetas
    "quick": dict(steps=30, repeats=(3, 2, 2), thetas=(0.7,)),
    "full": dict(steps=300, repeats=(7, 3, 5), thetas=THETAS),
}


def youtube8m_model(steps: int):
    """Bidirectional(LSTM 512) -> LSTM 1024 -> Dense 3862 over steps x 1152, random weights."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((steps, 1152))
    x = keras.layers.Bidirectional(keras.layers.LSTM(512, return_sequences=True))(inputs)
    x = keras.layers.LSTM(1024)(x)
    return keras.Model(inputs, keras.layers.Dense(3862, activation="sigmoid")(x))


def pruned_copy(model, theta: float):
    """The model with the first (1 - theta) share of every group's units kept (weights are random)."""
    from lstmprune_cli.framework.surgery.cut import prune_model
    from lstmprune_cli.framework.surgery.groups import unit_groups

    return prune_model(model, {g.name: np.arange(round((1 - theta) * g.units)) for g in unit_groups(model)})


def sample_rows() -> tuple[list[dict], dict]:
    """The shipped sample pruned by ISS-GM from its calibration slice: kept units, params, FLOPs, latency."""
    from lstmprune_cli.core.plan import PlanSpec
    from lstmprune_cli.core.rates import cumulative_energy
    from lstmprune_cli.framework import jobs

    model = SAMPLE / "audioset_lstm.keras"
    analysis = jobs.analyze.analyze(model, str(SAMPLE / "calibration.tfrecord"), batch_size=64)
    rows = []
    for theta in THETAS:
        r = jobs.prune.prune(model, analysis.statistics, None, PlanSpec.paper(theta), latency=True)
        rows.append(
            {
                "theta": theta,
                "kept": {g.name: g.num_kept for g in r.plan.groups},
                "units": {g.name: g.units for g in r.plan.groups},
                "params": r.params,
                "flops": (r.flops[0]["per_sequence"], r.flops[1]["per_sequence"]),
                "latency": r.latency_ms,
                "alpha": r.plan.energy_level,
            }
        )
    curves = {g: cumulative_energy(s.eigenvalues()).tolist() for g, s in analysis.statistics.stats.items()}
    return rows, {"clips": next(iter(analysis.statistics.stats.values())).count, "curves": curves}


def youtube8m_rows(model, steps: int, repeats: tuple[int, int, int], thetas: tuple[float, ...]) -> list[dict]:
    """Per theta: FLOPs, TensorFlow latency at batch 1 (also XLA-compiled) and 64, TFLite fused latency float,
    dynamic and int8 at batch 1."""
    from lstmprune_cli.framework.models import costs
    from lstmprune_cli.framework.models.tflite import export_tflite, sample_inputs

    inputs = sample_inputs(model, 2)
    calibration = sample_inputs(model, 8, seed=1)  # int8's activation ranges (the weights are random too)
    rows, lite = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for quantize in QUANTIZE:
            path = Path(tmp) / f"full-{quantize}.tflite"
            export_tflite(model, path, quantize, force=True, route="fused", calibration=calibration)
            lite[quantize] = path.read_bytes()
        for theta in thetas:
            pruned = pruned_copy(model, theta)
            row = {
                "theta": theta,
                "params": (model.count_params(), pruned.count_params()),
                "flops": (costs.flops(model, steps)["per_sequence"], costs.flops(pruned, steps)["per_sequence"]),
            }
            for batch, n in ((1, repeats[0]), (64, repeats[1])):
                row[f"tf_b{batch}"] = costs.latency([model, pruned], steps, batch=batch, repeats=n)
            row["tf_b1_xla"] = costs.latency([model, pruned], steps, batch=1, repeats=repeats[0], jit=True)
            for quantize in QUANTIZE:
                path = Path(tmp) / f"{theta}-{quantize}.tflite"
                export_tflite(pruned, path, quantize, force=True, route="fused", calibration=calibration)
                key = f"tflite_{quantize or 'float'}"
                row[key] = costs.tflite_latency([lite[quantize], path.read_bytes()], inputs, repeats=repeats[2])
                row[key + "_mb"] = (len(lite[quantize]) / 1e6, path.stat().st_size / 1e6)
            log("speed", row)
            rows.append(row)
    return rows


def part(mode: Mode) -> dict:
    size = SIZES[mode.name]
    sample, energy = sample_rows()
    rows = youtube8m_rows(youtube8m_model(size["steps"]), size["steps"], size["repeats"], size["thetas"])

    result = {"size": size, "sample": sample, "energy": energy, "youtube8m": rows}
    save(mode, "speed", result)
    return result
