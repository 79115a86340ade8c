"""Part 2: the Penn Treebank experiment (paper Table I) at a size this machine trains in well under an hour.

A 2-layer LSTM language model (Embedding -> LSTM -> LSTM -> Dense(10,000, softmax)) over windows of 35
words; perplexity on the valid and test splits; ISS-GM against the baselines of compare.METHODS.
"""

from __future__ import annotations

import hashlib
import inspect
import time
from collections import Counter
from pathlib import Path

import numpy as np

from . import compare
from .common import CACHE, PTB, Mode, load, log, save, shuffled

WINDOW = 35
PAPER_KEPT = (236, 297)  # of 1500, 1500: ISS-GM in the paper's Table I
REFIT_WINDOWS = 512  # a refit of the 10,000-way head reads 512 x 35 steps: plenty for 201 inputs
SIZES = {  # hidden units, base epochs, statistics windows, fine-tuning windows, evaluation windows, thetas, seeds
    "quick": dict(
        hidden=64, epochs=1, base_windows=2000, stats=300, budget=300, evaluate=300, thetas=(0.5,), seeds=(0,)
    ),
    "full": dict(
        hidden=200,
        epochs=4,
        base_windows=None,
        stats=2000,
        budget=4000,
        evaluate=None,
        thetas=(0.5, 0.7),
        seeds=(0, 1, 2),
    ),
}


def vocabulary() -> Path:
    """The 10,000 words of ptb.train.txt, most frequent first, one per line (ids in line order)."""
    path = CACHE / "ptb.vocab"
    if not path.exists():
        lines = (PTB / "ptb.train.txt").read_text().splitlines()
        counts = Counter(w for line in lines for w in line.split() + ["<eos>"])

        CACHE.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(sorted(counts, key=lambda w: (-counts[w], w))) + "\n")
    return path


def windows(split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping windows of the split and their next words, (N, 35) int32 each, as lstmprune reads text."""
    from lstmprune_cli.framework.data.text import token_ids

    ids = np.asarray(token_ids(PTB / f"ptb.{split}.txt", vocabulary()), dtype=np.int32)
    n = (len(ids) - 1) // WINDOW
    x = ids[: n * WINDOW].reshape(n, WINDOW)  # (N, 35)
    y = ids[1 : n * WINDOW + 1].reshape(n, WINDOW)  # (N, 35)
    return x[:limit], y[:limit]


def build(hidden: int, vocab: int = 10_000, softmax: bool = True):
    """Initialised as Zaremba et al.'s models (uniform +-0.1, no forget-gate bias); Keras' defaults leave this
    model on the unigram plateau (loss 6.6) for the first thousand steps. softmax=False: logits, for training.
    """
    import keras

    init = keras.initializers.RandomUniform(-0.1, 0.1, seed=0)
    cells = dict(return_sequences=True, kernel_initializer=init, recurrent_initializer=init, unit_forget_bias=False)
    inputs = keras.Input((WINDOW,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocab, hidden, embeddings_initializer=init, name="embedding")(inputs)
    x = keras.layers.LSTM(hidden, name="lstm1", **cells)(x)
    x = keras.layers.LSTM(hidden, name="lstm2", **cells)(x)
    words = keras.layers.Dense(vocab, "softmax" if softmax else None, kernel_initializer=init, name="words")(x)
    return keras.Model(inputs, words, name="ptb_lm")


def base_path(mode: Mode) -> Path:
    """Where the trained language model of this mode is cached (a new name when its recipe changes)."""
    size = SIZES[mode.name]
    trains = {k: size[k] for k in ("hidden", "epochs", "base_windows")}  # not the thetas and seeds of the part
    recipe = hashlib.sha1((inspect.getsource(build) + inspect.getsource(base) + repr(trains)).encode()).hexdigest()
    return CACHE / f"ptb_lm_h{size['hidden']}_e{size['epochs']}_{mode.name}_{recipe[:8]}.keras"


def base(mode: Mode) -> Path:
    """The trained language model of this mode, trained once and cached."""
    import keras

    size = SIZES[mode.name]
    path = base_path(mode)
    if path.exists():
        return path
    keras.utils.set_random_seed(0)
    logits = build(size["hidden"], softmax=False)  # twice as fast to train as the softmax output here
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    logits.compile(keras.optimizers.Adam(2e-3, clipnorm=5.0), loss)
    x, y = windows("train", size["base_windows"])
    log(f"training the PTB base model: {x.shape[0]} windows x {size['epochs']} epochs, hidden {size['hidden']}")
    logits.fit(x, y, batch_size=32, epochs=size["epochs"], verbose=2, shuffle=True)
    clean = build(size["hidden"])  # the same weights behind a softmax, without the optimizer's state
    clean.set_weights(logits.get_weights())
    clean.compile("adam", "sparse_categorical_crossentropy")

    CACHE.mkdir(parents=True, exist_ok=True)
    clean.save(path)
    return path


DEFAULT = "default (uniform + OBS + refit)"
METHODS = [
    "ISS-GM",
    "L2-norm units",
    "uniform rates",
    "ISS-GM + refit",
    DEFAULT,
    "default, tuned from the refit",
]


class Kept:
    """compare.run's progress for a partial rerun: the saved rows of every method not rerun (the unpruned
    model's included)."""

    def __init__(self, rows: list[dict], rerun: tuple[str, ...]) -> None:
        self.rows = {(r["method"], r["theta"], r["seed"]): r for r in rows if r["method"] not in rerun}

    def done(self, method: str, theta: float, seed: int) -> dict | None:
        return self.rows.get((method, theta, seed))

    def add(self, row: dict) -> dict:
        return row


def rerun(mode: Mode, methods: tuple[str, ...]) -> dict:
    """`python -m bench.ptb METHOD...`: only these methods' rows run again, the others kept from the saved part;
    `rerun` records which and when. For a change that touches these methods alone."""
    saved = load(mode, "ptb")
    if not saved:
        raise SystemExit("no saved ptb part to rerun rows of: run `python -m bench.run --only ptb`")
    result = part(mode, keep=Kept(saved["rows"], methods))
    when = time.strftime("%Y-%m-%d %H:%M")
    result["rerun"] = {**saved.get("rerun", {}), **{m: when for m in methods}}
    result["rerun_from"] = saved.get("rerun_from") or saved["written"]
    save(mode, "ptb", result)
    return result


def part(mode: Mode, keep: Kept | None = None) -> dict:
    size = SIZES[mode.name]
    rows, info = compare_on_ptb(mode, METHODS, size["thetas"], size["seeds"], epochs=1, keep=keep)
    result = {"size": dict(size), **info, "rows": rows, "paper_kept": PAPER_KEPT, "base": base_digest(mode)}
    save(mode, "ptb", result)
    return result


def base_digest(mode: Mode) -> str:
    """The trained base model's fingerprint, its weights' (the file also holds the date it was saved): rows compared
    in one table must come from the same weights. A clone without bench/.cache trains the model again; here that
    gives the same weights, but another version of Keras or TensorFlow need not."""
    import numpy as np

    from lstmprune_cli.framework import models

    weights = models.load_model(base(mode)).get_weights()
    return hashlib.sha1(b"".join(np.ascontiguousarray(w).tobytes() for w in weights)).hexdigest()[:12]


def defaults(mode: Mode, thetas, seeds, epochs: int) -> list[dict]:
    """The default cut fine-tuned for `epochs` as part 2 tunes it, at these thetas and seeds: the one-shot rows
    beside learned ones in the same run, on the same base model (the unpruned model is not tuned again)."""
    placeholder = Kept([{"method": "unpruned", "theta": 0.0, "seed": s} for s in seeds], ())
    rows, _ = compare_on_ptb(mode, [DEFAULT], tuple(thetas), tuple(seeds), epochs=epochs, keep=placeholder)
    return [r for r in rows if r["method"] != "unpruned"]


def compare_on_ptb(mode: Mode, methods, thetas, seeds, *, epochs: int, keep: Kept | None) -> tuple[list[dict], dict]:
    """compare.run on the base model: statistics from train, fine-tuning on its last windows validated on the
    last 1,000 of valid, perplexity on valid and test; the rows and the data's sizes."""
    from lstmprune_cli.core.schema import Options
    from lstmprune_cli.framework import jobs, models
    from lstmprune_cli.framework.data import calibration as calibration_batches
    from lstmprune_cli.framework.models.tasks import Task
    from lstmprune_cli.framework.train.loop import evaluate

    size = SIZES[mode.name]
    path = base(mode)
    stats = jobs.analyze.analyze(
        path, str(PTB / "ptb.train.txt"), Options(vocab=str(vocabulary())), max_samples=size["stats"], every_step=True
    ).statistics
    train = windows("train")
    budget = train[0][-size["budget"] :], train[1][-size["budget"] :]  # the end of train: base training saw it too
    held = {split: windows(split, size["evaluate"]) for split in ("valid", "test")}
    task = Task("lm", 10_000)

    def score(model) -> dict:
        return {s: evaluate(model, shuffled(*xy, 0, 256), task).metrics["perplexity"] for s, xy in held.items()}

    options = Options(vocab=str(vocabulary()))
    model = models.load_model(path)
    batches = calibration_batches(model, str(PTB / "ptb.train.txt"), options, max_samples=REFIT_WINDOWS)
    tuning = lambda s: shuffled(*budget, s)  # noqa: E731
    recipe = dict(epochs=epochs, learning_rate=1e-3, steps_per_epoch=-(-len(budget[0]) // 64))  # shuffled's batches
    picked = windows("valid")
    picked = picked[0][-1000:], picked[1][-1000:]
    validation = lambda: shuffled(*picked, 0, 256)  # noqa: E731  (finetune --val: the start)
    rows = compare.run(
        path,
        stats,
        thetas,
        seeds,
        tuning,
        score,
        recipe,
        calibration=batches,
        methods=methods,
        validation=validation,
        progress=keep,
    )
    info = {
        "windows": {"train": len(train[0]), **{s: len(xy[0]) for s, xy in held.items()}},
        "statistics_samples": next(iter(stats.stats.values())).count,
    }
    return rows, info


if __name__ == "__main__":
    import sys

    from lstmprune_cli.framework import import_tensorflow

    from .common import mode

    unknown = set(sys.argv[1:]) - set(METHODS)
    if not sys.argv[1:] or unknown:
        names = " ".join(repr(m) for m in METHODS)
        raise SystemExit(f"usage: python -m bench.ptb METHOD... (any of {names}); received {sys.argv[1:]}")
    import_tensorflow()
    rerun(mode("full"), tuple(sys.argv[1:]))
