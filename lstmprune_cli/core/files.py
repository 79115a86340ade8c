"""Atomic writes: a temporary sibling, then one rename."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .errors import LstmpruneError


def refuse_existing(path: Path, force: bool) -> None:
    """An existing output is only replaced with --force."""
    if Path(path).exists() and not force:
        raise LstmpruneError(f"{path} already exists; pass --force to replace it")


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def temp_sibling(path: Path) -> Path:
    """A fresh temporary path next to `path` (for outputs written by other libraries)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    return tmp / path.name


def commit(tmp: Path, path: Path) -> None:
    """Move a finished temporary output over `path` and remove the temporary folder."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        old = temp_sibling(path)
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old.parent, ignore_errors=True)
    else:
        os.replace(tmp, path)
    shutil.rmtree(tmp.parent, ignore_errors=True)
