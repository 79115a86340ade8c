"""`lstmprune learn`: train a model while it learns which units to drop, then cut it and write it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ...core import checks
from ...core.errors import LstmpruneError
from ...core.files import refuse_existing
from ...core.plan import Plan, PlanSpec
from ...core.recipe import Recipe, criterion_names
from ...core.schema import Options
from ...core.statsfile import Statistics
from ...core.training import Learning, Training
from .. import models
from ..data.calibration import inputs_of
from ..models import costs
from ..models.layers import sequence_length
from ..prune.planner import REFIT_SAMPLES, make_plan
from ..surgery.groups import model_groups
from ..train.learners import LEARNERS, check_method, soft_spec
from .display import QUIET, Display


@dataclass
class LearnJob:
    plan: Plan
    out: str
    kind: str
    params: tuple[int, int]
    flops: tuple[dict, dict]
    record: dict = field(default_factory=dict)
    after: object | None = None  # train.Evaluation of the cut model on the validation data
    plan_path: str = ""  # where `run` saved the plan

    def to_dict(self) -> dict:
        return {
            "out": self.out,
            "format": self.kind,
            "params": {"before": self.params[0], "after": self.params[1]},
            "flops_per_step": {"before": self.flops[0]["per_step"], "after": self.flops[1]["per_step"]},
            "plan": self.plan.to_dict(),
            "validation": None if self.after is None else self.after.to_dict(),
            **self.record,
        }


def learn(
    model_path: Path,
    data_spec: str,
    out: Path,
    *,
    learning: Learning,
    training: Training = Training(epochs=5, schedule="cosine"),
    spec: PlanSpec | None = None,
    statistics: Statistics | None = None,
    options: Options | None = None,
    validation: str | None = None,
    teacher_path: Path | None = None,
    force: bool = False,
    display: Display = QUIET,
) -> LearnJob:
    """Train the model at `model_path` as `learning` says, cut it, compensate the cut as `prune` does (the first
    training sequences are its calibration data; `learning.compensate` None: refit), write it to `out`.
    `learning.prior` (a criterion, or none): l0 and group-lasso start from its ranking of the units on
    `statistics`. `learning.allocate` (l0, group-lasso): "uniform" cuts every group at theta, the learned scores
    choosing the units; "learned" lets them choose how many too; None: the method's default (`LEARNERS`).
    soft-gm's cut comes from `spec`."""
    import keras

    from ..train.learners import learn as run_learner
    from ..train.loop import check_training, evaluate
    from .finetune import training_inputs

    t = training
    options = options or Options()
    check_training(learning_rate=t.learning_rate, seed=t.seed)
    refuse_existing(out, force)
    keras.utils.set_random_seed(t.seed)
    loss = t.loss
    if loss == "auto":
        loss = models.compiled_loss(model_path) or "auto"
    model = models.load_model(model_path)
    if statistics is not None:
        statistics.check_model(models.fingerprint(model), model_groups(model))
    scores = prior_scores(model, statistics, learning.prior or "none")
    length = sequence_length(model)
    params, flops = model.count_params(), costs.flops(model, length)  # before training changes it in place
    task, schema, train, val, teacher = training_inputs(
        model, data_spec, options, validation, t.batch_size, t.max_samples, loss, teacher_path
    )
    steps = -(-min(schema.records, t.max_samples or schema.records) // t.batch_size)
    found = run_learner(
        model,
        learning.method,
        train,
        task,
        theta=learning.theta,
        budget=learning.budget,
        penalty=learning.penalty,
        min_units=learning.min_units,
        inputs=learning.inputs,
        spec=spec,
        statistics=statistics,
        every=learning.every,
        compensate=learning.compensate or Recipe().compensate,
        calibration=inputs_of(train, REFIT_SAMPLES),
        prior=scores,
        allocation=learning.allocate,
        steps_per_epoch=steps,
        seed=t.seed,
        epochs=t.epochs,
        learning_rate=t.learning_rate,
        schedule=t.schedule,
        teacher=teacher,
        alpha=t.alpha,
        validation=val,  # the best epoch of the cut model's training; none while the structure moves
        at_cut=(lambda cut: evaluate(cut, val(), task).to_dict()) if val else None,
        on_epoch=display.epoch,
        wrap=display.epochs(),
    )
    small = found.model
    kind = models.save_model(small, out, force, **models.saved_like(model_path, loss=task.loss or loss))
    after = evaluate(small, val(), task) if val else None
    return LearnJob(
        plan=found.plan,
        out=str(out),
        kind=kind,
        params=(params, small.count_params()),
        flops=(flops, costs.flops(small, length)),
        record=found.record,
        after=after,
    )


def prior_scores(model, statistics: Statistics | None, prior: str) -> dict | None:
    """The scores criterion `prior` gives every unit on the statistics, by group name (None for "none")."""
    if prior == "none":
        return None
    if statistics is None:
        raise LstmpruneError(f"--prior {prior} ranks the units on the analyzed statistics; run analyze first")
    checks.choice(prior, [*criterion_names(), "none"], "prior")
    plan = make_plan(model, statistics, PlanSpec(0.5, criterion=prior, compensate="none"))
    return {g.name: np.asarray(g.scores) for g in plan.groups if g.scores is not None}


def run(
    *,
    workspace: Path,
    learning: Learning,
    data: str | None,
    training: Training,
    options: Options,
    model: Path | None = None,
    validation: str | None = None,
    out: Path | None = None,
    force: bool = False,
    display: Display = QUIET,
) -> LearnJob:
    """learn as the CLI runs it on a workspace: the analyzed model, its plan and cut model recorded there. The
    prior defaults to the learner's own (LEARNERS) when the workspace's statistics are of the model learned."""
    from ...core.files import check_output
    from ...core.workspace import Workspace
    from .. import import_tensorflow

    method, theta, prior = learning.method, learning.theta, learning.prior
    known = LEARNERS.get(method)
    allocate = learning.allocate
    learned_allocation = allocate if known is not None and not known.statistics else None  # which units, not how many
    cut_flags = learning.criterion is not None or (allocate is not None and learned_allocation is None)
    check_method(
        method,
        theta=theta,
        penalty=learning.penalty,
        cut_flags=cut_flags,
        prior=prior not in (None, "none"),
        allocation=learned_allocation,
    )
    if prior is not None:
        checks.choice(prior, [*criterion_names(), "none"], "prior")
    if not data:
        raise LstmpruneError("no training data; pass --data DATA (a TFRecord file, directory or glob)")
    training.check()
    learning.check()
    entry = LEARNERS[method]
    ws = Workspace.open(workspace)
    model = model or Path(ws.require("model"))
    ws.check_model(model)
    spec, statistics = None, None
    analyzed = ws.stats is not None and Path(model).resolve() == Path(ws.model or "").resolve()
    if prior is None:
        prior = entry.prior if entry.prior and analyzed else "none"
    if prior != "none":
        statistics = Statistics.load(Path(ws.require("stats")))
    if entry.statistics:  # its registered rates and criterion unless the flags name others
        settings = dict(min_units=learning.min_units, seed=training.seed, budget=learning.budget)
        spec = soft_spec(entry, theta, allocate=allocate, criterion=learning.criterion, **settings)
        statistics = Statistics.load(Path(ws.require("stats")))
    out = out or models.default_output(model, method)
    check_output(out, force=force, models=[model], reads=[data, validation], workspace=ws.root)
    import_tensorflow()
    job = learn(
        model,
        data,
        out,
        learning=replace(learning, prior=prior, allocate=learned_allocation),
        training=training,
        spec=spec,
        statistics=statistics,
        options=options,
        validation=validation,
        teacher_path=model if training.distill else None,
        force=force,
        display=display,
    )
    job.plan.save(ws.plan_path)
    job.plan_path = str(ws.plan_path)
    ws.pruned_to(model, job.out)
    ws.save()
    return job
