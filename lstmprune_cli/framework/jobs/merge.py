"""merge: the statistics of shards (analyze --shard I/N --stats FILE) as one pass over all of them (exact)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...core.files import check_output
from ...core.statsfile import Statistics
from ...core.summary import group_rows
from ...core.workspace import Workspace


@dataclass
class Merged:
    stats: Path
    parts: list[Path]
    groups: list[dict]

    def to_dict(self) -> dict:
        return {"stats": str(self.stats), "parts": [str(p) for p in self.parts], "groups": self.groups}


def run(parts: list[Path], *, workspace: Path, out: Path | None = None, force: bool = False) -> Merged:
    """Merge `parts` into `out`, or into the workspace's statistics (the workspace then describes their model)."""
    ws = Workspace.open(workspace)
    if out is not None:
        check_output(out, force=force, reads=parts, workspace=ws.root)
    merged = Statistics.load(parts[0])
    for part in parts[1:]:
        merged = merged.merge(Statistics.load(part))
    target = out or ws.stats_path
    merged.save(target, force=force or out is None)
    if out is None:
        ws.merged(merged.meta.get("model"), target)
        ws.save()
    return Merged(target, list(parts), group_rows(merged))
