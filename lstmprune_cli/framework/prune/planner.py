"""Plan-then-cut on a loaded model: the one pair that `prune`, `sweep` and the benchmarks call.

    plan = make_plan(model, statistics, PlanSpec(theta=0.7))
    small = cut(model, plan)

A `Planner` reads the model's groups and unit vectors once, for callers that make many plans.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from ...core.groups import UnitGroup
from ...core.plan import MEASURING, Plan, PlanSpec, build_plan
from ...core.statsfile import Statistics
from .. import models
from ..data.calibration import first_sequences
from ..models import costs
from ..models.layers import sub_layer
from ..models.tasks import output_distance
from ..surgery.cut import prune_model
from ..surgery.groups import consumer_rows, model_groups
from .refit import refit


def unit_vectors(model, groups: list[UnitGroup]) -> dict:
    """Each group's unit vectors (H, Q) for the ranking criteria."""
    return {g.name: g.spec.unit_vectors(sub_layer(model, g).get_weights()) for g in groups}


class Planner:
    """Plans for one model and its statistics; the groups, fingerprint and unit vectors are read once."""

    def __init__(self, model, statistics: Statistics):
        self.model = model
        self.groups = model_groups(model)
        self.fingerprint = models.fingerprint(model)
        statistics.check_model(self.fingerprint, self.groups)
        self.statistics = statistics
        self.vectors = unit_vectors(model, self.groups)
        self.consumers = consumer_rows(model, self.groups)

    def plan(
        self,
        spec: PlanSpec,
        measure: Callable[[dict[str, int]], float] | None = None,
        num_kept: dict[str, int] | None = None,
    ) -> Plan:
        """The plan of `spec`; `measure` lets an allocator run the model (kept counts -> loss); `num_kept`
        skips the allocation and ranks for the given counts.

        With a params or FLOPs budget, the allocator's own rate is searched (bisection) until the cut model
        removes theta of that measure. The plan records the share removed in all three measures.
        """
        if measure is not None:
            measure = _memoized(measure)

        def make(theta: float) -> Plan:
            return build_plan(
                self.groups,
                fingerprint=self.fingerprint,
                spec=replace(spec, theta=theta),
                eigenvalues=self.statistics.eigenvalues(),
                vectors=self.vectors,
                stats=self.statistics.stats,
                measure=measure,
                num_kept=num_kept,
                consumers=self.consumers,
            )

        plan = make(spec.theta)
        if spec.budget != "units" and num_kept is None:
            low, high = 1e-3, 1 - 1e-3
            for _ in range(BISECTIONS):
                mid = (low + high) / 2
                low, high = (mid, high) if self.removed(make(mid))[spec.budget] < spec.theta else (low, mid)
            plan = make(high)
            plan.theta = spec.theta
            plan.extra["allocation_theta"] = high  # the allocator's rate that removes theta of the budget
        plan.extra["budget"] = spec.budget
        if num_kept is None:  # a plan for the user, not one an allocator measures: one more cut to cost it
            plan.extra["removed"] = self.removed(plan)
        return plan

    def removed(self, plan: Plan) -> dict[str, float]:
        """The share of units, parameters and FLOPs per time step that `plan` removes."""

        small = cut(self.model, plan)
        length = self.model.inputs[0].shape[1] or 1
        before, after = costs.flops(self.model, length), costs.flops(small, length)
        return {
            "units": plan.achieved()["units"],
            "params": 1 - small.count_params() / self.model.count_params(),
            "flops": 1 - after["per_step"] / before["per_step"],
        }

    def output_loss(self, spec: PlanSpec, held_out, fit=None) -> Callable[[dict[str, int]], float]:
        """A `measure` for allocators: kept counts -> how far the cut model's outputs move from the original's
        on `held_out` inputs, by the task's distance (models.tasks: KL of softmax outputs, Bernoulli KL of sigmoid
        ones, squared error otherwise). The units are chosen
        by `spec`'s criterion; with `compensate="refit"` the consumers are refitted on the `fit` inputs."""
        want = np.asarray(self.model(held_out, training=False), dtype=np.float64)
        distance = output_distance(self.model)

        def loss(num_kept: dict[str, int]) -> float:
            plan = self.plan(spec, num_kept=num_kept)
            small = cut(self.model, plan)
            if spec.compensate == "refit":
                from .refit import refit

                refit(self.model, small, plan, lambda: [held_out if fit is None else fit])
            return distance(want, np.asarray(small(held_out, training=False), dtype=np.float64))

        return loss


BISECTIONS = 12  # searches of the allocator's rate for a params or FLOPs budget


def _memoized(measure: Callable[[dict[str, int]], float]) -> Callable[[dict[str, int]], float]:
    """The same kept counts are measured once (a budget's search asks an allocator many times)."""
    seen: dict[tuple, float] = {}

    def once(num_kept: dict[str, int]) -> float:
        key = tuple(sorted(num_kept.items()))
        if key not in seen:
            seen[key] = measure(num_kept)
        return seen[key]

    return once


def make_plan(model, statistics: Statistics, spec: PlanSpec, *, calibration=None) -> Plan:
    """The plan of `spec` for `model`, from the statistics `analyze` wrote for it.

    With `calibration` (a batch of model inputs), allocators that measure the model get `output_loss`:
    fitted on the first half of it, measured on the second.
    """
    planner = Planner(model, statistics)
    measure = None
    if calibration is not None:
        half = len(calibration) // 2
        measure = planner.output_loss(spec, calibration[half:], calibration[:half])
    return planner.plan(spec, measure=measure)


def cut(model, plan: Plan):
    """The smaller model `plan` describes: removed units gone, their means folded in when the plan has them."""
    return prune_model(model, plan.kept(), plan.fill(), plan.inputs())


REFIT_SAMPLES = 2048  # calibration sequences a refit reads per consumer


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
