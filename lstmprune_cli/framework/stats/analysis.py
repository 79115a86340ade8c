"""One calibration pass in process: the model's groups, a probe, the stream, and the statistics file it makes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ... import __version__
from ...core.errors import LstmpruneError
from ...core.schema import Options
from ...core.statsfile import Statistics
from .. import data, models
from ..data.stream import Stream
from ..surgery.groups import model_groups
from .probe import Accumulator, build_probe


@dataclass
class AnalyzeResult:
    statistics: Statistics
    seconds: float

    def to_dict(self) -> dict:
        return {"seconds": self.seconds, "data": self.statistics.meta["data"]}


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
