"""Fine-tuning beyond one device: tf.distribute strategies, the batches they take, and epoch backups.

    strategy = strategy_of("multi-worker")        # reads TF_CONFIG
    fit(model, batches, task, strategy=strategy, backup=Backup(path))

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

from ...core import checks
from ...core.errors import LstmpruneError
from ...core.files import parse_json, regular_file, write_atomic

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
    worker()  # TF_CONFIG checked before TensorFlow reads it
    return tf.distribute.MultiWorkerMirroredStrategy()


TASK_TYPES = ("chief", "worker", "evaluator", "ps")
EXAMPLE_CONFIG = '{"cluster": {"worker": ["host1:2222", "host2:2222"]}, "task": {"type": "worker", "index": 0}}'


def worker() -> tuple[int, int]:
    """(this worker's index, the number of workers) from TF_CONFIG, checked field by field; (0, 1) without it."""
    raw = os.environ.get("TF_CONFIG")
    if raw is None:
        return 0, 1

    def refuse(why: str) -> LstmpruneError:
        return LstmpruneError(f"TF_CONFIG {why}; expected JSON like {EXAMPLE_CONFIG}")

    try:
        config = parse_json(raw, "TF_CONFIG", depth=8)
    except ValueError as e:
        raise refuse(f"is not JSON ({e})") from e
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict):
        raise refuse("has no 'cluster' object")
    cluster, task = config["cluster"], config.get("task")
    for kind, hosts in cluster.items():
        if kind not in TASK_TYPES:
            raise refuse(f"names the task type {kind!r} in its cluster (known: {', '.join(TASK_TYPES)})")
        if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
            raise refuse(f"gives cluster.{kind} as {type(hosts).__name__}, not a list of host:port strings")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        kind = task.get("type") if isinstance(task, dict) else None
        raise refuse(f"has task type {kind!r}, which its cluster does not list (it lists {', '.join(cluster)})")
    index = task.get("index", 0)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cluster[task["type"]]):
        raise refuse(f"has task index {index!r}; cluster.{task['type']} lists {len(cluster[task['type']])}")
    chiefs = len(cluster.get("chief", []))
    workers = len(cluster.get("worker", [])) + chiefs
    index += chiefs if task["type"] == "worker" else 0
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

    def __init__(self, path: Path, run: dict | None = None, epochs: int | None = None):
        """run: what makes a run the same one (the model's fingerprint, the data, the optimizer); a backup of
        another run is refused. epochs: the run's length; a backup past it is refused."""
        self.path, self.run, self.epochs = Path(path), run or {}, epochs

    def save(self, *, epoch: int, weights, optimizer, best_weights, state: dict) -> None:
        arrays = {f"w{i}": w for i, w in enumerate(weights)}
        arrays |= {f"o{i}": v for i, v in enumerate(optimizer)}
        arrays |= {f"b{i}": w for i, w in enumerate(best_weights or [])}
        record = {"epoch": epoch, "run": self.run, **state}
        arrays["state"] = np.frombuffer(json.dumps(record).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        write_atomic(self.path / "state.npz", buffer.getvalue())

    def load(self) -> dict | None:
        """The last saved state, or None; checked like a plan: the same run, an epoch in range, finite values."""
        path = self.path / "state.npz"
        if not path.exists():
            return None
        regular_file(path, "backup", "a state.npz written by lstmprune finetune --backup-dir")
        try:
            with np.load(path, allow_pickle=False) as f:
                state = parse_json(bytes(f["state"]).decode(), "state")

                def listed(prefix: str) -> list[np.ndarray]:
                    keys = sorted((k for k in f.files if k[0] == prefix and k[1:].isdigit()), key=lambda k: int(k[1:]))
                    return [f[k] for k in keys]

                saved = {**state, "weights": listed("w"), "optimizer": listed("o"), "best_weights": listed("b")}
            return self._checked(saved)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise LstmpruneError(f"cannot read the backup {path}: {e}; remove it to start over") from e

    def _checked(self, saved: dict) -> dict:
        where = f"the backup {self.path / 'state.npz'}"
        if saved.get("run") != self.run:
            raise LstmpruneError(f"{where} belongs to another run (model, data or optimizer); remove it to start over")
        last = self.epochs - 1 if self.epochs else None
        epoch = checks.integer(saved.get("epoch"), "epoch", low=1, high=last or checks.MAX_INTEGER)
        checks.integer(saved.get("best_epoch"), "best_epoch", low=1, high=epoch)
        checks.integer(saved.get("waited"), "waited", low=0, high=epoch)
        checks.number(saved.get("best"), "best")
        if not isinstance(saved.get("epochs"), list) or len(saved["epochs"]) != epoch:
            raise ValueError(f"epochs must list the {epoch} epochs trained")
        for key in ("weights", "optimizer", "best_weights"):
            for i, w in enumerate(saved[key]):
                if w.dtype.kind not in "iuf" or not np.all(np.isfinite(w)):
                    raise LstmpruneError(f"{where} holds NaN, Inf or non-numbers in its {key} ({i}); remove it")
        return saved

    def clear(self) -> None:
        (self.path / "state.npz").unlink(missing_ok=True)
