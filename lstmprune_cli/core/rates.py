"""Per-group pruning rates from covariance eigenvalues (method.md section 3, paper eqs. 10-13)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def cumulative_energy(eigenvalues: np.ndarray) -> np.ndarray:
    """zeta_i = lambda_1 + ... + lambda_i of the normalised spectrum, (H,).

    A constant output (all eigenvalues 0) is entirely redundant: every zeta is 1, so
    only the floor of kept units survives any level below 1.
    """
    lam = np.clip(np.sort(np.asarray(eigenvalues, dtype=np.float64))[::-1], 0.0, None)  # (H,)
    total = lam.sum()
    if total <= 0:
        return np.ones_like(lam)
    zeta = np.cumsum(lam / total)
    zeta[-1] = 1.0
    return np.minimum(zeta, 1.0)


def units_for_energy(zeta: np.ndarray, level: float) -> int:
    """Fewest leading components whose cumulative energy reaches `level`."""
    return min(int(np.searchsorted(zeta, level - 1e-12, side="left")) + 1, len(zeta))


@dataclass
class RateGroup:
    """What the rate solver sees of a unit group (tied directions folded into one)."""

    units: int
    zeta: np.ndarray  # (H,) increasing; for tied groups the maximum over the members
    members: int = 1  # directions that share this count
    floor: int = 1  # fewest kept units

    def num_kept(self, alpha: float) -> int:
        """k(alpha) = #{i : zeta_i <= alpha}, never under the floor (paper eq. 11)."""
        k = int(np.searchsorted(self.zeta, alpha, side="right"))
        return int(min(self.units, max(self.floor, k)))


def achieved(groups: list[RateGroup], counts: list[int]) -> dict[str, float]:
    """Both readings of the network's pruning rate for the given kept counts."""
    total = sum(g.units * g.members for g in groups)
    kept = sum(k * g.members for g, k in zip(groups, counts))
    layer_rates = [1 - k / g.units for g, k in zip(groups, counts) for _ in range(g.members)]
    return {"units": 1 - kept / total, "layer-mean": float(np.mean(layer_rates))}


def solve_units(groups: list[RateGroup], theta: float) -> tuple[list[int], float]:
    """Exact units-weighted target: keep the globally smallest zeta values (one shared alpha).

    Returns the kept count per group and the energy level alpha that gives them.
    """
    total = sum(g.units * g.members for g in groups)
    need = round((1 - theta) * total) - sum(g.floor * g.members for g in groups)
    items = [(g.zeta[i], gi, i, g.members) for gi, g in enumerate(groups) for i in range(g.floor, g.units)]
    items.sort(key=lambda t: (t[0], t[1], t[2]))
    weights = np.cumsum([0] + [it[3] for it in items])  # (len(items) + 1,)
    take = int(np.argmin(np.abs(weights - need)))
    counts = [g.floor for g in groups]
    for _, gi, _, _ in items[:take]:
        counts[gi] += 1
    alpha = float(items[take - 1][0]) if take > 0 else 0.0
    return counts, alpha


def solve_layer_mean(groups: list[RateGroup], theta: float) -> tuple[list[int], float]:
    """Mean of the layer rates equal to theta (eq. 13): the shared alpha that comes closest."""
    candidates = np.unique(np.concatenate([[0.0]] + [g.zeta for g in groups]))
    best: tuple[float, float] | None = None
    for alpha in candidates:
        counts = [g.num_kept(alpha) for g in groups]
        gap = abs(achieved(groups, counts)["layer-mean"] - theta)
        if best is None or gap < best[0] - 1e-12:
            best = (gap, float(alpha))
    alpha = best[1]
    return [g.num_kept(alpha) for g in groups], alpha


def solve_uniform(groups: list[RateGroup], theta: float) -> list[int]:
    """Every group at rate theta (the uniform baseline)."""
    return [int(min(g.units, max(g.floor, round((1 - theta) * g.units)))) for g in groups]


def solve_inverted(groups: list[RateGroup], theta: float) -> tuple[list[int], float]:
    """The released reference code's rule, kept as a baseline: keep #{i : zeta_i > alpha}.

    The reverse of eq. 11 (method.md section 7): a nearly rank-1 group keeps every unit and a flat
    spectrum is pruned hardest. alpha is the shared level whose units-weighted rate comes closest to theta.
    """
    total = sum(g.units * g.members for g in groups)

    def counts(alpha: float) -> list[int]:
        above = [g.units - int(np.searchsorted(g.zeta, alpha, side="right")) for g in groups]
        return [int(min(g.units, max(g.floor, k))) for g, k in zip(groups, above)]

    def gap(alpha: float) -> float:
        return abs(1 - sum(k * g.members for g, k in zip(groups, counts(alpha))) / total - theta)

    candidates = np.unique(np.concatenate([[0.0]] + [g.zeta for g in groups]))
    alpha = float(min(candidates, key=gap))
    return counts(alpha), alpha


def solve_curves(groups: list[RateGroup], theta: float, curves: list[dict[int, float]]) -> list[int]:
    """Kept counts that minimise the summed measured loss with the units budget met (exact knapsack DP).

    curves[i]: kept count of tied set i -> loss measured with that set alone cut to it (its full size
    costs nothing). Kept units, counted once per member, stay within round((1 - theta) * total).
    """
    total = sum(g.units * g.members for g in groups)
    budget = round((1 - theta) * total)
    best = {0: (0.0, [])}  # kept units so far -> (loss, counts)
    for g, curve in zip(groups, curves):
        options = {k: loss for k, loss in curve.items() if g.floor <= k <= g.units}
        nxt: dict[int, tuple[float, list[int]]] = {}
        for used, (loss, counts) in best.items():
            for k, extra in options.items():
                spend = used + k * g.members
                if spend <= budget and (spend not in nxt or loss + extra < nxt[spend][0]):
                    nxt[spend] = (loss + extra, counts + [k])
        best = nxt
    if not best:
        return [g.floor for g in groups]
    return min(best.values(), key=lambda v: (v[0], -sum(v[1])))[1]
