"""Structures learned in training (ISS-L0 gates, ISS-GL group lasso, soft GM pruning): the numpy side.

Hard-concrete gates (Louizos, Welling and Kingma 2018) with beta 2/3, gamma -0.1, zeta 1.1; and the
choice of the kept units from one score per unit under a budget, respecting floors and ties.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

BETA, GAMMA, ZETA = 2 / 3, -0.1, 1.1


FULL_OPEN = float(np.log((1 - GAMMA) / (ZETA - 1)))  # the least log_alpha whose deterministic gate is 1
OPEN_SHIFT = BETA * float(np.log(-GAMMA / ZETA))  # P(z != 0) = sigmoid(log_alpha - OPEN_SHIFT)


def percentiles(scores: np.ndarray) -> np.ndarray:
    """Each unit's place in its set by `scores`, in (0, 1]: the best 1, the worst 1/H (equal scores share the
    mean of their places)."""
    _, inverse, counts = np.unique(np.asarray(scores, dtype=np.float64), return_inverse=True, return_counts=True)
    places = np.cumsum(counts) - (counts - 1) / 2  # (distinct values,) ascending: the mean place of each
    return places[inverse.ravel()] / len(inverse)


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
    return _floored(shapes, [int(np.sum(v > threshold)) for v in scores])


def _floored(shapes: list[SetShape], counts: list[int]) -> list[int]:
    counts = [max(s.floor, c) for s, c in zip(shapes, counts)]
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
    FLOPs). Units are ranked over all sets by score (equal scores by their rank within their set, so a tie
    is split at the same rate in every set), and the longest head of that ranking whose per-set counts remove at
    least theta is kept.
    """
    flat = np.concatenate(scores)  # (N,) over all sets
    owner = np.concatenate([np.full(len(v), i) for i, v in enumerate(scores)])
    place = np.concatenate([(np.argsort(np.argsort(-v, kind="stable")) + 0.5) / len(v) for v in scores])
    ranked = owner[np.lexsort((place, -flat))]  # the set of each unit, best first; equal scores spread evenly

    def counts(k: int) -> list[int]:
        return _floored(shapes, list(np.bincount(ranked[:k], minlength=len(scores))))

    low, high = 0, len(flat)  # the head kept: removed(counts(low)) >= theta > removed(counts(high)), all kept
    if removed(counts(0)) >= theta - 1e-9:
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if removed(counts(mid)) >= theta - 1e-9 else (low, mid)
    high = low  # when even the floors alone remove less, they are the most any budget can ask
    return [np.sort(np.argsort(-v, kind="stable")[:k]) for v, k in zip(scores, counts(high))]


def select_uniform(
    shapes: list[SetShape],
    scores: list[np.ndarray],
    removed: Callable[[list[int]], float],
    theta: float,
) -> list[np.ndarray]:
    """The kept indices of each set when every set keeps the same share of its units (its own highest scores):
    the largest share whose counts remove at least theta (`learn --allocate uniform`: the scores choose which
    units go, not how many)."""

    def counts(share: float) -> list[int]:
        return _floored(shapes, [int(round(share * s.units)) for s in shapes])

    low, high = 0.0, 1.0  # removed(counts(low)) >= theta > removed(counts(high)), all kept
    if removed(counts(low)) >= theta - 1e-9:
        for _ in range(50):
            mid = (low + high) / 2
            low, high = (mid, high) if removed(counts(mid)) >= theta - 1e-9 else (low, mid)
    return [np.sort(np.argsort(-v, kind="stable")[:k]) for v, k in zip(scores, counts(low))]


def units_removed(shapes: list[SetShape]) -> Callable[[list[int]], float]:
    """The units budget: the share of all units that counts remove."""
    total = sum(s.units * s.members for s in shapes)
    return lambda counts: 1 - sum(c * s.members for s, c in zip(shapes, counts)) / total
