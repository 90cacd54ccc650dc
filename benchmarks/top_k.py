"""One decoding step's token choice: `ops.top_k` vs the blocked top-k.

Times, inside one `tf.function` `while_loop` of 20 iterations, the top-k
of `(rows, 8000)` scores: beam 5 at batch 64 (320 rows, k=5: each beam's
best continuations) and greedy at batch 64 (64 rows, k=1). "ops" is
`keras.ops.top_k`, "blocked" is `keras_bahdanau.decoding.topk.top_k`
(block maxima first). Both give identical values and indices (checked
here too). The two alternate within each round; prints one JSON line per
round and case and a summary per case with the median of the per-round
ratios.

    python3 benchmarks/top_k.py [--rounds 5] [--calls 15]
"""

import argparse
import json
import statistics

import numpy as np
from common import median_seconds
from common import tf
from keras import ops

from keras_bahdanau.decoding.topk import top_k

VOCAB = 8000
STEPS = 20


def step_loop(choose, scores):
    """20 dependent top-k calls in one graph, as in a decoding loop."""

    @tf.function(autograph=False)
    def run():
        def body(t, shift):
            _, index = choose(scores + shift, scores.shape[0])
            return t + 1, shift + 0.0 * ops.cast(ops.sum(index), "float32")

        return tf.while_loop(lambda t, s: t < STEPS, body, (0, 0.0))[1]

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=15)
    args = parser.parse_args()
    rng = np.random.RandomState(0)
    for name, rows, k in (("beam5", 320, 5), ("greedy", 64, 1)):
        scores = tf.constant(rng.normal(size=(rows, VOCAB)), "float32")
        expected, got = ops.top_k(scores, k), top_k(scores, k)
        for a, b in zip(expected, got):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        functions = {
            "ops": step_loop(lambda s, r: ops.top_k(s, k), scores),
            "blocked": step_loop(lambda s, r: top_k(s, k), scores),
        }
        per_round = {key: [] for key in functions}
        for round_index in range(args.rounds):
            order = list(functions)
            if round_index % 2:
                order.reverse()
            for key in order:
                seconds = median_seconds(functions[key], args.calls, 3)
                per_round[key].append(seconds / STEPS)
            print(json.dumps({
                "kind": "round",
                "case": name,
                "round": round_index,
                **{f"{key}_ms_per_step": round(v[-1] * 1e3, 3)
                   for key, v in per_round.items()},
            }), flush=True)
        ratios = [o / b for o, b in zip(per_round["ops"], per_round["blocked"])]
        print(json.dumps({
            "kind": "summary",
            "case": name,
            "scores_shape": [rows, VOCAB],
            "k": k,
            "ops_ms_per_step": round(
                statistics.median(per_round["ops"]) * 1e3, 3),
            "blocked_ms_per_step": round(
                statistics.median(per_round["blocked"]) * 1e3, 3),
            "speedup_per_round": [round(r, 2) for r in ratios],
            "speedup": round(statistics.median(ratios), 2),
        }), flush=True)


if __name__ == "__main__":
    main()
