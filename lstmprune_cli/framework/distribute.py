"""Fine-tuning beyond one device: tf.distribute strategies, the batches they take, and epoch backups.

    strategy = strategy_of("multi-worker")        # reads TF_CONFIG
    finetune(model, batches, task, strategy=strategy, backup=Backup(path))

Gradients are averaged across replicas (Keras 3 under a MirroredStrategy); each replica takes its own batches
(the batch size is per replica) and each worker reads its own shard of the records (`worker()` gives it), so
no record is read twice.
"""

from __future__ import annotations

import io
import itertools
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ..core.errors import LstmpruneError

STRATEGIES = ("none", "mirrored", "multi-worker")


def strategy_of(name: str):
    """The tf.distribute strategy a user named; None for none. multi-worker needs TF_CONFIG."""
    import tensorflow as tf

    if name not in STRATEGIES:
        raise LstmpruneError(f"strategy must be one of {', '.join(STRATEGIES)}; received {name!r}", option="strategy")
    if name == "none":
        return None
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if "TF_CONFIG" not in os.environ:
        raise LstmpruneError(
            "--strategy multi-worker reads the cluster from TF_CONFIG, which is not set", option="strategy"
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


def worker() -> tuple[int, int]:
    """(this worker's index, the number of workers) from TF_CONFIG; (0, 1) without it."""
    try:
        config = json.loads(os.environ.get("TF_CONFIG") or "{}")
        cluster, task = config.get("cluster", {}), config.get("task", {})
        workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
        index = int(task.get("index", 0)) + (len(cluster.get("chief", [])) if task.get("type") == "worker" else 0)
    except (ValueError, TypeError, AttributeError) as e:
        raise LstmpruneError(f"TF_CONFIG is not the JSON tf.distribute expects: {e}") from e
    return (index, workers) if workers else (0, 1)


def replica_copy(model):
    """The same model built again under the current strategy's scope, with the same weights."""
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def distributed(strategy, batches: Iterable, steps: int | None = None) -> Iterator[tuple]:
    """Distributed (x, y) per step: each replica takes the next batch of its worker's stream (the batch size is
    per replica). `steps` caps the batches (every worker must take as many steps as the others)."""
    import tensorflow as tf

    it = iter(batches)
    first = next(it, None)
    if first is None:
        return
    spec = tuple(tf.TensorSpec((None, *np.shape(a)[1:]), tf.as_dtype(np.asarray(a).dtype)) for a in first)
    chained = itertools.chain([first], it)
    limited = itertools.islice(chained, steps) if steps is not None else chained
    ds = tf.data.Dataset.from_generator(lambda: limited, output_signature=spec)
    yield from strategy.distribute_datasets_from_function(lambda context: ds)


class Backup:
    """The training state after each epoch, written atomically, read back to resume (as Keras' BackupAndRestore
    does for `fit`): weights, optimizer state, the epochs so far and the best weights."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def save(self, *, epoch: int, weights, optimizer, best_weights, state: dict) -> None:
        arrays = {f"w{i}": w for i, w in enumerate(weights)}
        arrays |= {f"o{i}": v for i, v in enumerate(optimizer)}
        arrays |= {f"b{i}": w for i, w in enumerate(best_weights or [])}
        arrays["state"] = np.frombuffer(json.dumps({"epoch": epoch, **state}).encode(), dtype=np.uint8)
        self.path.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        tmp = self.path / "state.npz.tmp"
        tmp.write_bytes(buffer.getvalue())
        os.replace(tmp, self.path / "state.npz")

    def load(self) -> dict | None:
        """The last saved state, or None; a file that does not match the model is refused by the caller."""
        path = self.path / "state.npz"
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as f:
                state = json.loads(bytes(f["state"]).decode())

                def listed(prefix: str) -> list[np.ndarray]:
                    keys = sorted((k for k in f.files if k[0] == prefix and k[1:].isdigit()), key=lambda k: int(k[1:]))
                    return [f[k] for k in keys]

                return {**state, "weights": listed("w"), "optimizer": listed("o"), "best_weights": listed("b")}
        except (OSError, ValueError, KeyError) as e:
            raise LstmpruneError(f"cannot read the backup {path}: {e}; remove it to start over") from e

    def clear(self) -> None:
        (self.path / "state.npz").unlink(missing_ok=True)
