"""Outputs: checked before any work, written to a temporary sibling, then moved in with one rename.

An output never replaces a file the run reads or a workspace, `--force` or not, and two runs that
write the same output cannot both succeed without `--force`: the existence check and the rename
happen together under a lock on the output's folder. Temporary siblings carry the writer's process
id; those of processes that are gone are removed on the next write beside them.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from .errors import LstmpruneError

WORKSPACE_FILES = ("state.json", "stats.npz", "plan.json")
TEMP_TAG = ".lstmprune-"
MAX_JSON_BYTES = 64 << 20  # plans, state and schemas are kilobytes; a model's config is at most megabytes
MAX_JSON_DEPTH = 200  # Keras configs nest about 10 deep
NAME_KEPT = 100  # characters of an output's name kept in its temporary sibling's name


def regular_file(path: Path, what: str, expected: str) -> Path:
    """`path` if it is a regular file; a FIFO, a device or a socket is refused (reading one may never end)."""
    path = Path(path)
    if not path.exists():
        raise LstmpruneError(f"{what} {path} does not exist; expected {expected}")
    if not path.is_file():
        kind = "a folder" if path.is_dir() else "not a regular file (a FIFO, device or socket)"
        raise LstmpruneError(f"{what} {path} is {kind}; expected {expected}")
    return path


def read_bounded(path: Path, what: str, expected: str, limit: int = MAX_JSON_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes."""
    path = regular_file(path, what, expected)
    size = path.stat().st_size
    if size > limit:
        raise LstmpruneError(f"{what} {path} is {size:,} bytes; expected {expected} of at most {limit:,} bytes")
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise LstmpruneError(f"{what} {path} is larger than {limit:,} bytes; expected {expected}")
    return data


def parse_json(raw: bytes | str, where: str, depth: int = MAX_JSON_DEPTH):
    """JSON text -> its value; nesting deeper than `depth` is refused before it can exhaust the stack.

    Raises ValueError naming `where`.
    """
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    deepest = nesting(text)
    if deepest > depth:
        raise ValueError(f"{where} nests {deepest} levels deep; expected at most {depth}")
    return json.loads(text)


def nesting(text: str) -> int:
    """How deep the brackets of a JSON text nest (brackets inside strings do not count)."""
    plain = np.frombuffer(re.sub(r'"(?:[^"\\]|\\.)*"', '""', text).encode(), dtype=np.uint8)
    step = np.isin(plain, (ord("["), ord("{"))).astype(np.int64) - np.isin(plain, (ord("]"), ord("}")))
    return int(np.max(np.cumsum(step), initial=0))


def read_json(path: Path, what: str, expected: str, limit: int = MAX_JSON_BYTES):
    """A JSON file read with bounds: a regular file, at most `limit` bytes, nested at most MAX_JSON_DEPTH deep."""
    raw = read_bounded(path, what, expected, limit)
    try:
        return parse_json(raw, f"{what} {path}")
    except ValueError as e:
        raise LstmpruneError(f"cannot read {what} {path}: {e}; expected {expected}") from e


def refuse_existing(path: Path, force: bool) -> None:
    """An existing output is only replaced with --force."""
    if Path(path).exists() and not force:
        raise LstmpruneError(f"{path} already exists; pass force to replace it", option="force")


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or child.is_relative_to(parent)


def _expand(read: str | Path) -> list[Path]:
    """A read path as the files and folders it names (a glob gives its matches)."""
    text = str(read)
    if any(c in text for c in "*?[") and not Path(text).exists():
        return [Path(p) for p in glob.glob(text)]
    return [Path(text)]


def check_output(
    path: Path,
    *,
    force: bool = False,
    models: Iterable[Path | None] = (),
    reads: Iterable[str | Path | None] = (),
    workspace: Path | None = None,
    flag: str = "--out",
) -> Path:
    """Refuse an output that would replace an input model, data, a workspace, or something not ours to replace.

    models: models the run reads (nothing may be written inside a SavedModel directory either).
    reads: other files, folders or globs the run reads (data, statistics, a plan).
    Compared after resolving symlinks. Returns `path`.
    """
    path = Path(path)
    if path.is_symlink():
        try:
            points = f"pass the path it points to ({path.resolve(strict=True)})"
        except (OSError, RuntimeError):
            points = "it points nowhere (a loop or a missing target); choose another path"
        raise LstmpruneError(f"{flag} {path} is a symbolic link; {points}")
    if path.exists() and not (path.is_file() or path.is_dir()):
        raise LstmpruneError(f"{flag} {path} is not a regular file or folder; expected a path for a new file")
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise LstmpruneError(f"{flag} {path} cannot be written: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise LstmpruneError(f"{flag} {path} cannot be written: the folder {parent} is not writable")
    try:
        target = path.resolve()
    except (OSError, RuntimeError) as e:
        raise LstmpruneError(f"{flag} {path} cannot be resolved ({e}); expected a path for a new file") from e
    if workspace is not None:
        root = Path(workspace).resolve()
        if _inside(root, target) or target in {root / name for name in WORKSPACE_FILES}:
            raise LstmpruneError(f"{flag} {path} would replace the workspace {workspace}; choose another {flag}")
    for model in (m for m in models if m is not None):
        source = Path(model).resolve()
        if _inside(source, target) or (source.is_dir() and _inside(target, source)):
            raise LstmpruneError(
                f"{flag} {path} would replace the model {model}, which this run reads; choose another {flag}"
            )
    for item in (r for r in reads if r is not None):
        for source in (p.resolve() for p in _expand(item)):
            if _inside(source, target) or (source.is_dir() and _inside(target, source) and target.exists()):
                raise LstmpruneError(f"{flag} {path} would replace {item}, which this run reads")
    if target.is_dir() and (target / "state.json").is_file():
        raise LstmpruneError(f"{flag} {path} is a workspace; choose another {flag}")
    refuse_existing(path, force)
    return path


def clean_stale(path: Path) -> None:
    """Remove temporary siblings of `path` left by lstmprune processes that no longer run."""
    path = Path(path)
    name = path.name[:NAME_KEPT]
    for tmp in path.parent.glob(f".{glob.escape(name)}{TEMP_TAG}*"):
        pid = tmp.name[len(name) + 1 + len(TEMP_TAG) :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    return True


def _prefix(path: Path) -> str:
    """A temporary sibling's name: short enough beside a 255-byte name."""
    return f".{path.name[:NAME_KEPT]}{TEMP_TAG}{os.getpid()}."


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on a folder, held while an output is checked and renamed into it."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def staged(path: Path, force: bool = False) -> Iterator[Path]:
    """A temporary path beside `path` to write into; moved over `path` when the block ends well, removed if not.

    Without force an existing `path` is refused, checked again at the rename under the folder's lock.
    """
    path = Path(path)
    _make_parent(path)
    clean_stale(path)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=_prefix(path), dir=path.parent)) / path.name
    except OSError as e:
        raise LstmpruneError(f"cannot write {path}: {e.strerror or e}") from e
    try:
        yield tmp
        with _locked(path.parent):
            refuse_existing(path, force)
            if path.is_dir() and not path.is_symlink():
                old = Path(tempfile.mkdtemp(prefix=_prefix(path), dir=path.parent)) / path.name
                os.replace(path, old)
                os.replace(tmp, path)
                shutil.rmtree(old.parent, ignore_errors=True)
            else:
                os.replace(tmp, path)
    except OSError as e:
        raise LstmpruneError(f"cannot write {path}: {e.strerror or e}") from e
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)


def write_atomic(path: Path, data: bytes, force: bool = True) -> None:
    """Write `data` to `path` through a temporary file in the same folder (force=False: never replace)."""
    with staged(path, force) as tmp:
        tmp.write_bytes(data)


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LstmpruneError(f"cannot write {path}: cannot create its folder ({e.strerror or e})") from e
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise LstmpruneError(f"cannot write {path}: the folder {path.parent} is not writable")
