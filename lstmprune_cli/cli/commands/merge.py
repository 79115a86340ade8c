"""lstmprune merge."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import render
from ..options import WS_DEFAULT, Force, Json, Workspace


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
    from ...framework.jobs.merge import run

    done = run(parts, workspace=workspace, out=out, force=force)
    if json:
        render.emit_json(done.to_dict())
        return
    render.out.print(render.groups_table(done.groups, f"{len(parts)} parts merged"))
    render.err.print(f"statistics -> {done.stats}")
