"""Shared pieces of the keras_bahdanau benchmarks (TensorFlow backend).

The benchmark configuration matches the TensorFlow Addons baseline: vocab
8000, embedding 256, bi-GRU encoder 256 per direction, GRU decoder 512,
Bahdanau attention 512, batch 64, and the vocabulary projection reading the
decoder state only (`deep_output=False`, as TFA's `BasicDecoder` output).
"""

import json
import os
import resource
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_bahdanau as kb  # noqa: E402

VOCAB = 8000
BENCH_CONFIG = {
    "embedding_dim": 256,
    "encoder_units": 256,
    "decoder_units": 512,
    "attention_units": 512,
    "deep_output": False,
}


def use_bfloat16() -> None:
    """Switches Keras to the `mixed_bfloat16` policy for new layers."""
    keras.config.set_dtype_policy("mixed_bfloat16")


def make_batch(batch: int, length: int, seed: int = 0):
    """Random full-length (source, decoder input, target) id batches."""
    rng = np.random.default_rng(seed)
    source = rng.integers(3, VOCAB, (batch, length)).astype("int32")
    target = rng.integers(3, VOCAB, (batch, length)).astype("int32")
    decoder_input = np.concatenate(
        [np.ones((batch, 1), "int32"), target[:, :-1]], axis=1
    )
    return source, decoder_input, target


def build_ours(length: int, batch: int, **overrides) -> kb.AttentionSeq2Seq:
    """The benchmark model, built and compiled (masked loss, Adam)."""
    model = kb.build_model(VOCAB, VOCAB, **{**BENCH_CONFIG, **overrides})
    model.build(((batch, length), (batch, length)))
    model.compile(optimizer=kb.optimizers.Adam(1e-3))
    return model


def forbid_end(model: kb.AttentionSeq2Seq) -> None:
    """Makes `end_id` unreachable so decoding runs the full max_length."""
    bias = model.decoder.output_layer.bias
    values = keras.ops.convert_to_numpy(bias).copy()
    values[model.end_id] = -1e9
    bias.assign(values)


def train_step_function(model, jit_compile: bool = False):
    """A `tf.function` doing forward, masked loss, gradients and Adam.

    The optimizer is the package default, `keras_bahdanau.optimizers.Adam`
    (TensorFlow's fused Adam kernel), for every model measured here. The
    tfa baseline uses Keras 2.15's default Adam, or with `--optimizer
    legacy_adam` the same fused kernel.
    """
    loss_fn = kb.MaskedSparseCategoricalCrossentropy()
    optimizer = kb.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)

    @tf.function(jit_compile=jit_compile)
    def step(source, decoder_input, target):
        with tf.GradientTape() as tape:
            logits = model((source, decoder_input), training=True)
            loss = loss_fn(target, logits)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    return step


def median_seconds(fn, steps: int, warmup: int) -> float:
    """Median wall time of `fn()` over `steps` calls after `warmup` calls."""
    for _ in range(warmup):
        _block(fn())
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        _block(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_rounds(
    functions: dict, rounds: int, steps: int, fields: dict,
    per_call: int = 1, suffix: str = "_ms", digits: int = 2,
) -> dict:
    """Times `functions` side by side, their order reversed every round.

    Each round takes `median_seconds` of every function (3 warm-up calls)
    and prints one JSON line: `{"kind": "round", **fields, "round": i,
    "<name><suffix>": milliseconds / per_call, ...}`.

    Returns:
        `{name: [seconds / per_call of each round]}`.
    """
    per_round = {name: [] for name in functions}
    for round_index in range(rounds):
        order = list(functions)
        if round_index % 2:
            order.reverse()
        for name in order:
            seconds = median_seconds(functions[name], steps, 3)
            per_round[name].append(seconds / per_call)
        print(json.dumps({
            "kind": "round",
            **fields,
            "round": round_index,
            **{f"{name}{suffix}": round(v[-1] * 1000, digits)
               for name, v in per_round.items()},
        }), flush=True)
    return per_round


def speedup_summary(
    per_round: dict, baseline: str, candidate: str, suffix: str = "_ms",
    digits: int = 2,
) -> dict:
    """Median times (ms) of two functions of `interleaved_rounds` and the
    median of the per-round ratios `baseline / candidate`."""
    ratios = [b / c for b, c in zip(per_round[baseline], per_round[candidate])]
    return {
        **{f"{name}{suffix}": round(statistics.median(per_round[name]) * 1000,
                                    digits)
           for name in (baseline, candidate)},
        "speedup_per_round": [round(r, 2) for r in ratios],
        "speedup": round(statistics.median(ratios), 2),
    }


def _block(result):
    for value in tf.nest.flatten(result):
        if hasattr(value, "numpy"):
            value.numpy()


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
