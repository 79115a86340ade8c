"""The `lstmprune` command line: parse, call the library, render. TensorFlow is imported inside commands."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..core.errors import LstmpruneError
from . import render

app = typer.Typer(
    help="Make trained LSTM models smaller and faster: eigenanalysis rates + geometric-median unit removal.\n\n"
    "Example:  lstmprune analyze model.keras --data dbs/  &&  lstmprune prune --theta 0.7 --out small.keras",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Workspace = Annotated[
    Path, typer.Option("--workspace", "-w", help="Folder where verbs leave artifacts for the next verb.")
]
Json = Annotated[bool, typer.Option("--json", help="Print a JSON record on stdout instead of tables.")]
Force = Annotated[bool, typer.Option("--force", help="Replace an existing output.")]
WS_DEFAULT = Path(".lstmprune")
Features = Annotated[Optional[str], typer.Option(help="Comma-separated features, in the order they are concatenated.")]
Dequantize = Annotated[
    Optional[bool],
    typer.Option("--dequantize/--no-dequantize", help="uint8 bytes -> x*4/255 - 2 + 4/512 (default on)."),
]
Scale = Annotated[Optional[str], typer.Option(help="A,B: values become x*A + B (after dequantization).")]
L2 = Annotated[bool, typer.Option("--l2-normalize", help="Scale every frame to unit L2 norm.")]
Fit = Annotated[
    str,
    typer.Option(
        help="pad: cut or zero-pad to the model's length; sample: evenly spaced frames; exact: refuse other lengths."
    ),
]
SkipNonfinite = Annotated[
    bool, typer.Option("--skip-nonfinite", help="Skip and count sequences with NaN or Inf instead of stopping.")
]
Vocab = Annotated[Optional[Path], typer.Option(help="Token list (one per line, in id order) for a plain-text corpus.")]
SchemaFile = Annotated[Optional[Path], typer.Option("--schema", help="JSON file with any of the data options above.")]
# the recipe of a cut: what prune and sweep share
Criterion = Annotated[
    Optional[str],
    typer.Option(
        help="Which units go: obs (output-aware: the consumers' weights and the inverse covariance, greedy "
        "structured OBS; the default), gm (geometric median, the paper's), l2 or random."
    ),
]
Allocate = Annotated[
    Optional[str],
    typer.Option(
        help="How many units each group keeps: uniform (every group at theta; the default, best in our "
        "benchmarks); energy (the paper's eigenvalue rule, see --target); sensitivity "
        "(each group cut alone at a grid of rates and measured on the calibration data, then the cheapest "
        "mix); controller (seed 002's LSTM controller, trained by policy gradient on the measured loss); "
        "inverted (the reference code's reversed rule, a baseline)."
    ),
]
Target = Annotated[
    Optional[str],
    typer.Option(
        help="The energy rule's target: units (share of all units) or layer-mean (mean of group rates); "
        "implies --allocate energy."
    ),
]
Budget = Annotated[
    str, typer.Option(help="What theta is a share of: units (the paper's), params, or flops (per time step).")
]
Compensate = Annotated[
    Optional[str],
    typer.Option(
        help="What replaces a removed unit: refit (each layer that reads a cut group refitted on the pruned "
        "model's own states; reads the calibration data; the default); mean (its mean output, folded into "
        "the next layer's bias; the default when no calibration data is known); none (0)."
    ),
]
Paper = Annotated[
    bool,
    typer.Option(
        "--paper",
        help="The paper's ISS-GM as lstmprune first shipped it: --allocate energy --target units "
        "--criterion gm --compensate mean.",
    ),
]
CalibrationData = Annotated[
    Optional[str],
    typer.Option(
        "--data",
        "-d",
        help="Calibration data for --compensate refit and the measured allocations (default: analyze's).",
    ),
]
RefitSamples = Annotated[int, typer.Option(help="Calibration sequences a refit reads.")]


def _options(schema, features, dequantize, scale, l2_normalize, fit, skip_nonfinite, vocab, shard=None):
    """The data options of analyze and finetune, from a schema file and flags."""
    from ..core.schema import options_from_flags

    return options_from_flags(
        schema,
        features=features,
        dequantize=dequantize,
        scale=scale,
        l2_normalize=l2_normalize,
        fit=fit,
        skip_nonfinite=skip_nonfinite,
        vocab=None if vocab is None else str(vocab),
        shard=shard,
    )


def _errors(fn):
    """Bad input ends in one line on stderr and exit code 2, never a traceback.

    A write the system refuses (a full disk, a read-only folder) is bad input too. Anything else is a
    bug of ours: one line and exit code 1; LSTMPRUNE_DEBUG=1 shows the traceback.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LstmpruneError as e:
            render.error(_one_line(_with_flag(e)))
            raise typer.Exit(2) from None
        except OSError as e:
            where = f" {e.filename}" if e.filename else ""
            render.error(f"cannot read or write{where}: {e.strerror or e}")
            raise typer.Exit(2) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as e:  # noqa: BLE001  the last guard before a traceback reaches the user
            if os.environ.get("LSTMPRUNE_DEBUG"):
                raise
            render.error(
                f"unexpected {type(e).__name__}: {_one_line(str(e))}; "
                "rerun with LSTMPRUNE_DEBUG=1 for the traceback and report it"
            )
            raise typer.Exit(1) from None

    return wrapper


FLAGS = {"learning_rate": "--lr", "data_spec": "--data", "eval_spec": "--eval", "train_spec": "--train"}


def _with_flag(e: LstmpruneError) -> str:
    """The library names options by their parameter; the user knows them by their flag."""
    if not e.option:
        return str(e)
    flag = FLAGS.get(e.option, "--" + e.option.replace("_", "-"))
    return re.sub(rf"(?<![\w./-]){re.escape(e.option)}(?![\w./-])", flag, str(e), count=1)


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "no message"


def _hint(command: str, workspace: Path) -> str:
    """A next-step command, with the workspace when it is not the default."""
    return command + ("" if workspace == WS_DEFAULT else f" -w {workspace}")


@app.command()
@_errors
def analyze(
    model: Annotated[Path, typer.Argument(help="A .keras file or a SavedModel directory written by lstmprune.")],
    data: Annotated[str, typer.Option("--data", "-d", help="TFRecord file, directory or glob of SequenceExamples.")],
    batch_size: Annotated[int, typer.Option(help="Sequences per batch.")] = 64,
    max_samples: Annotated[Optional[int], typer.Option(help="Stop after this many sequences.")] = None,
    every_step: Annotated[
        bool, typer.Option(help="Use every valid time step as a sample, not only the final state.")
    ] = False,
    stats: Annotated[Optional[Path], typer.Option(help="Also write the statistics to this file (.npz).")] = None,
    runner: Annotated[
        str, typer.Option(help="in-process, or beam: an Apache Beam pipeline (pip install 'lstmprune[beam]').")
    ] = "in-process",
    beam_options: Annotated[
        str,
        typer.Option(
            help="Beam pipeline options, e.g. '--runner=DataflowRunner --project=P --region=R "
            "--temp_location=gs://b/tmp' (default: the DirectRunner on this machine)."
        ),
    ] = "",
    beam_output: Annotated[
        Optional[str],
        typer.Option(
            help="Where the pipeline writes the statistics before they are read back; every worker "
            "must reach it (gs://... on Dataflow; default: in the workspace)."
        ),
    ] = None,
    shard: Annotated[
        Optional[str], typer.Option(help="I/N: read only records I, I+N, ... (combine with lstmprune merge).")
    ] = None,
    features: Features = None,
    dequantize: Dequantize = None,
    scale: Scale = None,
    l2_normalize: L2 = False,
    fit: Fit = "pad",
    skip_nonfinite: SkipNonfinite = False,
    vocab: Vocab = None,
    schema: SchemaFile = None,
    workspace: Workspace = WS_DEFAULT,
    force: Force = False,
    json: Json = False,
):
    """Stream calibration data through MODEL and accumulate each unit group's covariance.

    DATA is a TFRecord file, directory or glob (SequenceExample or Example, GZIP detected), a .npy/.npz
    array, or a text corpus with --vocab.

    Example:  lstmprune analyze sample_models/audioset_lstm.keras --data sample_models/calibration.tfrecord

    Example:  lstmprune analyze model.keras --data 'gs://b/frames/*.tfrecord' --runner beam --beam-options
    '--runner=DataflowRunner --project=P --region=R --temp_location=gs://b/tmp' --beam-output gs://b/stats.npz
    """
    from ..core.checks import choice
    from ..core.files import check_output
    from ..core.summary import group_rows
    from ..core.workspace import Workspace as WS

    choice(runner, ("in-process", "beam"), "runner")
    options = _options(schema, features, dequantize, scale, l2_normalize, fit, skip_nonfinite, vocab, shard)
    ws = WS.open(workspace)
    if stats is not None:
        check_output(stats, force=force, models=[model], reads=[data], workspace=ws.root, flag="--stats")
    if beam_output is not None and runner != "beam":
        raise LstmpruneError("--beam-output is where --runner beam writes; pass --runner beam or drop it")
    if beam_output is not None and "://" not in beam_output:  # a remote path is the pipeline's file system's
        guard = dict(models=[model], reads=[data, stats], workspace=ws.root, flag="--beam-output")
        check_output(Path(beam_output), force=force, **guard)
    from ..framework import import_tensorflow

    import_tensorflow()
    from ..framework.stats import Analysis

    if runner == "beam":
        result = _beam_analysis(
            model, data, options, ws, beam_options, beam_output, batch_size, every_step, max_samples, force
        )
    else:
        job = Analysis(model, data, options, batch_size=batch_size, max_samples=max_samples, every_step=every_step)
        for _ in job.run() if json else render.progress(job.run(), job.total):
            pass
        result = job.result()
    if stats is not None:  # the outputs first: the workspace changes only once they are written
        result.statistics.save(stats, force=force)
    result.statistics.save(ws.stats_path)
    ws.model, ws.stats, ws.plan, ws.pruned = str(model.resolve()), str(ws.stats_path), None, None
    ws.data = data if any(c in data for c in "*?[") else str(Path(data).resolve())
    options.save(ws.schema_path)
    ws.save()
    rows = group_rows(result.statistics)
    if json:
        render.emit_json({"stats": str(ws.stats_path), **result.to_dict(), "groups": rows})
        return
    n = max(r["samples"] for r in rows)
    render.out.print(render.groups_table(rows, f"{Path(model).name}: {n:,} samples in {result.seconds:.1f} s"))
    render.err.print(f"model: {result.statistics.meta.get('model_format')}", soft_wrap=True)
    render.err.print(f"statistics -> {ws.stats_path}", soft_wrap=True)
    render.err.print("next: " + _hint("lstmprune prune --theta 0.7 --out small.keras", workspace), soft_wrap=True)


def _beam_analysis(model, data, options, ws, beam_options, output, batch_size, every_step, max_samples, force):
    """analyze --runner beam: the pipeline, with Beam imported only here."""
    if max_samples is not None:
        raise LstmpruneError("--runner beam reads every record; drop --max-samples (or pass fewer files)")
    from ..framework import quiet_logs

    try:
        with quiet_logs():
            from ..framework.stats import beam as beam_runner
    except ImportError as e:
        raise LstmpruneError(
            f"--runner beam needs Apache Beam ({e.name} is missing); run: pip install 'lstmprune[beam]'"
        ) from None
    from ..core.files import staged

    settings = dict(beam_options=beam_options, batch_size=batch_size, every_step=every_step)
    with render.status("running the Beam pipeline ..."), quiet_logs():
        if output is not None and "://" in output:
            return beam_runner.analyze(model, data, options, output=output, **settings)
        with staged(Path(output) if output else ws.root / "beam-stats.npz", force=True) as tmp:
            return beam_runner.analyze(model, data, options, output=str(tmp), **settings)


@app.command()
@_errors
def prune(
    theta: Annotated[
        Optional[float], typer.Option(help="Target pruning rate in (0, 1): the share of units removed.")
    ] = None,
    out: Annotated[
        Optional[Path],
        typer.Option(
            "--out",
            "-o",
            help="x.keras, x.h5, or a directory for a SavedModel (default: beside the input, same format).",
        ),
    ] = None,
    model: Annotated[Optional[Path], typer.Option(help="Model to prune (default: the analyzed one).")] = None,
    stats: Annotated[Optional[Path], typer.Option(help="Statistics file (default: the workspace's).")] = None,
    criterion: Criterion = None,
    allocate: Allocate = None,
    target: Target = None,
    min_units: Annotated[int, typer.Option(help="Fewest units any group keeps.")] = 1,
    budget: Budget = "units",
    seed: Annotated[int, typer.Option(help="Seed of the random criterion.")] = 0,
    plan: Annotated[Optional[Path], typer.Option(help="Replay this plan file instead of making one.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Show the plan and the costs; write no model.")] = False,
    compensate: Compensate = None,
    paper: Paper = False,
    data: CalibrationData = None,
    refit_samples: RefitSamples = 2048,
    latency: Annotated[
        bool, typer.Option(help="Measure CPU latency of both models side by side (skip for large models).")
    ] = True,
    workspace: Workspace = WS_DEFAULT,
    force: Force = False,
    json: Json = False,
):
    """Decide how many units each group keeps and which ones, and physically remove the others.

    Example:  lstmprune prune --theta 0.7 --out small.keras   (--paper: the paper's ISS-GM)
    """
    from ..core.files import check_output
    from ..core.plan import PlanSpec
    from ..core.statsfile import Statistics
    from ..core.summary import group_rows
    from ..core.workspace import Workspace as WS

    ws = WS.open(workspace)
    flags = dict(allocate=allocate, target=target, criterion=criterion, compensate=compensate)
    recipe, calibration, notes = _cut_recipe(ws, data, paper, **flags)
    spec = None
    if plan is None:
        spec = PlanSpec(theta, recipe["target"], recipe["criterion"], min_units, seed, recipe["compensate"], budget)
    model = model or Path(ws.require("model"))
    if out is None and not dry_run:
        from ..framework.models import default_output

        out = default_output(model)
    if out is not None and not dry_run:
        reads = [stats or ws.stats, plan, data or ws.data]
        check_output(out, force=force, models=[model], reads=reads, workspace=ws.root)
    statistics = None
    if plan is None:
        statistics = Statistics.load(stats or Path(ws.require("stats")))
    elif stats is not None or (ws.stats and Path(ws.stats).exists()):
        statistics = Statistics.load(stats or Path(ws.stats))  # only to show the energy columns
    from ..framework import import_tensorflow

    import_tensorflow()
    from ..framework import jobs

    data_options = _calibration_options(ws, data)
    result = jobs.prune(
        model,
        statistics,
        None if dry_run else out,
        spec,
        plan_file=plan,
        force=force,
        latency=latency,
        data=calibration,
        options=data_options,
        samples=refit_samples,
    )

    if statistics is not None and statistics.fingerprint != result.plan.fingerprint:
        statistics = None
    result.plan.save(ws.plan_path)
    ws.model = ws.model or str(Path(model).resolve())
    ws.plan, ws.pruned = str(ws.plan_path), result.out and str(Path(result.out).resolve())
    ws.save()
    for note in notes:
        render.err.print(f"note: {note}")
    rows = group_rows(statistics, result.plan)
    if json:
        render.emit_json({**result.to_dict(), "groups": rows})
        return
    p = result.plan
    title = (
        "plan (replayed)"
        if plan
        else (
            f"theta {p.theta} of {p.extra.get('budget', 'units')}, allocation {p.target}, criterion {p.criterion}, "
            f"compensate {p.extra.get('compensate')}"
        )
    )
    render.out.print(render.groups_table(rows, title))
    a = p.achieved()
    render.out.print(
        f"achieved rate: {100 * a['units']:.1f}% of units, mean of group rates {100 * a['layer-mean']:.1f}%"
        + "".join(f", {100 * v:.1f}% of {k}" for k, v in p.extra.get("removed", {}).items() if k != "units")
    )
    refit = p.extra.get("refit")
    if refit:
        fits = ", ".join(f"{c['layer']} {c['before']:.3g} -> {c['after']:.3g}" for c in refit["consumers"])
        render.out.print(f"refit in {refit['seconds']:.1f} s, {refit['passes']} passes; pre-activation MSE: {fits}")
    render.out.print(render.cost_table(result))
    render.err.print(
        f"plan -> {ws.plan_path}"
        + (f"   model -> {result.out} ({result.kind})" if result.out else "   (dry run: no model written)")
    )


# The default is the combination that measured best (docs/benchmarks.md): uniform rates, output-aware (OBS)
# units, consumers refitted on the calibration data; the means when that data is not at hand.
ALLOCATIONS = ("energy", "uniform", "sensitivity", "controller", "inverted")
DEFAULT_RECIPE = {"allocate": "uniform", "target": None, "criterion": "obs", "compensate": "refit"}
PAPER_RECIPE = {"allocate": "energy", "target": "units", "criterion": "gm", "compensate": "mean"}


def _cut_recipe(ws, data: str | None, paper: bool, **flags) -> tuple[dict, str | None, list[str]]:
    """The recipe of prune's and sweep's flags, the calibration data a refit reads (--data, else analyze's), and
    notes to print once the run succeeds. The default refits only when that data is at hand, else it
    compensates by the means, with a note."""
    recipe = _recipe(paper, **flags)
    calibration = data or ws.data
    known = calibration is not None and (any(c in calibration for c in "*?[") or Path(calibration).exists())
    notes = []
    if flags["compensate"] is None and not paper and recipe["compensate"] == "refit" and not known:
        recipe["compensate"] = "mean"
        notes.append("no calibration data known (pass --data); removed units are compensated by their mean")
    return recipe, calibration, notes


def _calibration_options(ws, data: str | None):
    """The options analyze read its data with, when the refit reads that same data."""
    from ..core.schema import Options

    return Options.from_file(ws.schema_path) if data is None and ws.schema_path.exists() else None


def _recipe(paper: bool, **given) -> dict:
    """The cut a user asked for: the flags given over the default recipe, or the paper's recipe with --paper."""
    if paper:
        clash = {k: v for k, v in given.items() if v is not None and v != PAPER_RECIPE[k]}
        if clash:
            flags = ", ".join(f"--{k} {v}" for k, v in clash.items())
            raise LstmpruneError(f"--paper fixes the recipe; received {flags} with it")
        chosen = dict(PAPER_RECIPE)
    else:
        chosen = {k: given[k] if given[k] is not None else DEFAULT_RECIPE[k] for k in DEFAULT_RECIPE}
        if given["allocate"] is None and given["target"] is not None:  # a target names its allocation
            chosen["allocate"] = given["target"] if given["target"] in ALLOCATIONS else "energy"
    chosen["target"] = _allocation(chosen["allocate"], chosen["target"] or "units")
    return chosen


def _allocation(allocate: str, target: str) -> str:
    """The allocator a user named: the energy rule's target, or another allocation by name."""
    from ..core.checks import choice

    choice(allocate, ALLOCATIONS, "allocate")
    if allocate == "energy" or target == allocate:
        return target
    if target != "units":
        raise LstmpruneError(f"--target {target} applies to --allocate energy; received --allocate {allocate}")
    return allocate


@app.command()
@_errors
def export(
    model: Annotated[Optional[Path], typer.Argument(help="Model to export (default: the last pruned one).")] = None,
    to: Annotated[str, typer.Option("--to", help="tflite, keras, h5 or savedmodel.")] = "tflite",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output file or directory.")] = None,
    quantize: Annotated[
        Optional[str], typer.Option(help="dynamic: int8 weights (TFLite dynamic-range quantization).")
    ] = None,
    route: Annotated[
        str, typer.Option(help="TFLite path: auto (fused LSTM op where it converts), fused or keras3.")
    ] = "auto",
    workspace: Workspace = WS_DEFAULT,
    force: Force = False,
    json: Json = False,
):
    """Write a model as TFLite (batch 1, checked against Keras), .keras, .h5 or a SavedModel directory.

    Example:  lstmprune export --to tflite --quantize dynamic --out small.tflite
    """
    from ..core.files import check_output
    from ..core.workspace import Workspace as WS

    ws = WS.open(workspace)
    model = model or Path(ws.require("pruned"))
    if out is None:
        raise LstmpruneError("no output given; pass --out PATH (for example --out small.tflite)")
    check_output(out, force=force, models=[model], workspace=ws.root)
    from ..framework import import_tensorflow

    import_tensorflow()
    from ..framework import jobs

    data = ws.data if to == "tflite" and ws.data and ws.model else None  # the calibration data: real inputs
    options = _calibration_options(ws, None) if data else None
    result = jobs.export(model, to=to, out=out, quantize=quantize, route=route, force=force, data=data, options=options)
    if to != "tflite":
        record = {"out": str(out), "format": result}
        render.emit_json(record) if json else render.err.print(f"model -> {out} ({result})")
        return
    if json:
        render.emit_json(result.to_dict())
        return
    for note in result.notes:
        render.err.print(f"note: {note}")
    op = "fused UNIDIRECTIONAL_SEQUENCE_LSTM" if result.route == "fused" else "Keras 3 WHILE loops"
    render.out.print(
        f"TFLite -> {result.path}: {result.size_bytes / 1e6:.2f} MB, {op}, "
        f"{'int8 weights' if result.quantize else 'float32'}, batch 1, max |TFLite - Keras| {result.max_abs_diff:.1e} "
        f"on {result.checked} sequences of {result.checked_on}"
    )


@app.command()
@_errors
def finetune(
    model: Annotated[Optional[Path], typer.Argument(help="Model to train (default: the last pruned one).")] = None,
    data: Annotated[
        str, typer.Option("--data", "-d", help="Training data (same forms as analyze; labels from 'labels').")
    ] = "",
    validation: Annotated[
        Optional[str], typer.Option("--val", help="Validation data: metrics each epoch, early stopping, best kept.")
    ] = None,
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Output (default: beside MODEL, '-finetuned', same format).")
    ] = None,
    epochs: Annotated[int, typer.Option(help="Passes over the training data.")] = 3,
    batch_size: Annotated[int, typer.Option(help="Sequences per step.")] = 64,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-3,
    optimizer: Annotated[str, typer.Option(help="adam or sgd (momentum 0.9).")] = "adam",
    schedule: Annotated[str, typer.Option(help="constant or cosine (decays to 0 over all epochs).")] = "constant",
    teacher: Annotated[
        Optional[Path], typer.Option(help="Distil from this model (default: the original, when known).")
    ] = None,
    distill: Annotated[
        bool, typer.Option("--distill/--no-distill", help="Learn from the teacher's outputs too.")
    ] = True,
    alpha: Annotated[float, typer.Option(help="Weight of the teacher's loss, in [0, 1].")] = 0.5,
    start: Annotated[
        str,
        typer.Option(
            help="When the cut refitted its consumers: auto trains the first epoch from the refitted weights and "
            "from the same units with the original's own weights (rewound), and goes on with the lower "
            "validation loss (rewound without --val); rewound or pruned (the refitted file) choose one."
        ),
    ] = "auto",
    patience: Annotated[int, typer.Option(help="Epochs without improvement before stopping.")] = 2,
    strategy: Annotated[
        str,
        typer.Option(
            help="none, mirrored (every device of this machine) or multi-worker (the cluster in TF_CONFIG; each "
            "worker reads its own shard of the records, the chief writes the model)."
        ),
    ] = "none",
    backup_dir: Annotated[
        Optional[Path],
        typer.Option(help="Save the state after every epoch here and resume from it (a lost worker's run resumes)."),
    ] = None,
    loss: Annotated[
        str, typer.Option(help="auto (from the output activation), binary, categorical or sparse.")
    ] = "auto",
    max_samples: Annotated[Optional[int], typer.Option(help="Sequences per epoch at most.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the weights' noise (dropout) and of the batch order.")] = 0,
    features: Features = None,
    dequantize: Dequantize = None,
    scale: Scale = None,
    l2_normalize: L2 = False,
    fit: Fit = "pad",
    skip_nonfinite: SkipNonfinite = False,
    vocab: Vocab = None,
    schema: SchemaFile = None,
    workspace: Workspace = WS_DEFAULT,
    force: Force = False,
    json: Json = False,
):
    """Recover accuracy after the cut: train the pruned model, optionally distilled from the original.

    Example:  lstmprune finetune --data dbs/train/ --val dbs/valid/ --epochs 5

    Example:  lstmprune finetune --data dbs/train/ --start rewound   # skip the first-epoch trial of both starts

    Example:  TF_CONFIG='{"cluster": {"worker": ["h1:2222", "h2:2222"]}, "task": {"type": "worker", "index": 0}}'
    lstmprune finetune --data dbs/train/ --strategy multi-worker --backup-dir /shared/backup
    """
    from ..core import checks
    from ..core.files import check_output
    from ..core.workspace import Workspace as WS

    if not data:
        raise LstmpruneError("no training data; pass --data DATA (a TFRecord file, directory or glob)")
    checks.training(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=lr,
        seed=seed,
        alpha=alpha,
        patience=patience,
        max_samples=max_samples,
    )
    options = _options(schema, features, dequantize, scale, l2_normalize, fit, skip_nonfinite, vocab)
    ws = WS.open(workspace)
    model = model or Path(ws.require("pruned"))
    rewind = None
    if ws.model and ws.plan and ws.pruned and model.resolve() == Path(ws.pruned):
        rewind = (Path(ws.model), ws.plan_path)
    derived = ws.model and any(p and model.resolve() == Path(p) for p in (ws.pruned, ws.finetuned))
    notes = []  # printed once the run succeeds: a failure is one line
    if distill and teacher is None and ws.model and not derived:
        notes.append(
            f"{model} is not the workspace's pruned model, so its original is unknown: no teacher "
            "(pass --teacher ORIGINAL to distil)"
        )
    teacher = (teacher or (Path(ws.model) if derived else None)) if distill else None
    if out is None:
        out = model.with_name(f"{model.stem}-finetuned{model.suffix}") if model.suffix else Path(f"{model}-finetuned")
    check_output(out, force=force, models=[model, teacher], reads=[data, validation], workspace=ws.root)
    if backup_dir is not None:
        if backup_dir.exists() and not backup_dir.is_dir():
            raise LstmpruneError(f"--backup-dir {backup_dir} is a file; expected a folder (created when missing)")
        guard = dict(models=[model, teacher], reads=[data, validation], workspace=ws.root, flag="--backup-dir")
        check_output(backup_dir, force=True, **guard)
    from ..framework import import_tensorflow

    import_tensorflow()
    from ..framework import jobs

    job = jobs.finetune(
        model,
        data,
        out,
        options=options,
        validation=validation,
        teacher_path=teacher,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=lr,
        optimizer=optimizer,
        schedule=schedule,
        alpha=alpha,
        patience=patience,
        loss=loss,
        max_samples=max_samples,
        force=force,
        seed=seed,
        rewind=rewind,
        start=start,
        strategy=strategy,
        backup_dir=backup_dir,
        wrap=(lambda it, epoch: it) if json else (lambda it, epoch: render.progress(it, 0, f"epoch {epoch}")),
        on_epoch=None if json else lambda e: render.err.print(render.epoch_line(e)),
    )
    if not job.out:  # a worker other than the chief: the chief writes the model and the workspace
        render.err.print("worker done; the chief wrote the model")
        return
    ws.finetuned = str(Path(job.out).resolve())
    ws.save()
    for note in notes:
        render.err.print(f"note: {note}")
    if json:
        render.emit_json(job.to_dict())
        return
    for name, epoch in job.trials().items():
        loss = epoch["validation"]["loss"] if epoch["validation"] else epoch["loss"]
        render.err.print(f"start {name}: epoch 1 {'validation' if epoch['validation'] else 'training'} loss {loss:.4f}")
    if job.start == "rewound":
        render.err.print("note: trained the plan's units with the original's own weights, not the refitted ones")
    if job.kept_given:
        render.err.print(f"note: no epoch beat {model} on the validation data; it is written unchanged")
    render.out.print(render.finetune_table(job))
    render.err.print(f"model -> {job.out} ({job.kind})" + (f"   teacher: {teacher}" if teacher else ""))


LEARN_METHODS = ("l0", "group-lasso", "soft-gm")


@app.command()
@_errors
def learn(
    method: Annotated[
        str,
        typer.Option(
            help="l0: a hard-concrete gate on every unit, an expected-L0 penalty held to the budget (ISS-L0); "
            "group-lasso: a proximal group soft-threshold on all of a unit's weights (ISS-GL); soft-gm: the "
            "paper's soft pruning, the units its rates and criterion remove zeroed every epoch, free to regrow."
        ),
    ],
    data: Annotated[Optional[str], typer.Option("--data", "-d", help="Training data.")] = None,
    theta: Annotated[Optional[float], typer.Option(help="Share of the budget's measure to remove, in (0, 1).")] = None,
    budget: Budget = "units",
    penalty: Annotated[
        Optional[float],
        typer.Option(help="l0, group-lasso: a fixed penalty weight instead of theta; the plan removes what it closed."),
    ] = None,
    criterion: Criterion = None,
    allocate: Allocate = None,
    model: Annotated[Optional[Path], typer.Option(help="Model to train (default: the analyzed one).")] = None,
    validation: Annotated[
        Optional[str], typer.Option("--val", help="Validation data: metrics each epoch and of the cut model.")
    ] = None,
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Output (default: beside MODEL, '-METHOD', same format).")
    ] = None,
    epochs: Annotated[int, typer.Option(help="Passes over the training data.")] = 5,
    batch_size: Annotated[int, typer.Option(help="Sequences per step.")] = 64,
    lr: Annotated[float, typer.Option(help="Learning rate (the gates move 20x faster).")] = 1e-3,
    schedule: Annotated[str, typer.Option(help="constant or cosine (decays to 0 over all epochs).")] = "cosine",
    distill: Annotated[
        bool, typer.Option("--distill/--no-distill", help="Learn from the original's outputs too.")
    ] = True,
    alpha: Annotated[float, typer.Option(help="Weight of the teacher's loss, in [0, 1].")] = 0.5,
    min_units: Annotated[int, typer.Option(help="Fewest units any group keeps.")] = 1,
    inputs: Annotated[
        bool,
        typer.Option(
            "--inputs",
            help="l0: gate the input neurons of the first recurrent layers too (an Embedding's dimensions, or raw "
            "features through a fixed selection layer; the model keeps its input signature).",
        ),
    ] = False,
    every: Annotated[int, typer.Option(help="soft-gm: prune every this many steps (0: once per epoch).")] = 0,
    loss: Annotated[str, typer.Option(help="auto, binary, categorical or sparse (see finetune).")] = "auto",
    max_samples: Annotated[Optional[int], typer.Option(help="Sequences per epoch at most.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the gates' noise and of the batch order.")] = 0,
    features: Features = None,
    dequantize: Dequantize = None,
    scale: Scale = None,
    l2_normalize: L2 = False,
    fit: Fit = "pad",
    skip_nonfinite: SkipNonfinite = False,
    vocab: Vocab = None,
    schema: SchemaFile = None,
    workspace: Workspace = WS_DEFAULT,
    force: Force = False,
    json: Json = False,
):
    """Learn which units to drop while training (ISS-L0, ISS-GL, soft GM), then cut them like prune does.

    Writes the plan to the workspace and the smaller model, so report, export and sweep read them as usual.

    Example:  lstmprune learn --method l0 --theta 0.7 --data dbs/train/ --val dbs/valid/ --epochs 5

    Example:  lstmprune learn --method soft-gm --theta 0.7 --data dbs/train/   # the paper's rates, after analyze
    """
    from ..core import checks
    from ..core.checks import choice
    from ..core.files import check_output
    from ..core.plan import PlanSpec
    from ..core.statsfile import Statistics
    from ..core.summary import group_rows
    from ..core.workspace import Workspace as WS

    choice(method, LEARN_METHODS, "method")
    if not data:
        raise LstmpruneError("no training data; pass --data DATA (a TFRecord file, directory or glob)")
    checks.training(
        epochs=epochs, batch_size=batch_size, learning_rate=lr, seed=seed, alpha=alpha, max_samples=max_samples
    )
    if theta is not None:
        checks.theta(theta)
    checks.penalty(penalty)
    checks.at_least(every, "every", 0)
    checks.at_least(min_units, "min_units", 1)
    if (theta is None) == (penalty is None) and method != "soft-gm":
        raise LstmpruneError(f"learn --method {method} takes --theta or --penalty, one of them")
    if method == "soft-gm" and (theta is None or penalty is not None):
        raise LstmpruneError("learn --method soft-gm takes --theta (its rates' target), not --penalty")
    options = _options(schema, features, dequantize, scale, l2_normalize, fit, skip_nonfinite, vocab)
    ws = WS.open(workspace)
    model = model or Path(ws.require("model"))
    if ws.model and model.resolve() != Path(ws.model):
        raise LstmpruneError(
            f"the workspace {ws.root} belongs to {ws.model}; --model {model} is another model: give it its own "
            "workspace (-w)"
        )
    spec, statistics = None, None
    if method == "soft-gm":
        recipe = _recipe(
            False, allocate=allocate or "energy", target=None, criterion=criterion or "gm", compensate=None
        )
        spec = PlanSpec(theta, recipe["target"], recipe["criterion"], min_units, seed, "none", budget)
        statistics = Statistics.load(Path(ws.require("stats")))
    elif criterion is not None or allocate is not None:
        raise LstmpruneError(f"--criterion and --allocate choose soft-gm's cut; {method} learns its own")
    teacher = model if distill else None
    if out is None:
        stem = f"{model.stem}-{method}"
        out = model.with_name(stem + model.suffix) if model.suffix else Path(f"{model}-{method}")
    check_output(out, force=force, models=[model], reads=[data, validation], workspace=ws.root)
    from ..framework import import_tensorflow

    import_tensorflow()
    from ..framework.jobs import learn as run

    job = run(
        model,
        data,
        out,
        method=method,
        theta=theta,
        budget=budget,
        penalty=penalty,
        spec=spec,
        statistics=statistics,
        options=options,
        validation=validation,
        teacher_path=teacher,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=lr,
        schedule=schedule,
        alpha=alpha,
        loss=loss,
        max_samples=max_samples,
        min_units=min_units,
        inputs=inputs,
        every=every,
        seed=seed,
        force=force,
        wrap=(lambda it, epoch: it) if json else (lambda it, epoch: render.progress(it, 0, f"epoch {epoch}")),
        on_epoch=None if json else lambda e: render.err.print(render.epoch_line(e)),
    )
    job.plan.save(ws.plan_path)
    ws.model = ws.model or str(Path(model).resolve())
    ws.plan, ws.pruned, ws.finetuned = str(ws.plan_path), str(Path(job.out).resolve()), None
    ws.save()
    if json:
        render.emit_json(job.to_dict())
        return
    achieved = job.plan.achieved()["units"]
    title = f"{method}: {100 * achieved:.1f}% of units removed" + (f" (theta {theta} of {budget})" if theta else "")
    render.out.print(render.groups_table(group_rows(None, job.plan), title))
    before, after = job.params
    render.out.print(f"parameters {before:,} -> {after:,} ({100 * (1 - after / before):.1f}% removed)")
    if not job.record.get("exact"):
        render.err.print(
            f"note: {job.record['removed_alive']} removed units still carried weight when training ended; "
            "the cut model differs from the trained one by them (more epochs close them)"
        )
    if job.after is not None:
        render.out.print("validation: " + ", ".join(f"{k} {v:.4g}" for k, v in job.after.to_dict().items()))
    render.err.print(f"plan -> {ws.plan_path}   model -> {job.out} ({job.kind})")


@app.command()
@_errors
def report(
    eval_data: Annotated[
        Optional[str], typer.Option("--eval", help="Evaluation data: metrics before and after.")
    ] = None,
    original: Annotated[Optional[Path], typer.Option(help="Original model (default: the analyzed one).")] = None,
    pruned: Annotated[Optional[Path], typer.Option(help="Pruned model (default: the workspace's).")] = None,
    finetuned: Annotated[
        Optional[Path], typer.Option(help="Fine-tuned model (default: the workspace's, if any).")
    ] = None,
    markdown: Annotated[
        Optional[Path], typer.Option(help="Also write the report as Markdown, plots beside it.")
    ] = None,
    tflite: Annotated[
        bool, typer.Option("--tflite", help="Also measure TFLite batch-1 latency (converts each model).")
    ] = False,
    batch_size: Annotated[int, typer.Option(help="Sequences per batch for evaluation.")] = 64,
    max_samples: Annotated[Optional[int], typer.Option(help="Evaluate on at most this many sequences.")] = None,
    loss: Annotated[str, typer.Option(help="auto, binary, categorical or sparse (see finetune).")] = "auto",
    vocab: Vocab = None,
    workspace: Workspace = WS_DEFAULT,
    force: Force = False,
    json: Json = False,
):
    """What the cut bought and what it cost: size, FLOPs, latency and metrics, side by side.

    Example:  lstmprune report --eval dbs/valid/ --markdown report.md
    """
    from ..core.files import check_output
    from ..core.plan import Plan
    from ..core.schema import Options
    from ..core.statsfile import Statistics
    from ..core.workspace import Workspace as WS

    ws = WS.open(workspace)
    paths = {"original": original or Path(ws.require("model")), "pruned": pruned or Path(ws.require("pruned"))}
    if finetuned or ws.finetuned:
        paths["finetuned"] = finetuned or Path(ws.finetuned)
    if markdown is not None:
        models = list(paths.values())
        check_output(markdown, force=force, models=models, reads=[eval_data], workspace=ws.root, flag="--markdown")
        plots = markdown.with_name(markdown.stem + "_files")
        check_output(plots, force=True, models=models, reads=[eval_data], workspace=ws.root, flag="--markdown")

    def the_workspaces(given: Path | None, known: str | None) -> bool:
        return given is None or (known is not None and given.resolve() == Path(known).resolve())

    stats_ok = the_workspaces(original, ws.model) and ws.stats and Path(ws.stats).exists()
    plan_ok = the_workspaces(pruned, ws.pruned) and ws.plan and Path(ws.plan).exists()
    statistics = Statistics.load(Path(ws.stats)) if stats_ok else None
    plan = Plan.load(Path(ws.plan)) if plan_ok else None
    notes = []  # printed once the report is made: a failure is one line
    if not the_workspaces(pruned, ws.pruned) and ws.plan:
        notes.append("--pruned is not the workspace's pruned model; its plan is not shown")
    from ..framework import import_tensorflow

    import_tensorflow()
    from ..framework import jobs

    plot_dir = markdown.with_name(markdown.stem + "_files") if markdown else ws.root / "plots"
    options = Options(vocab=None if vocab is None else str(vocab))
    job = jobs.report(
        paths,
        statistics,
        plan,
        eval_spec=eval_data,
        options=options,
        batch_size=batch_size,
        max_samples=max_samples,
        loss=loss,
        tflite=tflite,
        plot_dir=plot_dir,
    )
    if markdown is not None:
        from ..core.files import write_atomic

        write_atomic(markdown, render.report_markdown(job, markdown.parent).encode(), force)
    for note in notes + job.notes:
        render.err.print(f"note: {note}")
    if json:
        render.emit_json(job.to_dict())
        return
    for table in render.report_tables(job):
        render.out.print(table)
    render.err.print("plots -> " + ", ".join(job.plots) + (f"   markdown -> {markdown}" if markdown else ""))


@app.command()
@_errors
def sweep(
    theta: Annotated[str, typer.Option(help="START:STOP:STEP (stop included) or a comma list.")] = "0.1:0.9:0.1",
    eval_data: Annotated[Optional[str], typer.Option("--eval", help="Evaluation data for the metric curve.")] = None,
    train_data: Annotated[
        Optional[str], typer.Option("--train", help="Training data for a brief fine-tune per theta.")
    ] = None,
    epochs: Annotated[int, typer.Option(help="Fine-tuning epochs per theta (0: none; needs --train).")] = 0,
    model: Annotated[Optional[Path], typer.Option(help="Model (default: the analyzed one).")] = None,
    criterion: Criterion = None,
    allocate: Allocate = None,
    target: Target = None,
    compensate: Compensate = None,
    paper: Paper = False,
    budget: Budget = "units",
    min_units: Annotated[int, typer.Option(help="Fewest units any group keeps.")] = 1,
    data: CalibrationData = None,
    refit_samples: RefitSamples = 2048,
    batch_size: Annotated[int, typer.Option(help="Sequences per batch for evaluation and training.")] = 64,
    max_samples: Annotated[
        Optional[int], typer.Option(help="Evaluate (and train) on at most this many sequences.")
    ] = None,
    loss: Annotated[str, typer.Option(help="auto, binary, categorical or sparse (see finetune).")] = "auto",
    plot: Annotated[Optional[Path], typer.Option(help="PNG of metric and latency against theta.")] = None,
    vocab: Vocab = None,
    workspace: Workspace = WS_DEFAULT,
    force: Force = False,
    json: Json = False,
):
    """Prune at many thetas as prune does, evaluate and time each, to choose theta against a budget.

    Example:  lstmprune sweep --theta 0.1:0.9:0.2 --eval dbs/valid/ --plot sweep.png

    Example:  lstmprune sweep --theta 0.3,0.5,0.7 --paper --eval dbs/valid/   # the paper's ISS-GM
    """
    from ..core import checks
    from ..core.files import check_output
    from ..core.plan import PlanSpec
    from ..core.schema import Options, parse_thetas
    from ..core.statsfile import Statistics
    from ..core.workspace import Workspace as WS

    checks.at_least(epochs, "epochs", 0)
    checks.at_least(batch_size, "batch_size", 1)
    checks.at_least(max_samples, "max_samples", 1)
    ws = WS.open(workspace)
    flags = dict(allocate=allocate, target=target, criterion=criterion, compensate=compensate)
    recipe, calibration, notes = _cut_recipe(ws, data, paper, **flags)
    cut = dict(target=recipe["target"], criterion=recipe["criterion"], compensate=recipe["compensate"])
    specs = [PlanSpec(t, min_units=min_units, budget=budget, **cut) for t in parse_thetas(theta)]
    model = model or Path(ws.require("model"))
    statistics = Statistics.load(Path(ws.require("stats")))
    plot = plot or ws.root / "sweep.png"
    reads = [eval_data, train_data, ws.stats, calibration]
    check_output(plot, force=force or plot == ws.root / "sweep.png", models=[model], reads=reads, flag="--plot")
    from ..framework import import_tensorflow

    import_tensorflow()
    from ..framework import jobs
    from ..framework.jobs.plots import sweep_plot

    options = Options(vocab=None if vocab is None else str(vocab))
    result = jobs.sweep(
        model,
        statistics,
        specs,
        eval_spec=eval_data,
        train_spec=train_data,
        epochs=epochs,
        options=options,
        batch_size=batch_size,
        max_samples=max_samples,
        loss=loss,
        data_spec=calibration,
        data_options=_calibration_options(ws, data),
        samples=refit_samples,
        on_point=None if json else lambda p: render.err.print(f"theta {p.theta}: {_short(p)}"),
    )
    sweep_plot(result, plot)
    for note in notes:
        render.err.print(f"note: {note}")
    if json:
        render.emit_json({**result.to_dict(), "plot": str(plot)})
        return
    render.out.print(render.sweep_table(result))
    render.err.print(f"plot -> {plot}")


def _short(point) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in (point.metrics or {}).items()) or "pruned"


@app.command()
@_errors
def inspect(
    data: Annotated[str, typer.Argument(help="TFRecord file, directory or glob, or a .npy / .npz file.")],
    sample: Annotated[int, typer.Option(help="Records read to report lengths.")] = 100,
    json: Json = False,
):
    """Show what a data source holds: a TFRecord's record type, features, values per frame and frame counts
    seen; an .npy / .npz's arrays, their shapes and how lstmprune reads them.

    Example:  lstmprune inspect ../shared/data/audioset/eval-00000-of-00004.tfrecord
    """
    from ..framework import import_tensorflow

    import_tensorflow()
    from ..framework.data import arrays
    from ..framework.data.formats import sniff
    from ..framework.data.tfrecords import inspect as inspect_records

    path = Path(data)
    report = arrays.inspect(path) if path.is_file() and sniff(path) in ("npy", "npz") else inspect_records(data, sample)
    if json:
        render.emit_json(report)
        return
    render.out.print(render.inspect_table(report))


@app.command()
@_errors
def merge(
    parts: Annotated[list[Path], typer.Argument(help="Statistics files of shards (analyze --shard I/N --stats FILE).")],
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Merged file (default: the workspace's statistics).")
    ] = None,
    workspace: Workspace = WS_DEFAULT,
    force: Force = False,
    json: Json = False,
):
    """Combine statistics of shards into the statistics of one pass over all of them (exact).

    Example:  lstmprune merge part0.npz part1.npz part2.npz part3.npz
    """
    from ..core.files import check_output
    from ..core.statsfile import Statistics
    from ..core.summary import group_rows
    from ..core.workspace import Workspace as WS

    ws = WS.open(workspace)
    if out is not None:
        check_output(out, force=force, reads=parts, workspace=ws.root)
    merged = Statistics.load(parts[0])
    for part in parts[1:]:
        merged = merged.merge(Statistics.load(part))
    target = out or ws.stats_path
    merged.save(target, force=force or out is None)
    if out is None:
        ws.model, ws.stats, ws.plan, ws.pruned = merged.meta.get("model"), str(target), None, None
        ws.save()
    rows = group_rows(merged)
    if json:
        render.emit_json({"stats": str(target), "parts": [str(p) for p in parts], "groups": rows})
        return
    render.out.print(render.groups_table(rows, f"{len(parts)} parts merged"))
    render.err.print(f"statistics -> {target}")


def main() -> None:

    app()
