"""Stage 5, pruning: a plan from the statistics and the model (the core's allocators and criteria on a loaded
model), its cut, and the refit of the layers that read a cut group."""

from .planner import REFIT_SAMPLES, Planner, cut, cut_and_refit, make_plan, plan_of
from .refit import refit

__all__ = ["REFIT_SAMPLES", "Planner", "cut", "cut_and_refit", "make_plan", "plan_of", "refit"]
