"""make_plan / cut: the pair every verb uses, and how a new allocator or criterion joins it (one dict entry)."""

import numpy as np
import pytest
from golden import F, T, analyzed, assert_pruned_equals_masked, build, sample_x


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
    from lstmprune_cli.framework.prune.planner import cut, make_plan

    model = build("stacked", return_sequences=False, masked=True, cell="RNN-LSTM")
    x = np.concatenate([sample_x(s) for s in range(4)])
    plan = make_plan(model, analyzed(model, x), PlanSpec.paper(0.5, compensate="none"))
    assert [g.cell for g in plan.groups] == ["LSTM", "LSTM"] and plan.achieved()["units"] == pytest.approx(0.5, 0.1)
    assert_pruned_equals_masked(model, plan.kept(), x, pruned=cut(model, plan))


def test_an_allocator_that_runs_the_model_is_one_dict_entry(tf, registry):
    from lstmprune_cli.core import rates
    from lstmprune_cli.core.plan import PlanSpec
    from lstmprune_cli.framework.prune.planner import make_plan

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
    plan = make_plan(model, analyzed(model, x), PlanSpec.paper(0.6, target="least-drift"), calibration=x)
    assert len(seen) == 2 and all(d > 0 for d, _ in seen)
    chosen = {g.name: g.num_kept for g in plan.groups}
    assert chosen == min(seen, key=lambda s: s[0])[1]
    assert plan.target == "least-drift"


def test_a_criterion_that_reads_the_statistics_is_one_dict_entry(tf, registry):
    from lstmprune_cli.core.plan import PlanSpec
    from lstmprune_cli.framework.prune.planner import make_plan

    _, scorers = registry
    scorers["variance"] = lambda r: sum(np.diag(s.covariance) for s in r.stats)  # (H,) summed over merged groups
    model = build("single", masked=True)
    x = np.concatenate([sample_x(s) for s in range(4)])
    statistics = analyzed(model, x)
    plan = make_plan(model, statistics, PlanSpec.paper(0.5, criterion="variance"))
    (group,) = plan.groups
    variance = np.diag(statistics.stats[group.name].covariance)
    assert group.kept_units == sorted(np.argsort(-variance)[: group.num_kept].tolist())
    with pytest.raises(Exception, match="criterion must be one of gm, l2, random, obs, variance"):
        PlanSpec(0.5, criterion="nope")


def test_consumer_rows_are_each_units_weights_in_every_layer_that_reads_it(tf):
    from lstmprune_cli.framework.surgery.groups import consumer_rows, unit_groups

    model = build("bidirectional", "concat", masked=True)
    groups = unit_groups(model)
    rows = consumer_rows(model, groups)
    top = next(la for la in model.layers if la.name == groups[-1].layer)
    kernel = top.get_weights()[0]  # (12, 20): both directions' units, side by side
    np.testing.assert_array_equal(
        rows["bidirectional/forward"] if "bidirectional/forward" in rows else rows[groups[0].name], kernel[:6]
    )
    np.testing.assert_array_equal(rows[groups[1].name], kernel[6:])
    head = model.layers[-1].get_weights()[0]  # (5, 3)
    np.testing.assert_array_equal(rows[groups[2].name], head)


def test_obs_plans_keep_what_greedy_obs_keeps_on_the_consumers_and_the_statistics(tf):
    from lstmprune_cli.core.criteria import obs_order
    from lstmprune_cli.core.plan import PlanSpec
    from lstmprune_cli.framework.prune.planner import Planner

    model = build("stacked", masked=True)
    x = np.concatenate([sample_x(s) for s in range(8)])
    statistics = analyzed(model, x)
    planner = Planner(model, statistics)
    counts = {g.name: g.units // 2 for g in planner.groups}
    plan = planner.plan(PlanSpec.paper(0.5, criterion="obs"), num_kept=counts)
    for g in plan.groups:
        order = obs_order(planner.consumers[g.name], statistics.stats[g.name].covariance)
        assert g.kept_units == sorted(order[g.units - counts[g.name] :].tolist())


@pytest.mark.parametrize("budget", ["params", "flops"])
def test_a_params_or_flops_budget_removes_theta_of_that_measure(tf, budget):
    import keras

    from lstmprune_cli.core.plan import PlanSpec
    from lstmprune_cli.framework.prune.planner import Planner

    keras.utils.set_random_seed(1)
    inputs = keras.Input((T, F))
    x = keras.layers.LSTM(40, return_sequences=True)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.LSTM(30)(x)))
    planner = Planner(model, analyzed(model, np.concatenate([sample_x(s) for s in range(8)])))
    by_units = planner.plan(PlanSpec.paper(0.5, target="uniform"))
    plan = planner.plan(PlanSpec.paper(0.5, target="uniform", budget=budget))
    removed = plan.extra["removed"]
    assert abs(removed[budget] - 0.5) <= 0.03 < abs(by_units.extra["removed"][budget] - 0.5)
    assert removed["units"] < 0.5 and plan.theta == 0.5 and plan.extra["budget"] == budget


def test_the_controller_meets_the_budget_and_records_its_search(tf):
    from lstmprune_cli.core.plan import CONTROLLER_EPISODES, PlanSpec
    from lstmprune_cli.framework.prune.planner import make_plan

    model = build("bidirectional", masked=True)
    x = np.concatenate([sample_x(s) for s in range(4)])
    plan = make_plan(model, analyzed(model, x), PlanSpec.paper(0.5, target="controller"), calibration=x)
    record = plan.extra["allocation"]
    assert len(record["controller"]["history"]) == CONTROLLER_EPISODES
    assert record["controller"]["best_loss"] == min(record["controller"]["history"])
    assert abs(plan.achieved()["units"] - 0.5) <= 0.1
