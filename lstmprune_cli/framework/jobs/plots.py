"""The figures of report and sweep."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...core.plan import Plan
from ...core.rates import cumulative_energy
from ...core.statsfile import Statistics
from .sweep import SweepResult


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


def search_plot(search: dict, path: Path) -> Path:
    """The cuts a budget's search tried: its measure against theta, the limit, the chosen theta marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = sorted(search["points"], key=lambda p: p["theta"])
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.plot([p["theta"] for p in points], [p["value"] for p in points], "o-", ms=4, label="cuts tried")
    ax.axhline(search["limit"], color="gray", ls=":", lw=1, label=f"limit {search['limit']:g}")
    chosen = [p for p in points if p["theta"] == search["theta"]]
    if chosen:
        ax.plot([chosen[0]["theta"]], [chosen[0]["value"]], "s", ms=9, mfc="none", color="C3", label="chosen")
    title = f"search: {len(points)} cuts in {search['seconds']:.0f} s, theta {search['theta']}"
    return _finish(fig, ax, path, "theta", search["measure"], title)


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

    from ...core.files import write_atomic

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    write_atomic(Path(path), buf.getvalue())


def sweep_plot(result: SweepResult, path: Path, chosen: float | None = None) -> Path:
    """Metric against theta and latency against theta, side by side; `chosen`: a budget's theta, marked."""
    base, points = result.base, result.points
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    thetas = [0.0] + [p.theta for p in points]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    if base.metrics:
        for key in base.metrics:
            if key == "loss":
                continue
            axes[0].plot(thetas, [base.metrics[key]] + [p.metrics[key] for p in points], "o-", label=key)
        axes[0].set_ylabel("metric on the evaluation data")
        axes[0].legend(fontsize=8)
    axes[0].set_xlabel("theta")
    axes[1].plot(thetas, [base.latency_ms] + [p.latency_ms for p in points], "o-", label="measured")
    axes[1].set_xlabel("theta")
    axes[1].set_ylabel(f"CPU latency, batch {result.latency_batch} (ms)")
    for ax in axes:
        ax.grid(alpha=0.3)
        if chosen is not None:
            ax.axvline(chosen, color="C3", ls="--", lw=1, label=f"the budget's cut, theta {chosen:g}")
    if chosen is not None:
        axes[1].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    return path
