"""Physical pruning: a new, smaller model from an edited config and sliced weights."""

from __future__ import annotations

import copy

import numpy as np

from ...core.errors import LstmpruneError
from ..models.layers import feature_width, nodes, output_shapes
from .rules import DROPOUT, Cut, Features, LayerCut, rule_for


def _strip_build_config(obj) -> None:
    """Remove recorded build shapes: they hold the old widths; Keras rebuilds from the graph."""
    if isinstance(obj, dict):
        obj.pop("build_config", None)
        for v in obj.values():
            _strip_build_config(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _strip_build_config(v)


def prune_model(
    model,
    kept: dict[str, np.ndarray],
    fill: dict[str, np.ndarray] | None = None,
    inputs: dict[str, np.ndarray] | None = None,
):
    """A copy of `model` keeping, for each group name in `kept`, only those units (sorted indices).

    Groups not named keep every unit. With `fill` (group -> (H,) values, e.g. the units' mean outputs),
    each removed unit's value is folded into the bias of the layers that read it, instead of 0.
    `inputs` (recurrent layer -> kept indices of the features it reads) removes input neurons: the columns of
    the Embedding that feeds the layer alone, else a fixed selection (`Dense`, 0/1 kernel, not trainable)
    inserted before the layer, so the model keeps its input signature.
    Optimizer state and compile settings are dropped.
    """
    config = copy.deepcopy(model.get_config())
    class_name = type(model).__name__
    shapes = output_shapes(model)
    graph = nodes(config, class_name)
    new_weights, selections = _sliced(
        config, graph, shapes, Cut(kept, fill or {}), inputs or {}, lambda name: model.get_layer(name).get_weights()
    )
    for name, picked in selections.items():
        width = feature_width(shapes, next(n for n in graph if n.name == name).parents[0])
        selection = np.eye(width, dtype="float32")[:, picked]  # (F, F') 0/1
        new_weights[_insert_selection(config, class_name, name, len(picked))] = [selection]
    _strip_build_config(config)
    pruned = type(model).from_config(config)
    for layer in pruned.layers:
        weights = new_weights.get(layer.name)
        if weights is None:
            weights = model.get_layer(layer.name).get_weights()
        want = [tuple(v.shape) for v in layer.weights]
        got = [tuple(w.shape) for w in weights]
        if want != got:
            raise LstmpruneError(
                f"layer '{layer.name}': sliced weights have shapes {got}, the pruned layer expects {want}"
            )
        layer.set_weights(weights)
    return pruned


def _sliced(config: dict, graph, shapes, cut: Cut, inputs: dict, weights_of, constants: bool = True):
    """Slice every touched layer of the model (`config`, its `graph` and output `shapes`) by `cut`, editing `config`
    in place: the new weights by layer name, and the recurrent layers that read their features through a selection.
    `weights_of(name)`: a layer's weights; without `constants`, removed features' constants are not carried (index
    maps: only positions move)."""
    _check_inputs(graph, shapes, inputs)
    sources = {name: _embedding_source(graph, name) for name in inputs}
    features: dict[str, Features] = {}
    new_weights: dict[str, list[np.ndarray]] = {}
    selections: dict[str, np.ndarray] = {}  # recurrent layer -> kept features, read through a selection
    for entry, node in zip(config["layers"], graph):
        width = feature_width(shapes, node.name)
        picked = next((inputs[n] for n, e in sources.items() if e == node.name), None)
        if picked is not None:  # an Embedding whose output dimensions go
            entry["config"]["output_dim"] = len(picked)
            new_weights[node.name] = [weights_of(node.name)[0][:, picked]]  # (V, D')
            features[node.name] = Features(width, np.asarray(picked))
            continue
        reads = [features.get(p) or Features(feature_width(shapes, p)) for p in node.parents]
        if node.name in inputs and sources[node.name] is None:  # raw features: a selection before it
            selections[node.name] = np.asarray(inputs[node.name])
            reads = [Features(reads[0].width, selections[node.name])]
        rule = None if node.module.startswith("keras.src.ops") else rule_for(node.class_name, node.config)
        touched = any(f.kept is not None for f in reads) or (rule is not None and rule.flow == "group")
        if rule is None or not touched:
            features[node.name] = Features(width)
            continue
        layer = LayerCut(node.name, node.class_name, node.config, weights_of(node.name), reads, cut, width)
        entry["config"], new_weights[node.name], out = rule.slicer(layer)
        features[node.name] = out if constants else Features(out.width, out.kept)
    return new_weights, selections


def index_maps(model, kept: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Where each weight of the cut by `kept` comes from: for every layer the cut slices, one array per weight, of
    the cut's shape, holding flat indices into the original weight (the cut's weight is `original.flat[map]`)."""
    config = copy.deepcopy(model.get_config())
    graph = nodes(config, type(model).__name__)
    sizes = {layer.name: [tuple(w.shape) for w in layer.weights] for layer in model.layers}

    def positions(name: str) -> list[np.ndarray]:
        return [np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape) for shape in sizes[name]]

    maps, _ = _sliced(config, graph, output_shapes(model), Cut(kept), {}, positions, constants=False)
    return maps


def write_back(model, pruned, kept: dict[str, np.ndarray]) -> None:
    """Write `pruned` (a cut of `model` by `kept`, edited since, e.g. refitted) into `model` in place, so that the
    cut of `model` by `kept` is `pruned` again: the change of each kept weight is added where it came from. Removed
    units' own weights and the rows that read them stay; when those units output 0 (silenced), `model` computes
    what `pruned` computes. No input selection (`kept` names groups only)."""
    cut = prune_model(model, kept)
    for name, maps in index_maps(model, kept).items():
        layer, theirs, ours = model.get_layer(name), cut.get_layer(name).get_weights(), pruned.get_layer(name)
        weights = layer.get_weights()
        for w, at, before, after in zip(weights, maps, theirs, ours.get_weights()):
            w.flat[at.ravel()] += (after - before).ravel().astype(w.dtype)  # the cut's shape -> the kept positions
        layer.set_weights(weights)


def _check_inputs(graph, shapes, inputs: dict[str, np.ndarray]) -> None:
    """Input neurons are removed in front of a recurrent layer, inside the width it reads."""
    from ...core.groups import check_kept
    from ...core.recurrent import spec_of

    by = {n.name: n for n in graph}
    for name, picked in inputs.items():
        node = by.get(name)
        if (
            node is None
            or not node.parents
            or (spec_of(node.class_name, node.config) is None and node.class_name != "Bidirectional")
        ):
            raise LstmpruneError(f"input neurons are kept in front of a recurrent layer; '{name}' is not one here")
        try:
            check_kept(picked, feature_width(shapes, node.parents[0]), f"the inputs of '{name}'")
        except ValueError as e:
            raise LstmpruneError(str(e)) from e


PASSING = (*DROPOUT, "Masking")  # layers an Embedding's output may cross to reach the recurrent layer alone


def _embedding_source(graph, layer: str) -> str | None:
    """The Embedding whose output reaches `layer` alone (through dropout or masking), if there is one."""
    by = {n.name: n for n in graph}
    readers: dict[str, list[str]] = {}
    for n in graph:
        for p in n.parents + [q for names in n.extra.values() for q in names]:
            readers.setdefault(p, []).append(n.name)
    name = by[layer].parents[0] if by[layer].parents else None
    while name is not None and by[name].class_name in PASSING:
        if len(readers.get(name, [])) > 1 and by[name].class_name != "Masking":
            return None
        name = by[name].parents[0] if by[name].parents else None
    if name is None or by[name].class_name != "Embedding":
        return None
    ops = [r for r in readers.get(name, []) if by[r].module.startswith("keras.src.ops")]  # the mask it computes
    return name if len(readers.get(name, [])) - len(ops) == 1 else None


def _insert_selection(config: dict, class_name: str, layer: str, width: int) -> str:
    """Insert a fixed feature selection (Dense, no bias, not trainable) before `layer`; returns its name."""
    name = f"{layer}_inputs"
    at = next(i for i, e in enumerate(config["layers"]) if (e.get("name") or e["config"]["name"]) == layer)
    entry = {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {"name": name, "units": width, "use_bias": False, "trainable": False, "activation": "linear"},
        "registered_name": None,
        "name": name,
    }
    if class_name != "Sequential":
        args = config["layers"][at]["inbound_nodes"][0]["args"]
        entry["inbound_nodes"] = [{"args": [copy.deepcopy(args[0])], "kwargs": {}}]
        args[0]["config"]["keras_history"] = [name, 0, 0]
        args[0]["config"]["shape"] = [*args[0]["config"]["shape"][:-1], width]
    else:
        entry.pop("name")
    config["layers"].insert(at, entry)
    return name
