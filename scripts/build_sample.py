"""Build the shipped sample: a miniature of the paper's YouTube-8M model trained on AudioSet embeddings.

    python scripts/build_sample.py [--epochs 8]

Writes sample_models/audioset_lstm.keras (Masking -> Bidirectional(LSTM 128) -> LSTM 256 ->
Dense(527, sigmoid), 10 frames x 128 features) trained on ../shared/data/audioset/bal_train-*,
sample_models/calibration.tfrecord: the first 1,500 records of eval-00000, sample_models/train.tfrecord:
the first 1,500 records of bal_train-00000 (for the demo's fine-tuning), and sample_models/heldout.tfrecord:
the first 1,500 records of eval-00001 (the demo's evaluation, seen by no other step), and
sample_models/valid.tfrecord: the first 800 records of eval-00002 (the demo's fine-tuning validation), copied
byte for byte.

    python scripts/build_sample.py --slices-only   # the four data slices, the model untouched

AudioSet is by Google, CC BY 4.0.
"""

from __future__ import annotations

import argparse
import glob
import os
import struct
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "audioset"
OUT = ROOT / "sample_models"
FRAMES, FEATURES, CLASSES = 10, 128, 527


def dataset(pattern: str, batch: int, shuffle: bool):
    import tensorflow as tf

    def parse(record):
        ctx, seq = tf.io.parse_single_sequence_example(
            record,
            context_features={"labels": tf.io.VarLenFeature(tf.int64)},
            sequence_features={"audio_embedding": tf.io.FixedLenSequenceFeature([], tf.string)},
        )
        x = tf.reshape(tf.io.decode_raw(seq["audio_embedding"], tf.uint8), [-1, FEATURES])  # (L, 128)
        x = tf.cast(x[:FRAMES], tf.float32) * (4.0 / 255.0) - 2.0 + 4.0 / 512.0
        y = tf.reduce_max(tf.one_hot(tf.sparse.to_dense(ctx["labels"]), CLASSES), axis=0)  # (527,)
        return x, y

    files = sorted(glob.glob(str(DATA / pattern)))
    ds = tf.data.TFRecordDataset(files).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    if shuffle:
        ds = ds.shuffle(25_000, seed=0)
    return ds.padded_batch(batch, padded_shapes=([FRAMES, FEATURES], [CLASSES])).prefetch(2)


def build_model():
    import keras

    inputs = keras.Input((FRAMES, FEATURES), name="frames")
    x = keras.layers.Masking(0.0)(inputs)
    x = keras.layers.Bidirectional(keras.layers.LSTM(128, return_sequences=True), name="bilstm")(x)
    x = keras.layers.LSTM(256, name="lstm")(x)
    outputs = keras.layers.Dense(CLASSES, activation="sigmoid", name="classes")(x)
    return keras.Model(inputs, outputs, name="audioset_lstm")


def gap20(model, ds) -> float:
    """GAP@20: every clip's top-20 (score, label) pairs pooled, average precision over all true labels."""
    import numpy as np

    scores, hits, positives = [], [], 0
    for x, y in ds:
        p, y = model.predict_on_batch(x), y.numpy()  # (B, C)
        top = np.argsort(-p, axis=1)[:, :20]  # (B, 20)
        scores.append(np.take_along_axis(p, top, 1).ravel())
        hits.append(np.take_along_axis(y, top, 1).ravel())
        positives += int(y.sum())
    order = np.argsort(-np.concatenate(scores))
    hit = np.concatenate(hits)[order]
    precision = np.cumsum(hit) / np.arange(1, len(hit) + 1)
    return float((precision * hit).sum() / positives)


def save_without_optimizer(model, path: Path) -> None:
    """Save the weights and the compile settings, not the Adam moments (a third of the size)."""
    import keras

    clean = keras.Model.from_config(model.get_config())
    clean.set_weights(model.get_weights())
    clean.compile("adam", "binary_crossentropy")
    clean.save(path)


def copy_records(src: Path, dst: Path, count: int) -> None:
    """The first `count` TFRecord records of `src`, bytes unchanged."""
    with open(src, "rb") as f, open(dst, "wb") as g:
        for _ in range(count):
            header = f.read(12)
            (length,) = struct.unpack("<Q", header[:8])
            g.write(header + f.read(length + 4))


def main() -> None:
    import keras

    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--slices-only", action="store_true", help="Copy the data slices; keep the model.")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    copy_records(DATA / "eval-00000-of-00004.tfrecord", OUT / "calibration.tfrecord", 1500)
    copy_records(DATA / "bal_train-00000-of-00004.tfrecord", OUT / "train.tfrecord", 1500)
    copy_records(DATA / "eval-00001-of-00004.tfrecord", OUT / "heldout.tfrecord", 1500)
    copy_records(DATA / "eval-00002-of-00004.tfrecord", OUT / "valid.tfrecord", 800)
    if args.slices_only:
        return
    keras.utils.set_random_seed(0)
    model = build_model()
    model.compile(keras.optimizers.Adam(2e-3), "binary_crossentropy", metrics=[keras.metrics.AUC(name="auc")])
    model.fit(dataset("bal_train-*", 64, True), epochs=args.epochs, verbose=2)
    model.evaluate(dataset("eval-0000[1-3]*", 256, False), verbose=2)
    print(f"GAP@20 on eval-00001..3: {gap20(model, dataset('eval-0000[1-3]*', 256, False)):.4f}")
    save_without_optimizer(model, OUT / "audioset_lstm.keras")


if __name__ == "__main__":
    main()
