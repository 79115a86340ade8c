"""Unit-ranking criteria (method.md section 4): one score per unit from its weights (and statistics).

Units with the smallest score are pruned first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import LstmpruneError
from .stats import GroupStats

OBS_DAMPING = 0.01  # added to the covariance's diagonal, as a share of its mean (the GPTQ / SparseGPT practice)


def gm_scores(w: np.ndarray) -> np.ndarray:
    """eta_j = (1/H) sum_k ||w_j - w_k||, through the Gram matrix in float64, (H,)."""
    w = np.asarray(w, dtype=np.float64)  # (H, Q)
    gram = w @ w.T  # (H, H)
    sq = np.diag(gram)  # (H,)
    d2 = np.clip(sq[:, None] + sq[None, :] - 2.0 * gram, 0.0, None)  # (H, H)
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2).sum(axis=1) / w.shape[0]


def l2_scores(w: np.ndarray) -> np.ndarray:
    """||w_j||_2, (H,)."""
    return np.linalg.norm(np.asarray(w, dtype=np.float64), axis=1)


def random_scores(units: int, seed: int) -> np.ndarray:
    """Seeded uniform scores, (H,)."""
    return np.random.default_rng(seed).random(units)


@dataclass
class Ranking:
    """What a criterion reads for one set of units ranked together."""

    vectors: np.ndarray  # (H, Q): each unit's weights (merged groups side by side)
    stats: list[GroupStats] | None = None  # the statistics of each group ranked, when analyzed
    seed: int = 0
    consumers: np.ndarray | None = None  # (H, m): each unit's rows in every layer that reads it


Criterion = Callable[[Ranking], np.ndarray]  # -> (H,) scores; the lowest go first

CRITERIA: dict[str, Criterion] = {
    "gm": lambda r: gm_scores(r.vectors),  # the paper's geometric median distance
    "l2": lambda r: l2_scores(r.vectors),
    "random": lambda r: random_scores(r.vectors.shape[0], r.seed),
    "obs": lambda r: obs_scores(r),  # structured Optimal Brain Surgeon: consumer weights x inverse covariance
}


def obs_order(consumers: np.ndarray, covariance: np.ndarray, damping: float = OBS_DAMPING) -> np.ndarray:
    """Units in the order greedy structured OBS removes them (method.md section 5).

    Each step removes the unit with the smallest `||w_j||^2 / P_jj` (w_j: its consumer rows, P the inverse
    of the damped covariance), then downdates P <- P - P[:, j] P[j, :] / P_jj without row and column j,
    kept as a low-rank factor so that a step costs one matrix-vector product.
    """
    w2 = np.sum(np.asarray(consumers, dtype=np.float64) ** 2, axis=1)  # (H,)
    s = np.asarray(covariance, dtype=np.float64)
    units = len(w2)
    s = s + (damping * float(np.mean(np.diag(s))) + 1e-12) * np.eye(units)
    p = np.linalg.inv(s)  # (H, H); after t removals P_t = P - U_t U_t^T, one column of U per removal
    u = np.zeros((units, units))
    diag = np.diag(p).copy()
    removed = np.zeros(units, dtype=bool)
    order = []
    for t in range(units):
        cost = np.where(removed, np.inf, w2 / np.where(removed, 1.0, diag))
        j = int(np.argmin(cost))
        order.append(j)
        column = p[:, j] - u[:, :t] @ u[j, :t]  # (H,) column j of P_t
        u[:, t] = column / np.sqrt(column[j])
        diag -= u[:, t] ** 2
        removed[j] = True
    return np.asarray(order)


def obs_scores(r: Ranking) -> np.ndarray:
    """Scores from the OBS removal order: the first unit removed scores 0, the last H - 1."""
    if r.consumers is None or not r.stats:
        raise LstmpruneError(
            "criterion obs needs the analyzed statistics and a layer that reads the group", option="criterion"
        )
    covariance = sum(s.covariance for s in r.stats)  # merged groups: what the consumer reads adds up
    scores = np.empty(len(r.consumers))
    scores[obs_order(r.consumers, covariance)] = np.arange(len(r.consumers))
    return scores


def kept_units(scores: np.ndarray, num_kept: int) -> np.ndarray:
    """The `num_kept` highest-scoring units, ascending; ties keep the lower index."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    return np.sort(order[:num_kept])
