"""Part: the default recipe against the unpruned model given the same extra training.

`lstmprune prune` (uniform rates, OBS units, refit) then `lstmprune finetune` as it runs by default
(distilled from the original with alpha 0.5, `--start auto`, `--val` a slice of eval-00000) with a cosine
schedule over all of bal_train; the unpruned model gets exactly the same training. Theta 0.3 and 0.7, on
the sample and, when its base model is cached (the wide part trains it), on the paper-width model with a
smaller budget.
"""

from __future__ import annotations

import json
import time

from .audioset import MODEL, clips, validation_clips
from .common import AUDIOSET, CACHE, Mode, load, log, save, shuffled

SIZES = {  # per model: training clips, epochs, seeds
    "quick": {"sample": dict(train=1000, epochs=2, seeds=(0,)), "wide": dict(train=300, epochs=1, seeds=(0,))},
    "full": {
        "sample": dict(train=None, epochs=10, seeds=(0, 1)),
        "wide": dict(train=8000, epochs=6, seeds=(0,), thetas=(0.7,)),  # about 10 minutes on 2 cores
    },
}
THETAS = (0.3, 0.7)
ALPHA = 0.5  # finetune's default weight of the teacher's loss


def _models(mode: Mode) -> dict:
    from . import wide

    found = {"sample": MODEL}
    cached = sorted(CACHE.glob(f"audioset_wide_e*_{mode.name}_*.keras"))
    if cached:
        found["wide"] = wide.base(mode)
    return found


def part(mode: Mode) -> dict:
    from lstmprune_cli.core.recipe import Recipe
    from lstmprune_cli.framework import jobs, models
    from lstmprune_cli.framework.data import calibration as calibration_batches
    from lstmprune_cli.framework.jobs.finetune import training_start
    from lstmprune_cli.framework.models.tasks import Task
    from lstmprune_cli.framework.prune import REFIT_SAMPLES, cut_and_refit
    from lstmprune_cli.framework.prune.planner import Planner, cut
    from lstmprune_cli.framework.train.loop import evaluate, fit

    calibration = AUDIOSET / "eval-00000-of-00004.tfrecord"
    held = clips("eval-0000[1-3]-*", 2000 if mode.quick else None)
    picked = validation_clips()
    validation = lambda: shuffled(*picked, 0, 512)  # noqa: E731  (finetune --val)
    task = Task("multilabel", 527)
    result = {"thetas": THETAS, "alpha": ALPHA, "models": {}}
    saved = (load(mode, "recipe") or {}).get("models", {})
    for name, path in _models(mode).items():
        size = SIZES[mode.name][name]
        if saved.get(name, {}).get("size") == json.loads(json.dumps(size)):  # measured with these settings
            result["models"][name] = saved[name]
            log("recipe", name, "reused from the saved results")
            continue
        train = clips("bal_train-*", size["train"])
        base = models.load_model(path)
        stats = jobs.analyze.analyze(path, str(calibration), batch_size=64, max_samples=2048).statistics
        batches = calibration_batches(base, str(calibration), max_samples=REFIT_SAMPLES)
        planner = Planner(base, stats)
        gap = lambda m: evaluate(m, shuffled(*held, 0, 512), task).metrics["gap@20"]  # noqa: E731
        steps = -(-len(train[0]) // 64)
        recipe = dict(epochs=size["epochs"], learning_rate=1e-3, schedule="cosine", steps_per_epoch=steps)
        rows = []
        for theta in (0.0, *size.get("thetas", THETAS)):
            if theta:
                plan = planner.plan(Recipe().spec(theta))
                pruned = cut_and_refit(base, plan, batches)
                at_cut = gap(pruned)
            for seed in size["seeds"]:
                model, starts = models.load_model(path), []
                if theta:  # finetune --start auto --val: the rewound start, the refitted one tried too
                    model, starts = training_start(pruned, cut(base, plan), "auto", judged=True)
                start = time.perf_counter()
                found = fit(
                    model,
                    lambda s=seed, t=train: shuffled(*t, s),
                    task,
                    teacher=base,
                    alpha=ALPHA,
                    starts=starts,
                    validation=validation,
                    **recipe,  # the trial epoch counts against it (core.training.trial_budget)
                )
                row = {"theta": theta, "seed": seed, "params": model.count_params(), "tuned": gap(model)}
                row |= {"start": ("rewound", "pruned")[found.start] if theta else "-"}
                row |= {"cut": at_cut if theta else gap(base), "seconds": time.perf_counter() - start}
                rows.append(row)
                log("recipe", name, row)
        result["models"][name] = {"size": size, "recipe": recipe, "clips": len(train[0]), "rows": rows}
    save(mode, "recipe", result)
    return result
