"""sweep: prune at many thetas as prune does, score and time every point side by side."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ...core import checks
from ...core.errors import LstmpruneError
from ...core.plan import Plan, PlanSpec
from ...core.schema import Options
from ...core.statsfile import Statistics
from ...core.training import Training
from .. import models
from ..data.calibration import lazy_calibration
from ..models import costs
from ..models.layers import sequence_length
from ..prune.planner import REFIT_SAMPLES, Planner, cut, cut_and_refit, plan_of
from .display import QUIET, Display
from .finetune import training_start, training_streams


@dataclass
class SweepPoint:
    """One model of a sweep: its theta (0: the original), kept units, size, cost and metrics."""

    theta: float
    kept: dict[str, int]
    params: int
    flops_per_step: int
    latency_ms: float = 0.0
    metrics: dict[str, float] | None = None


@dataclass
class SweepResult:
    """The original and every pruned point, timed side by side at `latency_batch`."""

    base: SweepPoint
    points: list[SweepPoint]
    latency_batch: int
    chosen: float | None = None  # the theta a budget chose (prune --max-drop and the like), marked on the plot

    def to_dict(self) -> dict:
        return {
            "original": asdict(self.base),
            "points": [asdict(p) for p in self.points],
            "latency_batch": self.latency_batch,
            "chosen": self.chosen,
        }


def sweep(
    model_path: Path,
    statistics: Statistics,
    specs: list[PlanSpec],
    *,
    eval_spec: str | None = None,
    train_spec: str | None = None,
    training: Training = Training(epochs=0),
    options: Options | None = None,
    latency_batch: int = 64,
    data_spec: str | None = None,
    data_options: Options | None = None,
    samples: int = REFIT_SAMPLES,
    display: Display = QUIET,
) -> SweepResult:
    """Prune by every spec as `prune` does (fine-tune briefly when asked, as `finetune` does without --val),
    evaluate, and time all models side by side. data_spec: the calibration data of refits and measured
    allocations."""
    from ..models.tasks import losses
    from ..train.loop import evaluate, fit

    epochs, batch_size, max_samples, loss = training.epochs, training.batch_size, training.max_samples, training.loss
    checks.choice(loss, losses(), "loss")
    if epochs < 0:
        raise LstmpruneError(f"epochs must be at least 0; received {epochs}", option="epochs")
    options = options or Options()
    model = models.load_model(model_path)
    planner = Planner(model, statistics)
    length = sequence_length(model)

    def measure_point(theta: float, m, plan: Plan | None) -> SweepPoint:
        kept = {g.name: g.num_kept for g in plan.groups} if plan else {g.name: g.units for g in planner.groups}
        return SweepPoint(theta, kept, m.count_params(), costs.flops(m, length)["per_step"])

    def scored(point: SweepPoint, m) -> SweepPoint:
        if eval_spec is not None:
            task, _, stream = training_streams(m, eval_spec, options, batch_size, max_samples, loss)
            e = evaluate(m, stream(), task)
            point.metrics = {"loss": e.loss, **e.metrics}
        return point

    base = scored(measure_point(0.0, model, None), model)
    pruned_models, points = [], []
    batches = lazy_calibration(model, data_spec, data_options, samples)
    for spec in specs:
        plan = plan_of(model, statistics, spec, batches, samples)
        pruned = cut_and_refit(model, plan, batches, samples)
        if epochs and train_spec:
            rewound = cut(model, plan) if plan.extra.get("compensate") == "refit" else None
            pruned, starts = training_start(pruned, rewound, "auto", judged=False)
            task, _, train = training_streams(pruned, train_spec, options, batch_size, max_samples, loss)
            fit(pruned, train, task, epochs=epochs, teacher=model, starts=starts)
        point = scored(measure_point(spec.theta, pruned, plan), pruned)

        points.append(point)
        pruned_models.append(pruned)
        if display.point:
            display.point(point)
    times = costs.latency([model, *pruned_models], length, batch=latency_batch)
    base.latency_ms = times[0]
    for p, t in zip(points, times[1:]):
        p.latency_ms = t
    return SweepResult(base, points, latency_batch)


def run(
    *,
    workspace: Path,
    thetas: list[float],
    training: Training,
    eval_data: str | None = None,
    train_data: str | None = None,
    model: Path | None = None,
    min_units: int = 1,
    budget: str = "units",
    data: str | None = None,
    refit_samples: int = REFIT_SAMPLES,
    plot: Path | None = None,
    vocab: Path | None = None,
    force: bool = False,
    display: Display = QUIET,
    **flags,
) -> tuple[SweepResult, Path, list[str]]:
    """sweep as the CLI runs it on a workspace: (the result, its plot, notes for after success); flags: paper,
    allocate, target, criterion, compensate, as prune takes them."""
    from ...core.files import check_output
    from ...core.recipe import for_cut
    from ...core.workspace import Workspace
    from .. import import_tensorflow
    from .plots import sweep_plot

    training.check(fewest_epochs=0)
    ws = Workspace.open(workspace)
    recipe, notes = for_cut(flags, ws.calibration_known(data))
    specs = [recipe.spec(t, min_units=min_units, budget=budget) for t in thetas]
    model = model or Path(ws.require("model"))
    statistics = Statistics.load(Path(ws.require("stats")))
    plot = plot or ws.root / "sweep.png"
    calibration = ws.calibration(data)
    reads = [eval_data, train_data, ws.stats, calibration]
    check_output(plot, force=force or plot == ws.root / "sweep.png", models=[model], reads=reads, flag="--plot")
    import_tensorflow()
    result = sweep(
        model,
        statistics,
        specs,
        eval_spec=eval_data,
        train_spec=train_data,
        training=training,
        options=Options(vocab=None if vocab is None else str(vocab)),
        data_spec=calibration,
        data_options=ws.calibration_options(data),
        samples=refit_samples,
        display=display,
    )
    searched = Plan.load(ws.plan_path).extra.get("search") if ws.plan and ws.plan_path.exists() else None
    result.chosen = searched["theta"] if searched else None
    sweep_plot(result, plot, chosen=result.chosen)
    return result, plot, notes
