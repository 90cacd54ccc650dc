"""Decoding throughput: compiled `generate` vs a Python-loop decoder.

Measures sentences per second of

- `greedy`: `model.generate(strategy="greedy")`, one compiled loop;
- `beam5`: `model.generate(strategy="beam", beam_size=5)`;
- `pyloop`: the TensorFlow NMT tutorial's decoder (`pyloop.py`): encode
  once, then a Python `for` loop over eager `model.decode_step` calls with
  `argmax`;
- `pyloop_compiled_step`: the same loop with the step compiled once
  (`tf.function` on TensorFlow, `jax.jit` on JAX);

at batch 1 and 64 and source length 20 and 50, on the benchmark model:
`kb.build_model(8000, 8000)` with the `AttentionSeq2Seq` defaults
(embedding 256, bidirectional GRU encoder 256 per direction, GRU decoder
512, attention 512, deep output `[s_i; c_i; E y_{i-1}]` -> 8000, no
maxout) and random weights.

Every decode runs exactly `--steps` (20) output steps: after building, the
output-layer bias of `end_id` is set to -1e9, so the end token can never
be chosen (it is also never a live beam) and no early stop happens. The
script checks each warm-up output: full length and no `end_id`.

Rounds are interleaved: for each configuration (batch, source length) the
variants are compiled and warmed up, then R rounds measure every variant
once, in an order that rotates between rounds, so machine drift hits all
variants alike. Each measurement repeats the decode enough times to last
about `--min-seconds`. Output (stdout) is JSON lines:

- one `{"bench": "decode", "kind": "round", ...}` line per measurement;
- one `{"bench": "decode", "kind": "summary", ...}` line per
  (configuration, variant) with the median over rounds of sentences/s,
  `ratio_vs_pyloop` (median over rounds of the same-round ratio
  variant/pyloop throughput, > 1 is faster than the Python loop) and,
  for beam, `cost_vs_greedy` (median same-round greedy/beam throughput).

Targets (reported, not asserted): compiled greedy at batch 64 at least 3x
the Python-loop decoder; beam 5 costs less than 6x greedy.

Usage:

    python benchmarks/decode.py                 # 5 rounds, all configs
    python benchmarks/decode.py --rounds 3
    python benchmarks/decode.py --quick         # 2 rounds, source 20 only
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import keras
import numpy as np

import keras_bahdanau as kb

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pyloop import PythonLoopGreedy  # noqa: E402

VOCAB = 8000
VARIANTS = ("greedy", "beam5", "pyloop", "pyloop_compiled_step")


def build_benchmark_model(seed: int = 0):
    """The default-size model with an unreachable end token."""
    keras.utils.set_random_seed(seed)
    model = kb.build_model(VOCAB, VOCAB)
    model((np.full((1, 4), 3), np.full((1, 2), model.start_id)))
    bias = model.decoder.output_layer.bias
    values = np.array(keras.ops.convert_to_numpy(bias + 0.0))
    values[model.end_id] = -1e9
    bias.assign(values)
    return model


def make_decoders(model, steps: int) -> "dict[str, Callable]":
    """One callable per variant: `source_ids -> tokens (batch, steps)`."""
    eager = PythonLoopGreedy(model, compiled_step=False)
    compiled = PythonLoopGreedy(model, compiled_step=True)
    return {
        "greedy": lambda s: model.generate(s, max_length=steps)["tokens"],
        "beam5": lambda s: model.generate(
            s, max_length=steps, strategy="beam", beam_size=5
        )["tokens"],
        "pyloop": lambda s: eager(s, steps),
        "pyloop_compiled_step": lambda s: compiled(s, steps),
    }


def check_tokens(tokens: np.ndarray, batch: int, steps: int, end_id: int):
    """Raises `RuntimeError` unless every row ran all steps."""
    if tokens.shape != (batch, steps) or (tokens == end_id).any():
        raise RuntimeError(
            f"expected {steps} steps without end_id, got shape "
            f"{tokens.shape} with {(tokens == end_id).sum()} end tokens"
        )


def time_decoder(decode: Callable, source: np.ndarray, reps: int) -> float:
    """Seconds for `reps` back-to-back decodes."""
    start = time.perf_counter()
    for _ in range(reps):
        decode(source)
    return time.perf_counter() - start


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def run_config(
    model,
    batch: int,
    source_len: int,
    steps: int,
    rounds: int,
    min_seconds: float,
) -> None:
    """Warms up, then measures all variants in `rounds` rotating rounds."""
    rng = np.random.default_rng(batch * 1000 + source_len)
    source = rng.integers(3, VOCAB, (batch, source_len)).astype("int32")
    decoders = make_decoders(model, steps)
    reps = {}
    for name, decode in decoders.items():
        check_tokens(decode(source), batch, steps, model.end_id)  # compile
        once = time_decoder(decode, source, 1)
        reps[name] = max(1, int(np.ceil(min_seconds / max(once, 1e-6))))
    rates = {name: [] for name in VARIANTS}
    for r in range(rounds):
        order = VARIANTS[r % len(VARIANTS):] + VARIANTS[: r % len(VARIANTS)]
        for position, name in enumerate(order):
            seconds = time_decoder(decoders[name], source, reps[name])
            rate = batch * reps[name] / seconds
            rates[name].append(rate)
            emit({
                "bench": "decode",
                "kind": "round",
                "round": r,
                "position": position,
                "variant": name,
                "batch": batch,
                "source_len": source_len,
                "steps": steps,
                "reps": reps[name],
                "seconds": round(seconds, 5),
                "sentences_per_s": round(rate, 3),
            })
    for name in VARIANTS:
        record = {
            "bench": "decode",
            "kind": "summary",
            "variant": name,
            "batch": batch,
            "source_len": source_len,
            "steps": steps,
            "rounds": rounds,
            "sentences_per_s": round(statistics.median(rates[name]), 3),
            "ratio_vs_pyloop": round(
                statistics.median(
                    a / b for a, b in zip(rates[name], rates["pyloop"])
                ),
                3,
            ),
        }
        if name == "beam5":
            record["cost_vs_greedy"] = round(
                statistics.median(
                    g / b for g, b in zip(rates["greedy"], rates["beam5"])
                ),
                3,
            )
        emit(record)


def main(argv: "list[str] | None" = None) -> None:
    """Parses the options and runs every configuration."""
    parser = argparse.ArgumentParser(
        description="Decoding sentences/s: generate vs a Python loop."
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    parser.add_argument(
        "--source-len", type=int, nargs="+", default=[20, 50]
    )
    parser.add_argument(
        "--min-seconds", type=float, default=0.5,
        help="repeat each measurement to last about this long",
    )
    parser.add_argument(
        "--quick", action="store_true",
        help="2 rounds, source length 20 only, 0.2 s measurements",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.source_len, args.min_seconds = 2, [20], 0.2
    model = build_benchmark_model()
    emit({
        "bench": "decode",
        "kind": "setup",
        "backend": keras.config.backend(),
        "jit_compile": getattr(model, "jit_compile", False),
        "vocab": VOCAB,
        "embedding_dim": model.embedding_dim,
        "encoder_units": model.encoder_units,
        "decoder_units": model.decoder_units,
        "attention_units": model.attention_units,
        "deep_output": model.deep_output,
        "params": model.count_params(),
    })
    for source_len in args.source_len:
        for batch in args.batch:
            run_config(model, batch, source_len, args.steps, args.rounds,
                       args.min_seconds)


if __name__ == "__main__":
    main()
