"""The TFRecord source: listing, framing checks (truncation), what the first records hold, the schema,
and batches through tf.data (SequenceExamples or Examples, plain or GZIP)."""

from __future__ import annotations

import glob
import gzip
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...core.errors import LstmpruneError
from ...core.schema import Feature, Options, Schema
from .formats import READ_FORMATS, is_gzip, masked_crc, sniff

if TYPE_CHECKING:
    from .sources import InputSpec

PRESETS = {"youtube8m": ("rgb", "audio"), "audioset": ("audio_embedding",)}


def detect(path: Path, kind: str, options: Options) -> bool:
    """The last source asked: a file, a directory or a glob of TFRecords (checked as they are listed)."""
    return True


def schema(spec: str, options: Options, model_input) -> Schema:
    return _tfrecord_schema(spec, options, model_input)


def tfrecord_files(spec: str) -> list[Path]:
    """The files named by a file, a directory or a glob."""
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        named = [p for p in files if "tfrecord" in p.name or ".tfrec" in p.name]
        files = named or files  # a folder of data with a README or CSV beside it
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


def count_records(path: Path) -> int:
    """Walk the record framing, checking each length header's checksum.

    A file cut inside a record is an error (tf.data would drop it silently), and so is a corrupt
    length header; record bodies are checked by tf.data as they are read.
    """
    zipped = is_gzip(path)
    n = 0
    try:
        with (gzip.open if zipped else open)(path, "rb") as f:
            while True:
                header = f.read(12)
                if not header:
                    return n
                if len(header) < 12:
                    break
                (length,) = struct.unpack("<Q", header[:8])
                if struct.unpack("<I", header[8:])[0] != masked_crc(header[:8]):
                    if n == 0:
                        raise LstmpruneError(
                            f"{path} is {_looks_like(path)}, not a TFRecord file; lstmprune reads {READ_FORMATS}"
                        )
                    raise LstmpruneError(f"{path} record {n} has a corrupt length header; the file is damaged")
                if zipped:
                    if len(f.read(length + 4)) < length + 4:
                        break
                elif f.seek(length + 4, 1) > path.stat().st_size:
                    break
                n += 1
    except (OSError, EOFError, zlib.error) as e:
        raise LstmpruneError(f"{path} is not a readable TFRecord file (record {n}): {e}") from e
    raise LstmpruneError(f"{path} is truncated: record {n} is cut short; expected complete TFRecord records")


def _looks_like(path: Path) -> str:
    kind = sniff(path)
    if kind == "text":
        with open(path, "rb") as f:
            head = f.read(4096).decode("utf-8", "replace").lower()
        if "@problemname" in head or "@data" in head:
            return "a UEA/UCR .ts time-series file (convert it to an .npz with arrays x and y)"
        return "plain text"
    return {"npy": "a .npy array", "npz": "an .npz archive"}.get(kind, "of an unknown format")


def first_records(path: Path, count: int = 1) -> list[bytes]:
    """Up to `count` first serialized records of a file; a damaged record after the first ends the list
    (the pass over the data reports it with its index)."""
    import tensorflow as tf

    out = []
    try:
        ds = tf.data.TFRecordDataset(str(path), compression_type="GZIP" if is_gzip(path) else "")
        for r in ds.take(count):
            out.append(r.numpy())
    except tf.errors.OpError as e:
        if not out:
            raise LstmpruneError(f"{path} record 0 cannot be read: {e.message.splitlines()[0]}") from e
    return out


def describe_record(
    raw: bytes, where: Path | str = ""
) -> tuple[str, dict[str, tuple[str, int]], dict[str, tuple[str, int]]]:
    """("sequence" | "example", per-frame features {name: (kind, values per frame)}, context {name: (kind, values)}).

    For an Example, every feature is in the context dict (a flat list per record).
    """
    seq = parse_record(raw, where)
    context = {k: _kind(v) for k, v in seq.context.feature.items()}
    lists = seq.feature_lists.feature_list
    if not lists:
        return "example", {}, context
    frames = {}
    for name, fl in lists.items():
        frames[name] = _kind(fl.feature[0]) if fl.feature else ("empty", 0)
    return "sequence", frames, context


def describe_records(raws: list[bytes], where: Path | str) -> tuple[str, dict, dict]:
    """`describe_record` over several records: a feature empty in the first record takes its kind from the next."""
    kind, frames, context = describe_record(raws[0], where)
    for raw in raws[1:]:
        if all(k != "empty" for k, _ in frames.values()):
            break
        _, more, _ = describe_record(raw, where)
        frames = {n: (more.get(n, v) if v[0] == "empty" else v) for n, v in frames.items()}
    return kind, frames, context


def parse_record(raw: bytes, where: Path | str = ""):
    """A record as a tf.train.SequenceExample (an Example parses as one with no feature lists)."""
    import tensorflow as tf
    from google.protobuf.message import DecodeError

    try:
        return tf.train.SequenceExample.FromString(raw)
    except DecodeError as e:
        raise LstmpruneError(
            f"{where or 'data'}: a record's payload is not a tf.train.Example or SequenceExample ({e}); "
            "the file holds other data"
        ) from e


def _kind(feature) -> tuple[str, int]:
    which = feature.WhichOneof("kind")
    if which == "bytes_list":
        values = feature.bytes_list.value
        return "bytes", len(values[0]) if values else 0
    if which == "float_list":
        return "float", len(feature.float_list.value)
    if which == "int64_list":
        return "int", len(feature.int64_list.value)
    return "empty", 0


def inspect(spec: str, sample: int = 100) -> dict:
    """What a TFRecord source holds: files, records, the record type and every feature with the lengths seen."""
    if sample < 1:
        raise LstmpruneError(f"sample must be at least 1; received {sample}", option="sample")
    files = tfrecord_files(spec)
    counts = [count_records(f) for f in files]
    first = next((f for f, n in zip(files, counts) if n > 0), None)
    if first is None:
        raise LstmpruneError(f"the data files ({', '.join(map(str, files[:3]))}) hold no records")
    raws = first_records(first, sample)
    kind, frames, context = describe_records(raws, first)
    lengths: dict[str, list[int]] = {name: [] for name in frames}
    for raw in raws:
        seq = parse_record(raw, first)
        for name in frames:
            lengths[name].append(len(seq.feature_lists.feature_list[name].feature))
    rows = [
        {"name": n, "where": "per frame", "kind": k, "values": v, "frames": _spread(lengths[n])}
        for n, (k, v) in frames.items()
    ]
    spreads = _example_spreads(raws) if kind == "example" else {}
    rows += [
        {
            "name": n,
            "where": "context" if kind == "sequence" else "example",
            "kind": k,
            "values": v,
            "frames": None,
            **({"values_seen": spreads[n]} if n in spreads else {}),
        }
        for n, (k, v) in context.items()
    ]
    names = set(frames) if kind == "sequence" else set(context)
    preset = next((p for p, need in PRESETS.items() if all(n in names for n in need)), None)
    return {
        "files": [str(f) for f in files],
        "records": sum(counts),
        "record_type": kind,
        "compression": compression_of(files),
        "preset": preset,
        "sampled": len(raws),
        "features": rows,
    }


def _example_spreads(raws: list[bytes]) -> dict[str, dict[str, int]]:
    """Values per record of each feature over the sampled Example records (min, median, max), decoded by
    tfrecord-lite. Only here: the records were read by tf.data (both checksums verified) and parse as Examples,
    the one record type tfrecord-lite decodes whole (it silently drops a SequenceExample's frames)."""
    from tfrecord_lite import decode_example

    counts: dict[str, list[int]] = {}
    for raw in raws:
        for name, values in decode_example(raw).items():
            counts.setdefault(name, []).append(len(values))
    return {name: _spread(c) for name, c in counts.items() if len(c) == len(raws)}


def compression_of(files: list[Path]) -> str | None:
    """'GZIP', None (plain) or 'mixed' for a set of files (each file is read with its own)."""
    found = {is_gzip(f) for f in files}
    return "mixed" if len(found) > 1 else ("GZIP" if found == {True} else None)


def _spread(values: list[int]) -> dict[str, int]:
    s = sorted(values)
    return {"min": s[0], "median": s[len(s) // 2], "max": s[-1]}


def _tfrecord_schema(spec: str, options: Options, model_input: InputSpec) -> Schema:
    files = tfrecord_files(spec)
    counts = [count_records(f) for f in files]
    if sum(counts) == 0:
        raise LstmpruneError(f"the data files ({', '.join(map(str, files[:3]))}) hold no records")
    first = next(f for f, n in zip(files, counts) if n > 0)
    kind, frames, context = describe_records(first_records(first, 20), first)
    table = frames if kind == "sequence" else context
    if options.features:
        names, preset = list(options.features), "custom"
    else:
        preset = next((p for p, need in PRESETS.items() if all(n in table for n in need)), "")
        names = (
            list(PRESETS[preset]) if preset else [n for n, (k, _) in table.items() if k in ("bytes", "float", "int")]
        )
        if kind == "example":
            names = [n for n in names if n not in ("labels", "id", "video_id", "label")]
        if not preset and len(names) != 1:
            raise LstmpruneError(
                f"{first} has features {sorted(table)}; pass features NAMES to choose the model's input "
                "(or use the YouTube-8M / AudioSet layout)",
                option="features",
            )
        preset = preset or "single"
    features = []
    for name in names:
        if name not in table:
            raise LstmpruneError(f"{first} record 0 has no feature '{name}'; it has {sorted(table)}")
        k, n = table[name]
        if k == "empty":
            raise LstmpruneError(f"{first} record 0: feature '{name}' is empty")
        features.append(Feature(name, k, 1 if k == "int" else n))
    if kind == "example" and not any(f.kind == "int" for f in features):
        features = _example_frames(features, model_input, str(first))
    dequantize = options.dequantize if options.dequantize is not None else True
    compression = compression_of(files) or ""
    label = options.labels or ("labels" if context.get("labels", ("",))[0] == "int" else None)
    if options.labels and context.get(options.labels, ("",))[0] != "int":
        raise LstmpruneError(f"{first} record 0 has no integer context feature '{options.labels}' to use as labels")
    files = [str(f) for f in files]
    return Schema(kind, preset, features, options, dequantize, compression, files, sum(counts), label)


def _example_frames(features: list[Feature], model_input: InputSpec, where: str) -> list[Feature]:
    """Flat Example features (values per record) as frames: every record holds steps x width values."""
    held = " + ".join(f"{f.name} ({f.dim} values)" for f in features)
    total, width = sum(f.dim for f in features), model_input.dim
    if len(features) == 1 and width and total % width == 0:
        return [Feature(features[0].name, features[0].kind, width)]
    steps = model_input.length
    if steps and total == steps * width and all(f.dim % steps == 0 for f in features):
        return [Feature(f.name, f.kind, f.dim // steps) for f in features]
    need = f"{steps} steps x {width} features = {steps * width}" if steps else f"a multiple of {width}"
    raise LstmpruneError(
        f"{where} record 0: Example features {held} hold {total} values per record; the model's input takes {need}"
        + ("" if len(features) == 1 else ", with every feature split evenly over the steps")
    )


def batches(stream) -> Iterator:
    """Padded batches of parsed records, file by file, each file with its own compression."""
    import tensorflow as tf

    schema, (shard, shards) = stream.schema, stream.schema.options.shard
    parse = record_parser(schema, stream.length, stream.classes)
    for path in schema.files:
        compression = "GZIP" if is_gzip(Path(path)) else ""  # each file its own: folders may mix
        ds = tf.data.TFRecordDataset(path, compression_type=compression).shard(shards, shard)
        ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
        frame = [stream.length] if schema.tokens else [stream.length, schema.dim]
        shapes = (frame, [], [], [stream.classes or 0])
        ds = ds.padded_batch(stream.batch_size, padded_shapes=shapes).prefetch(tf.data.AUTOTUNE)
        done = 0
        try:
            for x, n, ok, y in ds:
                index = shard + shards * (done + np.arange(len(n)))
                done += len(n)
                yield stream.keep(x, n.numpy(), ok.numpy(), path, index, y)
        except tf.errors.OpError as e:
            first = shard + shards * done
            span = f"{first}..{first + shards * (stream.batch_size - 1)}"
            raise LstmpruneError(read_error(path, span, e.message, schema)) from e


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


def record_parser(schema: Schema, length: int | None, classes: int | None = None):
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
