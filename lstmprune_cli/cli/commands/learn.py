"""lstmprune learn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ...core.schema import Options
from ...core.training import Learning, Training
from .. import render
from ..options import DATA, WS_DEFAULT, Force, Json, Workspace, data_options, shared

TRAINING = ("epochs", "batch_size", "learning_rate", "schedule", "distill", "alpha", "loss", "max_samples", "seed")


@shared("criterion", "allocate", "budget", "min_units", "compensate")
@shared(*DATA, record="options", make=data_options)
@shared(*TRAINING, record="training", make=Training, epochs=5, schedule="cosine")
def learn(
    options: Options,
    training: Training,
    method: Annotated[
        str,
        typer.Option(
            help="l0: a hard-concrete gate on every unit, an expected-L0 penalty held to the budget (ISS-L0); "
            "group-lasso: a proximal group soft-threshold on all of a unit's weights (ISS-GL); both close their "
            "budget's lowest-ranked units at the cut, compensated. soft-gm: "
            "ISS-GM's soft pruning, the units its rates and criterion remove zeroed and free to regrow, then the cut. "
            "Registered: {methods}."
        ),
    ],
    data: Annotated[Optional[str], typer.Option("--data", "-d", help="Training data.")] = None,
    theta: Annotated[Optional[float], typer.Option(help="Share of the budget's measure to remove, in (0, 1).")] = None,
    penalty: Annotated[
        Optional[float],
        typer.Option(help="l0, group-lasso: a fixed penalty weight instead of theta; the plan removes what it closed."),
    ] = None,
    model: Annotated[Optional[Path], typer.Option(help="Model to train (default: the analyzed one).")] = None,
    validation: Annotated[
        Optional[str],
        typer.Option("--val", help="Validation data: metrics each epoch; the cut model's best epoch is written."),
    ] = None,
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Output (default: beside MODEL, '-METHOD', same format).")
    ] = None,
    inputs: Annotated[
        bool,
        typer.Option(
            "--inputs",
            help="l0: gate the input neurons of the first recurrent layers too (an Embedding's dimensions, or raw "
            "features through a fixed selection layer; the model keeps its input signature).",
        ),
    ] = False,
    every: Annotated[
        int, typer.Option(help="soft-gm: silence every N steps (0: four times as it learns, the last at the cut).")
    ] = 0,
    prior: Annotated[
        Optional[str],
        typer.Option(
            help="l0, group-lasso: start from a criterion's ranking of the units on the analyzed statistics, or "
            "none. Criteria: {criteria}. Default when the workspace analyzed this model: {priors} (chosen on "
            "validation data: docs/benchmarks.md); else none."
        ),
    ] = None,
    criterion: Optional[str] = None,
    allocate: Optional[str] = None,
    budget: str = "units",
    min_units: int = 1,
    compensate: Optional[str] = None,
    workspace: Workspace = WS_DEFAULT,
    force: Force = False,
    json: Json = False,
):
    """Learn which units to drop while training (ISS-L0, ISS-GL, soft GM), then cut them like prune does.

    Writes the plan to the workspace and the smaller model, so report, export and sweep read them as usual.

    Example:  lstmprune learn --method l0 --theta 0.7 --data dbs/train/ --val dbs/valid/ --epochs 5

    Example:  lstmprune learn --method soft-gm --theta 0.7 --allocate energy --data dbs/train/   # the paper's rates

    Example:  lstmprune learn --method l0 --theta 0.9 --allocate uniform --data dbs/train/   # which units, not how many

    l0 and group-lasso take --allocate learned (their scores choose how many units each group keeps) or uniform
    (every group at theta); their defaults, l0 learned and group-lasso uniform, were chosen on validation data
    (docs/benchmarks.md).
    """
    from ...core.summary import group_rows
    from ...framework.jobs.learn import run

    learning = Learning(
        method=method,
        theta=theta,
        penalty=penalty,
        budget=budget,
        criterion=criterion,
        allocate=allocate,
        min_units=min_units,
        inputs=inputs,
        every=every,
        compensate=compensate,
        prior=prior,
    )
    job = run(
        workspace=workspace,
        learning=learning,
        data=data,
        training=training,
        options=options,
        model=model,
        validation=validation,
        out=out,
        force=force,
        display=render.display(json),
    )
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
    cut = job.record.get("cut") or {}
    if cut.get("removed_alive"):  # with a budget: units the learner had not zeroed or closed went at the cut
        render.out.print(
            f"at the cut (step {cut['step']}): {cut['removed_alive']} of the {cut['removed']} removed units still "
            f"carried weight; compensate {job.plan.extra.get('compensate')} absorbed them"
        )
    elif job.record.get("closings"):  # l0, group-lasso with a budget: closed over the learning steps
        closings = job.record["closings"]
        steps = ", ".join(f"{c[1]} by step {c[0]}" for c in closings)
        alive = sum(c[2] for c in closings)
        render.out.print(
            f"at the cut (step {cut.get('step')}): all {cut.get('removed')} removed units closed ({steps}), each "
            f"closing compensated ({job.plan.extra.get('compensate')}); {alive} of them still carried weight when "
            "closed (the penalty had not closed or zeroed them)"
        )
    if "at_cut" in job.record:
        render.out.print(
            "validation right after the cut: " + ", ".join(f"{k} {v:.4g}" for k, v in job.record["at_cut"].items())
        )
    if job.after is not None:
        render.out.print("validation: " + ", ".join(f"{k} {v:.4g}" for k, v in job.after.to_dict().items()))
    render.err.print(f"plan -> {job.plan_path}   model -> {job.out} ({job.kind})")
