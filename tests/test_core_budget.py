"""Budgets as limits: the bisection finds the border a brute-force grid finds, within its resolution."""

import numpy as np
import pytest

from lstmprune_cli.core.budget import HIGH, RESOLUTION, Search, border
from lstmprune_cli.core.errors import LstmpruneError


def _grid(measure, limit, rising):
    """The border by brute force on a grid finer than the search's resolution."""
    thetas = np.round(np.arange(0.001, HIGH + 1e-9, 0.001), 6)
    ok = [t for t in thetas if measure(t) <= limit]
    if not ok:
        return None
    return max(ok) if rising else min(ok)


@pytest.mark.parametrize("edge", [0.013, 0.2, 0.4137, 0.77, 0.949])
def test_a_rising_measure_gives_the_largest_theta_within_one_step_of_the_grid(edge):
    drop = lambda t: 3.0 * max(0.0, t - edge) ** 0.5 + 0.1 * t  # noqa: E731  (rises with theta)
    limit = 0.1 * edge
    found = border(drop, limit, rising=True, name="drop")
    best = _grid(drop, limit, True)
    if found.theta is None:  # the border lies within one step of no cut at all
        assert best < RESOLUTION
    else:
        assert drop(found.theta) <= limit and best - RESOLUTION <= found.theta <= best
    assert len(found.points) <= 8 and all(p.within == (p.value <= limit) for p in found.points)


@pytest.mark.parametrize("limit", [900.0, 500.0, 120.0])
def test_a_falling_measure_gives_the_smallest_theta_within_one_step_of_the_grid(limit):
    size = lambda t: 1000.0 * (1 - t) ** 2  # noqa: E731  (parameters fall as theta rises)
    found = border(size, limit, rising=False, name="params")
    best = _grid(size, limit, False)
    assert found.theta is not None and size(found.theta) <= limit
    assert best <= found.theta <= best + RESOLUTION


def test_the_ends_of_the_bracket_and_the_record():
    assert border(lambda t: 0.0, 1.0, rising=True).theta == HIGH  # everything is within: the largest cut
    nothing = border(lambda t: 5.0, 1.0, rising=True)  # even the smallest cut tried drops too much
    assert nothing.theta is None and all(not p.within for p in nothing.points)
    assert border(lambda t: 1e9, 10.0, rising=False).theta is None  # even the largest cut is too big
    assert border(lambda t: float("nan"), 1.0, rising=True).theta is None  # a broken measure is never within
    found = border(lambda t: t, 0.5, rising=True, name="drop")
    again = Search.from_dict(found.to_dict())
    assert again == found and again.points[0].theta == HIGH
    with pytest.raises(LstmpruneError):
        border(lambda t: t, float("inf"), rising=True)


@pytest.mark.parametrize("epochs", [1, 2, 3, 4, 5, 9])
@pytest.mark.parametrize("steps", [1, 7, 125])
@pytest.mark.parametrize("starts", [1, 2, 3])
def test_the_trial_of_other_starts_counts_against_the_training_budget(epochs, steps, starts):
    """finetune --start auto: every batch any start trains is one of the budget's epochs x steps."""
    from lstmprune_cli.core.training import trial_budget

    trial, lengths = trial_budget(epochs, steps, starts)
    assert all(0 < n <= steps for n in lengths) and lengths[0] >= trial
    if starts == 1:
        assert trial == 0 and lengths == [steps] * epochs
        return
    assert 1 <= trial <= steps
    assert (starts - 1) * trial + sum(lengths) == max(epochs * steps, starts * trial)  # over only at 1 step
    assert starts * trial <= max(starts, epochs * steps // 2)  # the trials take at most half the budget
    if epochs >= 2 * starts:
        assert trial == steps  # a long budget judges after a whole epoch


def test_a_budget_of_one_epoch_judges_two_starts_after_a_quarter_of_it():
    from lstmprune_cli.core.training import trial_budget

    assert trial_budget(1, 100, 2) == (25, [75])
    assert trial_budget(5, 100, 2) == (100, [100, 100, 100, 100])
    assert trial_budget(2, 100, 2) == (50, [100, 50])
    assert trial_budget(3, 10, 1) == (0, [10, 10, 10])
    assert trial_budget(3, None, 2) == (None, [None, None])
