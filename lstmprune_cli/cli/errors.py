"""One line on stderr for every failure: bad input exits 2, a bug of ours 1; never a traceback."""

from __future__ import annotations

import functools
import os
import re

import typer

from ..core.errors import LstmpruneError
from . import render

FLAGS = {"learning_rate": "--lr", "data_spec": "--data", "eval_spec": "--eval", "train_spec": "--train"}


def one_line_errors(fn):
    """Bad input ends in one line on stderr and exit code 2, never a traceback.

    A write the system refuses (a full disk, a read-only folder) is bad input too. Anything else is a
    bug of ours: one line and exit code 1; LSTMPRUNE_DEBUG=1 shows the traceback.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LstmpruneError as e:
            render.error(one_line(with_flag(e)))
            raise typer.Exit(2) from None
        except OSError as e:
            where = f" {e.filename}" if e.filename else ""
            render.error(f"cannot read or write{where}: {e.strerror or e}")
            raise typer.Exit(2) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as e:  # noqa: BLE001  the last guard before a traceback reaches the user
            if os.environ.get("LSTMPRUNE_DEBUG"):
                raise
            render.error(
                f"unexpected {type(e).__name__}: {one_line(str(e))}; "
                "rerun with LSTMPRUNE_DEBUG=1 for the traceback and report it"
            )
            raise typer.Exit(1) from None

    return wrapper


def with_flag(e: LstmpruneError) -> str:
    """The library names options by their parameter; the user knows them by their flag."""
    if not e.option:
        return str(e)
    flag = FLAGS.get(e.option, "--" + e.option.replace("_", "-"))
    return re.sub(rf"(?<![\w./-]){re.escape(e.option)}(?![\w./-])", flag, str(e), count=1)


def one_line(text: str) -> str:
    return " ".join(text.split()) or "no message"
