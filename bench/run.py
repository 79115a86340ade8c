"""Benchmarks (not tests): `make bench` writes docs/benchmarks.md and its PNG plots.

Speed figures are ratios of models timed alternately in the same run on this machine.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DOCS = ROOT / "docs"
SAMPLE = ROOT / "sample_models"
THETAS = (0.3, 0.5, 0.7)


def sample_rows(tmp: Path) -> tuple[list[dict], object]:
    from lstmprune_cli.core.rates import cumulative_energy
    from lstmprune_cli.framework import jobs

    analysis = jobs.analyze(SAMPLE / "audioset_lstm.keras", str(SAMPLE / "calibration.tfrecord"), batch_size=64)
    rows = []
    for theta in THETAS:
        r = jobs.prune(SAMPLE / "audioset_lstm.keras", analysis.statistics, None, theta, latency=True)
        rows.append(
            {
                "theta": theta,
                "kept": {g.name: g.num_kept for g in r.plan.groups},
                "params": r.params,
                "flops": (r.flops[0]["per_sequence"], r.flops[1]["per_sequence"]),
                "latency": r.latency_ms,
                "achieved": r.plan.achieved(),
                "alpha": r.plan.energy_level,
            }
        )
    curves = {g: cumulative_energy(s.eigenvalues()) for g, s in analysis.statistics.stats.items()}
    return rows, (curves, analysis)


def youtube8m_model():
    """Bidirectional(LSTM 512) -> LSTM 1024 -> Dense 3862 over 300 x 1152, random weights."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((300, 1152))
    x = keras.layers.Bidirectional(keras.layers.LSTM(512, return_sequences=True))(inputs)
    x = keras.layers.LSTM(1024)(x)
    return keras.Model(inputs, keras.layers.Dense(3862, activation="sigmoid")(x))


def youtube8m_pruned(model, theta: float):
    """The model with the first (1 - theta) share of every group's units kept."""
    from lstmprune_cli.framework.graph import unit_groups
    from lstmprune_cli.framework.surgery import prune_model

    return prune_model(model, {g.name: np.arange(round((1 - theta) * g.units)) for g in unit_groups(model)})


def youtube8m_rows(model) -> list[dict]:
    """TensorFlow latency at batch 64, units kept uniformly."""
    from lstmprune_cli.framework import measure

    rows = []
    for theta in THETAS:
        pruned = youtube8m_pruned(model, theta)
        t0, t1 = measure.latency([model, pruned], 300, batch=64, repeats=3)
        f0, f1 = measure.flops(model, 300)["per_sequence"], measure.flops(pruned, 300)["per_sequence"]
        rows.append(
            {
                "theta": theta,
                "params": (model.count_params(), pruned.count_params()),
                "flops": (f0, f1),
                "latency": (t0, t1),
            }
        )
    return rows


def tflite_rows(model, tmp: Path) -> list[dict]:
    """TFLite batch-1 latency, float and int8, unpruned vs theta 0.7, fused and Keras 3 paths."""
    from lstmprune_cli.framework import measure
    from lstmprune_cli.framework.tflite import export_tflite, sample_inputs

    pruned = youtube8m_pruned(model, 0.7)
    ratio = measure.flops(model, 300)["per_sequence"] / measure.flops(pruned, 300)["per_sequence"]
    inputs = sample_inputs(model, 2)
    rows = []
    for route, quantize in (("fused", None), ("fused", "dynamic"), ("keras3", None), ("keras3", "dynamic")):
        contents, sizes = [], []
        for name, m in (("full", model), ("pruned", pruned)):
            path = tmp / f"{name}-{route}-{quantize}.tflite"
            export_tflite(m, path, quantize, force=True, route=route)
            contents.append(path.read_bytes())
            sizes.append(path.stat().st_size)
        t0, t1 = measure.tflite_latency(contents, inputs, repeats=5)
        rows.append(
            {"route": route, "quantize": quantize or "float", "latency": (t0, t1), "size": sizes, "flop_ratio": ratio}
        )
    return rows


def analyze_speed(audioset: Path) -> dict:
    """analyze wall time against a bare forward pass of the same model over the same records."""
    import tensorflow as tf

    from lstmprune_cli.core.schema import Options
    from lstmprune_cli.framework import data, jobs, models
    from lstmprune_cli.framework.stream import Stream

    path = audioset / "eval-*.tfrecord"
    model = models.load_model(SAMPLE / "audioset_lstm.keras")
    spec = data.InputSpec.of(model)
    schema = data.resolve(str(path), Options(), spec)
    signature = [tf.TensorSpec((None, *model.inputs[0].shape[1:]), model.inputs[0].dtype)]
    times: dict[str, list[float]] = {"analyze": [], "forward": []}
    for _ in range(3):
        result = jobs.analyze(SAMPLE / "audioset_lstm.keras", str(path), batch_size=64)
        records = result.statistics.meta["sequences"]
        times["analyze"].append(result.seconds)  # the streaming pass: tracing included, loading excluded
        forward = tf.function(lambda x: model(x, training=False), input_signature=signature)
        start = time.perf_counter()
        for x in Stream(schema, spec.length, 64):
            np.asarray(forward(x))
        times["forward"].append(time.perf_counter() - start)
    return {"records": records, "analyze": min(times["analyze"]), "forward": min(times["forward"])}


def finetune_throughput(audioset: Path) -> dict:
    """Sequences per second: lstmprune's training loop (with and without a teacher) against model.fit."""
    import keras

    from lstmprune_cli.core.schema import Options
    from lstmprune_cli.framework import models, recover
    from lstmprune_cli.framework.train import finetune

    data = str(audioset / "bal_train-00000-of-00004.tfrecord")
    teacher = models.load_model(SAMPLE / "audioset_lstm.keras")
    rates: dict[str, float] = {}
    for name in ("model.fit", "finetune", "finetune + teacher", "model.fit ", "finetune ", "finetune + teacher "):
        model = models.load_model(SAMPLE / "audioset_lstm.keras")
        task, _, stream = recover.training_streams(model, data, Options(), 64, 3000, "auto")
        start = time.perf_counter()
        if name.startswith("model.fit"):
            model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
            model.fit(((x, y) for x, y in stream()), epochs=1, verbose=0)
        else:
            finetune(model, stream, task, epochs=1, teacher=teacher if "teacher" in name else None)
        rate = 3000 / (time.perf_counter() - start)
        rates[name.strip()] = max(rates.get(name.strip(), 0.0), rate)  # best of two rounds
    return rates


def analyze_memory(audioset: Path, tmp: Path) -> list[dict]:
    """Peak resident memory of `lstmprune analyze` over 1x and 10x the sequences (one subprocess each)."""
    import subprocess

    source = audioset / "eval-00000-of-00004.tfrecord"
    rows = []
    for copies in (1, 10):
        folder = tmp / f"x{copies}"
        folder.mkdir()
        for i in range(copies):
            (folder / f"part{i}.tfrecord").symlink_to(source)
        code = (
            "import resource, sys\n"
            "from lstmprune_cli.cli.app import app\n"
            f"sys.argv = ['lstmprune', 'analyze', '{SAMPLE / 'audioset_lstm.keras'}', '--data', '{folder}', '--json',"
            f" '-w', '{tmp / f'ws{copies}'}']\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        )
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - start
        sequences = json.loads(done.stdout)["groups"][0]["samples"]
        rows.append(
            {
                "copies": copies,
                "sequences": sequences,
                "peak_mb": int(done.stderr.split()[-1]) / 1024,
                "seconds": seconds,
            }
        )
    return rows


def _axes():

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(6, 4))


def _save(fig, ax, path: Path, xlabel: str, ylabel: str, fontsize: int) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=fontsize)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def plot_speed(sample: list[dict], yt8m: list[dict], path: Path) -> None:
    fig, ax = _axes()
    for rows, name in ((sample, "sample (AudioSet, 10 x 128)"), (yt8m, "YouTube-8M shape (300 x 1152)")):
        theta = [r["theta"] for r in rows]
        ax.plot(theta, [r["latency"][0] / r["latency"][1] for r in rows], "o-", label=f"{name}: measured")
        ax.plot(theta, [r["flops"][0] / r["flops"][1] for r in rows], "x--", label=f"{name}: FLOP ratio")
    _save(fig, ax, path, "theta (share of units removed)", "speedup, batch 64, CPU", 7)


def plot_energy(curves: dict, sample: list[dict], path: Path) -> None:
    fig, ax = _axes()
    for name, zeta in curves.items():
        ax.plot(np.arange(1, len(zeta) + 1), zeta, label=name)
    for r in sample:
        if r["alpha"] is not None:
            ax.axhline(r["alpha"], color="gray", ls=":", lw=1)
            ax.text(2, r["alpha"] + 0.01, f"alpha at theta {r['theta']}", fontsize=7, color="gray")
    ax.set_xscale("log")
    _save(fig, ax, path, "components (eigenvalues, descending)", "cumulative energy zeta", 8)


def _m(x: float) -> str:
    return f"{x / 1e6:.2f}M"


def main() -> None:
    from lstmprune_cli.framework import import_tensorflow

    import_tensorflow()
    start = time.time()
    DOCS.mkdir(exist_ok=True)
    sample, (curves, analysis) = sample_rows(DOCS)
    big = youtube8m_model()
    yt8m = youtube8m_rows(big)
    with tempfile.TemporaryDirectory() as tmp:
        lite = tflite_rows(big, Path(tmp))
    audioset = ROOT.parent / "shared" / "data" / "audioset"
    speed = analyze_speed(audioset)
    training = finetune_throughput(audioset)
    with tempfile.TemporaryDirectory() as tmp:
        memory = analyze_memory(audioset, Path(tmp))
    plot_speed(sample, yt8m, DOCS / "speedup.png")
    plot_energy(curves, sample, DOCS / "energy.png")
    names = list(sample[0]["kept"])
    clips = analysis.statistics.stats[names[0]].count
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python bench/run.py`). Speedups are ratios of the original and the pruned model",
        "timed alternately in the same run (median of the repeats, batch 64, TensorFlow on the CPU).",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"run took {time.time() - start:.0f} s.",
        "",
        "## Sample model (ISS-GM, criterion gm, target units)",
        "",
        "`sample_models/audioset_lstm.keras`: Masking -> Bidirectional(LSTM 128) -> LSTM 256 -> Dense(527),",
        f"10 frames x 128; statistics from `sample_models/calibration.tfrecord` ({clips:,} clips).",
        "",
        "| theta | " + " | ".join(f"kept {n}" for n in names) + " | params before | params after | FLOP ratio | "
        "latency before (ms) | latency after (ms) | speedup |",
        "|---" * (len(names) + 7) + "|",
    ]
    for r in sample:
        (p0, p1), (f0, f1), (t0, t1) = r["params"], r["flops"], r["latency"]
        kept = " | ".join(f"{r['kept'][n]} / {analysis.statistics.stats[n].units}" for n in names)
        lines.append(
            f"| {r['theta']} | {kept} | {_m(p0)} | {_m(p1)} | {f0 / f1:.2f}x | {t0:.1f} | {t1:.1f} | {t0 / t1:.2f}x |"
        )
    lines += [
        "",
        "## YouTube-8M-shaped model (random weights, units kept uniformly)",
        "",
        "Bidirectional(LSTM 512) -> LSTM 1024 -> Dense 3862 over 300 frames x 1152 features.",
        "",
        "| theta | params before | params after | FLOP ratio | latency before (ms) | latency after (ms) | speedup |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in yt8m:
        (p0, p1), (f0, f1), (t0, t1) = r["params"], r["flops"], r["latency"]
        lines.append(f"| {r['theta']} | {_m(p0)} | {_m(p1)} | {f0 / f1:.2f}x | {t0:.0f} | {t1:.0f} | {t0 / t1:.2f}x |")
    lines += [
        "",
        "## TFLite, batch 1, YouTube-8M-shaped model, unpruned vs theta 0.7 (2 threads)",
        "",
        "Each model converted by `lstmprune export` (checked against Keras before writing); the fused path is",
        "tf-keras' UNIDIRECTIONAL_SEQUENCE_LSTM op, the Keras 3 path WHILE loops. int8 is dynamic-range quantization.",
        "",
        "| path | weights | unpruned (ms) | pruned (ms) | speedup | FLOP ratio | size unpruned / pruned (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in lite:
        (t0, t1), (s0, s1) = r["latency"], r["size"]
        lines.append(
            f"| {r['route']} | {r['quantize']} | {t0:.0f} | {t1:.0f} | {t0 / t1:.2f}x | {r['flop_ratio']:.2f}x | "
            f"{s0 / 1e6:.1f} / {s1 / 1e6:.1f} |"
        )
    lines += [
        "",
        "## Calibration pass",
        "",
        "`analyze`'s streaming pass (probe forward + statistics, tracing included; model loading and the",
        "framing check excluded) for the sample model over all AudioSet `eval-*` files, against a bare forward",
        "pass of the same model over the same records (same reader, batch 64, tracing included in both), best",
        "of three runs each:",
        "",
        "| records | analyze (s) | bare forward pass (s) | ratio |",
        "|---|---|---|---|",
        f"| {speed['records']:,} | {speed['analyze']:.2f} | {speed['forward']:.2f} | "
        f"{speed['analyze'] / speed['forward']:.2f} |",
        "",
        "## Fine-tuning throughput",
        "",
        "One epoch over the first 3,000 clips of AudioSet `bal_train-00000`, sample model, batch 64, same reader,",
        "best of two rounds (tracing included):",
        "",
        "| loop | sequences/s | vs model.fit |",
        "|---|---|---|",
    ]
    lines += [f"| {k} | {v:,.0f} | {v / training['model.fit']:.2f} |" for k, v in training.items()]
    lines += [
        "",
        "Peak resident memory of `lstmprune analyze` (a subprocess each; the 10x folder holds ten copies of the file):",
        "",
        "| sequences | peak memory (MB) | wall time (s) |",
        "|---|---|---|",
    ]
    lines += [f"| {m['sequences']:,} | {m['peak_mb']:.0f} | {m['seconds']:.1f} |" for m in memory]
    lines += [
        "",
        "![measured speedup and FLOP ratio against theta](speedup.png)",
        "",
        "Cumulative energy of each group's covariance spectrum (sample model); dotted: the shared energy level",
        "alpha chosen for each theta.",
        "",
        "![cumulative energy per group](energy.png)",
        "",
    ]
    (DOCS / "benchmarks.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
