"""Per-group records for tables and JSON: energy levels of the spectrum and what a plan keeps."""

from __future__ import annotations

from .plan import Plan
from .rates import cumulative_energy, units_for_energy
from .statsfile import Statistics

LEVELS = (0.90, 0.95, 0.99)


def group_rows(statistics: Statistics | None, plan: Plan | None = None) -> list[dict]:
    """One record per group: units, samples, units needed for 90/95/99% of the energy, and the plan's choice."""
    kept = {g.name: g for g in plan.groups} if plan else {}
    if statistics is None:
        return [
            {
                "group": p.name,
                "cell": p.cell,
                "units": p.units,
                "samples": None,
                "prunable": True,
                "energy_units": None,
                "num_kept": p.num_kept,
                "rate": p.rate,
                "energy_kept": p.energy_kept,
            }
            for p in plan.groups
        ]
    rows = []
    for g in statistics.groups:
        s = statistics.stats[g.name]
        zeta = cumulative_energy(s.eigenvalues())
        row = {
            "group": g.name,
            "cell": g.cell,
            "units": g.units,
            "samples": s.count,
            "prunable": g.prunable,
            "energy_units": {f"{int(level * 100)}%": units_for_energy(zeta, level) for level in LEVELS},
        }
        if g.name in kept:
            p = kept[g.name]
            row.update(num_kept=p.num_kept, rate=p.rate, energy_kept=p.energy_kept)
        rows.append(row)
    return rows
