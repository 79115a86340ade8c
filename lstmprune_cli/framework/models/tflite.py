"""TFLite export at batch 1: the fused UNIDIRECTIONAL_SEQUENCE_LSTM path through tf-keras where the
model translates, the Keras 3 WHILE-loop path otherwise; checked against Keras before writing.

Quantization: dynamic (int8 weights, float activations), float16 (float16 weights), int8 (weights and
activations, calibrated on real inputs; TFLite's integer LSTM keeps its cell state in 16 bits). The int8
converter runs in a child process: it crashes on some graphs (the WHILE loops of a masked model), and a crash
must end in one line, not take the tool down.
"""

from __future__ import annotations

import copy
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
from .layers import mask_only, nodes, output_names

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

    def to_dict(self) -> dict:
        return {
            "drop_mask": self.drop_mask,
            "checked_on": self.checked_on,
            "checked": self.checked,
            "out": self.path,
            "route": self.route,
            "quantize": self.quantize,
            "max_abs_diff": self.max_abs_diff,
            "size_bytes": self.size_bytes,
            "notes": self.notes,
        }


def _dtype(value):
    if isinstance(value, dict) and value.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
        return value["config"]["name"]
    return value


def _layer_config(obj, batch: int | None):
    """A Keras 3 layer config as tf-keras reads it (recursively)."""
    if isinstance(obj, list):
        return [_layer_config(v, batch) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out = {}
    for k, v in obj.items():
        if k in ("build_config", "optional", "seed", "input_axes", "output_axes") or (
            k == "registered_name" and v is None
        ):
            continue
        if k == "dtype":
            v = _dtype(v)
        if k == "batch_shape":
            k, v = "batch_input_shape", [batch, *v[1:]]
        out[k] = _layer_config(v, batch)
    return out


_LAYER_KWARGS = {"name", "trainable", "dtype", "input_shape", "batch_input_shape", "batch_size", "input_dim", "dynamic"}


def _allowed(class_name: str) -> set[str] | None:
    """Constructor arguments a tf-keras layer class takes (over its bases), or None if unknown."""
    import inspect

    import tf_keras

    cls = getattr(tf_keras.layers, class_name, None)
    if cls is None:
        return None
    names = set(_LAYER_KWARGS)
    for base in cls.__mro__:
        if "__init__" in vars(base):
            names |= {p for p in inspect.signature(base.__init__).parameters if p not in ("self", "kwargs", "args")}
    return names


def _tf_keras_entry(class_name: str, config: dict, batch: int | None) -> dict:
    """A Keras 3 layer entry's config reduced to what the tf-keras class accepts."""
    config = _layer_config(config, batch)
    allowed = _allowed(class_name)
    if allowed is not None:
        config = {k: v for k, v in config.items() if k in allowed}
    for key in ("layer", "backward_layer"):  # wrappers: Bidirectional, TimeDistributed
        if isinstance(config.get(key), dict):
            inner = config[key]
            config[key] = {**inner, "config": _tf_keras_entry(inner["class_name"], inner["config"], batch)}
            config[key].pop("module", None)
    return config


def _inbound(nodes_cfg: list) -> list:
    """Keras 3 {args, kwargs} nodes -> tf-keras [[name, node, tensor, kwargs], ...]."""
    out = []
    for node in nodes_cfg:
        first = node["args"][0]
        tensors = first if isinstance(first, list) else [first]
        kwargs = {k: v for k, v in node.get("kwargs", {}).items() if k != "mask" and not isinstance(v, dict)}
        out.append([[*t["config"]["keras_history"], kwargs] for t in tensors])
    return out


def mask_value(model) -> float | None:
    """The value a model's padding steps hold (its Masking layer's; 0 for an Embedding with mask_zero), or None."""
    for entry in model.get_config().get("layers", []):
        if entry.get("class_name") == "Masking":
            return float(entry["config"].get("mask_value", 0.0))
        if entry.get("class_name") == "Embedding" and entry["config"].get("mask_zero"):
            return 0.0
    return None


def trim(x: np.ndarray, value: float) -> np.ndarray:
    """A batch-1 sequence (1, T, ...) without its trailing padding steps (every feature `value`); one step at least."""
    padded = np.all(np.asarray(x[0] == value).reshape(x.shape[1], -1), axis=1)  # (T,)
    valid = np.flatnonzero(~padded)
    return x[:, : int(valid[-1]) + 1 if len(valid) else 1]


def _unmasked(layers: list[dict]) -> list[dict]:
    """tf-keras layer entries without Masking (consumers read its input), Embeddings without mask_zero, and every
    input's time axis free: a file that takes each sequence at its own length needs no padding and no mask."""
    source = {e["name"]: e["inbound_nodes"][0][0][0] for e in layers if e["class_name"] == "Masking" and "name" in e}
    kept = []
    for entry in layers:
        if entry["class_name"] == "Masking":
            continue
        config = entry["config"]
        if entry["class_name"] == "Embedding":
            config["mask_zero"] = False
        if entry["class_name"] == "InputLayer" and len(config.get("batch_input_shape") or ()) > 1:
            config["batch_input_shape"] = [config["batch_input_shape"][0], None, *config["batch_input_shape"][2:]]
        for node in entry.get("inbound_nodes", []):
            for tensor in node:
                tensor[0] = source.get(tensor[0], tensor[0])
        kept.append(entry)
    return kept


def tf_keras_model(model, batch: int | None = 1, drop_mask: bool = False):
    """The same model in tf-keras (fixed batch unless None), or None where the config does not translate.
    drop_mask: without its mask, each sequence taken at its own length (see `_unmasked`)."""
    import tf_keras

    config = copy.deepcopy(model.get_config())
    kind = type(model).__name__
    if any(entry.get("class_name") in ("Sequential", "Functional", "Model") for entry in config.get("layers", [])):
        return None  # a nested model: tf-keras numbers its nodes otherwise (and loops on this config)
    graph = nodes(config, kind)
    ops = {n.name for n in graph if n.module.startswith("keras.src.ops")}
    if ops - mask_only(graph, output_names(config, kind, graph)):
        return None
    layers = []
    for entry in config["layers"]:
        name = entry.get("name") or entry["config"]["name"]
        if name in ops:
            continue
        new = {
            "class_name": entry["class_name"],
            "config": _tf_keras_entry(entry["class_name"], entry["config"], batch),
        }
        if kind != "Sequential":
            new["name"] = name
            new["inbound_nodes"] = _inbound(entry.get("inbound_nodes", []))
        layers.append(new)
    config["layers"] = _unmasked(layers) if drop_mask else layers
    for key in ("input_layers", "output_layers"):
        if key in config and config[key] and isinstance(config[key][0], str):
            config[key] = [config[key]]
    try:
        cls = tf_keras.Sequential if kind == "Sequential" else tf_keras.Model
        old = cls.from_config(config)
        old.set_weights(model.get_weights())
    except Exception:  # noqa: BLE001  any failure means: use the Keras 3 route
        return None
    return old


def _classes(obj) -> set[str]:
    """Every layer class name inside a config (wrappers included)."""
    if isinstance(obj, dict):
        own = {obj["class_name"]} if isinstance(obj.get("class_name"), str) else set()
        return own | {c for v in obj.values() for c in _classes(v)}
    if isinstance(obj, list):
        return {c for v in obj for c in _classes(v)}
    return set()


def _unroll(obj) -> None:
    """Set unroll on every recurrent layer config inside `obj` (wrappers included)."""
    if isinstance(obj, dict):
        if obj.get("class_name") in ("LSTM", "GRU", "SimpleRNN") and isinstance(obj.get("config"), dict):
            obj["config"]["unroll"] = True
        for value in obj.values():
            _unroll(value)
    elif isinstance(obj, list):
        for value in obj:
            _unroll(value)


def unrolled_model(model):
    """The model with its recurrent layers unrolled (a static graph, no WHILE loop, so int8 can quantize a GRU),
    or None: unrolling needs a fixed number of steps, and Keras computes a masked unrolled layer otherwise."""
    if mask_value(model) is not None or any(x.shape[1] is None for x in model.inputs if len(x.shape) > 1):
        return None
    config = copy.deepcopy(model.get_config())
    _unroll(config["layers"])
    try:
        unrolled = type(model).from_config(config)
        unrolled.set_weights(model.get_weights())
    except Exception:  # noqa: BLE001  a config that does not rebuild: no unrolled route
        return None
    return unrolled


def _convert(model, route: str, quantize: str | None, calibration: list | None = None) -> bytes:
    """The TFLite file of `model` (a tf-keras model for the fused route); calibration: int8's inputs."""
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
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        with quiet_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return converter.convert()


def _convert_apart(model, route: str, calibration: list, drop_mask: bool = False) -> bytes:
    """int8 conversion in a child process: (the file) or LstmpruneError when the converter fails or crashes."""
    with tempfile.TemporaryDirectory() as tmp:
        (unrolled_model(model) if route == "unrolled" else model).save(Path(tmp) / "model.keras")
        np.savez(Path(tmp) / "calibration.npz", *[x for xs in calibration for x in xs])
        code = (
            f"from {__name__} import convert_child; "
            f"convert_child({tmp!r}, {route!r}, {len(calibration[0])}, drop_mask={drop_mask!r})"
        )
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        if done.returncode < 0:
            raise LstmpruneError(f"the TFLite converter crashed (signal {-done.returncode}) quantizing to int8")
        if done.returncode != 0:
            lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
            raise LstmpruneError(lines[-1] if lines else f"the int8 converter exited with {done.returncode}")
        return (Path(tmp) / "model.tflite").read_bytes()


def convert_child(folder: str, route: str, per_sample: int, drop_mask: bool = False) -> None:
    """The child of `_convert_apart`: convert the model in `folder` to int8 on its calibration inputs."""
    from .files import load_model

    model = load_model(Path(folder) / "model.keras")
    source = tf_keras_model(model, drop_mask=drop_mask) if route == "fused" else model  # saved unrolled already
    with np.load(Path(folder) / "calibration.npz") as saved:
        arrays = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    calibration = [arrays[i : i + per_sample] for i in range(0, len(arrays), per_sample)]
    content = _convert(source, "keras3" if route == "unrolled" else route, "int8", calibration)
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
        try:
            if quantize == "int8":
                content = _convert_apart(model, r, calibration, drop_mask)
            else:
                content = _convert(source, "keras3" if r == "unrolled" else r, quantize)
        except LstmpruneError as e:
            notes.append(f"{r} conversion failed: {e}")
            continue
        except Exception as e:  # noqa: BLE001  converter errors are long; keep the first line
            notes.append(
                f"{r} conversion failed: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}"
            )
            continue
        if r == "fused" and not any("SEQUENCE_LSTM" in op for op in op_names(content)):
            notes.append("tf-keras lowered this model to WHILE loops (no fused LSTM op); took the Keras 3 path")
            continue
        got = run_tflite(content, samples)
        diff = float(max(np.max(np.abs(a - b)) for a, b in zip(got, want)))
        tried.append(f"{r}: max |diff| {diff:.2e}")
        kl = _divergence(want, got, width)
        if kl is not None and kl > KL_TOLERANCE:
            notes.append(
                f"{r} file's probabilities diverge from Keras's (mean KL {kl:.2g} nats > {KL_TOLERANCE}): "
                f"{'an integer softmax rounds the small ones to 0' if quantize == 'int8' else 'too coarse'}"
            )
            continue
        if diff <= tolerance:
            write_atomic(Path(out), content, force)
            checked = "calibration data" if inputs else "random inputs"
            return TfliteExport(str(out), r, quantize, diff, len(content), notes, checked, len(samples), drop_mask)
        notes.append(f"{r} output differs from Keras by {diff:.2e} (> {tolerance:.0e})")
    hint = ""
    if quantize == "int8" and not drop_mask and mask_value(model) is not None:
        hint = (
            "; the model's mask makes its recurrent layers WHILE loops, which the int8 converter does not take: "
            "--drop-mask exports it without the mask, for sequences fed at their own length"
        )
    raise LstmpruneError(f"no TFLite conversion matched the Keras model ({'; '.join(notes + tried)}){hint}")


def _auto(model, quantize: str | None) -> list[str]:
    """The routes `auto` tries, in order: the fused op for LSTMs; for int8 the unrolled steps before the WHILE loops
    (which the int8 converter crashes on here)."""
    lstm = "LSTM" in _classes(model.get_config())
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
