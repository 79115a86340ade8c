"""Batches of model inputs from a resolved schema, with one pass's counts (sequences read and skipped)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..core.errors import LstmpruneError
from ..core.schema import Schema
from .tfrecords import is_gzip

DEFAULT_WINDOW = 35  # tokens per window when a language model takes any length (as Penn Treebank is used)


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
            raise LstmpruneError(f"--batch-size must be at least 1; received {batch_size}")
        if max_samples is not None and max_samples < 1:
            raise LstmpruneError(f"--max-samples must be at least 1; received {max_samples}")
        self.schema, self.length, self.batch_size, self.max_samples = schema, length, batch_size, max_samples
        self.classes = classes
        self.seen = self.skipped = 0
        if classes and schema.source in ("sequence", "example") and not schema.label:
            raise LstmpruneError(f"{schema.files[0]} has no 'labels' context feature; pass --labels NAME")

    def __iter__(self) -> Iterator:
        source = {"sequence": self._tfrecords, "example": self._tfrecords, "numpy": self._numpy, "text": self._text}
        for batch in source[self.schema.source]():
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

    def _keep(self, x, n: np.ndarray, ok: np.ndarray, where: str, index: np.ndarray, y=None):
        """Apply the exact-length and non-finite rules to one batch; errors name the record."""
        x = self._keep_x(x, n, ok, where, index)
        if not self.classes:
            return x
        good = ok & (n > 0)
        return x, (y if np.all(good) else np.asarray(y)[good])

    def _keep_x(self, x, n: np.ndarray, ok: np.ndarray, where: str, index: np.ndarray):
        o = self.schema.options
        if o.fit == "exact" and self.length and np.any(n != self.length):
            i = int(np.argmax(n != self.length))
            raise LstmpruneError(
                f"{where} record {index[i]} has {n[i]} steps; the model takes exactly {self.length} (--fit exact)"
            )
        good = ok & (n > 0)
        if not np.all(ok) and not o.skip_nonfinite:
            i = int(np.argmax(~ok))
            raise LstmpruneError(
                f"{where} record {index[i]} holds NaN or Inf; pass --skip-nonfinite to skip such sequences"
            )
        if np.all(good):
            return x
        self.skipped += int(np.sum(~good))
        return np.asarray(x)[good]

    def _tfrecords(self) -> Iterator:
        import tensorflow as tf

        schema, (shard, shards) = self.schema, self.schema.options.shard
        parse = _parser(schema, self.length, self.classes)
        for path in schema.files:
            compression = "GZIP" if is_gzip(Path(path)) else ""  # each file its own: folders may mix
            ds = tf.data.TFRecordDataset(path, compression_type=compression).shard(shards, shard)
            ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
            frame = [self.length] if schema.tokens else [self.length, schema.dim]
            shapes = (frame, [], [], [self.classes or 0])
            ds = ds.padded_batch(self.batch_size, padded_shapes=shapes).prefetch(tf.data.AUTOTUNE)
            done = 0
            try:
                for x, n, ok, y in ds:
                    index = shard + shards * (done + np.arange(len(n)))
                    done += len(n)
                    yield self._keep(x, n.numpy(), ok.numpy(), path, index, y)
            except tf.errors.OpError as e:
                first = shard + shards * done
                span = f"{first}..{first + shards * (self.batch_size - 1)}"
                raise LstmpruneError(read_error(path, span, e.message, schema)) from e

    def _numpy(self) -> Iterator:
        from .data import _load_array

        path = Path(self.schema.files[0])
        array = _load_array(path)
        labels = _load_array(path, "y") if self.classes else None
        if labels is not None and labels.shape[:1] != array.shape[:1]:
            raise LstmpruneError(
                f"{path}: 'y' holds {len(labels) if labels.ndim else 0} labels; 'x' holds {len(array)} sequences"
            )
        shard, shards = self.schema.options.shard
        rows = np.arange(shard, array.shape[0], shards)
        for start in range(0, len(rows), self.batch_size):
            index = rows[start : start + self.batch_size]
            x = np.asarray(array[index])  # (B, T, F) or (B, T)
            n = np.full(len(x), x.shape[1])
            ok = np.isfinite(x.reshape(len(x), -1)).all(axis=1) if x.dtype.kind == "f" else np.ones(len(x), bool)
            x = _fit_array(x, self.length, self.schema.options.fit)
            y = None if labels is None else class_targets(np.asarray(labels[index]), self.classes, path)
            yield self._keep(x.astype(np.int32 if self.schema.tokens else np.float32), n, ok, str(path), index, y)

    def _text(self) -> Iterator:
        path, window = Path(self.schema.files[0]), self.length or DEFAULT_WINDOW
        ids = np.asarray(token_ids(path, Path(self.schema.options.vocab)), dtype=np.int32)
        step = window
        span = window + 1 if self.classes else window  # with targets: inputs and the next token of each
        starts = np.arange(0, len(ids) - span + 1, step)
        shard, shards = self.schema.options.shard
        starts = starts[shard::shards]
        for first in range(0, len(starts), self.batch_size):
            w = np.stack([ids[s : s + span] for s in starts[first : first + self.batch_size]])  # (B, span)
            yield (w[:, :-1], w[:, 1:]) if self.classes else w


def read_error(path: str, records: str, message: str, schema: Schema) -> str:
    """A tf.data error as one line that names the record and, where TensorFlow says which, the feature."""
    import re

    text = " ".join(message.split())
    layout = ", ".join(f"{f.name}: {f.dim} {f.kind} values per frame" for f in schema.features)
    key = re.search(r"Key: ([^,.\s]+)", text)
    if "values size" in text or "Input to reshape" in text or "Number of" in text:
        name = key.group(1) if key else (schema.features[0].name if len(schema.features) == 1 else None)
        which = f"feature '{name}'" if name else "a feature"
        return (
            f"{path}: one of records {records} holds {which} with another width than "
            f"record 0 ({layout}); every record must have the same features per frame"
        )
    if "corrupted record" in text or "DataLoss" in text or "truncated" in text:
        return f"{path}: one of records {records} is damaged ({text[:160]})"
    return f"{path}: one of records {records} cannot be read as ({layout}): {text[:200]}"


def class_targets(y: np.ndarray, classes: int, path: Path) -> np.ndarray:
    """Labels of an .npz as (B, classes) float32: class ids (B,) become one-hot; (B, classes) pass as they are."""
    if y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
        if y.size and (y.min() < 0 or y.max() >= classes):
            raise LstmpruneError(
                f"{path}: 'y' holds class id {int(y.min() if y.min() < 0 else y.max())}; "
                f"the model has {classes} classes (ids 0..{classes - 1})"
            )
        return np.eye(classes, dtype=np.float32)[y]  # (B, C)
    if y.ndim == 2 and y.shape[1] == classes and y.dtype.kind in "iufb":
        return y.astype(np.float32)
    raise LstmpruneError(
        f"{path}: 'y' has shape {y.shape} ({y.dtype}); expected class ids (N,) or one-hot / multi-hot (N, {classes})"
    )


def token_ids(corpus: Path, vocab: Path) -> list[int]:
    """Word ids of a whitespace-tokenised corpus, `<eos>` closing every line, unknown words as `<unk>`."""
    from .data import read_vocab

    index = {w: i for i, w in enumerate(read_vocab(vocab))}
    unk = index.get("<unk>")
    out = []
    for n, line in enumerate(corpus.open(), 1):
        for w in line.split() + ["<eos>"]:
            i = index.get(w, unk)
            if i is None:
                raise LstmpruneError(f"{corpus} line {n}: '{w}' is not in {vocab}, which has no <unk>")
            out.append(i)
    return out


def _fit_array(x: np.ndarray, length: int | None, fit: str) -> np.ndarray:
    if not length or x.shape[1] == length:
        return x
    if x.shape[1] > length:
        idx = np.round(np.linspace(0, x.shape[1] - 1, length)).astype(int) if fit == "sample" else np.arange(length)
        return x[:, idx]
    pad = [(0, 0), (0, length - x.shape[1])] + [(0, 0)] * (x.ndim - 2)
    return np.pad(x, pad)


def _parser(schema: Schema, length: int | None, classes: int | None = None):
    """record -> (x (L, F) float32 or (L,) int32, L, finite, multi-hot labels (classes,)) for tf.data."""
    import tensorflow as tf

    sequence = schema.source == "sequence"
    dtypes = {"bytes": tf.string, "float": tf.float32, "int": tf.int64}
    if sequence:
        spec = {
            f.name: tf.io.FixedLenSequenceFeature([f.dim] if f.kind == "float" else [], dtypes[f.kind])
            for f in schema.features
        }
    else:
        spec = {f.name: tf.io.VarLenFeature(dtypes[f.kind]) for f in schema.features}
    o = schema.options
    context = {schema.label: tf.io.VarLenFeature(tf.int64)} if classes and schema.label else {}

    def labels(ctx):
        if not context:
            return tf.zeros([0])
        ids = tf.sparse.to_dense(ctx[schema.label])  # (K,)
        return tf.reduce_max(tf.one_hot(ids, classes), axis=0) if classes else tf.zeros([0])  # (C,)

    def parse(record):
        if sequence:
            ctx, feats = tf.io.parse_single_sequence_example(record, context_features=context, sequence_features=spec)
        else:
            both = tf.io.parse_single_example(record, {**spec, **context})
            ctx = both
            feats = {f.name: tf.sparse.to_dense(both[f.name]) for f in schema.features}
        y = labels(ctx) if context else tf.zeros([classes or 0])
        if schema.tokens:
            x = tf.cast(tf.reshape(feats[schema.features[0].name], [-1]), tf.int32)  # (L,)
            n = tf.shape(x)[0]
            return (x[:length] if length else x), n, tf.constant(True), y
        parts = []
        for f in schema.features:
            v = feats[f.name]
            if f.kind == "bytes":
                v = tf.cast(tf.io.decode_raw(v, tf.uint8), tf.float32)
                v = v * (4.0 / 255.0) - 2.0 + 4.0 / 512.0 if schema.dequantize else v
            parts.append(tf.reshape(tf.cast(v, tf.float32), [-1, f.dim]))  # (L, dim)
        x = tf.concat(parts, axis=1)  # (L, F)
        if o.scale is not None:
            x = x * o.scale[0] + o.scale[1]
        if o.l2_normalize:
            x = tf.math.l2_normalize(x, axis=1)
        n = tf.shape(x)[0]
        ok = tf.reduce_all(tf.math.is_finite(x))
        if length and o.fit == "sample":
            idx = tf.cast(tf.round(tf.linspace(0.0, tf.cast(n - 1, tf.float32), length)), tf.int32)
            x = tf.cond(n > length, lambda: tf.gather(x, idx), lambda: x)
        return (x[:length] if length else x), n, ok, y

    return parse
