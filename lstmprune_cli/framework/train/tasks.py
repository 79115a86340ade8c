"""The task a model solves, as a registry: each entry says which `--loss` names and output activations choose
it, its loss and the loss against a teacher's outputs, and its metrics. `finetune`, `report`, `sweep`, `learn`
and the measured allocators ask `task_of` and `TASKS`, never the output activation.

    TASKS["poisson"] = TaskType(losses=("poisson",), criterion=lambda t: (keras.losses.Poisson(),) * 2,
                                metrics=lambda s, y, t: {"mean": float(s.mean())})
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


REGRESSION = ("mse", "mae", "huber", "log_cosh")  # regression losses, by the names Keras gives them

TASKS: dict[str, TaskType] = {
    "multilabel": TaskType(  # sigmoid outputs, multi-hot labels: GAP@20 and mAP
        _keras("BinaryCrossentropy"), _multilabel_metrics, losses=("binary",), activations=("sigmoid",)
    ),
    "classes": TaskType(  # softmax outputs, one label per sequence (sparse: integer ids): top-1 and top-5
        _keras("CategoricalCrossentropy"), _class_metrics, losses=("categorical", "sparse"), activations=("softmax",)
    ),
    "lm": TaskType(  # next-token prediction on a text corpus: perplexity
        _language_model_losses, lambda s, y, t: {}, text=True
    ),
    "regression": TaskType(  # real targets: MSE, MAE and R²
        _regression_losses,
        lambda s, y, t: metrics.regression(s, y),
        losses=REGRESSION,
        activations=("linear", "relu", "tanh", ""),
        default_loss="mse",
    ),
}


def losses() -> tuple[str, ...]:
    """The names `--loss` takes: auto, then every registered task's losses."""
    return ("auto", *(name for entry in TASKS.values() for name in entry.losses))


def task_of(model, text: bool, loss: str = "auto") -> Task:
    """The task from the loss asked for, else from the output layer's activation and shape."""
    shape = tuple(model.outputs[0].shape)
    classes = int(shape[-1])
    names = losses()
    if loss not in names:
        raise LstmpruneError(f"loss must be one of {', '.join(names)}; received {loss!r}", option="loss")
    if text or len(shape) == 3:
        return Task(next(k for k, e in TASKS.items() if e.text), classes)
    for kind, entry in TASKS.items():
        if loss in entry.losses:
            return Task(kind, classes, loss)
    last = model.get_layer(model.outputs[0]._keras_history[0].name)
    activation = getattr(getattr(last, "activation", None), "__name__", "")
    for kind, entry in TASKS.items():
        if activation in entry.activations:
            return Task(kind, classes, entry.default_loss)
    named = ", ".join(n for n in names if n != "auto")
    raise LstmpruneError(
        f"cannot tell the loss from the output layer '{last.name}' (activation {activation}); pass loss {named}",
        option="loss",
    )
