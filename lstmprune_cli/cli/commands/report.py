"""lstmprune report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import render
from ..options import WS_DEFAULT, Force, Json, Workspace, shared


@shared("batch_size", "max_samples", "loss", "vocab")
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
    tflite_file: Annotated[
        Optional[list[Path]],
        typer.Option(
            "--tflite-file",
            help="A TFLite file `export` wrote (repeatable): its size, batch-1 latency and, with --eval, its metrics "
            "as it ships (float, dynamic, float16 or int8).",
        ),
    ] = None,
    batch_size: int = 64,
    max_samples: Optional[int] = None,
    loss: str = "auto",
    vocab: Optional[Path] = None,
    workspace: Workspace = WS_DEFAULT,
    force: Force = False,
    json: Json = False,
):
    """What the cut bought and what it cost: size, FLOPs, latency and metrics, side by side.

    Example:  lstmprune report --eval dbs/valid/ --markdown report.md

    Example:  lstmprune report --eval dbs/valid/ --tflite-file small-int8.tflite   # the file that ships, scored
    """
    from ...core.files import write_atomic
    from ...framework.jobs.report import run

    job = run(
        workspace=workspace,
        eval_data=eval_data,
        original=original,
        pruned=pruned,
        finetuned=finetuned,
        markdown=markdown,
        tflite=tflite,
        batch_size=batch_size,
        max_samples=max_samples,
        loss=loss,
        vocab=vocab,
        files=tflite_file or [],
        force=force,
    )
    if markdown is not None:
        write_atomic(markdown, render.report_markdown(job, markdown.parent).encode(), force)
    for note in job.notes:
        render.err.print(f"note: {note}")
    if json:
        render.emit_json(job.to_dict())
        return
    for table in render.report_tables(job):
        render.out.print(table)
    render.err.print("plots -> " + ", ".join(job.plots) + (f"   markdown -> {markdown}" if markdown else ""))
