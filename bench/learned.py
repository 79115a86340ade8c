"""Part: structures learned while training (ISS-L0, ISS-GL, soft GM) on the AudioSet sample.

Each method trains the shipped sample with `lstmprune learn` for LEARN epochs, is cut, then fine-tuned
like every row of part 1 for TUNE more epochs: the same total budget in epochs as part 1's one-shot cuts
(cut, then AudioSet RECIPE epochs), with the same data, validation, teacher and schedule.
"""

from __future__ import annotations

import time

from . import audioset
from .common import AUDIOSET, Mode, log, save, shuffled

LEARN, TUNE = 2, 3  # epochs of learning the structure, then of fine-tuning the cut: part 1's 5 in all
METHODS = ("l0", "group-lasso", "soft-gm")
SIZES = {
    "quick": dict(budget=1000, evaluate=2000, thetas=(0.7,), seeds=(0,)),
    "full": dict(budget=8000, evaluate=None, thetas=(0.5, 0.7), seeds=(0, 1, 2)),
}


def part(mode: Mode) -> dict:
    from lstmprune_cli.framework import jobs, models
    from lstmprune_cli.framework.data.calibration import inputs_of
    from lstmprune_cli.framework.models.tasks import Task
    from lstmprune_cli.framework.prune.planner import REFIT_SAMPLES
    from lstmprune_cli.framework.train import learners
    from lstmprune_cli.framework.train.learners import learn
    from lstmprune_cli.framework.train.loop import evaluate, fit

    size = SIZES[mode.name]
    assert LEARN + TUNE == audioset.RECIPE["epochs"], "the learned rows get part 1's budget"
    calibration = AUDIOSET / "eval-00000-of-00004.tfrecord"
    stats = jobs.analyze.analyze(audioset.MODEL, str(calibration), batch_size=64).statistics  # soft-gm's rates
    budget = audioset.clips("bal_train-*", size["budget"])
    held = audioset.clips("eval-0000[1-3]-*", size["evaluate"])
    picked = audioset.validation_clips()
    task = Task("multilabel", 527)
    steps = -(-len(budget[0]) // audioset.RECIPE["batch"])
    teacher = models.load_model(audioset.MODEL)
    common = dict(learning_rate=audioset.RECIPE["learning_rate"], schedule="cosine", teacher=teacher)
    common["alpha"] = audioset.RECIPE["alpha"]

    def score(model) -> dict:
        found = evaluate(model, shuffled(*held, 0, 512), task).metrics
        return {"gap@20": found["gap@20"], "map": found["map"]}

    rows = []
    for theta in size["thetas"]:
        for method in METHODS:
            for seed in size["seeds"]:
                model = models.load_model(audioset.MODEL)
                start = time.perf_counter()
                found = learn(
                    model,
                    method,
                    lambda s=seed: shuffled(*budget, s),
                    task,
                    theta=theta,
                    statistics=stats,
                    epochs=LEARN,
                    steps_per_epoch=steps,
                    seed=seed,
                    compensate="refit",  # as `lstmprune learn` does by default, on the first training clips
                    calibration=inputs_of(lambda s=seed: shuffled(*budget, s), REFIT_SAMPLES),
                    **common,
                )
                learned = time.perf_counter() - start
                cut = score(found.model)
                start = time.perf_counter()
                fit(
                    found.model,
                    lambda s=seed: shuffled(*budget, s),
                    task,
                    epochs=TUNE,
                    steps_per_epoch=steps,
                    validation=lambda: shuffled(*picked, 0, 512),
                    **common,
                )
                tuned = score(found.model)
                row = {
                    "method": method,
                    "theta": theta,
                    "seed": seed,
                    "kept": {g.name: g.num_kept for g in found.plan.groups},
                    "params": found.model.count_params(),
                    "cut": cut,
                    "tuned": tuned,
                    "seconds_per_learning_epoch": learned / LEARN,
                    "seconds_per_tuning_epoch": (time.perf_counter() - start) / TUNE,
                    "exact": found.record["exact"],
                    "removed_alive": found.record["removed_alive"],
                }
                rows.append(row)
                log(method, theta, seed, row["kept"], cut, tuned, f"{learned:.0f} s learning")
    phases = {"learn": learners.LEARN, "close": learners.CLOSE, "compensate": "refit"}  # how the learners ran
    result = {"size": size, "learn_epochs": LEARN, "tune_epochs": TUNE, "phases": phases, "rows": rows}
    result["ptb"] = on_ptb(mode)
    save(mode, "learned", result)
    return result


def on_ptb(mode: Mode) -> dict:
    """The three methods on part 2's language model with part 2's budget: one epoch over its fine-tuning windows,
    all of it learning (soft-gm silences twice: half-way and at the end); perplexity on valid and test."""
    from lstmprune_cli.core.schema import Options
    from lstmprune_cli.framework import jobs, models
    from lstmprune_cli.framework.models.tasks import Task
    from lstmprune_cli.framework.train.learners import learn
    from lstmprune_cli.framework.train.loop import evaluate

    from . import ptb

    size = ptb.SIZES[mode.name]
    path = ptb.base(mode)
    options = Options(vocab=str(ptb.vocabulary()))
    stats = jobs.analyze.analyze(
        path, str(ptb.PTB / "ptb.train.txt"), options, max_samples=size["stats"], every_step=True
    ).statistics
    train = ptb.windows("train")
    budget = train[0][-size["budget"] :], train[1][-size["budget"] :]
    held = {split: ptb.windows(split, size["evaluate"]) for split in ("valid", "test")}
    task = Task("lm", 10_000)
    steps = -(-len(budget[0]) // 64)
    rows = []
    for theta in size["thetas"]:
        for method in METHODS:
            model = models.load_model(path)
            start = time.perf_counter()
            found = learn(
                model,
                method,
                lambda: shuffled(*budget, 0, 64),
                task,
                theta=theta,
                statistics=stats,
                epochs=1,
                steps_per_epoch=steps,
                every=-(-steps // 2),
                learning_rate=1e-3,
            )
            seconds = time.perf_counter() - start
            scored = {
                s: evaluate(found.model, shuffled(*xy, 0, 256), task).metrics["perplexity"] for s, xy in held.items()
            }
            row = {
                "method": method,
                "theta": theta,
                "seed": 0,
                "kept": {g.name: g.num_kept for g in found.plan.groups},
                "params": found.model.count_params(),
                "tuned": scored,
                "seconds_per_learning_epoch": seconds,
                "exact": found.record["exact"],
            }
            rows.append(row)
            log("ptb", method, theta, row["kept"], scored, f"{seconds:.0f} s")
    return {"rows": rows, "budget_windows": len(budget[0])}
