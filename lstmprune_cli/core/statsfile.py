"""The statistics file of `analyze`: per group count, mean, covariance and eigenvalues (.npz).

Layout (readable with numpy alone): `meta` holds a JSON document (format, version, model
fingerprint, data description, groups); group i stores `g{i}_count`, `g{i}_mean` (H,),
`g{i}_scatter` (H, H, the sum of centred outer products), `g{i}_covariance` (H, H) and
`g{i}_eigenvalues` (H,, descending).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import LstmpruneError
from .files import write_atomic
from .groups import UnitGroup
from .stats import GroupStats

STATS_FORMAT = "lstmprune-stats"
STATS_VERSION = 1


@dataclass
class Statistics:
    """Everything `prune` needs from a calibration pass."""

    fingerprint: str
    groups: list[UnitGroup]
    stats: dict[str, GroupStats]
    every_step: bool = False
    meta: dict = field(default_factory=dict)  # model path, data description, tool version

    def eigenvalues(self) -> dict[str, np.ndarray]:
        return {name: s.eigenvalues() for name, s in self.stats.items()}

    def save(self, path: Path) -> None:
        header = {
            "format": STATS_FORMAT,
            "version": STATS_VERSION,
            "fingerprint": self.fingerprint,
            "every_step": self.every_step,
            "groups": [g.to_dict() for g in self.groups],
            **self.meta,
        }
        arrays = {"meta": np.array(json.dumps(header))}
        for i, g in enumerate(self.groups):
            s = self.stats[g.name]
            arrays.update(
                {
                    f"g{i}_count": np.array(s.count),
                    f"g{i}_mean": s.mean,
                    f"g{i}_scatter": s.scatter,
                    f"g{i}_covariance": s.covariance,
                    f"g{i}_eigenvalues": s.eigenvalues(),
                }
            )
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        write_atomic(Path(path), buf.getvalue())

    @classmethod
    def load(cls, path: Path) -> Statistics:
        try:
            with np.load(path, allow_pickle=False) as f:
                header = json.loads(str(f["meta"]))
                if header.get("format") != STATS_FORMAT:
                    raise ValueError(f"format is {header.get('format')!r}")
                groups = [UnitGroup(**g) for g in header.pop("groups")]
                stats = {
                    g.name: GroupStats(int(f[f"g{i}_count"]), f[f"g{i}_mean"], f[f"g{i}_scatter"])
                    for i, g in enumerate(groups)
                }
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise LstmpruneError(
                f"cannot read statistics {path}: {e}; expected a file written by lstmprune analyze"
            ) from e
        fingerprint, every_step = header.pop("fingerprint"), header.pop("every_step")
        for key in ("format", "version"):
            header.pop(key)
        return cls(fingerprint, groups, stats, every_step, header)

    def merge(self, other: Statistics) -> Statistics:
        """Statistics of both passes together (shards of one calibration set)."""
        if other.fingerprint != self.fingerprint or other.every_step != self.every_step:
            raise LstmpruneError("cannot merge statistics of different models or sampling modes")
        stats = {name: s.merge(other.stats[name]) for name, s in self.stats.items()}
        return Statistics(self.fingerprint, self.groups, stats, self.every_step, self.meta)

    def check_model(self, fingerprint: str) -> None:
        if fingerprint != self.fingerprint:
            raise LstmpruneError(
                f"the statistics belong to model {self.fingerprint[:12]}, not to this model ({fingerprint[:12]}); "
                "run lstmprune analyze on this model first"
            )
