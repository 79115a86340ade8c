"""The learned methods' settings, chosen on validation clips: every value tried and its score is recorded.

    python -m bench.learned_search              # writes docs/results/learned_search.json; the document shows it
    python -m bench.learned_search allocation   # only the second stage, kept beside the saved first

With a budget, `l0` and `group-lasso` learn the structure over LEARN of the steps, starting from a prior ranking
(`learn --prior`: the shipped cut's OBS scores, or none), are cut and compensated there, and train the cut model
over the rest (`framework/train/learners.py`); `l0`'s gates may travel GATE_TRAVEL in log-alpha over the learning
steps. Each setting below trains the sample at theta 0.5 for 2 epochs over 4,000 `bal_train` clips (distilled,
cosine from Adam 1e-3), cuts with the refit, and scores GAP@20 on the validation clips of `eval-00000` (those
beyond the 2,048 the prior's statistics read), never on the test clips of `eval-00001..3`.

The second stage chooses each learner's allocation (`learn --allocate`) where the learners' own allocation and
uniform rates differ most, at theta ALLOCATION_THETA, with each method's chosen settings and SEEDS seeds.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from . import audioset
from .common import Mode, log, mode, save, shuffled

GRID = {  # per method: the settings tried (LEARN, the prior, and l0's GATE_TRAVEL)
    "l0": [
        {"learn": 0.05, "prior": "obs", "travel": 2.0},
        {"learn": 0.05, "prior": "obs", "travel": 16.0},
        {"learn": 0.2, "prior": "obs", "travel": 2.0},
        {"learn": 0.2, "prior": "obs", "travel": 16.0},
        {"learn": 0.2, "prior": "none", "travel": 16.0},
        {"learn": 0.2, "prior": "obs", "travel": 0.5},
        {"learn": 0.5, "prior": "obs", "travel": 2.0},
        {"learn": 0.2, "prior": "none", "travel": 2.0},
    ],
    "group-lasso": [
        {"learn": 0.05, "prior": "obs"},
        {"learn": 0.2, "prior": "obs"},
        {"learn": 0.5, "prior": "obs"},
        {"learn": 0.2, "prior": "none"},
    ],
}
THETA, EPOCHS, CLIPS = 0.5, 2, 4000
ALLOCATIONS, ALLOCATION_THETA, SEEDS = ("learned", "uniform"), 0.9, (0, 1)


def setup() -> dict:
    from lstmprune_cli.framework import jobs, models
    from lstmprune_cli.framework.prune.planner import REFIT_SAMPLES

    calibration = str(audioset.AUDIOSET / "eval-00000-of-00004.tfrecord")
    return dict(
        budget=audioset.clips("bal_train-*", CLIPS),
        picked=audioset.validation_clips(),
        teacher=models.load_model(audioset.MODEL),
        stats=jobs.analyze.analyze(audioset.MODEL, calibration, batch_size=64, max_samples=REFIT_SAMPLES).statistics,
    )


def trial(data: dict, method: str, setting: dict, *, theta: float, allocation: str = "learned", seed: int = 0) -> dict:
    """One setting trained, cut and scored on the validation clips."""
    from lstmprune_cli.framework import jobs, models
    from lstmprune_cli.framework.data.calibration import inputs_of
    from lstmprune_cli.framework.models.tasks import Task
    from lstmprune_cli.framework.prune.planner import REFIT_SAMPLES
    from lstmprune_cli.framework.train import learners
    from lstmprune_cli.framework.train.loop import evaluate

    task = Task("multilabel", 527)
    saved = (learners.LEARN, learners.GATE_TRAVEL)
    learners.LEARN, learners.GATE_TRAVEL = setting["learn"], setting.get("travel", saved[1])
    try:
        model = models.load_model(audioset.MODEL)
        start = time.perf_counter()
        batches = lambda: shuffled(*data["budget"], seed)  # noqa: E731
        found = learners.learn(
            model,
            method,
            batches,
            task,
            theta=theta,
            epochs=EPOCHS,
            steps_per_epoch=-(-len(data["budget"][0]) // audioset.RECIPE["batch"]),
            learning_rate=audioset.RECIPE["learning_rate"],
            schedule="cosine",
            teacher=data["teacher"],
            alpha=audioset.RECIPE["alpha"],
            compensate="refit",
            calibration=inputs_of(batches, REFIT_SAMPLES),
            prior=jobs.learn.prior_scores(model, data["stats"], setting["prior"]),
            seed=seed,
            allocation=None if allocation == "learned" else allocation,
        )
    finally:
        learners.LEARN, learners.GATE_TRAVEL = saved
    score = evaluate(found.model, shuffled(*data["picked"], 0, 512), task).metrics["gap@20"]
    row = {"method": method, **setting, "validation_gap@20": score}
    return row | {"exact": found.record["exact"], "seconds": time.perf_counter() - start}


def search(m: Mode, stages: tuple[str, ...] = ("settings", "allocation")) -> dict:
    from .common import load

    data = setup()
    result = load(m, "learned_search") if "settings" not in stages else {}
    if "settings" in stages:
        rows = []
        for method, settings in GRID.items():
            for setting in settings:
                rows.append(trial(data, method, setting, theta=THETA))
                log("learned search", rows[-1])
        chosen = {method: max((r for r in rows if r["method"] == method), key=_score) for method in GRID}
        result = {"theta": THETA, "epochs": EPOCHS, "clips": CLIPS, "grid": GRID, "rows": rows, "chosen": chosen}
    if "allocation" in stages:
        result["allocation"] = allocation_stage(data, result["chosen"])
    save(m, "learned_search", result)
    return result


def allocation_stage(data: dict, chosen: dict) -> dict:
    """Each learner's allocation, chosen at ALLOCATION_THETA on the mean validation score over SEEDS."""
    rows = []
    for method, best in chosen.items():
        setting = {k: best[k] for k in ("learn", "prior", "travel") if k in best}
        for allocation in ALLOCATIONS:
            for seed in SEEDS:
                row = trial(data, method, setting, theta=ALLOCATION_THETA, allocation=allocation, seed=seed)
                rows.append(row | {"allocation": allocation, "seed": seed})
                log("learned allocation", rows[-1])
    means = {
        (method, a): float(np.mean([_score(r) for r in rows if r["method"] == method and r["allocation"] == a]))
        for method in chosen
        for a in ALLOCATIONS
    }
    picked = {method: max(ALLOCATIONS, key=lambda a, m=method: means[(m, a)]) for method in chosen}
    return {
        "theta": ALLOCATION_THETA,
        "seeds": list(SEEDS),
        "rows": rows,
        "means": {f"{m} {a}": v for (m, a), v in means.items()},
        "chosen": picked,
    }


def _score(row: dict) -> float:
    return row["validation_gap@20"]


if __name__ == "__main__":
    from lstmprune_cli.framework import import_tensorflow

    import_tensorflow()
    search(mode("full"), tuple(sys.argv[1:]) or ("settings", "allocation"))
