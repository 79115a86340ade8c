"""finetune on tf.distribute: two replicas or two local workers train what one does; a killed run resumes."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from records import sequence_example, write_records

T, F, C = 6, 8, 5
LSTMPRUNE = [str(Path(sys.executable).parent / "lstmprune")]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


@pytest.fixture(scope="module")
def tagged(tf, tmp_path_factory):
    """A small tagger and 64 labelled records (a multiple of every batch used here)."""
    import keras

    root = tmp_path_factory.mktemp("dist")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((T, F))
    x = keras.layers.LSTM(12, name="top")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(C, activation="sigmoid", name="tags")(x))
    model.compile("adam", "binary_crossentropy")
    model.save(root / "model.keras")
    r = np.random.default_rng(1)
    records = []
    for _ in range(64):
        label = int(r.integers(0, C))
        frames = r.integers(0, 256, (T, F))
        frames[:, label] = 255
        records.append(sequence_example({"audio_embedding": frames}, labels=(label,)))
    write_records(root / "train.tfrecord", records)
    return root


def _finetune(tagged, out, *extra, env=None, wait=True):
    args = [*LSTMPRUNE, "finetune", str(tagged / "model.keras"), "--data", str(tagged / "train.tfrecord")]
    teacher = ["--teacher", str(tagged / "model.keras")]  # distilled, under the strategy too
    args += ["--out", str(out), *teacher, "--lr", "0.01", "--json", "-w", str(out.parent / "ws"), *extra]
    proc = subprocess.Popen(args, env=env or ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc.communicate(timeout=600) if wait else proc


def _weights(path):
    from lstmprune_cli.framework import models

    return models.load_model(path).get_weights()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_local_workers_train_what_one_worker_does(tagged, tmp_path):
    """Each worker reads every other record in batches of 16; one worker reads them all in batches of 32."""
    stdout, stderr = _finetune(tagged, tmp_path / "one.keras", "--epochs", "2", "--batch-size", "32")
    assert json.loads(stdout)["strategy"] == "none", stderr
    cluster = {"worker": [f"localhost:{_port()}", f"localhost:{_port()}"]}
    procs = []
    for i in range(2):
        env = {**ENV, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})}
        extra = ("--epochs", "2", "--batch-size", "16", "--strategy", "multi-worker")
        procs.append(_finetune(tagged, tmp_path / f"w{i}" / "two.keras", *extra, env=env, wait=False))
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    record = json.loads(outs[0][0])
    assert record["strategy"] == "multi-worker" and all(e["samples"] == 64 for e in record["epochs"])  # both shards
    assert not (tmp_path / "w1" / "two.keras").exists()  # only the chief writes
    one, two = _weights(tmp_path / "one.keras"), _weights(tmp_path / "w0" / "two.keras")
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(one, two)) < 1e-4

    stdout, stderr = _finetune(tagged, tmp_path / "mirrored.keras", "--epochs", "1", "--strategy", "mirrored")
    assert json.loads(stdout)["strategy"] == "mirrored", stderr  # this machine's one CPU device: one replica


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_epoch(tagged, tmp_path):
    backup = tmp_path / "backup"
    extra = ("--epochs", "40", "--batch-size", "4", "--patience", "100", "--backup-dir", str(backup))
    proc = _finetune(tagged, tmp_path / "m.keras", *extra, wait=False)
    deadline = time.time() + 300
    while not (backup / "state.npz").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(1.0)  # mid-epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (backup / "state.npz").exists() and not (tmp_path / "m.keras").exists()
    stdout, stderr = _finetune(tagged, tmp_path / "m.keras", *extra)
    record = json.loads(stdout)
    assert record["resumed_from_epoch"] >= 1, stderr
    assert [e["epoch"] for e in record["epochs"]] == list(range(1, 41))
    assert (tmp_path / "m.keras").is_file() and not (backup / "state.npz").exists()
