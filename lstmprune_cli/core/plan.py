"""The pruning plan: which units each group keeps, as a JSON file that `prune --plan` replays.

A plan is made in two stages, each a registry of functions: `allocate` (how many units each group
keeps: ALLOCATORS) and `rank` (which ones: criteria.CRITERIA). `build_plan` runs both for a `PlanSpec`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import checks, controller, criteria, rates, recurrent
from .errors import LstmpruneError
from .groups import UnitGroup, check_groups, check_kept
from .stats import GroupStats

PLAN_FORMAT = "lstmprune-plan"
PLAN_VERSION = 1
COMPENSATIONS = ("none", "mean", "refit")
BUDGETS = ("units", "params", "flops")  # refit starts from the means, then refits the consumers
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

    def inputs(self) -> dict[str, np.ndarray]:
        """Kept input features by the recurrent layer that reads them (learned input neurons; empty if none)."""
        return {k: np.asarray(v, dtype=np.int64) for k, v in self.extra.get("inputs", {}).items()}

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
        from .files import read_json

        data = read_json(path, "plan", "a JSON file written by lstmprune prune")
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
        inputs = extra.get("inputs", {})
        if not isinstance(inputs, dict):
            raise ValueError(f"extra.inputs must be an object; received {type(inputs).__name__}")
        for layer, kept in inputs.items():
            found = checks.integers(kept, f"extra.inputs.{layer}")
            check_kept(found, max(found, default=0) + 1, f"extra.inputs.{layer}")
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
                "make a new plan for it instead of replaying this one"
            )
        check_groups([asdict(g) for g in self.groups], groups, "plan's groups")


@dataclass(frozen=True)
class PlanSpec:
    """How to make a plan: the network's target rate, the allocator, the criterion and their settings."""

    theta: float
    target: str = "uniform"  # an allocator of ALLOCATORS
    criterion: str = "obs"  # a criterion of criteria.CRITERIA
    min_units: int = 1
    seed: int = 0
    compensate: str = "refit"  # a removed unit: "none" (0), "mean" (folded into biases), "refit" (consumers refitted)
    budget: str = "units"  # what theta is a share of: "units" (the paper's), "params" or "flops" (per time step)

    # The defaults are the shipped cut, the combination that measured best (docs/benchmarks.md): every group at
    # theta, output-aware (OBS) units, the consumers refitted on the calibration data.
    PAPER = {"target": "units", "criterion": "gm", "compensate": "mean"}  # ISS-GM: energy rates, GM units, means

    @classmethod
    def paper(cls, theta: float, **settings) -> PlanSpec:
        """The paper's ISS-GM at `theta`: the energy rule on the share of units, geometric-median units, the
        removed units' means folded into the next biases; `settings` override any of it."""
        return cls(theta, **{**cls.PAPER, **settings})

    def __post_init__(self):
        checks.theta(self.theta)
        checks.choice(self.target, ALLOCATORS, "target")
        checks.choice(self.criterion, criteria.CRITERIA, "criterion")
        checks.choice(self.compensate, COMPENSATIONS, "compensate")
        checks.choice(self.budget, BUDGETS, "budget")
        if self.min_units < 1:
            raise LstmpruneError(f"min_units must be at least 1; received {self.min_units}", option="min_units")
        if self.seed < 0:
            raise LstmpruneError(f"seed must be at least 0; received {self.seed}", option="seed")


@dataclass
class Allocation:
    """What an allocator sees: the tied unit sets to size (one `RateGroup` each) and the network target.

    `measure`, when the caller gives one, runs the model: kept counts by group name -> a loss (lower is
    better). Allocators that only read the spectra ignore it.
    """

    groups: list[rates.RateGroup]
    members: list[list[UnitGroup]]  # the unit groups of each tied set
    theta: float
    measure: Callable[[dict[str, int]], float] | None = None
    record: dict = field(default_factory=dict)  # what the allocator measured, kept in the plan

    def named(self, counts: list[int]) -> dict[str, int]:
        """Kept counts per tied set -> kept counts by group name."""
        return {m.name: int(k) for same, k in zip(self.members, counts) for m in same}


SENSITIVITY_RATES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def sensitivity(a: Allocation) -> tuple[list[int], None]:
    """Cut each tied set alone at a grid of rates, measure the outputs' loss, and solve the knapsack."""
    if a.measure is None:
        raise LstmpruneError("allocation sensitivity measures the model; it needs calibration data", option="target")
    full = [g.units for g in a.groups]
    curves = []
    for i, g in enumerate(a.groups):
        kept = sorted({max(g.floor, min(g.units, round((1 - r) * g.units))) for r in SENSITIVITY_RATES})
        curve = {g.units: 0.0}
        for k in kept:
            if k < g.units:
                counts = full[:i] + [k] + full[i + 1 :]
                curve[k] = float(a.measure(a.named(counts)))
        curves.append(curve)
    a.record["curves"] = [
        {"groups": [m.name for m in same], "loss": {str(k): v for k, v in sorted(c.items())}}
        for same, c in zip(a.members, curves)
    ]
    a.record["evaluations"] = sum(len(c) - 1 for c in curves)
    return rates.solve_curves(a.groups, a.theta, curves), None


Allocator = Callable[[Allocation], tuple[list[int], float | None]]  # -> kept count per tied set, energy level


def by_controller(a: Allocation) -> tuple[list[int], None]:
    """'Where to Prune': an LSTM controller reads one descriptor per group and emits its rate (REINFORCE)."""
    if a.measure is None:
        raise LstmpruneError("allocation controller measures the model; it needs calibration data", option="target")
    total = sum(g.units * g.members for g in a.groups)
    biggest = max(g.units for g in a.groups)
    full = [g.units for g in a.groups]

    def counts(rates: np.ndarray) -> list[int]:
        return [max(g.floor, min(g.units, round((1 - r) * g.units))) for g, r in zip(a.groups, rates)]

    def meet_budget(rates: np.ndarray) -> np.ndarray:
        """The rates scaled by one factor until the kept units meet the budget."""
        low, high = 0.0, 1.0 / max(float(np.min(rates)), 1e-3)
        for _ in range(40):
            mid = (low + high) / 2
            kept = sum(k * g.members for k, g in zip(counts(np.clip(rates * mid, 0, 1)), a.groups))
            low, high = (mid, high) if kept > (1 - a.theta) * total else (low, mid)
        return np.clip(rates * high, 0, 1)

    probes = (0.3, 0.6, 0.9)  # each group alone at a few rates: its sensitivity, part of its descriptor

    def alone(i: int, rate: float) -> dict[str, int]:
        g = a.groups[i]
        return a.named(full[:i] + [max(g.floor, round((1 - rate) * g.units))] + full[i + 1 :])

    sensitivity = [[a.measure(alone(i, r)) for r in probes] for i in range(len(a.groups))]
    descriptors = np.array(
        [
            [g.units / biggest, g.units * g.members / total, float(g.zeta[len(g.zeta) // 2 - 1]), *np.log1p(s)]
            for g, s in zip(a.groups, sensitivity)
        ]
    )
    found = controller.search(
        descriptors, meet_budget, lambda rates: a.measure(a.named(counts(rates))), episodes=CONTROLLER_EPISODES, seed=0
    )
    a.record.update(
        controller={"episodes": CONTROLLER_EPISODES, "best_loss": found.loss, "history": found.history},
        evaluations=CONTROLLER_EPISODES + len(probes) * len(a.groups),
    )
    return counts(np.array(found.rates)), None


CONTROLLER_EPISODES = 40

ALLOCATORS: dict[str, Allocator] = {
    "units": lambda a: rates.solve_units(a.groups, a.theta),
    "layer-mean": lambda a: rates.solve_layer_mean(a.groups, a.theta),
    "uniform": lambda a: (rates.solve_uniform(a.groups, a.theta), None),  # baseline: every group at theta
    "inverted": lambda a: rates.solve_inverted(a.groups, a.theta),  # baseline: the reference code's rule
    "sensitivity": sensitivity,  # measured: each group cut alone at a grid of rates, then a knapsack
    "controller": by_controller,  # measured: seed 002's LSTM controller, trained by policy gradient
}
MEASURING = {"sensitivity", "controller"}  # allocators that run the model: the caller passes `measure`


def allocate(
    groups: list[UnitGroup],
    *,
    eigenvalues: dict[str, np.ndarray],
    spec: PlanSpec,
    measure: Callable[[dict[str, int]], float] | None = None,
) -> tuple[dict[str, int], float | None, dict]:
    """Stage 1, how many units each prunable group keeps: kept counts by group name, the energy level, and
    what the allocator measured (empty for the spectrum rules)."""
    ties: dict[str, list[UnitGroup]] = {}
    for g in groups:
        if g.prunable:
            ties.setdefault(g.tie, []).append(g)
    members = list(ties.values())
    zetas = {g.name: rates.cumulative_energy(eigenvalues[g.name]) for g in groups}
    solver_groups = [
        rates.RateGroup(
            units=same[0].units,
            zeta=np.max([zetas[m.name] for m in same], axis=0),
            members=len(same),
            floor=min(spec.min_units, same[0].units),
        )
        for same in members
    ]
    if not members:
        return {}, None, {}
    allocation = Allocation(solver_groups, members, spec.theta, measure)
    start = time.perf_counter()
    counts, alpha = ALLOCATORS[spec.target](allocation)
    if allocation.record:
        allocation.record["seconds"] = time.perf_counter() - start
    return allocation.named(counts), alpha, allocation.record


def rank(
    groups: list[UnitGroup],
    *,
    num_kept: dict[str, int],
    vectors: dict[str, np.ndarray],
    spec: PlanSpec,
    stats: dict[str, GroupStats] | None = None,
    consumers: dict[str, np.ndarray] | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Stage 2, which units: (kept indices, scores) by group name; groups merged element-wise share them."""
    classes: dict[str, list[UnitGroup]] = {}
    for g in groups:
        if g.name in num_kept:
            classes.setdefault(g.same_as or g.name, []).append(g)
    out = {}
    for same in classes.values():
        ranking = criteria.Ranking(
            vectors=np.concatenate([vectors[m.name] for m in same], axis=1),  # (H, sum of Q)
            stats=[stats[m.name] for m in same] if stats else None,
            seed=spec.seed,
            consumers=(consumers or {}).get(same[0].name),
        )
        s = criteria.CRITERIA[spec.criterion](ranking)
        kept = criteria.kept_units(s, num_kept[same[0].name])
        out.update({m.name: (kept, s) for m in same})
    return out


def build_plan(
    groups: list[UnitGroup],
    *,
    fingerprint: str,
    spec: PlanSpec,
    eigenvalues: dict[str, np.ndarray],
    vectors: dict[str, np.ndarray],
    stats: dict[str, GroupStats] | None = None,
    measure: Callable[[dict[str, int]], float] | None = None,
    num_kept: dict[str, int] | None = None,
    consumers: dict[str, np.ndarray] | None = None,
) -> Plan:
    """Allocate (unless `num_kept` gives the counts), then rank: the plan of `spec` for these groups.

    eigenvalues: group name -> (H,) spectrum of its covariance.
    vectors: group name -> (H, Q) unit vectors (`Recurrent.unit_vectors`).
    consumers: group name -> (H, m) rows of the layers that read it (for output-aware criteria).
    stats: group name -> its statistics; criteria may read them, and with `spec.compensate` each removed
    unit is replaced by its mean (folded into the consumers' biases) instead of 0.
    Groups that are not prunable keep every unit and are left out of the target.
    """
    record: dict = {}
    if num_kept is None:
        num_kept, alpha, record = allocate(groups, eigenvalues=eigenvalues, spec=spec, measure=measure)
    else:
        num_kept, alpha = {g.name: num_kept.get(g.name, g.units) for g in groups if g.prunable}, None
    chosen = rank(groups, num_kept=num_kept, vectors=vectors, spec=spec, stats=stats, consumers=consumers)
    plans = []
    for g in groups:
        kept, scores = chosen.get(g.name, (np.arange(g.units), None))
        p = group_plan(g, kept, scores, rates.cumulative_energy(eigenvalues[g.name]))
        if spec.compensate != "none" and stats is not None and p.num_kept < p.units:
            p.fill = [float(v) for v in stats[g.name].mean]
        plans.append(p)
    extra = {"compensate": spec.compensate, **({"allocation": record} if record else {})}
    return Plan(fingerprint, plans, spec.theta, spec.target, spec.criterion, spec.min_units, spec.seed, alpha, extra)


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


def group_plan(g: UnitGroup, kept: np.ndarray, scores: np.ndarray | None, zeta: np.ndarray | None) -> GroupPlan:
    """What `g` keeps; zeta (its cumulative energy, when known) gives the share the kept count holds."""
    return GroupPlan(
        name=g.name,
        layer=g.layer,
        direction=g.direction,
        cell=g.cell,
        units=g.units,
        kept_units=[int(i) for i in kept],
        scores=None if scores is None else [float(s) for s in scores],
        energy_kept=None if zeta is None else float(zeta[len(kept) - 1]),
    )
