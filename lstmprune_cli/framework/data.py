"""Calibration data: TFRecord files of SequenceExamples, streamed with tf.data.

The YouTube-8M frame-level layout (per-frame uint8 `rgb` + `audio`) and the AudioSet layout
(`audio_embedding`) are detected from the first record; a file with one per-frame feature
list of bytes or floats is read as it is.
"""

from __future__ import annotations

import glob
import gzip
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import LstmpruneError

PRESETS = {"youtube8m": ("rgb", "audio"), "audioset": ("audio_embedding",)}


@dataclass
class Schema:
    """Which per-frame features make the model's input, in concatenation order."""

    preset: str
    features: list[tuple[str, str, int]]  # (name, "bytes" | "float", dim)
    dequantize: bool = True  # uint8 bytes -> x * 4/255 - 2 + 4/512, as YouTube-8M
    compression: str = ""  # "" or "GZIP"
    files: list[str] = field(default_factory=list)
    records: int = 0

    @property
    def dim(self) -> int:
        return sum(d for _, _, d in self.features)

    def describe(self) -> dict:
        return {
            "preset": self.preset,
            "features": [{"name": n, "kind": k, "dim": d} for n, k, d in self.features],
            "dequantize": self.dequantize,
            "compression": self.compression or None,
            "files": self.files,
            "records": self.records,
        }


def tfrecord_files(spec: str) -> list[Path]:
    """The files named by a file, a directory or a glob."""
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        where = f"directory {spec}"
    elif path.is_file():
        files = [path]
        where = spec
    else:
        files = sorted(Path(p) for p in glob.glob(spec) if Path(p).is_file())
        where = f"pattern {spec}"
        if not files and not any(c in spec for c in "*?["):
            raise LstmpruneError(f"data {spec} does not exist; expected a TFRecord file, a directory or a glob")
    files = [f for f in files if f.stat().st_size > 0 or f == path]
    if not files:
        raise LstmpruneError(f"no TFRecord files in {where}; expected at least one non-empty file")
    return files


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def count_records(path: Path) -> int:
    """Walk the record framing; a file cut inside a record is an error (tf.data would drop it silently)."""
    opener = gzip.open if _is_gzip(path) else open
    n = 0
    try:
        with opener(path, "rb") as f:
            while True:
                header = f.read(12)
                if not header:
                    return n
                if len(header) < 12:
                    break
                (length,) = struct.unpack("<Q", header[:8])
                body = f.read(length + 4) if opener is gzip.open else None
                if body is not None and len(body) < length + 4:
                    break
                if body is None:
                    pos = f.seek(length + 4, 1)
                    if pos > path.stat().st_size:
                        break
                n += 1
    except (OSError, EOFError) as e:
        raise LstmpruneError(f"{path} is not a readable TFRecord file (record {n}): {e}") from e
    raise LstmpruneError(f"{path} is truncated: record {n} is cut short; expected complete TFRecord records")


def _first_record(path: Path, compression: str) -> bytes:
    import tensorflow as tf

    try:
        for record in tf.data.TFRecordDataset(str(path), compression_type=compression).take(1):
            return record.numpy()
    except tf.errors.OpError as e:
        raise LstmpruneError(f"{path} record 0 cannot be read: {e.message.splitlines()[0]}") from e
    raise LstmpruneError(f"{path} holds no records")


def detect_schema(files: list[Path]) -> Schema:
    """The schema of the data, from its first record, after checking every file's framing."""
    import tensorflow as tf

    counts = [count_records(f) for f in files]
    records = sum(counts)
    if records == 0:
        raise LstmpruneError(f"the data files ({', '.join(map(str, files[:3]))}) hold no records")
    first = next(f for f, n in zip(files, counts) if n > 0)
    compression = "GZIP" if _is_gzip(first) else ""
    raw = _first_record(first, compression)
    example = tf.train.SequenceExample.FromString(raw)
    lists = example.feature_lists.feature_list
    if not lists:
        raise LstmpruneError(
            f"{first} holds Example records without per-frame features; expected SequenceExamples "
            "with a feature list (YouTube-8M 'rgb'/'audio', AudioSet 'audio_embedding')"
        )
    preset = next((p for p, names in PRESETS.items() if all(n in lists for n in names)), "")
    names = list(PRESETS[preset]) if preset else sorted(lists)
    if not preset and len(names) != 1:
        raise LstmpruneError(f"{first} has feature lists {names}; expected one, or the YouTube-8M / AudioSet layout")
    features = []
    for name in names:
        frames = lists[name].feature
        if not frames:
            raise LstmpruneError(f"{first} record 0: feature list '{name}' has no frames")
        kind = frames[0].WhichOneof("kind")
        if kind == "bytes_list":
            features.append((name, "bytes", len(frames[0].bytes_list.value[0])))
        elif kind == "float_list":
            features.append((name, "float", len(frames[0].float_list.value)))
        else:
            raise LstmpruneError(f"{first} record 0: feature list '{name}' holds {kind}; expected bytes or floats")
    return Schema(preset or "single", features, True, compression, [str(f) for f in files], records)


def check_fits(schema: Schema, input_shape: tuple) -> int | None:
    """The model's sequence length (None when free), after checking that frames fit its input."""
    if len(input_shape) != 3:
        raise LstmpruneError(f"the model's input has shape {tuple(input_shape)}; expected (batch, time, features)")
    if input_shape[2] != schema.dim:
        names = " + ".join(f"{n} {d}" for n, _, d in schema.features)
        raise LstmpruneError(
            f"data frames have {schema.dim} features ({names}); the model's input expects {input_shape[2]}"
        )
    return input_shape[1]


def batches(schema: Schema, length: int | None, batch_size: int, max_samples: int | None = None) -> Iterator:
    """Batches of padded sequences (B, T, F) float32, file by file; errors name the file."""
    import tensorflow as tf

    spec = {
        n: tf.io.FixedLenSequenceFeature([], tf.string)
        if k == "bytes"
        else tf.io.FixedLenSequenceFeature([d], tf.float32)
        for n, k, d in schema.features
    }

    def parse(record):
        _, seq = tf.io.parse_single_sequence_example(record, sequence_features=spec)
        parts = []
        for name, kind, dim in schema.features:
            if kind == "bytes":
                v = tf.reshape(tf.io.decode_raw(seq[name], tf.uint8), [-1, dim])  # (L, dim)
                v = tf.cast(v, tf.float32)
                v = v * (4.0 / 255.0) - 2.0 + 4.0 / 512.0 if schema.dequantize else v
            else:
                v = seq[name]  # (L, dim)
            parts.append(v)
        x = tf.concat(parts, axis=1)  # (L, F)
        return x[:length] if length else x

    left = max_samples
    for path in schema.files:
        if left is not None and left <= 0:
            return
        ds = tf.data.TFRecordDataset(path, compression_type=schema.compression)
        ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE).filter(lambda x: tf.shape(x)[0] > 0)
        if left is not None:
            ds = ds.take(left)
        ds = ds.padded_batch(batch_size, padded_shapes=[length, schema.dim]).prefetch(2)
        done = 0
        try:
            for x in ds:
                done += int(x.shape[0])
                yield x
        except tf.errors.OpError as e:
            msg = e.message.strip().splitlines()[0]
            raise LstmpruneError(f"{path}: record {done} or just after cannot be read: {msg}") from e
        if left is not None:
            left -= done
