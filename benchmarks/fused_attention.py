"""One attention step: separate TensorFlow ops vs one fused XLA kernel.

Times the decoder's per-step attention at the benchmark sizes (batch 64,
512 attention units, 512-wide memory, source length 20 and 50) inside a
20-step `tf.while_loop` in a `tf.function`, as the decoder runs it:

- `forward`: `_softmax_attention_step` as separate ops ("separate") vs
  `softmax_attention_step`, its `compilation.fuse` form ("fused"), which
  the package uses in decoding and in the training loop's forward;
- `--backward`: `teacher_forcing.attention_backward`, the attention part
  of the hand-written backward step (context and softmax gradient, the
  tanh recomputed, the query, keys and `v_a` gradients), as separate ops
  vs fused; the package keeps it as separate ops.

Both sides alternate within each round; prints one JSON line per round and
a summary with the median of the per-round ratios separate / fused.

    python3 benchmarks/fused_attention.py [--rounds 5] [--steps 20]
        [--lengths 20,50] [--backward]
"""

import argparse
import json

import numpy as np
from common import interleaved_rounds
from common import speedup_summary
from common import tf

from keras_bahdanau.compilation import fuse
from keras_bahdanau.layers.fused_step import _softmax_attention_step
from keras_bahdanau.layers.fused_step import softmax_attention_step
from keras_bahdanau.layers.teacher_forcing import attention_backward

BATCH, UNITS, MEMORY, STEPS_PER_CALL = 64, 512, 512, 20


def forward_loop(step, query, keys, memory, mask, vector):
    @tf.function
    def run():
        def body(i, q, total):
            context, _ = step(q, keys, memory, mask, vector)
            return i + 1, q + 1e-3 * context, total + context

        return tf.while_loop(
            lambda i, *_: i < STEPS_PER_CALL, body,
            (0, query, tf.zeros_like(query)),
        )[2]

    return run


def backward_loop(step, query, keys, memory, weights, vector):
    dc = tf.ones((BATCH, MEMORY)) * 1e-2
    da_out = tf.zeros_like(weights)
    vector_row = tf.transpose(vector)

    @tf.function
    def run():
        def body(i, q, d_weighted, d_vector, d_scores):
            d_query, d_weighted, d_vector, d_scores = step(
                dc, da_out, weights, q, keys, memory, vector_row,
                d_weighted, d_vector, d_scores,
            )
            return i + 1, q + 1e-3 * d_query, d_weighted, d_vector, d_scores

        return tf.while_loop(
            lambda i, *_: i < STEPS_PER_CALL, body,
            (0, query, tf.zeros_like(keys), tf.zeros_like(vector),
             tf.zeros_like(weights)),
        )[1:]

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--lengths", default="20,50")
    parser.add_argument("--backward", action="store_true")
    args = parser.parse_args()
    rng = np.random.RandomState(0)
    for length in (int(x) for x in args.lengths.split(",")):
        def tensor(*shape, scale=1.0):
            return tf.constant(
                (rng.normal(size=shape) * scale).astype("float32")
            )

        query = tensor(BATCH, UNITS)
        keys = tensor(BATCH, length, UNITS)
        memory = tensor(BATCH, length, MEMORY)
        vector = tensor(UNITS, 1, scale=0.05)
        mask = tf.constant(rng.rand(BATCH, length) < 0.9)
        if args.backward:
            weights = tf.nn.softmax(tensor(BATCH, length))
            functions = {
                "separate": backward_loop(
                    attention_backward, query, keys, memory, weights, vector
                ),
                "fused": backward_loop(
                    fuse(attention_backward), query, keys, memory, weights,
                    vector,
                ),
            }
        else:
            functions = {
                "separate": forward_loop(
                    _softmax_attention_step, query, keys, memory, mask,
                    vector,
                ),
                "fused": forward_loop(
                    softmax_attention_step, query, keys, memory, mask, vector
                ),
            }
        a, b = (
            np.concatenate([np.ravel(x) for x in tf.nest.flatten(
                functions[name]())])
            for name in ("separate", "fused")
        )
        fields = {
            "pass": "backward" if args.backward else "forward",
            "source_len": length,
        }
        per_round = interleaved_rounds(
            functions, args.rounds, args.steps, fields,
            per_call=STEPS_PER_CALL, digits=3,
        )
        print(json.dumps({
            "kind": "summary",
            **fields,
            "max_abs_difference": float(np.max(np.abs(a - b))),
            **speedup_summary(per_round, "separate", "fused", digits=3),
        }), flush=True)


if __name__ == "__main__":
    main()
