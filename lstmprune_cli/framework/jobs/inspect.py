"""inspect: what a data source holds, as lstmprune reads it."""

from __future__ import annotations

from pathlib import Path

from .. import import_tensorflow
from ..data import arrays
from ..data.formats import sniff
from ..data.tfrecords import inspect as inspect_records


def run(data: str, *, sample: int = 100) -> dict:
    """A TFRecord source's record type, features, values per frame and the frame counts of `sample` records; an
    .npy / .npz file's arrays, their shapes and how they are read."""
    import_tensorflow()
    path = Path(data)
    if path.is_file() and sniff(path) in ("npy", "npz"):
        return arrays.inspect(path)
    return inspect_records(data, sample)
