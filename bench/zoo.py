"""Part: models other people published (../shared/zoo), run as a user runs them, one process per command.

analyze -> prune (the default, and --paper) -> export (TFLite) -> report with the held-out data -> finetune where
there is training data; each step's exit code and seconds, the metric before, right after the cut and after
fine-tuning, and whether each output loads in the Keras that loads its input, without warnings.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .common import ROOT, Mode, log, save

ZOO = ROOT.parent / "shared" / "zoo"
THETA = 0.5
# folder -> (model file, data files by role); roles: calib, heldout, train, val
MODELS = {
    "energy-forecast-lstm": (
        "lstm_model.keras",
        {"calib": "calib.npz", "heldout": "heldout.npz", "train": "train.npz"},
    ),
    "char-nextword-lstm": (
        "next_word_model.h5",
        {"calib": "calib.npz", "heldout": "heldout.npz", "train": "train.npz", "val": "val.npz"},
    ),
    "sales-bilstm": ("BiLSTM_savedmodel", {"calib": "calib.npz", "heldout": "heldout.npz"}),
    "sales-bilstm (misnamed)": ("bilstm_model.keras", {"calib": "calib.npz", "heldout": "heldout.npz"}),
    "restaurant-sentiment-lstm": ("sentiment_model.h5", {"calib": "calib.npz", "heldout": "heldout.npz"}),
    "movie-sentiment-pooling": ("sentiment_model.h5", {"calib": "calib_synthetic.npz"}),
}
EPOCHS = {"quick": 1, "full": 2}
LOWER_IS_BETTER = ("mse", "mae", "perplexity", "loss")


def cli(*args, cwd: Path) -> tuple[int, float, str, str]:
    """(exit code, seconds, stdout, stderr) of one `lstmprune` command in its own process."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "lstmprune_cli", *map(str, args)], cwd=cwd, capture_output=True, text=True
    )
    return done.returncode, time.perf_counter() - start, done.stdout, done.stderr


def metric_of(metrics: dict | None) -> tuple[str, float] | None:
    """The headline metric of a report's metrics: accuracy, GAP, perplexity or R² / MSE."""
    if not metrics:
        return None
    for key in ("top1", "accuracy", "gap@20", "perplexity", "r2", "mse"):
        if key in metrics:
            return key, metrics[key]
    return None


def loads(path: Path, reader: str) -> dict:
    """Whether `reader` ('keras' or 'tf-keras') loads the file, and the warnings it printed doing so."""
    code = (
        "import os, warnings, logging; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n"
        "warnings.simplefilter('always')\n"
        f"import {'keras as k' if reader == 'keras' else 'tf_keras as k'}\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        f"    m = k.models.load_model({str(path)!r})\n"
        "print(len([x for x in w if 'np.find_common_type' not in str(x.message)]))\n"
        "for x in w: print(str(x.message)[:120])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    ok = done.returncode == 0 and bool(lines)
    return {
        "reader": reader,
        "loads": ok,
        "warnings": int(lines[0]) if ok else None,
        "said": lines[1:3] if ok else done.stderr.strip().splitlines()[-1:],
    }


def run_model(name: str, spec: tuple, work: Path, epochs: int) -> dict:
    from lstmprune_cli.framework import models

    folder = ZOO / name.split(" ")[0]
    model = folder / spec[0]
    data = {role: folder / f for role, f in spec[1].items()}
    out = work / name.replace(" ", "_")
    out.mkdir(parents=True, exist_ok=True)
    ws = out / "ws"
    steps, row = [], {"model": name, "file": spec[0]}

    def step(label: str, *args) -> tuple[int, str, str]:
        code, seconds, stdout, stderr = cli(*args, "-w", ws, cwd=out)
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        steps.append({"step": label, "exit": code, "seconds": seconds, "said": lines[-1][:200] if lines else ""})
        log(name, label, code, f"{seconds:.1f} s", lines[-1][:160] if lines else "")
        return code, stdout, stderr

    code, _, _ = step("analyze", "analyze", model, "--data", data["calib"])
    row["steps"] = steps
    if code != 0:
        return row
    row["format"] = models.describe(model)
    reader = models.reader_of(model)
    target = models.default_output(model).name
    pruned, paper = out / target, out / f"paper-{target}"
    step("prune", "prune", "--theta", THETA, "--out", pruned, "--no-latency", "--json")
    step("prune --paper", "prune", "--theta", THETA, "--paper", "--out", paper, "--no-latency", "--json")
    step("prune (again)", "prune", "--theta", THETA, "--out", pruned, "--no-latency", "--force", "--json")
    step("export", "export", pruned, "--out", out / "pruned.tflite", "--force")
    row["outputs"] = [loads(p, reader) for p in (pruned, paper) if p.exists()]
    if "heldout" in data:
        code, stdout, _ = step("report", "report", "--eval", data["heldout"], "--json")
        found = json.loads(stdout)["models"] if code == 0 else {}
        row["original"] = metric_of(found.get("original", {}).get("metrics"))
        row["cut"] = metric_of(found.get("pruned", {}).get("metrics"))
        code, stdout, _ = step("report --paper", "report", "--eval", data["heldout"], "--pruned", paper, "--json")
        row["paper"] = metric_of(json.loads(stdout)["models"]["pruned"].get("metrics")) if code == 0 else None
    if "train" in data:
        val = ["--val", data["val"]] if "val" in data else []
        step("finetune", "finetune", "--data", data["train"], *val, "--epochs", epochs, "--json", "--force")
        tuned = pruned.with_name(
            f"{pruned.stem}-finetuned{pruned.suffix}" if pruned.suffix else f"{pruned.name}-finetuned"
        )
        if tuned.exists():
            row["outputs"].append(loads(tuned, reader))
        if "heldout" in data:
            code, stdout, _ = step("report (fine-tuned)", "report", "--eval", data["heldout"], "--json")
            found = json.loads(stdout)["models"] if code == 0 else {}
            row["tuned"] = metric_of(found.get("finetuned", {}).get("metrics"))
    return row


def part(mode: Mode) -> dict:
    work = mode.results / "zoo-work"
    shutil.rmtree(work, ignore_errors=True)
    env_before = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    try:
        rows = [run_model(name, spec, work, EPOCHS[mode.name]) for name, spec in MODELS.items()]
    finally:
        if env_before is None:
            os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
        shutil.rmtree(work, ignore_errors=True)
    result = {"theta": THETA, "epochs": EPOCHS[mode.name], "rows": rows}
    save(mode, "zoo", result)
    return result
