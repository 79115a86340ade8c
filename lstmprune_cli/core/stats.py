"""Streaming mean and covariance of a group's responses (method.md section 2).

Pairwise update of Chan et al. in float64: exact for any batch split, and two
partial results computed on different shards merge to the statistics of the union.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class GroupStats:
    """Count, mean and scatter matrix (sum of centred outer products) of H-dim samples."""

    count: int
    mean: np.ndarray  # (H,) float64
    scatter: np.ndarray  # (H, H) float64, sum_n (z_n - m)(z_n - m)^T

    @classmethod
    def empty(cls, units: int) -> GroupStats:
        return cls(0, np.zeros(units), np.zeros((units, units)))

    @classmethod
    def of(cls, z: np.ndarray) -> GroupStats:
        """Statistics of one batch of samples `z` (N, H)."""
        z = np.asarray(z, dtype=np.float64)  # (N, H)
        if z.shape[0] == 0:
            return cls.empty(z.shape[1])
        mean = z.mean(axis=0)  # (H,)
        centred = z - mean  # (N, H)
        return cls(z.shape[0], mean, centred.T @ centred)  # scatter (H, H)

    @property
    def units(self) -> int:
        return self.mean.shape[0]

    def merge(self, other: GroupStats) -> GroupStats:
        """Statistics of the union of the two sample sets."""
        if other.units != self.units:
            raise ValueError(f"cannot merge statistics of {self.units} and {other.units} units")
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        n = self.count + other.count
        delta = other.mean - self.mean  # (H,)
        mean = self.mean + delta * (other.count / n)
        scatter = self.scatter + other.scatter + np.outer(delta, delta) * (self.count * other.count / n)
        return GroupStats(n, mean, scatter)

    def add(self, z: np.ndarray) -> GroupStats:
        """Statistics after adding the samples `z` (N, H)."""
        return self.merge(GroupStats.of(z))

    @property
    def covariance(self) -> np.ndarray:
        """Population covariance S = scatter / N (paper eq. 9), (H, H)."""
        if self.count == 0:
            return np.zeros_like(self.scatter)
        cov = self.scatter / self.count
        return (cov + cov.T) / 2

    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues of the covariance, clipped at 0, sorted descending, (H,)."""
        lam = np.linalg.eigvalsh(self.covariance)
        return np.clip(lam, 0.0, None)[::-1].copy()
