"""Plan-then-cut on a loaded model: the one pair that `prune`, `sweep` and the benchmarks call.

    plan = make_plan(model, statistics, PlanSpec(theta=0.7))
    small = cut(model, plan)

A `Planner` reads the model's groups and unit vectors once, for callers that make many plans.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..core.errors import LstmpruneError
from ..core.groups import UnitGroup
from ..core.plan import Plan, PlanSpec, build_plan
from ..core.recurrent import layer_classes
from ..core.statsfile import Statistics
from . import models
from .graph import consumer_rows, sub_layer, unit_groups
from .surgery import prune_model


def model_groups(model) -> list[UnitGroup]:
    """The unit groups of `model`; refused when it has none."""
    groups = unit_groups(model)
    if not groups:
        raise LstmpruneError(
            f"the model has no recurrent layer to prune; expected one of {', '.join(layer_classes())} or Bidirectional"
        )
    return groups


def unit_vectors(model, groups: list[UnitGroup]) -> dict:
    """Each group's unit vectors (H, Q) for the ranking criteria."""
    return {g.name: g.spec.unit_vectors(sub_layer(model, g).get_weights()) for g in groups}


class Planner:
    """Plans for one model and its statistics; the groups, fingerprint and unit vectors are read once."""

    def __init__(self, model, statistics: Statistics):
        self.model = model
        self.groups = model_groups(model)
        self.fingerprint = models.fingerprint(model)
        statistics.check_model(self.fingerprint)
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
        skips the allocation and ranks for the given counts."""
        return build_plan(
            self.groups,
            fingerprint=self.fingerprint,
            spec=spec,
            eigenvalues=self.statistics.eigenvalues(),
            vectors=self.vectors,
            stats=self.statistics.stats,
            measure=measure,
            num_kept=num_kept,
            consumers=self.consumers,
        )

    def output_drift(self, spec: PlanSpec, x) -> Callable[[dict[str, int]], float]:
        """A `measure` for allocators: kept counts -> mean squared distance of the cut model's outputs from
        the original's on the inputs `x`, the units chosen by `spec`'s criterion."""
        want = np.asarray(self.model(x, training=False))

        def drift(num_kept: dict[str, int]) -> float:
            small = cut(self.model, self.plan(spec, num_kept=num_kept))
            return float(np.mean((np.asarray(small(x, training=False)) - want) ** 2))

        return drift


def make_plan(model, statistics: Statistics, spec: PlanSpec, *, calibration=None) -> Plan:
    """The plan of `spec` for `model`, from the statistics `analyze` wrote for it.

    With `calibration` (a batch of model inputs), allocators that measure the model get `output_drift`.
    """
    planner = Planner(model, statistics)
    measure = None if calibration is None else planner.output_drift(spec, calibration)
    return planner.plan(spec, measure=measure)


def cut(model, plan: Plan):
    """The smaller model `plan` describes: removed units gone, their means folded in when the plan has them."""
    return prune_model(model, plan.kept(), plan.fill())
