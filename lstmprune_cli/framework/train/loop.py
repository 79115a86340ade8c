"""Fine-tuning (optionally distilled from the original model) and evaluation on streamed data."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ...core import checks, metrics
from ...core.errors import LstmpruneError
from ...core.training import trial_budget
from ..models.tasks import TASKS, Task
from .distribute import distributed, replica_copy


def check_training(*, learning_rate: float, seed: int) -> None:
    """Refuse training settings that cannot work, before any data is read (batches: Stream; loss: task_of)."""
    checks.training(epochs=1, batch_size=1, learning_rate=learning_rate, seed=seed)


@dataclass
class Evaluation:
    loss: float
    metrics: dict[str, float]
    samples: int

    def to_dict(self) -> dict:
        return {"loss": self.loss, "samples": self.samples, **self.metrics}


def evaluate(model, batches: Iterable, task: Task) -> Evaluation:
    """Loss and the task's metrics: GAP@20 and mAP (multi-label), top-1/top-5 accuracy, perplexity (LM), MSE, MAE
    and R² (regression)."""
    import keras
    import tensorflow as tf

    entry = TASKS[task.kind]
    loss_fn, _ = entry.criterion(task)
    call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    total, n, tokens = 0.0, 0, 0
    scores, labels = [], []
    for x, y in batches:
        p = call(x)
        b = int(len(y))
        if entry.text:
            nll = keras.losses.sparse_categorical_crossentropy(y, p)  # (B, T)
            total += float(tf.reduce_sum(nll))
            tokens += int(np.prod(nll.shape))
        else:
            total += float(loss_fn(y, p)) * b
            scores.append(np.asarray(p))
            labels.append(np.asarray(y))
        n += b
    if n == 0:
        raise LstmpruneError("the evaluation data gave no sequences")
    if entry.text:
        return Evaluation(total / tokens, {"perplexity": metrics.perplexity(total, tokens)}, n)
    found = entry.metrics(np.concatenate(scores), np.concatenate(labels), task)
    return Evaluation(total / n, found, n)


@dataclass
class Epoch:
    epoch: int
    loss: float
    seconds: float
    samples: int
    validation: Evaluation | None = None

    def to_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "loss": self.loss,
            "seconds": self.seconds,
            "samples": self.samples,
            "samples_per_second": self.samples / self.seconds,
            "validation": None if self.validation is None else self.validation.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Epoch:
        v = d.get("validation")
        metrics = {k: x for k, x in (v or {}).items() if k not in ("loss", "samples")}
        validation = None if v is None else Evaluation(v["loss"], metrics, v["samples"])
        return cls(d["epoch"], d["loss"], d["seconds"], d["samples"], validation)


@dataclass
class FinetuneResult:
    epochs: list[Epoch] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    start: int = 0  # which start went on: 0 the model's own weights, i the i-th of `starts`
    trials: list[Epoch] = field(default_factory=list)  # the first batches of epoch 1 from each start
    resumed_from: int = 0  # the epoch a backup held when training resumed (0: a fresh start)


def fit(
    model,
    train: Callable[[], Iterable],
    task: Task,
    *,
    epochs: int = 3,
    learning_rate: float = 1e-3,
    optimizer: str = "adam",
    schedule: str = "constant",
    steps_per_epoch: int | None = None,
    teacher=None,
    alpha: float = 0.5,
    validation: Callable[[], Iterable] | None = None,
    patience: int = 2,
    on_epoch: Callable[[Epoch], None] | None = None,
    wrap: Callable[[Iterable, int], Iterable] = lambda it, epoch: it,
    starts: Sequence[list[np.ndarray]] = (),
    learner=None,
    strategy=None,
    backup=None,
    steps_per_worker: int | None = None,
) -> FinetuneResult:
    """Train `model` in place; the best epoch's weights (by validation loss, else training loss) are kept.

    starts: other weights for the same model; each (and the model's own) trains the first batches of epoch 1
    with a fresh optimizer, and the one with the lowest loss goes on. The trials count against `epochs`
    (core.training.trial_budget: with two starts and five epochs, a one-epoch trial each and four epochs in all
    for the chosen start; with one epoch, a quarter of it each).
    learner: a `learn.Learner` (its forward pass, penalty, variables and after-step hook) that learns the
    structure while training; then every epoch runs (no early stop) and the last one is kept.
    strategy: a tf.distribute strategy (distribute.strategy_of), each replica taking its own batches; with
    several workers, `steps_per_worker` caps every worker's steps at the same count. backup: a distribute.Backup
    written after every epoch and resumed from when it holds one.

    With a teacher, the loss is (1 - alpha) * task loss + alpha * the loss against the teacher's outputs.
    """
    import keras
    import tensorflow as tf

    if epochs < 1:
        raise LstmpruneError(f"epochs must be at least 1; received {epochs}", option="epochs")
    if not 0 <= alpha <= 1:
        raise LstmpruneError(f"alpha must be in [0, 1]; received {alpha}", option="alpha")
    per_epoch = steps_per_worker or steps_per_epoch  # batches of one worker's epoch
    trial, lengths = trial_budget(epochs, per_epoch, 1 + len(starts))
    lr = learning_rate
    if schedule == "cosine":
        decay = sum(lengths) if per_epoch else epochs * (steps_per_epoch or 1)
        lr = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, decay))
    elif schedule != "constant":
        raise LstmpruneError(f"schedule must be constant or cosine; received {schedule!r}", option="schedule")
    makers = {
        "adam": keras.optimizers.Adam,
        "sgd": lambda learning_rate: keras.optimizers.SGD(learning_rate, momentum=0.9),
    }
    if optimizer not in makers:
        raise LstmpruneError(f"optimizer must be adam or sgd; received {optimizer!r}", option="optimizer")
    if strategy is not None and learner is not None:
        raise LstmpruneError("structures are learned on one device; drop the strategy", option="strategy")
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:  # under a strategy: mirrored copies of the model and the teacher, and the optimizer
        work = replica_copy(model) if strategy is not None else model
        guide = replica_copy(teacher) if strategy is not None and teacher is not None else teacher
        opt = makers[optimizer](learning_rate=lr)
        trained = work.trainable_variables + (list(learner.variables) if learner else [])
        opt.build(trained)
    task_loss, distill_loss = TASKS[task.kind].criterion(task)

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            p = learner.forward(work, x) if learner else work(x, training=True)
            loss = task_loss(y, p)
            if guide is not None:
                loss = (1 - alpha) * loss + alpha * distill_loss(guide(x, training=False), p)
            objective = loss + learner.penalty() if learner else loss
        grads = tape.gradient(objective, trained)
        opt.apply_gradients(zip(grads, trained))  # under a strategy: averaged across replicas
        return loss

    @tf.function(reduce_retracing=True)
    def step(x, y):
        """(the step's mean loss, its sequences over all replicas)."""
        if strategy is None:
            return replica_step(x, y), tf.shape(y)[0]
        loss, n = strategy.run(lambda x, y: (replica_step(x, y), tf.shape(y)[0]), args=(x, y))
        return strategy.reduce("MEAN", loss, axis=None), strategy.reduce("SUM", n, axis=None)

    def run_epoch(epoch: int, skip: int = 0, take: int | None = None, before: Epoch | None = None) -> Epoch:
        """Batches skip..skip+take of the epoch (all: None), added to `before` (its first batches)."""
        start, total, samples = time.perf_counter(), 0.0, 0
        if before is not None:
            start, total, samples = start - before.seconds, before.loss * before.samples, before.samples
        batches = train() if take is None else itertools.islice(train(), skip, skip + take)
        batches = wrap(batches, epoch)
        batches = distributed(strategy, batches, steps_per_worker) if strategy is not None else batches
        for x, y in batches:
            loss, n = step(x, y)
            total += float(loss) * int(n)
            samples += int(n)
            if learner:
                learner.after_step(work, x)
        if samples == 0:
            raise LstmpruneError("the training data gave no sequences")
        record = Epoch(epoch, total / samples, time.perf_counter() - start, samples)
        if validation is not None:
            record.validation = evaluate(work, validation(), task)
        return record

    def score(record: Epoch) -> float:
        return record.validation.loss if record.validation else record.loss

    result, best, best_weights, waited = FinetuneResult(), np.inf, None, 0
    saved = backup.load() if backup is not None else None
    first, trials = 1, []  # trials: the first batches of epoch 1 from each start: (record, weights, optimizer state)
    if saved is not None:  # resume after the last epoch a lost run finished
        _restore(work, opt, saved)
        result.epochs = [Epoch.from_dict(e) for e in saved["epochs"]]
        result.start, result.best_epoch, result.resumed_from = saved["start"], saved["best_epoch"], saved["epoch"]
        best, best_weights, waited = saved["best"], saved["best_weights"] or None, saved["waited"]
        first = saved["epoch"] + 1
    else:
        fresh = [v.numpy() for v in opt.variables]
        for weights in [work.get_weights(), *starts] if starts else []:
            _set_state(work, opt, weights, fresh)
            trials.append((run_epoch(1, 0, trial), work.get_weights(), [v.numpy() for v in opt.variables]))
        if trials:
            result.start = min(range(len(trials)), key=lambda i: score(trials[i][0]))
            result.trials = [t[0] for t in trials]
            _set_state(work, opt, *trials[result.start][1:])
    for epoch in range(first, len(lengths) + 1):
        take = lengths[epoch - 1]
        if epoch == 1 and trials:  # the chosen start's trial was the first batches of this epoch
            done = trials[result.start][0]
            more = take - trial if take is not None else 0
            record = run_epoch(1, trial, more, before=done) if more else done
        else:
            record = run_epoch(epoch, 0, take)
        result.epochs.append(record)
        if learner or score(record) < best:  # a learner's structure moves with the weights: the last is kept
            best, best_weights, result.best_epoch, waited = score(record), work.get_weights(), epoch, 0
        else:
            waited += 1
        if backup is not None:
            state = {"epochs": [e.to_dict() for e in result.epochs], "start": result.start, "best": best}
            state |= {"best_epoch": result.best_epoch, "waited": waited}
            optimizer_state = [v.numpy() for v in opt.variables]
            backup.save(
                epoch=epoch,
                weights=work.get_weights(),
                optimizer=optimizer_state,
                best_weights=best_weights,
                state=state,
            )
        if on_epoch:  # after the backup: a backup that cannot be written is the run's one error line
            on_epoch(record)
        if waited > patience:
            result.stopped_early = True
            break
    if best_weights is None:
        raise LstmpruneError(
            "training diverged: every epoch's loss was NaN or Inf; nothing is written (lower --lr, or check the data)"
        )
    model.set_weights(best_weights)
    return result


def _restore(work, opt, saved: dict) -> None:
    """Weights and optimizer state of a backup; one of another model is refused."""
    want = [tuple(w.shape) for w in work.get_weights()]
    if [tuple(w.shape) for w in saved["weights"]] != want or len(saved["optimizer"]) != len(opt.variables):
        raise LstmpruneError("the backup belongs to another model or optimizer; remove it to start over")
    _set_state(work, opt, saved["weights"], saved["optimizer"])


def _set_state(work, opt, weights: list, optimizer: list) -> None:
    """The model's weights and the optimizer's variables, as given."""
    work.set_weights(weights)
    for v, value in zip(opt.variables, optimizer):
        v.assign(value)
