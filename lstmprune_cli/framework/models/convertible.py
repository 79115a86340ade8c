"""The forms a Keras model takes on its way to TFLite: the same model in tf-keras (whose LSTMs convert to the fused
op), without its mask (`export --drop-mask`), and with its steps unrolled (int8 for a GRU)."""

from __future__ import annotations

import copy

from .layers import mask_only, nodes, output_names


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


def layer_classes(obj) -> set[str]:
    """Every layer class name inside a config (wrappers included)."""
    if isinstance(obj, dict):
        own = {obj["class_name"]} if isinstance(obj.get("class_name"), str) else set()
        return own | {c for v in obj.values() for c in layer_classes(v)}
    if isinstance(obj, list):
        return {c for v in obj for c in layer_classes(v)}
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
