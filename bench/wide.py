"""Part: the paper's width on AudioSet: Bidirectional LSTM 512 -> LSTM 1024 -> Dense(527, sigmoid).

The over-parameterised regime the paper worked in (its YouTube-8M model), trained once on bal_train and
cached in bench/.cache. Each fine-tuning step costs about 20 times the sample's on this machine, so this
part runs one seed at theta 0.7 with a one-epoch budget; the default recipe part reads its base model too.
"""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path

from .audioset import clips, compare_on_audioset
from .common import CACHE, Mode, log, save

SIZES = {  # base epochs, base training clips, calibration clips, fine-tuning clips, evaluation clips, thetas
    "quick": dict(epochs=1, base_clips=2000, stats=500, budget=500, evaluate=1000, thetas=(0.7,)),
    "full": dict(epochs=4, base_clips=None, stats=2048, budget=8000, evaluate=None, thetas=(0.7,)),
}
METHODS = ("ISS-GM", "uniform rates", "L2-norm units", "default (uniform + OBS + refit)")


def build(widths: tuple[int, int] = (512, 1024)):
    import keras

    inputs = keras.Input((10, 128), name="frames")
    x = keras.layers.Masking(0.0)(inputs)
    x = keras.layers.Bidirectional(keras.layers.LSTM(widths[0], return_sequences=True), name="bilstm")(x)
    x = keras.layers.LSTM(widths[1], name="lstm")(x)
    outputs = keras.layers.Dense(527, activation="sigmoid", name="classes")(x)
    return keras.Model(inputs, outputs, name="audioset_paper_width")


def base(mode: Mode) -> Path:
    """The trained paper-width model of this mode, trained once and cached."""
    import keras

    size = SIZES[mode.name]
    recipe = hashlib.sha1((inspect.getsource(build) + inspect.getsource(base) + repr(size)).encode()).hexdigest()
    path = CACHE / f"audioset_wide_e{size['epochs']}_{mode.name}_{recipe[:8]}.keras"  # retrained on change
    if path.exists():
        return path
    keras.utils.set_random_seed(0)
    model = build()
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    x, y = clips("bal_train-*", size["base_clips"])
    log(f"training the paper-width AudioSet model: {len(x)} clips x {size['epochs']} epochs")
    model.fit(x, y, batch_size=64, epochs=size["epochs"], verbose=2, shuffle=True)
    clean = build()
    clean.set_weights(model.get_weights())
    clean.compile("adam", "binary_crossentropy")
    CACHE.mkdir(parents=True, exist_ok=True)
    clean.save(path)
    return path


def part(mode: Mode) -> dict:
    size = SIZES[mode.name]
    recipe = dict(epochs=1, learning_rate=1e-3)
    rows, counts = compare_on_audioset(base(mode), size, recipe, METHODS, (0,))
    result = {"size": size, "recipe": recipe, "clips": counts, "rows": rows}
    save(mode, "wide", result)
    return result
