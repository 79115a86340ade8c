"""The array source: one .npy (sequences, time[, features]) or an .npz with `x` and labels `y`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ...core.errors import LstmpruneError
from ...core.files import regular_file
from ...core.schema import Feature, Options, Schema


def detect(path: Path, kind: str, options: Options) -> bool:
    return kind in ("npy", "npz")


def schema(spec: str, options: Options, model_input) -> Schema:
    return _numpy_schema(Path(spec), options, tokens=bool(model_input and model_input.tokens))


def _numpy_schema(path: Path, options: Options, tokens: bool = False) -> Schema:
    """tokens: the model takes token ids; a float array of whole numbers is read as ids then."""
    array = load_array(path)
    if array.dtype.kind not in "iuf":
        raise LstmpruneError(
            f"{path} holds {array.dtype} values; expected real numbers (float) or token ids (int), nothing is cast"
        )
    if array.ndim not in (2, 3) or array.shape[0] == 0:
        raise LstmpruneError(f"{path} holds an array of shape {array.shape}; expected (sequences, time[, features])")
    is_int = np.issubdtype(array.dtype, np.integer) or (tokens and array.ndim == 2 and _integral(array))
    dim = 1 if array.ndim == 2 else array.shape[2]
    feature = Feature(path.stem, "int" if is_int else "float", dim)
    return Schema("numpy", "array", [feature], options, False, "", [str(path)], int(array.shape[0]))


def _integral(array: np.ndarray, sample: int = 4096) -> bool:
    """Whether a float array holds whole numbers (token ids saved as floats), judged on its first rows."""
    head = np.asarray(array[: max(1, sample // max(1, array.shape[1]))])
    return bool(np.all(np.isfinite(head)) and np.all(head == np.round(head)) and head.min(initial=0) >= 0)


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
    if y.ndim == 1 and classes == 1:  # one output: a binary label or a regression target per sequence
        return y.reshape(-1, 1).astype(np.float32)
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


def inspect(path: Path) -> dict:
    """What an .npy / .npz holds, in `inspect`'s report: every array, its shape and dtype, and how lstmprune
    reads it ('x': sequences, whole-number floats as token ids; 'y': labels or targets)."""
    path = Path(path)
    regular_file(path, "data", "a .npy or .npz file")
    try:
        with np.load(path, mmap_mode="r", allow_pickle=False) as f:
            arrays = {k: (f[k].shape, f[k].dtype) for k in f.files}
    except AttributeError:  # a .npy: one array, not a mapping
        a = np.load(path, mmap_mode="r", allow_pickle=False)
        arrays = {"x": (a.shape, a.dtype)}
    except (OSError, ValueError) as e:
        raise LstmpruneError(f"cannot read {path} as numpy arrays: {e}") from e
    rows = []
    for name, (shape, dtype) in arrays.items():
        role = _role(name, arrays)
        steps = len(shape) >= 2 and role.startswith("sequences")
        rows.append(
            {
                "name": name,
                "where": role,
                "kind": f"{dtype} {'x'.join(map(str, shape))}",
                "values": shape[2] if len(shape) == 3 else 1 if steps else int(np.prod(shape[1:])),
                "frames": {"min": shape[1], "median": shape[1], "max": shape[1]} if steps else None,
            }
        )
    first = next(iter(arrays.values()), ((0,), None))[0]
    return {
        "files": [str(path)],
        "records": int(first[0]) if first else 0,
        "record_type": "numpy",
        "compression": None,
        "preset": None,
        "sampled": int(first[0]) if first else 0,
        "features": rows,
    }


def _role(name: str, arrays: dict) -> str:
    if name == "x" or len(arrays) == 1:
        shape, dtype = arrays[name]
        ids = np.issubdtype(dtype, np.integer) and len(shape) == 2
        return "sequences (token ids)" if ids else "sequences (frames)" if len(shape) == 3 else "sequences"
    if name == "y":
        return "labels or targets"
    return "not read"
