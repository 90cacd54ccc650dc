"""Masked loss and gradient: Keras' cross-entropy vs `token_cross_entropy`.

The padding-masked mean of the per-token cross-entropy and its gradient
with respect to the logits (inside a `tf.function`), on the benchmark
model's logits: batch 64, target length 20 and 50, vocabulary 8000, 10% of
the targets padding. "keras" is `keras.losses.sparse_categorical_crossentropy`
(TensorFlow's fused `SparseSoftmaxCrossEntropyWithLogits` kernel), "ours"
is `keras_bahdanau.models.losses.token_cross_entropy` (what
`MaskedSparseCategoricalCrossentropy` uses). The two alternate within each
round; prints one JSON line per round and length and a summary per length
with the median of the per-round ratios.

    python3 benchmarks/cross_entropy.py [--rounds 5] [--steps 20]
"""

import argparse
import json
import statistics

import numpy as np
from common import keras
from common import median_seconds
from common import tf

from keras_bahdanau.models.losses import token_cross_entropy

VOCAB = 8000
BATCH = 64


def loss_and_gradient(per_token, labels, logits):
    mask = tf.cast(labels != 0, "float32")

    @tf.function
    def run():
        with tf.GradientTape() as tape:
            tape.watch(logits)
            loss = tf.reduce_sum(per_token(labels, logits) * mask) / (
                tf.reduce_sum(mask)
            )
        return loss, tape.gradient(loss, logits)

    return run


def keras_per_token(labels, logits):
    return keras.losses.sparse_categorical_crossentropy(
        labels, logits, from_logits=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--lengths", default="20,50")
    args = parser.parse_args()
    rng = np.random.RandomState(0)
    for length in (int(x) for x in args.lengths.split(",")):
        labels = rng.randint(1, VOCAB, size=(BATCH, length))
        labels[rng.rand(BATCH, length) < 0.1] = 0
        labels = tf.constant(labels, "int32")
        logits = tf.constant(
            rng.normal(size=(BATCH, length, VOCAB)).astype("float32") * 3
        )
        functions = {
            "keras": loss_and_gradient(keras_per_token, labels, logits),
            "ours": loss_and_gradient(token_cross_entropy, labels, logits),
        }
        per_round = {name: [] for name in functions}
        for round_index in range(args.rounds):
            order = list(functions)
            if round_index % 2:
                order.reverse()
            for name in order:
                per_round[name].append(
                    median_seconds(functions[name], args.steps, 3)
                )
            print(json.dumps({
                "kind": "round",
                "length": length,
                "round": round_index,
                **{f"{k}_ms": round(v[-1] * 1000, 2)
                   for k, v in per_round.items()},
            }), flush=True)
        ratios = [k / o for k, o in zip(per_round["keras"], per_round["ours"])]
        print(json.dumps({
            "kind": "summary",
            "length": length,
            "logits_shape": [BATCH, length, VOCAB],
            "keras_ms": round(statistics.median(per_round["keras"]) * 1e3, 2),
            "ours_ms": round(statistics.median(per_round["ours"]) * 1e3, 2),
            "speedup_per_round": [round(r, 2) for r in ratios],
            "speedup": round(statistics.median(ratios), 2),
        }), flush=True)


if __name__ == "__main__":
    main()
