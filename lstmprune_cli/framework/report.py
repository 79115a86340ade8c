"""What the cut bought and what it cost: sizes, FLOPs, latency side by side, metrics, energy plots."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.plan import Plan
from ..core.rates import cumulative_energy
from ..core.statsfile import Statistics
from . import measure, models


@dataclass
class ModelCost:
    name: str
    path: str
    params: int
    flops_per_step: int
    flops_per_sequence: int
    size_bytes: int
    latency_ms: dict[str, float] = field(default_factory=dict)  # "tf batch 1", "tf batch 64", "tflite batch 1"
    metrics: dict[str, float] | None = None


def disk_size(path: Path) -> int:
    path = Path(path)
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def costs(paths: dict[str, Path], length: int | None, batches=(1, 64), tflite: bool = False, repeats: int = 5):
    """Cost records of each model, latency measured alternately in the same run."""
    loaded = {name: models.load_model(p) for name, p in paths.items()}
    first = next(iter(loaded.values()))
    length = length or first.inputs[0].shape[1] or 100
    records = {}
    for name, m in loaded.items():
        f = measure.flops(m, length)
        records[name] = ModelCost(
            name, str(paths[name]), m.count_params(), f["per_step"], f["per_sequence"], disk_size(paths[name])
        )
    for batch in batches:
        times = measure.latency(list(loaded.values()), length, batch=batch, repeats=repeats)
        for r, t in zip(records.values(), times):
            r.latency_ms[f"tf batch {batch}"] = t
    if tflite:
        from .tflite import export_tflite, sample_inputs

        contents = []
        with tempfile.TemporaryDirectory() as tmp:
            for name, m in loaded.items():
                out = Path(tmp) / f"{name}.tflite"
                export_tflite(m, out, force=True)
                contents.append(out.read_bytes())
        times = measure.tflite_latency(contents, sample_inputs(first, 2, length), repeats=repeats)
        for r, t in zip(records.values(), times):
            r.latency_ms["tflite batch 1"] = t
    return loaded, records


def energy_plot(statistics: Statistics, plan: Plan | None, path: Path) -> Path:
    """Each group's cumulative energy curve, with the number of units the plan keeps marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kept = {g.name: g.num_kept for g in plan.groups} if plan else {}
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for g in statistics.groups:
        zeta = cumulative_energy(statistics.stats[g.name].eigenvalues())  # (H,)
        line = ax.plot(np.arange(1, len(zeta) + 1), zeta, label=f"{g.name} ({g.units})")[0]
        if g.name in kept:
            k = kept[g.name]
            ax.plot([k], [zeta[k - 1]], "o", color=line.get_color())
            ax.annotate(f"{k}", (k, zeta[k - 1]), textcoords="offset points", xytext=(4, -10), fontsize=7)
    if plan and plan.energy_level is not None:
        ax.axhline(plan.energy_level, color="gray", ls=":", lw=1, label=f"energy level {plan.energy_level:.3f}")
    ax.set_xscale("log")
    labels = ("components (eigenvalues, descending)", "cumulative energy", "energy kept per group (dots: units kept)")
    return _finish(fig, ax, path, *labels)


def sensitivity_plot(plan: Plan, path: Path) -> Path:
    """The measured loss of cutting each group alone against the units it keeps, the plan's choice marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kept = {g.name: g.num_kept for g in plan.groups}
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for curve in plan.extra["allocation"]["curves"]:
        counts = sorted(int(k) for k in curve["loss"])
        loss = [curve["loss"][str(k)] for k in counts]
        name = " + ".join(curve["groups"])
        line = ax.plot(counts, loss, "o-", ms=3, label=name)[0]
        k = kept[curve["groups"][0]]
        if str(k) in curve["loss"]:
            ax.plot([k], [curve["loss"][str(k)]], "s", ms=8, mfc="none", color=line.get_color())
    ax.set_yscale("symlog", linthresh=1e-4)
    labels = ("units kept (that group alone cut)", "output loss against the original")
    return _finish(fig, ax, path, *labels, "sensitivity per group (squares: the plan's choice)")


def _finish(fig, ax, path: Path, xlabel: str, ylabel: str, title: str) -> Path:
    """Labels, grid and legend of a report plot, written atomically."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
    return path


def save_figure(fig, path: Path) -> None:
    """A matplotlib figure as PNG, written atomically."""
    import io

    import matplotlib.pyplot as plt

    from ..core.files import write_atomic

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    write_atomic(Path(path), buf.getvalue())
