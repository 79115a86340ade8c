"""The array source: one .npy (sequences, time[, features]) or an .npz with `x` and labels `y`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..core.errors import LstmpruneError
from ..core.schema import Feature, Options, Schema


def detect(path: Path, kind: str, options: Options) -> bool:
    return kind in ("npy", "npz")


def schema(spec: str, options: Options, model_input) -> Schema:
    return _numpy_schema(Path(spec), options)


def _numpy_schema(path: Path, options: Options) -> Schema:
    array = load_array(path)
    if array.dtype.kind not in "iuf":
        raise LstmpruneError(
            f"{path} holds {array.dtype} values; expected real numbers (float) or token ids (int), nothing is cast"
        )
    if array.ndim not in (2, 3) or array.shape[0] == 0:
        raise LstmpruneError(f"{path} holds an array of shape {array.shape}; expected (sequences, time[, features])")
    is_int = np.issubdtype(array.dtype, np.integer)
    dim = 1 if array.ndim == 2 else array.shape[2]
    feature = Feature(path.stem, "int" if is_int else "float", dim)
    return Schema("numpy", "array", [feature], options, False, "", [str(path)], int(array.shape[0]))


def load_array(path: Path, name: str = "x") -> np.ndarray:
    if not path.exists():
        raise LstmpruneError(f"data {path} does not exist; expected a .npy or .npz file")
    try:
        if path.suffix == ".npy":
            if name != "x":
                raise LstmpruneError(f"{path} is one array; targets need an .npz with arrays 'x' and '{name}'")
            return np.load(path, mmap_mode="r", allow_pickle=False)
        with np.load(path, allow_pickle=False) as f:
            keys = list(f.keys())
            key = name if name in keys else keys[0] if len(keys) == 1 and name == "x" else None
            if key is None:
                raise LstmpruneError(f"{path} holds arrays {keys}; expected one named '{name}'")
            return f[key]

    except (OSError, ValueError) as e:
        raise LstmpruneError(f"cannot read {path} as a numpy array: {e}") from e


def batches(stream) -> Iterator:
    """Batches of an array file, through `stream`'s rules; with classes, (x, y) from its 'y'."""
    path = Path(stream.schema.files[0])
    array = load_array(path)
    labels = load_array(path, "y") if stream.classes else None
    if labels is not None and labels.shape[:1] != array.shape[:1]:
        raise LstmpruneError(
            f"{path}: 'y' holds {len(labels) if labels.ndim else 0} labels; 'x' holds {len(array)} sequences"
        )
    shard, shards = stream.schema.options.shard
    rows = np.arange(shard, array.shape[0], shards)
    for start in range(0, len(rows), stream.batch_size):
        index = rows[start : start + stream.batch_size]
        x = np.asarray(array[index])  # (B, T, F) or (B, T)
        n = np.full(len(x), x.shape[1])
        ok = np.isfinite(x.reshape(len(x), -1)).all(axis=1) if x.dtype.kind == "f" else np.ones(len(x), bool)
        x = _fit_array(x, stream.length, stream.schema.options.fit)
        y = None if labels is None else class_targets(np.asarray(labels[index]), stream.classes, path)
        yield stream.keep(x.astype(np.int32 if stream.schema.tokens else np.float32), n, ok, str(path), index, y)


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


def _fit_array(x: np.ndarray, length: int | None, fit: str) -> np.ndarray:
    if not length or x.shape[1] == length:
        return x
    if x.shape[1] > length:
        idx = np.round(np.linspace(0, x.shape[1] - 1, length)).astype(int) if fit == "sample" else np.arange(length)
        return x[:, idx]
    pad = [(0, 0), (0, length - x.shape[1])] + [(0, 0)] * (x.ndim - 2)
    return np.pad(x, pad)
