"""Writers of TFRecord files in the layouts users have, for tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def sequence_example(features: dict[str, np.ndarray], labels=(1, 2), quantized: bool = True) -> bytes:
    """One SequenceExample: per-frame features (L, dim) as uint8 bytes or floats, context labels."""
    import tensorflow as tf

    lists = {}
    for name, frames in features.items():
        if quantized:
            feats = [
                tf.train.Feature(bytes_list=tf.train.BytesList(value=[f.astype(np.uint8).tobytes()])) for f in frames
            ]
        else:
            feats = [tf.train.Feature(float_list=tf.train.FloatList(value=f.astype(np.float32))) for f in frames]
        lists[name] = tf.train.FeatureList(feature=feats)
    context = tf.train.Features(
        feature={
            "id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"vid"])),
            "labels": tf.train.Feature(int64_list=tf.train.Int64List(value=list(labels))),
        }
    )
    return tf.train.SequenceExample(
        context=context, feature_lists=tf.train.FeatureLists(feature_list=lists)
    ).SerializeToString()


def write_records(path: Path, records: list[bytes]) -> Path:
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(path)) as w:
        for r in records:
            w.write(r)
    return path


def youtube8m_file(path: Path, count: int = 20, min_frames: int = 3, max_frames: int = 12, seed: int = 0) -> Path:
    """The YouTube-8M frame-level layout: per frame `rgb` 1024 + `audio` 128 uint8 bytes."""
    rng = np.random.default_rng(seed)
    records = []
    for _ in range(count):
        n = int(rng.integers(min_frames, max_frames + 1))
        records.append(
            sequence_example({"rgb": rng.integers(0, 256, (n, 1024)), "audio": rng.integers(0, 256, (n, 128))})
        )
    return write_records(path, records)


def single_feature_file(
    path: Path, dim: int, count: int = 16, frames: int = 6, seed: int = 0, name: str = "audio_embedding"
) -> Path:
    rng = np.random.default_rng(seed)
    records = [sequence_example({name: rng.integers(0, 256, (frames, dim))}) for _ in range(count)]
    return write_records(path, records)
