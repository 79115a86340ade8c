"""prune: make the plan of a spec (or replay a plan file), cut the model, refit, write it, and costs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...core.errors import LstmpruneError
from ...core.files import refuse_existing
from ...core.plan import Plan, PlanSpec
from ...core.schema import Options
from ...core.statsfile import Statistics
from .. import models
from ..data.calibration import lazy_calibration
from ..models import costs
from ..models.layers import sequence_length
from ..prune.planner import REFIT_SAMPLES, cut_and_refit, plan_of
from ..surgery.groups import model_groups


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
        like = dict(reader=models.reader_of(model_path), loss=models.compiled_setting(model_path))
        result.kind = models.save_model(pruned, out, force, **like)
        result.out = str(out)
    return result
