"""Run model files found in public repositories through every verb, as a new user would, on data shaped like
their inputs (the repositories rarely commit their data): token ids inside the vocabulary for an input that
feeds an Embedding, normal floats otherwise, and targets from the model's own outputs.

    .venv/bin/python scripts/try_published.py FILE_OR_DIR...   # prints one line per model and step

Nothing here is committed with the models; it only reads them (each step in its own `lstmprune` process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def synthetic(model_path: Path, out: Path, n: int = 96) -> bool:
    """x shaped like the model's input and y = the model's outputs on x; False when lstmprune cannot load it."""
    import numpy as np

    from lstmprune_cli.core.errors import LstmpruneError
    from lstmprune_cli.framework import import_tensorflow

    import_tensorflow()
    from lstmprune_cli.framework import models
    from lstmprune_cli.framework.models.costs import random_inputs

    try:
        model = models.load_model(model_path)
    except LstmpruneError:
        return False
    length = model.inputs[0].shape[1] or 20
    x = np.concatenate([random_inputs(model, 32, length, seed=s)[0] for s in range(n // 32)])
    y = np.asarray(model.predict(x, verbose=0))
    if y.ndim == 3:  # per-step outputs: no sequence-level target; evaluate against the last step
        y = y[:, -1]
    np.savez(out, x=x, y=y.astype("float32"))
    return True


def cli(*args, cwd: Path) -> tuple[int, float, str]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lstmprune_cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True)  # fmt: skip
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return done.returncode, time.perf_counter() - start, lines[-1][:220] if lines else ""


def run(model: Path) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="lstmprune-published-"))
    data = work / "data.npz"
    steps = []

    def step(name, *args):
        code, seconds, said = cli(*args, "-w", work / "ws", cwd=work)
        steps.append({"step": name, "exit": code, "seconds": round(seconds, 1), "said": said})
        return code

    if step("analyze", "analyze", model, "--data", data if synthetic(model, data) else model) != 0:
        return steps
    out = work / ("pruned" + (model.suffix if model.suffix in (".keras", ".h5") else ""))
    step("prune", "prune", "--theta", "0.5", "--out", out, "--no-latency")
    step("prune --paper", "prune", "--theta", "0.5", "--paper", "--out", work / f"paper{out.suffix}", "--no-latency")
    step("export", "export", out, "--out", work / "pruned.tflite")
    step("report", "report", "--eval", data)
    step("finetune", "finetune", "--data", data, "--epochs", "1")
    return steps


def main() -> None:
    paths = [p for arg in sys.argv[1:] for p in (sorted(Path(arg).iterdir()) if Path(arg).is_dir() else [Path(arg)])]
    results = {}
    for path in paths:
        results[path.name] = run(path.resolve())
        summary = ", ".join(f"{s['step']} {s['exit']}" for s in results[path.name])
        last = results[path.name][-1]
        print(f"{path.name}: {summary}" + (f" | {last['said']}" if last["exit"] else ""), flush=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
