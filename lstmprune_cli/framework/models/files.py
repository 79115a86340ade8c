"""Reading and writing models: `.keras` files and SavedModel directories that carry their Keras model."""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

from ...core.errors import LstmpruneError
from ...core.files import refuse_existing, regular_file, staged
from ...core.workspace import beside
from . import keras2, safety

EMBEDDED = Path("assets.extra") / "model.keras"


def model_kind(path: Path) -> str:
    """'keras' for a .keras file, 'savedmodel' for a directory lstmprune wrote; refuse the rest."""
    path = Path(path)
    if not path.exists():
        raise LstmpruneError(f"model {path} does not exist; expected a .keras file or a SavedModel directory")
    if path.is_dir():
        if (path / EMBEDDED).is_file():
            return "savedmodel"
        if (path / "keras_metadata.pb").is_file():
            return "tf-keras"
        if (path / "saved_model.pb").is_file():
            raise LstmpruneError(
                f"{path} is a SavedModel without a Keras architecture inside (Keras 3 model.export() or a TF1 graph); "
                "pass the .keras file the model was saved to"
            )
        raise LstmpruneError(f"{path} is a directory without a model; expected a .keras file or a SavedModel directory")
    regular_file(path, "model", "a .keras file, an .h5 file or a SavedModel directory")
    with open(path, "rb") as f:
        head = f.read(64)
    if head[:8] == HDF5_SIGNATURE:  # by content, whatever the name
        return "h5"
    if head.startswith(b"version https://git-lfs"):
        raise LstmpruneError(
            f"{path} is a Git LFS pointer, not the model itself; fetch the file (git lfs pull) and pass it again"
        )
    if not zipfile.is_zipfile(path):
        raise LstmpruneError(
            f"{path} is not a Keras model file; expected a .keras file (a zip written by model.save), "
            "an .h5 file or a SavedModel directory"
        )
    return "keras"


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
SUFFIXES = {"keras": (".keras",), "h5": (".h5", ".hdf5")}


def reader_of(path: Path) -> str:
    """Which Keras reads the model file: 'tf-keras' (Keras 2 wrote it) or 'keras' (Keras 3)."""
    kind = model_kind(path)
    if kind == "tf-keras":
        return "tf-keras"
    if kind == "h5":
        return "tf-keras" if safety.h5_config(path)[1] else "keras"
    return "keras"


def describe(path: Path) -> str:
    """What the model file is, found from its content: 'a Keras 2 .h5 file named .keras', 'a Keras 3 .keras file'."""
    path = Path(path)
    kind, reader = model_kind(path), reader_of(path)
    version = "Keras 2" if reader == "tf-keras" else "Keras 3"
    if kind in ("tf-keras", "savedmodel"):
        return f"a {version} SavedModel directory"
    named = "" if path.suffix in SUFFIXES[kind] else f" named {path.suffix or 'without a suffix'}"
    return f"a {version} .{kind} file{named}"


def load_model(path: Path):
    """The Keras model at `path`, without its optimizer state; its config is checked before anything loads.

    A Keras 2 model is converted and checked to compute the original's function (keras2.py); that check failing
    to run is a bug of ours, not the user's file, and is not reported as an unreadable file.
    """
    kind = model_kind(path)
    if kind == "tf-keras":
        model = keras2.from_tf_keras(path)
    elif kind == "h5":
        model = keras2.load_h5(Path(path))
    else:
        source = Path(path) / EMBEDDED if kind == "savedmodel" else Path(path)
        try:
            config = safety.keras_file_config(source)
            safety.check_config(config, str(path))
            safety.check_recurrent(config, str(path))
            model = _load_keras_zip(source, config)
        except LstmpruneError:
            raise
        except Exception as e:  # noqa: BLE001  keras raises many types for unreadable files
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise LstmpruneError(f"cannot load {path} as a Keras model: {first}") from e
    return _built(model, path)


def _built(model, path: Path):
    """The model, unless it is subclassed or a Sequential never built."""
    if type(model).__name__ not in ("Functional", "Sequential"):
        raise LstmpruneError(
            f"{path} holds a subclassed model ({type(model).__name__}); save a Functional or Sequential model instead"
        )
    try:
        model.inputs  # noqa: B018  a Sequential saved before it was built or trained has none
    except (AttributeError, ValueError):
        raise LstmpruneError(
            f"{path} holds a Sequential model that was never built: no input shape and no trained weights, nothing "
            "to prune; build it (keras.Input(shape) first), train it and save it again"
        ) from None
    return model


def _load_keras_zip(path: Path, config: dict):
    """A .keras zip, whatever its name (Keras reads a zip only under a .keras name: a misnamed one is read from a
    copy). Files tf.keras 2.13-2.15 wrote in this format are read from a repaired copy: `time_major: false`
    dropped from the config (`true` is refused, keras2.py), and weight paths written on Windows with backslashes
    (`layers\\lstm\\cell/vars`) given the slashes Keras reads."""
    import keras

    with zipfile.ZipFile(path) as z:
        weights = z.read("model.weights.h5") if "model.weights.h5" in z.namelist() else None
    keras2.refuse_time_major(config, path)
    flagged = _has_key(config, "time_major")
    fixed = _slashed_weights(weights) if weights is not None else None
    if path.suffix == ".keras" and not flagged and fixed is None:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "model.keras"
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(copy, "w") as dst:
            for item in src.infolist():
                data = src.read(item)
                if item.filename == "config.json" and flagged:
                    data = json.dumps(keras2.clean_config(config)).encode()
                if item.filename == "model.weights.h5" and fixed is not None:
                    data = fixed
                dst.writestr(item, data)
        return keras.saving.load_model(copy, compile=False, safe_mode=True)


def _slashed_weights(data: bytes) -> bytes | None:
    """The weights file with backslashes in its paths turned into slashes, or None when it has none."""
    import h5py

    found = []
    with h5py.File(io.BytesIO(data), "r") as f:
        f.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset) else None)
        if not any("\\" in name for name in found):
            return None
        out = io.BytesIO()
        with h5py.File(out, "w") as g:
            for name in found:
                g.create_dataset(name.replace("\\", "/"), data=f[name][()])
    return out.getvalue()


def _has_key(obj, key: str) -> bool:
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if key in item:
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


READS = {"keras": "Keras 3", "tf-keras": "tf-keras (Keras 2)"}


def save_model(model, out: Path, force: bool = False, reader: str = "keras", loss=None, optimizer: bool = False) -> str:
    """Write `model` to `out` atomically: `.keras` or `.h5` by suffix, otherwise a servable SavedModel directory.

    reader: the Keras the output is for ('keras' or 'tf-keras', as `reader_of` the input): an `.h5` or a
    SavedModel directory for tf-keras is written in Keras 2 form. loss: the input's compile settings (a
    `compiled_loss`), kept in the output. optimizer: the input carried its optimizer's state (`optimizer_saved`),
    so the output carries a built one too (zeros, three times the weights for Adam); otherwise it carries none,
    as its input did. Returns what was written and what reads it.
    """
    if reader == "tf-keras" and not Path(out).suffix == ".tflite":
        from .convertible import tf_keras_model

        if tf_keras_model(model, batch=None) is None:  # not expressible in Keras 2 form: Keras 3's, said so
            reader = "keras"
    kind = _save(model, Path(out), force, reader, loss, optimizer)
    reads = "tf-keras" if reader == "tf-keras" else "keras"
    return f"{kind}, loads with {READS[reads]}"


def _save(model, out: Path, force: bool, reader: str, loss, optimizer: bool = False) -> str:
    out = Path(out)
    refuse_existing(out, force)
    bad = [w.path for w in model.weights if not np.all(np.isfinite(w.numpy()))]
    if bad:
        raise LstmpruneError(
            f"the model for {out} has NaN or Inf weights ({bad[0]}{' and more' if len(bad) > 1 else ''}); not "
            "written (training diverged: lower --lr, or check the data)"
        )
    compile_like(model, loss, build=optimizer)
    with staged(out, force) as tmp:
        if out.suffix == ".keras":
            if reader == "tf-keras":  # tf-keras' own .keras format, which it reads back
                _keras2(model, tmp, loss).save(tmp)
            else:
                model.save(tmp)
            return "keras"
        if out.suffix == ".h5":
            _save_h5(model, tmp, reader, loss)
            return "h5"
        if reader == "tf-keras":
            _keras2(model, tmp, loss).save(tmp, save_format="tf")
            return "savedmodel"
        try:
            model.export(str(tmp), verbose=False)
        except Exception as e:  # noqa: BLE001  TensorFlow's writers raise their own types for a full disk
            if isinstance(e, (OSError, LstmpruneError)) or "space" not in str(e).lower():
                raise
            raise LstmpruneError(f"cannot write {out}: No space left on device") from None
        (tmp / EMBEDDED).parent.mkdir(exist_ok=True)
        model.save(tmp / EMBEDDED)
        return "savedmodel"


def _save_h5(model, path: Path, reader: str, loss) -> None:
    """A legacy .h5 for the Keras that reads it: Keras 3's own, or Keras 2's (tf-keras) form."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    buffer = io.BytesIO()  # HDF5 ends the process on a full disk; written whole in memory, then to the file
    with h5py.File(buffer, "w") as f, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both Keras call .h5 legacy on every save; the user asked for one
        if reader == "tf-keras":
            _keras2(model, path, loss).save(f)
        else:
            legacy_h5_format.save_model_to_hdf5(model, f, include_optimizer=True)
    path.write_bytes(buffer.getvalue())


def _keras2(model, path: Path, loss):
    """The model in tf-keras, checked to compute the same function, compiled as the input was."""
    from .convertible import tf_keras_model

    old = tf_keras_model(model, batch=None)
    if old is None:
        raise LstmpruneError(
            f"this model cannot be written in Keras 2 form as {path.name}; write a .keras file (Keras 3) instead"
        )
    safety.check_same_function(model, old, f"the Keras 2 form of {path.name}")
    if loss is not None:
        old.compile(optimizer="adam", loss=loss)
    return old


def default_output(path: Path, tag: str = "pruned") -> Path:
    """Where an output goes when no --out is given (`workspace.beside`): in the format the input's content is (an
    HDF5 file named .keras gives an .h5), so the Keras that reads the input reads it."""
    path = Path(path)
    if not path.exists():  # refused where it is read, with its own line
        return beside(path, tag, path.suffix or None)
    kind = model_kind(path)
    if kind in ("keras", "h5"):
        return beside(path, tag, path.suffix if path.suffix in SUFFIXES[kind] else SUFFIXES[kind][0])
    return beside(path, tag, None)


LOSS_NAMES = {  # a compile setting's name (letters only, lower case) -> the task's loss (train.tasks.losses())
    "binarycrossentropy": "binary",
    "categoricalcrossentropy": "categorical",
    "sparsecategoricalcrossentropy": "sparse",
    "mse": "mse",
    "meansquarederror": "mse",
    "mae": "mae",
    "meanabsoluteerror": "mae",
    "huber": "huber",
    "huberloss": "huber",
    "logcosh": "log_cosh",
}


def compiled_loss(path: Path) -> str | None:
    """The task's loss (train.tasks.losses(): 'binary', 'sparse', 'mse', ...) from a model file's compile settings."""
    return LOSS_NAMES.get("".join(c for c in (compiled_setting(path) or "").lower() if c.isalpha()))


def compiled_setting(path: Path) -> str | None:
    """The loss a model file was compiled with, by its Keras name ('mse', 'MeanSquaredError'), if it has one.

    Read from the config only: a `.keras` file's `compile_config`, an `.h5` file's `training_config`,
    a Keras 2 SavedModel's `training_config` in `keras_metadata.pb`. Only names Keras itself knows are kept.
    """
    import keras

    path = Path(path)
    try:
        kind = model_kind(path)
        if kind in ("keras", "savedmodel"):
            config = safety.keras_file_config(path / EMBEDDED if kind == "savedmodel" else path)
            loss = (config.get("compile_config") or {}).get("loss")
        elif kind == "h5":
            loss = safety.h5_training_config(path).get("loss")
        else:
            loss = safety.saved_model_training_config(path).get("loss")
    except LstmpruneError:
        return None
    if isinstance(loss, dict):
        loss = loss.get("class_name") if loss.get("class_name") != "function" else loss.get("config")
    if not isinstance(loss, str):
        return None
    try:
        keras.losses.get(loss)  # a built-in loss; nothing else is carried over
    except (ValueError, TypeError):
        return None
    return loss


TASK_LOSSES = {"binary": "binary_crossentropy", "categorical": "categorical_crossentropy"}
TASK_LOSSES |= {"sparse": "sparse_categorical_crossentropy"}


def compile_like(model, loss: str | None, build: bool = False) -> None:
    """Record `loss` (a Keras loss name, or a task loss of train.tasks.losses()) in the model's compile settings, so the
    output keeps its input's; build: also build the optimizer, whose state the file then carries."""
    if not loss or loss == "auto":
        return
    model.compile(optimizer="adam", loss=TASK_LOSSES.get(loss, loss))
    if build:
        model.optimizer.build(model.trainable_variables)


def saved_like(path: Path, loss: str | None = None) -> dict:
    """The keywords of `save_model` that write an output as its input at `path` was written: the Keras that reads
    it, its optimizer's state only if it carried it, its compile settings (else `loss`, a task loss)."""
    return dict(reader=reader_of(path), optimizer=optimizer_saved(path), loss=compiled_setting(path) or loss)


def optimizer_saved(path: Path) -> bool:
    """Whether a .keras or .h5 file carries its optimizer's state (more than Adam's step count and learning rate)."""
    import io
    import zipfile

    import h5py

    try:
        if Path(path).is_file() and h5py.is_hdf5(path):
            with h5py.File(path, "r") as f:
                if "optimizer_weights" not in f:
                    return False
                arrays = []
                f["optimizer_weights"].visititems(lambda _, obj: arrays.append(isinstance(obj, h5py.Dataset)))
                return sum(arrays) > 2
        with zipfile.ZipFile(path) as archive:
            weights = io.BytesIO(archive.read("model.weights.h5"))
        with h5py.File(weights, "r") as f:
            return "optimizer" in f and len(f["optimizer"].get("vars", {})) > 2
    except (OSError, KeyError, zipfile.BadZipFile, ValueError):
        return False


def fingerprint(model) -> str:
    """sha256 of the architecture and the weights: statistics and plans belong to one model."""
    h = hashlib.sha256()
    arch = [(layer.name, type(layer).__name__, [list(w.shape) for w in layer.weights]) for layer in model.layers]
    h.update(json.dumps(arch).encode())
    for w in model.get_weights():
        h.update(w.tobytes())
    return h.hexdigest()
