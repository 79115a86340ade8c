"""Budgets a user states instead of a theta: the cut at the border of a limit on a measure of the cut model.

    found = border(lambda theta: drop_at(theta), limit=1.0, rising=True)    # the largest theta within 1 point
    found = border(lambda theta: params_at(theta), limit=2e5, rising=False)  # the smallest theta under 200k

Bisection over theta, so the measure is taken to move one way as theta rises (a drop in accuracy rises, a size
falls); every point tried is recorded, and the answer lies within `resolution` of the border it found.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from .errors import LstmpruneError

LOW, HIGH = 0.0, 0.95  # the thetas a search brackets: 0 is the original, HIGH the most it tries
RESOLUTION = 0.02  # the bracket's width when the search stops: about six cuts


GOALS = {"drop": True, "params": False, "flops": False, "latency": False}  # a budget's measure -> rises with theta
UNITS = {
    "drop": "points of the metric (percent for perplexity)",
    "params": "parameters",
    "flops": "FLOPs per step",
    "latency": "milliseconds per batch, measured",
}
RUNTIMES = ("tf", "tflite")  # where --max-latency measures: TensorFlow (the Keras model) or the TFLite file


@dataclass(frozen=True)
class Goal:
    """A budget a user states: the most a measure of the cut model may be (`prune --max-drop/--max-params/
    --max-flops`)."""

    measure: str
    limit: float
    runtime: str = "tf"  # latency only: where it is measured
    batch: int = 1  # latency only: sequences per call

    @classmethod
    def of(cls, *, runtime: str = "tf", batch: int = 1, **limits: float | None) -> Goal | None:
        """The one budget among `limits` (by measure) that is given; None when none is. runtime, batch: how a
        latency is measured."""
        given = [cls(measure, float(limit), runtime, batch) for measure, limit in limits.items() if limit is not None]
        if len(given) > 1:
            named = ", ".join(f"--max-{g.measure}" for g in given)
            raise LstmpruneError(f"{named} each choose the cut; give one of them")
        return given[0] if given else None

    def __post_init__(self):
        if self.measure not in GOALS:
            raise LstmpruneError(f"a budget limits one of {', '.join(GOALS)}; received {self.measure!r}")
        if not (math.isfinite(self.limit) and self.limit >= 0):
            raise LstmpruneError(
                f"--max-{self.measure} must be a number >= 0 ({UNITS[self.measure]}); received {self.limit}",
                option=f"max_{self.measure}",
            )
        if self.runtime not in RUNTIMES:
            raise LstmpruneError(
                f"--latency-runtime must be one of {', '.join(RUNTIMES)}; received {self.runtime!r}",
                option="latency_runtime",
            )
        if self.batch < 1 or (self.runtime == "tflite" and self.batch != 1):
            raise LstmpruneError(
                f"--latency-batch must be >= 1 (1 for tflite, whose files run at batch 1); received {self.batch}",
                option="latency_batch",
            )


@dataclass
class Point:
    """One cut tried: its theta, the measure there, and whether that meets the limit."""

    theta: float
    value: float
    within: bool


@dataclass
class Search:
    """A finished search: the theta chosen (None when no cut meets the limit) and every point tried."""

    measure: str
    limit: float
    rising: bool
    theta: float | None
    resolution: float
    points: list[Point] = field(default_factory=list)
    reference: float | None = None  # the measure's base (the original model's metric, for a drop)
    seconds: float = 0.0
    conditions: str = ""  # how the measure was taken (a latency's runtime, batch, steps)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Search:
        return cls(**{**data, "points": [Point(**p) for p in data["points"]]})


def border(
    measure: Callable[[float], float],
    limit: float,
    *,
    rising: bool,
    name: str = "",
    low: float = LOW,
    high: float = HIGH,
    resolution: float = RESOLUTION,
) -> Search:
    """The theta in (low, high] at the border of `measure(theta) <= limit`.

    rising: the measure rises with theta (a drop): the largest theta within; else it falls (a size): the smallest
    theta within. `low` (0, nothing cut) is taken as within for a rising measure and outside for a falling one,
    without measuring it. theta is None when no theta tried meets the limit.
    """
    if not math.isfinite(limit):
        raise LstmpruneError(f"a budget's limit must be a finite number; received {limit}")
    if not 0 <= low < high < 1 or resolution <= 0:
        raise LstmpruneError(f"a search needs 0 <= low < high < 1 and resolution > 0; received {low}, {high}")
    found = Search(name, float(limit), rising, None, resolution)

    def within(theta: float) -> bool:
        value = float(measure(theta))
        ok = math.isfinite(value) and value <= limit
        found.points.append(Point(theta, value, ok))
        return ok

    if within(high) == rising:  # rising: even the largest cut is within; falling: even it is too big
        found.theta = high if rising else None
        return found
    inside, outside = (low, high) if rising else (high, low)
    while abs(inside - outside) > resolution:
        mid = round((inside + outside) / 2, 6)
        inside, outside = (mid, outside) if within(mid) else (inside, mid)
    found.theta = inside if inside != low else None
    return found
