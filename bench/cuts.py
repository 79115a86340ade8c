"""Right after the cut, no fine-tuning: allocation x criterion x compensation on the sample model.

Statistics and refits from sample_models/calibration.tfrecord (AudioSet eval-00000), GAP@20 and mAP on
eval-00001. Each row also records the seconds its cut took (plan, measured allocation, refit).
"""

from __future__ import annotations

import time

from .common import AUDIOSET, SAMPLE, Mode, log, save

THETAS = {"quick": (0.7,), "full": (0.5, 0.7, 0.9)}
RECIPES = [  # (allocation, criterion, compensation)
    *[(a, c, m) for a in ("units", "uniform") for c in ("gm", "l2", "obs") for m in ("none", "mean", "refit")],
    *[(a, "gm", m) for a in ("sensitivity", "controller") for m in ("mean", "refit")],
]


def part(mode: Mode) -> dict:
    from lstmprune_cli.core.plan import MEASURING, PlanSpec
    from lstmprune_cli.core.schema import Options
    from lstmprune_cli.framework import jobs, models
    from lstmprune_cli.framework.data import calibration as calibration_batches
    from lstmprune_cli.framework.data import first_sequences
    from lstmprune_cli.framework.jobs.finetune import training_streams
    from lstmprune_cli.framework.prune import REFIT_SAMPLES
    from lstmprune_cli.framework.prune.planner import Planner, cut
    from lstmprune_cli.framework.prune.refit import refit
    from lstmprune_cli.framework.train.loop import evaluate

    path = SAMPLE / "audioset_lstm.keras"
    calibration = str(SAMPLE / "calibration.tfrecord")
    statistics = jobs.analyze.analyze(path, calibration).statistics
    model = models.load_model(path)
    evaluation = str(AUDIOSET / "eval-00001-of-00004.tfrecord")
    task, _, stream = training_streams(model, evaluation, Options(), 256, None, "auto")
    rows = [{"theta": 0.0, "allocation": None, "criterion": None, "compensate": None}]
    rows[0].update(evaluate(model, stream(), task).metrics)
    planner = Planner(model, statistics)
    batches = calibration_batches(model, calibration, max_samples=REFIT_SAMPLES)
    sample = first_sequences(batches, REFIT_SAMPLES)
    half = len(sample) // 2
    for theta in THETAS[mode.name]:
        for allocation, criterion, compensate in RECIPES:
            start = time.perf_counter()
            spec = PlanSpec(theta, allocation, criterion, compensate=compensate)
            measure = planner.output_loss(spec, sample[half:], sample[:half]) if allocation in MEASURING else None
            plan = planner.plan(spec, measure=measure)
            pruned = cut(model, plan)
            if compensate == "refit":
                refit(model, pruned, plan, batches)
            seconds = time.perf_counter() - start
            found = evaluate(pruned, stream(), task).metrics
            kept = {g.name: g.num_kept for g in plan.groups}
            rows.append(
                {
                    "theta": theta,
                    "allocation": allocation,
                    "criterion": criterion,
                    "compensate": compensate,
                    "kept": kept,
                    "seconds": seconds,
                    "evaluations": plan.extra.get("allocation", {}).get("evaluations", 0),
                    **found,
                }
            )
            log("cuts", theta, allocation, criterion, compensate, kept, found, f"{seconds:.0f} s")
    result = {"evaluation": evaluation, "rows": rows}
    save(mode, "cuts", result)
    return result
