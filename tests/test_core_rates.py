import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmprune_cli.core import rates
from lstmprune_cli.core.plan import ALLOCATORS, Allocation
from lstmprune_cli.core.rates import RateGroup


def spectrum(h, decay, rng):
    return np.sort(rng.random(h) * np.exp(-decay * np.arange(h)))[::-1]


@st.composite
def rate_groups(draw):
    rng = np.random.default_rng(draw(st.integers(0, 10_000)))
    groups = []
    for _ in range(draw(st.integers(1, 4))):
        h = draw(st.integers(1, 30))
        zeta = rates.cumulative_energy(spectrum(h, draw(st.floats(0, 2)), rng))
        groups.append(RateGroup(h, zeta, draw(st.sampled_from([1, 2])), draw(st.integers(1, 3))))
    for g in groups:
        g.floor = min(g.floor, g.units)
    return groups


@given(rate_groups(), st.sampled_from(["units", "layer-mean", "uniform"]))
@settings(max_examples=80, deadline=None)
def test_kept_counts_are_monotone_in_theta_and_inside_floor_and_units(groups, target):
    previous = None
    for theta in np.linspace(0.05, 0.95, 10):
        counts, _ = ALLOCATORS[target](Allocation(groups, [], theta))
        for g, k in zip(groups, counts):
            assert g.floor <= k <= g.units
        if previous is not None:
            assert all(k <= p for k, p in zip(counts, previous))
        previous = counts


@given(rate_groups(), st.floats(0.05, 0.95))
@settings(max_examples=80, deadline=None)
def test_units_target_is_met_exactly_and_by_one_energy_level(groups, theta):
    counts, alpha = rates.solve_units(groups, theta)
    for g, k in zip(groups, counts):  # one shared level: kept units lie at or under alpha, the next at or over
        assert g.floor <= k <= g.units
        if k > g.floor:
            assert g.zeta[k - 1] <= alpha
        if k < g.units:
            assert g.zeta[k] >= alpha

    total = sum(g.units * g.members for g in groups)
    floors = sum(g.floor * g.members for g in groups)
    kept = sum(k * g.members for g, k in zip(groups, counts))
    target = round((1 - theta) * total)
    if target >= floors and all(g.members == 1 for g in groups):
        assert kept == target


def test_concentrated_energy_is_pruned_hardest():
    rank1 = RateGroup(10, rates.cumulative_energy([10.0] + [1e-6] * 9))
    flat = RateGroup(10, rates.cumulative_energy([1.0] * 10))
    counts, _ = rates.solve_units([rank1, flat], 0.5)
    assert counts[0] < counts[1]


def test_constant_output_keeps_only_the_floor():
    dead = RateGroup(8, rates.cumulative_energy(np.zeros(8)), floor=2)
    live = RateGroup(8, rates.cumulative_energy(np.arange(8, 0, -1.0)))
    counts, _ = rates.solve_units([dead, live], 0.5)
    assert counts == [2, 6]


def test_layer_mean_target_averages_group_rates():
    groups = [RateGroup(10, rates.cumulative_energy(np.ones(10))), RateGroup(40, rates.cumulative_energy(np.ones(40)))]
    counts, _ = rates.solve_layer_mean(groups, 0.5)
    assert rates.achieved(groups, counts)["layer-mean"] == pytest.approx(0.5, abs=0.05)


def test_units_for_energy():
    zeta = rates.cumulative_energy([6.0, 3.0, 1.0])
    assert [rates.units_for_energy(zeta, a) for a in (0.5, 0.6, 0.9, 0.95, 1.0)] == [1, 1, 2, 3, 3]


def test_inverted_rule_reverses_which_group_is_pruned_hardest():
    steep = RateGroup(20, rates.cumulative_energy(np.r_[1.0, np.full(19, 1e-4)]))  # nearly rank 1
    flat = RateGroup(20, rates.cumulative_energy(np.ones(20)))
    paper, _ = rates.solve_units([steep, flat], 0.5)
    inverted, _ = rates.solve_inverted([steep, flat], 0.5)
    assert paper[0] < paper[1]  # eq. 11: the redundant (steep) group loses more units
    assert inverted[0] > inverted[1]  # the reference code's rule: the flat group loses more
    assert abs(sum(inverted) - 20) <= 2
