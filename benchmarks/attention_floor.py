"""Time floor of a training step: matmul bound plus attention element-wise.

The FLOP bound of `flops.py` counts matrix products only. Additive
attention also does `batch x source x units` element-wise work at every
target step, forward and backward, which no matmul rate covers: at length
50 that is 1.6M elements per step and pass. This script times exactly that
work in isolation (one graph, nothing else running, the best of several
passes), as the passes of the package's training loop do it:

* forward, per step: `tanh(keys + q)` and the `v_a` score product;
* backward, per step: `tanh` recomputed, its square, the query gradient's
  batched product, the keys gradient's multiply-accumulate and the `v_a`
  gradient's product.

Without fused element-wise kernels (XLA: no gain on this CPU, see the
README) every implementation of the model pays at least this on top of the
matmul bound. `floor_s = matmul_bound_s + attention_elementwise_s` is
therefore an optimistic floor of one training step; with `--baseline-s`
the script also prints the step time a speed-up target over a baseline
demands, and its ratio to the floor (below 1: impossible; near 1: the
target needs everything else to run at the matmul peak with no overhead).

Run, with the Python-loop step times of `train_step.py` and issue 3's
targets: `python benchmarks/attention_floor.py --baseline-s 0.341 1.251
--targets 1.4 3`; with tfa.seq2seq's step times of `compare.py` and issue
6's: `--baseline-s 0.237 0.709 --targets 1.4 1.4`. Prints JSON lines.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import flops  # noqa: E402


def attention_elementwise_seconds(
    length: int, batch: int = 64, units: int = flops.ATT_UNITS,
    passes: int = 7,
) -> float:
    """Best time of the attention element-wise work of one training step."""
    import tensorflow as tf

    keys = tf.random.normal((batch, length, units))
    vector = tf.random.normal((units, 1))
    queries = tf.random.normal((length, batch, units))
    de = tf.random.normal((length, batch, length))

    @tf.function(autograph=False)
    def step():
        def forward(t, total):
            squashed = tf.tanh(queries[t][:, None, :] + keys)
            return t + 1, total + tf.reduce_sum(squashed @ vector)

        def backward(t, d_weighted, d_vector, d_query):
            squashed = tf.tanh(queries[t][:, None, :] + keys)
            squared = tf.square(squashed)
            query = tf.matmul(de[t][:, None, :], squared)[:, 0]
            d_weighted = d_weighted + de[t][..., None] * squared
            d_vector = d_vector + tf.matmul(
                tf.reshape(squashed, (-1, units)), tf.reshape(de[t], (-1, 1)),
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

    step().numpy()
    times = []
    for _ in range(passes):
        start = time.perf_counter()
        step().numpy()
        times.append(time.perf_counter() - start)
    return min(times)


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
        help="speed-up targets over the baseline, one per length",
    )
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
        bound = flops.flop_bound("train", length, args.batch, gflops)
        elementwise = attention_elementwise_seconds(length, args.batch)
        record = {
            "kind": "attention_floor",
            "length": length,
            "batch": args.batch,
            "gflops_float32": gflops,
            "matmul_bound_s": bound["lower_bound_s"],
            "attention_elementwise_s": elementwise,
            "floor_s": bound["lower_bound_s"] + elementwise,
        }
        if args.baseline_s and i < len(args.baseline_s):
            target = args.targets[min(i, len(args.targets) - 1)]
            record["baseline_s"] = args.baseline_s[i]
            record["target_speedup"] = target
            record["target_step_s"] = args.baseline_s[i] / target
            record["target_over_floor"] = record["target_step_s"] / (
                record["floor_s"]
            )
        print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
