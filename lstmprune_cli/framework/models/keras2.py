"""Keras 2 (tf-keras) models: SavedModel directories and `.h5` files, converted to Keras 3.

Their config is checked for code and custom objects before tf-keras reads them (safety.py); tf-keras
then builds the original, its config becomes a Keras 3 config after small edits (`time_major` gone,
`batch_input_shape` only on InputLayer as `batch_shape`), the weights carry over in order, and the
converted model is refused unless it computes the original's function.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

from ...core.errors import LstmpruneError
from . import safety


def clean_config(obj, inside_input: bool = False):
    """A Keras 2 config made loadable by Keras 3 (recursively)."""
    if isinstance(obj, list):
        return [clean_config(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out = {}
    is_input = obj.get("class_name") == "InputLayer"
    for k, v in obj.items():
        if k == "time_major" or (k == "input_length" and not is_input):  # the InputLayer carries the length
            continue
        if k == "config" and isinstance(v, dict) and "batch_input_shape" in v:
            v = dict(v)
            shape = v.pop("batch_input_shape")
            if is_input:
                v["batch_shape"] = shape
        if k in WRAPPED and isinstance(v, dict) and "class_name" in v and "module" not in v:
            v = {**v, "module": "keras.layers", "registered_name": None}  # Keras 3 wrappers look the class up so
        out[k] = clean_config(v)
    return out


WRAPPED = ("layer", "backward_layer", "forward_layer")  # a wrapper's inner layer (Bidirectional, TimeDistributed)


def time_major_layers(obj) -> list[str]:
    """Names of recurrent layers configured with `time_major=True` (Keras 3 has no such mode)."""
    if isinstance(obj, list):
        return [n for v in obj for n in time_major_layers(v)]
    if not isinstance(obj, dict):
        return []
    found = [str(obj.get("name", "?"))] if obj.get("time_major") is True else []
    return found + [n for v in obj.values() for n in time_major_layers(v)]


def keras3_config(config: dict) -> dict:
    """The model config of a Keras 2 Functional or Sequential model, as Keras 3 reads it."""
    config = clean_config(config)
    _renumber_nested_sequentials(config)
    for key in ("input_layers", "output_layers"):
        if len(config.get(key, ())) == 1:  # Keras 3 writes a single tensor unwrapped
            config[key] = config[key][0]
    return config


def _renumber_nested_sequentials(config: dict) -> None:
    """Keras 2 gives a Sequential built with an input shape a node of its own (node 0), so a model that calls it
    refers to node 1; Keras 3 gives it none. References to such nested Sequentials move down by one."""
    layers = config.get("layers", [])
    built = {
        layer.get("name") or layer["config"].get("name")
        for layer in layers
        if isinstance(layer, dict)
        and layer.get("class_name") == "Sequential"
        and any(inner.get("class_name") == "InputLayer" for inner in layer.get("config", {}).get("layers", []))
    }
    if not built:
        return

    def move(ref):
        if isinstance(ref, list) and len(ref) >= 2 and ref[0] in built and isinstance(ref[1], int) and ref[1] > 0:
            ref[1] -= 1

    for layer in layers:
        for node in layer.get("inbound_nodes", []) if isinstance(layer, dict) else []:
            for ref in node if isinstance(node, list) else []:
                move(ref)
    for ref in config.get("output_layers", []):
        move(ref)


def _tf_keras_original(path: Path):
    """The model as tf-keras (Keras 2) reads it: the reference a conversion must reproduce."""
    try:
        import tf_keras
    except ImportError as e:  # pragma: no cover - tf-keras is a dependency
        raise LstmpruneError("reading Keras 2 models needs the tf-keras package; pip install tf-keras") from e
    try:
        old = tf_keras.models.load_model(str(path), compile=False)
    except Exception as e:  # noqa: BLE001  tf-keras raises many types for unreadable files
        raise LstmpruneError(f"cannot load {path} with tf-keras: {_first_line(e)}") from e
    kind = type(old).__name__
    if kind not in ("Functional", "Sequential"):
        raise LstmpruneError(f"{path} holds a subclassed model ({kind}); save a Functional or Sequential model instead")
    return old


def refuse_time_major(config, path: Path) -> None:
    bad = time_major_layers(config)
    if bad:
        raise LstmpruneError(
            f"{path}: layer '{bad[0]}' uses time_major=True, which Keras 3 cannot express; "
            "save the model with time_major=False (batch-major inputs) and retry"
        )


def from_tf_keras(path: Path):
    """A Keras 2 SavedModel directory, checked, read by tf-keras and rebuilt in Keras 3."""
    safety.check_saved_model(path)
    safety.check_recurrent([meta for _, meta in safety.saved_model_nodes(path)], str(path))
    return _rebuilt(_tf_keras_original(path), path)


def _rebuilt(old, path: Path):
    """The Keras 3 model of a tf-keras one: its config converted, its weights carried over, its function checked."""
    import keras

    config = old.get_config()
    refuse_time_major(config, path)
    try:
        cls = keras.Sequential if type(old).__name__ == "Sequential" else keras.Model
        model = cls.from_config(keras3_config(config))
        model.set_weights(old.get_weights())
    except Exception as e:  # noqa: BLE001
        raise LstmpruneError(f"cannot convert the Keras 2 model in {path} to Keras 3: {_first_line(e)}") from e
    safety.check_same_function(old, model, str(path))
    return model


def load_h5(path: Path):
    """A legacy `.h5` file: written by Keras 3, it loads as is; written by Keras 2, it is converted and checked.

    The conversion edits the config of an in-memory copy (nothing is written to disk, the input stays read-only)
    and reads it with Keras 3's legacy `.h5` loader.
    """
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    config, keras2 = safety.h5_config(path)
    safety.check_config(config, str(path), keras2=keras2)
    safety.check_recurrent(config, str(path))
    if not keras2:  # read through h5py: Keras picks its reader by the file's name, and the name may be wrong
        try:
            with h5py.File(path, "r") as f:
                ops = keras_ops(config)
                return legacy_h5_format.load_model_from_hdf5(f, custom_objects=ops, compile=False, safe_mode=True)
        except Exception as e:  # noqa: BLE001  h5py and keras raise many types
            raise LstmpruneError(f"cannot load {path} as a Keras model: {_first_line(e)}") from e
    refuse_time_major(config, path)
    cleaned = {**config, "config": keras3_config(copy.deepcopy(config.get("config", {})))}
    try:
        with h5py.File(io.BytesIO(Path(path).read_bytes()), "r+") as f:
            f.attrs["model_config"] = json.dumps(cleaned)
            if "training_config" in f.attrs:
                del f.attrs["training_config"]
            model = legacy_h5_format.load_model_from_hdf5(f, compile=False, safe_mode=True)
    except Exception as e:  # noqa: BLE001  h5py and keras raise many types
        raise LstmpruneError(f"cannot convert the Keras 2 model in {path} to Keras 3: {_first_line(e)}") from e
    safety.check_same_function(_tf_keras_original(path), model, str(path))
    return model


OP_MODULES = ("keras.src.ops.numpy", "keras.src.ops.math", "keras.src.ops.nn", "keras.src.ops.core")


def keras_ops(config) -> dict:
    """Keras 3's own operations named in a config (NotEqual, from an Embedding's mask_zero), by class name: Keras 3
    writes them to .h5 files but its .h5 reader does not look them up. Only classes of Keras' ops modules that are
    not layers."""
    import importlib

    import keras
    from keras.src.ops.operation import Operation

    names, stack = set(), [config]
    while stack:
        obj = stack.pop()
        if isinstance(obj, list):
            stack.extend(obj)
        elif isinstance(obj, dict):
            if isinstance(obj.get("class_name"), str) and not hasattr(keras.layers, obj["class_name"]):
                names.add(obj["class_name"])
            stack.extend(obj.values())
    found = {}
    for module in map(importlib.import_module, OP_MODULES):
        for name in names - set(found):
            op = getattr(module, name, None)
            if isinstance(op, type) and issubclass(op, Operation):
                found[name] = op
    return found


def _first_line(e: Exception) -> str:
    """The gist of an error: its first line, without the config dump Keras appends."""
    text = str(e).strip()
    line = text.splitlines()[0] if text else type(e).__name__
    return line.split(" Full object config:")[0].split(" Make sure custom classes")[0][:300]
