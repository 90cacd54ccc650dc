"""One step of masked softmax attention, compiled as one fused kernel.

The step of the paper's attention after the `W_a` product,

    e_j = v_a^T tanh(W_a s + U_a h_j [+ b_a]),  alpha = softmax(e) masked,
    c = sum_j alpha_j h_j,

is a chain of element-wise ops, two reductions and two small products over
`(batch, source_len, units)`. As separate TensorFlow ops each one is a
pass over memory; `compilation.fuse` makes the chain one XLA cluster on
TensorFlow (JAX compiles the caller whole anyway). Measured with
`benchmarks/fused_attention.py` (2-core CPU, batch 64, 512 units, one
step inside a 20-step loop): 0.36 -> 0.21 ms (1.7x) at 20 source
positions, 0.75 -> 0.39 ms (1.9x) at 50.

Only the forward is fused. The loop with the hand-written gradient
(`teacher_forcing.py`) writes its backward with separate ops: the same
backward as one XLA cluster measured 2.4x slower (`--backward`).
Automatic differentiation through the fused step works (and is tested);
the decoder uses it only where no tape differentiates the step:
decoding, evaluation, and the forward of the loop with the hand-written
gradient.
"""

from keras import ops

from keras_bahdanau.compilation import fuse
from keras_bahdanau.layers.probability import LARGE_NEGATIVE
from keras_bahdanau.layers.probability import softmax


def _softmax_attention_step(query, keys, values, mask, score_vector):
    """Masked softmax attention for one projected query.

    Args:
        query: `(batch, units)`, `W_a s` (plus `b_a` when normalised).
        keys: `(batch, source_len, units)`, `U_a h_j`.
        values: `(batch, source_len, values_dim)`, zero at padding.
        mask: boolean `(batch, source_len)`, True at real positions.
        score_vector: `(units, 1)`, `v_a`.

    Returns:
        `(context, weights)`: `(batch, values_dim)` and
        `(batch, source_len)`; zero weights and context for a row without
        real positions. Everything is in the dtype of the arguments.
    """
    hidden = ops.tanh(ops.expand_dims(query, 1) + keys)
    scores = ops.matmul(hidden, score_vector)[..., 0]
    scores = ops.where(mask, scores, LARGE_NEGATIVE)
    weights = ops.where(mask, softmax(scores), 0.0)
    context = ops.matmul(ops.expand_dims(weights, 1), values)[:, 0]
    return context, weights


softmax_attention_step = fuse(_softmax_attention_step)
