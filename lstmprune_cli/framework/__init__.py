"""The framework layer: the only place TensorFlow and Keras are imported."""

from __future__ import annotations

import os


def import_tensorflow() -> None:
    """Import TensorFlow and Keras once, keeping their start-up log lines off the user's stderr."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras  # noqa: F401
        import tensorflow

        tensorflow.get_logger().setLevel("ERROR")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
