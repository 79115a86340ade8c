"""The workspace: where verbs leave their artifacts for the next verb (`.lstmprune/` by default).

`state.json` records absolute paths for the models it names and paths relative to the workspace for
the files inside it, so a workspace works from any directory and never picks up another one's files.
Each verb's effect on the state is one method (`analyzed`, `merged`, `pruned_to`, `finetuned_to`); the
questions verbs ask of it (`rewind_of`, `derived`, `owns`, `calibration`) are the others.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path

from .errors import LstmpruneError
from .files import read_json, write_atomic
from .schema import Options

DEFAULT = Path(".lstmprune")
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

    # Each verb's effect on the state; the caller saves it once the verb's outputs are written.

    def analyzed(self, model: Path, data: str) -> None:
        """analyze: a new model and its statistics; whatever was cut from the last one is forgotten."""
        self.model, self.stats = str(Path(model).resolve()), str(self.stats_path)
        self.plan = self.pruned = self.finetuned = None
        self.data = data if is_glob(data) else str(Path(data).resolve())

    def merged(self, model: str | None, stats: Path) -> None:
        """merge into the workspace: the merged statistics are the workspace's, for the model they describe."""
        self.model, self.stats = model, str(stats)
        self.plan = self.pruned = self.finetuned = None

    def pruned_to(self, model: Path, out: str | None) -> None:
        """prune, learn: the workspace's plan cut `model` (its original, when it had none) into `out` (None: a
        dry run); an earlier fine-tuned model is of another cut."""
        self.model = self.model or str(Path(model).resolve())
        self.plan, self.pruned, self.finetuned = str(self.plan_path), out and str(Path(out).resolve()), None

    def finetuned_to(self, out: str) -> None:
        self.finetuned = str(Path(out).resolve())

    # What verbs ask of it.

    def owns(self, given: Path | None, key: str) -> bool:
        """Whether `given` (None: the default) is the workspace's `key` model."""
        known = getattr(self, key)
        return given is None or (known is not None and Path(given).resolve() == Path(known).resolve())

    def derived(self, model: Path) -> bool:
        """Whether `model` was cut (and perhaps fine-tuned) from the workspace's original, so it is the teacher."""
        return bool(self.model) and any(p and Path(model).resolve() == Path(p) for p in (self.pruned, self.finetuned))

    def rewind_of(self, model: Path) -> tuple[Path, Path] | None:
        """(original, plan) when `model` is the workspace's pruned model: the plan's cut of the original is
        another start for fine-tuning."""
        if self.model and self.plan and self.pruned and Path(model).resolve() == Path(self.pruned):
            return Path(self.model), self.plan_path
        return None

    def check_model(self, model: Path) -> None:
        """A workspace belongs to one model: another one is refused."""
        if self.model and Path(model).resolve() != Path(self.model):
            raise LstmpruneError(
                f"the workspace {self.root} belongs to {self.model}; --model {model} is another model: give it its "
                "own workspace (-w)"
            )

    def calibration(self, data: str | None) -> str | None:
        """The calibration data a cut reads: the one given, else the one analyze read."""
        return data or self.data

    def calibration_options(self, data: str | None) -> Options | None:
        """The options analyze read its data with, when a cut reads that same data (no --data given)."""
        return Options.from_file(self.schema_path) if data is None and self.schema_path.exists() else None

    def calibration_known(self, data: str | None) -> bool:
        """Whether that data is at hand (a glob is taken on trust; a path must exist)."""
        found = self.calibration(data)
        return found is not None and (is_glob(found) or Path(found).exists())


def is_glob(spec: str) -> bool:
    return any(c in spec for c in "*?[")


def beside(path: Path, tag: str, suffix: str | None) -> Path:
    """The one rule for an output no --out names: beside the input, named INPUT-TAG, with `suffix` for a file
    (the format its content is) and none for a directory."""
    path = Path(path)
    return path.with_name(f"{path.stem}-{tag}{suffix}") if suffix else path.with_name(f"{path.name}-{tag}")
