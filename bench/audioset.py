"""Part 1: the YouTube-8M experiment in miniature (paper Table II) on AudioSet frame-level embeddings.

The shipped sample (Bidirectional(LSTM 128) -> LSTM 256 -> Dense(527, sigmoid)), GAP@20 on eval-00001..3;
ISS-GM against the baselines of compare.METHODS. Seeds vary the fine-tuning order and the random draw.
The unpruned model gets the same fine-tuning budget as every pruned one.

"""

from __future__ import annotations

import numpy as np

from . import compare
from .common import AUDIOSET, SAMPLE, Mode, Progress, save, shuffled

MODEL = SAMPLE / "audioset_lstm.keras"
SIZES = {  # calibration clips, fine-tuning clips, evaluation clips, thetas, seeds
    "quick": dict(stats=1500, budget=1000, evaluate=2000, thetas=(0.5, 0.9), seeds=(0,)),
    "full": dict(stats=None, budget=8000, evaluate=None, thetas=(0.3, 0.5, 0.7, 0.9), seeds=(0, 1, 2)),
}
SKIPPED = (  # in the cuts part right after the cut, or in earlier versions of docs/benchmarks.md; time is short
    "ISS-GM, layer-mean target",
    "random units",
    "inverted energy rule",
    "uniform + L2 units",
    "uniform + refit",
    "sensitivity + OBS + refit",  # these two choose uniform or near-uniform counts on this model (cuts part)
    "controller + OBS + refit",
)
# every row's fine-tuning: `lstmprune finetune`'s defaults (distilled from the original, alpha 0.5), cosine
RECIPE = dict(epochs=5, learning_rate=1e-3, schedule="cosine", batch=64, alpha=0.5)


def clips(pattern: str, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(N, 10, 128) frames and (N, 527) multi-hot labels, read by lstmprune's own reader."""
    from lstmprune_cli.core.schema import Options
    from lstmprune_cli.framework import models
    from lstmprune_cli.framework.jobs.finetune import training_streams

    model = models.load_model(MODEL)
    _, _, stream = training_streams(model, str(AUDIOSET / pattern), Options(), 512, limit, "auto")
    xs, ys = zip(*stream())
    return np.concatenate(xs), np.concatenate(ys)


def validation_clips() -> tuple[np.ndarray, np.ndarray]:
    """What fine-tuning validates on (`finetune --val`): eval-00000 beyond the clips the refits read."""
    from lstmprune_cli.framework.prune.planner import REFIT_SAMPLES

    x, y = clips("eval-00000-*", None)
    return x[REFIT_SAMPLES:], y[REFIT_SAMPLES:]


def compare_on_audioset(
    path, size: dict, recipe: dict, methods, seeds, progress: Progress | None = None, shard=(0, 1)
) -> tuple[list[dict] | None, dict]:
    """compare.run for a model of AudioSet frames: statistics and refits from eval-00000, fine-tuning on
    bal_train validated on the rest of eval-00000, GAP@20 and mAP on eval-00001..3; rows and clip counts.
    `progress`: the rows of a stopped run of the same settings, kept and added to; `shard`: compare.run's."""
    from lstmprune_cli.framework import jobs, models
    from lstmprune_cli.framework.data import calibration as calibration_batches
    from lstmprune_cli.framework.models.tasks import Task
    from lstmprune_cli.framework.prune import REFIT_SAMPLES
    from lstmprune_cli.framework.train.loop import evaluate

    calibration = AUDIOSET / "eval-00000-of-00004.tfrecord"
    stats = jobs.analyze.analyze(path, str(calibration), batch_size=64, max_samples=size["stats"]).statistics
    budget = clips("bal_train-*", size["budget"])
    held = clips("eval-0000[1-3]-*", size["evaluate"])
    picked = validation_clips()
    task = Task("multilabel", 527)

    def score(model) -> dict:
        found = evaluate(model, shuffled(*held, 0, 512), task).metrics
        return {"gap@20": found["gap@20"], "map": found["map"]}

    batches = calibration_batches(models.load_model(path), str(calibration), max_samples=REFIT_SAMPLES)
    rows = compare.run(
        path,
        stats,
        size["thetas"],
        seeds,
        lambda s: shuffled(*budget, s),
        score,
        recipe,
        calibration=batches,
        methods=methods,
        validation=lambda: shuffled(*picked, 0, 512),  # finetune --val: the best epoch and the start
        progress=progress,
        shard=shard,
    )
    counts = {
        "calibration": next(iter(stats.stats.values())).count,
        "train": len(budget[0]),
        "validation": len(picked[0]),
        "eval": len(held[0]),
    }
    return rows, counts


def part(mode: Mode) -> dict:
    size = SIZES[mode.name]
    steps = -(-(size["budget"] or 22_160) // RECIPE["batch"])
    recipe = dict(
        epochs=RECIPE["epochs"],
        learning_rate=RECIPE["learning_rate"],
        schedule="cosine",
        steps_per_epoch=steps,
        alpha=RECIPE["alpha"],
    )
    methods = [m for m in compare.METHODS if m not in SKIPPED]
    progress = None if mode.quick else Progress("audioset", (MODEL.read_bytes(), size, recipe, methods))
    rows, counts = compare_on_audioset(MODEL, size, recipe, methods, size["seeds"], progress, mode.shard)
    if rows is None:  # another shard's rows are still running: the last shard to end saves the part
        return {}
    result = {"size": size, "clips": counts, "recipe": RECIPE, "rows": rows}
    save(mode, "audioset", result)
    return result
