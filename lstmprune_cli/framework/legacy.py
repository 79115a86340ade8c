"""Keras 2 (tf-keras) models: SavedModel directories and `.h5` files, converted to Keras 3.

tf-keras reads what Keras 2 wrote; its config becomes a Keras 3 config after small edits
(`time_major` gone, `batch_input_shape` only on InputLayer as `batch_shape`), and the weights
carry over in order.
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from pathlib import Path

from ..core.errors import LstmpruneError


def clean_config(obj, inside_input: bool = False):
    """A Keras 2 config made loadable by Keras 3 (recursively)."""
    if isinstance(obj, list):
        return [clean_config(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out = {}
    is_input = obj.get("class_name") == "InputLayer"
    for k, v in obj.items():
        if k == "time_major":
            continue
        if k == "config" and isinstance(v, dict) and "batch_input_shape" in v:
            v = dict(v)
            shape = v.pop("batch_input_shape")
            if is_input:
                v["batch_shape"] = shape
        out[k] = clean_config(v)
    return out


def keras3_config(config: dict) -> dict:
    """The model config of a Keras 2 Functional or Sequential model, as Keras 3 reads it."""
    config = clean_config(config)
    for key in ("input_layers", "output_layers"):
        if len(config.get(key, ())) == 1:  # Keras 3 writes a single tensor unwrapped
            config[key] = config[key][0]
    return config


def from_tf_keras(path: Path):
    """Load a Keras 2 SavedModel directory or `.h5` with tf-keras and rebuild it in Keras 3."""
    import keras

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
    config = keras3_config(old.get_config())
    try:
        model = (keras.Sequential if kind == "Sequential" else keras.Model).from_config(config)
        model.set_weights(old.get_weights())
    except Exception as e:  # noqa: BLE001
        raise LstmpruneError(f"cannot convert the Keras 2 model in {path} to Keras 3: {_first_line(e)}") from e
    return model


def load_h5(path: Path):
    """A legacy `.h5` file: Keras 3 reads it once its config is cleaned (on a temporary copy)."""
    import h5py
    import keras

    with h5py.File(path, "r") as f:
        raw = f.attrs.get("model_config")
        if raw is None:
            raise LstmpruneError(f"{path} holds weights only, no model config; save the whole model (model.save)")
        raw = raw.decode() if isinstance(raw, bytes) else raw
    config = json.loads(raw)
    cleaned = {**config, "config": keras3_config(copy.deepcopy(config["config"]))}
    if cleaned == config:
        return keras.saving.load_model(path, compile=False)
    with tempfile.TemporaryDirectory() as tmp:
        copy_path = Path(tmp) / Path(path).name
        shutil.copyfile(path, copy_path)
        with h5py.File(copy_path, "r+") as f:
            f.attrs["model_config"] = json.dumps(cleaned)
            if "training_config" in f.attrs:
                del f.attrs["training_config"]
        return keras.saving.load_model(copy_path, compile=False)


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
