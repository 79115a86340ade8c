"""Size and cost of a model: parameters, FLOPs per time step, and CPU latency measured side by side."""

from __future__ import annotations

import time

import numpy as np

from .layers import cells


def _out_rank(layer) -> int:
    out = layer.output
    out = out[0] if isinstance(out, (list, tuple)) else out
    return len(out.shape)


def flops(model, length: int) -> dict[str, int]:
    """Multiply-adds x 2: per time step (recurrent layers and per-step heads) and per sequence."""
    per_step = per_sequence = 0
    for layer in model.layers:
        name = type(layer).__name__
        recurrent = cells(layer)
        if recurrent:
            per_step += sum(
                spec.flops(*sub.cell.kernel.shape[:1], sub.cell.recurrent_kernel.shape[0]) for _, spec, sub in recurrent
            )
        elif name in ("Dense", "TimeDistributed"):
            kernel = layer.weights[0]
            cost = 2 * int(kernel.shape[0]) * int(kernel.shape[1])
            if _out_rank(layer) == 3:
                per_step += cost
            else:
                per_sequence += cost
    return {"per_step": per_step, "per_sequence": per_step * length + per_sequence}


def random_inputs(model, batch: int, length: int, seed: int = 0) -> list[np.ndarray]:
    """One random batch for each model input (Keras 3 or tf-keras): normal floats, or token ids in [1, 10)
    for integer inputs, below the smallest `Embedding` vocabulary when that is smaller."""
    from ..data.sources import input_embedding

    rng = np.random.default_rng(seed)
    vocab = min((layer.input_dim for layer in model.layers if type(layer).__name__ == "Embedding"), default=10)
    xs = []
    for i, x in enumerate(model.inputs):
        shape = [batch] + [d or length for d in x.shape[1:]]
        dtype = getattr(x.dtype, "name", str(x.dtype))  # a tf.DType in tf-keras, a str in Keras 3
        reads = input_embedding(model, i)
        if "int" in dtype or reads is not None:  # token ids, inside the vocabulary of the Embedding that reads them
            top = min(vocab, reads.input_dim) if reads is not None else vocab
            xs.append(rng.integers(min(1, top - 1), top, shape).astype(dtype))
        else:
            xs.append(rng.normal(size=shape).astype("float32"))  # (B, T, F)
    return xs


def latency(
    models: list, length: int, batch: int = 64, repeats: int = 5, seed: int = 0, jit: bool = False
) -> list[float]:
    """Median milliseconds of one forward pass of each model, run alternately on the same batch; jit: each
    compiled by XLA."""
    import tensorflow as tf

    xs = [tf.constant(a) for a in random_inputs(models[0], batch, length, seed)]
    x = xs if len(xs) > 1 else xs[0]
    calls = [tf.function(lambda x, m=m: m(x, training=False), jit_compile=jit) for m in models]

    for call in calls:
        call(x)  # trace and warm up
    times: list[list[float]] = [[] for _ in models]
    for _ in range(repeats):
        for call, t in zip(calls, times):
            start = time.perf_counter()
            np.asarray(call(x))
            t.append((time.perf_counter() - start) * 1000)
    return [float(np.median(t)) for t in times]


def tflite_latency(
    contents: list[bytes], inputs: list[list[np.ndarray]], repeats: int = 5, threads: int = 2
) -> list[float]:
    """Median milliseconds of one batch-1 sequence per TFLite model, run alternately (state reset each time)."""
    import warnings

    import tensorflow as tf

    from .. import quiet_stderr

    interpreters = []
    for content in contents:
        with warnings.catch_warnings(), quiet_stderr():
            warnings.simplefilter("ignore")
            interpreter = tf.lite.Interpreter(model_content=content, num_threads=threads)
            for d, x in zip(sorted(interpreter.get_input_details(), key=lambda d: d["index"]), inputs[0]):
                if tuple(d["shape"]) != np.shape(x):  # a free-length file: this many steps
                    interpreter.resize_tensor_input(d["index"], np.shape(x))
            interpreter.allocate_tensors()
        interpreters.append(interpreter)
    times: list[list[float]] = [[] for _ in contents]
    for rep in range(repeats + 1):
        for interpreter, t in zip(interpreters, times):
            details = sorted(interpreter.get_input_details(), key=lambda d: d["index"])
            interpreter.reset_all_variables()
            for d, x in zip(details, inputs[rep % len(inputs)]):
                interpreter.set_tensor(d["index"], np.asarray(x).astype(d["dtype"], copy=False))
            start = time.perf_counter()
            interpreter.invoke()
            if rep:  # the first run warms up
                t.append((time.perf_counter() - start) * 1000)
    return [float(np.median(t)) for t in times]
