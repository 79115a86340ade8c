"""Stage 1, data: the sources (TFRecords, arrays, text), how a source is detected and read as a model's
inputs, and the stream of batches every verb reads. Imports nothing from the later stages."""

from .calibration import calibration, first_sequences, lazy_calibration
from .sources import InputSpec, Source, input_embedding, resolve, source_of
from .stream import Stream

__all__ = [
    "InputSpec",
    "Source",
    "Stream",
    "calibration",
    "first_sequences",
    "input_embedding",
    "lazy_calibration",
    "resolve",
    "source_of",
]
