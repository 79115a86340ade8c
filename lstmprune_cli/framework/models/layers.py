"""The model's layer graph as plain records, read from its config (Functional or Sequential), and its
recurrent cells."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...core.errors import LstmpruneError
from ...core.groups import UnitGroup
from ...core.recurrent import Recurrent, spec_of


@dataclass
class Node:
    """One layer (or Keras op) of the functional graph."""

    name: str
    class_name: str
    config: dict
    parents: list[str]  # layers whose outputs are data inputs (first positional argument)
    extra: dict[str, list[str]] = field(default_factory=dict)  # kwarg name -> layers (mask, initial_state)
    module: str = "keras.layers"


def _history(obj) -> list[str]:
    """Layer names referenced by keras tensors inside a serialized argument."""
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            return [obj["config"]["keras_history"][0]]
        return [n for v in obj.values() for n in _history(v)]
    if isinstance(obj, (list, tuple)):
        if len(obj) >= 3 and isinstance(obj[0], str) and isinstance(obj[1], int):
            return [obj[0]]
        return [n for v in obj for n in _history(v)]
    return []


def nodes(config: dict, class_name: str) -> list[Node]:
    """The layers of a Functional or Sequential model config, in topological order."""
    layers = config["layers"]
    if class_name == "Sequential":
        out, prev = [], []
        for layer in layers:
            name = layer["config"]["name"]
            out.append(Node(name, layer["class_name"], layer["config"], prev))
            prev = [name]
        return out
    out = []
    for layer in layers:
        inbound = layer.get("inbound_nodes") or []
        if len(inbound) > 1:
            raise LstmpruneError(
                f"layer '{layer['name']}' is called {len(inbound)} times; shared layers are not supported"
            )
        args = inbound[0]["args"] if inbound else []
        kwargs = inbound[0].get("kwargs", {}) if inbound else {}
        parents = _history(args[0]) if args else []
        extra = {k: _history(v) for k, v in kwargs.items() if _history(v)}
        extra.update({f"arg{i}": _history(a) for i, a in enumerate(args[1:], 1) if _history(a)})
        module = layer.get("module") or ""
        out.append(Node(layer["name"], layer["class_name"], layer["config"], parents, extra, module))
    return out


def mask_only(graph: list[Node], outputs: set[str]) -> set[str]:
    """Keras ops whose results only ever feed masks (Keras 3 builds masks from ops in the graph)."""
    uses: dict[str, list[tuple[str, str]]] = {}
    for node in graph:
        for p in node.parents:
            uses.setdefault(p, []).append((node.name, "data"))
        for kw, names in node.extra.items():
            for p in names:
                uses.setdefault(p, []).append((node.name, kw))
    ops = {n.name for n in graph if n.module.startswith("keras.src.ops")}
    found: set[str] = set()
    for node in reversed(graph):
        if node.name in ops and node.name not in outputs:
            if all(kw == "mask" or user in found for user, kw in uses.get(node.name, [])):
                found.add(node.name)
    return found


def output_names(config: dict, class_name: str, graph: list[Node]) -> set[str]:
    if class_name == "Sequential":
        return {graph[-1].name}
    return set(_history(config["output_layers"]))


def output_shapes(model) -> dict[str, tuple]:
    """Output shape of every layer and op, by name."""
    ops = list(getattr(model, "operations", [])) or list(model.layers)
    shapes = {}
    for op in ops:
        out = op.output
        out = out[0] if isinstance(out, (list, tuple)) else out
        shapes[op.name] = tuple(out.shape)
    for node in model.get_config()["layers"]:
        if node["class_name"] == "InputLayer":
            shapes.setdefault(node["config"]["name"], tuple(node["config"]["batch_shape"]))
    return shapes


def feature_width(shapes: dict[str, tuple], name: str) -> int:
    """Width of a layer's last axis; 0 when it is free (token ids of a free-length input, a mask)."""
    shape = shapes.get(name) or ()
    return int(shape[-1]) if shape and shape[-1] is not None else 0


def cells(layer) -> list[tuple[str, Recurrent, object]]:
    """(direction, spec, Keras layer) of each recurrent cell `layer` runs: one, two for Bidirectional, or none."""
    if type(layer).__name__ == "Bidirectional":
        subs = [("forward", layer.forward_layer), ("backward", layer.backward_layer)]
    else:
        subs = [("", layer)]
    found = [(d, spec_of(type(sub).__name__, sub.get_config()), sub) for d, sub in subs]
    return [(d, spec, sub) for d, spec, sub in found if spec is not None]


def sub_layer(model, group: UnitGroup):
    """The Keras recurrent layer that runs `group`'s cell (a direction of a Bidirectional, or the layer)."""
    layer = model.get_layer(group.layer)
    return getattr(layer, f"{group.direction}_layer") if group.direction else layer


DEFAULT_LENGTH = 100  # time steps assumed for cost figures when the model's length is free


def sequence_length(model) -> int:
    return model.inputs[0].shape[1] or DEFAULT_LENGTH
