"""The pruning plan: which units each group keeps, as a JSON file that `prune --plan` replays."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import checks, criteria, rates, recurrent
from .errors import LstmpruneError
from .groups import UnitGroup, check_kept

PLAN_FORMAT = "lstmprune-plan"
PLAN_VERSION = 1
MAX_FILL = 1e6  # a fill value is a unit's mean output; anything larger is not one


@dataclass
class GroupPlan:
    """What one unit group keeps."""

    name: str
    layer: str
    direction: str
    cell: str
    units: int
    kept_units: list[int]
    scores: list[float] | None = None
    energy_kept: float | None = None  # share of the covariance energy in the top num_kept components
    fill: list[float] | None = None  # per unit: the value a removed unit is replaced by (its mean), if compensated

    @property
    def num_kept(self) -> int:
        return len(self.kept_units)

    @property
    def rate(self) -> float:
        return 1 - self.num_kept / self.units


@dataclass
class Plan:
    """A replayable pruning decision for one model (matched by fingerprint)."""

    fingerprint: str
    groups: list[GroupPlan]
    theta: float | None = None
    target: str | None = None
    criterion: str | None = None
    min_units: int | None = None
    seed: int | None = None
    energy_level: float | None = None
    extra: dict = field(default_factory=dict)

    def achieved(self) -> dict[str, float]:
        total = sum(g.units for g in self.groups)
        return {
            "units": 1 - sum(g.num_kept for g in self.groups) / total if total else 0.0,
            "layer-mean": float(np.mean([g.rate for g in self.groups])) if self.groups else 0.0,
        }

    def kept(self) -> dict[str, np.ndarray]:
        """Kept units by group name."""
        return {g.name: np.asarray(g.kept_units, dtype=np.int64) for g in self.groups}

    def fill(self) -> dict[str, np.ndarray]:
        """Values folded in for removed units, by group name (empty when not compensated)."""
        return {g.name: np.asarray(g.fill, dtype=np.float64) for g in self.groups if g.fill is not None}

    def to_dict(self) -> dict:
        data = {"format": PLAN_FORMAT, "version": PLAN_VERSION, **asdict(self)}
        data["achieved"] = self.achieved()
        for g in data["groups"]:
            g["num_kept"] = len(g["kept_units"])
            g["rate"] = 1 - g["num_kept"] / g["units"]
        return data

    def save(self, path: Path) -> None:
        from .files import write_atomic

        write_atomic(Path(path), json.dumps(self.to_dict(), indent=1).encode())

    @classmethod
    def load(cls, path: Path) -> Plan:
        """A plan file, every field checked (types, ranges, finiteness, lengths) before it is used."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise LstmpruneError(
                f"cannot read plan {path}: {e}; expected a JSON file written by lstmprune prune"
            ) from e
        if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
            raise LstmpruneError(f"{path} is not an lstmprune plan; expected a JSON object with format '{PLAN_FORMAT}'")
        if data.get("version") != PLAN_VERSION:
            raise LstmpruneError(
                f"plan {path} has version {data.get('version')}; this lstmprune reads version {PLAN_VERSION}"
            )
        try:
            return cls._from_dict(data)
        except (KeyError, TypeError, ValueError) as e:
            raise LstmpruneError(f"plan {path} is malformed: {e}") from e

    @classmethod
    def _from_dict(cls, data: dict) -> Plan:
        fingerprint = checks.text(data.get("fingerprint"), "fingerprint")
        if not fingerprint:
            raise ValueError("fingerprint is empty; expected the model's sha256")
        raw = data.get("groups")
        if not isinstance(raw, list) or not raw or not all(isinstance(g, dict) for g in raw):
            raise ValueError("groups must be a non-empty list of objects")
        groups = [_group_from_dict(g, i) for i, g in enumerate(raw)]
        checks.unique([g.name for g in groups], "group")
        extra = data.get("extra", {})
        if not isinstance(extra, dict):
            raise ValueError(f"extra must be an object; received {type(extra).__name__}")
        return cls(
            fingerprint=fingerprint,
            groups=groups,
            theta=checks.optional(checks.number, data.get("theta"), "theta", low=0.0, high=1.0),
            target=checks.optional(checks.text, data.get("target"), "target"),
            criterion=checks.optional(checks.text, data.get("criterion"), "criterion"),
            min_units=checks.optional(checks.integer, data.get("min_units"), "min_units", low=1),
            seed=checks.optional(checks.integer, data.get("seed"), "seed", low=0),
            energy_level=checks.optional(checks.number, data.get("energy_level"), "energy_level"),
            extra=extra,
        )

    def check_matches(self, fingerprint: str, groups: list[UnitGroup]) -> None:
        """Refuse a plan made for another model."""
        if self.fingerprint != fingerprint:
            raise LstmpruneError(
                f"the plan belongs to model {self.fingerprint[:12]}, not to this model ({fingerprint[:12]}); "
                "run lstmprune prune without --plan to make a plan for it"
            )
        have = {(g.name, g.units) for g in groups}
        want = {(g.name, g.units) for g in self.groups}
        if have != want:
            raise LstmpruneError(f"the plan's groups {sorted(want)} do not match the model's {sorted(have)}")


def build_plan(
    groups: list[UnitGroup],
    eigenvalues: dict[str, np.ndarray],
    vectors: dict[str, np.ndarray],
    fingerprint: str,
    theta: float,
    target: str = "units",
    criterion: str = "gm",
    min_units: int = 1,
    seed: int = 0,
    means: dict[str, np.ndarray] | None = None,
) -> Plan:
    """Rates from the eigenvalues, then the units each group keeps by `criterion`.

    eigenvalues: group name -> (H,) spectrum of its covariance.
    vectors: group name -> (H, Q) unit vectors (criteria.unit_vectors).
    means: group name -> (H,) mean responses; when given, removed units are replaced by their mean
    (folded into the consumers' biases) instead of 0.
    Groups that are not prunable keep every unit and are left out of the target.
    """
    if not 0 < theta < 1:
        raise LstmpruneError(f"theta must be in (0, 1); received {theta}")
    if min_units < 1:
        raise LstmpruneError(f"--min-units must be at least 1; received {min_units}")
    if seed < 0:
        raise LstmpruneError(f"--seed must be at least 0; received {seed}")
    ties: dict[str, list[UnitGroup]] = {}
    for g in groups:
        if g.prunable:
            ties.setdefault(g.tie, []).append(g)
    folded = list(ties.values())
    zetas = {g.name: rates.cumulative_energy(eigenvalues[g.name]) for g in groups}
    solver_groups = [
        rates.RateGroup(
            units=members[0].units,
            zeta=np.max([zetas[m.name] for m in members], axis=0),
            members=len(members),
            floor=min(min_units, members[0].units),
        )
        for members in folded
    ]
    counts, alpha = rates.solve(solver_groups, theta, target) if folded else ([], None)
    num_kept = {m.name: k for members, k in zip(folded, counts) for m in members}

    plans = []
    for members in folded:
        classes: dict[str, list[UnitGroup]] = {}
        for m in members:
            classes.setdefault(m.same_as or m.name, []).append(m)
        for same in classes.values():
            w = np.concatenate([vectors[m.name] for m in same], axis=1)  # (H, sum of Q)
            s = criteria.scores(criterion, w, seed)
            kept = criteria.kept_units(s, num_kept[same[0].name])
            plans.extend(_group_plan(m, kept, s, zetas[m.name]) for m in same)
    for g in groups:
        if not g.prunable:
            plans.append(_group_plan(g, np.arange(g.units), None, zetas[g.name]))
    order = {g.name: i for i, g in enumerate(groups)}
    plans.sort(key=lambda p: order[p.name])
    for p in plans:
        if means is not None and p.num_kept < p.units:
            p.fill = [float(v) for v in means[p.name]]

    return Plan(fingerprint, plans, theta, target, criterion, min_units, seed, alpha)


def _group_from_dict(g: dict, i: int) -> GroupPlan:
    """One plan group, checked field by field."""
    where = f"groups[{i}]"
    name = checks.text(g.get("name"), f"{where}.name")
    where = f"group {name}"
    units = checks.integer(g.get("units"), f"{where}: units", low=1)
    kept = checks.integers(g.get("kept_units"), f"{where}: kept_units")
    check_kept(kept, units, where)
    scores, energy, fill = g.get("scores"), g.get("energy_kept"), g.get("fill")
    return GroupPlan(
        name=name,
        layer=checks.text(g.get("layer"), f"{where}: layer"),
        direction=checks.text(g.get("direction"), f"{where}: direction", ("", "forward", "backward")),
        cell=checks.text(g.get("cell"), f"{where}: cell", recurrent.names()),
        units=units,
        kept_units=kept,
        scores=None if scores is None else checks.numbers(scores, f"{where}: scores", units),
        energy_kept=checks.optional(checks.number, energy, f"{where}: energy_kept", low=0.0, high=1.0 + 1e-9),
        fill=None if fill is None else checks.numbers(fill, f"{where}: fill", units, MAX_FILL),
    )


def _group_plan(g: UnitGroup, kept: np.ndarray, scores: np.ndarray | None, zeta: np.ndarray) -> GroupPlan:
    return GroupPlan(
        name=g.name,
        layer=g.layer,
        direction=g.direction,
        cell=g.cell,
        units=g.units,
        kept_units=[int(i) for i in kept],
        scores=None if scores is None else [float(s) for s in scores],
        energy_kept=float(zeta[len(kept) - 1]),
    )
