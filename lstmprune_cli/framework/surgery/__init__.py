"""Stage 3, surgery: which units form a group and where they flow (`groups`), how each layer type is sliced
(`rules`, one entry per layer type), the physical cut (`cut`), and a group's weights as slots (`units`)."""

from .cut import prune_model
from .groups import consumer_rows, model_groups, unit_groups

__all__ = ["consumer_rows", "model_groups", "prune_model", "unit_groups"]
