"""The task a model solves, as a registry: each entry says which `--loss` names and output activations choose
it, its loss and the loss against a teacher's outputs, its metrics, and how far two models' outputs are apart.
`finetune`, `report`, `sweep`, `learn` and the allocators that measure the cut model ask `task_of` and `TASKS`,
never the output activation.

    TASKS["poisson"] = TaskType(criterion=lambda t: (keras.losses.Poisson(),) * 2,
                                metrics=lambda s, y, t: {"mean": float(s.mean())}, losses=("poisson",))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...core import metrics
from ...core.errors import LstmpruneError


@dataclass
class Task:
    """What one model predicts: `kind` a key of TASKS, `classes` the outputs per sequence, `loss` the loss it is
    trained by (the `--loss` name that chose it, else the task's default; regression: which of its losses)."""

    kind: str
    classes: int
    loss: str = ""


@dataclass(frozen=True)
class TaskType:
    """One entry of TASKS."""

    criterion: Callable[[Task], tuple]  # -> (the task's Keras loss, the loss against the teacher's outputs)
    metrics: Callable[[np.ndarray, np.ndarray, Task], dict]  # (scores (N, C), targets (N, C), task) -> metrics
    losses: tuple[str, ...] = ()  # `--loss` names that choose it
    activations: tuple[str, ...] = ()  # output activations that imply it when the loss is auto
    default_loss: str = ""  # the loss it takes when chosen by its activation
    text: bool = False  # a language model: targets are a text corpus's next tokens, scored per token
    distance: Callable[[np.ndarray, np.ndarray], float] | None = None  # (want, got) outputs -> >= 0; None: MSE
    headline: tuple[str, ...] = ()  # the metric a budget's drop is measured on: the first of these it reports


def _keras(name: str) -> Callable[[Task], tuple]:
    def made(task: Task) -> tuple:
        import keras

        return getattr(keras.losses, name)(), getattr(keras.losses, name)()

    return made


def _regression_losses(task: Task) -> tuple:
    import keras

    made = {
        "mse": keras.losses.MeanSquaredError,
        "mae": keras.losses.MeanAbsoluteError,
        "huber": keras.losses.Huber,
        "log_cosh": keras.losses.LogCosh,
    }[task.loss]
    return made(), made()  # a regressor is distilled by its own loss


def _language_model_losses(task: Task) -> tuple:
    import keras

    return keras.losses.SparseCategoricalCrossentropy(), keras.losses.CategoricalCrossentropy()


def _multilabel_metrics(s: np.ndarray, y: np.ndarray, task: Task) -> dict:
    if task.classes == 1:  # one sigmoid: a binary classifier
        return {"accuracy": float(np.mean((s > 0.5) == (y > 0.5))), "map": metrics.mean_average_precision(s, y)}
    return {"gap@20": metrics.gap(s, y, 20), "map": metrics.mean_average_precision(s, y)}


def _class_metrics(s: np.ndarray, y: np.ndarray, task: Task) -> dict:
    target = np.argmax(y, axis=1)
    return {"top1": metrics.top_k_accuracy(s, target, 1), "top5": metrics.top_k_accuracy(s, target, 5)}


EPS = 1e-7


def categorical_kl(want: np.ndarray, got: np.ndarray) -> float:
    """KL(want || got) of softmax outputs, averaged over sequences (and steps)."""
    return float(np.mean(np.sum(want * (np.log(want + EPS) - np.log(got + EPS)), axis=-1)))


def bernoulli_kl(want: np.ndarray, got: np.ndarray) -> float:
    """KL of independent sigmoid outputs, averaged over outputs."""
    w, g = np.clip(want, EPS, 1 - EPS), np.clip(got, EPS, 1 - EPS)
    return float(np.mean(w * np.log(w / g) + (1 - w) * np.log((1 - w) / (1 - g))))


def squared_error(want: np.ndarray, got: np.ndarray) -> float:
    return float(np.mean((want - got) ** 2))


REGRESSION = ("mse", "mae", "huber", "log_cosh")  # regression losses, by the names Keras gives them

TASKS: dict[str, TaskType] = {
    "multilabel": TaskType(  # sigmoid outputs, multi-hot labels: GAP@20 and mAP
        _keras("BinaryCrossentropy"),
        _multilabel_metrics,
        losses=("binary",),
        activations=("sigmoid",),
        distance=bernoulli_kl,
        headline=("gap@20", "accuracy"),
    ),
    "classes": TaskType(  # softmax outputs, one label per sequence (sparse: integer ids): top-1 and top-5
        _keras("CategoricalCrossentropy"),
        _class_metrics,
        losses=("categorical", "sparse"),
        activations=("softmax",),
        distance=categorical_kl,
        headline=("top1",),
    ),
    "lm": TaskType(  # next-token prediction on a text corpus: perplexity
        _language_model_losses, lambda s, y, t: {}, text=True, distance=categorical_kl, headline=("perplexity",)
    ),
    "regression": TaskType(  # real targets: MSE, MAE and R²
        _regression_losses,
        lambda s, y, t: metrics.regression(s, y),
        losses=REGRESSION,
        activations=("linear", "relu", "tanh", ""),
        default_loss="mse",
        distance=squared_error,
        headline=("r2",),
    ),
}


def losses() -> tuple[str, ...]:
    """The names `--loss` takes: auto, then every registered task's losses."""
    return ("auto", *(name for entry in TASKS.values() for name in entry.losses))


def task_of(model, text: bool, loss: str = "auto") -> Task:
    """The task from the loss asked for, else from the output layer's activation and shape (a softmax over every
    step of a sequence, or text data: a language model)."""
    shape = tuple(model.outputs[0].shape)
    classes = int(shape[-1])
    names = losses()
    if loss not in names:
        raise LstmpruneError(f"loss must be one of {', '.join(names)}; received {loss!r}", option="loss")
    last = model.get_layer(model.outputs[0]._keras_history[0].name)
    inner = getattr(last, "layer", last)  # TimeDistributed(Dense)
    activation = getattr(getattr(inner, "activation", None), "__name__", "")
    if text or (len(shape) == 3 and activation == "softmax"):
        return Task(next(k for k, e in TASKS.items() if e.text), classes)
    for kind, entry in TASKS.items():
        if loss in entry.losses:
            return Task(kind, classes, loss)
    for kind, entry in TASKS.items():
        if activation in entry.activations:
            return Task(kind, classes, entry.default_loss)
    named = ", ".join(n for n in names if n != "auto")
    raise LstmpruneError(
        f"cannot tell the loss from the output layer '{last.name}' (activation {activation}); pass loss {named}",
        option="loss",
    )


def headline(task: Task, found: dict[str, float]) -> str:
    """The metric of `found` (an evaluation's metrics) that a budget's drop is measured on."""
    for name in TASKS[task.kind].headline:
        if name in found:
            return name
    return "loss"


def output_distance(model) -> Callable[[np.ndarray, np.ndarray], float]:
    """How far outputs `got` are from `want` for the task `model` solves (its output activation chooses it);
    squared error for an output no task claims."""
    try:
        task = task_of(model, text=False)
    except LstmpruneError:
        return squared_error
    return TASKS[task.kind].distance or squared_error
