"""Unit-ranking criteria (method.md section 4): one score per unit from its weights (and statistics).

Units with the smallest score are pruned first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .stats import GroupStats


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


Criterion = Callable[[Ranking], np.ndarray]  # -> (H,) scores; the lowest go first

CRITERIA: dict[str, Criterion] = {
    "gm": lambda r: gm_scores(r.vectors),  # the paper's geometric median distance
    "l2": lambda r: l2_scores(r.vectors),
    "random": lambda r: random_scores(r.vectors.shape[0], r.seed),
}


def kept_units(scores: np.ndarray, num_kept: int) -> np.ndarray:
    """The `num_kept` highest-scoring units, ascending; ties keep the lower index."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    return np.sort(order[:num_kept])
