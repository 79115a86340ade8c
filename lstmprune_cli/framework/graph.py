"""The model's layer graph as plain records, its unit groups, and who consumes them.

Read from the model config (Functional or Sequential) so that couplings are data:
each layer's data parents, and which groups' units reach which layer unsliced.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.errors import LstmpruneError
from ..core.groups import GATES, UnitGroup
from .slicers import PASS_THROUGH, RECURRENT, SLICERS, supported_after_group


@dataclass
class Node:
    """One layer (or Keras op) of the functional graph."""

    name: str
    class_name: str
    config: dict
    parents: list[str]  # layers whose outputs are data inputs (positional args)
    extra: dict[str, list[str]] = field(default_factory=dict)  # kwarg name -> layers (mask, initial_state)


def _history(obj) -> list[str]:
    """Layer names referenced by keras tensors inside a serialized argument."""
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            return [obj["config"]["keras_history"][0]]
        return [n for v in obj.values() for n in _history(v)]
    if isinstance(obj, (list, tuple)):
        if len(obj) == 3 and isinstance(obj[0], str) and isinstance(obj[1], int):
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
        out.append(Node(layer["name"], layer["class_name"], layer["config"], parents, extra))
    return out


def output_names(config: dict, class_name: str, graph: list[Node]) -> set[str]:
    if class_name == "Sequential":
        return {graph[-1].name}
    return set(_history(config["output_layers"]))


def unit_groups(model) -> list[UnitGroup]:
    """The unit groups of `model`, each marked prunable unless its units reach a model output."""
    config = model.get_config()
    graph = nodes(config, type(model).__name__)
    outputs = output_names(config, type(model).__name__, graph)
    groups: list[UnitGroup] = []
    carries: dict[str, set[str]] = {}  # layer -> groups whose units its output carries unsliced
    for node in graph:
        incoming = set().union(*[carries.get(p, set()) for p in node.parents]) if node.parents else set()
        for kw, names in node.extra.items():
            tainted = set().union(*[carries.get(n, set()) for n in names])
            if tainted and kw != "mask":
                raise LstmpruneError(
                    f"layer '{node.name}' ({node.class_name}) takes the units of {sorted(tainted)} as '{kw}'; "
                    "lstmprune only follows them as a layer's main input"
                )
        if incoming and node.class_name not in SLICERS:
            raise LstmpruneError(
                f"layer '{node.name}' ({node.class_name}) reads the units of {', '.join(sorted(incoming))}, "
                f"and lstmprune cannot slice it; supported after a recurrent group: {supported_after_group()}"
            )
        if incoming and node.class_name == "TimeDistributed" and node.config["layer"]["class_name"] != "Dense":
            inner = node.config["layer"]["class_name"]
            raise LstmpruneError(
                f"layer '{node.name}' is TimeDistributed({inner}); only TimeDistributed(Dense) is supported"
            )
        if node.class_name in RECURRENT or node.class_name == "Bidirectional":
            layer = model.get_layer(node.name)
            carries[node.name] = {g.name for g in _groups_of(layer, node)}
            groups.extend(_groups_of(layer, node))
        elif node.class_name in PASS_THROUGH:
            carries[node.name] = incoming
    blocked = set().union(*[carries.get(o, set()) for o in outputs]) if outputs else set()
    blocked_ties = {g.tie for g in groups if g.name in blocked}
    return [_replace(g, prunable=g.tie not in blocked_ties) for g in groups]


def _replace(g: UnitGroup, **kw) -> UnitGroup:
    return UnitGroup(**{**g.to_dict(), **kw})


def _check_recurrent(config: dict, name: str) -> None:
    for flag in ("return_state", "stateful"):
        if config.get(flag):
            raise LstmpruneError(f"layer '{name}' has {flag}=True; lstmprune supports recurrent layers without it")


def _groups_of(layer, node: Node) -> list[UnitGroup]:
    if node.class_name in RECURRENT:
        _check_recurrent(node.config, node.name)
        return [_group(node.name, node.name, "", node.class_name, layer, node.name)]
    inner = node.config["layer"]["class_name"]
    if inner not in GATES:
        raise LstmpruneError(f"layer '{node.name}' wraps {inner}; Bidirectional is supported around {', '.join(GATES)}")
    _check_recurrent(node.config["layer"]["config"], node.name)
    same = node.config.get("merge_mode") in ("sum", "ave", "mul")
    if node.config.get("merge_mode") is None:
        raise LstmpruneError(f"layer '{node.name}' has merge_mode=None; use concat, sum, ave or mul")
    return [
        _group(f"{node.name}/{d}", node.name, d, inner, sub, node.name, same)
        for d, sub in (("forward", layer.forward_layer), ("backward", layer.backward_layer))
    ]


def _group(name, layer_name, direction, cell, layer, tie, same=False) -> UnitGroup:
    kernel = layer.cell.kernel
    return UnitGroup(name, layer_name, direction, cell, int(layer.units), int(kernel.shape[0]), tie, same)
