"""What the benchmark parts share: paths, modes, result files and plot helpers."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
AUDIOSET = SHARED / "audioset"
PTB = SHARED / "ptb"
SAMPLE = ROOT / "sample_models"
CACHE = ROOT / "bench" / ".cache"  # trained base models, reused between runs (git-ignored)
PROGRESS = ROOT / "bench" / "progress"  # the finished rows of a long part, committed so another clone goes on


@dataclass
class Mode:
    """How big each part runs: `quick` for minutes, `full` for the published numbers."""

    name: str
    out: Path  # where the document, the plots and the raw results go
    shard: tuple[int, int] = (0, 1)  # (i, n): a long part runs only every n-th of its rows, from the i-th

    @property
    def quick(self) -> bool:
        return self.name == "quick"

    @property
    def results(self) -> Path:
        return self.out / "results"


def mode(name: str, shard: tuple[int, int] = (0, 1)) -> Mode:
    return Mode(name, ROOT / "docs" if name == "full" else ROOT / "docs" / "quick", shard)


def save(m: Mode, part: str, data: dict) -> None:
    m.results.mkdir(parents=True, exist_ok=True)
    data = {**data, "mode": m.name, "written": time.strftime("%Y-%m-%d %H:%M")}
    (m.results / f"{part}.json").write_text(json.dumps(data, indent=1, default=_plain))


def timed(m: Mode, part: str, seconds: float) -> None:
    """Record how long a part took and how busy the machine was at its end (the load over 15 minutes: above 2,
    other work shared these 2 cores), in durations.json beside the parts' results."""
    found = load(m, "durations") or {}
    found = {k: v for k, v in found.items() if k not in ("mode", "written")}
    found[part] = {"seconds": seconds, "load": os.getloadavg()[2], "ended": time.strftime("%Y-%m-%d %H:%M")}
    save(m, "durations", found)


class Progress:
    """The finished rows of a long part, one JSON line each in bench/progress, so that a run stopped half-way
    goes on where it stopped, in this clone or (once committed) in another, and shards of one part running side
    by side (`bench.run --shard`) share their rows. Rows count only under the same settings, the same lstmprune
    sources and the same methods (bench/compare.py): `key`."""

    def __init__(self, name: str, settings: object) -> None:
        import hashlib

        sources = [*sorted((ROOT / "lstmprune_cli").rglob("*.py")), ROOT / "bench" / "compare.py"]
        digest = hashlib.sha1(repr(settings).encode())
        for path in sources:
            digest.update(path.read_bytes())
        self.key = digest.hexdigest()[:16]
        self.path = PROGRESS / f"{name}-{self.key}.jsonl"
        self.rows = self.read()
        if self.rows:
            log(f"resuming from {self.path.name}: {len(self.rows)} rows already run")

    def read(self) -> list[dict]:
        """The rows on disk now: this run's and those of shards running beside it."""
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        return [json.loads(line) for line in lines if line.strip()]

    def done(self, method: str, theta: float, seed: int) -> dict | None:
        return next((r for r in self.rows if (r["method"], r["theta"], r["seed"]) == (method, theta, seed)), None)

    def add(self, row: dict) -> dict:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(row, default=_plain) + "\n")
        self.rows.append(row)
        return row


def load(m: Mode, part: str) -> dict | None:
    path = m.results / f"{part}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _plain(x):
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(type(x))


def shuffled(x: np.ndarray, y: np.ndarray, seed: int, batch: int = 64):
    """(x, y) batches in an order drawn from `seed`."""
    order = np.random.default_rng(seed).permutation(len(x))
    for i in range(0, len(x), batch):
        yield x[order[i : i + batch]], y[order[i : i + batch]]


def log(*parts) -> None:
    print(time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


def axes(width: float = 6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, 4))


def save_plot(fig, ax, path: Path, xlabel: str, ylabel: str, fontsize: int = 7, loc: str = "best") -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if loc == "outside":
        ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.01, 1))
    else:
        ax.legend(fontsize=fontsize, loc=loc)

    fig.tight_layout()
    fig.savefig(path, dpi=120)
