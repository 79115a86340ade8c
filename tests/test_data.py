"""Calibration data: layouts detected without flags, and bad data refused with one clear message."""

import numpy as np
import pytest
from records import single_feature_file, youtube8m_file

from lstmprune_cli.core.errors import LstmpruneError


def test_youtube8m_layout_is_detected_and_dequantized(tf, tmp_path):
    from lstmprune_cli.framework import data

    path = youtube8m_file(tmp_path / "train0.tfrecord", count=5, min_frames=3, max_frames=5)
    schema = data.detect_schema(data.tfrecord_files(str(tmp_path)))
    assert schema.preset == "youtube8m" and schema.dim == 1152 and schema.records == 5
    x = next(data.batches(schema, 6, batch_size=8)).numpy()  # (5, 6, 1152)
    assert x.shape == (5, 6, 1152)
    raw = tf.train.SequenceExample.FromString(next(iter(tf.data.TFRecordDataset(str(path)))).numpy())
    rgb0 = np.frombuffer(raw.feature_lists.feature_list["rgb"].feature[0].bytes_list.value[0], np.uint8).astype(
        np.float64
    )
    np.testing.assert_allclose(x[0, 0, :1024], rgb0 * 4 / 255 - 2 + 4 / 512, atol=1e-6)
    n = len(raw.feature_lists.feature_list["rgb"].feature)
    assert np.all(x[0, n:] == 0)


def test_audioset_records_stream_with_max_samples(tf, audioset):
    from lstmprune_cli.framework import data

    schema = data.detect_schema(data.tfrecord_files(str(audioset / "eval-00000-of-00004.tfrecord")))
    assert schema.preset == "audioset" and schema.dim == 128
    shapes = [x.shape for x in data.batches(schema, 10, batch_size=64, max_samples=100)]
    assert sum(s[0] for s in shapes) == 100 and all(s[1:] == (10, 128) for s in shapes)


def test_gzip_files_are_read(tf, tmp_path):
    from lstmprune_cli.framework import data

    path = single_feature_file(tmp_path / "a.tfrecord", 8, count=4)
    import gzip

    (tmp_path / "b.tfrecord.gz").write_bytes(gzip.compress(path.read_bytes()))
    path.unlink()
    schema = data.detect_schema(data.tfrecord_files(str(tmp_path)))
    assert schema.compression == "GZIP" and schema.records == 4
    assert next(data.batches(schema, None, 4)).shape == (4, 6, 8)


@pytest.mark.parametrize("cut", [3, 20, -5])
def test_a_truncated_file_is_named(tf, tmp_path, cut):
    from lstmprune_cli.framework import data

    path = single_feature_file(tmp_path / "d.tfrecord", 8, count=3)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 3 * 2 + cut] if cut > 0 else raw[:cut])
    with pytest.raises(LstmpruneError, match=r"d.tfrecord is truncated: record \d is cut short"):
        data.detect_schema(data.tfrecord_files(str(path)))


def test_empty_folder_and_missing_path(tmp_path):
    from lstmprune_cli.framework import data

    with pytest.raises(LstmpruneError, match="no TFRecord files in directory"):
        data.tfrecord_files(str(tmp_path))
    with pytest.raises(LstmpruneError, match="does not exist"):
        data.tfrecord_files(str(tmp_path / "nope"))


def test_frames_that_do_not_fit_the_model_are_named(tf, tmp_path):
    from lstmprune_cli.framework import data

    schema = data.detect_schema([single_feature_file(tmp_path / "a.tfrecord", 8)])
    with pytest.raises(
        LstmpruneError, match=r"data frames have 8 features \(audio_embedding 8\); the model's input expects 1152"
    ):
        data.check_fits(schema, (None, 300, 1152))
