"""One decoding step's token choice: `ops.top_k` vs the blocked top-k.

Times, inside one `tf.function` `while_loop` of 20 iterations, the top-k
of `(rows, 8000)` scores: beam 5 at batch 64 (320 rows, k=5: each beam's
best continuations) and greedy at batch 64 (64 rows, k=1). "ops" is
`keras.ops.top_k`, "blocked" is `keras_bahdanau.decoding.topk.top_k`
(block maxima first). With `--pipeline`, the whole choice instead: "ops"
is the generic path (the `pad_id`/`start_id` ban over all logits, the
blocked top-k and `logsumexp`), "blocked" is `top_emittable`. Both sides
give identical indices and values (to rounding; checked here too). The
two alternate within each round; prints one JSON line per round and case
and a summary per case with the median of the per-round ratios.

    python3 benchmarks/top_k.py [--rounds 5] [--calls 15] [--pipeline]
"""

import argparse
import json

import numpy as np
from common import interleaved_rounds
from common import speedup_summary
from common import tf
from keras import ops

from keras_bahdanau.decoding.base import emittable
from keras_bahdanau.decoding.base import top_emittable
from keras_bahdanau.decoding.topk import top_k

VOCAB = 8000
STEPS = 20


class Specials:
    """The special ids `emittable` and `top_emittable` read."""

    pad_id, start_id = 0, 1


def generic_choice(scores, k):
    """Ban, blocked top-k and log-normaliser as separate passes."""
    values, ids = top_k(emittable(scores, Specials), k)
    return values - ops.logsumexp(scores, axis=-1)[:, None], ids


def lean_choice(scores, k):
    values, ids, log_norm = top_emittable(scores, k, Specials)
    return values - log_norm[:, None], ids


def step_loop(choose, scores):
    """20 dependent top-k calls in one graph, as in a decoding loop."""

    @tf.function(autograph=False)
    def run():
        def body(t, shift):
            values, index = choose(scores + shift, scores.shape[0])
            used = ops.sum(values) + ops.cast(ops.sum(index), "float32")
            return t + 1, shift + 0.0 * used

        return tf.while_loop(lambda t, s: t < STEPS, body, (0, 0.0))[1]

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=15)
    parser.add_argument("--pipeline", action="store_true")
    args = parser.parse_args()
    if args.pipeline:
        slow, fast = generic_choice, lean_choice
    else:
        slow, fast = (lambda s, k: ops.top_k(s, k)), top_k
    rng = np.random.RandomState(0)
    for name, rows, k in (("beam5", 320, 5), ("greedy", 64, 1)):
        scores = tf.constant(rng.normal(size=(rows, VOCAB)), "float32")
        expected, got = slow(scores, k), fast(scores, k)
        np.testing.assert_array_equal(np.asarray(expected[1]), got[1])
        # Log-probabilities: the two log-normalisers round differently.
        np.testing.assert_allclose(expected[0], got[0], rtol=1e-6)
        functions = {
            "ops": step_loop(lambda s, r: slow(s, k), scores),
            "blocked": step_loop(lambda s, r: fast(s, k), scores),
        }
        per_round = interleaved_rounds(
            functions, args.rounds, args.calls, {"case": name},
            per_call=STEPS, suffix="_ms_per_step", digits=3,
        )
        print(json.dumps({
            "kind": "summary",
            "case": name,
            "pipeline": args.pipeline,
            "scores_shape": [rows, VOCAB],
            "k": k,
            **speedup_summary(per_round, "ops", "blocked",
                              suffix="_ms_per_step", digits=3),
        }), flush=True)

if __name__ == "__main__":
    main()
