"""ISS-GM against its baselines: one base model, every method x theta x seed, the same fine-tuning budget."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from .common import log

# name -> (rate target, unit criterion); compensation (removed units' means folded into biases) for all
METHODS = {
    "ISS-GM": ("units", "gm"),
    "ISS-GM, layer-mean target": ("layer-mean", "gm"),
    "random units": ("units", "random"),
    "L2-norm units": ("units", "l2"),
    "uniform rates": ("uniform", "gm"),
    "inverted energy rule": ("inverted", "gm"),
}

Batches = Callable[[int], Iterable]  # seed -> (x, y) batches of one fine-tuning budget
Score = Callable[[object], dict]  # model -> metrics


def run(
    model_path: Path,
    statistics,
    thetas: Iterable[float],
    seeds: Iterable[int],
    train: Batches,
    score: Score,
    epochs: int,
    learning_rate: float,
) -> list[dict]:
    """Rows of {method, theta, seed, kept, params, cut, tuned}; method 'unpruned' has theta 0."""
    from lstmprune_cli.core.plan import PlanSpec
    from lstmprune_cli.framework import models
    from lstmprune_cli.framework.pruning import Planner, cut
    from lstmprune_cli.framework.train import finetune, task_of

    base = models.load_model(model_path)
    planner = Planner(base, statistics)
    groups = planner.groups
    task = task_of(base, False, models.compiled_loss(model_path) or "auto")
    original = score(base)
    log("unpruned", original)

    def tune(model, seed: int) -> tuple[dict, float]:
        start = time.perf_counter()
        finetune(model, lambda: train(seed), task, epochs=epochs, learning_rate=learning_rate)
        return score(model), time.perf_counter() - start

    rows = []
    for seed in seeds:
        model = models.load_model(model_path)
        tuned, seconds = tune(model, seed)
        rows.append(_row("unpruned", 0.0, seed, {g.name: g.units for g in groups}, base, original, tuned, seconds))
        log("unpruned seed", seed, tuned)
    cuts: dict[tuple, dict] = {}
    for theta in thetas:
        for method, (target, criterion) in METHODS.items():
            for seed in seeds:
                plan = planner.plan(PlanSpec(theta, target, criterion, seed=seed))
                pruned = cut(base, plan)
                key = (theta, method, seed if criterion == "random" else None)
                if key not in cuts:  # deterministic methods cut the same units for every seed
                    cuts[key] = score(pruned)
                tuned, seconds = tune(pruned, seed)
                kept = {g.name: g.num_kept for g in plan.groups}
                rows.append(_row(method, theta, seed, kept, pruned, cuts[key], tuned, seconds))
                log(method, theta, seed, kept, cuts[key], tuned, f"{seconds:.0f} s")
    return rows


def _row(method, theta, seed, kept, model, cut, tuned, seconds) -> dict:
    return {
        "method": method,
        "theta": theta,
        "seed": seed,
        "kept": kept,
        "params": model.count_params(),
        "cut": cut,
        "tuned": tuned,
        "seconds": seconds,
    }


def summary(rows: list[dict], metric: str) -> list[dict]:
    """Mean and spread (sample standard deviation) over seeds, per method and theta."""
    cells: dict[tuple, list[dict]] = {}
    for r in rows:
        cells.setdefault((r["theta"], r["method"]), []).append(r)
    out = []
    order = ["unpruned", *METHODS]
    for (theta, method), rs in sorted(cells.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1]))):
        cut = np.array([r["cut"][metric] for r in rs])
        tuned = np.array([r["tuned"][metric] for r in rs])
        out.append(
            {
                "theta": theta,
                "method": method,
                "seeds": len(rs),
                "kept": rs[0]["kept"],
                "params": rs[0]["params"],
                "cut": (cut.mean(), cut.std(ddof=1) if len(rs) > 1 else 0.0),
                "tuned": (tuned.mean(), tuned.std(ddof=1) if len(rs) > 1 else 0.0),
            }
        )
    return out
