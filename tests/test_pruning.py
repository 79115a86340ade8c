"""make_plan / cut: the pair every verb uses, and how a new allocator or criterion joins it (one dict entry)."""

import numpy as np
import pytest
from golden import assert_pruned_equals_masked, build, sample_x


def analyzed(model, x):
    """The statistics `analyze` would write for `model` on the inputs `x`."""
    from lstmprune_cli.core.statsfile import Statistics
    from lstmprune_cli.framework import models
    from lstmprune_cli.framework.probe import accumulate, build_probe
    from lstmprune_cli.framework.pruning import model_groups

    groups = model_groups(model)
    stats = accumulate(build_probe(model, groups), [x])
    return Statistics(models.fingerprint(model), groups, stats)


@pytest.fixture()
def registry():
    """The two registries, restored after each test."""
    from lstmprune_cli.core import criteria, plan

    allocators, scorers = dict(plan.ALLOCATORS), dict(criteria.CRITERIA)
    yield plan.ALLOCATORS, criteria.CRITERIA
    plan.ALLOCATORS.clear(), plan.ALLOCATORS.update(allocators)
    criteria.CRITERIA.clear(), criteria.CRITERIA.update(scorers)


def test_make_plan_then_cut_is_exact_for_the_generic_rnn_wrapper(tf):
    from lstmprune_cli.core.plan import PlanSpec
    from lstmprune_cli.framework.pruning import cut, make_plan

    model = build("stacked", return_sequences=False, masked=True, cell="RNN-LSTM")
    x = np.concatenate([sample_x(s) for s in range(4)])
    plan = make_plan(model, analyzed(model, x), PlanSpec(0.5, compensate=False))
    assert [g.cell for g in plan.groups] == ["LSTM", "LSTM"] and plan.achieved()["units"] == pytest.approx(0.5, 0.1)
    assert_pruned_equals_masked(model, plan.kept(), x, pruned=cut(model, plan))


def test_an_allocator_that_runs_the_model_is_one_dict_entry(tf, registry):
    from lstmprune_cli.core import rates
    from lstmprune_cli.core.plan import PlanSpec
    from lstmprune_cli.framework.pruning import make_plan

    allocators, _ = registry
    seen = []

    def least_drift(a):
        """Of the energy rule's and uniform counts, the ones that move the outputs least."""
        options = [rates.solve_units(a.groups, a.theta)[0], rates.solve_uniform(a.groups, a.theta)]
        named = [{m.name: k for same, k in zip(a.members, counts) for m in same} for counts in options]
        drifts = [a.measure(n) for n in named]
        seen.extend(zip(drifts, named))
        return options[int(np.argmin(drifts))], None

    allocators["least-drift"] = least_drift
    model = build("bidirectional", masked=True)
    x = np.concatenate([sample_x(s) for s in range(4)])
    plan = make_plan(model, analyzed(model, x), PlanSpec(0.6, target="least-drift"), calibration=x)
    assert len(seen) == 2 and all(d > 0 for d, _ in seen)
    chosen = {g.name: g.num_kept for g in plan.groups}
    assert chosen == min(seen, key=lambda s: s[0])[1]
    assert plan.target == "least-drift"


def test_a_criterion_that_reads_the_statistics_is_one_dict_entry(tf, registry):
    from lstmprune_cli.core.plan import PlanSpec
    from lstmprune_cli.framework.pruning import make_plan

    _, scorers = registry
    scorers["variance"] = lambda r: sum(np.diag(s.covariance) for s in r.stats)  # (H,) summed over merged groups
    model = build("single", masked=True)
    x = np.concatenate([sample_x(s) for s in range(4)])
    statistics = analyzed(model, x)
    plan = make_plan(model, statistics, PlanSpec(0.5, criterion="variance"))
    (group,) = plan.groups
    variance = np.diag(statistics.stats[group.name].covariance)
    assert group.kept_units == sorted(np.argsort(-variance)[: group.num_kept].tolist())
    with pytest.raises(Exception, match="criterion must be one of gm, l2, random, variance"):
        PlanSpec(0.5, criterion="nope")
