"""Adam update time: keras.optimizers.Adam vs keras_bahdanau.optimizers.Adam.

One `optimizer.apply` (inside a `tf.function`) over the benchmark model's
trainable variables (11.6M weights) with fixed dense gradients. The two
optimizers alternate within each round; prints one JSON line per round and
a summary with the median of the per-round ratios.

    python3 benchmarks/optimizer.py [--rounds 5] [--steps 20]
"""

import argparse
import json
import statistics

from common import build_ours
from common import kb
from common import keras
from common import median_seconds
from common import tf


def apply_function(optimizer, variables, gradients):
    optimizer.build(variables)

    @tf.function
    def apply():
        optimizer.apply(gradients, variables)
        return optimizer.iterations

    return apply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    variables = build_ours(20, 64).trainable_variables
    gradients = [
        tf.random.normal(v.shape, stddev=1e-3, seed=i)
        for i, v in enumerate(variables)
    ]
    functions = {
        "keras": apply_function(
            keras.optimizers.Adam(1e-3), variables, gradients
        ),
        "ours": apply_function(
            kb.optimizers.Adam(1e-3), variables, gradients
        ),
    }
    per_round = {name: [] for name in functions}
    for round_index in range(args.rounds):
        order = list(functions)
        if round_index % 2:
            order.reverse()
        for name in order:
            seconds = median_seconds(functions[name], args.steps, 3)
            per_round[name].append(seconds)
        record = {
            "kind": "round",
            "round": round_index,
            **{f"{k}_ms": round(v[-1] * 1000, 2) for k, v in
               per_round.items()},
        }
        print(json.dumps(record), flush=True)
    ratios = [k / o for k, o in zip(per_round["keras"], per_round["ours"])]
    print(json.dumps({
        "kind": "summary",
        "weights": int(sum(v.numpy().size for v in variables)),
        "keras_ms": round(statistics.median(per_round["keras"]) * 1000, 2),
        "ours_ms": round(statistics.median(per_round["ours"]) * 1000, 2),
        "speedup_per_round": [round(r, 2) for r in ratios],
        "speedup": round(statistics.median(ratios), 2),
    }))


if __name__ == "__main__":
    main()
