"""Python-loop greedy decoding: the baseline for `benchmarks/decode.py`.

This is how the TensorFlow NMT-with-attention tutorial decodes: encode the
source once, then call the decoder one token at a time from a Python `for`
loop, taking the `argmax` of each step's logits and feeding it back. Two
variants:

- `PythonLoopGreedy(model, compiled_step=False)`: everything eager; every
  op of every step is dispatched from Python.
- `PythonLoopGreedy(model, compiled_step=True)`: the per-step call (and
  the encoder call) is compiled once (`tf.function` on TensorFlow, with
  the model's `jit_compile` setting; `jax.jit` on JAX), the loop over the
  steps stays in Python.

Both run a fixed number of steps with no early stop (the tutorial stops
when a batch-1 output emits the end token; a benchmark with an
unreachable end token runs all steps either way). `pad_id` and `start_id`
are excluded from the `argmax` as in `model.generate`, so on the same
model the tokens equal `model.generate(..., strategy="greedy")`.

Run directly for a one-off check against `model.generate`:

    python benchmarks/pyloop.py --batch 4 --source-len 10 --steps 8
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Callable

import keras
import numpy as np
from keras import ops

import keras_bahdanau as kb
from keras_bahdanau.compilation import compile_function


class PythonLoopGreedy:
    """Greedy decoding with a Python `for` loop over `model.decode_step`.

    Args:
        model: a built `AttentionSeq2Seq` (anything with `encode`,
            `decode_step`, `pad_id`, `start_id`).
        compiled_step: compile `encode` and `decode_step` once each
            (`tf.function` / `jax.jit`) instead of running them eagerly.

    Call arguments:
        source_ids: int `(batch, source_len)`.
        steps: number of output tokens (no early stop).

    Returns:
        int32 NumPy `(batch, steps)` tokens.
    """

    def __init__(self, model, compiled_step: bool = False):
        self.model = model
        self.compiled_step = compiled_step
        encode: Callable = model.encode
        step: Callable = self._step
        if compiled_step:
            encode = compile_function(model, lambda s: model.encode(s))
            step = compile_function(model, self._step)
        self._encode = encode
        self._step_fn = step

    def _step(self, prev_ids, state, cache):
        """One decoder call and the `argmax` over emittable tokens."""
        logits, state, _ = self.model.decode_step(prev_ids, state, cache)
        vocab = ops.arange(ops.shape(logits)[-1])
        banned = ops.logical_or(
            ops.equal(vocab, self.model.pad_id),
            ops.equal(vocab, self.model.start_id),
        )
        logits = ops.where(banned, -1e9, logits)
        return ops.cast(ops.argmax(logits, axis=-1), "int32"), state

    def __call__(self, source_ids, steps: int) -> np.ndarray:
        source_ids = ops.convert_to_tensor(source_ids, "int32")
        state, cache = self._encode(source_ids)
        batch = source_ids.shape[0]
        prev = ops.full((batch,), self.model.start_id, "int32")
        tokens = []
        for _ in range(steps):
            prev, state = self._step_fn(prev, state, cache)
            tokens.append(prev)
        return ops.convert_to_numpy(ops.stack(tokens, axis=1))


def main(argv: "list[str] | None" = None) -> None:
    """Checks both variants against `model.generate` and times them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--source-len", type=int, default=10)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=8000)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    model = kb.build_model(args.vocab, args.vocab)
    rng = np.random.default_rng(0)
    source = rng.integers(3, args.vocab, (args.batch, args.source_len))
    model((source, source[:, :1]))
    reference = model.generate(source, max_length=args.steps)["tokens"]
    for compiled in (False, True):
        decode = PythonLoopGreedy(model, compiled_step=compiled)
        decode(source, args.steps)
        start = time.perf_counter()
        tokens = decode(source, args.steps)
        seconds = time.perf_counter() - start
        # Rows that ended early in `generate` match up to their end token.
        ended = reference == model.end_id
        after_end = np.cumsum(ended, axis=1) - ended > 0
        same = (tokens == reference) | after_end
        print(json.dumps({
            "bench": "pyloop",
            "compiled_step": compiled,
            "batch": args.batch,
            "source_len": args.source_len,
            "steps": args.steps,
            "seconds": round(seconds, 4),
            "matches_generate": bool(same.all()),
        }))


if __name__ == "__main__":
    main()
