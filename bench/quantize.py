"""Part 11: the files that ship. Every precision of the TFLite file (float32, dynamic, float16, int8) of three
models after the default cut: accuracy as the TFLite interpreter computes it on held-out data, size, and batch-1
latency timed side by side in one `report`. Everything goes through the command line as a user runs it:

    lstmprune analyze MODEL --data CALIB -w W
    lstmprune prune --theta T --out M.keras -w W
    lstmprune export M.keras --out F.tflite [--quantize Q] [--drop-mask] -w W
    lstmprune report --original MODEL --pruned M.keras --eval HELD --tflite-file F.tflite ... --json -w W
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from .common import AUDIOSET, CACHE, PTB, SAMPLE, SHARED, Mode, log, save

PRECISIONS = ("none", "dynamic", "float16", "int8")  # export --quantize
SIZES = {
    "quick": dict(thetas=(0.0, 0.7), models=("audioset sample",), eval_max=500),
    "full": dict(thetas=(0.0, 0.5, 0.7), models=("audioset sample", "BasicMotions GRU", "PTB LM"), eval_max=None),
}
LM_WINDOWS = 300  # Penn Treebank windows analyzed and evaluated


def _ts(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A UEA/UCR .ts file of equal-length series: x (N, T, D) float32, y (N,) class ids in header order."""
    classes, rows = [], []
    for line in path.read_text().splitlines():
        if line.startswith("@classLabel"):
            classes = line.split()[2:]
        elif line and not line.startswith(("@", "#")):
            *dims, label = line.split(":")
            rows.append(([[float(v) for v in d.split(",")] for d in dims], classes.index(label.strip())))
    x = np.asarray([r[0] for r in rows], np.float32).transpose(0, 2, 1)  # (N, T, D)
    return x, np.asarray([r[1] for r in rows], np.int32)


def basic_motions_gru(folder: Path) -> dict:
    """A GRU 32 classifier trained on BasicMotions (6 channels x 100 steps, 4 classes); its data as .npz."""
    import keras

    root = SHARED / "uea" / "BasicMotions"
    (x, y), (xt, yt) = _ts(root / "BasicMotions_TRAIN.ts"), _ts(root / "BasicMotions_TEST.ts")
    path = CACHE / "basic_motions_gru.keras"
    if not path.exists():
        keras.utils.set_random_seed(0)
        inputs = keras.Input(x.shape[1:], name="motion")
        h = keras.layers.GRU(32, name="gru")(inputs)
        model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax", name="activity")(h))
        model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, y, epochs=60, batch_size=8, verbose=0)
        CACHE.mkdir(parents=True, exist_ok=True)
        model.save(path)
    np.savez(folder / "train.npz", x=x, y=y)
    np.savez(folder / "test.npz", x=xt, y=yt)
    return dict(model=path, calib=folder / "train.npz", held=folder / "test.npz", flags=[], drop_mask=False)


def _lstmprune(*args) -> dict | str:
    """Run one command as a user does: its JSON record, or its one-line refusal."""
    done = subprocess.run(
        [sys.executable, "-m", "lstmprune_cli", *map(str, args), "--json"], capture_output=True, text=True
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else f"exit {done.returncode}"
    return json.loads(done.stdout)


def setups(names: tuple[str, ...], folder: Path) -> dict[str, dict]:
    """Each model's file, calibration data, held-out data, extra data flags, and whether its mask is dropped."""
    from .common import mode as mode_of
    from .ptb import base, vocabulary

    out = {}
    if "audioset sample" in names:
        out["audioset sample"] = dict(
            model=SAMPLE / "audioset_lstm.keras",
            calib=SAMPLE / "calibration.tfrecord",
            held=AUDIOSET / "eval-00001-of-00004.tfrecord",
            flags=[],
            drop_mask=True,  # its Masking would make every route a WHILE loop, which int8 cannot take
        )
    if "BasicMotions GRU" in names:
        out["BasicMotions GRU"] = basic_motions_gru(folder)
    if "PTB LM" in names:
        out["PTB LM"] = dict(
            model=base(mode_of("quick")),  # Embedding 10,000 x 64 -> LSTM 64 x 2 -> Dense 10,000
            calib=PTB / "ptb.train.txt",
            held=PTB / "ptb.valid.txt",
            flags=["--vocab", vocabulary(), "--max-samples", LM_WINDOWS],
            drop_mask=False,
        )
    return out


def model_rows(name: str, setup: dict, thetas, folder: Path, eval_max: int | None) -> list[dict]:
    """One row per theta: each file's export record (or refusal) and its report (metrics, size, latency)."""
    ws = folder / f"ws-{name.replace(' ', '-')}"
    data = ["--data", setup["calib"], *setup["flags"]]
    analyzed = _lstmprune("analyze", setup["model"], *data, "-w", ws)
    if isinstance(analyzed, str):
        return [{"theta": None, "refused": analyzed}]
    rows = []
    for theta in thetas:
        kept = folder / f"{ws.name}-{theta}.keras"
        if theta:
            _lstmprune("prune", "--theta", theta, "--no-latency", "--out", kept, "-w", ws)
        model = kept if theta else setup["model"]
        exports, files = {}, []
        variants = [(q, setup["drop_mask"]) for q in PRECISIONS]
        if setup["drop_mask"]:
            variants.insert(0, ("none", False))  # the file as exported with its mask kept, for reference
        for quantize, drop in variants:
            key = f"{quantize}{' masked' if setup['drop_mask'] and not drop else ''}"
            out = folder / f"{ws.name}-{theta}-{key.replace(' ', '-')}.tflite"
            flags = [] if quantize == "none" else ["--quantize", quantize]
            exports[key] = _lstmprune("export", model, "--out", out, *flags, *(["--drop-mask"] * drop), "-w", ws)
            if not isinstance(exports[key], str):
                files += ["--tflite-file", out]
            log("quantize", name, theta, key, exports[key] if isinstance(exports[key], str) else "written")
        limit = ["--max-samples", eval_max] if eval_max else []
        held = ["--eval", setup["held"], *setup["flags"], *limit]
        report = _lstmprune("report", "--original", setup["model"], "--pruned", model, *held, *files, "-w", ws)
        rows.append({"theta": theta, "exports": exports, "report": report})
    return rows


def part(mode: Mode) -> dict:
    size = SIZES[mode.name]
    result = {"size": size, "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, setup in setups(size["models"], Path(tmp)).items():
            thetas = size["thetas"] if name == "audioset sample" else size["thetas"][:2]
            result["models"][name] = model_rows(name, setup, thetas, Path(tmp), size["eval_max"])
    save(mode, "quantize", result)
    return result


HEADLINE = ("gap@20", "top1", "accuracy", "r2", "perplexity")  # the metric each table shows, first found
LABEL = {"none": "float32", "none masked": "float32, mask kept", "dynamic": "dynamic", "float16": "float16"}


def _headline(metrics: dict | None) -> tuple[str, float] | None:
    found = [(k, metrics[k]) for k in HEADLINE if metrics and k in metrics]
    return found[0] if found else None


def _how(export: dict) -> str:
    """What a route column adds: a dropped mask, ops kept in float."""
    notes = ["no mask"] * bool(export.get("drop_mask")) + [
        f"{op.lower()} in float" for op in export.get("float_ops", [])
    ]
    return f" ({', '.join(notes)})" if notes else ""


def _model_table(name: str, rows: list[dict]) -> list[str]:
    lines = [f"**{name}**", ""]
    if rows and rows[0].get("refused"):
        return lines + [f"Refused: {rows[0]['refused']}", ""]
    lines += [
        "| theta | file | route | size (MB) | batch 1 (ms) | x float32 | metric | Keras model | max \\|diff\\| |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        report = row["report"]
        if isinstance(report, str):
            lines.append(f"| {row['theta']} | report refused: {report} | | | | | | | |")
            continue
        keras = _headline(report["models"]["pruned"].get("metrics"))
        timed = {Path(f["path"]).name: f for f in report["tflite_files"]}
        base = next((f for n, f in timed.items() if n.endswith("-none.tflite")), None)
        for key, export in row["exports"].items():
            label = LABEL.get(key, key)
            if isinstance(export, str):
                lines.append(f"| {row['theta']} | {label} | refused: {export} | | | | | | |")
                continue
            f = timed[Path(export["out"]).name]
            metric = _headline(f["metrics"])
            speed = f"{base['latency_ms'] / f['latency_ms']:.2f}x" if base else ""
            scored = f"{metric[0]} {metric[1]:.4f} | {keras[1]:.4f}" if metric and keras else " | "
            lines.append(
                f"| {row['theta']} | {label} | {export['route']}{_how(export)} | "
                f"{f['size_bytes'] / 1e6:.2f} | {f['latency_ms']:.2f} | {speed} | {scored} | "
                f"{export['max_abs_diff']:.1e} |"
            )
    return lines + [""]


def section(r: dict) -> list[str]:
    """The document's section of this part."""
    lines = [
        "## 11. The files that ship: TFLite precisions",
        "",
        "`python -m bench.run --only quantize`. Each model is analyzed on its calibration data and cut by the default",
        "(`prune --theta T`); each file is written by `lstmprune export [--quantize Q]` (which checks it against",
        "Keras before writing it) and all files of one theta are scored and timed in one `lstmprune report",
        "--tflite-file ...`: the metric is what the TFLite interpreter computes on the held-out data one sequence at a",
        "time, beside the Keras model's; latency is the median of batch-1 runs on 2 threads, the files timed",
        "alternately, so the ratio to float32 is the figure to read. max |diff| is export's own check against Keras.",
        "The AudioSet sample has `Masking`: its files are exported with `--drop-mask` (each clip fed at its own",
        "length, the fused LSTM op), and the float32 file with its mask kept (WHILE loops) is shown for reference.",
        "The GRU has no fused op: int8 takes it through its unrolled steps (`--route unrolled`, picked by auto).",
        "The language model's int8 file keeps its softmax in float: in integers its 10,000 probabilities round to 0",
        "(export's KL check refuses that file), every other op stays int8.",
        "",
    ]
    for name, rows in r["models"].items():
        lines += _model_table(name, rows)
        lines += _unrolled_size(name, rows)
    return lines


def _unrolled_size(name: str, rows: list[dict]) -> list[str]:
    """Where an unrolled int8 file outweighs the float one, say by how much."""
    for row in rows:
        exports = row["exports"]
        unrolled, plain = exports.get("int8"), exports.get("none")
        if isinstance(unrolled, dict) and isinstance(plain, dict) and unrolled["route"] == "unrolled":
            ratio = unrolled["size_bytes"] / plain["size_bytes"]
            if ratio > 1:
                return [
                    f"The {name}'s int8 file is {ratio:.0f}x its float32 file at theta {row['theta']}: unrolled, every",
                    "step adds its own ops and tensors to the file (the weights are stored once), which outweighs a",
                    "small GRU's weights. For long sequences a small GRU ships smaller as dynamic or float16.",
                    "",
                ]
    return []
