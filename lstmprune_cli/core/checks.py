"""Field checks for the files lstmprune reads back (plans, statistics): types, ranges, finiteness, shapes.

Each check raises ValueError naming the field, what was received and what was expected; the loaders
turn it into one line that also names the file.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import LstmpruneError

MAX_INTEGER = 2**53  # beyond this a JSON integer is not one any reader agrees on


def integer(value, name: str, low: int | None = None, high: int = MAX_INTEGER) -> int:
    """An int (not a bool, a float or a string), in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer; received {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be at least {low}; received {value}")
    if value > high:
        raise ValueError(f"{name} must be at most {high}; received {value}")
    return int(value)


def text(value, name: str, choices: tuple[str, ...] | None = None) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string; received {value!r}")
    if choices is not None and value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; received {value!r}")
    return value


def boolean(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be true or false; received {value!r}")
    return bool(value)


def number(value, name: str, low: float = -math.inf, high: float = math.inf) -> float:
    """A finite real number (not a bool) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number; received {value!r}")
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name} must be a finite number in [{low}, {high}]; received {value!r}")
    return float(value)


def optional(check, value, name: str, **kwargs):
    return None if value is None else check(value, name, **kwargs)


def numbers(value, name: str, length: int, bound: float = math.inf) -> list[float]:
    """A list of `length` finite numbers, each of magnitude at most `bound`."""
    if not isinstance(value, list) or len(value) != length:
        got = len(value) if isinstance(value, list) else type(value).__name__
        raise ValueError(f"{name} must be a list of {length} numbers; received {got}")
    return [number(v, f"{name}[{i}]", -bound, bound) for i, v in enumerate(value)]


def integers(value, name: str) -> list[int]:
    if not isinstance(value, list):
        raise ValueError(f"{name} must be a list of integers; received {type(value).__name__}")
    return [integer(v, f"{name}[{i}]") for i, v in enumerate(value)]


def array(value: np.ndarray, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A real, finite array of exactly `shape`, as float64."""
    value = np.asarray(value)
    if value.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold real numbers; received dtype {value.dtype}")
    if value.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; received {value.shape}")
    value = value.astype(np.float64)
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{name} holds NaN or Inf")
    return value


def scatter_matrix(value: np.ndarray, name: str, units: int) -> np.ndarray:
    """A symmetric positive semi-definite (units, units) matrix (to rounding)."""
    s = array(value, name, (units, units))
    scale = max(1.0, float(np.max(np.abs(s))) if s.size else 1.0)
    if np.max(np.abs(s - s.T), initial=0.0) > 1e-8 * scale:
        raise ValueError(f"{name} is not symmetric")
    if units and float(np.linalg.eigvalsh((s + s.T) / 2)[0]) < -1e-7 * scale:
        raise ValueError(f"{name} is not positive semi-definite (a scatter matrix must be)")
    return s


def unique(names: list[str], what: str) -> None:
    seen = set()
    for n in names:
        if n in seen:
            raise ValueError(f"{what} '{n}' appears twice")
        seen.add(n)


def choice(value: str, choices, option: str) -> str:
    """A user's choice among named entries (a registry's keys), refused as bad input of `option`."""
    if value not in choices:
        raise LstmpruneError(f"{option} must be one of {', '.join(choices)}; received {value!r}", option=option)
    return value


def theta(value: float | None) -> float:
    """A network pruning rate, in (0, 1): the one check of it."""
    if value is None or not (math.isfinite(value) and 0 < value < 1):
        raise LstmpruneError(f"theta must be in (0, 1); received {value}", option="theta")
    return value


def at_least(value: int | None, option: str, low: int) -> None:
    """An integer option of the command line, at least `low` (None: not given)."""
    if value is not None and value < low:
        raise LstmpruneError(f"{option} must be at least {low}; received {value}", option=option)


def training(
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    alpha: float = 0.5,
    patience: int = 0,
    max_samples: int | None = None,
) -> None:
    """The options every training verb shares (finetune, learn, sweep --train), checked where they are parsed."""
    at_least(epochs, "epochs", 1)
    at_least(batch_size, "batch_size", 1)
    at_least(seed, "seed", 0)
    at_least(patience, "patience", 0)
    at_least(max_samples, "max_samples", 1)
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise LstmpruneError(
            f"learning_rate must be a positive number; received {learning_rate}", option="learning_rate"
        )
    if not (math.isfinite(alpha) and 0 <= alpha <= 1):
        raise LstmpruneError(f"alpha must be in [0, 1]; received {alpha}", option="alpha")


def penalty(value: float | None) -> None:
    """A learned method's fixed penalty weight: a positive finite number."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise LstmpruneError(f"penalty must be a positive number; received {value}", option="penalty")
