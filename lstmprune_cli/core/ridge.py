"""Ridge least squares accumulated in a stream: what a consumer's refit solves (method.md section 5).

For inputs h (N, F) and targets z (N, m), the fit of `z ~ [h, 1] A` minimises
`||[h, 1] A - z||^2 + lambda ||A_h||^2` with lambda = damping x mean(diag(h^T h)); the intercept is not damped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Ridge:
    """The moments of one fit: Gram (F+1, F+1) of [h, 1], cross-moment (F+1, m) with z, and sum of z^2."""

    inputs: int
    outputs: int
    intercept: bool = True
    sources: int = 0  # > 0: targets are z = [u, 1] A of sources u (N, sources), A given at the end (`map_sources`)
    gram: np.ndarray = field(init=False)
    cross: np.ndarray = field(init=False)
    target_energy: float = field(init=False, default=0.0)
    count: int = field(init=False, default=0)
    mixed: np.ndarray | None = field(init=False, default=None)  # [h, 1]^T [u, 1] (F+1, S+1)
    source_gram: np.ndarray | None = field(init=False, default=None)  # [u, 1]^T [u, 1] (S+1, S+1)

    def __post_init__(self):
        width = self.inputs + int(self.intercept)
        self.gram = np.zeros((width, width))
        self.cross = np.zeros((width, self.outputs))
        if self.sources:
            self.mixed = np.zeros((width, self.sources + 1))
            self.source_gram = np.zeros((self.sources + 1, self.sources + 1))

    def add(self, h: np.ndarray, z: np.ndarray) -> None:
        """One batch of inputs (N, F) and targets (N, m)."""
        h = np.asarray(h, dtype=np.float64).reshape(-1, self.inputs)  # (N, F)
        z = np.asarray(z, dtype=np.float64).reshape(-1, self.outputs)  # (N, m)
        if self.intercept:
            h = np.concatenate([h, np.ones((len(h), 1))], axis=1)  # (N, F + 1)
        self.gram += h.T @ h
        self.cross += h.T @ z
        self.target_energy += float(np.sum(z * z))
        self.count += len(h)

    def add_sources(self, h: np.ndarray, u: np.ndarray) -> None:
        """One batch of inputs (N, F) and the sources (N, S) its targets are linear in: a consumer with more
        outputs than sources (a 10,000-word head reading 1,500 states) costs S, not m, per row."""
        h = np.asarray(h, dtype=np.float64).reshape(-1, self.inputs)  # (N, F)
        u = np.asarray(u, dtype=np.float64).reshape(-1, self.sources)  # (N, S)
        u = np.concatenate([u, np.ones((len(u), 1))], axis=1)  # (N, S + 1)
        if self.intercept:
            h = np.concatenate([h, np.ones((len(h), 1))], axis=1)  # (N, F + 1)
        self.gram += h.T @ h
        self.mixed += h.T @ u
        self.source_gram += u.T @ u
        self.count += len(h)

    def map_sources(self, a: np.ndarray) -> None:
        """The targets' map from the sources, z = [u, 1] a with a (S + 1, m): the cross-moment and the targets'
        energy follow from the accumulated moments, exactly as `add` would have summed them."""
        a = np.asarray(a, dtype=np.float64)  # (S + 1, m)
        self.cross = self.mixed @ a  # (F + 1, m)
        self.target_energy = float(np.sum(a * (self.source_gram @ a)))

    def solve(self, damping: float) -> tuple[np.ndarray, np.ndarray | None]:
        """(weights (F, m), bias (m,) or None) of the damped fit."""
        gram = self.gram.copy()
        f = self.inputs
        scale = float(np.mean(np.diag(gram)[:f])) if f else 0.0
        gram[np.arange(f), np.arange(f)] += damping * scale + 1e-12
        try:
            a = np.linalg.solve(gram, self.cross)  # (F + 1, m)
        except np.linalg.LinAlgError:
            a = np.linalg.lstsq(gram, self.cross, rcond=None)[0]
        return a[:f], (a[f] if self.intercept else None)

    def residual(self, weights: np.ndarray, bias: np.ndarray | None) -> float:
        """Mean squared error of a fit on the accumulated data, from the moments alone."""
        a = weights if bias is None else np.concatenate([weights, bias[None]], axis=0)  # (F + 1, m)
        sse = self.target_energy - 2 * np.sum(a * self.cross) + np.sum(a * (self.gram @ a))
        return float(max(sse, 0.0) / max(self.count * self.outputs, 1))
