"""The verbs as library calls: each returns a documented record that the CLI only renders."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..core.errors import LstmpruneError
from ..core.files import refuse_existing
from ..core.groups import UnitGroup
from ..core.plan import Plan, build_plan
from ..core.recurrent import layer_classes
from ..core.schema import Options
from ..core.statsfile import Statistics
from . import data, measure, models
from .graph import sub_layer, unit_groups
from .probe import accumulate, build_probe
from .stream import Stream
from .surgery import prune_model

Wrap = Callable[[Iterable, int], Iterable]
DEFAULT_LENGTH = 100  # time steps assumed for cost figures when the model's length is free


@dataclass
class AnalyzeResult:
    statistics: Statistics
    seconds: float


@dataclass
class PruneResult:
    plan: Plan
    out: str | None
    kind: str | None
    params: tuple[int, int]
    flops: tuple[dict, dict]
    length: int
    latency_ms: tuple[float, float] | None = None
    batch: int = 64
    notes: list[str] = field(default_factory=list)


def _length(model) -> int:
    return model.inputs[0].shape[1] or DEFAULT_LENGTH


def _groups(model) -> list[UnitGroup]:
    groups = unit_groups(model)
    if not groups:
        raise LstmpruneError(
            f"the model has no recurrent layer to prune; expected one of {', '.join(layer_classes())} or Bidirectional"
        )
    return groups


def analyze(
    model_path: Path,
    data_spec: str,
    options: Options | None = None,
    batch_size: int = 64,
    max_samples: int | None = None,
    every_step: bool = False,
    wrap: Wrap = lambda it, total: it,
) -> AnalyzeResult:
    """Stream the calibration data through the model and accumulate each group's statistics."""
    options = options or Options()
    model = models.load_model(model_path)
    model_input = data.InputSpec.of(model)
    groups = _groups(model)
    schema = data.resolve(data_spec, options, model_input)
    probe = build_probe(model, groups, every_step)
    shard, shards = options.shard
    total = (schema.records - shard + shards - 1) // shards
    total = min(total, max_samples) if max_samples else total
    stream = Stream(schema, model_input.length, batch_size, max_samples)
    start = time.perf_counter()
    stats = accumulate(probe, wrap(stream, total))
    seconds = time.perf_counter() - start
    if any(s.count < 2 for s in stats.values()):
        raise LstmpruneError(f"the data gave {min(s.count for s in stats.values())} samples; expected at least 2")
    meta = {
        "model": str(model_path),
        "data": schema.describe(),
        "lstmprune": __version__,
        "length": model_input.length,
        "sequences": stream.seen,
        "skipped": stream.skipped,
    }
    return AnalyzeResult(Statistics(models.fingerprint(model), groups, stats, every_step, meta), seconds)


def unit_vectors(model, groups: list[UnitGroup]) -> dict:
    """Each group's unit vectors (H, Q) for the ranking criteria."""
    return {g.name: g.spec.unit_vectors(sub_layer(model, g).get_weights()) for g in groups}


def prune(
    model_path: Path,
    statistics: Statistics | None,
    out: Path | None,
    theta: float | None = None,
    target: str = "units",
    criterion: str = "gm",
    min_units: int = 1,
    seed: int = 0,
    plan_file: Path | None = None,
    force: bool = False,
    latency: bool = True,
    batch: int = 64,
    compensate: bool = True,
) -> PruneResult:
    """Make (or replay) a plan, cut the model, write it to `out` (nothing is written when out is None)."""
    if plan_file is None and (theta is None or not 0 < theta < 1):
        raise LstmpruneError(f"theta must be in (0, 1); received {theta}")
    if out is not None:
        refuse_existing(out, force)
    model = models.load_model(model_path)
    groups = _groups(model)
    fp = models.fingerprint(model)
    if plan_file is not None:
        plan = Plan.load(plan_file)
        plan.check_matches(fp, groups)
    else:
        if statistics is None:
            raise LstmpruneError("no statistics to prune from; run lstmprune analyze first or pass --plan")
        statistics.check_model(fp)
        means = {name: s.mean for name, s in statistics.stats.items()} if compensate else None
        plan = build_plan(
            groups,
            statistics.eigenvalues(),
            unit_vectors(model, groups),
            fp,
            theta,
            target,
            criterion,
            min_units,
            seed,
            means,
        )
    pruned = prune_model(model, plan.kept(), plan.fill())
    models.compile_like(pruned, models.compiled_loss(model_path))

    length = _length(model)
    result = PruneResult(
        plan,
        None,
        None,
        (model.count_params(), pruned.count_params()),
        (measure.flops(model, length), measure.flops(pruned, length)),
        length,
        batch=batch,
    )
    if latency:
        result.latency_ms = tuple(measure.latency([model, pruned], length, batch))
    if out is not None:
        result.kind = models.save_model(pruned, out, force)
        result.out = str(out)
    return result


def export(model_path: Path, to: str, out: Path, quantize: str | None = None, route: str = "auto", force: bool = False):
    """Write the model in another format; TFLite is checked against Keras before it is written."""
    formats = ("tflite", "keras", "h5", "savedmodel")
    if to not in formats:
        raise LstmpruneError(f"--to must be one of {', '.join(formats)}; received {to!r}")
    if quantize is not None and to != "tflite":
        raise LstmpruneError(f"--quantize applies to --to tflite only; received --to {to}")
    if route not in ("auto", "fused", "keras3"):
        raise LstmpruneError(f"--route must be auto, fused or keras3; received {route!r}")
    out = Path(out)
    if to in ("keras", "h5") and out.suffix != f".{to}":
        raise LstmpruneError(f"--to {to} writes a .{to} file; received --out {out}")
    refuse_existing(out, force)
    model = models.load_model(model_path)
    if to == "tflite":
        from .tflite import export_tflite

        return export_tflite(model, out, quantize, force, route)
    return models.save_model(model, out, force)
