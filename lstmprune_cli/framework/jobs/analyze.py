"""analyze: one calibration pass over the data, in process or on Apache Beam, into the workspace."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...core.errors import LstmpruneError
from ...core.files import check_output, staged
from ...core.schema import Options
from ...core.summary import group_rows
from ...core.workspace import Workspace
from .. import import_tensorflow, quiet_logs
from ..stats.analysis import Analysis, AnalyzeResult, analyze
from .display import QUIET, Display

__all__ = ["RUNNERS", "Analyzed", "analyze", "run"]


def in_process(model: Path, data: str, options: Options, ws: Workspace, settings: dict, display: Display):
    job = Analysis(model, data, options, **settings)
    for _ in display.progress(job.run(), job.total, "analyze"):
        pass
    return job.result()


def on_beam(model: Path, data: str, options: Options, ws: Workspace, settings: dict, display: Display):
    """The pipeline, with Beam imported only here; it writes to `output` (default: in the workspace)."""
    if settings.pop("max_samples") is not None:
        raise LstmpruneError("--runner beam reads every record; drop --max-samples (or pass fewer files)")
    try:
        with quiet_logs():
            from ..stats import beam
    except ImportError as e:
        raise LstmpruneError(
            f"--runner beam needs Apache Beam ({e.name} is missing); run: pip install 'lstmprune[beam]'"
        ) from None
    output = settings.pop("output")
    with display.status("running the Beam pipeline ..."), quiet_logs():
        if output is not None and "://" in output:
            return beam.analyze(model, data, options, output=output, **settings)
        with staged(Path(output) if output else ws.root / "beam-stats.npz", force=True) as tmp:
            return beam.analyze(model, data, options, output=str(tmp), **settings)


RUNNERS = {"in-process": in_process, "beam": on_beam}  # --runner: name -> (model, data, options, ws, ...)


@dataclass
class Analyzed:
    """What `run` did: the pass, where its statistics went, and each group's row."""

    result: AnalyzeResult
    stats: Path
    groups: list[dict]

    def to_dict(self) -> dict:
        return {"stats": str(self.stats), **self.result.to_dict(), "groups": self.groups}


def run(
    model: Path,
    data: str,
    *,
    workspace: Path,
    options: Options,
    batch_size: int = 64,
    max_samples: int | None = None,
    every_step: bool = False,
    stats: Path | None = None,
    runner: str = "in-process",
    beam_options: str = "",
    beam_output: str | None = None,
    force: bool = False,
    display: Display = QUIET,
) -> Analyzed:
    """analyze as the CLI runs it: outputs checked before any work, the pass, then the workspace's new state."""
    from ...core.checks import choice

    choice(runner, tuple(RUNNERS), "runner")
    ws = Workspace.open(workspace)
    if stats is not None:
        check_output(stats, force=force, models=[model], reads=[data], workspace=ws.root, flag="--stats")
    if beam_output is not None and runner != "beam":
        raise LstmpruneError("--beam-output is where --runner beam writes; pass --runner beam or drop it")
    if beam_output is not None and "://" not in beam_output:  # a remote path is the pipeline's file system's
        guard = dict(models=[model], reads=[data, stats], workspace=ws.root, flag="--beam-output")
        check_output(Path(beam_output), force=force, **guard)
    import_tensorflow()
    settings = dict(batch_size=batch_size, every_step=every_step, max_samples=max_samples)
    if runner == "beam":
        settings |= dict(beam_options=beam_options, output=beam_output)
    result = RUNNERS[runner](model, data, options, ws, settings, display)
    if stats is not None:  # the outputs first: the workspace changes only once they are written
        result.statistics.save(stats, force=force)
    result.statistics.save(ws.stats_path)
    ws.analyzed(model, data)
    options.save(ws.schema_path)
    ws.save()
    return Analyzed(result, ws.stats_path, group_rows(result.statistics))
