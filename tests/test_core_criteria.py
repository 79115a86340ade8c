import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist

from lstmprune_cli.core import criteria

vectors = st.integers(1, 12).flatmap(
    lambda h: st.integers(1, 20).flatmap(
        lambda q: arrays(np.float64, (h, q), elements=st.floats(-10, 10, allow_nan=False, width=32))
    )
)


@given(vectors)
@settings(max_examples=60, deadline=None)
def test_gm_scores_equal_the_cdist_reference(w):
    want = cdist(w, w).sum(axis=1) / w.shape[0]
    np.testing.assert_allclose(criteria.gm_scores(w), want, rtol=1e-6, atol=1e-5)


@given(vectors, st.randoms())
@settings(max_examples=40, deadline=None)
def test_gm_scores_are_permutation_equivariant(w, rnd):
    perm = np.array(rnd.sample(range(w.shape[0]), w.shape[0]))
    np.testing.assert_allclose(criteria.gm_scores(w[perm]), criteria.gm_scores(w)[perm], rtol=1e-6, atol=1e-5)


def test_units_nearest_the_median_are_pruned_first():
    w = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [-5.0, 4.0]])
    assert list(criteria.kept_units(criteria.gm_scores(w), 2)) == [2, 3]


def test_l2_prunes_small_norms_and_random_is_seeded():
    w = np.array([[3.0], [0.1], [2.0]])
    assert list(criteria.kept_units(criteria.l2_scores(w), 2)) == [0, 2]
    np.testing.assert_array_equal(criteria.random_scores(5, 7), criteria.random_scores(5, 7))
    assert not np.array_equal(criteria.random_scores(5, 7), criteria.random_scores(5, 8))


@given(st.integers(2, 9), st.integers(1, 6), st.integers(0, 10_000))
@settings(max_examples=60, deadline=None)
def test_obs_downdate_equals_inverting_the_kept_covariance_at_every_step(units, outputs, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(3 * units, units)) @ rng.normal(size=(units, units))
    covariance = np.cov(z, rowvar=False) + 1e-3 * np.eye(units)
    w = rng.normal(size=(units, outputs))
    damped = covariance + (criteria.OBS_DAMPING * np.mean(np.diag(covariance)) + 1e-12) * np.eye(units)
    alive, reference = list(range(units)), []
    while alive:  # recompute P from the kept units' covariance at every step
        p = np.linalg.inv(damped[np.ix_(alive, alive)])
        cost = np.sum(w[alive] ** 2, axis=1) / np.diag(p)
        reference.append(alive.pop(int(np.argmin(cost))))
    assert criteria.obs_order(w, covariance).tolist() == reference


def test_obs_removes_a_duplicate_and_an_unread_unit_first():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(500, 5))
    z = np.concatenate([z, z[:, :1]], axis=1)  # unit 5 repeats unit 0
    w = rng.normal(size=(6, 3)) + 2.0
    w[3] = 0.0  # unit 3 is read by nothing
    order = criteria.obs_order(w, np.cov(z, rowvar=False))
    assert set(order[:2].tolist()) == {3, 5} or set(order[:2].tolist()) == {3, 0}
