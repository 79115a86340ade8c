"""`lstmprune learn`: train a model while it learns which units to drop, then cut it and write it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ...core.files import refuse_existing
from ...core.plan import Plan, PlanSpec
from ...core.schema import Options
from ...core.statsfile import Statistics
from .. import models
from ..models import costs
from ..models.layers import sequence_length
from ..surgery.groups import model_groups


@dataclass
class LearnJob:
    plan: Plan
    out: str
    kind: str
    params: tuple[int, int]
    flops: tuple[dict, dict]
    record: dict = field(default_factory=dict)
    after: object | None = None  # train.Evaluation of the cut model on the validation data

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
    method: str,
    theta: float | None,
    budget: str = "units",
    penalty: float | None = None,
    spec: PlanSpec | None = None,
    statistics: Statistics | None = None,
    options: Options | None = None,
    validation: str | None = None,
    teacher_path: Path | None = None,
    epochs: int = 5,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    schedule: str = "cosine",
    alpha: float = 0.5,
    loss: str = "auto",
    max_samples: int | None = None,
    min_units: int = 1,
    inputs: bool = False,
    every: int = 0,
    seed: int = 0,
    force: bool = False,
    wrap=lambda it, epoch: it,
    on_epoch=None,
) -> LearnJob:
    """Train the model at `model_path` with `method` toward theta of `budget`, cut it, write it to `out`."""
    import keras

    from ..train.learners import learn as run
    from ..train.loop import check_training, evaluate
    from .finetune import training_inputs

    options = options or Options()
    check_training(learning_rate=learning_rate, seed=seed)
    refuse_existing(out, force)
    keras.utils.set_random_seed(seed)
    if loss == "auto":
        loss = models.compiled_loss(model_path) or "auto"
    model = models.load_model(model_path)
    if statistics is not None:
        statistics.check_model(models.fingerprint(model), model_groups(model))
    length = sequence_length(model)
    params, flops = model.count_params(), costs.flops(model, length)  # before training changes it in place
    task, schema, train, val, teacher = training_inputs(
        model, data_spec, options, validation, batch_size, max_samples, loss, teacher_path
    )
    steps = -(-min(schema.records, max_samples or schema.records) // batch_size)
    found = run(
        model,
        method,
        train,
        task,
        theta=theta,
        budget=budget,
        penalty=penalty,
        min_units=min_units,
        inputs=inputs,
        spec=spec,
        statistics=statistics,
        every=every,
        steps_per_epoch=steps,
        seed=seed,
        epochs=epochs,
        learning_rate=learning_rate,
        schedule=schedule,
        teacher=teacher,
        alpha=alpha,
        on_epoch=on_epoch,  # no validation while the structure moves: the cut model is evaluated at the end
        wrap=wrap,
    )
    small = found.model
    like = dict(reader=models.reader_of(model_path), loss=models.compiled_setting(model_path) or task.loss or loss)
    kind = models.save_model(small, out, force, **like)
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
