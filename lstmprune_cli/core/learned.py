"""Structures learned in training (ISS-L0 gates, ISS-GL group lasso, soft GM pruning): the numpy side.

Hard-concrete gates (Louizos, Welling and Kingma 2018) with beta 2/3, gamma -0.1, zeta 1.1; and the
choice of the kept units from one score per unit under a budget, respecting floors and ties.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

BETA, GAMMA, ZETA = 2 / 3, -0.1, 1.1


OPEN_SHIFT = BETA * float(np.log(-GAMMA / ZETA))  # P(z != 0) = sigmoid(log_alpha - OPEN_SHIFT)


def deterministic_gate(log_alpha: np.ndarray) -> np.ndarray:
    """The gate's value at test time: clip(sigmoid(log_alpha) (zeta - gamma) + gamma, 0, 1)."""
    return np.clip(1 / (1 + np.exp(-log_alpha)) * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)


@dataclass
class SetShape:
    """What the selection sees of one unit set: its units, how many groups share it, its tie, its floor."""

    name: str
    units: int
    members: int
    tie: str
    floor: int = 1


def counts_for(shapes: list[SetShape], scores: list[np.ndarray], threshold: float) -> list[int]:
    """Kept counts when every unit scoring above `threshold` stays; floors, then tied sets at their maximum."""
    counts = [max(s.floor, int(np.sum(v > threshold))) for s, v in zip(shapes, scores)]
    top: dict[str, int] = {}
    for s, c in zip(shapes, counts):
        top[s.tie] = max(top.get(s.tie, 0), c)
    return [min(s.units, top[s.tie]) for s in shapes]


def select(
    shapes: list[SetShape],
    scores: list[np.ndarray],
    removed: Callable[[list[int]], float],
    theta: float,
) -> list[np.ndarray]:
    """The kept indices of each set: the highest scores, as many as the budget allows.

    `removed(counts)` is the share of the budget's measure that the counts remove (units, parameters or
    FLOPs); the largest kept set (one global threshold on the scores) that removes at least theta wins.
    """
    candidates = np.concatenate([[-np.inf], np.unique(np.concatenate(scores))])  # fewer kept further on
    low, high = -1, len(candidates) - 1  # the last keeps the floors only: the most any budget can ask
    while high - low > 1:
        mid = (low + high) // 2
        if removed(counts_for(shapes, scores, candidates[mid])) >= theta - 1e-9:
            high = mid
        else:
            low = mid
    threshold = candidates[high]
    counts = counts_for(shapes, scores, threshold)
    return [np.sort(np.argsort(-v, kind="stable")[:k]) for v, k in zip(scores, counts)]


def units_removed(shapes: list[SetShape]) -> Callable[[list[int]], float]:
    """The units budget: the share of all units that counts remove."""
    total = sum(s.units * s.members for s in shapes)
    return lambda counts: 1 - sum(c * s.members for s, c in zip(shapes, counts)) / total
