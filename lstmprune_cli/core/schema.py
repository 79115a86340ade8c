"""How calibration data maps to the model's input: plain records, readable from a small JSON file.

A schema file holds the same keys as `Schema` (any subset), for example
`{"features": ["rgb", "audio"], "dequantize": true, "l2_normalize": true, "fit": "sample"}`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import checks
from .errors import LstmpruneError

FITS = ("pad", "sample", "exact")
MAX_THETAS = 50  # points of one sweep: each is a pruned model, measured


@dataclass
class Feature:
    name: str
    kind: str  # "bytes" (uint8 per value), "float" or "int" (token ids)
    dim: int  # values per frame (1 for token ids)


@dataclass
class Options:
    """What the user asked for (flags or a schema file); None leaves it to detection."""

    features: list[str] | None = None  # concatenation order
    dequantize: bool | None = None  # uint8 -> x * 4/255 - 2 + 4/512 (YouTube-8M)
    scale: tuple[float, float] | None = None  # x * a + b, after dequantization
    l2_normalize: bool = False  # every frame to unit L2 norm, as the paper does
    fit: str = "pad"  # pad: cut or zero-pad to the model's length; sample: evenly spaced frames; exact: refuse others
    skip_nonfinite: bool = False  # drop and count sequences with NaN or Inf instead of refusing them
    vocab: str | None = None  # token list (one per line) for plain-text corpora
    labels: str | None = None  # context feature with the class ids (default: 'labels' when present)
    shard: tuple[int, int] = (0, 1)  # (index, count): this pass reads records index, index + count, ...

    def __post_init__(self):
        try:
            checks.optional(checks.boolean, self.dequantize, "option 'dequantize'")
            checks.boolean(self.l2_normalize, "option 'l2_normalize'")
            checks.boolean(self.skip_nonfinite, "option 'skip_nonfinite'")
            checks.text(self.fit, "option 'fit'")
            checks.optional(checks.text, self.vocab, "option 'vocab'")
            checks.optional(checks.text, self.labels, "option 'labels'")
            if self.features is not None:
                if not isinstance(self.features, list) or not self.features:
                    raise ValueError(f"option 'features' must be a list of feature names; received {self.features!r}")
                for i, f in enumerate(self.features):
                    checks.text(f, f"option 'features'[{i}]")
            if self.scale is not None:
                checks.numbers(_as_list(self.scale), "option 'scale'", 2)
            if len(checks.integers(_as_list(self.shard), "option 'shard'")) != 2:
                raise ValueError(f"option 'shard' must be two integers [I, N]; received {self.shard!r}")
        except ValueError as e:
            raise LstmpruneError(str(e)) from None
        if self.fit not in FITS:
            raise LstmpruneError(f"fit must be one of {', '.join(FITS)}; received {self.fit!r}", option="fit")
        i, n = self.shard
        if not (n >= 1 and 0 <= i < n):
            raise LstmpruneError(f"shard must be I/N with 0 <= I < N; received {i}/{n}", option="shard")

    def save(self, path: Path) -> None:
        """As a schema file that `from_file` (and `--schema`) reads back."""
        from .files import write_atomic

        write_atomic(Path(path), json.dumps(asdict(self), indent=1).encode())

    @classmethod
    def from_file(cls, path: Path, **overrides) -> Options:
        from .files import read_json

        data = read_json(path, "schema", "a JSON object of data options")
        if not isinstance(data, dict):
            raise LstmpruneError(f"schema {path} holds a {type(data).__name__}; expected a JSON object")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise LstmpruneError(
                f"schema {path} has unknown keys {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}"
            )
        data.update({k: v for k, v in overrides.items() if v is not None})
        for key in ("scale", "shard"):
            if isinstance(data.get(key), list):
                data[key] = tuple(data[key])
        try:
            return cls(**data)
        except LstmpruneError as e:
            raise LstmpruneError(f"schema {path}: {e}") from None


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else value


@dataclass
class Schema:
    """The resolved mapping from records to model inputs."""

    source: str  # "sequence" (SequenceExample), "example", "numpy" or "text"
    preset: str  # "youtube8m", "audioset", "single", "custom", "tokens", "array"
    features: list[Feature]
    options: Options = field(default_factory=Options)
    dequantize: bool = True
    compression: str = ""
    files: list[str] = field(default_factory=list)
    records: int = 0
    label: str | None = None  # context feature holding class ids, when the records have one

    @property
    def dim(self) -> int:
        return sum(f.dim for f in self.features)

    @property
    def tokens(self) -> bool:
        return any(f.kind == "int" for f in self.features)

    def describe(self) -> dict:
        return {
            "source": self.source,
            "preset": self.preset,
            "features": [asdict(f) for f in self.features],
            "dequantize": self.dequantize,
            "scale": self.options.scale,
            "l2_normalize": self.options.l2_normalize,
            "fit": self.options.fit,
            "compression": self.compression or None,
            "files": self.files,
            "records": self.records,
            "shard": list(self.options.shard),
        }


def parse_shard(text: str | None) -> tuple[int, int]:
    """'I/N' -> (I, N)."""
    if text is None:
        return (0, 1)
    try:
        i, n = (int(p) for p in text.split("/"))
    except ValueError:
        raise LstmpruneError(f"shard must look like I/N (for example 0/4); received {text!r}", option="shard") from None
    return (i, n)


def parse_scale(text: str | None) -> tuple[float, float] | None:
    """'A,B' -> (A, B): values become x * A + B."""
    if text is None:
        return None
    try:
        a, b = (float(p) for p in text.split(","))
    except ValueError:
        raise LstmpruneError(f"scale must look like A,B (x * A + B); received {text!r}", option="scale") from None
    return (a, b)


def parse_thetas(text: str) -> list[float]:
    """'0.1:0.9:0.1' (start:stop:step, stop included) or '0.3,0.5,0.7' -> thetas, each in (0, 1)."""
    try:
        if ":" in text:
            start, stop, step = (float(p) for p in text.split(":"))
            if not step > 0:
                raise ValueError
            if (stop - start) / step + 1 > MAX_THETAS:
                raise LstmpruneError(
                    f"theta {text} gives too many values; a sweep takes at most {MAX_THETAS}", option="theta"
                )
            values = [round(start + i * step, 10) for i in range(int((stop - start) / step + 1e-9) + 1)]
        else:
            values = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise LstmpruneError(
            f"theta must be START:STOP:STEP or a comma list; received {text!r}", option="theta"
        ) from None
    if not values:
        raise LstmpruneError(f"theta gives no values; received {text!r}", option="theta")
    for v in values:
        checks.theta(v)
    if len(values) > MAX_THETAS:
        raise LstmpruneError(f"theta gives {len(values):,} values; a sweep takes at most {MAX_THETAS}", option="theta")
    return values


def options_from_flags(schema_file: Path | None = None, **flags) -> Options:
    """Options from a schema file, with flags given on the command line taking precedence."""
    flags["shard"] = parse_shard(flags.get("shard"))
    flags["scale"] = parse_scale(flags.get("scale"))
    if isinstance(flags.get("features"), str):
        flags["features"] = [f.strip() for f in flags["features"].split(",") if f.strip()]
    if schema_file is not None:
        return Options.from_file(schema_file, **{k: v for k, v in flags.items() if v not in (None, False, (0, 1))})
    return Options(**{k: v for k, v in flags.items() if v is not None})
