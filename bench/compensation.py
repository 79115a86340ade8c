"""GAP@20 right after the cut: removed units as 0, as their mean, or with their consumers refitted.

The sample model, statistics from sample_models/calibration.tfrecord, evaluation on AudioSet eval-00001.
No fine-tuning: this part measures the cut alone.
"""

from __future__ import annotations

from .common import AUDIOSET, SAMPLE, Mode, log, save

THETAS = {"quick": (0.7,), "full": (0.3, 0.5, 0.7)}


def part(mode: Mode) -> dict:
    from lstmprune_cli.core.plan import PlanSpec
    from lstmprune_cli.core.schema import Options
    from lstmprune_cli.framework import jobs, models, recover
    from lstmprune_cli.framework.pruning import Planner, cut
    from lstmprune_cli.framework.refit import refit
    from lstmprune_cli.framework.train import evaluate

    path = SAMPLE / "audioset_lstm.keras"
    statistics = jobs.analyze(path, str(SAMPLE / "calibration.tfrecord")).statistics
    model = models.load_model(path)
    evaluation = str(AUDIOSET / "eval-00001-of-00004.tfrecord")
    task, _, stream = recover.training_streams(model, evaluation, Options(), 256, None, "auto")
    rows = [{"theta": 0.0, "criterion": None, "compensate": None, **evaluate(model, stream(), task).metrics}]
    planner = Planner(model, statistics)
    batches = jobs.calibration(model, str(SAMPLE / "calibration.tfrecord"), max_samples=jobs.REFIT_SAMPLES)
    for theta in THETAS[mode.name]:
        for criterion in ("gm", "l2"):
            for compensate in ("none", "mean", "refit"):
                plan = planner.plan(PlanSpec(theta, criterion=criterion, compensate=compensate))
                pruned = cut(model, plan)
                if compensate == "refit":
                    refit(model, pruned, plan, batches)
                found = evaluate(pruned, stream(), task).metrics
                rows.append({"theta": theta, "criterion": criterion, "compensate": compensate, **found})
                log("compensation", theta, criterion, compensate, found)
    result = {"evaluation": evaluation, "rows": rows}
    save(mode, "compensation", result)
    return result
