"""Unit-ranking criteria (method.md section 4): pure functions from weights to one score per unit.

Units with the smallest score are pruned first.
"""

from __future__ import annotations

import numpy as np

from .errors import LstmpruneError

CRITERIA = ("gm", "l2", "random")


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


def scores(criterion: str, w: np.ndarray, seed: int = 0) -> np.ndarray:
    """Scores of `criterion` for the unit vectors `w` (H, Q)."""
    if criterion == "gm":
        return gm_scores(w)
    if criterion == "l2":
        return l2_scores(w)
    if criterion == "random":
        return random_scores(w.shape[0], seed)
    raise LstmpruneError(f"--criterion must be one of {', '.join(CRITERIA)}; received {criterion!r}")


def kept_units(scores: np.ndarray, num_kept: int) -> np.ndarray:
    """The `num_kept` highest-scoring units, ascending; ties keep the lower index."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    return np.sort(order[:num_kept])
