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

from . import checks, recurrent
from .errors import LstmpruneError
from .files import parse_json, regular_file, write_atomic
from .groups import UnitGroup, check_groups
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
    _eigenvalues: dict | None = field(default=None, repr=False, compare=False)

    def eigenvalues(self) -> dict[str, np.ndarray]:
        """Each group's spectrum (H,), descending; computed once."""
        if self._eigenvalues is None:
            self._eigenvalues = {name: s.eigenvalues() for name, s in self.stats.items()}
        return self._eigenvalues

    def save(self, path: Path, force: bool = True) -> None:
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
        write_atomic(Path(path), buf.getvalue(), force)

    @classmethod
    def load(cls, path: Path) -> Statistics:
        """A statistics file, every field checked (meta keys, types, shapes, finiteness, a PSD scatter)."""
        regular_file(path, "statistics", "an .npz file written by lstmprune analyze")
        try:
            with open(path, "rb") as f:
                if f.read(4) != b"PK\x03\x04":
                    raise ValueError("it is not an .npz archive (a zip)")
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
        except (OSError, ValueError, EOFError) as e:
            raise LstmpruneError(
                f"cannot read statistics {path}: {e}; expected an .npz file written by lstmprune analyze"
            ) from e
        try:
            return cls._from_arrays(arrays)
        except (KeyError, TypeError, ValueError) as e:
            raise LstmpruneError(
                f"statistics {path} are malformed: {e}; expected a file written by lstmprune analyze"
            ) from e

    @classmethod
    def _from_arrays(cls, arrays: dict[str, np.ndarray]) -> Statistics:
        if "meta" not in arrays or arrays["meta"].dtype.kind != "U" or arrays["meta"].shape != ():
            raise ValueError("there is no 'meta' JSON document")
        header = parse_json(str(arrays["meta"]), "meta")
        if not isinstance(header, dict):
            raise ValueError("meta must be a JSON object")
        missing = [k for k in ("format", "version", "fingerprint", "every_step", "groups") if k not in header]
        if missing:
            raise ValueError(f"meta lacks {', '.join(missing)}")
        if header["format"] != STATS_FORMAT:
            raise ValueError(f"format is {header['format']!r}, not {STATS_FORMAT!r}")
        if header["version"] != STATS_VERSION:
            raise ValueError(f"version is {header['version']!r}; this lstmprune reads version {STATS_VERSION}")
        fingerprint = checks.text(header.pop("fingerprint"), "fingerprint")
        every_step = checks.boolean(header.pop("every_step"), "every_step")
        raw = header.pop("groups")
        if not isinstance(raw, list) or not raw or not all(isinstance(g, dict) for g in raw):
            raise ValueError("groups must be a non-empty list of objects")
        groups = [_unit_group(g, i) for i, g in enumerate(raw)]
        checks.unique([g.name for g in groups], "group")
        stats = {}
        for i, g in enumerate(groups):
            count = arrays[f"g{i}_count"]
            if count.shape != () or count.dtype.kind not in "iu":
                raise ValueError(f"group {g.name}: count must be one integer; received {count.dtype} {count.shape}")
            count = checks.integer(int(count), f"group {g.name}: count", low=2)
            mean = checks.array(arrays[f"g{i}_mean"], f"group {g.name}: mean", (g.units,))
            scatter = checks.scatter_matrix(arrays[f"g{i}_scatter"], f"group {g.name}: scatter", g.units)
            stats[g.name] = GroupStats(count, mean, scatter)
        for key in ("format", "version"):
            header.pop(key)
        return cls(fingerprint, groups, stats, every_step, header)

    def merge(self, other: Statistics) -> Statistics:
        """Statistics of both passes together (shards of one calibration set)."""
        if other.fingerprint != self.fingerprint or other.every_step != self.every_step:
            raise LstmpruneError("cannot merge statistics of different models or sampling modes")
        stats = {name: s.merge(other.stats[name]) for name, s in self.stats.items()}
        return Statistics(self.fingerprint, self.groups, stats, self.every_step, self.meta)

    def check_model(self, fingerprint: str, groups: list[UnitGroup] | None = None) -> None:
        """Refuse statistics of another model, or whose groups are not the model's (name, layer, cell, units)."""
        if fingerprint != self.fingerprint:
            raise LstmpruneError(
                f"the statistics belong to model {self.fingerprint[:12]}, not to this model ({fingerprint[:12]}); "
                "run lstmprune analyze on this model first"
            )
        if groups is not None:
            check_groups([g.to_dict() for g in self.groups], groups, "statistics")


def _unit_group(g: dict, i: int) -> UnitGroup:
    """One group record of the meta document, checked field by field."""
    name = checks.text(g.get("name"), f"groups[{i}].name")
    where = f"group {name}"
    known = set(UnitGroup.__dataclass_fields__)
    if set(g) - known:
        raise ValueError(f"{where} has unknown fields {sorted(set(g) - known)}")
    return UnitGroup(
        name=name,
        layer=checks.text(g.get("layer"), f"{where}: layer"),
        direction=checks.text(g.get("direction"), f"{where}: direction", ("", "forward", "backward")),
        cell=checks.text(g.get("cell"), f"{where}: cell", recurrent.names()),
        units=checks.integer(g.get("units"), f"{where}: units", low=1),
        input_dim=checks.integer(g.get("input_dim"), f"{where}: input_dim", low=0),
        tie=checks.text(g.get("tie"), f"{where}: tie"),
        same_as=checks.text(g.get("same_as", ""), f"{where}: same_as"),
        prunable=checks.boolean(g.get("prunable", True), f"{where}: prunable"),
    )
