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
from .tfrecords import (
    compression_of,
    count_records,
    describe_records,
    first_records,
    sniff,
    tfrecord_files,
)

PRESETS = {"youtube8m": ("rgb", "audio"), "audioset": ("audio_embedding",)}


@dataclass
class InputSpec:
    """What the model takes: sequence length (None: free), features per step (None for token ids)."""

    length: int | None
    dim: int | None
    tokens: bool
    vocab: int | None = None  # input_dim of the Embedding that reads token ids

    @classmethod
    def of(cls, model) -> InputSpec:
        if len(model.inputs) != 1:
            raise LstmpruneError(
                f"the model has {len(model.inputs)} inputs; lstmprune reads data for models with one input"
            )
        shape, dtype = tuple(model.inputs[0].shape), str(model.inputs[0].dtype)
        if len(shape) == 2 and "int" in dtype:
            embedding = next((layer for layer in model.layers if type(layer).__name__ == "Embedding"), None)
            return cls(shape[1], None, True, getattr(embedding, "input_dim", None))
        if len(shape) != 3:
            raise LstmpruneError(f"the model's input has shape {shape}; expected (batch, time, features) or token ids")
        return cls(shape[1], shape[2], False)


def resolve(spec: str, options: Options, model_input: InputSpec) -> Schema:
    """Detect the format of the data from its content, its layout, and check both against the model's input."""
    path = Path(spec)
    kind = sniff(path) if path.is_file() else ("npy" if path.suffix in (".npy", ".npz") else "tfrecord")
    if options.vocab is not None and not Path(options.vocab).is_file():
        raise LstmpruneError(f"vocabulary {options.vocab} does not exist; expected the model's tokens, one per line")
    if options.vocab is not None and kind not in ("text", "unknown"):
        raise LstmpruneError(f"--vocab applies to plain-text corpora; {spec} holds {kind} data")
    if kind in ("npy", "npz"):
        schema = _numpy_schema(path, options)
    elif kind == "text" and (options.vocab is not None or path.suffix == ".txt"):
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


def _numpy_schema(path: Path, options: Options) -> Schema:
    array = _load_array(path)
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
    try:
        words = sum(len(line.split()) + 1 for line in path.open(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise LstmpruneError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start}); expected a text corpus") from e
    return Schema("text", "tokens", [Feature("tokens", "int", 1)], options, False, "", [str(path)], words)


def read_vocab(path: Path) -> list[str]:
    """The tokens of a vocabulary file, one per non-empty line, in id order."""
    try:
        return [w.strip() for w in Path(path).read_text(encoding="utf-8").splitlines() if w.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise LstmpruneError(f"cannot read vocabulary {path}: {e}") from e


def _check_fits(schema: Schema, model_input: InputSpec) -> None:
    if model_input.tokens != schema.tokens:
        want = "token ids" if model_input.tokens else f"frames of {model_input.dim} features"
        got = "token ids" if schema.tokens else f"frames of {schema.dim} features"
        raise LstmpruneError(f"the data holds {got}; the model's input expects {want}")
    if schema.source == "text" and model_input.vocab:
        vocab = Path(schema.options.vocab)
        size = len(read_vocab(vocab))
        if size != model_input.vocab:
            raise LstmpruneError(
                f"the vocabulary {vocab} has {size} tokens; the model's Embedding takes {model_input.vocab} "
                "(pass the vocabulary the model was trained with)"
            )
    if not schema.tokens and schema.dim != model_input.dim:
        names = " + ".join(f"{f.name} {f.dim}" for f in schema.features)
        raise LstmpruneError(
            f"data frames have {schema.dim} features ({names}); the model's input expects {model_input.dim}"
        )
