"""The verbs as library calls: each returns a documented record that the CLI only renders."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..core.errors import LstmpruneError
from ..core.files import refuse_existing
from ..core.plan import MEASURING, Plan, PlanSpec
from ..core.schema import Options
from ..core.statsfile import Statistics
from . import data, measure, models
from .probe import Accumulator, build_probe
from .pruning import cut, make_plan, model_groups
from .refit import refit
from .stream import Stream

REFIT_SAMPLES = 2048  # calibration sequences a refit reads per consumer
DEFAULT_LENGTH = 100  # time steps assumed for cost figures when the model's length is free


@dataclass
class AnalyzeResult:
    statistics: Statistics
    seconds: float

    def to_dict(self) -> dict:
        return {"seconds": self.seconds, "data": self.statistics.meta["data"]}


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

    def to_dict(self) -> dict:
        """The plan's settings (its groups apart), parameters, FLOPs and, when measured, latency."""
        (p0, p1), (f0, f1) = self.params, self.flops
        record = {
            "out": self.out,
            "format": self.kind,
            "plan": {k: v for k, v in self.plan.to_dict().items() if k != "groups"},
            "params": {"original": p0, "pruned": p1},
            "flops": {"original": f0, "pruned": f1, "length": self.length},
        }
        if self.latency_ms:
            t0, t1 = self.latency_ms
            record["latency_ms"] = {"batch": self.batch, "original": t0, "pruned": t1, "speedup": t0 / t1}
        return record


def _length(model) -> int:
    return model.inputs[0].shape[1] or DEFAULT_LENGTH


class Analysis:
    """One calibration pass, as steps: iterate `run()` (it yields the sequences of each batch), then `result()`.

    job = Analysis(model_path, data_spec)
    for _ in job.run(): ...  # a progress bar can wrap this iterator
    statistics = job.result().statistics
    """

    def __init__(
        self,
        model_path: Path,
        data_spec: str,
        options: Options | None = None,
        *,
        batch_size: int = 64,
        max_samples: int | None = None,
        every_step: bool = False,
    ):
        options = options or Options()
        self.model_path, self.every_step = model_path, every_step
        self.model = models.load_model(model_path)
        self.input = data.InputSpec.of(self.model)
        self.groups = model_groups(self.model)
        self.schema = data.resolve(data_spec, options, self.input)
        self.probe = build_probe(self.model, self.groups, every_step)
        shard, shards = options.shard
        total = (self.schema.records - shard + shards - 1) // shards
        self.total = min(total, max_samples) if max_samples else total  # sequences expected
        self.stream = Stream(self.schema, self.input.length, batch_size, max_samples)
        self.accumulator: Accumulator | None = None
        self.seconds = 0.0

    def run(self) -> Iterator[int]:
        """Accumulate the statistics batch by batch, yielding each batch's number of sequences."""
        self.accumulator = Accumulator(self.probe)
        start = time.perf_counter()
        for x in self.stream:
            yield self.accumulator.add(x)
        self.seconds = time.perf_counter() - start

    def result(self) -> AnalyzeResult:
        """The statistics of the pass that `run()` made."""
        if self.accumulator is None:
            raise LstmpruneError("the analysis has not run; iterate Analysis.run() first")
        seen, skipped = self.stream.seen, self.stream.skipped
        return AnalyzeResult(self.statistics(self.accumulator.stats, seen, skipped), self.seconds)

    def statistics(self, stats: dict, seen: int, skipped: int, **extra) -> Statistics:
        """The statistics file of this pass (or of a runner that made it elsewhere), refused under 2 samples."""
        if any(s.count < 2 for s in stats.values()):
            raise LstmpruneError(f"the data gave {min(s.count for s in stats.values())} samples; expected at least 2")
        meta = {
            "model": str(self.model_path),
            "data": self.schema.describe(),
            "model_format": models.describe(self.model_path),
            "lstmprune": __version__,
            "length": self.input.length,
            "sequences": seen,
            "skipped": skipped,
            **extra,
        }
        return Statistics(models.fingerprint(self.model), self.groups, stats, self.every_step, meta)


def analyze(model_path: Path, data_spec: str, options: Options | None = None, **settings) -> AnalyzeResult:
    """Stream the calibration data through the model and accumulate each group's statistics.

    settings: batch_size, max_samples, every_step, as `Analysis` takes them.
    """
    job = Analysis(model_path, data_spec, options, **settings)
    for _ in job.run():
        pass
    return job.result()


def calibration(model, data_spec: str, options: Options | None = None, *, batch_size: int = 64, max_samples=None):
    """A factory of model-input batches over `data_spec` (each call starts a new pass)."""
    model_input = data.InputSpec.of(model)
    schema = data.resolve(data_spec, options or Options(), model_input)
    return lambda: Stream(schema, model_input.length, batch_size, max_samples)


def first_sequences(batches, count: int) -> np.ndarray:
    """The first `count` sequences of a calibration stream, as one array."""
    found, seen = [], 0
    for x in batches():
        found.append(np.asarray(x)[: count - seen])
        seen += len(found[-1])
        if seen >= count:
            break
    return np.concatenate(found)


def lazy_calibration(model, data_spec: str | None, options: Options | None, samples: int):
    """A factory of calibration batches, resolved on the first call only: most cuts never run the model."""
    stream = None

    def batches():
        nonlocal stream
        if data_spec is None:
            raise LstmpruneError("this cut runs the model; pass data (the data analyze read)", option="data")
        if stream is None:
            stream = calibration(model, data_spec, options, max_samples=samples)
        return stream()

    return batches


def plan_of(model, statistics: Statistics, spec: PlanSpec, batches, samples: int = REFIT_SAMPLES) -> Plan:
    """The plan of `spec`; allocators that measure the model read the first `samples` calibration sequences."""
    sample = first_sequences(batches, samples) if spec.target in MEASURING else None
    return make_plan(model, statistics, spec, calibration=sample)


def cut_and_refit(model, plan: Plan, batches, samples: int = REFIT_SAMPLES):
    """The cut of `plan`, its consumers refitted on the calibration batches when the plan says so."""
    pruned = cut(model, plan)
    if plan.extra.get("compensate") == "refit":
        plan.extra["refit"] = {**refit(model, pruned, plan, batches).to_dict(), "samples": samples}
    return pruned


def prune(
    model_path: Path,
    statistics: Statistics | None,
    out: Path | None,
    spec: PlanSpec | None = None,
    *,
    plan_file: Path | None = None,
    force: bool = False,
    latency: bool = True,
    batch: int = 64,
    data: str | None = None,
    options: Options | None = None,
    samples: int = REFIT_SAMPLES,
) -> PruneResult:
    """Make the plan of `spec` (or replay `plan_file`), cut the model, write it to `out` (None: nothing written).

    data, options: calibration data for a refit plan (its first `samples` sequences).
    """
    if plan_file is None and spec is None:
        raise LstmpruneError("no plan to make or replay; give a PlanSpec or a plan file")
    if out is not None:
        refuse_existing(out, force)
    model = models.load_model(model_path)
    batches = lazy_calibration(model, data, options, samples)
    if plan_file is not None:
        plan = Plan.load(plan_file)
        plan.check_matches(models.fingerprint(model), model_groups(model))
    else:
        if statistics is None:
            raise LstmpruneError("no statistics to prune from; run lstmprune analyze first or replay a plan")
        plan = plan_of(model, statistics, spec, batches, samples)
    pruned = cut_and_refit(model, plan, batches, samples)

    length = _length(model)
    result = PruneResult(
        plan=plan,
        out=None,
        kind=None,
        params=(model.count_params(), pruned.count_params()),
        flops=(measure.flops(model, length), measure.flops(pruned, length)),
        length=length,
        batch=batch,
    )
    if latency:
        result.latency_ms = tuple(measure.latency([model, pruned], length, batch))
    if out is not None:
        like = dict(reader=models.reader_of(model_path), loss=models.compiled_setting(model_path))
        result.kind = models.save_model(pruned, out, force, **like)
        result.out = str(out)
    return result


TFLITE_CHECKS = 8  # calibration sequences a TFLite file is compared with Keras on


def export(
    model_path: Path,
    *,
    to: str,
    out: Path,
    quantize: str | None = None,
    route: str = "auto",
    force: bool = False,
    data: str | None = None,
    options: Options | None = None,
):
    """Write the model in another format; TFLite is checked against Keras before it is written, on the first
    sequences of `data` (the calibration data) when it is given and fits the model, else on random inputs."""
    formats = ("tflite", "keras", "h5", "savedmodel")
    if to not in formats:
        raise LstmpruneError(f"to must be one of {', '.join(formats)}; received {to!r}", option="to")
    if quantize is not None and to != "tflite":
        raise LstmpruneError(f"quantize applies to tflite output only; received {to!r}", option="quantize")
    if route not in ("auto", "fused", "keras3"):
        raise LstmpruneError(f"route must be auto, fused or keras3; received {route!r}", option="route")
    out = Path(out)
    if to in ("keras", "h5") and out.suffix != f".{to}":
        raise LstmpruneError(f"a {to} model is written to a .{to} file; received out {out}", option="out")
    refuse_existing(out, force)
    model = models.load_model(model_path)
    if to == "tflite":
        from .tflite import export_tflite

        inputs = None
        if data is not None:
            dtype = getattr(model.inputs[0].dtype, "name", str(model.inputs[0].dtype))
            sample = first_sequences(calibration(model, data, options, max_samples=TFLITE_CHECKS), TFLITE_CHECKS)
            inputs = [[x[None].astype(dtype)] for x in sample]  # batch 1, as the TFLite file takes them
        return export_tflite(model, out, quantize, force, route, inputs=inputs)
    like = dict(reader=models.reader_of(model_path), loss=models.compiled_setting(model_path))
    return models.save_model(model, out, force, **like)
