"""lstmprune inspect."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import render
from ..options import Json


def inspect(
    data: Annotated[str, typer.Argument(help="TFRecord file, directory or glob, or a .npy / .npz file.")],
    sample: Annotated[int, typer.Option(help="Records read to report lengths.")] = 100,
    json: Json = False,
):
    """Show what a data source holds: a TFRecord's record type, features, values per frame and frame counts
    seen; an .npy / .npz's arrays, their shapes and how lstmprune reads them.

    Example:  lstmprune inspect ../shared/data/audioset/eval-00000-of-00004.tfrecord
    """
    from ...framework.jobs.inspect import run

    report = run(data, sample=sample)
    if json:
        render.emit_json(report)
        return
    render.out.print(render.inspect_table(report))
