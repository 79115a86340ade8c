"""export: a model in another format; TFLite checked against Keras before it is written."""

from __future__ import annotations

from pathlib import Path

from ...core.errors import LstmpruneError
from ...core.files import refuse_existing
from ...core.schema import Options
from .. import import_tensorflow, models
from ..data.calibration import calibration, first_sequences

TFLITE_CHECKS = 8  # calibration sequences a TFLite file is compared with Keras on
FORMATS = ("tflite", "keras", "h5", "savedmodel")  # --to


def export(
    model_path: Path,
    *,
    to: str,
    out: Path,
    quantize: str | None = None,
    route: str = "auto",
    drop_mask: bool = False,
    force: bool = False,
    data: str | None = None,
    options: Options | None = None,
):
    """Write the model in another format; TFLite is checked against Keras before it is written, on the first
    sequences of `data` (the calibration data) when it is given and fits the model, else on random inputs."""
    if to not in FORMATS:
        raise LstmpruneError(f"to must be one of {', '.join(FORMATS)}; received {to!r}", option="to")
    if quantize is not None and to != "tflite":
        raise LstmpruneError(f"quantize applies to tflite output only; received {to!r}", option="quantize")
    if drop_mask and to != "tflite":
        raise LstmpruneError(f"--drop-mask applies to tflite output only; received {to!r}", option="drop_mask")
    from ..models.tflite import ROUTES

    if route not in ROUTES:
        raise LstmpruneError(f"route must be one of {', '.join(ROUTES)}; received {route!r}", option="route")
    out = Path(out)
    if to in ("keras", "h5") and out.suffix != f".{to}":
        raise LstmpruneError(f"a {to} model is written to a .{to} file; received out {out}", option="out")
    refuse_existing(out, force)
    model = models.load_model(model_path)
    if to == "tflite":
        from ..models.tflite import INT8_CALIBRATION, export_tflite

        inputs, representative = None, None
        if data is not None:
            dtype = getattr(model.inputs[0].dtype, "name", str(model.inputs[0].dtype))
            count = max(TFLITE_CHECKS, INT8_CALIBRATION if quantize == "int8" else 0)
            sample = first_sequences(calibration(model, data, options, max_samples=count), count)
            single = [[x[None].astype(dtype)] for x in sample]  # batch 1, as the TFLite file takes them
            inputs = single[:TFLITE_CHECKS]
            representative = single if quantize == "int8" else None  # int8's activation ranges
        return export_tflite(
            model, out, quantize, force, route, inputs=inputs, calibration=representative, drop_mask=drop_mask
        )
    return models.save_model(model, out, force, **models.saved_like(model_path))


def run(
    model: Path | None,
    *,
    workspace: Path,
    to: str = "tflite",
    out: Path | None = None,
    quantize: str | None = None,
    route: str = "auto",
    drop_mask: bool = False,
    force: bool = False,
):
    """export as the CLI runs it: the workspace's fine-tuned model by default, else its pruned one; a TFLite file
    is checked on the workspace's calibration data when it has some."""
    from ...core.files import check_output
    from ...core.workspace import Workspace

    ws = Workspace.open(workspace)
    model = model or Path(ws.finetuned or ws.require("pruned"))  # the model trained last: what ships
    if out is None:
        raise LstmpruneError("no output given; pass --out PATH (for example --out small.tflite)")
    check_output(out, force=force, models=[model], workspace=ws.root)
    import_tensorflow()
    data = ws.data if to == "tflite" and ws.data and ws.model else None  # the calibration data: real inputs
    options = ws.calibration_options(None) if data else None
    return export(
        model,
        to=to,
        out=out,
        quantize=quantize,
        route=route,
        drop_mask=drop_mask,
        force=force,
        data=data,
        options=options,
    )
