"""Calibration batches: a factory of model-input batches over a data source, resolved when first read."""

from __future__ import annotations

import numpy as np

from ...core.errors import LstmpruneError
from ...core.schema import Options
from .sources import InputSpec, resolve
from .stream import Stream


def calibration(model, data_spec: str, options: Options | None = None, *, batch_size: int = 64, max_samples=None):
    """A factory of model-input batches over `data_spec` (each call starts a new pass)."""
    model_input = InputSpec.of(model)
    schema = resolve(data_spec, options or Options(), model_input)
    return lambda: Stream(schema, model_input.length, batch_size, max_samples)


def first_sequences(batches, count: int) -> np.ndarray:
    """The first `count` sequences of a calibration stream, as one array."""
    found, seen = [], 0
    for x in batches():
        found.append(np.asarray(x)[: count - seen])
        seen += len(found[-1])
        if seen >= count:
            break
    return np.concatenate(found)


def lazy_calibration(model, data_spec: str | None, options: Options | None, samples: int):
    """A factory of calibration batches, resolved on the first call only: most cuts never run the model."""
    stream = None

    def batches():
        nonlocal stream
        if data_spec is None:
            raise LstmpruneError("this cut runs the model; pass data (the data analyze read)", option="data")
        if stream is None:
            stream = calibration(model, data_spec, options, max_samples=samples)
        return stream()

    return batches


def inputs_of(batches, samples: int):
    """A factory of the model inputs of (x, y) batches, at most `samples` sequences: calibration batches read
    from training data."""

    def make():
        seen = 0
        for x, _ in batches():
            yield x[: samples - seen]
            seen += len(x)
            if seen >= samples:
                return

    return make
