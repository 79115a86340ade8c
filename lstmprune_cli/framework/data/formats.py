"""What a data file holds, from its first bytes: the detection every data source shares."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


READ_FORMATS = (
    "TFRecord (Example or SequenceExample, plain or GZIP), .npy / .npz arrays, or a text corpus with its vocabulary"
)


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
    return len(head) >= 12 and struct.unpack("<I", head[8:12])[0] == masked_crc(head[:8])


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


def masked_crc(data: bytes) -> int:
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
