"""prune: make the plan of a spec (or replay a plan file), cut the model, refit, write it, and measure both."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ...core import metrics
from ...core.budget import GOALS, HIGH, UNITS, Goal, Search, border
from ...core.errors import LstmpruneError
from ...core.files import refuse_existing
from ...core.plan import Plan, PlanSpec
from ...core.recipe import for_cut
from ...core.schema import Options
from ...core.statsfile import Statistics
from ...core.summary import group_rows
from ...core.workspace import Workspace
from .. import import_tensorflow, models
from ..data.calibration import lazy_calibration
from ..models import costs
from ..models.layers import sequence_length
from ..prune.planner import REFIT_SAMPLES, cut, cut_and_refit, plan_of
from ..surgery.groups import model_groups
from .display import QUIET, Display


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
    goal: Goal | None = None,
    eval_spec: str | None = None,
    display: Display = QUIET,
) -> PruneResult:
    """Make the plan of `spec` (or replay `plan_file`), cut the model, write it to `out` (None: nothing written).

    data, options: calibration data for a refit plan (its first `samples` sequences). goal: a budget instead of
    spec's theta, found by bisection (`search`); a drop is measured on `eval_spec`.
    """
    if plan_file is None and spec is None:
        raise LstmpruneError("no plan to make or replay; give a PlanSpec or a plan file")
    if goal is not None and plan_file is not None:
        raise LstmpruneError("--plan replays a cut; a budget (--max-drop, --max-params, --max-flops) searches for one")
    if out is not None:
        refuse_existing(out, force)
    model = models.load_model(model_path)
    batches = lazy_calibration(model, data, options, samples)
    if plan_file is not None:
        plan = Plan.load(plan_file)
        plan.check_matches(models.fingerprint(model), model_groups(model))
    elif statistics is None:
        raise LstmpruneError("no statistics to prune from; run lstmprune analyze first or replay a plan")
    if goal is not None:
        plan, pruned = search(model, statistics, spec, goal, batches, samples, eval_spec, options, display)
    else:
        plan = plan if plan_file is not None else plan_of(model, statistics, spec, batches, samples)
        pruned = cut_and_refit(model, plan, batches, samples)

    length = sequence_length(model)
    result = PruneResult(
        plan=plan,
        out=None,
        kind=None,
        params=(model.count_params(), pruned.count_params()),
        flops=(costs.flops(model, length), costs.flops(pruned, length)),
        length=length,
        batch=batch,
    )
    if latency:
        result.latency_ms = tuple(costs.latency([model, pruned], length, batch))
    if out is not None:
        result.kind = models.save_model(pruned, out, force, **models.saved_like(model_path))
        result.out = str(out)
    return result


def search(model, statistics, spec, goal: Goal, batches, samples, eval_spec, options, display=QUIET):
    """(plan, cut model) of the theta at the border of `goal`: the largest whose drop of the headline metric on
    `eval_spec` (each point cut and compensated as `prune` cuts) is at most the limit, or the smallest whose size
    is. The points tried, their measures and the seconds go in the plan (extra.search)."""
    start, cuts = time.perf_counter(), {}

    def cut_at(theta: float, refit: bool):
        plan = plan_of(model, statistics, replace(spec, theta=theta), batches, samples)
        cuts[theta] = plan, cut_and_refit(model, plan, batches, samples) if refit else cut(model, plan), refit
        return cuts[theta][1]

    reference, name, conditions = None, goal.measure, ""
    if goal.measure == "drop":
        if eval_spec is None:
            raise LstmpruneError("--max-drop measures the cut on held-out data; pass --eval DATA")
        score = scorer(model, eval_spec, options or Options())
        before = score(model)
        name = headline_of(model, before)
        reference = before[name]
        measure = lambda t: metrics.drop(name, reference, score(cut_at(t, True))[name])  # noqa: E731
    elif goal.measure == "latency":  # counts decide the speed: the cuts are timed before their refit
        timer, conditions = latency_timer(model, goal)
        measure = lambda t: timer(cut_at(t, False))  # noqa: E731
    else:
        length = sequence_length(model)
        size = {"params": lambda m: m.count_params(), "flops": lambda m: costs.flops(m, length)["per_step"]}
        measure = lambda t: size[goal.measure](cut_at(t, False))  # noqa: E731

    def shown(theta: float) -> float:
        value = measure(theta)
        if display.point:
            display.point({"theta": theta, "measure": name, "value": value, "within": value <= goal.limit})
        return value

    found = border(shown, goal.limit, rising=GOALS[goal.measure], name=name)
    found.reference, found.seconds, found.conditions = reference, time.perf_counter() - start, conditions
    if found.theta is None:
        raise LstmpruneError(_missed(found, goal))
    plan, pruned, refitted = cuts[found.theta]
    if not refitted:
        pruned = cut_and_refit(model, plan, batches, samples)
    plan.extra["search"] = found.to_dict()
    return plan, pruned


LATENCY_REPEATS = 20  # timed calls per cut; the median is its latency


def latency_timer(model, goal: Goal):
    """(milliseconds of a model as `goal` measures it, how): TensorFlow at the goal's batch, or the model's float32
    TFLite file at batch 1 (auto route), the median of LATENCY_REPEATS calls over the model's sequence length."""
    length = sequence_length(model)
    conditions = (
        f"{'TensorFlow' if goal.runtime == 'tf' else 'TFLite float32'}, batch {goal.batch}, {length} steps, "
        f"median of {LATENCY_REPEATS} calls on this machine"
    )
    if goal.runtime == "tf":
        return (lambda m: costs.latency([m], length, batch=goal.batch, repeats=LATENCY_REPEATS)[0]), conditions
    from ..models.tflite import export_tflite, sample_inputs

    def tflite(m) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            export_tflite(m, Path(tmp) / "cut.tflite", force=True)
            content = (Path(tmp) / "cut.tflite").read_bytes()
        return costs.tflite_latency([content], sample_inputs(m, 2, length), repeats=LATENCY_REPEATS)[0]

    return tflite, conditions


def _missed(found: Search, goal: Goal) -> str:
    """The one line when no cut meets a budget."""
    tried = ", ".join(f"theta {p.theta:g}: {p.value:.4g}" for p in found.points)
    if goal.measure == "drop":
        return (
            f"no cut keeps the {found.measure} drop within {goal.limit:g} (tried {tried}); raise --max-drop or "
            "prune with --theta"
        )
    return f"even theta {HIGH} leaves more than {goal.limit:g} {UNITS[goal.measure]} ({tried}); raise the limit"


def scorer(model, eval_spec: str, options: Options):
    """model -> its metrics on eval_spec; the data is resolved once, for `model` (a cut of it reads the same inputs)."""
    from ..train.loop import evaluate
    from .finetune import training_streams

    task, _, stream = training_streams(model, eval_spec, options, 64, None, "auto")

    def score(m) -> dict:
        return evaluate(m, stream(), task).metrics

    return score


def headline_of(model, found: dict) -> str:
    """The metric of an evaluation that a drop is measured on, for the task `model` solves."""
    from ..models.tasks import headline, task_of

    return headline(task_of(model, "perplexity" in found), found)


@dataclass
class Pruned:
    """What `run` did: the cut, each group's row, where the plan went, and notes for after success."""

    result: PruneResult
    groups: list[dict]
    plan_path: Path
    replayed: bool
    notes: list[str]

    def to_dict(self) -> dict:
        return {**self.result.to_dict(), "groups": self.groups}


def run(
    *,
    workspace: Path,
    theta: float | None,
    out: Path | None = None,
    model: Path | None = None,
    stats: Path | None = None,
    plan: Path | None = None,
    dry_run: bool = False,
    data: str | None = None,
    refit_samples: int = REFIT_SAMPLES,
    latency: bool = True,
    min_units: int = 1,
    budget: str = "units",
    seed: int = 0,
    goal: Goal | None = None,
    eval_data: str | None = None,
    force: bool = False,
    display: Display = QUIET,
    **flags,
) -> Pruned:
    """prune as the CLI runs it on a workspace; flags: paper, allocate, target, criterion, compensate. goal: a
    budget instead of theta (the two exclude each other)."""
    from ...core.files import check_output

    if goal is not None and theta is not None:
        raise LstmpruneError(f"--theta and --max-{goal.measure} both choose the cut; give one of them")
    ws = Workspace.open(workspace)
    recipe, notes = for_cut(flags, ws.calibration_known(data))
    given = HIGH if goal is not None else theta  # a search replaces it
    spec = None if plan is not None else recipe.spec(given, min_units=min_units, seed=seed, budget=budget)
    model = model or Path(ws.require("model"))
    if out is None and not dry_run:
        out = models.default_output(model)
    if out is not None and not dry_run:
        reads = [stats or ws.stats, plan, data or ws.data, eval_data]
        check_output(out, force=force, models=[model], reads=reads, workspace=ws.root)
    statistics = None
    if plan is None:
        statistics = Statistics.load(stats or Path(ws.require("stats")))
    elif stats is not None or (ws.stats and Path(ws.stats).exists()):
        statistics = Statistics.load(stats or Path(ws.stats))  # only to show the energy columns
    import_tensorflow()
    result = prune(
        model,
        statistics,
        None if dry_run else out,
        spec,
        plan_file=plan,
        force=force,
        latency=latency,
        data=ws.calibration(data),
        options=ws.calibration_options(data),
        samples=refit_samples,
        goal=goal,
        eval_spec=eval_data,
        display=display,
    )
    if statistics is not None and statistics.fingerprint != result.plan.fingerprint:
        statistics = None
    result.plan.save(ws.plan_path)
    ws.pruned_to(model, result.out)
    ws.save()
    return Pruned(result, group_rows(statistics, result.plan), ws.plan_path, plan is not None, notes)
