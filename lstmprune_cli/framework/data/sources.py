"""Calibration data streamed as model-ready batches: TFRecord SequenceExamples or Examples (tf.data),
.npy / .npz arrays, and plain-text corpora cut into token windows.

The YouTube-8M frame-level layout (per-frame uint8 `rgb` + `audio`) and the AudioSet layout
(`audio_embedding`) are detected from the first record; anything else maps through `Options`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ...core.errors import LstmpruneError
from ...core.files import regular_file
from ...core.schema import Options, Schema
from . import arrays, text, tfrecords
from .formats import sniff


@dataclass(frozen=True)
class Source:
    """One data format: whether it claims the data, the schema it reads, and its raw batches.

    detect(path, kind sniffed from the content, options) -> bool; schema(spec, options, InputSpec)
    -> Schema; batches(stream) -> raw batches that `Stream` filters and counts.
    """

    name: str
    kinds: tuple[str, ...]  # the Schema.source values it yields
    detect: Callable[[Path, str, Options], bool]
    schema: Callable[[str, Options, InputSpec], Schema]
    batches: Callable[..., Iterator]


SOURCES: dict[str, Source] = {  # asked in this order; the last claims everything else
    "arrays": Source("arrays", ("numpy",), arrays.detect, arrays.schema, arrays.batches),
    "text": Source("text", ("text",), text.detect, text.schema, text.batches),
    "tfrecord": Source("tfrecord", ("sequence", "example"), tfrecords.detect, tfrecords.schema, tfrecords.batches),
}


def source_of(schema: Schema) -> Source:
    """The source that reads a resolved schema."""
    return next(s for s in SOURCES.values() if schema.source in s.kinds)


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
        embedding = input_embedding(model)
        if len(shape) == 2 and ("int" in dtype or embedding is not None):  # Keras gives an Input float32 by default
            embedding = embedding or next((la for la in model.layers if type(la).__name__ == "Embedding"), None)
            return cls(shape[1], None, True, getattr(embedding, "input_dim", None))
        if len(shape) != 3:
            raise LstmpruneError(f"the model's input has shape {shape}; expected (batch, time, features) or token ids")
        return cls(shape[1], shape[2], False)


def input_embedding(model, index: int = 0):
    """The `Embedding` that reads the model's input `index` directly (Keras 3 or tf-keras), or None: such an
    input takes token ids, whatever its dtype."""
    x = model.inputs[index]
    for layer in model.layers:
        if type(layer).__name__ == "Embedding":
            try:
                reads = layer.input
            except (AttributeError, ValueError, RuntimeError):  # a layer called more than once
                continue
            if reads is x or getattr(reads, "name", None) == getattr(x, "name", ""):
                return layer
    return None


def resolve(spec: str, options: Options, model_input: InputSpec) -> Schema:
    """Detect the format of the data from its content, its layout, and check both against the model's input."""
    path = Path(spec)
    if path.exists() and not (path.is_file() or path.is_dir()):
        regular_file(path, "data", "a TFRecord file, a directory, a glob, a .npy/.npz array or a text corpus")
    kind = sniff(path) if path.is_file() else ("npy" if path.suffix in (".npy", ".npz") else "tfrecord")
    if options.vocab is not None and not Path(options.vocab).is_file():
        raise LstmpruneError(f"vocabulary {options.vocab} does not exist; expected the model's tokens, one per line")
    if options.vocab is not None and kind not in ("text", "unknown"):
        raise LstmpruneError(f"vocab applies to plain-text corpora; {spec} holds {kind} data", option="vocab")
    source = next(s for s in SOURCES.values() if s.detect(path, kind, options))
    schema = source.schema(spec, options, model_input)
    _check_fits(schema, model_input)
    return schema


def _check_fits(schema: Schema, model_input: InputSpec) -> None:
    if model_input.tokens != schema.tokens:
        want = "token ids" if model_input.tokens else f"frames of {model_input.dim} features"
        got = "token ids" if schema.tokens else f"frames of {schema.dim} features"
        raise LstmpruneError(f"the data holds {got}; the model's input expects {want}")
    if schema.source == "text" and model_input.vocab:
        vocab = Path(schema.options.vocab)
        size = len(text.read_vocab(vocab))
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
