"""Benchmarks (not tests): `make bench` writes docs/benchmarks.md and its PNG plots.

Speed figures are ratios of models timed alternately in the same run on this machine.
"""

from __future__ import annotations

import os
import platform
import sys
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


def youtube8m_rows() -> list[dict]:
    """Bidirectional(LSTM 512) -> LSTM 1024 -> Dense 3862 over 300 x 1152, random weights, units kept uniformly."""
    import keras

    from lstmprune_cli.framework import measure
    from lstmprune_cli.framework.graph import unit_groups
    from lstmprune_cli.framework.surgery import prune_model

    keras.utils.set_random_seed(0)
    inputs = keras.Input((300, 1152))
    x = keras.layers.Bidirectional(keras.layers.LSTM(512, return_sequences=True))(inputs)
    x = keras.layers.LSTM(1024)(x)
    model = keras.Model(inputs, keras.layers.Dense(3862, activation="sigmoid")(x))
    groups = unit_groups(model)
    rows = []
    for theta in THETAS:
        kept = {g.name: np.arange(round((1 - theta) * g.units)) for g in groups}
        pruned = prune_model(model, kept)
        t0, t1 = measure.latency([model, pruned], (300, 1152), batch=64, repeats=3)
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


def plot_speed(sample: list[dict], yt8m: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for rows, name in ((sample, "sample (AudioSet, 10 x 128)"), (yt8m, "YouTube-8M shape (300 x 1152)")):
        theta = [r["theta"] for r in rows]
        ax.plot(theta, [r["latency"][0] / r["latency"][1] for r in rows], "o-", label=f"{name}: measured")
        ax.plot(theta, [r["flops"][0] / r["flops"][1] for r in rows], "x--", label=f"{name}: FLOP ratio")
    ax.set_xlabel("theta (share of units removed)")
    ax.set_ylabel("speedup, batch 64, CPU")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def plot_energy(curves: dict, sample: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, zeta in curves.items():
        ax.plot(np.arange(1, len(zeta) + 1), zeta, label=name)
    for r in sample:
        if r["alpha"] is not None:
            ax.axhline(r["alpha"], color="gray", ls=":", lw=1)
            ax.text(2, r["alpha"] + 0.01, f"alpha at theta {r['theta']}", fontsize=7, color="gray")
    ax.set_xscale("log")
    ax.set_xlabel("components (eigenvalues, descending)")
    ax.set_ylabel("cumulative energy zeta")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _m(x: float) -> str:
    return f"{x / 1e6:.2f}M"


def main() -> None:
    from lstmprune_cli.framework import import_tensorflow

    import_tensorflow()
    start = time.time()
    DOCS.mkdir(exist_ok=True)
    sample, (curves, analysis) = sample_rows(DOCS)
    yt8m = youtube8m_rows()
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
