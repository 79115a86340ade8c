"""Where each unit's weights are: the intrinsic sparse structures that learned pruning trains.

A `UnitSet` is the units pruned together with one kept-index set (a group, or the directions a
sum/ave/mul merge ties). Each unit owns entries in several weight tensors (`Slot`s): its own kernel,
recurrent-kernel and bias columns in every gate (incoming), and the rows that read it, in its own
recurrent kernel and in every consumer (outgoing). Gates scale the outgoing rows; group lasso
shrinks all of them together; soft pruning zeroes all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...core.groups import UnitGroup
from .groups import walk
from .rules import rule_for


@dataclass
class Slot:
    """One weight tensor's entries owned by the units of a set."""

    layer: str  # Keras layer name
    weight: int  # index into the layer's weights
    axis: int  # 0: rows, -1: the last axis
    index: np.ndarray  # (U, k) each unit's positions along `axis`
    outgoing: bool  # rows that read the unit (True) or the unit's own columns (False)


@dataclass
class UnitSet:
    """Units pruned together: a group's (or tied groups'), or the input features of a first recurrent layer
    (`reader` names it; no groups)."""

    name: str
    groups: list[UnitGroup]
    slots: list[Slot] = field(default_factory=list)
    reader: str = ""  # input features: the recurrent layer that reads them
    size: int = 0  # input features: how many

    @property
    def units(self) -> int:
        return self.groups[0].units if self.groups else self.size

    @property
    def tie(self) -> str:
        return self.groups[0].tie if self.groups else self.name

    @property
    def members(self) -> int:
        return max(1, len(self.groups))


def unit_sets(model, inputs: bool = False) -> list[UnitSet]:
    """The prunable unit sets of `model`, each with every slot of its units' weights; with `inputs`, also the
    input features of each recurrent layer that reads none of a group's units (rows of its kernels)."""
    groups, flow, graph = walk(model)
    sets: dict[str, UnitSet] = {}
    owner: dict[str, str] = {}
    for g in groups:
        if g.prunable:
            key = g.same_as or g.name
            sets.setdefault(key, UnitSet(key, [])).groups.append(g)
            owner[g.name] = key
    for s in sets.values():
        for g in s.groups:
            s.slots.extend(_own_slots(model, g))
    for node in graph:
        rule = rule_for(node.class_name, node.config)
        if rule is None or rule.flow not in ("consume", "group") or len(node.parents) != 1:
            continue
        weights = model.get_layer(node.name).weights
        kernels = [0, len(weights) // 2] if node.class_name == "Bidirectional" else [0]
        offset = 0
        for name, width in flow.get(node.parents[0]) or []:
            if name in owner:
                rows = offset + np.arange(width)[:, None]  # (U, 1)
                sets[owner[name]].slots.extend(Slot(node.name, k, 0, rows, True) for k in kernels)
            offset += width
        segments = flow.get(node.parents[0]) or []
        if inputs and rule.flow == "group" and not any(name for name, _ in segments):
            rows = np.arange(model.get_layer(node.name).weights[0].shape[0])[:, None]  # (F, 1)
            slots = [Slot(node.name, k, 0, rows, True) for k in kernels]
            reader = f"{node.name}:inputs"
            sets[reader] = UnitSet(reader, [], slots, reader=node.name, size=len(rows))
    return list(sets.values())


def _own_slots(model, g: UnitGroup) -> list[Slot]:
    """A group's columns in its kernel, recurrent kernel and bias, and its recurrent kernel's rows."""
    layer = model.get_layer(g.layer)
    offset = len(layer.weights) // 2 if g.direction == "backward" else 0
    count = len(layer.weights) // 2 if g.direction else len(layer.weights)
    units = np.arange(g.units)
    columns = np.stack([g.spec.columns(np.array([j]), g.units) for j in units])  # (U, G)
    slots = [Slot(g.layer, offset + i, -1, columns, False) for i in range(count)]  # kernel, recurrent, bias
    slots.append(Slot(g.layer, offset + 1, 0, units[:, None], True))
    return slots


def variable(model, slot: Slot):
    return model.get_layer(slot.layer).weights[slot.weight]


def take(array: np.ndarray, slot: Slot) -> np.ndarray:
    """Every unit's entries of `slot` in `array`: (U, k, ...) with the other axes after."""
    return np.moveaxis(array, slot.axis, 0)[slot.index]  # (U, k, ...)


def _chosen(unit_set: UnitSet, slots: str) -> list[Slot]:
    """The set's slots of one kind: all, incoming (the units' own columns) or outgoing (the rows reading them)."""
    return [s for s in unit_set.slots if slots == "all" or s.outgoing == (slots == "outgoing")]


def squared_norms(model, unit_set: UnitSet, slots: str = "all") -> np.ndarray:
    """Each unit's squared norm over its slots (all, incoming or outgoing), (U,)."""
    total = np.zeros(unit_set.units)
    for slot in _chosen(unit_set, slots):
        part = take(variable(model, slot).numpy(), slot)
        total += np.sum(part.reshape(unit_set.units, -1) ** 2, axis=1)
    return total


def entries(unit_set: UnitSet, model) -> int:
    """Weights one unit owns: in each slot, its positions times the size of the tensor's other axes."""
    total = 0
    for s in unit_set.slots:
        shape = tuple(variable(model, s).shape)
        total += s.index.shape[1] * int(np.prod(shape)) // shape[s.axis]
    return total


def scale_units(model, unit_set: UnitSet, factors: np.ndarray, slots: str = "all") -> None:
    """Multiply each unit's entries by its factor (U,) in its `slots`: all, incoming (its own columns:
    0 silences the unit, its output is 0 at every step) or outgoing (the rows that read it)."""
    for slot in _chosen(unit_set, slots):
        var = variable(model, slot)
        value = np.moveaxis(var.numpy().copy(), slot.axis, 0)
        shape = (-1,) + (1,) * (value.ndim - 1)
        for k in range(slot.index.shape[1]):
            value[slot.index[:, k]] *= factors.reshape(shape).astype(value.dtype)
        var.assign(np.moveaxis(value, 0, slot.axis))


def fold_means(model, unit_set: UnitSet, values: np.ndarray) -> None:
    """Add each unit's value (U,) times the consumer rows that read it to the consumer's bias: the consumers
    then see the value where the unit will output 0 (its own recurrent rows are left, as a cut leaves them)."""
    own = {g.layer for g in unit_set.groups}
    for slot in unit_set.slots:
        if not slot.outgoing or slot.layer in own:
            continue
        layer = model.get_layer(slot.layer)
        bias_index = _bias_of(layer, slot.weight)
        if bias_index is None:
            continue
        kernel = layer.weights[slot.weight].numpy()  # (F, out)
        shift = sum(values @ kernel[slot.index[:, k]] for k in range(slot.index.shape[1]))  # (out,)
        bias = layer.weights[bias_index]
        value = bias.numpy().copy()
        if value.ndim == 2:  # GRU reset_after: row 0 is the input bias
            value[0] += shift
        else:
            value += shift
        bias.assign(value)


def _bias_of(layer, kernel: int) -> int | None:
    """The index of the bias that goes with the kernel at `kernel` (None: the layer has no bias)."""
    from ..models.layers import cells

    directions = len(cells(layer))
    if directions:  # kernel, recurrent kernel and bias per direction
        return kernel + 2 if len(layer.weights) // directions == 3 else None
    return 1 if len(layer.weights) > 1 else None
