"""Reading and writing models: `.keras` files and SavedModel directories that carry their Keras model."""

from __future__ import annotations

import hashlib
import io
import json
import warnings
import zipfile
from pathlib import Path

import numpy as np

from ..core.errors import LstmpruneError
from ..core.files import refuse_existing, regular_file, staged
from . import legacy, safety

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
    if path.suffix in (".h5", ".hdf5"):
        return "h5"
    if not zipfile.is_zipfile(path):
        raise LstmpruneError(
            f"{path} is not a Keras model file; expected a .keras file (a zip written by model.save), "
            "an .h5 file or a SavedModel directory"
        )
    return "keras"


def load_model(path: Path):
    """The Keras model at `path`, without its optimizer state; its config is checked before anything loads."""
    import keras

    kind = model_kind(path)
    if kind == "tf-keras":
        model = legacy.from_tf_keras(path)
    else:
        source = Path(path) / EMBEDDED if kind == "savedmodel" else Path(path)
        try:
            if kind == "h5":
                model = legacy.load_h5(source)
            else:
                safety.check_config(safety.keras_file_config(source), str(path))
                model = keras.saving.load_model(source, compile=False, safe_mode=True)
        except LstmpruneError:
            raise
        except Exception as e:  # noqa: BLE001  keras raises many types for unreadable files
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise LstmpruneError(f"cannot load {path} as a Keras model: {first}") from e
    if type(model).__name__ not in ("Functional", "Sequential"):
        raise LstmpruneError(
            f"{path} holds a subclassed model ({type(model).__name__}); save a Functional or Sequential model instead"
        )
    return model


def save_model(model, out: Path, force: bool = False) -> str:
    """Write `model` to `out` atomically: `.keras` or `.h5` by suffix, otherwise a servable SavedModel directory."""
    out = Path(out)
    refuse_existing(out, force)
    bad = [w.path for w in model.weights if not np.all(np.isfinite(w.numpy()))]
    if bad:
        raise LstmpruneError(
            f"the model for {out} has NaN or Inf weights ({bad[0]}{' and more' if len(bad) > 1 else ''}); not "
            "written (training diverged: lower --lr, or check the data)"
        )
    with staged(out, force) as tmp:
        if out.suffix == ".keras":
            model.save(tmp)
            return "keras"
        if out.suffix == ".h5":
            _save_h5(model, tmp)
            return "h5"
        try:
            model.export(str(tmp), verbose=False)
        except Exception as e:  # noqa: BLE001  TensorFlow's writers raise their own types for a full disk
            if isinstance(e, (OSError, LstmpruneError)) or "space" not in str(e).lower():
                raise
            raise LstmpruneError(f"cannot write {out}: No space left on device") from None
        (tmp / EMBEDDED).parent.mkdir(exist_ok=True)
        model.save(tmp / EMBEDDED)
        return "savedmodel"


def _save_h5(model, path: Path) -> None:
    """A legacy .h5 as Keras 2 (tf-keras) writes it, so the tools of that era read it too."""
    import h5py

    from .tflite import tf_keras_model

    old = tf_keras_model(model, batch=None)
    if old is None:
        raise LstmpruneError(f"this model cannot be written as {path.name} (.h5); write a .keras file instead")
    safety.check_same_function(model, old, f"the .h5 (Keras 2) form of {path.name}")
    buffer = io.BytesIO()  # HDF5 ends the process on a full disk; written whole in memory, then to the file
    with h5py.File(buffer, "w") as f, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf-keras calls .h5 legacy on every save; the user asked for one
        old.save(f)
    path.write_bytes(buffer.getvalue())


def default_output(path: Path) -> Path:
    """Where the pruned model goes when no --out is given: beside the input, in the input's family."""
    path = Path(path)
    kind = model_kind(path)
    if kind in ("keras", "h5"):
        return path.with_name(f"{path.stem}-pruned{path.suffix}")
    return path.with_name(f"{path.name}-pruned")


LOSS_NAMES = {
    "binary_crossentropy": "binary",
    "categorical_crossentropy": "categorical",
    "sparse_categorical_crossentropy": "sparse",
}


def compiled_loss(path: Path) -> str | None:
    """'binary', 'categorical' or 'sparse' from a model file's compile settings, if it has them.

    Read from the config only: a `.keras` file's `compile_config`, an `.h5` file's `training_config`,
    a Keras 2 SavedModel's `training_config` in `keras_metadata.pb`.
    """
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
        loss = loss.get("config", {}).get("name") or loss.get("class_name")
    if not isinstance(loss, str):
        return None
    key = "".join(c for c in loss.lower() if c.isalpha())
    return next((short for name, short in LOSS_NAMES.items() if key == name.replace("_", "")), None)


def compile_like(model, loss: str | None) -> None:
    """Record `loss` ('binary', 'categorical', 'sparse') in the model's compile settings, so later verbs use it."""
    full = {short: name for name, short in LOSS_NAMES.items()}.get(loss or "")
    if full:
        model.compile(optimizer="adam", loss=full)


def fingerprint(model) -> str:
    """sha256 of the architecture and the weights: statistics and plans belong to one model."""
    h = hashlib.sha256()
    arch = [(layer.name, type(layer).__name__, [list(w.shape) for w in layer.weights]) for layer in model.layers]
    h.update(json.dumps(arch).encode())
    for w in model.get_weights():
        h.update(w.tobytes())
    return h.hexdigest()
