"""Physical pruning: a new, smaller model from an edited config and sliced weights."""

from __future__ import annotations

import copy

import numpy as np

from ..core.errors import LstmpruneError
from .graph import feature_width, nodes, output_shapes
from .slicers import Cut, Features, LayerCut, rule_for


def _strip_build_config(obj) -> None:
    """Remove recorded build shapes: they hold the old widths; Keras rebuilds from the graph."""
    if isinstance(obj, dict):
        obj.pop("build_config", None)
        for v in obj.values():
            _strip_build_config(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _strip_build_config(v)


def prune_model(model, kept: dict[str, np.ndarray], fill: dict[str, np.ndarray] | None = None):
    """A copy of `model` keeping, for each group name in `kept`, only those units (sorted indices).

    Groups not named keep every unit. With `fill` (group -> (H,) values, e.g. the units' mean outputs),
    each removed unit's value is folded into the bias of the layers that read it, instead of 0.
    Optimizer state and compile settings are dropped.
    """
    cut = Cut(kept, fill or {})
    config = copy.deepcopy(model.get_config())
    class_name = type(model).__name__
    shapes = output_shapes(model)
    features: dict[str, Features] = {}
    new_weights: dict[str, list[np.ndarray]] = {}
    for entry, node in zip(config["layers"], nodes(config, class_name)):
        width = feature_width(shapes, node.name)
        inputs = [features.get(p) or Features(feature_width(shapes, p)) for p in node.parents]
        rule = None if node.module.startswith("keras.src.ops") else rule_for(node.class_name, node.config)
        touched = any(f.kept is not None for f in inputs) or (rule is not None and rule.flow == "group")
        if rule is None or not touched:
            features[node.name] = Features(width)
            continue
        weights = model.get_layer(node.name).get_weights()
        layer = LayerCut(node.name, node.class_name, node.config, weights, inputs, cut, width)
        entry["config"], weights, features[node.name] = rule.slicer(layer)
        new_weights[node.name] = weights
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
