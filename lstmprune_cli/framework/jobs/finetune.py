"""finetune: recover accuracy after the cut, from the better start, and keep the best epoch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ...core import checks
from ...core.errors import LstmpruneError
from ...core.files import refuse_existing
from ...core.plan import Plan
from ...core.schema import Options
from ...core.training import Training
from .. import data, models
from ..data.stream import Stream
from ..prune.planner import cut
from ..surgery.groups import model_groups
from .display import QUIET, Display

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
    notes: list[str] = field(default_factory=list)  # for after success (the CLI prints them)
    model: str = ""  # the model trained, as given

    def trials(self) -> dict:
        """The trial of each start (the first batches of epoch 1), when finetune tried both."""
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
    from ..models.tasks import task_of

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
    training: Training = Training(),
    options: Options | None = None,
    validation: str | None = None,
    teacher_path: Path | None = None,
    rewind: tuple[Path, Path] | None = None,
    start: str = "auto",
    backup_dir: Path | None = None,
    force: bool = False,
    display: Display = QUIET,
) -> FinetuneJob:
    """Recover accuracy after the cut: train the pruned model, keep its best epoch, write it to `out`.

    rewind: (original model, plan). When the plan refitted the consumers, the plan's cut of the original
    (the kept units' own weights, the removed units' means in the biases) is another start: with enough
    training it ends better than the refitted weights (docs/benchmarks.md). start: "rewound" trains it,
    "pruned" the file as given, "auto" the first batches from both and goes on with the lower validation loss,
    the trial counted in the epochs (core.training.trial_budget; without validation data: rewound).
    training.strategy: none, mirrored (the devices of this machine) or multi-worker (TF_CONFIG; each worker reads
    its shard of the records, the chief writes `out`). backup_dir: the state after every epoch, resumed from.
    """
    import keras

    from ..train.distribute import Backup, strategy_of, worker
    from ..train.loop import check_training, evaluate, fit

    t = training
    options = options or Options()
    checks.choice(start, STARTS, "start")
    check_training(learning_rate=t.learning_rate, seed=t.seed)
    index, workers = worker() if t.strategy == "multi-worker" else (0, 1)
    chief = index == 0
    if t.strategy == "multi-worker":
        if options.shard != (0, 1):
            raise LstmpruneError("--strategy multi-worker shards the records by worker; drop --shard", option="shard")
        options = Options(**{**options.__dict__, "shard": (index, workers)})
        backup_dir = backup_dir / f"worker-{index}" if backup_dir is not None else None
    if chief:
        refuse_existing(out, force)
    distribution = strategy_of(t.strategy)  # before any other TensorFlow work, as MultiWorkerMirroredStrategy asks
    keras.utils.set_random_seed(t.seed)
    loss = t.loss
    if loss == "auto":  # the original's compile settings, where they are known
        loss = next((found for p in (model_path, teacher_path) if p and (found := models.compiled_loss(p))), "auto")
    given = models.load_model(model_path)
    backup = None
    if backup_dir is not None:
        same = {"model": models.fingerprint(given), "data": str(data_spec), "optimizer": t.optimizer, "seed": t.seed}
        same |= {"learning_rate": t.learning_rate, "batch_size": t.batch_size, "start": start, "workers": workers}
        backup = Backup(backup_dir, run=same, epochs=t.epochs)
    rewound = rewound_start(given, *rewind) if rewind is not None and start != "pruned" else None
    model, starts = training_start(given, rewound, start, judged=validation is not None)

    task, schema, train, val, teacher = training_inputs(
        model, data_spec, options, validation, t.batch_size, t.max_samples, loss, teacher_path
    )
    before = evaluate(given, val(), task) if val else None
    steps = -(-min(schema.records, t.max_samples or schema.records) // t.batch_size)
    common = _common_steps(schema.records, t.batch_size, t.max_samples, workers) if workers > 1 else None
    result = fit(
        model,
        train,
        task,
        epochs=t.epochs,
        learning_rate=t.learning_rate,
        optimizer=t.optimizer,
        schedule=t.schedule,
        steps_per_epoch=steps,
        teacher=teacher,
        alpha=t.alpha,
        validation=val,
        patience=t.patience,
        on_epoch=display.epoch,
        wrap=display.epochs(),
        starts=starts,
        strategy=distribution,
        backup=backup,
        steps_per_worker=common,
    )
    if backup is not None:
        backup.clear()  # done: a later run starts afresh
    kept_given = before is not None and min(e.validation.loss for e in result.epochs) > before.loss
    if kept_given:  # training did not beat the model as it came on the validation data: it is kept as it was
        model = given
    if not chief:  # the chief writes the model; the other workers trained the same weights
        return FinetuneJob(result, task.kind, "", "", before, None, "pruned", kept_given, strategy=t.strategy)
    taught = teacher_path and models.compiled_setting(teacher_path)
    kind = models.save_model(model, out, force, **models.saved_like(model_path, loss=taught or task.loss or loss))
    teacher = None if teacher_path is None else str(teacher_path)
    chosen = "pruned" if rewound is None or result.start == 1 else "rewound"
    return FinetuneJob(result, task.kind, str(out), kind, before, teacher, chosen, kept_given, strategy=t.strategy)


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


def run(
    model: Path | None,
    *,
    workspace: Path,
    data: str,
    training: Training,
    options: Options,
    validation: str | None = None,
    out: Path | None = None,
    teacher: Path | None = None,
    start: str = "auto",
    backup_dir: Path | None = None,
    force: bool = False,
    display: Display = QUIET,
) -> FinetuneJob:
    """finetune as the CLI runs it: the workspace's pruned model, distilled from its original, rewound to the
    plan's cut of it when that trains better; the notes for after success go in the record."""
    from ...core.files import check_output
    from ...core.workspace import Workspace
    from .. import import_tensorflow

    if not data:
        raise LstmpruneError("no training data; pass --data DATA (a TFRecord file, directory or glob)")
    training.check()
    ws = Workspace.open(workspace)
    model = model or Path(ws.require("pruned"))
    rewind = ws.rewind_of(model)
    derived = ws.derived(model)
    notes = []  # printed once the run succeeds: a failure is one line
    if training.distill and teacher is None and ws.model and not derived:
        notes.append(
            f"{model} is not the workspace's pruned model, so its original is unknown: no teacher "
            "(pass --teacher ORIGINAL to distil)"
        )
    teacher = (teacher or (Path(ws.model) if derived else None)) if training.distill else None
    out = out or models.default_output(model, "finetuned")
    check_output(out, force=force, models=[model, teacher], reads=[data, validation], workspace=ws.root)
    if backup_dir is not None:
        if backup_dir.exists() and not backup_dir.is_dir():
            raise LstmpruneError(f"--backup-dir {backup_dir} is a file; expected a folder (created when missing)")
        guard = dict(models=[model, teacher], reads=[data, validation], workspace=ws.root, flag="--backup-dir")
        check_output(backup_dir, force=True, **guard)
    import_tensorflow()
    job = finetune(
        model,
        data,
        out,
        training=training,
        options=options,
        validation=validation,
        teacher_path=teacher,
        rewind=rewind,
        start=start,
        backup_dir=backup_dir,
        force=force,
        display=display,
    )
    if job.out:  # a worker other than the chief: the chief writes the model and the workspace
        ws.finetuned_to(job.out)
        ws.save()
    job.notes, job.model = notes, str(model)
    return job
