"""Part 4: the cost of the tool itself: analyze against a bare forward pass, memory, fine-tuning, prune time."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from .common import AUDIOSET, PTB, SAMPLE, Mode, load, log, mode, save

SIZES = {
    "quick": dict(pattern="eval-00000-*", runs=1, memory=(SAMPLE / "calibration.tfrecord", (1, 4)), clips=1000),
    "full": dict(pattern="eval-*", runs=3, memory=(AUDIOSET / "eval-00000-of-00004.tfrecord", (1, 10)), clips=3000),
}
LARGE = dict(hidden=1500, vocab=10_000, windows=200)  # the paper's Penn Treebank shape


FORWARD = """
import resource, sys, time
import numpy as np
from lstmprune_cli.framework import import_tensorflow
import_tensorflow()
import tensorflow as tf
from lstmprune_cli.core.schema import Options
from lstmprune_cli.framework import data, models
from lstmprune_cli.framework.data.stream import Stream
model = models.load_model(sys.argv[1])
spec = data.InputSpec.of(model)
schema = data.resolve(sys.argv[2], Options(), spec)
signature = [tf.TensorSpec((None, *model.inputs[0].shape[1:]), model.inputs[0].dtype)]
forward = tf.function(lambda x: model(x, training=False), input_signature=signature)
for x in Stream(schema, spec.length, 64):
    np.asarray(forward(x))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""
ANALYZE = """
import resource, sys
from lstmprune_cli.cli.app import app
sys.argv = ["lstmprune", "analyze", *sys.argv[1:]]
try:
    app()
except SystemExit:
    pass
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def _process(code: str, *args) -> tuple[float, float, str]:
    """(wall seconds, peak resident MB, stdout) of one Python process running `code` with `args`."""
    import subprocess

    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, check=True)
    return time.perf_counter() - start, int(done.stderr.split()[-1]) / 1024, done.stdout


def analyze_speed(pattern: str, runs: int, tmp: Path) -> dict:
    """`lstmprune analyze` against a bare forward pass of the same model over the same records (the same reader,
    batch 64), each a whole process (import, load, pass, exit), alternated; the best of the runs of each."""
    model, source = SAMPLE / "audioset_lstm.keras", AUDIOSET / pattern
    times: dict[str, list[tuple[float, float, str]]] = {"analyze": [], "forward": []}
    for run in range(runs):
        times["forward"].append(_process(FORWARD, model, source))
        times["analyze"].append(_process(ANALYZE, model, "--data", source, "--json", "-w", tmp / f"ws{run}"))
    return {
        "whole_process": True,
        "records": json.loads(times["analyze"][0][2])["groups"][0]["samples"],
        "analyze": min(t[0] for t in times["analyze"]),
        "forward": min(t[0] for t in times["forward"]),
        "analyze_peak_mb": min(t[1] for t in times["analyze"]),
        "forward_peak_mb": min(t[1] for t in times["forward"]),
    }


def finetune_throughput(clips: int) -> dict:
    """Sequences per second: lstmprune's training loop (with and without a teacher) against model.fit."""
    import keras

    from lstmprune_cli.core.schema import Options
    from lstmprune_cli.framework import models
    from lstmprune_cli.framework.jobs.finetune import training_streams
    from lstmprune_cli.framework.train.loop import fit

    data = str(AUDIOSET / "bal_train-00000-of-00004.tfrecord")
    teacher = models.load_model(SAMPLE / "audioset_lstm.keras")
    rates: dict[str, float] = {}
    for name in ("model.fit", "finetune", "finetune + teacher", "model.fit ", "finetune ", "finetune + teacher "):
        model = models.load_model(SAMPLE / "audioset_lstm.keras")
        task, _, stream = training_streams(model, data, Options(), 64, clips, "auto")
        start = time.perf_counter()
        if name.startswith("model.fit"):
            model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
            model.fit(((x, y) for x, y in stream()), epochs=1, verbose=0)
        else:
            fit(model, stream, task, epochs=1, teacher=teacher if "teacher" in name else None)
        rate = clips / (time.perf_counter() - start)
        rates[name.strip()] = max(rates.get(name.strip(), 0.0), rate)  # best of two rounds
    return rates


def analyze_memory(source: Path, copies: tuple[int, ...], tmp: Path) -> list[dict]:
    """Peak resident memory of `lstmprune analyze` over several copies of one file (one subprocess each)."""
    import subprocess

    rows = []
    for n in copies:
        folder = tmp / f"x{n}"
        folder.mkdir()
        for i in range(n):
            (folder / f"part{i}.tfrecord").symlink_to(source)
        code = (
            "import resource, sys\n"
            "from lstmprune_cli.cli.app import app\n"
            f"sys.argv = ['lstmprune', 'analyze', '{SAMPLE / 'audioset_lstm.keras'}', '--data', '{folder}', '--json',"
            f" '-w', '{tmp / f'ws{n}'}']\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        )
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - start
        sequences = json.loads(done.stdout)["groups"][0]["samples"]
        rows.append(
            {
                "copies": n,
                "sequences": sequences,
                "peak_mb": int(done.stderr.split()[-1]) / 1024,
                "seconds": seconds,
            }
        )
    return rows


def prune_wall_time(tmp: Path) -> dict:
    """analyze and prune on the Penn Treebank large shape (random weights): Embedding -> 2 x LSTM 1500 -> Dense."""
    import keras

    from lstmprune_cli.core.plan import PlanSpec
    from lstmprune_cli.core.schema import Options
    from lstmprune_cli.framework import jobs
    from lstmprune_cli.framework.prune.planner import REFIT_SAMPLES

    from .ptb import REFIT_WINDOWS as PTB_REFIT_WINDOWS
    from .ptb import build, vocabulary

    keras.utils.set_random_seed(0)
    model = build(LARGE["hidden"], LARGE["vocab"])
    model.compile("adam", "sparse_categorical_crossentropy")
    path = tmp / "ptb_large.keras"
    model.save(path)
    start = time.perf_counter()
    options = Options(vocab=str(vocabulary()))
    stats = jobs.analyze.analyze(
        path, str(PTB / "ptb.valid.txt"), options, max_samples=LARGE["windows"], every_step=True
    ).statistics
    analyzed = time.perf_counter() - start
    times = {}
    for theta in (0.5, 0.7):
        start = time.perf_counter()
        r = jobs.prune.prune(
            path, stats, tmp / f"pruned-{theta}.keras", PlanSpec.paper(theta), latency=False, force=True
        )
        times[theta] = {"seconds": time.perf_counter() - start, "kept": {g.name: g.num_kept for g in r.plan.groups}}
    start = time.perf_counter()
    jobs.prune.prune(
        path, stats, tmp / "pruned-obs.keras", PlanSpec.paper(0.7, criterion="obs"), latency=False, force=True
    )
    obs = time.perf_counter() - start
    default = {}
    for samples in (REFIT_SAMPLES, PTB_REFIT_WINDOWS):  # the default cut: uniform rates, OBS units, the refit
        start = time.perf_counter()
        r = jobs.prune.prune(
            path,
            stats,
            tmp / f"pruned-default-{samples}.keras",
            PlanSpec(0.7),
            latency=False,
            force=True,
            data=str(PTB / "ptb.valid.txt"),
            options=options,
            samples=samples,
        )
        refit = r.plan.extra["refit"]
        default[samples] = {"seconds": time.perf_counter() - start, "refit_seconds": refit["seconds"]}
        default[samples] |= {"passes": refit["passes"], "replayed": refit.get("replayed", 0)}
    return {
        "params": model.count_params(),
        "analyze": analyzed,
        "windows": LARGE["windows"],
        "prune": times,
        "prune_obs_0.7": obs,
        "prune_default_0.7": default[REFIT_SAMPLES],
        "prune_default_0.7_samples": default,
    }


def replay_side_by_side(mode: Mode) -> dict:
    """The default cut's refit on the PTB large shape without and with the replay of the original's taps, in one
    process, one after the other: `python -m bench.cost replay` (kept in cost.json beside the part's figures)."""
    import importlib

    import keras

    from lstmprune_cli.core.plan import PlanSpec
    from lstmprune_cli.core.schema import Options
    from lstmprune_cli.framework import jobs

    from .ptb import build, vocabulary

    refit = importlib.import_module("lstmprune_cli.framework.prune.refit")
    with tempfile.TemporaryDirectory() as tmp:
        keras.utils.set_random_seed(0)
        model = build(LARGE["hidden"], LARGE["vocab"])
        model.compile("adam", "sparse_categorical_crossentropy")
        path = Path(tmp) / "ptb_large.keras"
        model.save(path)
        options = Options(vocab=str(vocabulary()))
        data = str(PTB / "ptb.valid.txt")
        stats = jobs.analyze.analyze(path, data, options, max_samples=LARGE["windows"], every_step=True).statistics
        runs, room = {}, refit.RECORD_BYTES
        try:
            for name, limit in (("recomputed", 0), ("replayed", room)):
                refit.RECORD_BYTES = limit
                out = Path(tmp) / f"{name}.keras"
                r = jobs.prune.prune(path, stats, out, PlanSpec(0.7), latency=False, data=data, options=options)
                done = r.plan.extra["refit"]
                runs[name] = {"seconds": done["seconds"], "replayed": done["replayed"]}
                runs[name]["after"] = [c["after"] for c in done["consumers"]]
                log("replay", name, runs[name])
        finally:
            refit.RECORD_BYTES = room
    found = load(mode, "cost") or {}
    found["replay"] = runs | {"ratio": runs["recomputed"]["seconds"] / runs["replayed"]["seconds"]}
    save(mode, "cost", found)
    return found["replay"]


def part(mode: Mode) -> dict:
    size = SIZES[mode.name]
    result = {"size": {k: str(v) for k, v in size.items()}}
    with tempfile.TemporaryDirectory() as tmp:
        result["analyze"] = analyze_speed(size["pattern"], size["runs"], Path(tmp))
    log("analyze", result["analyze"])
    result["finetune"] = finetune_throughput(size["clips"])
    log("finetune", result["finetune"])
    with tempfile.TemporaryDirectory() as tmp:
        result["memory"] = analyze_memory(*size["memory"], Path(tmp))
    log("memory", result["memory"])
    with tempfile.TemporaryDirectory() as tmp:
        result["prune"] = prune_wall_time(Path(tmp))
    log("prune", result["prune"])
    kept = (load(mode, "cost") or {}).get("replay")  # `python -m bench.cost replay`'s, measured apart
    save(mode, "cost", result | ({"replay": kept} if kept else {}))
    return result


if __name__ == "__main__":
    from lstmprune_cli.framework import import_tensorflow

    import_tensorflow()
    if sys.argv[1:] == ["replay"]:
        replay_side_by_side(mode("full"))
