"""Calibration data streamed as model-ready batches: TFRecord SequenceExamples or Examples (tf.data),
.npy / .npz arrays, and plain-text corpora cut into token windows.

The YouTube-8M frame-level layout (per-frame uint8 `rgb` + `audio`) and the AudioSet layout
(`audio_embedding`) are detected from the first record; anything else maps through `Options`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import LstmpruneError
from ..core.schema import Feature, Options, Schema
from .tfrecords import count_records, describe_record, first_records, is_gzip, tfrecord_files

PRESETS = {"youtube8m": ("rgb", "audio"), "audioset": ("audio_embedding",)}


@dataclass
class InputSpec:
    """What the model takes: sequence length (None: free), features per step (None for token ids)."""

    length: int | None
    dim: int | None
    tokens: bool

    @classmethod
    def of(cls, model) -> InputSpec:
        if len(model.inputs) != 1:
            raise LstmpruneError(
                f"the model has {len(model.inputs)} inputs; lstmprune reads data for models with one input"
            )
        shape, dtype = tuple(model.inputs[0].shape), str(model.inputs[0].dtype)
        if len(shape) == 2 and "int" in dtype:
            return cls(shape[1], None, True)
        if len(shape) != 3:
            raise LstmpruneError(f"the model's input has shape {shape}; expected (batch, time, features) or token ids")
        return cls(shape[1], shape[2], False)


def resolve(spec: str, options: Options, model_input: InputSpec) -> Schema:
    """Detect the layout of the data and check it against the model's input."""
    path = Path(spec)
    if path.suffix in (".npy", ".npz"):
        schema = _numpy_schema(path, options)
    elif options.vocab is not None or path.suffix == ".txt":
        schema = _text_schema(path, options)
    else:
        schema = _tfrecord_schema(spec, options, model_input)
    _check_fits(schema, model_input)
    return schema


def _tfrecord_schema(spec: str, options: Options, model_input: InputSpec) -> Schema:
    files = tfrecord_files(spec)
    counts = [count_records(f) for f in files]
    if sum(counts) == 0:
        raise LstmpruneError(f"the data files ({', '.join(map(str, files[:3]))}) hold no records")
    first = next(f for f, n in zip(files, counts) if n > 0)
    kind, frames, context = describe_record(first_records(first)[0])
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
                f"{first} has features {sorted(table)}; pass --features NAMES to choose the model's input "
                "(or use the YouTube-8M / AudioSet layout)"
            )
        preset = preset or "single"
    features = []
    for name in names:
        if name not in table:
            raise LstmpruneError(f"{first} record 0 has no feature '{name}'; it has {sorted(table)}")
        k, n = table[name]
        if k == "empty":
            raise LstmpruneError(f"{first} record 0: feature '{name}' is empty")
        if kind == "example" and k != "int":
            n = _example_dim(name, n, len(names), model_input)
        features.append(Feature(name, k, 1 if k == "int" else n))
    dequantize = options.dequantize if options.dequantize is not None else True
    compression = "GZIP" if is_gzip(first) else ""
    label = options.labels or ("labels" if context.get("labels", ("",))[0] == "int" else None)
    if options.labels and context.get(options.labels, ("",))[0] != "int":
        raise LstmpruneError(f"{first} record 0 has no integer context feature '{options.labels}' to use as labels")
    files = [str(f) for f in files]
    return Schema(kind, preset, features, options, dequantize, compression, files, sum(counts), label)


def _example_dim(name: str, values: int, count: int, model_input: InputSpec) -> int:
    """Values per frame of a flat Example feature: the model's width, or values / length for several."""
    if count == 1 and model_input.dim:
        return model_input.dim
    if model_input.length and values % model_input.length == 0:
        return values // model_input.length
    raise LstmpruneError(f"cannot tell the frame width of Example feature '{name}' ({values} values); use one feature")


def _numpy_schema(path: Path, options: Options) -> Schema:
    array = _load_array(path)
    if array.ndim not in (2, 3) or array.shape[0] == 0:
        raise LstmpruneError(f"{path} holds an array of shape {array.shape}; expected (sequences, time[, features])")
    is_int = np.issubdtype(array.dtype, np.integer)
    dim = 1 if array.ndim == 2 else array.shape[2]
    feature = Feature(path.stem, "int" if is_int else "float", dim)
    return Schema("numpy", "array", [feature], options, False, "", [str(path)], int(array.shape[0]))


def _load_array(path: Path, name: str = "x") -> np.ndarray:
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


def _text_schema(path: Path, options: Options) -> Schema:
    if not path.is_file():
        raise LstmpruneError(f"data {path} does not exist; expected a text corpus")
    if options.vocab is None:
        raise LstmpruneError(f"text data {path} needs --vocab FILE: the model's tokens, one per line, in id order")
    words = sum(len(line.split()) + 1 for line in path.open())
    return Schema("text", "tokens", [Feature("tokens", "int", 1)], options, False, "", [str(path)], words)


def _check_fits(schema: Schema, model_input: InputSpec) -> None:
    if model_input.tokens != schema.tokens:
        want = "token ids" if model_input.tokens else f"frames of {model_input.dim} features"
        got = "token ids" if schema.tokens else f"frames of {schema.dim} features"
        raise LstmpruneError(f"the data holds {got}; the model's input expects {want}")
    if not schema.tokens and schema.dim != model_input.dim:
        names = " + ".join(f"{f.name} {f.dim}" for f in schema.features)
        raise LstmpruneError(
            f"data frames have {schema.dim} features ({names}); the model's input expects {model_input.dim}"
        )
