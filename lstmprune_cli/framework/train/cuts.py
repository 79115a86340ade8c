"""The cut of a model a learner trained: its plan, the cut compensated as `prune` compensates a one-shot cut, and
whether the removed units carried anything when it was made.

    small = compensated_cut(model, plan, "refit", calibration)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from ...core import checks
from ...core.errors import LstmpruneError
from ...core.plan import COMPENSATIONS, Plan
from ..surgery.cut import write_back
from ..surgery.groups import unit_groups
from ..surgery.units import UnitSet, squared_norms


def compensated_cut(model, plan: Plan, compensate: str, calibration: Callable[[], Iterable] | None = None):
    """The cut of the trained model, compensated as `prune` compensates a one-shot cut: each removed unit's mean
    output on the calibration batches (model inputs) folded into the biases of the layers that read it (mean;
    refit starts there), then those layers refitted on the cut model's own states (refit). A unit training
    silenced contributes nothing either way."""
    from ..prune.planner import cut

    checks.choice(compensate, COMPENSATIONS, "compensate")
    if compensate == "refit" and plan.inputs():  # the cut adds an input selection the refit cannot match
        compensate = "mean"
        plan.extra["refit_skipped"] = "the plan selects input features; the means are folded instead"
    plan.extra["compensate"] = compensate
    if compensate == "none":
        return cut(model, plan)
    if calibration is None:
        raise LstmpruneError(f"compensate {compensate} reads calibration data; none was given", option="compensate")
    from ..stats.probe import accumulate, build_probe

    stats = accumulate(build_probe(model, unit_groups(model)), calibration())
    for g in plan.groups:
        if g.num_kept < g.units:
            g.fill = [float(v) for v in stats[g.name].mean]
    small = cut(model, plan)
    if compensate == "refit":
        from ..prune.refit import refit

        plan.extra["refit"] = refit(model, small, plan, calibration).to_dict()
    return small


def exact_cut(sets: list[UnitSet], kept: list[np.ndarray], model) -> dict:
    """Whether every removed unit contributed nothing to the trained model: the rows that read it are zero,
    or its own columns are (its output is then 0 at every step)."""
    lost, total = 0, 0
    for s, k in zip(sets, kept):
        removed = np.setdiff1d(np.arange(s.units), k)
        silent = squared_norms(model, s, "outgoing") == 0
        if any(not slot.outgoing for slot in s.slots):  # its own columns zero: it outputs 0
            silent |= squared_norms(model, s, "incoming") == 0
        lost += int(np.sum(~silent[removed]))
        total += len(removed)
    return {"removed_alive": lost, "removed": total, "exact": lost == 0}  # units of sets (tied directions once)


def learned_plan(fingerprint, groups, sets, kept, scores, theta, method, min_units, seed) -> Plan:
    """The plan of the learned cut; groups outside the sets (they reach an output) keep every unit."""
    from ...core.plan import group_plan

    chosen = {g.name: (k, v) for s, k, v in zip(sets, kept, scores) for g in s.groups}
    plans = [group_plan(g, *chosen.get(g.name, (np.arange(g.units), None)), None) for g in groups]
    extra = {"compensate": "none"}
    found = {s.reader: [int(i) for i in k] for s, k in zip(sets, kept) if s.reader}
    if found:
        extra["inputs"] = found
    return Plan(fingerprint, plans, theta, method, method, min_units, seed, None, extra)


def by_group(sets: list[UnitSet], kept: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Each set's kept units under the name of every group in it (input sets name none)."""
    return {g.name: k for s, k in zip(sets, kept) for g in s.groups}


def silenced_cut(
    model,
    sets: list[UnitSet],
    kept: list[np.ndarray],
    *,
    method: str,
    compensate: str,
    calibration: Callable[[], Iterable],
):
    """The cut of `model` that keeps `kept` of its groups' units (input sets keep every feature), compensated as
    `prune` compensates a cut: what a silencing writes back (`write_back`) before the removed units fall silent."""
    chosen = [(s, k) for s, k in zip(sets, kept) if s.groups]
    found = [s for s, _ in chosen], [k for _, k in chosen], [None] * len(chosen)
    plan = learned_plan("", unit_groups(model), *found, None, method, 1, 0)
    return compensated_cut(model, plan, compensate, calibration)


def silence(model, sets: list[UnitSet], kept: list[np.ndarray], zero: Callable[[UnitSet, np.ndarray], None], **cut):
    """Silence every unit of `sets` outside `kept` with `zero(set, removed mask)`; with `cut` (silenced_cut's
    method, compensate, calibration) the cut of the model before is compensated and written back into its kept
    weights, so the silenced model computes that compensated cut."""
    small = silenced_cut(model, sets, kept, **cut) if cut else None
    for s, k in zip(sets, kept):
        removed = np.ones(s.units, bool)
        removed[k] = False
        zero(s, removed)
    if small is not None:
        write_back(model, small, by_group(sets, kept))
