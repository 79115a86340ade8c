"""TFLite out: the fused LSTM op in float32, float16 and int8, masks dropped, GRUs unrolled; every file checked
against the Keras model it came from."""

import numpy as np
import pytest

T, F = 6, 8


def test_export_tflite_matches_keras(tf, tmp_path):
    import keras

    from lstmprune_cli.framework.models.tflite import export_tflite, op_names, run_tflite, sample_inputs

    inputs = keras.Input((T, F))
    x = keras.layers.Bidirectional(keras.layers.LSTM(6, return_sequences=True))(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.LSTM(5)(x)))
    fused = export_tflite(model, tmp_path / "fused.tflite")
    assert fused.route == "fused" and fused.max_abs_diff <= 1e-4
    content = (tmp_path / "fused.tflite").read_bytes()
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in op_names(content)
    samples = sample_inputs(model, 3, seed=5)
    for got, xs in zip(run_tflite(content, samples), samples):
        np.testing.assert_allclose(got, np.asarray(model(xs[0])).ravel(), atol=1e-4)
    loop = export_tflite(model, tmp_path / "loop.tflite", quantize="dynamic", route="keras3")
    assert loop.route == "keras3" and loop.max_abs_diff <= 0.05


def test_float16_and_full_integer_tflite_files_match_keras_within_their_precision(tf, tmp_path):
    """float16 halves the file; int8 quantizes weights and activations (calibrated on given inputs) in the fused
    LSTM op; a graph the int8 converter crashes on is refused in one line, the tool still standing."""
    import keras

    from lstmprune_cli.core.errors import LstmpruneError
    from lstmprune_cli.framework.models.tflite import TOLERANCE, export_tflite, op_names, sample_inputs

    keras.utils.set_random_seed(1)
    inputs = keras.Input((T, F))
    x = keras.layers.Bidirectional(keras.layers.LSTM(48, return_sequences=True))(inputs)  # weights dominate the file
    model = keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid")(keras.layers.LSTM(48)(x)))
    weights = 4 * model.count_params()  # bytes of its float32 weights
    half = export_tflite(model, tmp_path / "half.tflite", quantize="float16")
    assert half.max_abs_diff <= TOLERANCE["float16"] and half.size_bytes < 0.6 * weights
    calibration = sample_inputs(model, 32, seed=7)
    with pytest.raises(LstmpruneError, match="measures activation ranges on real inputs"):
        export_tflite(model, tmp_path / "no.tflite", quantize="int8")
    whole = export_tflite(model, tmp_path / "int8.tflite", quantize="int8", calibration=calibration)
    ops = op_names((tmp_path / "int8.tflite").read_bytes())
    assert whole.route == "fused" and "UNIDIRECTIONAL_SEQUENCE_LSTM" in ops and "QUANTIZE" in ops
    assert whole.max_abs_diff <= TOLERANCE["int8"] and whole.size_bytes < 0.4 * weights
    interpreter = tf.lite.Interpreter(model_path=str(tmp_path / "int8.tflite"))
    kinds = {d["dtype"].__name__ for d in interpreter.get_tensor_details()}
    assert "int8" in kinds and "int16" in kinds  # int8 weights and activations; the LSTM's cell state in 16 bits

    masked = keras.Sequential(
        [keras.Input((T, F)), keras.layers.Masking(0.0), keras.layers.LSTM(4), keras.layers.Dense(2)]
    )
    with pytest.raises(LstmpruneError) as refused:
        export_tflite(masked, tmp_path / "masked.tflite", quantize="int8", calibration=calibration)
    assert "no TFLite conversion matched" in str(refused.value) and "\n" not in str(refused.value)
    assert "--drop-mask" in str(refused.value)  # the refusal names the way through
    assert not (tmp_path / "masked.tflite").exists()


def test_an_integer_softmax_that_loses_the_small_probabilities_stays_in_float(tf, tmp_path):
    """int8 rounds a 3,000-way softmax's probabilities (about 1/3,000 each) to 0: within the absolute tolerance,
    but a perplexity would explode. The KL check refuses that file, and int8 ships one whose softmax stays in
    float, every other op in integers."""
    import keras

    from lstmprune_cli.core import metrics
    from lstmprune_cli.framework.models.tflite import KL_TOLERANCE, export_tflite, run_tflite, sample_inputs

    keras.utils.set_random_seed(4)
    model = keras.Sequential(
        [keras.Input((T, F)), keras.layers.LSTM(8), keras.layers.Dense(3000, activation="softmax")]
    )
    calibration = sample_inputs(model, 8, seed=6)
    done = export_tflite(
        model, tmp_path / "lm.tflite", "int8", route="fused", inputs=calibration, calibration=calibration
    )
    assert done.float_ops == ["SOFTMAX"] and any("integer softmax rounds the small ones to 0" in n for n in done.notes)
    content = (tmp_path / "lm.tflite").read_bytes()
    interpreter = tf.lite.Interpreter(model_content=content)
    kinds = {d["name"]: d["dtype"].__name__ for d in interpreter.get_tensor_details()}
    assert "int8" in kinds.values() and "float32" in kinds.values()  # integers, and the softmax in float
    got = np.stack(run_tflite(content, calibration))  # (8, 3000)
    want = np.concatenate([np.asarray(model(xs[0])) for xs in calibration])  # (8, 3000)
    assert metrics.mean_kl(want, got) <= KL_TOLERANCE and np.all(got > 0)


def _padded(count: int, seed: int, front: bool = False) -> list[list[np.ndarray]]:
    """Batch-1 sequences (1, T, F) whose last (or first) steps are zero padding, of 2..T real steps."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        x = rng.normal(size=(1, T, F)).astype("float32")
        n = 2 + i % (T - 1)
        if front:
            x[:, : T - n] = 0.0
        else:
            x[:, n:] = 0.0
        out.append([x])
    return out


def test_drop_mask_exports_a_masked_model_that_takes_each_sequence_at_its_own_length(tf, tmp_path):
    """--drop-mask: no Masking, a free time axis, the fused op; on sequences without their padding the file equals
    the masked Keras model on the padded ones (float32 to 1e-4, int8 within its tolerance); padding in front,
    which a file without a mask would read, is refused."""
    import keras

    from lstmprune_cli.core.errors import LstmpruneError
    from lstmprune_cli.framework.jobs.report import tflite_metrics
    from lstmprune_cli.framework.models.tasks import Task
    from lstmprune_cli.framework.models.tflite import TOLERANCE, export_tflite, free_length, op_names, run_tflite, trim

    keras.utils.set_random_seed(2)
    inputs = keras.Input((T, F), name="frames")
    top = keras.layers.LSTM(8, name="lstm")(keras.layers.Masking(0.0, name="masking")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid", name="head")(top))
    rng = np.random.default_rng(2)  # biases too, so that a zero step read in front moves the state
    model.set_weights([rng.normal(scale=0.5, size=w.shape).astype("float32") for w in model.get_weights()])
    padded = _padded(24, seed=3)
    exact = export_tflite(model, tmp_path / "f32.tflite", inputs=padded, drop_mask=True)
    content = (tmp_path / "f32.tflite").read_bytes()
    assert exact.route == "fused" and exact.drop_mask and "UNIDIRECTIONAL_SEQUENCE_LSTM" in op_names(content)
    assert free_length(content) and exact.max_abs_diff <= 1e-4
    fed = [[trim(xs[0], 0.0)] for xs in padded]
    assert [xs[0].shape[1] for xs in fed] == [2 + i % (T - 1) for i in range(24)]  # each at its own length
    for got, xs in zip(run_tflite(content, fed), padded):  # independently of the export's own check
        np.testing.assert_allclose(got, np.asarray(model(xs[0])).ravel(), atol=1e-4)
    x = np.concatenate([xs[0] for xs in padded])  # (24, T, F), padded
    task, y = Task("regression", 3), np.asarray(model(x)) + 0.01  # targets near the masked model's outputs
    scored = tflite_metrics(content, [(x, y)], task, pad=0.0)  # as report scores a free-length file
    assert scored["mse"] == pytest.approx(1e-4, rel=1e-2)
    assert tflite_metrics(content, [(x, y)], task)["mse"] > 10 * scored["mse"]  # fed its padding, it reads it
    whole = export_tflite(model, tmp_path / "i8.tflite", "int8", inputs=padded, calibration=padded, drop_mask=True)
    assert whole.max_abs_diff <= TOLERANCE["int8"] and "QUANTIZE" in op_names((tmp_path / "i8.tflite").read_bytes())
    with pytest.raises(LstmpruneError, match="no TFLite conversion matched"):
        export_tflite(model, tmp_path / "front.tflite", inputs=_padded(6, seed=4, front=True), drop_mask=True)
    assert not (tmp_path / "front.tflite").exists()
    plain = keras.Sequential([keras.Input((T, F)), keras.layers.LSTM(4), keras.layers.Dense(2)])
    with pytest.raises(LstmpruneError, match="no mask to drop"):
        export_tflite(plain, tmp_path / "plain.tflite", drop_mask=True)


def test_int8_takes_a_gru_through_its_unrolled_steps(tf, tmp_path):
    """A GRU has no fused op and its WHILE loop crashes the int8 converter: auto unrolls its fixed steps into a
    static graph, quantized to integers and checked against Keras."""
    import keras

    from lstmprune_cli.framework.models.tflite import TOLERANCE, export_tflite, op_names, sample_inputs

    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [keras.Input((T, F)), keras.layers.GRU(24, name="gru"), keras.layers.Dense(3, name="head")]
    )
    calibration = sample_inputs(model, 16, seed=5)
    whole = export_tflite(model, tmp_path / "gru.tflite", "int8", inputs=calibration[:4], calibration=calibration)
    ops = op_names((tmp_path / "gru.tflite").read_bytes())
    assert whole.route == "unrolled" and "WHILE" not in ops and "QUANTIZE" in ops
    assert whole.max_abs_diff <= TOLERANCE["int8"]
    interpreter = tf.lite.Interpreter(model_path=str(tmp_path / "gru.tflite"))
    assert "int8" in {d["dtype"].__name__ for d in interpreter.get_tensor_details()}
