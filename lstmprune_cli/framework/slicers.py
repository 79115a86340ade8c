"""One slicer per Keras layer class: how a layer's config and weights change when units go.

A slicer takes the layer's name, class and config, its weights, the kept indices of its input features
(None: all) and the kept units of every group, and returns the new config, the new
weights and the kept indices of its output features (None: all).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np

from ..core.groups import GATES, gate_columns

Kept = dict[str, np.ndarray]
Slicer = Callable[[str, str, dict, list, "np.ndarray | None", Kept], tuple[dict, list, "np.ndarray | None"]]

RECURRENT = tuple(GATES)
PASS_THROUGH = (
    "Dropout",
    "SpatialDropout1D",
    "GaussianDropout",
    "GaussianNoise",
    "AlphaDropout",
    "ActivityRegularization",
)


def _cell(config: dict, weights: list, in_kept, kept_units, cell: str) -> tuple[dict, list, np.ndarray]:
    """Slice one recurrent layer: kernel (F, GH), recurrent_kernel (H, GH), bias (GH,) or (2, GH)."""
    units = config["units"]
    kept_units = np.arange(units) if kept_units is None else np.asarray(kept_units)
    cols = gate_columns(kept_units, units, GATES[cell])  # (G * K,)
    kernel, recurrent_kernel, *bias = weights
    if in_kept is not None:
        kernel = kernel[in_kept]  # (F', GH)
    new = [kernel[:, cols], recurrent_kernel[kept_units][:, cols]] + [b[..., cols] for b in bias]
    return {**config, "units": int(len(kept_units))}, new, kept_units


def recurrent(name, class_name, config, weights, in_kept, kept):
    return _cell(config, weights, in_kept, kept.get(name), class_name)


def bidirectional(name, class_name, config, weights, in_kept, kept):
    config = copy.deepcopy(config)
    half = len(weights) // 2
    fw_cfg, bw_cfg = config["layer"], config["backward_layer"]
    cell = fw_cfg["class_name"]
    units = fw_cfg["config"]["units"]
    fw_cfg["config"], fw_w, fw_out = _cell(fw_cfg["config"], weights[:half], in_kept, kept.get(f"{name}/forward"), cell)
    bw_cfg["config"], bw_w, bw_out = _cell(
        bw_cfg["config"], weights[half:], in_kept, kept.get(f"{name}/backward"), cell
    )
    if len(fw_out) != len(bw_out):
        raise ValueError(
            f"'{name}': both directions must keep the same number of units ({len(fw_out)} != {len(bw_out)})"
        )
    if config.get("merge_mode") == "concat":
        out = np.concatenate([fw_out, units + bw_out])
    else:
        if not np.array_equal(fw_out, bw_out):
            raise ValueError(
                f"'{name}': merge_mode {config['merge_mode']} needs the same kept units in both directions"
            )
        out = fw_out
    return config, fw_w + bw_w, out


def dense(name, class_name, config, weights, in_kept, kept):
    if in_kept is None:
        return config, weights, None
    kernel, *bias = weights
    return config, [kernel[in_kept]] + bias, None  # kernel (F', U)


def pass_through(name, class_name, config, weights, in_kept, kept):
    return config, weights, in_kept


SLICERS: dict[str, Slicer] = {
    **{c: recurrent for c in RECURRENT},
    "Bidirectional": bidirectional,
    "Dense": dense,
    "TimeDistributed": dense,
    **{c: pass_through for c in PASS_THROUGH},
}


def supported_after_group() -> str:
    return ", ".join(["Dense", "TimeDistributed(Dense)", *RECURRENT, "Bidirectional", *PASS_THROUGH])
