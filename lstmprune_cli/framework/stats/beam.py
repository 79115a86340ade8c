"""`analyze --runner beam`: the calibration pass as an Apache Beam pipeline (Dataflow, Flink, Spark, Direct).

Importing this module imports Apache Beam; the CLI imports it only for `--runner beam`.

ReadAllFromTFRecord reads the schema's files; records are parsed by the in-process pass's own parser, batched,
and run through the probe (loaded once per worker in `DoFn.setup`); a CombineFn merges the per-batch float64
statistics (count, mean, scatter) with the same update as `lstmprune merge`. Beam is an optional extra
(`pip install 'lstmprune[beam]'`); nothing imports it unless this runner is asked for.
"""

from __future__ import annotations

import io
import shlex
import time
from pathlib import Path

import apache_beam as beam
import numpy as np

from ...core.errors import LstmpruneError
from ...core.schema import Options
from ...core.stats import GroupStats


def analyze(
    model_path: Path,
    data_spec: str,
    options: Options | None,
    *,
    output: Path,
    beam_options: str = "",
    batch_size: int = 64,
    every_step: bool = False,
):
    """The statistics of the in-process pass, computed by a Beam pipeline; `output` is where the pipeline writes
    them (a path every worker can reach: gs://... for Dataflow) before they are read back here."""
    import logging

    from .analysis import Analysis, AnalyzeResult

    options = options or Options()
    if options.shard != (0, 1):
        raise LstmpruneError("--runner beam distributes the records itself; drop --shard", option="shard")
    job = Analysis(model_path, data_spec, options, batch_size=batch_size, every_step=every_step)  # model, schema
    schema, length = job.schema, job.input.length
    if schema.source not in ("sequence", "example"):
        raise LstmpruneError(f"--runner beam reads TFRecord files; {data_spec} holds {schema.source} data")
    start = time.perf_counter()
    settings = pipeline_options(beam_options)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)  # the runner's chatter, not the user's
    probe = Probe(str(model_path), schema, length, every_step)
    try:
        pipeline = beam.Pipeline(options=settings)
    except ValueError as e:  # an unknown runner
        raise LstmpruneError(f"cannot start the Beam pipeline of --beam-options {beam_options!r}: {e}") from e
    try:
        with pipeline as p:
            (
                p
                | "files" >> beam.Create(list(schema.files))
                | "read" >> beam.io.ReadAllFromTFRecord(with_filename=True)
                | "batch" >> beam.BatchElements(min_batch_size=batch_size, max_batch_size=batch_size)
                | "probe" >> beam.ParDo(probe)
                | "merge" >> beam.CombineGlobally(MergeStats())
                | "write" >> beam.Map(_write, str(output))
            )
    except Exception as e:  # noqa: BLE001  a runner wraps a worker's error in its own types
        raise _input_error(schema, length, e) from e
    stats, seen, skipped = _read(output, job.groups)
    statistics = job.statistics(stats, seen, skipped, runner="beam", beam_options=beam_options)
    return AnalyzeResult(statistics, time.perf_counter() - start)


def pipeline_options(text: str):
    """Beam's options from the user's text; a bad one is one line (Beam's parser prints its usage and exits)."""
    import contextlib

    from apache_beam.options.pipeline_options import PipelineOptions

    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            settings = PipelineOptions(shlex.split(text) or ["--runner=DirectRunner"])
            settings.get_all_options(retain_unknown_options=False)
    except (ValueError, SystemExit) as e:
        lines = [line for line in said.getvalue().splitlines() if line.strip()]
        raise LstmpruneError(f"cannot read --beam-options {text!r}: {lines[-1] if lines else e}") from None
    return settings


def _input_error(schema, length: int | None, error: Exception) -> Exception:
    """A pipeline failure as the in-process reader names it (the file and the record at fault), when the records
    are; otherwise the error as it came."""
    from ..data.stream import Stream

    try:
        for _ in Stream(schema, length, 64):
            pass
    except LstmpruneError as e:
        return e
    return error


class Probe(beam.DoFn):
    """A batch of (file, record) -> the per-group statistics of its sequences, and their counts."""

    def __init__(self, model_path: str, schema, length: int | None, every_step: bool):
        self.model_path, self.schema, self.length, self.every_step = model_path, schema, length, every_step

    def setup(self):
        """Once per worker: TensorFlow, the model (safe mode), its probe and the record parser."""
        from .. import import_tensorflow

        import_tensorflow()
        import tensorflow as tf

        from .. import models
        from ..data.stream import Stream
        from ..data.tfrecords import record_parser
        from ..surgery.groups import model_groups
        from .probe import build_probe

        model = models.load_model(Path(self.model_path))
        self.probe = build_probe(model, model_groups(model), self.every_step)
        self.parse = record_parser(self.schema, self.length)
        frame = [self.length] if self.schema.tokens else [self.length, self.schema.dim]
        self.shapes = (frame, [], [], [0])  # x, steps, finite, labels: as the in-process pass pads them
        self.stream = Stream(self.schema, self.length, 1)
        self.tf = tf

    def process(self, batch):
        files = [f for f, _ in batch]
        records = self.tf.data.Dataset.from_tensor_slices([raw for _, raw in batch])
        try:
            x, n, ok, _ = next(iter(records.map(self.parse).padded_batch(len(batch), padded_shapes=self.shapes)))
            before = self.stream.skipped
            x = self.stream.keep(x, n.numpy(), ok.numpy(), files[0], np.full(len(batch), -1))
        except (self.tf.errors.OpError, LstmpruneError) as e:  # reported as data: the main process raises it
            yield {"stats": {}, "seen": 0, "skipped": 0, "error": self._locate(sorted(set(files)), e)}
            return
        out = {g.name: GroupStats.of(z) for g, z in self.probe.responses(x)} if len(x) else {}
        yield {"stats": out, "seen": len(x), "skipped": self.stream.skipped - before}

    def _locate(self, files: list[str], error: Exception) -> str:
        """The in-process pass's message for the first bad record of these files: it names the record."""
        from dataclasses import replace

        from ..data.stream import Stream

        for f in files:
            try:
                for _ in Stream(replace(self.schema, files=[f]), self.length, 1):  # one record a batch
                    pass
            except LstmpruneError as e:
                return str(e)
        return f"{files[0]}: {getattr(error, 'message', error)}"


class MergeStats(beam.CombineFn):
    """The probe's outputs merged group by group with `GroupStats.merge` (exact, in any order)."""

    def create_accumulator(self):
        return {"stats": {}, "seen": 0, "skipped": 0, "error": ""}

    def add_input(self, acc, part):
        return self.merge_accumulators([acc, part])

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for a in accs:
            out["seen"] += a["seen"]
            out["skipped"] += a["skipped"]
            out["error"] = out["error"] or a.get("error", "")
            for name, s in a["stats"].items():
                out["stats"][name] = out["stats"][name].merge(s) if name in out["stats"] else s
        return out

    def extract_output(self, acc):
        return acc


def _write(acc: dict, path: str) -> None:
    """The merged statistics as one .npz, written through Beam's file systems (local, gs://, ...)."""
    from apache_beam.io.filesystems import FileSystems

    arrays = {"seen": np.array(acc["seen"]), "skipped": np.array(acc["skipped"]), "error": np.array(acc["error"])}
    for name, s in acc["stats"].items():
        arrays |= {f"{name}|count": np.array(s.count), f"{name}|mean": s.mean, f"{name}|scatter": s.scatter}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with FileSystems.create(path) as f:
        f.write(buffer.getvalue())


def _read(path: Path, groups) -> tuple[dict[str, GroupStats], int, int]:
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(str(path)) as f:
        arrays = np.load(io.BytesIO(f.read()), allow_pickle=False)
        if str(arrays["error"]):
            raise LstmpruneError(str(arrays["error"]))
        found = {}
        for g in groups:
            if f"{g.name}|count" not in arrays:
                raise LstmpruneError("the Beam pipeline gave no statistics; did the data hold any sequence?")
            count = int(arrays[f"{g.name}|count"])
            found[g.name] = GroupStats(count, arrays[f"{g.name}|mean"], arrays[f"{g.name}|scatter"])
        return found, int(arrays["seen"]), int(arrays["skipped"])
