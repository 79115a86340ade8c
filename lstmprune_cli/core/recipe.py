"""The cut a user asks for, from prune's, sweep's and learn's flags: the library's default (`PlanSpec()`'s
fields), or the paper's (`PlanSpec.paper`), with the flags given over it.

    recipe = Recipe.of(paper=False, allocate="energy", target="layer-mean")
    spec = recipe.spec(0.7, min_units=2)

`--allocate` names an allocation: `energy` (the paper's eigenvalue rule, whose `--target` is one of
ENERGY_TARGETS) or any other allocator of `plan.ALLOCATORS`, so a new allocator is one entry there.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from . import checks, criteria
from .errors import LstmpruneError
from .plan import ALLOCATORS, PlanSpec

ENERGY = "energy"
ENERGY_TARGETS = ("units", "layer-mean")  # the energy rule's targets, each an allocator of plan.ALLOCATORS
NO_CALIBRATION = "no calibration data known (pass --data); removed units are compensated by their mean"


def allocations() -> list[str]:
    """The names `--allocate` takes: the energy rule, then every other registered allocator."""
    return [ENERGY, *(name for name in ALLOCATORS if name not in ENERGY_TARGETS)]


def criterion_names() -> list[str]:
    """The names `--criterion` takes: every registered criterion."""
    return list(criteria.CRITERIA)


def _default(name: str) -> str:
    return next(f.default for f in fields(PlanSpec) if f.name == name)


@dataclass(frozen=True)
class Recipe:
    """What a cut is made of: the allocator (`target`, a key of ALLOCATORS), the criterion and the compensation."""

    target: str = _default("target")
    criterion: str = _default("criterion")
    compensate: str = _default("compensate")

    @classmethod
    def paper(cls) -> Recipe:
        return cls(**PlanSpec.PAPER)

    @classmethod
    def of(
        cls,
        *,
        paper: bool = False,
        allocate: str | None = None,
        target: str | None = None,
        criterion: str | None = None,
        compensate: str | None = None,
    ) -> Recipe:
        """The flags given over the default recipe, or the paper's recipe with --paper (whose flags it fixes)."""
        given = {"allocate": allocate, "target": target, "criterion": criterion, "compensate": compensate}
        if paper:
            fixed = {"allocate": ENERGY, **PlanSpec.PAPER}
            clash = {k: v for k, v in given.items() if v is not None and v != fixed[k]}
            if clash:
                flags = ", ".join(f"--{k} {v}" for k, v in clash.items())
                raise LstmpruneError(f"--paper fixes the recipe; received {flags} with it")
            return cls.paper()
        default = cls()
        if allocate is None:  # a target names its allocation (an energy target: energy); none: the default's
            named = target if target is not None else default.target
            allocate = named if named in allocations() else ENERGY
        return cls(
            target=allocator(allocate, target or ENERGY_TARGETS[0]),
            criterion=criterion or default.criterion,
            compensate=compensate or default.compensate,
        )

    def spec(self, theta: float, **settings) -> PlanSpec:
        """The PlanSpec of this recipe at `theta`; settings: min_units, seed, budget."""
        return PlanSpec(theta, target=self.target, criterion=self.criterion, compensate=self.compensate, **settings)


def for_cut(flags: dict, calibration_known: bool) -> tuple[Recipe, list[str]]:
    """The recipe of prune's and sweep's flags (paper, allocate, target, criterion, compensate), and notes to print
    once the run succeeds: the default refits only when calibration data is at hand, else it compensates by the
    means."""
    recipe = Recipe.of(**flags)
    if calibration_known or flags.get("compensate") is not None or recipe.compensate != "refit":
        return recipe, []
    return Recipe(recipe.target, recipe.criterion, "mean"), [NO_CALIBRATION]


def allocator(allocate: str, target: str) -> str:
    """The allocator a user named: the energy rule's target, or another allocation by name."""
    checks.choice(allocate, allocations(), "allocate")
    if allocate == ENERGY or target == allocate:
        return target
    if target != ENERGY_TARGETS[0]:
        raise LstmpruneError(f"--target {target} applies to --allocate energy; received --allocate {allocate}")
    return allocate
