"""What a verb shows while it runs: the CLI passes its progress bars and lines, a library caller nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass


def _plain(batches: Iterable, total: int, label: str) -> Iterable:
    return batches


@dataclass
class Display:
    progress: Callable[[Iterable, int, str], Iterable] = _plain  # (batches, expected total or 0, label)
    epoch: Callable[[object], None] | None = None  # each finished train.Epoch
    status: Callable[[str], contextlib.AbstractContextManager] = lambda message: contextlib.nullcontext()
    point: Callable[[object], None] | None = None  # each finished sweep point

    def epochs(self) -> Callable[[Iterable, int], Iterable]:
        """The `wrap` of the training loop: a bar per epoch."""
        return lambda batches, epoch: self.progress(batches, 0, f"epoch {epoch}")


QUIET = Display()
