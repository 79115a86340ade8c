import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lstmprune_cli.core.stats import GroupStats

samples = st.integers(2, 40).flatmap(
    lambda n: st.integers(1, 6).flatmap(
        lambda h: arrays(np.float64, (n, h), elements=st.floats(-1e3, 1e3, allow_nan=False, width=32))
    )
)


@given(samples, st.data())
@settings(max_examples=60, deadline=None)
def test_streaming_covariance_equals_numpy_cov_for_any_split(z, data):
    cuts = sorted(data.draw(st.lists(st.integers(0, len(z)), max_size=5)))
    stats = GroupStats.empty(z.shape[1])
    for part in np.split(z, cuts):
        stats = stats.add(part)
    assert stats.count == len(z)
    np.testing.assert_allclose(stats.mean, z.mean(axis=0), rtol=1e-9, atol=1e-9)
    want = np.cov(z, rowvar=False, bias=True).reshape(z.shape[1], z.shape[1])
    np.testing.assert_allclose(stats.covariance, want, rtol=1e-8, atol=1e-6)


@given(samples, st.integers(0, 40))
@settings(max_examples=40, deadline=None)
def test_merge_of_two_shards_equals_one_pass(z, cut):
    cut = min(cut, len(z))
    merged = GroupStats.of(z[:cut]).merge(GroupStats.of(z[cut:]))
    whole = GroupStats.of(z)
    np.testing.assert_allclose(merged.covariance, whole.covariance, rtol=1e-8, atol=1e-6)
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-9, atol=1e-9)


def test_large_mean_does_not_swamp_the_covariance():
    rng = np.random.default_rng(0)
    z = 1e4 + rng.normal(size=(5000, 3)) * [1.0, 0.1, 0.01]
    stats = GroupStats.empty(3)
    for part in np.array_split(z, 37):
        stats = stats.add(part)
    np.testing.assert_allclose(stats.covariance, np.cov(z, rowvar=False, bias=True), rtol=1e-6, atol=1e-10)


def test_eigenvalues_are_descending_and_nonnegative():
    z = np.random.default_rng(1).normal(size=(100, 5)) @ np.diag([3, 2, 1, 0, 0])
    lam = GroupStats.of(z).eigenvalues()
    assert np.all(np.diff(lam) <= 1e-12) and np.all(lam >= 0)
