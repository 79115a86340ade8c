"""Calibration data: layouts detected without flags, options for the rest, bad data refused in one line."""

import gzip

import numpy as np
import pytest
from records import sequence_example, single_feature_file, write_records, youtube8m_file

from lstmprune_cli.core.errors import LstmpruneError
from lstmprune_cli.core.schema import Options

FRAMES = dict(length=6, dim=1152, tokens=False)


def resolve(spec, options=None, length=6, dim=1152, tokens=False):
    from lstmprune_cli.framework.data.sources import InputSpec, resolve

    return resolve(str(spec), options or Options(), InputSpec(length, dim, tokens))


def stream(schema, length=6, batch_size=8, max_samples=None):
    from lstmprune_cli.framework.data.stream import Stream

    return Stream(schema, length, batch_size, max_samples)


def test_youtube8m_layout_is_detected_and_dequantized(tf, tmp_path):
    path = youtube8m_file(tmp_path / "train0.tfrecord", count=5, min_frames=3, max_frames=5)
    schema = resolve(tmp_path)
    assert schema.preset == "youtube8m" and schema.dim == 1152 and schema.records == 5
    x = next(iter(stream(schema))).numpy()  # (5, 6, 1152)
    assert x.shape == (5, 6, 1152)
    raw = tf.train.SequenceExample.FromString(next(iter(tf.data.TFRecordDataset(str(path)))).numpy())
    frames = raw.feature_lists.feature_list["rgb"].feature
    rgb0 = np.frombuffer(frames[0].bytes_list.value[0], np.uint8).astype(np.float64)
    np.testing.assert_allclose(x[0, 0, :1024], rgb0 * 4 / 255 - 2 + 4 / 512, atol=1e-6)
    assert np.all(x[0, len(frames) :] == 0)


def test_audioset_records_stream_with_max_samples(tf, audioset):
    path = audioset / "eval-00000-of-00004.tfrecord"
    schema = resolve(path, length=10, dim=128)
    assert schema.preset == "audioset" and schema.dim == 128
    s = stream(schema, 10, 64, max_samples=100)
    batches = [x.numpy() for x in s]
    assert sum(len(x) for x in batches) == 100 == s.seen and all(x.shape[1:] == (10, 128) for x in batches)
    raw = tf.train.SequenceExample.FromString(next(iter(tf.data.TFRecordDataset(str(path)))).numpy())
    frames = raw.feature_lists.feature_list["audio_embedding"].feature[:10]
    want = np.stack([np.frombuffer(f.bytes_list.value[0], np.uint8) for f in frames]).astype(np.float64)
    np.testing.assert_allclose(batches[0][0, : len(frames)], want * 4 / 255 - 2 + 4 / 512, atol=1e-6)


def test_gzip_files_are_read(tf, tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "gz").mkdir()
    path = single_feature_file(tmp_path / "plain" / "a.tfrecord", 8, count=4)
    (tmp_path / "gz" / "b.tfrecord.gz").write_bytes(gzip.compress(path.read_bytes()))
    schema = resolve(tmp_path / "gz", dim=8)
    assert schema.compression == "GZIP" and schema.records == 4
    x = next(iter(stream(schema, None, 4))).numpy()  # (4, 6, 8)
    np.testing.assert_array_equal(x, next(iter(stream(resolve(tmp_path / "plain", dim=8), None, 4))).numpy())
    first = np.random.default_rng(0).integers(0, 256, (6, 8))  # the first record single_feature_file wrote
    np.testing.assert_allclose(x[0], first * 4 / 255 - 2 + 4 / 512, atol=1e-6)


def test_schema_options_choose_features_scale_normalise_and_sample(tf, tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.normal(size=(12, 3)).astype(np.float32) for _ in range(3)]
    records = [sequence_example({"a": f, "b": f[:, :1] * 10, "c": f}, quantized=False) for f in frames]
    write_records(tmp_path / "x.tfrecord", records)
    options = Options(features=["b", "a"], scale=(2.0, 1.0), l2_normalize=True, fit="sample")
    schema = resolve(tmp_path, options, length=4, dim=4)
    x = next(iter(stream(schema, 4))).numpy()  # (3, 4, 4)
    idx = np.round(np.linspace(0, 11, 4)).astype(int)
    want = np.concatenate([frames[0][:, :1] * 10, frames[0]], axis=1)[idx] * 2 + 1
    np.testing.assert_allclose(x[0], want / np.linalg.norm(want, axis=1, keepdims=True), atol=1e-5)


def test_example_records_npy_arrays_and_text_corpora(tf, tmp_path):
    rng = np.random.default_rng(0)
    values = rng.normal(size=(5, 24)).astype(np.float32)
    examples = [
        tf.train.Example(
            features=tf.train.Features(
                feature={
                    "x": tf.train.Feature(float_list=tf.train.FloatList(value=v)),
                    "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[1])),
                }
            )
        ).SerializeToString()
        for v in values
    ]
    write_records(tmp_path / "ex.tfrecord", examples)
    schema = resolve(tmp_path / "ex.tfrecord", length=6, dim=4)
    assert schema.source == "example"
    np.testing.assert_array_equal(next(iter(stream(schema))).numpy(), values.reshape(5, 6, 4))  # row-major frames

    np.save(tmp_path / "x.npy", rng.normal(size=(10, 9, 4)).astype(np.float32))
    x = np.concatenate(list(stream(resolve(tmp_path / "x.npy", dim=4), 6, 4)))
    np.testing.assert_allclose(x, np.load(tmp_path / "x.npy")[:, :6])

    (tmp_path / "vocab.txt").write_text("<unk>\n<eos>\nthe\ncat\n")
    (tmp_path / "corpus.txt").write_text("the cat\nthe dog sat\n")
    schema = resolve(
        tmp_path / "corpus.txt", Options(vocab=str(tmp_path / "vocab.txt")), length=3, dim=None, tokens=True
    )
    np.testing.assert_array_equal(next(iter(stream(schema, 3))), [[2, 3, 1], [2, 0, 0]])


def test_shards_partition_the_records(tf, tmp_path):
    single_feature_file(tmp_path / "a.tfrecord", 8, count=11)
    single_feature_file(tmp_path / "b.tfrecord", 8, count=6, seed=1)
    whole = np.concatenate([x.numpy() for x in stream(resolve(tmp_path, dim=8))])
    parts = [
        np.concatenate([x.numpy() for x in stream(resolve(tmp_path, Options(shard=(i, 4)), dim=8))]) for i in range(4)
    ]
    assert sum(len(p) for p in parts) == len(whole) == 17
    key = lambda a: sorted(map(bytes, a.reshape(len(a), -1)))  # noqa: E731
    assert key(np.concatenate(parts)) == key(whole)


@pytest.mark.parametrize("cut", [3, 20, -5])
def test_a_truncated_file_is_named(tf, tmp_path, cut):
    path = single_feature_file(tmp_path / "d.tfrecord", 8, count=3)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 3 * 2 + cut] if cut > 0 else raw[:cut])
    with pytest.raises(LstmpruneError, match=r"d.tfrecord is truncated: record \d is cut short"):
        resolve(path, dim=8)


def test_a_corrupt_record_names_the_file_and_record(tf, tmp_path):
    path = single_feature_file(tmp_path / "c.tfrecord", 8, count=20)
    raw = path.read_bytes()
    size = len(raw) // 20  # every record has the same size here
    body = bytearray(raw)
    body[10 * size + 12 + 5] ^= 0xFF  # inside record 10's body: its checksum no longer matches
    path.write_bytes(bytes(body))
    with pytest.raises(LstmpruneError, match=r"c.tfrecord: one of records 8\.\.11 is damaged"):
        list(stream(resolve(path, dim=8), batch_size=4))
    header = bytearray(raw)
    header[3 * size + 2] ^= 0x01  # inside record 3's length header
    path.write_bytes(bytes(header))
    with pytest.raises(LstmpruneError, match=r"c.tfrecord record 3 has a corrupt length header"):
        resolve(path, dim=8)


def test_empty_sources_missing_features_and_wrong_widths(tf, tmp_path):
    with pytest.raises(LstmpruneError, match="no TFRecord files in directory"):
        resolve(tmp_path)
    with pytest.raises(LstmpruneError, match="does not exist"):
        resolve(tmp_path / "nope")
    (tmp_path / "empty.tfrecord").write_bytes(b"")
    with pytest.raises(LstmpruneError, match="hold no records"):
        resolve(tmp_path / "empty.tfrecord")
    path = single_feature_file(tmp_path / "a.tfrecord", 8)
    with pytest.raises(
        LstmpruneError, match=r"data frames have 8 features \(audio_embedding 8\); the model's input expects 1152"
    ):
        resolve(path)
    with pytest.raises(LstmpruneError, match="has no feature 'rgb'"):
        resolve(path, Options(features=["rgb"]), dim=8)
    with pytest.raises(LstmpruneError, match="holds frames of 8 features; the model's input expects token ids"):
        resolve(path, length=6, dim=None, tokens=True)


def test_lengths_the_model_cannot_take_are_named_with_exact_fit(tf, tmp_path):
    path = single_feature_file(tmp_path / "a.tfrecord", 8, count=3, frames=5)
    with pytest.raises(LstmpruneError, match=r"record 0 has 5 steps; the model takes exactly 6"):
        list(stream(resolve(path, Options(fit="exact"), dim=8)))


def test_nonfinite_values_are_refused_or_skipped_and_counted(tf, tmp_path):
    x = np.random.default_rng(0).normal(size=(6, 6, 3)).astype(np.float32)
    x[2, 1, 0] = np.nan
    x[4, 0, 2] = np.inf
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(LstmpruneError, match=r"x.npy record 2 holds NaN or Inf; pass skip_nonfinite"):
        list(stream(resolve(tmp_path / "x.npy", dim=3)))
    s = stream(resolve(tmp_path / "x.npy", Options(skip_nonfinite=True), dim=3))
    assert sum(len(b) for b in s) == 4 and s.skipped == 2
