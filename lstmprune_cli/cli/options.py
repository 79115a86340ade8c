"""Every option more than one verb takes, declared once with its help text, and how a verb takes a set of them.

    @shared("epochs", "batch_size", record="training", make=Training, epochs=5)
    def learn(..., training: Training): ...

A help text may name a registry as {allocations}, {criteria}, {methods}, {priors}, {losses}, {strategies},
{formats} or {runners}: `Command` fills it in when the command is built, so `--help` lists what is registered
right then.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperCommand

from ..core.schema import options_from_flags
from ..core.workspace import DEFAULT


def registered() -> dict[str, str]:
    """Each registry's names, as help texts list them."""
    from ..core.recipe import allocations, criterion_names
    from ..framework.jobs.analyze import RUNNERS
    from ..framework.jobs.export import FORMATS
    from ..framework.models.tasks import losses
    from ..framework.train.distribute import STRATEGIES
    from ..framework.train.learners import LEARNERS, methods

    names = dict(allocations=allocations(), criteria=criterion_names(), methods=methods())
    names |= dict(priors=[f"{entry.prior} for {name}" for name, entry in LEARNERS.items() if entry.prior])
    names |= dict(losses=[name for name in losses() if name != "auto"])
    names |= dict(strategies=STRATEGIES, formats=FORMATS, runners=list(RUNNERS))
    return {key: ", ".join(values) for key, values in names.items()}


class Command(TyperCommand):
    """A command whose options' help texts name the registries as they are when it is built."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = None
        for param in self.params:
            text = getattr(param, "help", None)
            if text and "{" in text:
                names = names or registered()
                for key, value in names.items():
                    text = text.replace("{" + key + "}", value)
                param.help = text


Workspace = Annotated[
    Path, typer.Option("--workspace", "-w", help="Folder where verbs leave artifacts for the next verb.")
]
Json = Annotated[bool, typer.Option("--json", help="Print a JSON record on stdout instead of tables.")]
Force = Annotated[bool, typer.Option("--force", help="Replace an existing output.")]
WS_DEFAULT = DEFAULT
TAIL = ("workspace", "force", "json")  # the options every verb ends with

OPTIONS: dict[str, tuple[object, object]] = {  # name -> (annotation, default)
    # the data: how records become model inputs (analyze, finetune, learn; vocab also report, sweep)
    "features": (
        Annotated[Optional[str], typer.Option(help="Comma-separated features, in the order they are concatenated.")],
        None,
    ),
    "dequantize": (
        Annotated[
            Optional[bool],
            typer.Option("--dequantize/--no-dequantize", help="uint8 bytes -> x*4/255 - 2 + 4/512 (default on)."),
        ],
        None,
    ),
    "scale": (Annotated[Optional[str], typer.Option(help="A,B: values become x*A + B (after dequantization).")], None),
    "l2_normalize": (Annotated[bool, typer.Option("--l2-normalize", help="Scale every frame to unit L2 norm.")], False),
    "fit": (
        Annotated[
            str,
            typer.Option(
                help="pad: cut or zero-pad to the model's length; sample: evenly spaced frames; exact: refuse other "
                "lengths."
            ),
        ],
        "pad",
    ),
    "skip_nonfinite": (
        Annotated[
            bool,
            typer.Option("--skip-nonfinite", help="Skip and count sequences with NaN or Inf instead of stopping."),
        ],
        False,
    ),
    "vocab": (
        Annotated[Optional[Path], typer.Option(help="Token list (one per line, in id order) for a plain-text corpus.")],
        None,
    ),
    "schema": (
        Annotated[Optional[Path], typer.Option("--schema", help="JSON file with any of the data options above.")],
        None,
    ),
    "shard": (
        Annotated[
            Optional[str], typer.Option(help="I/N: read only records I, I+N, ... (combine with lstmprune merge).")
        ],
        None,
    ),
    # training (finetune, learn; sweep --train and report take the evaluation's share)
    "epochs": (
        Annotated[
            int, typer.Option(help="Passes over the training data (sweep: per theta, 0 for none; needs --train).")
        ],
        3,
    ),
    "batch_size": (Annotated[int, typer.Option(help="Sequences per batch, in training and evaluation.")], 64),
    "learning_rate": (
        Annotated[
            float,
            typer.Option("--lr", help="Learning rate (learn: l0's gates move a set distance over the learning steps)."),
        ],
        1e-3,
    ),
    "optimizer": (Annotated[str, typer.Option(help="adam or sgd (momentum 0.9).")], "adam"),
    "schedule": (Annotated[str, typer.Option(help="constant or cosine (decays to 0 over all epochs).")], "constant"),
    "distill": (
        Annotated[
            bool,
            typer.Option(
                "--distill/--no-distill",
                help="Learn from the teacher's outputs too (the original, when the workspace knows it).",
            ),
        ],
        True,
    ),
    "alpha": (Annotated[float, typer.Option(help="Weight of the teacher's loss, in [0, 1].")], 0.5),
    "patience": (Annotated[int, typer.Option(help="Epochs without improvement before stopping.")], 2),
    "loss": (
        Annotated[
            str, typer.Option(help="auto (the model's compile settings, else its output layer), or one of: {losses}.")
        ],
        "auto",
    ),
    "seed": (
        Annotated[int, typer.Option(help="Seed of the batch order, of dropout and of a learner's noise.")],
        0,
    ),
    "max_samples": (
        Annotated[Optional[int], typer.Option(help="Sequences per epoch, and evaluated, at most.")],
        None,
    ),
    "strategy": (
        Annotated[
            str,
            typer.Option(
                help="One of {strategies}. none: this process; mirrored: every device of this machine; multi-worker: "
                "the cluster in TF_CONFIG (each worker reads its own shard of the records, the chief writes the model)."
            ),
        ],
        "none",
    ),
    # the recipe of a cut (prune, sweep; learn's soft pruning takes criterion, allocate, budget, min_units)
    "criterion": (
        Annotated[
            Optional[str],
            typer.Option(
                help="Which units go: obs (output-aware: the consumers' weights and the inverse covariance, greedy "
                "structured OBS; the default), gm (geometric median, the paper's), l2 or random. Registered: "
                "{criteria}."
            ),
        ],
        None,
    ),
    "allocate": (
        Annotated[
            Optional[str],
            typer.Option(
                help="How many units each group keeps: uniform (every group at theta; the default, best in our "
                "benchmarks); energy (the paper's eigenvalue rule, see --target); sensitivity (each group cut alone "
                "at a grid of rates and measured on the calibration data, then the cheapest mix); controller (seed "
                "002's LSTM controller, trained by policy gradient on the measured loss); inverted (the reference "
                "code's reversed rule, a baseline). Registered: {allocations}."
            ),
        ],
        None,
    ),
    "target": (
        Annotated[
            Optional[str],
            typer.Option(
                help="The energy rule's target: units (share of all units) or layer-mean (mean of group rates); "
                "implies --allocate energy."
            ),
        ],
        None,
    ),
    "compensate": (
        Annotated[
            Optional[str],
            typer.Option(
                help="What replaces a removed unit: refit (each layer that reads a cut group refitted on the pruned "
                "model's own states; reads the calibration data; the default); mean (its mean output, folded into "
                "the next layer's bias; the default when no calibration data is known); none (0)."
            ),
        ],
        None,
    ),
    "paper": (
        Annotated[
            bool,
            typer.Option(
                "--paper",
                help="The paper's ISS-GM as lstmprune first shipped it: --allocate energy --target units "
                "--criterion gm --compensate mean.",
            ),
        ],
        False,
    ),
    "budget": (
        Annotated[
            str, typer.Option(help="What theta is a share of: units (the paper's), params, or flops (per time step).")
        ],
        "units",
    ),
    "min_units": (Annotated[int, typer.Option(help="Fewest units any group keeps.")], 1),
    "data": (
        Annotated[
            Optional[str],
            typer.Option(
                "--data",
                "-d",
                help="Calibration data for --compensate refit and the measured allocations (default: analyze's).",
            ),
        ],
        None,
    ),
    "refit_samples": (Annotated[int, typer.Option(help="Calibration sequences a refit reads.")], 2048),
}

DATA = ("features", "dequantize", "scale", "l2_normalize", "fit", "skip_nonfinite", "vocab", "schema")
TRAINING = ("epochs", "batch_size", "learning_rate", "optimizer", "schedule", "distill", "alpha", "patience")
TRAINING += ("loss", "seed", "max_samples", "strategy")
RECIPE = ("criterion", "allocate", "target", "compensate", "paper")  # a cut's recipe: core.recipe.Recipe.of
CUT = (*RECIPE, "budget", "min_units", "data", "refit_samples")


def data_options(schema=None, shard=None, vocab=None, **flags):
    """The data options record (core.schema.Options) from a schema file and flags."""
    return options_from_flags(schema, shard=shard, vocab=None if vocab is None else str(vocab), **flags)


def shared(*names: str, record: str | None = None, make=None, **defaults):
    """Declare the shared options `names` on a command, with this verb's `defaults`; with `record`, they reach
    the command as one argument of that name, made by `make(**values)`; else each as itself."""
    unknown = [n for n in (*names, *defaults) if n not in OPTIONS]
    if unknown:
        raise ValueError(f"no shared option {unknown}")

    def decorate(fn):
        own = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for p in inspect.signature(fn, eval_str=True).parameters.values()
        ]
        own = [p for p in own if p.name != record and p.name not in names]  # declared only to be received
        added = [
            inspect.Parameter(
                n, inspect.Parameter.KEYWORD_ONLY, annotation=OPTIONS[n][0], default=defaults.get(n, OPTIONS[n][1])
            )
            for n in names
        ]
        tail = [p for p in own if p.name in TAIL]
        params = [p for p in own if p.name not in TAIL] + added + tail

        @functools.wraps(fn)
        def wrapper(**kwargs):
            values = {n: kwargs.pop(n) for n in names}
            if record is None:
                return fn(**kwargs, **values)
            return fn(**kwargs, **{record: make(**values)})

        wrapper.__signature__ = inspect.Signature(params)
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return decorate
