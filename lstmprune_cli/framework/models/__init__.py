"""Stage 2, models: model files (read by content, checked in safe mode, Keras 2 repaired, written for the Keras
that reads them), the layer graph read from a model's config, the task it solves (a registry), costs (FLOPs,
latency) and TFLite."""

from .files import (
    compile_like,
    compiled_loss,
    compiled_setting,
    default_output,
    describe,
    fingerprint,
    load_model,
    model_kind,
    optimizer_saved,
    reader_of,
    save_model,
    saved_like,
)
from .layers import sequence_length

__all__ = [
    "compile_like",
    "compiled_loss",
    "compiled_setting",
    "default_output",
    "describe",
    "fingerprint",
    "load_model",
    "model_kind",
    "optimizer_saved",
    "reader_of",
    "save_model",
    "saved_like",
    "sequence_length",
]
