"""lstmprune prune."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from .. import render
from ..options import CUT, WS_DEFAULT, Force, Json, Workspace, shared


@shared(*CUT, record="cut", make=dict)
def prune(
    cut: dict,
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
    seed: Annotated[int, typer.Option(help="Seed of the random criterion.")] = 0,
    plan: Annotated[Optional[Path], typer.Option(help="Replay this plan file instead of making one.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Show the plan and the costs; write no model.")] = False,
    latency: Annotated[
        bool, typer.Option(help="Measure CPU latency of both models side by side (skip for large models).")
    ] = True,
    max_drop: Annotated[
        Optional[float],
        typer.Option(
            help="Instead of --theta: the largest cut whose headline metric on --eval drops at most this much (points "
            "of GAP@20, accuracy, top-1 or R²; percent of perplexity), found by bisection over theta."
        ),
    ] = None,
    max_params: Annotated[
        Optional[int],
        typer.Option(help="Instead of --theta: the smallest cut that leaves at most this many parameters."),
    ] = None,
    max_flops: Annotated[
        Optional[int],
        typer.Option(help="Instead of --theta: the smallest cut that leaves at most these FLOPs per step."),
    ] = None,
    max_latency: Annotated[
        Optional[float],
        typer.Option(
            help="Instead of --theta: the smallest cut whose measured latency (ms per call, median of 20 on this "
            "machine, at --latency-batch on --latency-runtime) is at most this much."
        ),
    ] = None,
    latency_batch: Annotated[int, typer.Option(help="Sequences per call --max-latency times.")] = 1,
    latency_runtime: Annotated[
        str, typer.Option(help="Where --max-latency times each cut: tf (the Keras model) or tflite (its file).")
    ] = "tf",
    eval_data: Annotated[
        Optional[str], typer.Option("--eval", help="Held-out data --max-drop measures each cut on.")
    ] = None,
    workspace: Workspace = WS_DEFAULT,
    force: Force = False,
    json: Json = False,
):
    """Decide how many units each group keeps and which ones, and physically remove the others.

    Example:  lstmprune prune --theta 0.7 --out small.keras   (--paper: the paper's ISS-GM)

    Example:  lstmprune prune --max-drop 1 --eval valid.tfrecord   # the smallest model within 1 point

    Example:  lstmprune prune --max-latency 2 --latency-runtime tflite   # a file under 2 ms per sequence
    """
    from ...core.budget import Goal
    from ...framework.jobs.prune import run

    done = run(
        workspace=workspace,
        theta=theta,
        out=out,
        model=model,
        stats=stats,
        plan=plan,
        dry_run=dry_run,
        latency=latency,
        seed=seed,
        goal=Goal.of(
            drop=max_drop,
            params=max_params,
            flops=max_flops,
            latency=max_latency,
            runtime=latency_runtime,
            batch=latency_batch,
        ),
        eval_data=eval_data,
        force=force,
        display=render.display(json, point=search_point),
        **cut,
    )
    for note in done.notes:
        render.err.print(f"note: {note}")
    if json:
        render.emit_json(done.to_dict())
        return
    result, p = done.result, done.result.plan
    title = (
        "plan (replayed)"
        if done.replayed
        else (
            f"theta {p.theta} of {p.extra.get('budget', 'units')}, allocation {p.target}, criterion {p.criterion}, "
            f"compensate {p.extra.get('compensate')}"
        )
    )
    render.out.print(render.groups_table(done.groups, title))
    if "search" in p.extra:
        render.out.print(search_table(p.extra["search"]))
        render.out.print(search_summary(p.extra["search"]))
    a = p.achieved()
    render.out.print(
        f"achieved rate: {100 * a['units']:.1f}% of units, mean of group rates {100 * a['layer-mean']:.1f}%"
        + "".join(f", {100 * v:.1f}% of {k}" for k, v in p.extra.get("removed", {}).items() if k != "units")
    )
    refit = p.extra.get("refit")
    if refit:
        fits = ", ".join(f"{c['layer']} {c['before']:.3g} -> {c['after']:.3g}" for c in refit["consumers"])
        replayed = f" ({refit['replayed']} replaying the original's)" if refit.get("replayed") else ""
        render.out.print(
            f"refit in {refit['seconds']:.1f} s, {refit['passes']} passes{replayed}; pre-activation MSE: {fits}"
        )
    render.out.print(render.cost_table(result))
    render.err.print(
        f"plan -> {done.plan_path}"
        + (f"   model -> {result.out} ({result.kind})" if result.out else "   (dry run: no model written)")
    )


def search_point(p: dict) -> None:
    """One cut a budget's search tried, as it finishes."""
    verdict = "within" if p["within"] else "over"
    render.err.print(f"theta {p['theta']:g}: {p['measure']} {p['value']:.4g} ({verdict} the budget)")


def search_table(search: dict) -> Table:
    """The cuts a budget's search tried, in the order tried, the chosen one marked."""
    drop = search.get("reference") is not None
    measure = f"{search['measure']} drop" if drop else search["measure"]
    table = Table(title=f"the search: {measure} at most {search['limit']:g}", title_justify="left")
    for col in ("theta", measure, "within"):
        table.add_column(col, justify="right")
    for p in search["points"]:
        mark = " *" if p["theta"] == search["theta"] else ""
        table.add_row(f"{p['theta']:g}{mark}", f"{p['value']:.4g}", "yes" if p["within"] else "no")
    return table


def search_summary(search: dict) -> str:
    """What a budget's search chose, and what it cost."""
    base = f"; the original's {search['measure']}: {search['reference']:.4g}" if search.get("reference") else ""
    how = f" ({search['conditions']})" if search.get("conditions") else ""
    done = f"chose theta {search['theta']:g} after {len(search['points'])} cuts in {search['seconds']:.1f} s"
    return done + base + how
