"""TFRecord files: listing, framing checks (truncation), and what their first records hold."""

from __future__ import annotations

import glob
import gzip
import struct
import zlib
from pathlib import Path

from ..core.errors import LstmpruneError


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


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


READ_FORMATS = "TFRecord (Example or SequenceExample, plain or GZIP), .npy / .npz arrays, or a text corpus with --vocab"


def sniff(path: Path) -> str:
    """The format of a data file from its first bytes: 'tfrecord', 'npy', 'npz', 'text' or 'unknown'."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as f:
                inner = f.read(12)
            return "tfrecord" if _framed(inner) else "unknown"
    except (OSError, EOFError, zlib.error):
        return "unknown"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PK\x03\x04"):
        return "npz"
    if _framed(head):
        return "tfrecord"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # a multi-byte character cut at the end of the sample is still text
            return "unknown"
    return "text" if head else "unknown"


def _framed(head: bytes) -> bool:
    """A TFRecord length header with a valid checksum."""
    return len(head) >= 12 and struct.unpack("<I", head[8:12])[0] == _masked_crc(head[:8])


def _crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _table()


def _masked_crc(data: bytes) -> int:
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


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
                if struct.unpack("<I", header[8:])[0] != _masked_crc(header[:8]):
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
        raise LstmpruneError(f"--sample must be at least 1; received {sample}")
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
    rows += [
        {"name": n, "where": "context" if kind == "sequence" else "example", "kind": k, "values": v, "frames": None}
        for n, (k, v) in context.items()
    ]
    from .data import PRESETS

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


def compression_of(files: list[Path]) -> str | None:
    """'GZIP', None (plain) or 'mixed' for a set of files (each file is read with its own)."""
    found = {is_gzip(f) for f in files}
    return "mixed" if len(found) > 1 else ("GZIP" if found == {True} else None)


def _spread(values: list[int]) -> dict[str, int]:
    s = sorted(values)
    return {"min": s[0], "median": s[len(s) // 2], "max": s[-1]}
