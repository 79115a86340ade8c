"""The framework layer: the only place TensorFlow and Keras are imported."""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def quiet_stderr():
    """Silence what C++ code writes straight to file descriptor 2 (TensorFlow, TFLite start-up lines)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextlib.contextmanager
def quiet_logs():
    """No log records while a library that logs its own failures runs (Beam): its errors reach us as exceptions."""
    import logging

    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def import_tensorflow() -> None:
    """Import TensorFlow and Keras once, keeping their start-up log lines off the user's stderr."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with quiet_stderr():
        import keras  # noqa: F401
        import tensorflow

        tensorflow.get_logger().setLevel("ERROR")
