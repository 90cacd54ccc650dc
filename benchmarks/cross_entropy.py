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

import numpy as np
from common import interleaved_rounds
from common import keras
from common import speedup_summary
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
        per_round = interleaved_rounds(
            functions, args.rounds, args.steps, {"length": length}
        )
        print(json.dumps({
            "kind": "summary",
            "length": length,
            "logits_shape": [BATCH, length, VOCAB],
            **speedup_summary(per_round, "keras", "ours"),
        }), flush=True)

if __name__ == "__main__":
    main()
