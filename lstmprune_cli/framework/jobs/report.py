"""report: what the cut bought and what it cost, model beside model."""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ...core import checks, metrics
from ...core.errors import LstmpruneError
from ...core.plan import Plan
from ...core.schema import Options
from ...core.statsfile import Statistics
from .. import models
from ..models import costs
from ..surgery.groups import unit_groups
from .finetune import training_streams


@dataclass
class ModelCost:
    name: str
    path: str
    params: int
    flops_per_step: int
    flops_per_sequence: int
    size_bytes: int
    latency_ms: dict[str, float] = field(default_factory=dict)  # "tf batch 1", "tf batch 64", "tflite batch 1"
    metrics: dict[str, float] | None = None


def disk_size(path: Path) -> int:
    path = Path(path)
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def model_costs(paths: dict[str, Path], length: int | None, batches=(1, 64), tflite: bool = False, repeats: int = 5):
    """Cost records of each model, latency measured alternately in the same run."""
    loaded = {name: models.load_model(p) for name, p in paths.items()}
    first = next(iter(loaded.values()))
    length = length or first.inputs[0].shape[1] or 100
    records = {}
    for name, m in loaded.items():
        f = costs.flops(m, length)
        records[name] = ModelCost(
            name, str(paths[name]), m.count_params(), f["per_step"], f["per_sequence"], disk_size(paths[name])
        )
    for batch in batches:
        times = costs.latency(list(loaded.values()), length, batch=batch, repeats=repeats)
        for r, t in zip(records.values(), times):
            r.latency_ms[f"tf batch {batch}"] = t
    if tflite:
        from ..models.tflite import export_tflite, sample_inputs

        contents = []
        with tempfile.TemporaryDirectory() as tmp:
            for name, m in loaded.items():
                out = Path(tmp) / f"{name}.tflite"
                export_tflite(m, out, force=True)
                contents.append(out.read_bytes())
        times = costs.tflite_latency(contents, sample_inputs(first, 2, length), repeats=repeats)
        for r, t in zip(records.values(), times):
            r.latency_ms["tflite batch 1"] = t
    return loaded, records


@dataclass
class TfliteFile:
    """A TFLite file as it ships: its size, batch-1 latency and, with evaluation data, its metrics."""

    path: str
    size_bytes: int
    latency_ms: float
    metrics: dict[str, float] | None = None


def tflite_metrics(content: bytes, batches, task, pad: float | None = None) -> dict[str, float]:
    """The task's metrics of a TFLite file on (x, y) batches, one sequence at a time (state reset each time);
    pad: the padding value a file without a mask is fed its sequences without (see `export --drop-mask`)."""
    from ..models.tasks import TASKS
    from ..models.tflite import run_tflite, trim

    entry = TASKS[task.kind]
    scores, labels, nll = [], [], []
    for x, y in batches:
        seqs = [x[i : i + 1] if pad is None else trim(x[i : i + 1], pad) for i in range(len(x))]
        found = run_tflite(content, [[seq] for seq in seqs])
        if entry.text:  # next-token probabilities (T x V) against token ids (T,), over the steps fed
            for f, seq, ids in zip(found, seqs, np.asarray(y)):
                steps = seq.shape[1]
                picked = f.reshape(steps, -1)[np.arange(steps), ids[:steps].astype(int)]  # (T,)
                nll.append(-np.log(np.clip(picked, 1e-12, 1.0)))
            continue
        scores.append(np.stack(found).reshape(len(x), -1))  # (B, outputs)
        labels.append(np.asarray(y))
    if not scores and not nll:
        raise LstmpruneError("the evaluation data gave no sequences")
    if entry.text:
        nll = np.concatenate(nll)
        return {"perplexity": metrics.perplexity(float(nll.sum()), int(nll.size))}
    s, y = np.concatenate(scores), np.concatenate(labels)
    return entry.metrics(s.reshape(len(y), *np.shape(y)[1:]), y, task)


@dataclass
class ReportJob:
    costs: dict  # name -> report.ModelCost
    groups: list[dict]
    plan: Plan | None
    plots: list[str]
    task: str | None = None
    notes: list[str] = field(default_factory=list)
    files: list[TfliteFile] = field(default_factory=list)  # TFLite files given to report

    def to_dict(self) -> dict:
        return {
            "tflite_files": [asdict(f) for f in self.files],
            "models": {n: asdict(c) for n, c in self.costs.items()},
            "groups": self.groups,
            "plan": None if self.plan is None else {k: v for k, v in self.plan.to_dict().items() if k != "groups"},
            "task": self.task,
            "plots": self.plots,
        }


def report(
    paths: dict[str, Path],
    statistics: Statistics | None,
    plan: Plan | None,
    *,
    eval_spec: str | None = None,
    options: Options | None = None,
    batch_size: int = 64,
    max_samples: int | None = None,
    loss: str = "auto",
    tflite: bool = False,
    plot_dir: Path | None = None,
    files: list[Path] = (),
) -> ReportJob:
    """Costs of every model side by side, metrics on evaluation data, and the energy plot; `files`: TFLite files
    (exported ones: float, dynamic, float16, int8), each sized, timed at batch 1 and scored as it ships."""
    from ...core.summary import group_rows
    from ..models.tasks import losses
    from ..train.loop import evaluate
    from .plots import energy_plot, search_plot, sensitivity_plot

    checks.choice(loss, losses(), "loss")

    loaded, records = model_costs(paths, None, tflite=tflite)
    if "original" in loaded:
        for name, m in loaded.items():
            why = unrelated(loaded["original"], m)
            if name != "original" and why:
                raise LstmpruneError(
                    f"the {name} model {paths[name]} is not a cut of the original {paths['original']} ({why}); "
                    "report sets a model beside its own original: pass --original"
                )
    notes = []
    if plan is not None and "pruned" in loaded:
        have = {g.name: g.units for g in unit_groups(loaded["pruned"])}
        if have != {g.name: g.num_kept for g in plan.groups}:
            notes.append("the plan does not describe the pruned model (other kept counts); it is not shown")
            plan = None
    task = None
    if eval_spec is not None:
        for name, m in loaded.items():
            found, _, stream = training_streams(m, eval_spec, options or Options(), batch_size, max_samples, loss)
            task = found.kind
            e = evaluate(m, stream(), found)
            records[name].metrics = {"loss": e.loss, **e.metrics}
    plots = []
    if statistics is not None and plot_dir is not None:
        plot_dir.mkdir(parents=True, exist_ok=True)
        plots.append(str(energy_plot(statistics, plan, plot_dir / "energy.png")))
    if plan is not None and plot_dir is not None and "curves" in plan.extra.get("allocation", {}):
        plot_dir.mkdir(parents=True, exist_ok=True)
        plots.append(str(sensitivity_plot(plan, plot_dir / "sensitivity.png")))
    if plan is not None and plot_dir is not None and "search" in plan.extra:
        plot_dir.mkdir(parents=True, exist_ok=True)
        plots.append(str(search_plot(plan.extra["search"], plot_dir / "search.png")))
    rows = group_rows(statistics, plan) if (statistics is not None or plan is not None) else []
    shipped = tflite_files(files, loaded, eval_spec, options or Options(), batch_size, max_samples, loss)
    return ReportJob(records, rows, plan, plots, task, notes, shipped)


def tflite_files(files, loaded: dict, eval_spec, options: Options, batch_size, max_samples, loss) -> list:
    """Size, batch-1 latency (the files timed alternately) and metrics of each TFLite file."""
    if not files:
        return []
    from ..models.tflite import free_length, mask_value, sample_inputs

    first = next(iter(loaded.values()))
    contents = [Path(f).read_bytes() for f in files]
    pad = mask_value(first)
    length = first.inputs[0].shape[1] or 100
    times = costs.tflite_latency(contents, sample_inputs(first, 2, length))
    found = [TfliteFile(str(f), len(c), t) for f, c, t in zip(files, contents, times)]
    if eval_spec is not None:
        task, _, stream = training_streams(first, eval_spec, options, batch_size, max_samples, loss)
        for record, content in zip(found, contents):
            unpadded = pad is not None and free_length(content)  # no padding where a file takes any length
            record.metrics = tflite_metrics(content, stream(), task, pad if unpadded else None)
    return found


def unrelated(original, other) -> str | None:
    """Why `other` cannot be a cut of `original` (other recurrent layers, a larger group, another output), or None."""
    mine = {g.name: g for g in unit_groups(original)}
    theirs = {g.name: g for g in unit_groups(other)}
    if set(mine) != set(theirs):
        return f"recurrent groups {sorted(theirs)}, not {sorted(mine)}"
    for name, g in theirs.items():
        if g.cell != mine[name].cell or g.units > mine[name].units:
            return f"group {name} is {g.cell} {g.units}, the original's {mine[name].cell} {mine[name].units}"
    if [tuple(o.shape) for o in other.outputs] != [tuple(o.shape) for o in original.outputs]:
        return "another output shape"
    return None


def run(
    *,
    workspace: Path,
    eval_data: str | None = None,
    original: Path | None = None,
    pruned: Path | None = None,
    finetuned: Path | None = None,
    markdown: Path | None = None,
    tflite: bool = False,
    batch_size: int = 64,
    max_samples: int | None = None,
    loss: str = "auto",
    vocab: Path | None = None,
    files: list[Path] = (),
    force: bool = False,
) -> ReportJob:
    """report as the CLI runs it: the workspace's models, statistics and plan (each only when it describes the
    models given); the plots beside `markdown`, else in the workspace."""
    from ...core.files import check_output
    from ...core.workspace import Workspace
    from .. import import_tensorflow

    ws = Workspace.open(workspace)
    paths = {"original": original or Path(ws.require("model")), "pruned": pruned or Path(ws.require("pruned"))}
    if finetuned or ws.finetuned:
        paths["finetuned"] = finetuned or Path(ws.finetuned)
    plot_dir = markdown.with_name(markdown.stem + "_files") if markdown else ws.root / "plots"
    if markdown is not None:
        models = list(paths.values())
        check_output(markdown, force=force, models=models, reads=[eval_data], workspace=ws.root, flag="--markdown")
        check_output(plot_dir, force=True, models=models, reads=[eval_data], workspace=ws.root, flag="--markdown")
    stats_ok = ws.owns(original, "model") and ws.stats and Path(ws.stats).exists()
    plan_ok = ws.owns(pruned, "pruned") and ws.plan and Path(ws.plan).exists()
    statistics = Statistics.load(Path(ws.stats)) if stats_ok else None
    plan = Plan.load(Path(ws.plan)) if plan_ok else None
    notes = []  # printed once the report is made: a failure is one line
    if not ws.owns(pruned, "pruned") and ws.plan:
        notes.append("--pruned is not the workspace's pruned model; its plan is not shown")
    import_tensorflow()
    job = report(
        paths,
        statistics,
        plan,
        eval_spec=eval_data,
        options=Options(vocab=None if vocab is None else str(vocab)),
        batch_size=batch_size,
        max_samples=max_samples,
        loss=loss,
        tflite=tflite,
        plot_dir=plot_dir,
        files=[_tflite_file(f) for f in files],
    )
    job.notes[:0] = notes
    return job


def _tflite_file(path: Path) -> Path:
    """A TFLite file given to report, checked to be one (its FlatBuffer identifier) before it is read further."""
    path = Path(path)
    if not path.is_file():
        raise LstmpruneError(f"--tflite-file {path}: no such file; expected a .tflite file `export` wrote")
    with open(path, "rb") as f:
        head = f.read(8)
    if head[4:8] != b"TFL3":
        raise LstmpruneError(
            f"--tflite-file {path} is not a TFLite file (no TFL3 identifier); expected one `export` wrote"
        )
    return path
