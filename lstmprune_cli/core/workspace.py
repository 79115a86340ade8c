"""The workspace: where verbs leave their artifacts for the next verb (`.lstmprune/` by default).

`state.json` records absolute paths for the models it names and paths relative to the workspace for
the files inside it, so a workspace works from any directory and never picks up another one's files.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path

from .errors import LstmpruneError
from .files import read_json, write_atomic

KEYS = ("model", "stats", "plan", "pruned", "finetuned", "data")


@dataclass
class Workspace:
    root: Path
    model: str | None = None  # the analyzed model
    stats: str | None = None
    plan: str | None = None
    pruned: str | None = None
    finetuned: str | None = None
    data: str | None = None  # the calibration data analyze read (its options in schema.json)

    @property
    def stats_path(self) -> Path:
        return self.root / "stats.npz"

    @property
    def schema_path(self) -> Path:
        return self.root / "schema.json"

    @property
    def plan_path(self) -> Path:
        return self.root / "plan.json"

    @classmethod
    def open(cls, root: Path) -> Workspace:
        """The workspace at `root` (empty when it does not exist yet), its state validated."""
        root = Path(root).absolute()
        if root.exists() and not root.is_dir():
            raise LstmpruneError(
                f"workspace {root} is a file; expected a folder (it is created when missing)", option="workspace"
            )
        folder = root
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not os.access(folder, os.W_OK | os.X_OK):
            raise LstmpruneError(
                f"workspace {root} cannot be written ({folder} is read-only); every verb records its work there: "
                "pass a writable --workspace",
                option="workspace",
            )
        state = root / "state.json"
        if not state.exists():
            return cls(root)
        try:
            data = read_json(state, "state", "a JSON object written by lstmprune")
        except LstmpruneError as e:
            raise LstmpruneError(f"workspace {root} is damaged ({e}); remove it and run lstmprune analyze") from e
        if not isinstance(data, dict):
            raise LstmpruneError(
                f"workspace {root} is damaged: {state} holds a {type(data).__name__}; expected a JSON object"
            )
        bad = {k: data[k] for k in KEYS if data.get(k) is not None and not isinstance(data[k], str)}
        if bad:
            raise LstmpruneError(f"workspace {root} is damaged: {state} has non-path values {bad}; expected strings")
        return cls(root, **{k: None if data.get(k) is None else str(root / data[k]) for k in KEYS})

    def save(self) -> None:
        """Write state.json: files inside the workspace relative to it, everything else absolute."""
        data = {}
        for f in fields(self):
            if f.name == "root":
                continue
            value = getattr(self, f.name)
            if value is not None:
                path = Path(value).absolute()
                value = str(path.relative_to(self.root)) if path.is_relative_to(self.root) else str(path)
            data[f.name] = value
        write_atomic(self.root / "state.json", json.dumps(data, indent=1).encode())

    def require(self, what: str) -> str:
        value = getattr(self, what)
        if value is None:
            raise LstmpruneError(
                f"the workspace {self.root} has no {what}; run lstmprune analyze MODEL --data DATA first "
                "(or pass the path explicitly)"
            )
        return value
