"""Batches of model inputs from a resolved schema, with one pass's counts (sequences read and skipped).

The source named by the schema reads the records; the stream applies the rules every source shares.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ...core.errors import LstmpruneError
from ...core.schema import Schema
from .sources import source_of


class Stream:
    """Iterate to get batches (B, T, F) float32 or (B, T) int32; `seen` and `skipped` count sequences.

    With `classes`, batches are (x, y): y multi-hot (B, classes) from the records' label ids, the
    array `y` of an .npz, or the next token of every position (B, T) for a text corpus.
    """

    def __init__(
        self,
        schema: Schema,
        length: int | None,
        batch_size: int,
        max_samples: int | None = None,
        classes: int | None = None,
    ):
        if batch_size < 1:
            raise LstmpruneError(f"batch_size must be at least 1; received {batch_size}", option="batch_size")
        if max_samples is not None and max_samples < 1:
            raise LstmpruneError(f"max_samples must be at least 1; received {max_samples}", option="max_samples")
        self.schema, self.length, self.batch_size, self.max_samples = schema, length, batch_size, max_samples
        self.classes = classes
        self.seen = self.skipped = 0
        if classes and schema.source in ("sequence", "example") and not schema.label:
            raise LstmpruneError(
                f"{schema.files[0]} has no 'labels' context feature; pass labels NAME", option="labels"
            )

    def __iter__(self) -> Iterator:
        for batch in source_of(self.schema).batches(self):
            x = batch[0] if self.classes else batch
            if self.max_samples is not None and self.seen + len(x) > self.max_samples:
                left = self.max_samples - self.seen
                batch = tuple(b[:left] for b in batch) if self.classes else batch[:left]
                x = batch[0] if self.classes else batch
            if len(x):
                self.seen += len(x)
                yield batch
            if self.max_samples is not None and self.seen >= self.max_samples:
                return

    def keep(self, x, n: np.ndarray, ok: np.ndarray, where: str, index: np.ndarray, y=None):
        """Apply the exact-length and non-finite rules to one batch; errors name the record."""
        if self.classes and y is not None:
            ok = ok & self._finite_targets(np.asarray(y), where, index)
        x = self._keep_x(x, n, ok, where, index)
        if not self.classes:
            return x
        good = ok & (n > 0)
        return x, (y if np.all(good) else np.asarray(y)[good])

    def _finite_targets(self, y: np.ndarray, where: str, index: np.ndarray) -> np.ndarray:
        """Per sequence, whether its labels or targets are finite; a non-finite one stops the pass unless skipped."""
        finite = np.isfinite(y.reshape(len(y), -1)).all(axis=1) if y.dtype.kind in "fc" else np.ones(len(y), bool)
        if not np.all(finite) and not self.schema.options.skip_nonfinite:
            i = int(np.argmax(~finite))
            raise LstmpruneError(
                f"{where} record {index[i]} has a NaN or Inf label or target; pass skip_nonfinite to skip such "
                "sequences",
                option="skip_nonfinite",
            )
        return finite

    def _keep_x(self, x, n: np.ndarray, ok: np.ndarray, where: str, index: np.ndarray):
        o = self.schema.options
        if o.fit == "exact" and self.length and np.any(n != self.length):
            i = int(np.argmax(n != self.length))
            raise LstmpruneError(
                f"{where} record {index[i]} has {n[i]} steps; the model takes exactly {self.length} (fit exact)",
                option="fit",
            )
        good = ok & (n > 0)
        if not np.all(ok) and not o.skip_nonfinite:
            i = int(np.argmax(~ok))
            raise LstmpruneError(
                f"{where} record {index[i]} holds NaN or Inf; pass skip_nonfinite to skip such sequences",
                option="skip_nonfinite",
            )
        if np.all(good):
            return x
        self.skipped += int(np.sum(~good))
        return np.asarray(x)[good]
