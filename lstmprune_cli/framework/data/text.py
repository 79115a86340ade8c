"""The text source: a plain-text corpus cut into windows of token ids, with the model's vocabulary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ...core.errors import LstmpruneError
from ...core.files import read_bounded
from ...core.schema import Feature, Options, Schema

DEFAULT_WINDOW = 35  # tokens per window when a language model takes any length (as Penn Treebank is used)


def detect(path: Path, kind: str, options: Options) -> bool:
    return kind == "text" and (options.vocab is not None or path.suffix == ".txt")


def schema(spec: str, options: Options, model_input) -> Schema:
    return _text_schema(Path(spec), options)


def _text_schema(path: Path, options: Options) -> Schema:
    if not path.is_file():
        raise LstmpruneError(f"data {path} does not exist; expected a text corpus")
    if options.vocab is None:
        raise LstmpruneError(
            f"text data {path} needs vocab FILE: the model's tokens, one per line, in id order", option="vocab"
        )
    try:
        words = sum(len(line.split()) + 1 for line in path.open(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise LstmpruneError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start}); expected a text corpus") from e
    return Schema("text", "tokens", [Feature("tokens", "int", 1)], options, False, "", [str(path)], words)


def read_vocab(path: Path) -> list[str]:
    """The tokens of a vocabulary file, one per non-empty line, in id order."""
    expected = "the model's tokens, one per line, in id order"
    try:
        raw = read_bounded(path, "vocabulary", expected, limit=256 << 20)
        tokens = [w.strip() for w in raw.decode("utf-8").splitlines() if w.strip()]
    except UnicodeDecodeError as e:
        raise LstmpruneError(f"cannot read vocabulary {path}: {e}") from e
    seen: dict[str, int] = {}
    for i, token in enumerate(tokens):
        if token in seen:
            raise LstmpruneError(
                f"vocabulary {path} lists '{token}' twice (ids {seen[token]} and {i}); expected {expected}, each once"
            )
        seen[token] = i
    return tokens


def batches(stream) -> Iterator:
    """Windows of token ids; with classes, (inputs, the next token of each)."""
    path, window = Path(stream.schema.files[0]), stream.length or DEFAULT_WINDOW
    ids = np.asarray(token_ids(path, Path(stream.schema.options.vocab)), dtype=np.int32)
    step = window
    span = window + 1 if stream.classes else window  # with targets: inputs and the next token of each
    starts = np.arange(0, len(ids) - span + 1, step)
    shard, shards = stream.schema.options.shard
    starts = starts[shard::shards]
    for first in range(0, len(starts), stream.batch_size):
        w = np.stack([ids[s : s + span] for s in starts[first : first + stream.batch_size]])  # (B, span)
        yield (w[:, :-1], w[:, 1:]) if stream.classes else w


def token_ids(corpus: Path, vocab: Path) -> list[int]:
    """Word ids of a whitespace-tokenised corpus, `<eos>` closing every line, unknown words as `<unk>`."""
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
