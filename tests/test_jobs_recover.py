"""finetune, report and sweep on a small model with labelled records; language-model targets from text."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke as cli
from records import sequence_example, write_records
from typer.testing import CliRunner

from lstmprune_cli.cli.app import app

runner = CliRunner()
T, F, C = 6, 8, 5


@pytest.fixture(scope="module")
def tagged(tf, tmp_path_factory):
    """A multi-label tagger (sigmoid over 5 classes) and records whose label is readable from the frames."""
    import keras

    root = tmp_path_factory.mktemp("tagged")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((T, F))
    x = keras.layers.Masking(0.0)(inputs)
    x = keras.layers.Bidirectional(keras.layers.LSTM(12, return_sequences=True), name="bi")(x)
    x = keras.layers.LSTM(16, name="top")(x)
    model = keras.Model(inputs, keras.layers.Dense(C, activation="sigmoid", name="tags")(x))
    rng = np.random.default_rng(0)

    def records(n, seed):
        r = np.random.default_rng(seed)
        out = []
        for _ in range(n):
            label = int(r.integers(0, C))
            frames = r.integers(0, 256, (T, F))
            frames[:, label] = 255
            out.append(sequence_example({"audio_embedding": frames}, labels=(label,)))
        return out

    write_records(root / "train.tfrecord", records(192, 1))
    write_records(root / "valid.tfrecord", records(64, 2))
    model.compile("adam", "binary_crossentropy")
    model.save(root / "model.keras")
    del rng
    return root


def invoke(*args):
    r = cli(*args)
    assert r.exit_code == 0, r.stderr
    return r


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels, from the PNG's header chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_finetune_report_and_sweep_chain(tagged, tmp_path):
    ws = ["-w", tmp_path / "ws"]
    invoke("analyze", tagged / "model.keras", "--data", tagged / "train.tfrecord", "--json", *ws)
    invoke("prune", "--theta", 0.5, "--out", tmp_path / "small.keras", "--no-latency", "--json", *ws)
    r = invoke(
        "finetune",
        "--data",
        tagged / "train.tfrecord",
        "--val",
        tagged / "valid.tfrecord",
        "--epochs",
        2,
        "--batch-size",
        32,
        "--json",
        *ws,
    )
    record = json.loads(r.stdout)
    assert record["task"] == "multilabel" and record["teacher"].endswith("model.keras")
    # --start auto: a quarter of the two epochs' 192 sequences from each start, the chosen one goes on to 288
    assert [t["samples"] for t in record["trials"].values()] == [96, 96]
    assert [e["samples"] for e in record["epochs"]] == [192, 96]
    assert "gap@20" in record["epochs"][0]["validation"] and record["before"]["samples"] == 64
    assert Path(record["out"]) == tmp_path / "small-finetuned.keras" and Path(record["out"]).is_file()

    md = tmp_path / "report.md"
    r = invoke("report", "--eval", tagged / "valid.tfrecord", "--markdown", md, "--json", *ws)
    report = json.loads(r.stdout)
    assert list(report["models"]) == ["original", "pruned", "finetuned"]
    pruned, original = report["models"]["pruned"], report["models"]["original"]
    assert pruned["params"] < original["params"] and pruned["flops_per_step"] < original["flops_per_step"]
    assert set(original["latency_ms"]) == {"tf batch 1", "tf batch 64"}
    assert 0 <= original["metrics"]["gap@20"] <= 1 and "map" in pruned["metrics"]
    # the pruned file on the validation data, as finetune measured it before training; the finetuned one, its best epoch
    assert pruned["metrics"]["gap@20"] == pytest.approx(record["before"]["gap@20"], abs=1e-6)
    best = record["before"] if record["kept_given"] else record["epochs"][record["best_epoch"] - 1]["validation"]
    assert report["models"]["finetuned"]["metrics"]["gap@20"] == pytest.approx(best["gap@20"], abs=1e-6)
    kept = [g["num_kept"] for g in report["groups"]]
    assert kept[:2] == [kept[0]] * 2 and sum(kept) == (12 + 12 + 16) // 2  # bi ties its directions; theta 0.5
    plot = Path(report["plots"][0])
    assert png_size(plot) == (768, 480)  # 6.4 x 4 inches at 120 dpi
    text = md.read_text()
    assert "energy per group" in text and "| original | pruned | finetuned |" in text
    for g in report["groups"]:
        assert f"| {g['group']} | {g['units']} | {g['num_kept']} |" in text

    r = invoke(
        "sweep", "--theta", "0.3,0.6", "--eval", tagged / "valid.tfrecord", "--plot", tmp_path / "s.png", "--json", *ws
    )
    sweep = json.loads(r.stdout)
    assert [p["theta"] for p in sweep["points"]] == [0.3, 0.6]
    assert sweep["points"][0]["params"] > sweep["points"][1]["params"]
    assert "gap@20" in sweep["points"][1]["metrics"] and png_size(tmp_path / "s.png") == (1080, 432)
    assert sweep["original"]["metrics"]["gap@20"] == pytest.approx(original["metrics"]["gap@20"], abs=1e-6)
    uniform = [2 * round((1 - theta) * 12) + round((1 - theta) * 16) for theta in (0.3, 0.6)]  # every group at theta
    assert [sum(p["kept"].values()) for p in sweep["points"]] == uniform


def test_finetune_rewinds_a_refitted_cut_to_the_kept_units_own_weights(tagged, tmp_path):
    """The default start is the plan's cut of the original (means in the biases), not the refitted file."""
    from lstmprune_cli.core.plan import Plan
    from lstmprune_cli.framework import models
    from lstmprune_cli.framework.prune.planner import cut

    ws = ["-w", tmp_path / "ws"]
    invoke("analyze", tagged / "model.keras", "--data", tagged / "train.tfrecord", "--json", *ws)
    invoke("prune", "--theta", 0.5, "--out", tmp_path / "small.keras", "--no-latency", "--json", *ws)
    plan = Plan.load(tmp_path / "ws" / "plan.json")
    assert plan.extra["compensate"] == "refit"
    rewound = cut(models.load_model(tagged / "model.keras"), plan).get_weights()
    refitted = models.load_model(tmp_path / "small.keras").get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(rewound, refitted))
    common = ["--data", tagged / "train.tfrecord", "--val", tagged / "valid.tfrecord", "--epochs", 1, "--json"]
    starts = {}
    for start in ("rewound", "pruned", "auto"):
        out = tmp_path / f"{start}.keras"
        starts[start] = json.loads(invoke("finetune", *common, "--start", start, "--out", out, *ws).stdout)
    assert starts["rewound"]["start"] == "rewound" and starts["pruned"]["start"] == "pruned"
    assert starts["rewound"]["before"] == starts["pruned"]["before"]  # both measured against the file as given
    assert starts["rewound"]["epochs"][0]["loss"] != pytest.approx(starts["pruned"]["epochs"][0]["loss"], rel=1e-4)
    # auto trains the first quarter of the one epoch from both, goes on with the lower validation loss, and
    # every sequence either start trained counts against the epoch
    auto = starts["auto"]
    trials, epoch = auto["trials"], starts["rewound"]["epochs"][0]["samples"]
    assert auto["start"] == min(trials, key=lambda name: trials[name]["validation"]["loss"])
    assert 0 < trials["pruned"]["samples"] == trials["rewound"]["samples"] < epoch / 2
    assert [e["epoch"] for e in auto["epochs"]] == [1]
    assert auto["epochs"][0]["samples"] + trials["pruned"]["samples"] == epoch
    r = invoke("finetune", *common[:-1], "--start", "auto", "--out", tmp_path / "shown.keras", *ws)
    assert f"start pruned: {trials['pruned']['samples']:,} sequences of trial, validation loss" in r.stderr
    # A start that training cannot lift above the file as given (a learning rate of 1e-12) is not shipped.
    out = tmp_path / "frozen.keras"
    record = json.loads(invoke("finetune", *common, "--lr", 1e-12, "--start", "rewound", "--out", out, *ws).stdout)
    assert record["kept_given"] and record["epochs"][0]["validation"]["loss"] > record["before"]["loss"]
    written = models.load_model(out).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(written, refitted))
    r = runner.invoke(app, ["finetune", *map(str, common), "--start", "refit", *map(str, ws)])
    assert r.exit_code != 0 and "--start must be one of auto, rewound, pruned; received 'refit'" in r.stderr


def test_language_model_finetunes_on_text_with_perplexity(tf, tmp_path):
    import keras

    words = "the cat sat on the mat <eos> a dog ran".split()
    (tmp_path / "vocab.txt").write_text("\n".join(["<unk>", "<eos>", *sorted(set(words) - {"<eos>"})]) + "\n")
    rng = np.random.default_rng(0)
    (tmp_path / "train.txt").write_text("\n".join(" ".join(rng.choice(words[:6], 8)) for _ in range(60)) + "\n")
    vocab = len((tmp_path / "vocab.txt").read_text().split())
    inputs = keras.Input((T,), dtype="int32")
    x = keras.layers.Embedding(vocab, 8)(inputs)
    x = keras.layers.LSTM(10, return_sequences=True)(x)
    model = keras.Model(
        inputs, keras.layers.Dense(vocab, activation="softmax")(keras.layers.LSTM(9, return_sequences=True)(x))
    )
    model.save(tmp_path / "lm.keras")
    r = invoke(
        "finetune",
        tmp_path / "lm.keras",
        "--data",
        tmp_path / "train.txt",
        "--vocab",
        tmp_path / "vocab.txt",
        "--val",
        tmp_path / "train.txt",
        "--epochs",
        2,
        "--no-distill",
        "--json",
        "-w",
        tmp_path / "ws",
    )
    record = json.loads(r.stdout)
    assert record["task"] == "lm" and record["teacher"] is None
    before, after = record["before"]["perplexity"], record["epochs"][-1]["validation"]["perplexity"]
    assert after < before <= vocab * 1.5


def test_learn_writes_a_plan_and_a_smaller_model_that_report_reads(tagged, tmp_path):
    """learn --method l0 meets the budget; soft-gm reads analyze's rates; bad combinations are one line."""
    ws = ["-w", tmp_path / "ws"]
    invoke("analyze", tagged / "model.keras", "--data", tagged / "train.tfrecord", "--json", *ws)
    train = ["--data", tagged / "train.tfrecord", "--batch-size", 32, "--epochs", 2]
    r = invoke("learn", "--method", "l0", "--theta", 0.5, "--val", tagged / "valid.tfrecord", *train, "--json", *ws)
    record = json.loads(r.stdout)
    assert abs(record["plan"]["achieved"]["units"] - 0.5) < 0.05
    assert record["params"]["after"] < record["params"]["before"] and Path(record["out"]).is_file()
    assert record["plan"]["target"] == "l0" and "gap@20" in record["validation"]  # of the cut model
    assert record["at_cut"]["samples"] == record["validation"]["samples"]  # the cut before it trained, same data
    report = json.loads(invoke("report", "--eval", tagged / "valid.tfrecord", "--json", *ws).stdout)
    assert report["models"]["pruned"]["params"] == record["params"]["after"]

    out = tmp_path / "soft.keras"
    r = invoke("learn", "--method", "soft-gm", "--theta", 0.5, *train, "--out", out, "--json", *ws)
    soft = json.loads(r.stdout)
    assert soft["exact"] and out.is_file() and soft["plan"]["target"] == "soft-gm"
    assert soft["cut"]["removed_alive"] == 0  # silenced for the last time at the cut
    r = invoke("learn", "--method", "group-lasso", "--theta", 0.5, *train, "--out", tmp_path / "gl.keras", *ws)
    closed = re.search(r"at the cut \(step \d+\): all (\d+) removed units closed \((.*)\), each", r.stdout)
    assert r.exit_code == 0 and closed and int(closed[1]) > 0, r.stdout  # closed as it learned, none left alive
    assert closed[2].split(", ")[-1].startswith(f"{closed[1]} by step ")  # the last closing: all of them

    out = tmp_path / "inputs.keras"
    r = invoke("learn", "--method", "l0", "--inputs", "--theta", 0.5, *train, "--out", out, "--json", *ws)
    kept = json.loads(r.stdout)["plan"]["extra"]["inputs"]["bi"]
    assert 0 < len(kept) < F
    report = json.loads(invoke("report", "--eval", tagged / "valid.tfrecord", "--json", *ws).stdout)
    assert report["models"]["pruned"]["metrics"]["gap@20"] > 0  # the same records, the selection inside it
    small = ["-w", tmp_path / "small-ws"]
    stats = json.loads(invoke("analyze", out, "--data", tagged / "train.tfrecord", "--json", *small).stdout)
    assert stats["groups"][0]["samples"] == 192
    bad = runner.invoke(app, ["learn", "--method", "l0", *map(str, train), *map(str, ws)])
    assert bad.exit_code != 0 and "--theta or --penalty" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    bad = runner.invoke(app, ["learn", "--method", "prune-all", "--theta", "0.5", *map(str, train), *map(str, ws)])
    assert bad.exit_code != 0 and "l0, group-lasso, soft-gm" in bad.stderr
    fresh = ["--model", str(tagged / "model.keras"), "-w", str(tmp_path / "fresh")]
    for flags, said in (
        (["--method", "soft-gm", "--prior", "obs", *map(str, ws)], "takes no --prior"),
        (["--method", "l0", "--prior", "bogus", *map(str, ws)], "prior must be one of"),
        (["--method", "l0", "--prior", "obs", *fresh], "has no stats; run lstmprune analyze"),
    ):
        bad = runner.invoke(app, ["learn", *flags, "--theta", "0.5", *map(str, train)])
        assert bad.exit_code != 0 and said in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
