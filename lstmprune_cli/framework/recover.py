"""The verbs that recover and prove: finetune, report and sweep, as library calls returning records."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core import checks
from ..core.errors import LstmpruneError
from ..core.files import refuse_existing
from ..core.plan import Plan, PlanSpec
from ..core.schema import Options
from ..core.statsfile import Statistics
from . import data, measure, models
from .graph import unit_groups
from .jobs import REFIT_SAMPLES, _length, cut_and_refit, lazy_calibration, plan_of
from .pruning import Planner, cut, model_groups
from .report import save_figure
from .stream import Stream

STARTS = ("auto", "rewound", "pruned")


@dataclass
class FinetuneJob:
    result: object  # train.FinetuneResult
    task: str
    out: str
    kind: str
    before: object | None = None  # train.Evaluation of the model as it came (the file), on the validation data
    teacher: str | None = None
    start: str = "pruned"  # "rewound": the plan's cut of the original, not the refitted weights
    kept_given: bool = False  # no epoch beat the model as it came on the validation data; it was written unchanged
    strategy: str = "none"

    def trials(self) -> dict:
        """Epoch 1 from each start, when finetune tried both."""
        found = self.result.trials
        return dict(zip(("rewound", "pruned"), (e.to_dict() for e in found))) if len(found) > 1 else {}

    def to_dict(self) -> dict:
        return {
            "out": self.out,
            "start": self.start,
            "kept_given": self.kept_given,
            "strategy": self.strategy,
            "resumed_from_epoch": self.result.resumed_from,
            "trials": self.trials(),
            "format": self.kind,
            "task": self.task,
            "teacher": self.teacher,
            "best_epoch": self.result.best_epoch,
            "stopped_early": self.result.stopped_early,
            "before": None if self.before is None else self.before.to_dict(),
            "epochs": [e.to_dict() for e in self.result.epochs],
        }


def training_streams(model, data_spec: str, options: Options, batch_size: int, max_samples: int | None, loss: str):
    """The task of `model` and a factory of (x, y) batches over `data_spec`."""
    from .train import task_of

    spec = data.InputSpec.of(model)
    schema = data.resolve(data_spec, options, spec)
    task = task_of(model, schema.source == "text", loss)
    if task.kind == "lm" and schema.source != "text":
        raise LstmpruneError(
            "language-model targets come from a text corpus with vocab; the data is not text", option="vocab"
        )
    make = lambda: Stream(schema, spec.length, batch_size, max_samples, classes=task.classes)  # noqa: E731
    make()  # checks the batch settings now, before any model runs
    return task, schema, make


def finetune(
    model_path: Path,
    data_spec: str,
    out: Path,
    *,
    options: Options | None = None,
    validation: str | None = None,
    teacher_path: Path | None = None,
    epochs: int = 3,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    optimizer: str = "adam",
    schedule: str = "constant",
    alpha: float = 0.5,
    patience: int = 2,
    loss: str = "auto",
    max_samples: int | None = None,
    force: bool = False,
    seed: int = 0,
    rewind: tuple[Path, Path] | None = None,
    start: str = "auto",
    strategy: str = "none",
    backup_dir: Path | None = None,
    wrap=lambda it, epoch: it,
    on_epoch=None,
) -> FinetuneJob:
    """Recover accuracy after the cut: train the pruned model, keep its best epoch, write it to `out`.

    rewind: (original model, plan). When the plan refitted the consumers, the plan's cut of the original
    (the kept units' own weights, the removed units' means in the biases) is another start: with enough
    training it ends better than the refitted weights (docs/benchmarks.md). start: "rewound" trains it,
    "pruned" the file as given, "auto" the first epoch from both and goes on with the lower validation loss
    (without validation data: rewound).
    strategy: none, mirrored (the devices of this machine) or multi-worker (TF_CONFIG; each worker reads its
    shard of the records, the chief writes `out`). backup_dir: the state after every epoch, resumed from.
    """
    import keras

    from .distribute import Backup, strategy_of, worker
    from .train import check_training, evaluate
    from .train import finetune as run

    options = options or Options()
    checks.choice(start, STARTS, "start")
    check_training(learning_rate=learning_rate, seed=seed)
    index, workers = worker() if strategy == "multi-worker" else (0, 1)
    chief = index == 0
    if strategy == "multi-worker":
        if options.shard != (0, 1):
            raise LstmpruneError("--strategy multi-worker shards the records by worker; drop --shard", option="shard")
        options = Options(**{**options.__dict__, "shard": (index, workers)})
        backup_dir = backup_dir / f"worker-{index}" if backup_dir is not None else None
    if chief:
        refuse_existing(out, force)
    distribution = strategy_of(strategy)  # before any other TensorFlow work, as MultiWorkerMirroredStrategy asks
    keras.utils.set_random_seed(seed)
    if loss == "auto":  # the original's compile settings, where they are known
        loss = next((found for p in (model_path, teacher_path) if p and (found := models.compiled_loss(p))), "auto")
    given = models.load_model(model_path)
    backup = None
    if backup_dir is not None:
        same = {"model": models.fingerprint(given), "data": str(data_spec), "optimizer": optimizer, "seed": seed}
        same |= {"learning_rate": learning_rate, "batch_size": batch_size, "start": start, "workers": workers}
        backup = Backup(backup_dir, run=same, epochs=epochs)
    rewound = rewound_start(given, *rewind) if rewind is not None and start != "pruned" else None
    model, starts = training_start(given, rewound, start, judged=validation is not None)

    task, schema, train, val, teacher = training_inputs(
        model, data_spec, options, validation, batch_size, max_samples, loss, teacher_path
    )
    before = evaluate(given, val(), task) if val else None
    steps = -(-min(schema.records, max_samples or schema.records) // batch_size)
    result = run(
        model,
        train,
        task,
        epochs=epochs,
        learning_rate=learning_rate,
        optimizer=optimizer,
        schedule=schedule,
        steps_per_epoch=steps,
        teacher=teacher,
        alpha=alpha,
        validation=val,
        patience=patience,
        on_epoch=on_epoch,
        wrap=wrap,
        starts=starts,
        strategy=distribution,
        backup=backup,
        steps_per_worker=_common_steps(schema.records, batch_size, max_samples, workers) if workers > 1 else None,
    )
    if backup is not None:
        backup.clear()  # done: a later run starts afresh
    kept_given = before is not None and min(e.validation.loss for e in result.epochs) > before.loss
    if kept_given:  # training did not beat the model as it came on the validation data: it is kept as it was
        model = given
    if not chief:  # the chief writes the model; the other workers trained the same weights
        return FinetuneJob(result, task.kind, "", "", before, None, "pruned", kept_given, strategy=strategy)
    setting = models.compiled_setting(model_path) or (teacher_path and models.compiled_setting(teacher_path))
    like = dict(reader=models.reader_of(model_path), loss=setting or task.loss or loss)
    kind = models.save_model(model, out, force, **like)
    teacher = None if teacher_path is None else str(teacher_path)
    chosen = "pruned" if rewound is None or result.start == 1 else "rewound"
    return FinetuneJob(result, task.kind, str(out), kind, before, teacher, chosen, kept_given, strategy=strategy)


def training_inputs(model, data_spec, options: Options, validation, batch_size, max_samples, loss, teacher_path):
    """(task, schema, training batches, validation batches or None, teacher or None) of a training verb; the
    validation data is read whole on every worker."""
    task, schema, train = training_streams(model, data_spec, options, batch_size, max_samples, loss)
    val = None
    if validation is not None:
        plain = Options(**{**options.__dict__, "shard": (0, 1)})
        _, _, val = training_streams(model, validation, plain, batch_size, None, loss)
    teacher = models.load_model(teacher_path) if teacher_path is not None else None
    if teacher is not None and tuple(teacher.outputs[0].shape) != tuple(model.outputs[0].shape):
        raise LstmpruneError(f"the teacher's output {tuple(teacher.outputs[0].shape)} differs from the model's")
    return task, schema, train, val, teacher


def _common_steps(records: int, batch_size: int, max_samples: int | None, workers: int) -> int:
    """Steps every worker can take per epoch: the smallest shard's full batches (a shard's tail beyond them is
    left out of that epoch, at most one batch per worker)."""
    smallest = min(records, max_samples or records) // workers
    return max(1, smallest // batch_size)


def training_start(given, rewound, start: str, *, judged: bool) -> tuple[object, list]:
    """The model training begins from and the other weights its first epoch also tries (`finetune --start`).

    given: the pruned model as it came; rewound: the plan's cut of the original, or None when the plan did not
    refit. auto tries both only where validation data can judge them: on the training clips the refitted start
    looked better while it was already behind on held-out clips (docs/benchmarks.md); unjudged, it is rewound.
    """
    if rewound is None or start == "pruned":
        return given, []
    return rewound, [given.get_weights()] if start == "auto" and judged else []


def rewound_start(pruned, original_path: Path, plan_path: Path):
    """The plan's cut of the original with mean compensation, if the plan refitted and describes `pruned`."""
    plan = Plan.load(plan_path)
    if plan.extra.get("compensate") != "refit":
        return None
    original = models.load_model(original_path)
    plan.check_matches(models.fingerprint(original), model_groups(original))
    start = cut(original, plan)
    shapes = [w.shape for w in start.get_weights()]
    if shapes != [w.shape for w in pruned.get_weights()]:
        raise LstmpruneError(f"the workspace's plan {plan_path} does not describe this model; pass --start pruned")
    return start


@dataclass
class ReportJob:
    costs: dict  # name -> report.ModelCost
    groups: list[dict]
    plan: Plan | None
    plots: list[str]
    task: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "models": {n: asdict(c) for n, c in self.costs.items()},
            "groups": self.groups,
            "plan": None if self.plan is None else {k: v for k, v in self.plan.to_dict().items() if k != "groups"},
            "task": self.task,
            "plots": self.plots,
        }


def report(
    paths: dict[str, Path],
    statistics: Statistics | None,
    plan: Plan | None,
    *,
    eval_spec: str | None = None,
    options: Options | None = None,
    batch_size: int = 64,
    max_samples: int | None = None,
    loss: str = "auto",
    tflite: bool = False,
    plot_dir: Path | None = None,
) -> ReportJob:
    """Costs of every model side by side, metrics on evaluation data, and the energy plot."""
    from ..core.summary import group_rows
    from .report import costs, energy_plot, sensitivity_plot
    from .train import LOSSES, evaluate

    checks.choice(loss, LOSSES, "loss")

    loaded, records = costs(paths, None, tflite=tflite)
    if "original" in loaded:
        for name, m in loaded.items():
            why = unrelated(loaded["original"], m)
            if name != "original" and why:
                raise LstmpruneError(
                    f"the {name} model {paths[name]} is not a cut of the original {paths['original']} ({why}); "
                    "report sets a model beside its own original: pass --original"
                )
    notes = []
    if plan is not None and "pruned" in loaded:
        have = {g.name: g.units for g in unit_groups(loaded["pruned"])}
        if have != {g.name: g.num_kept for g in plan.groups}:
            notes.append("the plan does not describe the pruned model (other kept counts); it is not shown")
            plan = None
    task = None
    if eval_spec is not None:
        for name, m in loaded.items():
            found, _, stream = training_streams(m, eval_spec, options or Options(), batch_size, max_samples, loss)
            task = found.kind
            e = evaluate(m, stream(), found)
            records[name].metrics = {"loss": e.loss, **e.metrics}
    plots = []
    if statistics is not None and plot_dir is not None:
        plot_dir.mkdir(parents=True, exist_ok=True)
        plots.append(str(energy_plot(statistics, plan, plot_dir / "energy.png")))
    if plan is not None and plot_dir is not None and "curves" in plan.extra.get("allocation", {}):
        plot_dir.mkdir(parents=True, exist_ok=True)
        plots.append(str(sensitivity_plot(plan, plot_dir / "sensitivity.png")))
    rows = group_rows(statistics, plan) if (statistics is not None or plan is not None) else []
    return ReportJob(records, rows, plan, plots, task, notes)


def unrelated(original, other) -> str | None:
    """Why `other` cannot be a cut of `original` (other recurrent layers, a larger group, another output), or None."""
    mine = {g.name: g for g in unit_groups(original)}
    theirs = {g.name: g for g in unit_groups(other)}
    if set(mine) != set(theirs):
        return f"recurrent groups {sorted(theirs)}, not {sorted(mine)}"
    for name, g in theirs.items():
        if g.cell != mine[name].cell or g.units > mine[name].units:
            return f"group {name} is {g.cell} {g.units}, the original's {mine[name].cell} {mine[name].units}"
    if [tuple(o.shape) for o in other.outputs] != [tuple(o.shape) for o in original.outputs]:
        return "another output shape"
    return None


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

    def to_dict(self) -> dict:
        return {
            "original": asdict(self.base),
            "points": [asdict(p) for p in self.points],
            "latency_batch": self.latency_batch,
        }


def sweep(
    model_path: Path,
    statistics: Statistics,
    specs: list[PlanSpec],
    *,
    eval_spec: str | None = None,
    train_spec: str | None = None,
    epochs: int = 0,
    options: Options | None = None,
    batch_size: int = 64,
    max_samples: int | None = None,
    loss: str = "auto",
    latency_batch: int = 64,
    data_spec: str | None = None,
    data_options: Options | None = None,
    samples: int = REFIT_SAMPLES,
    on_point=None,
) -> SweepResult:
    """Prune by every spec as `prune` does (fine-tune briefly when asked, as `finetune` does without --val),
    evaluate, and time all models side by side. data_spec: the calibration data of refits and measured
    allocations."""
    from .train import LOSSES, evaluate
    from .train import finetune as run

    checks.choice(loss, LOSSES, "loss")
    if epochs < 0:
        raise LstmpruneError(f"epochs must be at least 0; received {epochs}", option="epochs")
    options = options or Options()
    model = models.load_model(model_path)
    planner = Planner(model, statistics)
    length = _length(model)

    def measure_point(theta: float, m, plan: Plan | None) -> SweepPoint:
        kept = {g.name: g.num_kept for g in plan.groups} if plan else {g.name: g.units for g in planner.groups}
        return SweepPoint(theta, kept, m.count_params(), measure.flops(m, length)["per_step"])

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
            run(pruned, train, task, epochs=epochs, teacher=model, starts=starts)
        point = scored(measure_point(spec.theta, pruned, plan), pruned)

        points.append(point)
        pruned_models.append(pruned)
        if on_point:
            on_point(point)
    times = measure.latency([model, *pruned_models], length, batch=latency_batch)
    base.latency_ms = times[0]
    for p, t in zip(points, times[1:]):
        p.latency_ms = t
    return SweepResult(base, points, latency_batch)


def sweep_plot(result: SweepResult, path: Path) -> Path:
    """Metric against theta and latency against theta, side by side."""
    base, points = result.base, result.points
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    thetas = [0.0] + [p.theta for p in points]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    if base.metrics:
        for key in base.metrics:
            if key == "loss":
                continue
            axes[0].plot(thetas, [base.metrics[key]] + [p.metrics[key] for p in points], "o-", label=key)
        axes[0].set_ylabel("metric on the evaluation data")
        axes[0].legend(fontsize=8)
    axes[0].set_xlabel("theta")
    axes[1].plot(thetas, [base.latency_ms] + [p.latency_ms for p in points], "o-", label="measured")
    axes[1].set_xlabel("theta")
    axes[1].set_ylabel(f"CPU latency, batch {result.latency_batch} (ms)")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
    return path
