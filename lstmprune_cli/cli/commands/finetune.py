"""lstmprune finetune."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ...core.schema import Options
from ...core.training import Training
from .. import render
from ..options import DATA, TRAINING, WS_DEFAULT, Force, Json, Workspace, data_options, shared


@shared(*DATA, record="options", make=data_options)
@shared(*TRAINING, record="training", make=Training)
def finetune(
    options: Options,
    training: Training,
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
    teacher: Annotated[
        Optional[Path], typer.Option(help="Distil from this model (default: the original, when known).")
    ] = None,
    start: Annotated[
        str,
        typer.Option(
            help="When the cut refitted its consumers: auto trains the first batches from the refitted weights "
            "and from the same units with the original's own weights (rewound), and goes on with the lower "
            "validation loss (rewound without --val); the trial counts against --epochs (a whole epoch each "
            "when --epochs is at least 4, else a quarter of the budget each). rewound or pruned (the refitted "
            "file) choose one."
        ),
    ] = "auto",
    backup_dir: Annotated[
        Optional[Path],
        typer.Option(help="Save the state after every epoch here and resume from it (a lost worker's run resumes)."),
    ] = None,
    workspace: Workspace = WS_DEFAULT,
    force: Force = False,
    json: Json = False,
):
    """Recover accuracy after the cut: train the pruned model, optionally distilled from the original.

    Example:  lstmprune finetune --data dbs/train/ --val dbs/valid/ --epochs 5

    Example:  lstmprune finetune --data dbs/train/ --start rewound   # skip the trial of both starts

    Example:  TF_CONFIG='{"cluster": {"worker": ["h1:2222", "h2:2222"]}, "task": {"type": "worker", "index": 0}}'
    lstmprune finetune --data dbs/train/ --strategy multi-worker --backup-dir /shared/backup
    """
    from ...framework.jobs.finetune import run

    job = run(
        model,
        workspace=workspace,
        data=data,
        training=training,
        options=options,
        validation=validation,
        out=out,
        teacher=teacher,
        start=start,
        backup_dir=backup_dir,
        force=force,
        display=render.display(json),
    )
    if not job.out:  # a worker other than the chief: the chief writes the model and the workspace
        render.err.print("worker done; the chief wrote the model")
        return
    for note in job.notes:
        render.err.print(f"note: {note}")
    if json:
        render.emit_json(job.to_dict())
        return
    for name, epoch in job.trials().items():
        loss = epoch["validation"]["loss"] if epoch["validation"] else epoch["loss"]
        kind = "validation" if epoch["validation"] else "training"
        render.err.print(f"start {name}: {epoch['samples']:,} sequences of trial, {kind} loss {loss:.4f}")
    if job.start == "rewound":
        render.err.print("note: trained the plan's units with the original's own weights, not the refitted ones")
    if job.kept_given:
        render.err.print(f"note: no epoch beat {job.model} on the validation data; it is written unchanged")
    render.out.print(render.finetune_table(job))
    render.err.print(f"model -> {job.out} ({job.kind})" + (f"   teacher: {job.teacher}" if job.teacher else ""))
