"""Part: beyond one machine, measured locally. analyze in-process against the Beam DirectRunner (records per
second over the AudioSet eval set), and whether both give the same statistics; finetune on one worker against
two local workers of a MultiWorkerMirroredStrategy (TF_CONFIG), sequences per second."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .common import AUDIOSET, SAMPLE, Mode, log, save

MODEL = SAMPLE / "audioset_lstm.keras"
SIZES = {"quick": dict(pattern="eval-00000-*", workers=(2,)), "full": dict(pattern="eval-*", workers=(1, 2))}


def part(mode: Mode) -> dict:
    from lstmprune_cli.framework import jobs
    from lstmprune_cli.framework.stats import beam

    size = SIZES[mode.name]
    data = str(AUDIOSET / size["pattern"])
    start = time.perf_counter()
    local = jobs.analyze.analyze(MODEL, data, batch_size=64).statistics
    rows = [{"runner": "in-process", "workers": 1, "seconds": time.perf_counter() - start}]
    records = local.meta["sequences"]
    log("in-process", rows[-1])
    out = mode.results / "beam-stats.npz"
    mode.results.mkdir(parents=True, exist_ok=True)
    for workers in size["workers"]:
        options = f"--runner=DirectRunner --direct_num_workers={workers} --direct_running_mode=multi_processing"
        start = time.perf_counter()
        found = beam.analyze(MODEL, data, None, output=out, beam_options=options, batch_size=64).statistics
        seconds = time.perf_counter() - start
        diff = max(float(np.max(np.abs(found.stats[n].covariance - s.covariance))) for n, s in local.stats.items())
        same = all(found.stats[n].count == s.count for n, s in local.stats.items())
        rows.append(
            {
                "runner": "beam DirectRunner",
                "workers": workers,
                "seconds": seconds,
                "max_cov_diff": diff,
                "same_counts": same,
            }
        )
        log("beam", rows[-1])
    out.unlink(missing_ok=True)
    for r in rows:
        r["records_per_second"] = records / r["seconds"]
    result = {"data": size["pattern"], "records": records, "rows": rows, "finetune": finetune_workers(mode)}
    save(mode, "scale", result)
    return result


def finetune_workers(mode: Mode) -> dict:
    """One epoch of `lstmprune finetune` over the shipped train slice: one worker (batch 64) against two local
    workers (batch 32 each: the same global batch), timed by each run's own epoch record."""
    exe = str(Path(sys.executable).parent / "lstmprune")
    data = SAMPLE / "train.tfrecord"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    out = mode.results / "scale-tmp"
    out.mkdir(parents=True, exist_ok=True)

    def command(name: str, batch: int, *extra) -> list[str]:
        return [
            exe,
            "finetune",
            str(MODEL),
            "--data",
            str(data),
            "--out",
            str(out / f"{name}.keras"),
            "--force",
            "--epochs",
            "1",
            "--batch-size",
            str(batch),
            "--no-distill",
            "--json",
            "-w",
            str(out / name),
            *extra,
        ]

    def epoch(stdout: str) -> dict:
        return json.loads(stdout)["epochs"][0]

    one = epoch(subprocess.run(command("one", 64), env=env, capture_output=True, text=True, check=True).stdout)
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("localhost", 0))
            ports.append(s.getsockname()[1])
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    procs = []
    for i in range(2):
        config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
        cmd = command(f"two{i}", 32, "--strategy", "multi-worker")
        procs.append(subprocess.Popen(cmd, env={**env, "TF_CONFIG": config}, stdout=subprocess.PIPE, text=True))
    two = epoch(procs[0].communicate(timeout=1200)[0])
    for p in procs[1:]:
        p.communicate(timeout=1200)
    rows = [
        {"workers": 1, "sequences": one["samples"], "seconds": one["seconds"]},
        {"workers": 2, "sequences": two["samples"], "seconds": two["seconds"]},
    ]
    for r in rows:
        r["sequences_per_second"] = r["sequences"] / r["seconds"]
    log("finetune", rows)
    shutil.rmtree(out, ignore_errors=True)
    return {"data": str(data.relative_to(SAMPLE.parent)), "rows": rows}
