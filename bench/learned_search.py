"""The learned methods' settings, chosen on validation clips: every value tried and its score is recorded.

    python -m bench.learned_search      # writes docs/results/learned_search.json; the document shows the grid

With a budget, `l0` and `group-lasso` learn the structure over LEARN of the steps, starting from a prior ranking
(`learn --prior`: the shipped cut's OBS scores, or none), are cut and compensated there, and train the cut model
over the rest (`framework/train/learners.py`); `l0`'s gates may travel GATE_TRAVEL in log-alpha over the learning
steps. Each setting below trains the sample at theta 0.5 for 2 epochs over 4,000 `bal_train` clips (distilled,
cosine from Adam 1e-3), cuts with the refit, and scores GAP@20 on the validation clips of `eval-00000` (those
beyond the 2,048 the prior's statistics read), never on the test clips of `eval-00001..3`.
"""

from __future__ import annotations

import time

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


def search(m: Mode) -> dict:
    from lstmprune_cli.framework import jobs, models
    from lstmprune_cli.framework.data.calibration import inputs_of
    from lstmprune_cli.framework.models.tasks import Task
    from lstmprune_cli.framework.prune.planner import REFIT_SAMPLES
    from lstmprune_cli.framework.train import learners
    from lstmprune_cli.framework.train.loop import evaluate

    budget = audioset.clips("bal_train-*", CLIPS)
    picked = audioset.validation_clips()
    task = Task("multilabel", 527)
    steps = -(-len(budget[0]) // audioset.RECIPE["batch"])
    teacher = models.load_model(audioset.MODEL)
    calibration = str(audioset.AUDIOSET / "eval-00000-of-00004.tfrecord")
    stats = jobs.analyze.analyze(audioset.MODEL, calibration, batch_size=64, max_samples=REFIT_SAMPLES).statistics
    saved = (learners.LEARN, learners.GATE_TRAVEL)
    rows = []
    try:
        for method, settings in GRID.items():
            for setting in settings:
                learners.LEARN = setting["learn"]
                learners.GATE_TRAVEL = setting.get("travel", saved[1])
                model = models.load_model(audioset.MODEL)
                start = time.perf_counter()
                batches = lambda: shuffled(*budget, 0)  # noqa: E731
                found = learners.learn(
                    model,
                    method,
                    batches,
                    task,
                    theta=THETA,
                    epochs=EPOCHS,
                    steps_per_epoch=steps,
                    learning_rate=audioset.RECIPE["learning_rate"],
                    schedule="cosine",
                    teacher=teacher,
                    alpha=audioset.RECIPE["alpha"],
                    compensate="refit",
                    calibration=inputs_of(batches, REFIT_SAMPLES),
                    prior=jobs.learn.prior_scores(model, stats, setting["prior"]),
                )
                score = evaluate(found.model, shuffled(*picked, 0, 512), task).metrics["gap@20"]
                row = {"method": method, **setting, "validation_gap@20": score}
                row |= {"exact": found.record["exact"], "seconds": time.perf_counter() - start}
                rows.append(row)
                log("learned search", row)
    finally:
        learners.LEARN, learners.GATE_TRAVEL = saved
    chosen = {
        method: max((r for r in rows if r["method"] == method), key=lambda r: r["validation_gap@20"]) for method in GRID
    }
    result = {"theta": THETA, "epochs": EPOCHS, "clips": CLIPS, "grid": GRID, "rows": rows, "chosen": chosen}
    save(m, "learned_search", result)
    return result


if __name__ == "__main__":
    from lstmprune_cli.framework import import_tensorflow

    import_tensorflow()
    search(mode("full"))
