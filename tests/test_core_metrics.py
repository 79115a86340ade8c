import numpy as np
import pytest

from lstmprune_cli.core import metrics


def test_gap_matches_a_hand_computed_case():
    # two videos, three classes, top 2 per video
    scores = np.array([[0.9, 0.2, 0.6], [0.3, 0.8, 0.1]])
    labels = np.array([[1, 0, 0], [1, 1, 0]])
    # pooled top-2 pairs: (0.9, 1) (0.6, 0) from video 0; (0.8, 1) (0.3, 1) from video 1
    # sorted: 0.9 hit, 0.8 hit, 0.6 miss, 0.3 hit -> precisions at hits 1/1, 2/2, 3/4; 3 true labels
    assert metrics.gap(scores, labels, top_k=2) == pytest.approx((1 + 1 + 0.75) / 3)


def test_gap_counts_labels_outside_the_top_k_as_missed():
    scores = np.array([[0.9, 0.8, 0.1]])
    labels = np.array([[0, 1, 1]])
    assert metrics.gap(scores, labels, top_k=1) == 0.0
    assert metrics.gap(scores, labels, top_k=2) == pytest.approx((1 / 2) / 2)


def test_average_precision_and_map():
    assert metrics.average_precision([0.9, 0.8, 0.7], [1, 0, 1]) == pytest.approx((1 + 2 / 3) / 2)
    scores = np.array([[0.9, 0.1], [0.8, 0.7], [0.7, 0.9]])
    labels = np.array([[1, 0], [0, 0], [1, 1]])
    assert metrics.mean_average_precision(scores, labels) == pytest.approx(((1 + 2 / 3) / 2 + 1) / 2)


def test_top_k_accuracy_and_perplexity():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    assert metrics.top_k_accuracy(scores, np.array([2, 0]), k=1) == 0.5
    assert metrics.top_k_accuracy(scores, np.array([2, 0]), k=2) == 1.0
    assert metrics.perplexity(np.log(10.0) * 4, 4) == pytest.approx(10.0)


def test_mean_kl_is_zero_for_equal_distributions_and_large_where_q_loses_mass():
    p = np.array([[0.5, 0.5, 0.0], [0.9, 0.05, 0.05]])
    assert metrics.mean_kl(p, p) == pytest.approx(0.0, abs=1e-12)
    q = np.array([[1.0, 0.0, 0.0], [0.9, 0.05, 0.05]])  # the first row's second half rounded away
    assert metrics.mean_kl(p, q) == pytest.approx(0.5 * (0.5 * np.log(0.5) + 0.5 * np.log(0.5 / 1e-12)), rel=1e-9)
