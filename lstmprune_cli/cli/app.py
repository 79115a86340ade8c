"""The `lstmprune` command line: parse, call the library, render. TensorFlow is imported inside commands."""

from __future__ import annotations

import functools
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


def _errors(fn):
    """Bad input ends in one line on stderr and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LstmpruneError as e:
            render.error(str(e))
            raise typer.Exit(2) from None

    return wrapper


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
    workspace: Workspace = WS_DEFAULT,
    force: Force = False,
    json: Json = False,
):
    """Stream calibration data through MODEL and accumulate each unit group's covariance.

    Example:  lstmprune analyze sample_models/audioset_lstm.keras --data sample_models/calibration.tfrecord
    """
    from ..core.files import refuse_existing
    from ..core.summary import group_rows
    from ..core.workspace import Workspace as WS

    if stats is not None:
        refuse_existing(stats, force)
    ws = WS.open(workspace)
    from ..framework import import_tensorflow

    import_tensorflow()
    from ..framework import jobs

    result = jobs.analyze(
        model, data, batch_size, max_samples, every_step, wrap=(lambda it, total: it) if json else render.progress
    )
    result.statistics.save(ws.stats_path)
    if stats is not None:
        result.statistics.save(stats)
    ws.model, ws.stats, ws.plan, ws.pruned = str(model.resolve()), str(ws.stats_path), None, None
    ws.save()
    rows = group_rows(result.statistics)
    if json:
        render.emit_json(
            {
                "stats": str(ws.stats_path),
                "seconds": result.seconds,
                "data": result.statistics.meta["data"],
                "groups": rows,
            }
        )
        return
    n = max(r["samples"] for r in rows)
    render.out.print(render.groups_table(rows, f"{Path(model).name}: {n:,} samples in {result.seconds:.1f} s"))
    render.err.print(f"statistics -> {ws.stats_path}   next: lstmprune prune --theta 0.7 --out small.keras")


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
    criterion: Annotated[str, typer.Option(help="Unit ranking: gm (geometric median), l2 or random.")] = "gm",
    target: Annotated[
        str,
        typer.Option(
            help="units: share of all units; layer-mean: mean of group rates (eq. 13); uniform: every group at theta."
        ),
    ] = "units",
    min_units: Annotated[int, typer.Option(help="Fewest units any group keeps.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the random criterion.")] = 0,
    plan: Annotated[Optional[Path], typer.Option(help="Replay this plan file instead of making one.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Show the plan and the costs; write no model.")] = False,
    latency: Annotated[
        bool, typer.Option(help="Measure CPU latency of both models side by side (skip for large models).")
    ] = True,
    workspace: Workspace = WS_DEFAULT,
    force: Force = False,
    json: Json = False,
):
    """Choose each group's rate from its eigenvalues, rank units, and physically remove them.

    Example:  lstmprune prune --theta 0.7 --out small.keras
    """
    from ..core.statsfile import Statistics
    from ..core.summary import group_rows
    from ..core.workspace import Workspace as WS

    if plan is None and (theta is None or not 0 < theta < 1):
        raise LstmpruneError(f"theta must be in (0, 1); received {theta}")
    ws = WS.open(workspace)
    model = model or Path(ws.require("model"))
    if out is None and not dry_run:
        from ..framework.models import default_output

        out = default_output(model)
    statistics = None
    if plan is None:
        statistics = Statistics.load(stats or Path(ws.require("stats")))
    elif stats is not None or (ws.stats and Path(ws.stats).exists()):
        statistics = Statistics.load(stats or Path(ws.stats))  # only to show the energy columns
    from ..framework import import_tensorflow

    import_tensorflow()
    from ..framework import jobs

    result = jobs.prune(
        model, statistics, None if dry_run else out, theta, target, criterion, min_units, seed, plan, force, latency
    )
    if statistics is not None and statistics.fingerprint != result.plan.fingerprint:
        statistics = None
    result.plan.save(ws.plan_path)
    ws.model = ws.model or str(model)
    ws.plan, ws.pruned = str(ws.plan_path), result.out and str(Path(result.out).resolve())
    ws.save()
    rows = group_rows(statistics, result.plan)
    if json:
        render.emit_json(render.prune_record(result, rows))
        return
    p = result.plan
    title = "plan (replayed)" if plan else f"theta {p.theta}, target {p.target}, criterion {p.criterion}"
    render.out.print(render.groups_table(rows, title))
    a = p.achieved()
    render.out.print(
        f"achieved rate: {100 * a['units']:.1f}% of units, mean of group rates {100 * a['layer-mean']:.1f}%"
    )
    render.out.print(render.cost_table(result))
    render.err.print(
        f"plan -> {ws.plan_path}"
        + (f"   model -> {result.out} ({result.kind})" if result.out else "   (dry run: no model written)")
    )


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
    from ..core.workspace import Workspace as WS

    ws = WS.open(workspace)
    model = model or Path(ws.require("pruned"))
    if out is None:
        raise LstmpruneError("no output given; pass --out PATH (for example --out small.tflite)")
    from ..framework import import_tensorflow

    import_tensorflow()
    from ..framework import jobs

    result = jobs.export(model, to, out, quantize, route, force)
    if to != "tflite":
        record = {"out": str(out), "format": result}
        render.emit_json(record) if json else render.err.print(f"model -> {out} ({result})")
        return
    record = {
        "out": result.path,
        "route": result.route,
        "quantize": result.quantize,
        "max_abs_diff": result.max_abs_diff,
        "size_bytes": result.size_bytes,
        "notes": result.notes,
    }
    if json:
        render.emit_json(record)
        return
    for note in result.notes:
        render.err.print(f"note: {note}")
    op = "fused UNIDIRECTIONAL_SEQUENCE_LSTM" if result.route == "fused" else "Keras 3 WHILE loops"
    render.out.print(
        f"TFLite -> {result.path}: {result.size_bytes / 1e6:.2f} MB, {op}, "
        f"{'int8 weights' if result.quantize else 'float32'}, batch 1, max |TFLite - Keras| {result.max_abs_diff:.1e}"
    )


def main() -> None:
    app()
