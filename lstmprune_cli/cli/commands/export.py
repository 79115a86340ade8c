"""lstmprune export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import render
from ..options import WS_DEFAULT, Force, Json, Workspace

PRECISION = {
    None: "float32",
    "dynamic": "int8 weights",
    "float16": "float16 weights",
    "int8": "int8 weights and activations",
}


ROUTE_OPS = {
    "fused": "fused UNIDIRECTIONAL_SEQUENCE_LSTM",
    "keras3": "Keras 3 WHILE loops",
    "unrolled": "steps unrolled",
}


def export(
    model: Annotated[
        Optional[Path],
        typer.Argument(help="Model to export (default: the workspace's fine-tuned model, else its pruned one)."),
    ] = None,
    to: Annotated[str, typer.Option("--to", help="One of: {formats}.")] = "tflite",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output file or directory.")] = None,
    quantize: Annotated[
        Optional[str],
        typer.Option(
            help="dynamic: int8 weights, float activations; float16: float16 weights; int8: weights and "
            "activations in integers, calibrated on the workspace's calibration data (LSTMs as the fused op, GRUs "
            "unrolled; a masked model needs --drop-mask; a model the converter cannot quantize is refused)."
        ),
    ] = None,
    route: Annotated[
        str,
        typer.Option(
            help="TFLite path: auto (the first that converts and matches, in this order), fused (the fused LSTM "
            "op), keras3 (WHILE loops) or unrolled (a static graph; fixed-length inputs without a mask, so that "
            "int8 can take a GRU).",
        ),
    ] = "auto",
    drop_mask: Annotated[
        bool,
        typer.Option(
            "--drop-mask",
            help="Drop the model's mask (Masking, Embedding mask_zero): the file takes each sequence at its own "
            "length, without padding, and its LSTMs stay fused ops that int8 can quantize. Checked on the "
            "calibration sequences with their trailing padding cut off.",
        ),
    ] = False,
    workspace: Workspace = WS_DEFAULT,
    force: Force = False,
    json: Json = False,
):
    """Write a model as TFLite (batch 1, checked against Keras), .keras, .h5 or a SavedModel directory.

    Example:  lstmprune export --to tflite --quantize dynamic --out small.tflite

    Example:  lstmprune export --quantize int8 --out small-int8.tflite   # integers only, for the edge

    Example:  lstmprune export --quantize int8 --drop-mask --out small-int8.tflite   # a masked model, unpadded
    """
    from ...framework.jobs.export import run

    result = run(
        model, workspace=workspace, to=to, out=out, quantize=quantize, route=route, drop_mask=drop_mask, force=force
    )
    if to != "tflite":
        record = {"out": str(out), "format": result}
        render.emit_json(record) if json else render.err.print(f"model -> {out} ({result})")
        return
    if json:
        render.emit_json(result.to_dict())
        return
    for note in result.notes:
        render.err.print(f"note: {note}")
    op = ROUTE_OPS[result.route]
    render.out.print(
        f"TFLite -> {result.path}: {result.size_bytes / 1e6:.2f} MB, {op}, "
        f"{PRECISION[result.quantize]}, batch 1, max |TFLite - Keras| {result.max_abs_diff:.1e} "
        f"on {result.checked} sequences of {result.checked_on}"
        + (", each at its own length (no mask)" if result.drop_mask else "")
    )
