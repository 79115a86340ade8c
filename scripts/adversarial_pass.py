"""An adversarial pass over the command line: each case must end as expected (exit 0, or exit 2 with one
error line), without a traceback, and leave the model, the data and the workspace statistics unchanged.

    .venv/bin/python scripts/adversarial_pass.py     # prints one line per case and the count that held
"""

import hashlib
import json
import os
import signal
import tempfile
import zipfile
from pathlib import Path

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
from typer.testing import CliRunner

from lstmprune_cli.cli.app import app
from lstmprune_cli.framework import import_tensorflow

import_tensorflow()
import keras  # noqa: E402  after the quiet TensorFlow import
import tensorflow as tf  # noqa: E402  after the quiet TensorFlow import

R = Path(tempfile.mkdtemp(prefix="lstmprune-adversarial-"))
os.chdir(R)
keras.utils.set_random_seed(0)
i = keras.Input((5, 4))
h = keras.layers.LSTM(6, return_sequences=True)(i)
h = keras.layers.LSTM(5)(h)
m = keras.Model(i, keras.layers.Dense(3, activation="sigmoid")(h))
m.compile("adam", "binary_crossentropy")
m.save("m.keras")
i2 = keras.Input((5, 4))
keras.Model(i2, keras.layers.Dense(2)(keras.layers.LSTM(3)(i2))).save("other.keras")
i5 = keras.Input((5, 4))
keras.Model(i5, keras.layers.Dense(3, activation="sigmoid")(keras.layers.LSTM(4)(i5))).save("sib.keras")
i3 = keras.Input((5, 4))
keras.Model(i3, keras.layers.Dense(2)(keras.layers.Flatten()(i3))).save("norec.keras")
a, b = keras.Input((5, 4)), keras.Input((5, 4))
keras.Model([a, b], keras.layers.Dense(2)(keras.layers.LSTM(3)(keras.layers.Concatenate()([a, b])))).save("two.keras")
rng = np.random.default_rng(0)
np.savez("d.npz", x=rng.normal(size=(30, 5, 4)).astype("float32"), y=rng.integers(0, 2, (30, 3)))
np.savez("two.npz", a=np.zeros((3, 5, 4)), b=np.zeros((3, 5, 4)))
np.savez("flat.npz", x=np.zeros(10))
xn = rng.normal(size=(10, 5, 4)).astype("float32")
xn[3, 2, 1] = np.nan
np.savez("nan.npz", x=xn)
np.save("obj.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
Path("c.txt").write_text("a b c\n")
Path("notzip.keras").write_text("hello")
with zipfile.ZipFile("junk.keras", "w") as z:
    z.writestr("x", "y")
src = zipfile.ZipFile("m.keras")


def variant(name, config_bytes):
    with zipfile.ZipFile(name, "w") as z:
        for it in src.infolist():
            z.writestr(it.filename, config_bytes if it.filename == "config.json" else src.read(it.filename))


cfg = json.loads(src.read("config.json"))
variant("badjson.keras", b"{not json")
variant("list.keras", b"[1,2]")
c2 = json.loads(json.dumps(cfg))
c2["config"]["layers"][1]["registered_name"] = "pkg>Thing"
variant("reg.keras", json.dumps(c2).encode())
c3 = json.loads(json.dumps(cfg))
c3["config"]["layers"][1]["class_name"] = "Lambda"
variant("lam3.keras", json.dumps(c3).encode())
Path("garbage.h5").write_bytes(os.urandom(2048))
Path("sm").mkdir()
Path("sm/saved_model.pb").write_bytes(b"x")
Path("sm/keras_metadata.pb").write_bytes(os.urandom(64))
Path("emptydir").mkdir()
Path("plist.json").write_text("[1]")
Path("state_ws").mkdir()
Path("state_ws/state.json").write_text(json.dumps({"model": 3}))
Path("ghost_ws").mkdir()
Path("ghost_ws/state.json").write_text(json.dumps({"model": "/nope/m.keras", "stats": "stats.npz"}))
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


assert run("analyze", "m.keras", "--data", "d.npz", "-w", "ws").exit_code == 0
assert run("analyze", "other.keras", "--data", "d.npz", "-w", "ows", "--stats", "o.npz").exit_code == 0
assert run("prune", "--theta", "0.5", "--dry-run", "--no-latency", "-w", "ws").exit_code == 0
plan = json.loads(Path("ws/plan.json").read_text())
p2 = json.loads(json.dumps(plan))
p2["groups"][0]["kept_units"] = [0, 99]
Path("range.json").write_text(json.dumps(p2))
p3 = json.loads(json.dumps(plan))
p3["groups"][0]["fill"] = [0.0]
Path("fill.json").write_text(json.dumps(p3))
Path("pickle.npz").write_bytes(Path("d.npz").read_bytes())
np.savez("pickled.npz", meta=np.array([{"a": 1}], dtype=object))
CASES = [
    ("empty model dir", ["analyze", "emptydir", "--data", "d.npz"], 2),
    ("zip that is not keras", ["analyze", "junk.keras", "--data", "d.npz"], 2),
    ("text named .keras", ["analyze", "notzip.keras", "--data", "d.npz"], 2),
    ("config.json not JSON", ["analyze", "badjson.keras", "--data", "d.npz"], 2),
    ("config.json a list", ["analyze", "list.keras", "--data", "d.npz"], 2),
    ("foreign registered name", ["analyze", "reg.keras", "--data", "d.npz"], 2),
    ("Keras 3 Lambda", ["analyze", "lam3.keras", "--data", "d.npz"], 2),
    ("garbage .h5", ["analyze", "garbage.h5", "--data", "d.npz"], 2),
    ("corrupt keras_metadata.pb", ["analyze", "sm", "--data", "d.npz"], 2),
    ("data: empty folder", ["analyze", "m.keras", "--data", "emptydir"], 2),
    ("data: glob matching nothing", ["analyze", "m.keras", "--data", "nothing*.tfrecord"], 2),
    ("npz without x, two arrays", ["analyze", "m.keras", "--data", "two.npz"], 2),
    ("npz x of rank 1", ["analyze", "m.keras", "--data", "flat.npz"], 2),
    ("NaN in x", ["analyze", "m.keras", "--data", "nan.npz"], 2),
    ("NaN in x, skipped", ["analyze", "m.keras", "--data", "nan.npz", "--skip-nonfinite", "-w", "ws_nan"], 0),
    ("object .npy", ["analyze", "m.keras", "--data", "obj.npy"], 2),
    ("text without vocab", ["analyze", "m.keras", "--data", "c.txt"], 2),
    ("missing vocab file", ["analyze", "m.keras", "--data", "c.txt", "--vocab", "none.txt"], 2),
    ("--shard 5/2", ["analyze", "m.keras", "--data", "d.npz", "--shard", "5/2"], 2),
    ("--shard abc", ["analyze", "m.keras", "--data", "d.npz", "--shard", "abc"], 2),
    ("--scale 1", ["analyze", "m.keras", "--data", "d.npz", "--scale", "1"], 2),
    ("--max-samples 0", ["analyze", "m.keras", "--data", "d.npz", "--max-samples", "0"], 2),
    ("model without recurrent layer", ["analyze", "norec.keras", "--data", "d.npz"], 2),
    ("model with two inputs", ["analyze", "two.keras", "--data", "d.npz"], 2),
    ("--plan missing", ["prune", "--plan", "none.json", "--dry-run", "-w", "ws"], 2),
    ("--plan a list", ["prune", "--plan", "plist.json", "--dry-run", "-w", "ws"], 2),
    ("--plan unit out of range", ["prune", "--plan", "range.json", "--dry-run", "-w", "ws"], 2),
    ("--plan fill of wrong length", ["prune", "--plan", "fill.json", "--dry-run", "-w", "ws"], 2),
    ("--stats not npz", ["prune", "--theta", "0.5", "--stats", "c.txt", "--dry-run", "-w", "ws"], 2),
    ("--stats with pickled objects", ["prune", "--theta", "0.5", "--stats", "pickled.npz", "--dry-run", "-w", "ws"], 2),
    ("--stats of another model", ["prune", "--theta", "0.5", "--stats", "o.npz", "--dry-run", "-w", "ws"], 2),
    ("--min-units 0", ["prune", "--theta", "0.5", "--min-units", "0", "--dry-run", "-w", "ws"], 2),
    ("--theta nan", ["prune", "--theta", "nan", "--dry-run", "-w", "ws"], 2),
    (
        "--out in a new deep folder",
        ["prune", "--theta", "0.5", "--out", "a/b/c/s.keras", "--no-latency", "-w", "ws"],
        0,
    ),
    ("--out with no suffix (SavedModel)", ["prune", "--theta", "0.5", "--out", "smout", "--no-latency", "-w", "ws"], 0),
    ("merge different models", ["merge", "ws/stats.npz", "o.npz", "--out", "mm.npz", "-w", "ws"], 2),
    ("merge missing part", ["merge", "ws/stats.npz", "none.npz", "--out", "mm.npz", "-w", "ws"], 2),
    ("export --to bogus", ["export", "m.keras", "--to", "bogus", "--out", "x.y", "-w", "ws"], 2),
    ("export keras to .h5 name", ["export", "m.keras", "--to", "keras", "--out", "x.h5", "-w", "ws"], 2),
    ("export --quantize bogus", ["export", "m.keras", "--quantize", "bogus", "--out", "x.tflite", "-w", "ws"], 2),
    (
        "finetune --epochs 0",
        ["finetune", "m.keras", "--data", "d.npz", "--epochs", "0", "--out", "f.keras", "-w", "ws"],
        2,
    ),
    (
        "finetune --alpha 2",
        ["finetune", "m.keras", "--data", "d.npz", "--alpha", "2", "--out", "f.keras", "-w", "ws"],
        2,
    ),
    (
        "finetune --optimizer bogus",
        ["finetune", "m.keras", "--data", "d.npz", "--optimizer", "x", "--out", "f.keras", "-w", "ws"],
        2,
    ),
    (
        "finetune --schedule bogus",
        ["finetune", "m.keras", "--data", "d.npz", "--schedule", "x", "--out", "f.keras", "-w", "ws"],
        2,
    ),
    ("finetune labels missing (npy)", ["finetune", "m.keras", "--data", "obj.npy", "--out", "f.keras", "-w", "ws"], 2),
    ("report --eval missing", ["report", "--eval", "none.tfrecord", "-w", "ws"], 2),
    ("sweep --theta a:b:c", ["sweep", "--theta", "a:b:c", "-w", "ws"], 2),
    ("sweep --theta 0.5:0.1:0.1", ["sweep", "--theta", "0.5:0.1:0.1", "-w", "ws"], 2),
    ("inspect an npz", ["inspect", "d.npz"], 0),
    ("state.json with a number", ["prune", "--theta", "0.5", "--dry-run", "-w", "state_ws"], 2),
    ("state.json naming a missing model", ["prune", "--theta", "0.5", "--dry-run", "-w", "ghost_ws"], 2),
    ("report --tflite on the workspace", ["report", "-w", "ws", "--json"], 0),
]


# Second pass: the verbs and options added since (learn, --runner beam, --strategy, --backup-dir) and new
# classes of hostile input. Files for them:
i4 = keras.Input((6,))
e = keras.layers.Embedding(12, 4)(i4)
keras.Model(i4, keras.layers.Dense(12, activation="softmax")(keras.layers.LSTM(5)(e))).save("lm.keras")
Path("dup_vocab.txt").write_text("\n".join(["<unk>", "a", "b", "a"] + [f"w{k}" for k in range(8)]))
Path("corpus.txt").write_text("a b w1 w2 w3 w4 w5 w6\n" * 20)
ynan = rng.integers(0, 2, (30, 3)).astype("float32")
ynan[4, 1] = np.nan
np.savez("nanlabel.npz", x=rng.normal(size=(30, 5, 4)).astype("float32"), y=ynan)
os.mkfifo("fifo.keras")
os.mkfifo("fifo.npz")
deep = "[" * 100_000 + "]" * 100_000
Path("deep.json").write_text(deep)
Path("deep_ws").mkdir()
Path("deep_ws/state.json").write_text(deep)
p4 = json.loads(json.dumps(plan))
p4["groups"][0]["cell"] = "GRU"
Path("cell.json").write_text(json.dumps(p4))
p5 = json.loads(json.dumps(plan))
p5["groups"][0]["layer"] = "dense"
Path("layer.json").write_text(json.dumps(p5))
p6 = json.loads(json.dumps(plan))
p6["min_units"] = 2**80
Path("huge.json").write_text(json.dumps(p6))
Path("loop").symlink_to("loop2")
Path("loop2").symlink_to("loop")
with np.load("ws/stats.npz") as f:
    arrays = dict(f)
meta = json.loads(str(arrays["meta"]))
meta["groups"][0]["name"] = "ghost"
arrays["meta"] = np.array(json.dumps(meta))
np.savez("ghost_stats.npz", **arrays)
arrays["meta"] = np.array("[" * 50_000 + "]" * 50_000)
np.savez("deep_stats.npz", **arrays)
Path("records.tfrecord").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00garbage-not-a-record")
Path("long").mkdir()
Path("big.json").write_text(" " * (70 << 20))
Path("big_ws").mkdir()
Path("big_ws/state.json").write_text(" " * (70 << 20))
with tf.io.TFRecordWriter("seq.tfrecord") as w:
    for _ in range(8):
        frames = [tf.train.Feature(float_list=tf.train.FloatList(value=rng.normal(size=4))) for _ in range(5)]
        lists = tf.train.FeatureLists(feature_list={"x": tf.train.FeatureList(feature=frames)})
        w.write(tf.train.SequenceExample(feature_lists=lists).SerializeToString())
good = Path("seq.tfrecord").read_bytes()
Path("damaged.tfrecord").write_bytes(good[: len(good) // 2] + b"\x00" * 7 + good[len(good) // 2 + 7 :])
LONG = "long/" + "n" * 249 + ".keras"  # a legal 255-byte name
LEARN = ["learn", "--method", "l0", "--data", "d.npz", "--epochs", "1", "--no-distill", "-w", "ws"]
TF_CONFIGS = {
    "empty": "",
    "worker not a list": json.dumps({"cluster": {"worker": "h:1"}, "task": {"type": "worker", "index": 0}}),
    "unknown task type": json.dumps({"cluster": {"worker": ["h:1"]}, "task": {"type": "boss", "index": 0}}),
    "nested deep": "[" * 10_000 + "]" * 10_000,
    "index out of range": json.dumps({"cluster": {"worker": ["h:1"]}, "task": {"type": "worker", "index": 5}}),
}
FT = ["finetune", "m.keras", "--data", "d.npz", "--epochs", "1", "--no-distill", "--start", "pruned", "-w", "ws"]
CASES += [
    (
        "beam output = the input model",
        ["analyze", "m.keras", "--data", "seq.tfrecord", "--runner", "beam", "--beam-output", "m.keras", "-w", "bws"],
        2,
    ),
    (
        "beam output = the data",
        [
            "analyze",
            "m.keras",
            "--data",
            "seq.tfrecord",
            "--runner",
            "beam",
            "--beam-output",
            "seq.tfrecord",
            "-w",
            "bws",
        ],
        2,
    ),
    (
        "beam output exists, no --force",
        ["analyze", "m.keras", "--data", "seq.tfrecord", "--runner", "beam", "--beam-output", "c.txt", "-w", "bws"],
        2,
    ),
    ("beam: damaged records", ["analyze", "m.keras", "--data", "damaged.tfrecord", "--runner", "beam", "-w", "bws"], 2),
    (
        "beam: unknown runner",
        [
            "analyze",
            "m.keras",
            "--data",
            "seq.tfrecord",
            "--runner",
            "beam",
            "--beam-options",
            "--runner=NoSuchRunner",
            "-w",
            "bws",
        ],
        2,
    ),
    (
        "beam: bad option value",
        [
            "analyze",
            "m.keras",
            "--data",
            "seq.tfrecord",
            "--runner",
            "beam",
            "--beam-options",
            "--direct_num_workers=abc",
            "-w",
            "bws",
        ],
        2,
    ),
    ("learn --theta 1.5", [*LEARN, "--theta", "1.5"], 2),
    ("learn --theta nan", [*LEARN, "--theta", "nan"], 2),
    ("learn --theta 0", [*LEARN, "--theta", "0"], 2),
    (
        "learn --every -1",
        ["learn", "--method", "soft-gm", "--theta", "0.5", "--every", "-1", "--data", "d.npz", "-w", "ws"],
        2,
    ),
    ("learn --epochs 0", [*LEARN, "--theta", "0.5", "--epochs", "0"], 2),
    ("learn --penalty -1", [*LEARN, "--penalty", "-1"], 2),
    ("learn on a NaN label", [*LEARN[:4], "nanlabel.npz", *LEARN[5:], "--theta", "0.5"], 2),
    ("finetune on a NaN label", ["finetune", "m.keras", "--data", "nanlabel.npz", "--out", "f.keras", "-w", "ws"], 2),
    (
        "finetune NaN label skipped",
        [
            "finetune",
            "m.keras",
            "--data",
            "nanlabel.npz",
            "--skip-nonfinite",
            "--epochs",
            "1",
            "--out",
            "fs.keras",
            "-w",
            "ws",
        ],
        0,
    ),
    (
        "sweep --train on a NaN label",
        ["sweep", "--theta", "0.5", "--train", "nanlabel.npz", "--epochs", "1", "--compensate", "mean", "-w", "ws"],
        2,
    ),
    ("learn --model of another workspace", [*LEARN, "--theta", "0.5", "--model", "other.keras"], 2),
    ("plan naming another cell type", ["prune", "--plan", "cell.json", "--dry-run", "-w", "ws"], 2),
    ("plan naming a Dense layer", ["prune", "--plan", "layer.json", "--dry-run", "-w", "ws"], 2),
    ("plan with a 2**80 field", ["prune", "--plan", "huge.json", "--dry-run", "-w", "ws"], 2),
    (
        "vocabulary with duplicates",
        ["analyze", "lm.keras", "--data", "corpus.txt", "--vocab", "dup_vocab.txt", "-w", "lmws"],
        2,
    ),
    ("FIFO as the model", ["analyze", "fifo.keras", "--data", "d.npz", "-w", "fws"], 2),
    ("FIFO as data", ["analyze", "m.keras", "--data", "fifo.npz", "-w", "fws"], 2),
    ("/dev/zero as data", ["analyze", "m.keras", "--data", "/dev/zero", "-w", "fws"], 2),
    ("--plan /dev/zero", ["prune", "--plan", "/dev/zero", "--dry-run", "-w", "ws"], 2),
    ("plan nested 100,000 deep", ["prune", "--plan", "deep.json", "--dry-run", "-w", "ws"], 2),
    ("state.json nested 100,000 deep", ["prune", "--theta", "0.5", "--dry-run", "-w", "deep_ws"], 2),
    (
        "statistics metadata nested deep",
        ["prune", "--theta", "0.5", "--stats", "deep_stats.npz", "--dry-run", "-w", "ws"],
        2,
    ),
    (
        "statistics naming a group the model lacks",
        ["prune", "--theta", "0.5", "--stats", "ghost_stats.npz", "--dry-run", "-w", "ws"],
        2,
    ),
    ("symlink loop as --out", ["prune", "--theta", "0.5", "--out", "loop", "--no-latency", "-w", "ws"], 2),
    ("255-byte --out name", ["prune", "--theta", "0.5", "--out", LONG, "--no-latency", "-w", "ws"], 0),
    ("--backup-dir a file", [*FT, "--backup-dir", "c.txt", "--out", "fb.keras"], 2),
    ("--backup-dir under a file", [*FT, "--backup-dir", "c.txt/sub", "--out", "fb.keras"], 2),
    ("--backup-dir the model", [*FT, "--backup-dir", "m.keras", "--out", "fb.keras"], 2),
    (
        "sweep --plot under a file",
        ["sweep", "--theta", "0.5", "--compensate", "mean", "--plot", "c.txt/p.png", "-w", "ws"],
        2,
    ),
    ("finetune --out under a file", [*FT, "--out", "c.txt/f.keras"], 2),
    ("learn --out under a file", [*LEARN, "--theta", "0.5", "--out", "c.txt/l.keras"], 2),
    # beyond the classes of the issue: more bounds, more options, more special files
    ("--schema /dev/zero", ["analyze", "m.keras", "--data", "d.npz", "--schema", "/dev/zero", "-w", "fws"], 2),
    ("--vocab a FIFO", ["analyze", "lm.keras", "--data", "corpus.txt", "--vocab", "fifo.npz", "-w", "fws"], 2),
    ("plan of 70 MB", ["prune", "--plan", "big.json", "--dry-run", "-w", "ws"], 2),
    ("merge a FIFO", ["merge", "ws/stats.npz", "fifo.npz", "--out", "mm.npz", "-w", "ws"], 2),
    ("--stats a folder", ["prune", "--theta", "0.5", "--stats", "emptydir", "--dry-run", "-w", "ws"], 2),
    ("export a FIFO", ["export", "fifo.keras", "--out", "x.tflite", "-w", "ws"], 2),
    ("report --eval a FIFO", ["report", "--eval", "fifo.npz", "-w", "ws"], 2),
    ("inspect a FIFO", ["inspect", "fifo.npz"], 2),
    ("state.json of 70 MB", ["prune", "--theta", "0.5", "--dry-run", "-w", "big_ws"], 2),
    (
        "--beam-output the workspace statistics",
        [
            "analyze",
            "m.keras",
            "--data",
            "seq.tfrecord",
            "--runner",
            "beam",
            "--beam-output",
            "ws/stats.npz",
            "-w",
            "ws",
        ],
        2,
    ),
    ("--beam-output without --runner beam", ["analyze", "m.keras", "--data", "d.npz", "--beam-output", "b.npz"], 2),
    ("sweep --plot the data", ["sweep", "--theta", "0.5", "--compensate", "mean", "--plot", "d.npz", "-w", "ws"], 2),
    ("report --markdown the model", ["report", "--markdown", "m.keras", "-w", "ws"], 2),
    ("learn --method bogus", [*LEARN[:2], "bogus", *LEARN[3:], "--theta", "0.5"], 2),
    ("learn --min-units 0", [*LEARN, "--theta", "0.5", "--min-units", "0"], 2),
    ("learn --alpha 2", [*LEARN, "--theta", "0.5", "--alpha", "2"], 2),
    ("learn --lr inf", [*LEARN, "--theta", "0.5", "--lr", "inf"], 2),
    ("finetune --patience -1", [*FT, "--patience", "-1", "--out", "fp.keras"], 2),
    ("finetune --max-samples 0", [*FT, "--max-samples", "0", "--out", "fp.keras"], 2),
    ("sweep --batch-size 0", ["sweep", "--theta", "0.5", "--batch-size", "0", "-w", "ws"], 2),
    ("sweep --epochs -1", ["sweep", "--theta", "0.5", "--epochs", "-1", "-w", "ws"], 2),
    ("--backup-dir the workspace", [*FT, "--backup-dir", "ws", "--out", "fb.keras"], 2),
    ("--backup-dir inside the data's folder is fine", [*FT, "--backup-dir", "bk_ok", "--out", "fok.keras"], 0),
] + [
    (f"TF_CONFIG {name}", [*FT, "--strategy", "multi-worker", "--out", "fw.keras"], 2, {"TF_CONFIG": value})
    for name, value in TF_CONFIGS.items()
]


def digest_all():
    return {
        p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in ["m.keras", "d.npz", "other.keras", "ws/stats.npz"]
    }


def hung(signum, frame):
    raise TimeoutError("no answer in 120 s")


signal.signal(signal.SIGALRM, hung)
results = []


def check(name, args, want, env=None, also=lambda r: True):
    """Run one case; it holds when it ends as `want` (2: one error line), with no traceback, the inputs unchanged
    and `also(result)` true."""
    before = digest_all()
    saved = {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})
    signal.alarm(120)  # a hang is a failure, not a stuck pass
    try:
        r = run(*args)
    finally:
        signal.alarm(0)
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    ok = r.exit_code == want and "Traceback" not in r.output and digest_all() == before and also(r)
    if want == 2:
        ok = ok and len(lines) == 1 and lines[0].startswith("error: ")
    results.append(ok)
    last = " / ".join(x[:150] for x in lines[-3:])
    print(f"{'held' if ok else 'FAIL'} {name}: exit {r.exit_code}, {len(lines)} line(s) | {last}")
    return r


for name, args, want, *env in CASES:
    check(name, args, want, env[0] if env else None)

# Cases that need a state made first.
check(
    "finetune of a model the workspace did not prune: no teacher",
    ["finetune", "sib.keras", "--data", "d.npz", "--epochs", "1", "--out", "of.keras", "-w", "ws"],
    0,
    also=lambda r: "no teacher" in r.stderr,
)
check("report beside an unrelated model", ["report", "--pruned", "other.keras", "-w", "ws"], 2)
from lstmprune_cli.framework.train import distribute  # noqa: E402

keep = distribute.Backup.clear
distribute.Backup.clear = lambda self: None  # a run that was lost after its last epoch: its backup stays
BK = [*FT, "--out", "bk.keras", "--backup-dir", "bk", "--force"]
r = run(*BK[:5], "2", *BK[6:])
assert r.exit_code == 0, r.output
distribute.Backup.clear = keep
with np.load("bk/state.npz") as f:
    good = dict(f)


def tampered(name, change):
    arrays = dict(good)
    change(arrays)
    np.savez("bk/state.npz", **arrays)
    check(f"backup with {name}", [*BK[:5], "3", *BK[6:]], 2)


tampered("NaN best weights", lambda a: a.update(b0=np.full_like(a["b0"], np.nan)))
state = json.loads(bytes(good["state"]).decode())
tampered("epoch 99", lambda a: a.update(state=np.frombuffer(json.dumps({**state, "epoch": 99}).encode(), np.uint8)))
other_run = {**state, "run": {**state["run"], "seed": 7}}
tampered("another run", lambda a: a.update(state=np.frombuffer(json.dumps(other_run).encode(), np.uint8)))
np.savez("bk/state.npz", **good)
check("backup of this run resumed", [*BK[:5], "3", *BK[6:]], 0)

# A full disk and a read-only workspace (a small tmpfs; needs root, skipped otherwise).
FULL = R / "full"
FULL.mkdir()
if os.geteuid() == 0 and os.system(f"mount -t tmpfs -o size=64k tmpfs {FULL} 2>/dev/null") == 0:
    try:
        (FULL / "filler").write_bytes(b"\0" * 60_000)

        def nothing_left(r):
            return sorted(p.name for p in FULL.iterdir()) == ["filler"]

        check(
            "export --to h5 on a full disk",
            ["export", "m.keras", "--to", "h5", "--out", FULL / "x.h5", "-w", "ws"],
            2,
            also=nothing_left,
        )
        check(
            "SavedModel output on a full disk",
            ["export", "m.keras", "--to", "savedmodel", "--out", FULL / "sm", "-w", "ws"],
            2,
            also=nothing_left,
        )
        state_before = Path("ws/state.json").read_text()
        check(
            "analyze --stats on a full disk",
            ["analyze", "other.keras", "--data", "d.npz", "--stats", FULL / "s.npz", "-w", "ws"],
            2,
            also=lambda r: nothing_left(r) and Path("ws/state.json").read_text() == state_before,
        )
        check(
            "--backup-dir on a full disk",
            [*FT, "--out", "fb2.keras", "--backup-dir", FULL / "bk"],
            2,
            also=lambda r: not list((FULL / "bk").rglob("*")) if (FULL / "bk").exists() else True,
        )
        os.system(f"mount -o remount,ro {FULL}")
        check(
            "prune in a read-only workspace",
            ["prune", "--theta", "0.5", "--out", "ro.keras", "-w", FULL],
            2,
            also=lambda r: not Path("ro.keras").exists(),
        )
        check("read-only output folder", [*FT, "--out", FULL / "f.keras"], 2)
    finally:
        os.system(f"umount {FULL}")
else:
    print("skipped: the full-disk and read-only cases need root (a small tmpfs)")
print(f"{sum(results)}/{len(results)} held")
