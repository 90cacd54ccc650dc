"""Adam update time: keras.optimizers.Adam vs keras_bahdanau.optimizers.Adam.

One `optimizer.apply` (inside a `tf.function`) over the benchmark model's
trainable variables (11.6M weights) with fixed dense gradients. The two
optimizers alternate within each round; prints one JSON line per round and
a summary with the median of the per-round ratios.

    python3 benchmarks/optimizer.py [--rounds 5] [--steps 20]
"""

import argparse
import json

from common import build_ours
from common import interleaved_rounds
from common import kb
from common import keras
from common import speedup_summary
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
    per_round = interleaved_rounds(functions, args.rounds, args.steps, {})
    print(json.dumps({
        "kind": "summary",
        "weights": int(sum(v.numpy().size for v in variables)),
        **speedup_summary(per_round, "keras", "ours"),
    }))

if __name__ == "__main__":
    main()
