"""TFLite export at batch 1: the fused UNIDIRECTIONAL_SEQUENCE_LSTM path through tf-keras where the
model translates, the Keras 3 WHILE-loop path otherwise; checked against Keras before writing.

Quantization: dynamic (int8 weights, float activations), float16 (float16 weights), int8 (weights and
activations, calibrated on real inputs; TFLite's integer LSTM keeps its cell state in 16 bits). The int8
converter runs in a child process: it crashes on some graphs (the WHILE loops of a masked model), and a crash
must end in one line, not take the tool down.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...core import metrics
from ...core.errors import LstmpruneError
from ...core.files import refuse_existing, write_atomic
from .. import quiet_stderr
from .convertible import layer_classes, mask_value, tf_keras_model, unrolled_model

QUANTIZE = ("dynamic", "float16", "int8")  # --quantize
# How a file runs its recurrent layers (--route; auto tries them in this order): the fused LSTM op (tf-keras), Keras 3
# WHILE loops, or the steps unrolled into a static graph (fixed-length inputs without a mask: int8 for a GRU).
ROUTES = ("auto", "fused", "keras3", "unrolled")
WHY_NOT = {
    "fused": "its config does not translate to tf-keras",
    "keras3": "it does not build",
    "unrolled": "it needs a fixed number of steps and no mask",
}
INT8_CALIBRATION = 64  # calibration sequences the int8 converter measures activation ranges on
# How far a file may be from Keras, relative to the outputs' largest magnitude (at least 1): float32 rounding,
# float16 weights, int8 weights, int8 activations through every step of a recurrence.
TOLERANCE = {None: 1e-4, "float16": 1e-2, "dynamic": 0.05, "int8": 0.15}
# A softmax's small probabilities carry a language model's perplexity, and an absolute tolerance cannot see them
# vanish (an int8 softmax over 10,000 words rounds most to 0): its file's distributions are also held to a mean
# KL divergence from Keras's, in nats.
KL_TOLERANCE = 0.05
FLOAT_SOFTMAX = ("SOFTMAX",)  # what int8 leaves in float when its softmax fails the KL check


@dataclass
class TfliteExport:
    path: str
    route: str  # "fused" (tf-keras, UNIDIRECTIONAL_SEQUENCE_LSTM), "keras3" (WHILE loops) or "unrolled"
    quantize: str | None
    max_abs_diff: float
    size_bytes: int
    notes: list[str] = field(default_factory=list)
    checked_on: str = "random inputs"  # or "calibration data"
    checked: int = 0  # sequences compared
    drop_mask: bool = False  # no mask: each sequence fed at its own length
    float_ops: list[str] = field(default_factory=list)  # TFLite ops an int8 file keeps in float

    def to_dict(self) -> dict:
        return {
            "drop_mask": self.drop_mask,
            "float_ops": self.float_ops,
            "checked_on": self.checked_on,
            "checked": self.checked,
            "out": self.path,
            "route": self.route,
            "quantize": self.quantize,
            "max_abs_diff": self.max_abs_diff,
            "size_bytes": self.size_bytes,
            "notes": self.notes,
        }


def trim(x: np.ndarray, value: float) -> np.ndarray:
    """A batch-1 sequence (1, T, ...) without its trailing padding steps (every feature `value`); one step at least."""
    padded = np.all(np.asarray(x[0] == value).reshape(x.shape[1], -1), axis=1)  # (T,)
    valid = np.flatnonzero(~padded)
    return x[:, : int(valid[-1]) + 1 if len(valid) else 1]


def _convert(
    model, route: str, quantize: str | None, calibration: list | None = None, float_ops: tuple[str, ...] = ()
) -> bytes:
    """The TFLite file of `model` (a tf-keras model for the fused route); calibration: int8's inputs; float_ops:
    TFLite ops int8 leaves in float (through the quantization debugger's deny list)."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        if route == "fused":
            converter = tf.lite.TFLiteConverter.from_keras_model(model)
        else:  # through a SavedModel with a batch-1 signature, so variables are frozen
            specs = [tf.TensorSpec((1, *x.shape[1:]), x.dtype) for x in model.inputs]
            model.export(tmp, input_signature=specs, verbose=False)

            converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        if quantize is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if quantize == "int8":  # every op in integers; the model keeps its float inputs and outputs
            converter.representative_dataset = lambda: iter(calibration)
            if not float_ops:
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        with quiet_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if float_ops:
                options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(float_ops))
                debugger = tf.lite.experimental.QuantizationDebugger(
                    converter=converter, debug_dataset=lambda: iter(calibration), debug_options=options
                )
                return debugger.get_nondebug_quantized_model()
            return converter.convert()


def _convert_apart(
    model, route: str, calibration: list, drop_mask: bool = False, float_ops: tuple[str, ...] = ()
) -> bytes:
    """int8 conversion in a child process: (the file) or LstmpruneError when the converter fails or crashes."""
    with tempfile.TemporaryDirectory() as tmp:
        (unrolled_model(model) if route == "unrolled" else model).save(Path(tmp) / "model.keras")
        np.savez(Path(tmp) / "calibration.npz", *[x for xs in calibration for x in xs])
        code = (
            f"from {__name__} import convert_child; "
            f"convert_child({tmp!r}, {route!r}, {len(calibration[0])}, drop_mask={drop_mask!r}, "
            f"float_ops={tuple(float_ops)!r})"
        )
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        if done.returncode < 0:
            raise LstmpruneError(f"the TFLite converter crashed (signal {-done.returncode}) quantizing to int8")
        if done.returncode != 0:
            lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
            raise LstmpruneError(lines[-1] if lines else f"the int8 converter exited with {done.returncode}")
        return (Path(tmp) / "model.tflite").read_bytes()


def convert_child(
    folder: str, route: str, per_sample: int, drop_mask: bool = False, float_ops: tuple[str, ...] = ()
) -> None:
    """The child of `_convert_apart`: convert the model in `folder` to int8 on its calibration inputs."""
    from .files import load_model

    model = load_model(Path(folder) / "model.keras")
    source = tf_keras_model(model, drop_mask=drop_mask) if route == "fused" else model  # saved unrolled already
    with np.load(Path(folder) / "calibration.npz") as saved:
        arrays = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    calibration = [arrays[i : i + per_sample] for i in range(0, len(arrays), per_sample)]
    content = _convert(source, "keras3" if route == "unrolled" else route, "int8", calibration, float_ops)
    write_atomic(Path(folder) / "model.tflite", content)


def sample_inputs(model, count: int = 4, length: int | None = None, seed: int = 0) -> list[list[np.ndarray]]:
    """`count` single-sequence inputs (batch 1) for each of the model's inputs."""
    from .costs import random_inputs

    return [random_inputs(model, 1, length or 10, seed + i) for i in range(count)]


def op_names(content: bytes) -> list[str]:
    """The operators of a TFLite model, in order."""
    import tensorflow as tf

    with warnings.catch_warnings(), quiet_stderr():
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_content=content)
    return [d["op_name"] for d in interpreter._get_ops_details()]


def free_length(content: bytes) -> bool:
    """Whether a TFLite file's first input takes sequences of any length (a free time axis)."""
    import tensorflow as tf

    with warnings.catch_warnings(), quiet_stderr():
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_content=content)
    signature = sorted(interpreter.get_input_details(), key=lambda d: d["index"])[0]["shape_signature"]
    return len(signature) > 1 and int(signature[1]) == -1


def run_tflite(content: bytes, inputs: list[list[np.ndarray]], threads: int = 2) -> list[np.ndarray]:
    """Outputs of the TFLite model for each sample, with the recurrent state reset between them."""
    import tensorflow as tf

    with warnings.catch_warnings(), quiet_stderr():
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_content=content, num_threads=threads)
        interpreter.allocate_tensors()
    details = sorted(interpreter.get_input_details(), key=lambda d: d["index"])
    outputs = []
    for xs in inputs:
        if any(tuple(d["shape"]) != x.shape for d, x in zip(details, xs)):  # a free-length input: this many steps
            for d, x in zip(details, xs):
                interpreter.resize_tensor_input(d["index"], x.shape)
            interpreter.allocate_tensors()
            details = sorted(interpreter.get_input_details(), key=lambda d: d["index"])
        interpreter.reset_all_variables()
        for d, x in zip(details, xs):
            interpreter.set_tensor(d["index"], np.asarray(x).astype(d["dtype"], copy=False))
        interpreter.invoke()
        outputs.append(
            np.concatenate([interpreter.get_tensor(d["index"]).ravel() for d in interpreter.get_output_details()])
        )
    return outputs


def export_tflite(
    model,
    out: Path,
    quantize: str | None = None,
    force: bool = False,
    route: str = "auto",
    inputs: list[list[np.ndarray]] | None = None,
    calibration: list[list[np.ndarray]] | None = None,
    drop_mask: bool = False,
) -> TfliteExport:
    """Convert, check against Keras on real inputs (`inputs`: single sequences of the calibration data) or, when
    none are known, random ones, and write atomically. calibration: int8's representative inputs (batch 1).
    drop_mask: the file has no mask and takes each sequence at its own length (the fused route only); it is
    checked on the inputs without their trailing padding against Keras on the padded ones."""
    if quantize is not None and quantize not in QUANTIZE:
        raise LstmpruneError(f"quantize must be one of {', '.join(QUANTIZE)}; received {quantize!r}", option="quantize")
    if quantize == "int8" and not calibration:
        raise LstmpruneError(
            "--quantize int8 measures activation ranges on real inputs; analyze the model with calibration data "
            "first (the workspace's data is read)"
        )
    pad = _drop_mask_checked(model, route) if drop_mask else None
    refuse_existing(out, force)
    samples = inputs or sample_inputs(model)
    steps = [None] * len(samples)
    if drop_mask:  # the file reads each sequence's own steps, the padding cut off
        steps = [trim(xs[0], pad).shape[1] for xs in samples]
        calibration = calibration and [[trim(xs[0], pad)] for xs in calibration]
    want = [_flat(model(xs if len(xs) > 1 else xs[0]), n) for xs, n in zip(samples, steps)]
    samples = [[xs[0][:, :n]] for xs, n in zip(samples, steps)] if drop_mask else samples
    tolerance = TOLERANCE[quantize] * max(1.0, float(np.max(np.abs(want))))
    width = softmax_width(model)
    notes, tried = [], []
    if drop_mask:
        notes.append("the mask is dropped: the file takes each sequence at its own length, without padding")
    routes = ["fused"] if drop_mask else _auto(model, quantize) if route == "auto" else [route]
    for r in routes:
        source = {"fused": tf_keras_model(model, drop_mask=drop_mask), "keras3": model}.get(r) or (
            unrolled_model(model) if r == "unrolled" else None
        )
        if source is None:
            notes.append(f"the {r} route does not take this model ({WHY_NOT[r]})")
            continue
        for float_ops in [(), *([FLOAT_SOFTMAX] if quantize == "int8" and width else [])]:
            content, note = _converted(model, source, r, quantize, calibration, drop_mask, float_ops)
            if content is None:
                notes.append(note)
                break
            got = run_tflite(content, samples)
            diff = float(max(np.max(np.abs(a - b)) for a, b in zip(got, want)))
            tried.append(f"{r}{' (softmax in float)' if float_ops else ''}: max |diff| {diff:.2e}")
            kl = _divergence(want, got, width)
            if kl is not None and kl > KL_TOLERANCE:
                notes.append(
                    f"{r} file's probabilities diverge from Keras's (mean KL {kl:.2g} nats > {KL_TOLERANCE})"
                    + (
                        ": an integer softmax rounds the small ones to 0"
                        if quantize == "int8" and not float_ops
                        else ""
                    )
                )
                continue
            if diff <= tolerance:
                if float_ops:
                    notes.append(
                        f"the softmax stays in float: in int8 its {width} probabilities lost their small values "
                        "(the rest of the file is int8)"
                    )
                write_atomic(Path(out), content, force)
                checked = "calibration data" if inputs else "random inputs"
                found = TfliteExport(str(out), r, quantize, diff, len(content), notes, checked, len(samples))
                found.drop_mask, found.float_ops = drop_mask, list(float_ops)
                return found
            notes.append(f"{r} output differs from Keras by {diff:.2e} (> {tolerance:.0e})")
            break
    hint = ""
    if quantize == "int8" and not drop_mask and mask_value(model) is not None:
        hint = (
            "; the model's mask makes its recurrent layers WHILE loops, which the int8 converter does not take: "
            "--drop-mask exports it without the mask, for sequences fed at their own length"
        )
    raise LstmpruneError(f"no TFLite conversion matched the Keras model ({'; '.join(notes + tried)}){hint}")


def _converted(model, source, route: str, quantize, calibration, drop_mask: bool, float_ops) -> tuple:
    """(the file, None) of one route, or (None, why not) in one line."""
    try:
        if quantize == "int8":
            content = _convert_apart(model, route, calibration, drop_mask, float_ops)
        else:
            content = _convert(source, "keras3" if route == "unrolled" else route, quantize)
    except LstmpruneError as e:
        return None, f"{route} conversion failed: {e}"
    except Exception as e:  # noqa: BLE001  converter errors are long; keep the first line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return None, f"{route} conversion failed: {first}"
    if route == "fused" and not any("SEQUENCE_LSTM" in op for op in op_names(content)):
        return None, "tf-keras lowered this model to WHILE loops (no fused LSTM op); took the Keras 3 path"
    return content, None


def _auto(model, quantize: str | None) -> list[str]:
    """The routes `auto` tries, in order: the fused op for LSTMs; for int8 the unrolled steps before the WHILE loops
    (which the int8 converter crashes on here)."""
    lstm = "LSTM" in layer_classes(model.get_config())
    order = ["fused", "unrolled", "keras3"] if quantize == "int8" else ["fused", "keras3", "unrolled"]
    return [r for r in order if r != "fused" or lstm]


def softmax_width(model) -> int | None:
    """The number of classes when the model's one output is a softmax (a distribution per sequence or step)."""
    if len(model.outputs) != 1:
        return None
    layer = model.outputs[0]._keras_history[0]
    config = layer.get_config()
    if config.get("activation") == "softmax" or type(layer).__name__ == "Softmax":
        return int(model.outputs[0].shape[-1])
    return None


def _divergence(want: list[np.ndarray], got: list[np.ndarray], width: int | None) -> float | None:
    """Mean KL divergence of the file's distributions from Keras's over every sequence and step, or None."""
    if width is None:
        return None
    return metrics.mean_kl(
        np.concatenate([w.reshape(-1, width) for w in want]), np.concatenate([g.reshape(-1, width) for g in got])
    )


def _drop_mask_checked(model, route: str) -> float:
    """The padding value of a model whose mask `--drop-mask` may drop, or one line saying why it may not."""
    pad = mask_value(model)
    if pad is None:
        raise LstmpruneError(
            "--drop-mask: the model has no mask to drop (no Masking layer, no Embedding with mask_zero)",
            option="drop_mask",
        )
    if len(model.inputs) != 1:
        raise LstmpruneError(
            f"--drop-mask takes a model with one input; received {len(model.inputs)}", option="drop_mask"
        )
    if route not in ("auto", "fused"):
        raise LstmpruneError(
            f"--drop-mask exports through the fused LSTM op; received --route {route} (use fused or auto)",
            option="drop_mask",
        )
    return pad


def _flat(outputs, steps: int | None) -> np.ndarray:
    """A model's outputs for one sequence as one vector; sequence outputs (1, T, ...) cut to `steps` when given."""
    ys = [np.asarray(y) for y in _as_list(outputs)]
    return np.concatenate([(y[:, :steps] if steps and y.ndim >= 3 else y).ravel() for y in ys])


def _as_list(y):
    return y if isinstance(y, (list, tuple)) else [y]
