"""Safe loading: a model file's config is read and checked before anything deserializes it.

No model file may run code: a `Lambda` layer carries marshalled bytecode, a custom object names a
module to import, and tf-keras enforces `safe_mode` only for `.keras` files. Every config (a `.keras`
file's `config.json`, an `.h5` file's `model_config`, a Keras 2 SavedModel's `keras_metadata.pb`) is
walked first, and anything that is not a built-in Keras object is refused. After a conversion from
Keras 2, the converted model must compute the original's function, checked on random inputs.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from ...core.errors import LstmpruneError

CODE_LAYERS = ("Lambda", "TFOpLambda", "SlicingOpLambda")  # bytecode, or any TensorFlow function by name
SPECIAL = {"Functional", "Sequential", "Model", "TensorShape", "TypeSpec", "__tuple__", "__keras_tensor__"}
MAX_CONFIG_BYTES = 64 << 20
TOLERANCE = 1e-4  # max |converted - original| relative to the output's scale


def _keras2_names() -> set[str]:
    """Class names tf-keras builds itself: layers, initializers, regularizers, constraints, optimizers, losses..."""
    import tf_keras

    spaces = (
        tf_keras.layers,
        tf_keras.initializers,
        tf_keras.regularizers,
        tf_keras.constraints,
        tf_keras.optimizers,
        tf_keras.losses,
        tf_keras.metrics,
    )
    return {n for space in spaces for n in dir(space) if not n.startswith("_")} | {"Policy", "DTypePolicy"}


def check_config(config, where: str, keras2: bool = False) -> None:
    """Refuse a config that holds code (Lambda), a custom object, or a module outside Keras.

    keras2: the config was written by Keras 2 (no `module` keys): every class must be a tf-keras built-in.
    """
    known = _keras2_names() if keras2 else None
    top = config.get("class_name") if isinstance(config, dict) else None
    if top is not None and top not in ("Functional", "Sequential", "Model"):
        raise LstmpruneError(f"{where} holds a subclassed model ({top}); save a Functional or Sequential model instead")

    def refuse(what: str) -> None:
        raise LstmpruneError(
            f"{where} holds {what}; lstmprune loads built-in Keras layers only and never runs code from a "
            "model file: rebuild the model without it (see README, Security)"
        )

    def walk(obj) -> None:
        if isinstance(obj, list):
            for v in obj:
                walk(v)
            return
        if not isinstance(obj, dict):
            return
        name = obj.get("class_name")
        if "function_type" in obj or "output_shape_type" in obj or name in CODE_LAYERS:
            refuse(f"a {name or 'Lambda'} layer (code stored in the file)")
        if name is not None:
            if not isinstance(name, str):
                refuse(f"a class name of type {type(name).__name__}")
            module = obj.get("module")
            if module is not None and not (
                module in ("keras", "tf_keras", "builtins") or module.startswith(("keras.", "tf_keras."))
            ):
                refuse(f"'{name}' from module '{module}' (a custom object)")
            registered = obj.get("registered_name")
            if registered not in (None, name, f"Custom>{name}"):  # tf-keras registers its optimizers as Custom>
                refuse(f"the custom object '{registered}'")
            builtin = name.removeprefix("Custom>")  # tf-keras names its own optimizers so
            if known is not None and builtin not in known and builtin not in SPECIAL:
                refuse(f"the custom class '{name}'")
        for v in obj.values():
            walk(v)

    walk(config)


def check_recurrent(config, where: str) -> None:
    """Refuse, from the config alone, a model with no recurrent layer: before any conversion can fail on it."""
    from ...core.recurrent import REGISTRY, WRAPPER, layer_classes

    known = {n for s in REGISTRY.values() for n in (*s.layers, *s.cells)} | {WRAPPER}
    found, stack = [], [config]
    while stack:
        obj = stack.pop()
        if isinstance(obj, list):
            stack.extend(obj)
        elif isinstance(obj, dict):
            if obj.get("class_name") in known:
                found.append(obj["class_name"])
            stack.extend(obj.values())
    if not found:
        raise LstmpruneError(
            f"{where} has no recurrent layer, nothing for lstmprune to prune; expected a model with "
            f"{', '.join(layer_classes())} or Bidirectional"
        )


def keras_file_config(path: Path) -> dict:
    """The `config.json` of a `.keras` zip, size-checked."""
    try:
        with zipfile.ZipFile(path) as z:
            info = z.getinfo("config.json")
            if info.file_size > MAX_CONFIG_BYTES:
                raise LstmpruneError(f"{path}: config.json is {info.file_size:,} bytes; refusing more than 64 MB")
            config = json.loads(z.read(info))
    except (KeyError, zipfile.BadZipFile, ValueError, OSError) as e:
        raise LstmpruneError(f"{path} is not a Keras model file ({e}); expected a .keras zip with config.json") from e
    if not isinstance(config, dict):
        raise LstmpruneError(f"{path}: config.json holds a {type(config).__name__}; expected a JSON object")
    return config


def h5_config(path: Path) -> tuple[dict, bool]:
    """The `model_config` of an `.h5` file, and whether Keras 2 wrote it."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
            version = f.attrs.get("keras_version", b"")
    except OSError as e:
        raise LstmpruneError(f"{path} is not a readable HDF5 file ({e}); expected an .h5 written by model.save") from e
    if raw is None:
        raise LstmpruneError(f"{path} holds weights only, no model config; save the whole model (model.save)")
    raw = raw.decode() if isinstance(raw, bytes) else str(raw)
    version = version.decode() if isinstance(version, bytes) else str(version)
    try:
        config = json.loads(raw)
    except ValueError as e:
        raise LstmpruneError(f"{path}: model_config is not JSON ({e})") from e
    if not isinstance(config, dict):
        raise LstmpruneError(f"{path}: model_config is a {type(config).__name__}; expected a JSON object")
    return config, not version.startswith("3")


def h5_training_config(path: Path) -> dict:
    """The compile settings an `.h5` file recorded (`training_config`), or {}."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("training_config")
        data = json.loads(raw.decode() if isinstance(raw, bytes) else raw) if raw is not None else {}
    except (OSError, ValueError, TypeError):
        return {}
    return data if isinstance(data, dict) else {}


def saved_model_nodes(path: Path) -> list[tuple[str, object]]:
    """(node path, metadata JSON) of every object in a Keras 2 SavedModel's `keras_metadata.pb`."""
    from tf_keras.protobuf import saved_metadata_pb2

    metadata = saved_metadata_pb2.SavedMetadata()
    try:
        metadata.ParseFromString((Path(path) / "keras_metadata.pb").read_bytes())
        return [(node.node_path, json.loads(node.metadata)) for node in metadata.nodes]
    except Exception as e:  # noqa: BLE001  protobuf and json raise several types
        raise LstmpruneError(f"{path}/keras_metadata.pb cannot be read ({e}); expected a Keras 2 SavedModel") from e


def saved_model_training_config(path: Path) -> dict:
    """The compile settings a Keras 2 SavedModel recorded in its root object's metadata, or {}."""
    root = next((meta for where, meta in saved_model_nodes(path) if where == "root"), None)
    found = root.get("training_config") if isinstance(root, dict) else None
    return found if isinstance(found, dict) else {}


def check_saved_model(path: Path) -> None:
    """Check every object of a Keras 2 SavedModel (`keras_metadata.pb`) before tf-keras revives it."""
    for where, meta in saved_model_nodes(path):
        check_config(meta if where == "root" else [meta], str(path), keras2=True)


def check_same_function(original, converted, where: str) -> float:
    """Refuse a conversion whose outputs differ from the original's on random inputs; returns max |diff|."""
    from .costs import random_inputs

    worst = 0.0
    for seed in range(2):
        x = random_inputs(original, batch=2, length=5, seed=seed)
        want = _outputs(original(x if len(x) > 1 else x[0], training=False))
        got = _outputs(converted(x if len(x) > 1 else x[0], training=False))
        for a, b in zip(want, got):
            if a.shape != b.shape:
                raise LstmpruneError(f"{where}: the converted model's output shape {b.shape} differs from {a.shape}")
            scale = max(1.0, float(np.max(np.abs(a))) if a.size else 1.0)
            worst = max(worst, float(np.max(np.abs(a - b))) / scale if a.size else 0.0)
    if not worst <= TOLERANCE:
        raise LstmpruneError(
            f"{where} cannot be converted exactly: the converted model differs from the original by {worst:.2g} "
            "on random inputs; refusing it rather than shipping another function"
        )
    return worst


def _outputs(y) -> list[np.ndarray]:
    return [np.asarray(t) for t in (y if isinstance(y, (list, tuple)) else [y])]
