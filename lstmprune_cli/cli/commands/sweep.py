"""lstmprune sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ...core.schema import parse_thetas
from ...core.training import Training
from .. import render
from ..options import CUT, WS_DEFAULT, Force, Json, Workspace, shared


@shared(*CUT, "vocab", record="cut", make=dict)
@shared("epochs", "batch_size", "max_samples", "loss", record="training", make=Training, epochs=0)
def sweep(
    cut: dict,
    training: Training,
    theta: Annotated[str, typer.Option(help="START:STOP:STEP (stop included) or a comma list.")] = "0.1:0.9:0.1",
    eval_data: Annotated[Optional[str], typer.Option("--eval", help="Evaluation data for the metric curve.")] = None,
    train_data: Annotated[
        Optional[str], typer.Option("--train", help="Training data for a brief fine-tune per theta.")
    ] = None,
    model: Annotated[Optional[Path], typer.Option(help="Model (default: the analyzed one).")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="PNG of metric and latency against theta.")] = None,
    workspace: Workspace = WS_DEFAULT,
    force: Force = False,
    json: Json = False,
):
    """Prune at many thetas as prune does, evaluate and time each, to choose theta against a budget.

    Example:  lstmprune sweep --theta 0.1:0.9:0.2 --eval dbs/valid/ --plot sweep.png

    Example:  lstmprune sweep --theta 0.3,0.5,0.7 --paper --eval dbs/valid/   # the paper's ISS-GM
    """
    from ...framework.jobs.sweep import run

    result, plot, notes = run(
        workspace=workspace,
        thetas=parse_thetas(theta),
        training=training,
        eval_data=eval_data,
        train_data=train_data,
        model=model,
        plot=plot,
        force=force,
        display=render.display(json),
        **cut,
    )
    for note in notes:
        render.err.print(f"note: {note}")
    if json:
        render.emit_json({**result.to_dict(), "plot": str(plot)})
        return
    render.out.print(render.sweep_table(result))
    render.err.print(f"plot -> {plot}")
