"""Time floors: matmul bound plus the element-wise work no one can skip.

The FLOP bound of `flops.py` counts matrix products only. Additive
attention also does `rows x source x units` element-wise work at every
target step, and decoding reads the `rows x vocabulary` logits at every
step to choose a token. No matmul rate covers either. This script times
that work alone (one graph, nothing else running, best of several passes):

* training, per target step: forward `tanh(keys + q)` and the `v_a` score
  product; backward `tanh` recomputed, its square, the query gradient's
  batched product, the keys gradient's multiply-accumulate and the `v_a`
  gradient's product (the passes of the package's hand-written gradient);
* greedy, per output step: `tanh(keys + q)`, the score product and one
  `argmax` over the logits (what tfa's greedy sampler does; no scores);
* beam 5, per output step over `batch x 5` rows: the same attention, a
  `logsumexp` over the logits and each row's best 5 by the blocked top-k
  of `keras_bahdanau/decoding/topk.py` (one `max` pass over the logits),
  then the best 5 of those `5 x 5` per sentence (the top 5 of all
  `5 x vocabulary` candidates; a flat `top_k` over them costs 3.7x more).

Without fused element-wise kernels (XLA: no gain on this CPU, see the
README) every implementation of the model pays at least this on top of the
matmul bound, so `floor_s = matmul_bound_s + elementwise_s` is an
optimistic floor. With baseline times the script also prints the time a
speed-up target demands and its ratio to the floor (below 1: impossible;
near 1: everything else would have to run at the peak matmul rate with no
overhead).

Run, with the Python-loop step times of `train_step.py` (issue 3's
targets) and tfa.seq2seq's times of `compare.py` (issue 6's):

    python benchmarks/attention_floor.py --baseline-s 0.341 1.251 \\
        --targets 1.4 3 --decode-baseline-s 0.0752 0.410 --decode-target 1.5
    python benchmarks/attention_floor.py --baseline-s 0.237 0.709 \\
        --targets 1.4 1.4

Prints JSON lines (`kind`: `train_floor` per length, `decode_floor` per
decoding task).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import flops  # noqa: E402

from keras_bahdanau.decoding.topk import top_k  # noqa: E402

DECODE_TASKS = ("greedy", "beam5")


def best_seconds(fn: Callable[[], object], passes: int = 7) -> float:
    """Best wall time of `fn()` over `passes` calls, after one warm-up."""
    fn()
    times = []
    for _ in range(passes):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def attention_tensors(rows: int, length: int, steps: int, units: int):
    """Random `(keys, v_a, queries)`: `(rows, length, units)`, `(units, 1)`
    and one `(rows, units)` query per step."""
    import tensorflow as tf

    return (
        tf.random.normal((rows, length, units)),
        tf.random.normal((units, 1)),
        tf.random.normal((steps, rows, units)),
    )


def squashed(query, keys):
    """`tanh(q + keys)`: the attention's full-size element-wise pass."""
    import tensorflow as tf

    return tf.tanh(query[:, None, :] + keys)


def train_elementwise_seconds(
    length: int, batch: int = 64, units: int = flops.ATT_UNITS
) -> float:
    """Attention element-wise work of one training step (source = target)."""
    import tensorflow as tf

    keys, vector, queries = attention_tensors(batch, length, length, units)
    de = tf.random.normal((length, batch, length))

    @tf.function(autograph=False)
    def step():
        def forward(t, total):
            scores = squashed(queries[t], keys) @ vector
            return t + 1, total + tf.reduce_sum(scores)

        def backward(t, d_weighted, d_vector, d_query):
            squashed_t = squashed(queries[t], keys)
            squared = tf.square(squashed_t)
            query = tf.matmul(de[t][:, None, :], squared)[:, 0]
            d_weighted = d_weighted + de[t][..., None] * squared
            d_vector = d_vector + tf.matmul(
                tf.reshape(squashed_t, (-1, units)),
                tf.reshape(de[t], (-1, 1)),
                transpose_a=True,
            )
            return t + 1, d_weighted, d_vector, d_query + query

        _, total = tf.while_loop(
            lambda t, _: t < length, forward, (0, tf.constant(0.0))
        )
        _, d_weighted, d_vector, d_query = tf.while_loop(
            lambda t, *_: t < length, backward,
            (0, tf.zeros_like(keys), tf.zeros_like(vector),
             tf.zeros((batch, units))),
        )
        return (total + tf.reduce_sum(d_weighted[0, 0])
                + tf.reduce_sum(d_vector) + tf.reduce_sum(d_query))

    return best_seconds(lambda: step().numpy())


def decode_elementwise_seconds(
    task: str, length: int = 20, batch: int = 64,
    steps: int = flops.DECODE_STEPS, beam: int = flops.BEAM_WIDTH,
    units: int = flops.ATT_UNITS, vocab: int = flops.VOCAB,
) -> float:
    """Attention and token-choice element-wise work of one decode call."""
    import tensorflow as tf

    rows = batch * beam if task == "beam5" else batch
    keys, vector, queries = attention_tensors(rows, length, steps, units)
    logits = tf.random.normal((steps, rows, vocab))

    @tf.function(autograph=False)
    def call():
        def body(t, total, alive):
            scores = squashed(queries[t], keys) @ vector
            total = total + tf.reduce_sum(scores)
            if task == "greedy":
                chosen = tf.argmax(logits[t], axis=-1, output_type=tf.int32)
                return t + 1, total + tf.cast(chosen[0], tf.float32), alive
            shift = alive - tf.reduce_logsumexp(logits[t], axis=-1)
            per_row, _ = top_k(logits[t], beam)
            candidates = tf.reshape(
                per_row + shift[:, None], (batch, beam * beam)
            )
            best, _ = tf.math.top_k(candidates, beam)
            return t + 1, total, tf.reshape(best, (-1,))

        _, total, alive = tf.while_loop(
            lambda t, *_: t < steps, body,
            (0, tf.constant(0.0), tf.zeros((rows,))),
        )
        return total + tf.reduce_sum(alive)

    return best_seconds(lambda: call().numpy())


def floor_record(
    fields: dict, bound_s: float, elementwise_s: float, gflops: float,
    baseline_s, target: float,
) -> dict:
    """One JSON record: `fields`, the floor and, given `baseline_s`, the
    time a speed-up `target` over it demands."""
    record = {
        **fields,
        "gflops_float32": gflops,
        "matmul_bound_s": bound_s,
        "elementwise_s": elementwise_s,
        "floor_s": bound_s + elementwise_s,
    }
    if baseline_s is None:
        return record
    demanded = baseline_s / target
    return {
        **record,
        "baseline_s": baseline_s,
        "target_speedup": target,
        "target_s": demanded,
        "target_over_floor": demanded / record["floor_s"],
    }


def _nth(values, i: int):
    """`values[i]`, or None when `values` is None or shorter."""
    return values[i] if values and i < len(values) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument(
        "--baseline-s", type=float, nargs="*", default=None,
        help="baseline training step seconds, one per length",
    )
    parser.add_argument(
        "--targets", type=float, nargs="*", default=[1.4, 3.0],
        help="training speed-up targets over the baseline, one per length",
    )
    parser.add_argument(
        "--decode-baseline-s", type=float, nargs="*", default=None,
        help="baseline seconds per greedy and per beam-5 call (batch 64, "
        "source 20, 20 steps)",
    )
    parser.add_argument("--decode-target", type=float, default=1.5)
    parser.add_argument(
        "--gflops", type=float, default=None,
        help="float32 matmul GFLOP/s (None: measure with flops.py)",
    )
    args = parser.parse_args(argv)
    gflops = args.gflops
    if gflops is None:
        _, summary = flops.measure_matmul_rate(with_bf16=False)
        gflops = summary["tf_gflops"]
    for i, length in enumerate(args.lengths):
        record = floor_record(
            {"kind": "train_floor", "length": length, "batch": args.batch},
            flops.flop_bound("train", length, args.batch, gflops)[
                "lower_bound_s"
            ],
            train_elementwise_seconds(length, args.batch),
            gflops,
            _nth(args.baseline_s, i),
            args.targets[min(i, len(args.targets) - 1)],
        )
        print(json.dumps(record), flush=True)
    for i, task in enumerate(DECODE_TASKS):
        record = floor_record(
            {"kind": "decode_floor", "task": task, "length": 20,
             "batch": args.batch},
            flops.flop_bound(task, 20, args.batch, gflops)["lower_bound_s"],
            decode_elementwise_seconds(task, batch=args.batch),
            gflops,
            _nth(args.decode_baseline_s, i),
            args.decode_target,
        )
        print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
