"""lstmprune analyze."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ...core.schema import Options
from .. import render
from ..options import DATA, WS_DEFAULT, Force, Json, Workspace, data_options, shared


@shared("shard", *DATA, record="options", make=data_options)
def analyze(
    model: Annotated[Path, typer.Argument(help="A .keras file or a SavedModel directory written by lstmprune.")],
    data: Annotated[str, typer.Option("--data", "-d", help="TFRecord file, directory or glob of SequenceExamples.")],
    options: Options,
    batch_size: Annotated[int, typer.Option(help="Sequences per batch.")] = 64,
    max_samples: Annotated[Optional[int], typer.Option(help="Stop after this many sequences.")] = None,
    every_step: Annotated[
        bool, typer.Option(help="Use every valid time step as a sample, not only the final state.")
    ] = False,
    stats: Annotated[Optional[Path], typer.Option(help="Also write the statistics to this file (.npz).")] = None,
    runner: Annotated[
        str,
        typer.Option(help="One of {runners}. beam: an Apache Beam pipeline (pip install 'lstmprune\\[beam]')."),
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
    from ...framework.jobs.analyze import run

    done = run(
        model,
        data,
        workspace=workspace,
        options=options,
        batch_size=batch_size,
        max_samples=max_samples,
        every_step=every_step,
        stats=stats,
        runner=runner,
        beam_options=beam_options,
        beam_output=beam_output,
        force=force,
        display=render.display(json),
    )
    if json:
        render.emit_json(done.to_dict())
        return
    n = max(r["samples"] for r in done.groups)
    render.out.print(
        render.groups_table(done.groups, f"{Path(model).name}: {n:,} samples in {done.result.seconds:.1f} s")
    )
    render.err.print(f"model: {done.result.statistics.meta.get('model_format')}", soft_wrap=True)
    render.err.print(f"statistics -> {done.stats}", soft_wrap=True)
    render.err.print("next: " + render.hint("lstmprune prune --theta 0.7 --out small.keras", workspace), soft_wrap=True)
