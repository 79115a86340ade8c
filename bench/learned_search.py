"""The learned methods' phase shares, chosen on validation clips: every value tried and its score is recorded.

    python -m bench.learned_search      # writes docs/results/learned_search.json; the document shows the grid

`l0` and `group-lasso` learn the structure over LEARN of the steps, close the removed units over CLOSE, and
train the kept network over the rest (`framework/train/learners.py`). Each pair of shares below trains the
sample at theta 0.5 for 2 epochs over 4,000 `bal_train` clips (distilled, cosine from Adam 1e-3), cuts with the
refit, and scores GAP@20 on the validation clips of `eval-00000` (those beyond the refits' calibration clips),
never on the test clips of `eval-00001..3`.
"""

from __future__ import annotations

import time

from . import audioset
from .common import Mode, log, mode, save, shuffled

GRID = ((0.6, 0.3), (0.3, 0.5), (0.15, 0.6), (0.05, 0.7))  # (LEARN, CLOSE); the last steps train the kept network
METHODS = ("l0", "group-lasso")
THETA, EPOCHS, CLIPS = 0.5, 2, 4000


def search(m: Mode) -> dict:
    from lstmprune_cli.framework import models
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
    shares = (learners.LEARN, learners.CLOSE)
    rows = []
    try:
        for method in METHODS:
            for learn_share, close_share in GRID:
                learners.LEARN, learners.CLOSE = learn_share, close_share
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
                )
                score = evaluate(found.model, shuffled(*picked, 0, 512), task).metrics["gap@20"]
                row = {"method": method, "learn": learn_share, "close": close_share, "validation_gap@20": score}
                row |= {"exact": found.record["exact"], "seconds": time.perf_counter() - start}
                rows.append(row)
                log("learned search", row)
    finally:
        learners.LEARN, learners.CLOSE = shares
    chosen = {
        method: max((r for r in rows if r["method"] == method), key=lambda r: r["validation_gap@20"])
        for method in METHODS
    }
    result = {"theta": THETA, "epochs": EPOCHS, "clips": CLIPS, "grid": GRID, "rows": rows, "chosen": chosen}
    save(m, "learned_search", result)
    return result


if __name__ == "__main__":
    from lstmprune_cli.framework import import_tensorflow

    import_tensorflow()
    search(mode("full"))
