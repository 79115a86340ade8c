"""The model's unit groups, and how their units flow.

Couplings are data: each layer's data parents, and which groups' units reach which layer unsliced, segment by
segment along the feature axis. Element-wise merges (Add, Multiply, ...) tie the groups they combine.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...core.errors import LstmpruneError
from ...core.groups import UnitGroup
from ...core.recurrent import Recurrent, cell_config, layer_classes, spec_of
from ..models.layers import Node, cells, feature_width, mask_only, nodes, output_names, output_shapes
from .rules import rule_for, supported_after_group

Segments = list[tuple[str | None, int]]  # along the last axis: (group carried unsliced or None, width)


class _Union:
    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, a: str) -> str:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            a = self.parent[a]
        return a

    def join(self, a: str, b: str) -> None:
        self.parent[self.find(b)] = self.find(a)


def unit_groups(model) -> list[UnitGroup]:
    """The unit groups of `model` with their ties; a group whose units reach a model output is not prunable."""
    return walk(model)[0]


def consumer_rows(model, groups: list[UnitGroup]) -> dict[str, np.ndarray]:
    """Each group's rows in every kernel that reads its units, side by side: (H, m) by group name.

    A unit's rows are its weight in every consumer (a Dense, a recurrent layer's input kernel, each
    direction of a Bidirectional; every step after Flatten). Groups merged element-wise share their rows.
    """
    _, flow, graph = walk(model)
    parts: dict[str, list[np.ndarray]] = {g.name: [] for g in groups}
    for node in graph:
        rule = rule_for(node.class_name, node.config)
        if rule is None or rule.flow not in ("consume", "group") or len(node.parents) != 1:
            continue
        segments = flow.get(node.parents[0]) or []
        if not any(g for g, _ in segments):
            continue
        weights = model.get_layer(node.name).get_weights()
        kernels = [weights[0], weights[len(weights) // 2]] if node.class_name == "Bidirectional" else [weights[0]]
        offset = 0
        for g, width in segments:
            if g in parts:
                parts[g].extend(k[offset : offset + width] for k in kernels)  # (H, columns)
            offset += width
    rows = {name: np.concatenate(p, axis=1) for name, p in parts.items() if p}
    for g in groups:  # the backward direction of a sum/ave/mul merge reaches consumers through the forward's rows
        if g.name not in rows and g.same_as:
            partner = next((o.name for o in groups if o.same_as == g.same_as and o.name in rows), None)
            if partner:
                rows[g.name] = rows[partner]
    return rows


def walk(model) -> tuple[list[UnitGroup], dict[str, Segments], list[Node]]:
    """The groups, the segments of every layer's output, and the graph."""
    config = model.get_config()
    class_name = type(model).__name__
    graph = nodes(config, class_name)
    shapes = output_shapes(model)
    groups: list[UnitGroup] = []
    flow: dict[str, Segments] = {}  # layer -> segments of its output
    ties, same = _Union(), _Union()
    blocked: set[str] = set()
    masks = mask_only(graph, output_names(config, class_name, graph))

    def width(name: str) -> int:
        return feature_width(shapes, name)

    for node in graph:
        if node.name in masks:
            continue
        inputs = [flow.get(p) or [(None, width(p))] for p in node.parents if p in shapes]
        carried = {g for segs in inputs for g, _ in segs if g}
        for kw, names in node.extra.items():
            if kw != "mask" and any(g for n in names for g, _ in flow.get(n, [])):
                raise LstmpruneError(
                    f"layer '{node.name}' ({node.class_name}) takes a group's units as '{kw}'; "
                    "lstmprune only follows them as a layer's main input"
                )
        rule = rule_for(node.class_name, node.config)
        if carried and rule is None:
            raise LstmpruneError(
                f"layer '{node.name}' ({node.class_name}) reads the units of {', '.join(sorted(carried))}, "
                f"and lstmprune cannot slice it; supported after a recurrent group: {supported_after_group()}"
            )
        if carried and node.class_name == "TimeDistributed" and node.config["layer"]["class_name"] != "Dense":
            inner = node.config["layer"]["class_name"]
            raise LstmpruneError(
                f"layer '{node.name}' is TimeDistributed({inner}); only TimeDistributed(Dense) is supported"
            )
        flow_kind = rule.flow if rule is not None else None
        if flow_kind == "group":
            new = _groups_of(model.get_layer(node.name), node)
            groups.extend(new)
            for g in new:
                ties.join(new[0].name, g.name)
                if g.same_as:
                    same.join(new[0].name, g.name)
            segs = [(g.name, g.units) for g in new]
            flow[node.name] = segs[:1] if new[0].same_as else segs
        elif flow_kind == "pass":
            flow[node.name] = inputs[0] if inputs else []
        elif flow_kind == "concat" and carried:
            rank = len(shapes[node.name])
            if node.config.get("axis", -1) not in (-1, rank - 1):
                axis = node.config["axis"]
                raise LstmpruneError(
                    f"layer '{node.name}' concatenates along axis {axis}; units are followed on the last axis"
                )
            flow[node.name] = [s for segs in inputs for s in segs]
        elif flow_kind == "flatten" and carried:
            steps = shapes[node.parents[0]][1:-1]
            if len(steps) != 1 or steps[0] is None:
                shape = shapes[node.parents[0]]
                raise LstmpruneError(
                    f"layer '{node.name}' (Flatten) needs a fixed sequence length; input shape {shape}"
                )
            flow[node.name] = inputs[0] * steps[0]
        elif flow_kind == "merge" and carried:
            flow[node.name] = _tie_elementwise(node, inputs, ties, same, blocked)
    outputs = output_names(config, class_name, graph)
    blocked |= {g for o in outputs for g, _ in flow.get(o, []) if g}
    blocked_ties = {ties.find(g) for g in blocked}
    sizes: dict[str, int] = {}
    for g in groups:
        sizes[same.find(g.name)] = sizes.get(same.find(g.name), 0) + 1
    found = [
        replace(
            g,
            tie=ties.find(g.name),
            same_as=same.find(g.name) if sizes[same.find(g.name)] > 1 else "",
            prunable=ties.find(g.name) not in blocked_ties,
        )
        for g in groups
    ]
    return found, flow, graph


def _tie_elementwise(node: Node, inputs: list[Segments], ties: _Union, same: _Union, blocked: set[str]) -> Segments:
    """Inputs of Add / Multiply / ... must keep the same units position by position."""
    layouts = {tuple(w for _, w in segs) for segs in inputs}
    if len(layouts) != 1:
        blocked.update(g for segs in inputs for g, _ in segs if g)
        return [(None, sum(w for _, w in inputs[0]))]
    for position in zip(*inputs):
        names = [g for g, _ in position]
        if None in names:
            blocked.update(g for g in names if g)
            continue
        for g in names[1:]:
            ties.join(names[0], g)
            same.join(names[0], g)
    return inputs[0]


def _check_recurrent(config: dict, name: str) -> None:
    for flag in ("return_state", "stateful"):
        if config.get(flag):
            raise LstmpruneError(f"layer '{name}' has {flag}=True; lstmprune supports recurrent layers without it")


def _groups_of(layer, node: Node) -> list[UnitGroup]:
    if node.class_name != "Bidirectional":
        _check_recurrent(node.config, node.name)
        spec = spec_of(node.class_name, node.config)
        return [_group(node.name, node.name, "", spec, layer)]
    inner = node.config["layer"]
    if spec_of(inner["class_name"], inner["config"]) is None:
        raise LstmpruneError(
            f"layer '{node.name}' wraps {_shown(inner)}; Bidirectional is supported around {', '.join(layer_classes())}"
        )
    _check_recurrent(inner["config"], node.name)
    if node.config.get("merge_mode") is None:
        raise LstmpruneError(f"layer '{node.name}' has merge_mode=None; use concat, sum, ave or mul")
    same = node.name if node.config.get("merge_mode") in ("sum", "ave", "mul") else ""
    return [replace(_group(f"{node.name}/{d}", node.name, d, spec, sub), same_as=same) for d, spec, sub in cells(layer)]


def _shown(entry: dict) -> str:
    """A layer entry as a user writes it: LSTM, or RNN(MyCell)."""
    cell = entry["config"].get("cell")
    return f"{entry['class_name']}({cell.get('class_name')})" if isinstance(cell, dict) else entry["class_name"]


def _group(name: str, layer_name: str, direction: str, spec: Recurrent, layer) -> UnitGroup:
    units = cell_config(type(layer).__name__, layer.get_config())["units"]
    kernel = layer.cell.kernel
    return UnitGroup(name, layer_name, direction, spec.name, int(units), int(kernel.shape[0]), layer_name)


def model_groups(model) -> list[UnitGroup]:
    """The unit groups of `model`; refused when it has none."""
    groups = unit_groups(model)
    if not groups:
        raise LstmpruneError(
            f"the model has no recurrent layer to prune; expected one of {', '.join(layer_classes())} or Bidirectional"
        )
    return groups
