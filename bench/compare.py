"""ISS-GM against its baselines: one base model, every method x theta x seed, the same fine-tuning budget."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from lstmprune_cli.core.plan import PlanSpec
from lstmprune_cli.core.recipe import Recipe

from .common import Progress, log

# name -> PlanSpec settings (and `start`); the removed units' means are folded into the biases unless the
# consumers are refitted. A refitted cut is fine-tuned as `lstmprune finetune --start auto --val` does (epoch 1
# from the refitted and from the rewound weights, the lower validation loss goes on) unless `start` says.
PAPER = PlanSpec.PAPER  # the library's recipes, not copies: the paper's ISS-GM and the shipped default
DEFAULT = asdict(Recipe())
METHODS = {
    "ISS-GM": dict(PAPER),
    "ISS-GM, layer-mean target": {**PAPER, "target": "layer-mean"},
    "random units": {**PAPER, "criterion": "random"},
    "L2-norm units": {**PAPER, "criterion": "l2"},
    "uniform rates": {**PAPER, "target": "uniform"},
    "inverted energy rule": {**PAPER, "target": "inverted"},
    "uniform + L2 units": {**PAPER, "target": "uniform", "criterion": "l2"},
    "ISS-GM + refit": {**PAPER, "compensate": "refit"},
    "uniform + refit": {**PAPER, "target": "uniform", "compensate": "refit"},
    "default (uniform + OBS + refit)": dict(DEFAULT),
    "default, tuned from the refit": {**DEFAULT, "start": "pruned"},
    "uniform + OBS + mean": {**DEFAULT, "compensate": "mean"},  # with the two below: what OBS and the refit add
    "uniform + GM + refit": {**DEFAULT, "criterion": "gm"},
    "default, FLOPs budget": {**DEFAULT, "budget": "flops"},
    "sensitivity + OBS + refit": {**DEFAULT, "target": "sensitivity"},
    "controller + OBS + refit": {**DEFAULT, "target": "controller"},
}
BASE_METHODS = tuple(METHODS)[:6]  # the paper's method and its baselines, without the measured cuts

Batches = Callable[[int], Iterable]  # seed -> (x, y) batches of one fine-tuning budget
Score = Callable[[object], dict]  # model -> metrics


def run(
    model_path: Path,
    statistics,
    thetas: Iterable[float],
    seeds: Iterable[int],
    train: Batches,
    score: Score,
    recipe: dict,
    calibration: Callable[[], Iterable] | None = None,
    methods: Iterable[str] = tuple(METHODS),
    validation: Callable[[], Iterable] | None = None,
    progress: Progress | None = None,
    shard: tuple[int, int] = (0, 1),
) -> list[dict] | None:
    """Rows of {method, theta, seed, kept, params, cut, tuned}; method 'unpruned' has theta 0. With `progress`,
    rows it holds are not run again and every new row is added to it as soon as it is made. `shard` (i, n):
    only every n-th row is run, from the i-th; the others are read from `progress` once their shards have
    written them, and None is returned while one is missing."""
    from lstmprune_cli.core.plan import PlanSpec
    from lstmprune_cli.framework import models
    from lstmprune_cli.framework.jobs.finetune import training_start
    from lstmprune_cli.framework.models.tasks import task_of
    from lstmprune_cli.framework.prune.planner import Planner, cut
    from lstmprune_cli.framework.train.loop import fit

    base = models.load_model(model_path)
    planner = Planner(base, statistics)
    groups = planner.groups
    task = task_of(base, False, models.compiled_loss(model_path) or "auto")
    original = score(base)
    log("unpruned", original)

    def tune(model, seed: int, starts=()) -> tuple[dict, float, int]:
        """Fine-tune within the budget: the library counts the trials of other starts against it
        (core.training.trial_budget), so every row trains `recipe["epochs"]` epochs of batches in all."""
        start = time.perf_counter()
        teacher = base if recipe.get("alpha") else None  # distilled from the original, as `finetune` does
        found = fit(model, lambda: train(seed), task, starts=starts, validation=validation, teacher=teacher, **recipe)
        return score(model), time.perf_counter() - start, found.start

    rows: list[dict | tuple] = []  # a row, or the key of a row another shard runs
    done = progress.done if progress else lambda *key: None
    keep = progress.add if progress else lambda row: row
    thetas, seeds, methods = tuple(thetas), tuple(seeds), tuple(methods)
    order = [("unpruned", 0.0, s) for s in seeds] + [(m, t, s) for t in thetas for m in methods for s in seeds]
    skipped = lambda *key: order.index(key) % shard[1] != shard[0]  # noqa: E731  (another shard's row)
    for seed in seeds:
        if found := done("unpruned", 0.0, seed):
            rows.append(found)
            continue
        if skipped("unpruned", 0.0, seed):
            rows.append(("unpruned", 0.0, seed))
            continue
        model = models.load_model(model_path)
        tuned, seconds, _ = tune(model, seed)
        rows.append(
            keep(_row("unpruned", 0.0, seed, {g.name: g.units for g in groups}, base, original, tuned, seconds))
        )
        log("unpruned seed", seed, tuned)
    cuts: dict[tuple, tuple] = {}  # deterministic methods cut the same units for every seed: plan, weights, score
    for theta in thetas:
        for method in methods:
            settings = {k: v for k, v in METHODS[method].items() if k != "start"}
            for seed in seeds:
                if found := done(method, theta, seed):
                    rows.append(found)
                    continue
                if skipped(method, theta, seed):
                    rows.append((method, theta, seed))
                    continue
                key = (theta, method, seed if settings["criterion"] == "random" else None)
                if key not in cuts:
                    cuts[key] = _cut(planner, base, PlanSpec(theta, seed=seed, **settings), calibration, score)
                plan, weights, found, cost = cuts[key]
                given = cut(base, plan)
                given.set_weights(weights)
                rewound = cut(base, plan) if settings.get("compensate") == "refit" else None  # means in the biases
                start = METHODS[method].get("start", "auto")
                model, starts = training_start(given, rewound, start, judged=validation is not None)
                tuned, seconds, chosen = tune(model, seed, starts)
                kept = {g.name: g.num_kept for g in plan.groups}
                begun = ("rewound", "pruned")[chosen] if starts else "pruned" if model is given else "rewound"
                extra = {"cut_seconds": cost, "start": "cut" if rewound is None else begun}
                rows.append(keep(_row(method, theta, seed, kept, model, found, tuned, seconds) | extra))
                log(method, theta, seed, kept, found, tuned, f"{seconds:.0f} s")
    return _gathered(rows, progress)


def _gathered(rows: list[dict | tuple], progress: Progress | None) -> list[dict] | None:
    """`rows` with the keys of other shards' rows replaced by those rows, as they are on disk; None while one
    of them is missing."""
    if all(isinstance(r, dict) for r in rows):
        return rows
    written = {(r["method"], r["theta"], r["seed"]): r for r in progress.read()} if progress else {}
    found = [r if isinstance(r, dict) else written.get(r) for r in rows]
    missing = sum(r is None for r in found)
    if missing:
        log(f"{missing} of {len(rows)} rows are other shards' and not written yet: the part is saved by the last")
        return None
    return found


def _cut(planner, base, spec, calibration, score) -> tuple:
    """(plan, the cut model's weights, its score, seconds to make it) for one method."""
    from lstmprune_cli.core.plan import MEASURING
    from lstmprune_cli.framework.data.calibration import first_sequences
    from lstmprune_cli.framework.prune.planner import cut_and_refit

    start = time.perf_counter()
    measure = None
    if spec.target in MEASURING:
        sample = first_sequences(calibration, 2048)
        half = len(sample) // 2
        measure = planner.output_loss(spec, sample[half:], sample[:half])
    plan = planner.plan(spec, measure=measure)
    pruned = cut_and_refit(base, plan, calibration)
    seconds = time.perf_counter() - start
    return plan, pruned.get_weights(), score(pruned), seconds


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
    rank = lambda m: order.index(m) if m in order else len(order)  # noqa: E731  (names of older runs last)
    for (theta, method), rs in sorted(cells.items(), key=lambda kv: (kv[0][0], rank(kv[0][1]))):
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
