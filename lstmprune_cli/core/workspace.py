"""The workspace: where verbs leave their artifacts for the next verb (`.lstmprune/` by default)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import LstmpruneError
from .files import write_atomic


@dataclass
class Workspace:
    root: Path
    model: str | None = None  # the analyzed model
    stats: str | None = None
    plan: str | None = None
    pruned: str | None = None
    finetuned: str | None = None

    @property
    def stats_path(self) -> Path:
        return self.root / "stats.npz"

    @property
    def plan_path(self) -> Path:
        return self.root / "plan.json"

    @classmethod
    def open(cls, root: Path) -> Workspace:
        root = Path(root)
        state = root / "state.json"
        if not state.exists():
            return cls(root)
        try:
            data = json.loads(state.read_text())
        except ValueError as e:
            raise LstmpruneError(
                f"workspace {root} is damaged ({state}: {e}); remove it and run lstmprune analyze"
            ) from e
        return cls(root, **{k: data.get(k) for k in ("model", "stats", "plan", "pruned", "finetuned")})

    def save(self) -> None:
        data = {k: v for k, v in asdict(self).items() if k != "root"}
        write_atomic(self.root / "state.json", json.dumps(data, indent=1).encode())

    def require(self, what: str) -> str:
        value = getattr(self, what)
        if value is None:
            raise LstmpruneError(
                f"the workspace {self.root} has no {what}; run lstmprune analyze MODEL --data DATA first "
                "(or pass the path explicitly)"
            )
        return value
