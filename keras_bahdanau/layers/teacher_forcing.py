"""Teacher-forced GRU + Bahdanau attention loop with a hand-written gradient.

Automatic differentiation of the time loop accumulates the gradient of
every loop-invariant weight (the fused `[W_a | U]` kernel, the context
kernel) inside the backward loop: one small `(batch x units)` product and
one full-size addition per step and weight, and it stores every
intermediate of every step. Here the backward loop (back-propagation
through time written out) carries only what flows backwards in time (the
state gradient) plus the keys and `v_a` gradients, emits the per-step
pre-activation gradients, and the weight gradients are computed after the
loop as single large matmuls over all `time * batch` rows. The attention
`tanh` (`batch x source x units` per step) is recomputed in the backward
loop instead of being stored.

The forward is the same computation as `AttentiveDecoder._core` for the
`reset_after` GRU with softmax attention, the attention being
`fused_step.softmax_attention_step` (one XLA kernel on TensorFlow). The
tests check it against automatic differentiation and finite differences,
with padding and all-padding rows. Everything is time-major. The GRU's
products run in the dtype of `h0` and the kernels, its gate math in the
dtype of `recurrent_bias`, the attention part in the dtype of `keys` and
`memory`: under `mixed_bfloat16` that is bfloat16, float32 and float32,
as in the decoder's step, with casts at the query, the context, the gates
and their gradients (none in float32). Measured on the benchmark model
(2-core CPU, TensorFlow): training steps 1.17x faster at length 20
and 1.19x at 50 than automatic differentiation of the same loop
(`benchmarks/train_step.py`, 2026-11-26).
"""

from keras import ops

from keras_bahdanau.layers.fused_step import softmax_attention_step
from keras_bahdanau.layers.recurrence import gru_gates
from keras_bahdanau.layers.recurrence import gru_gates_backward


def gru_attention_sequence(
    inputs, h0, keys, memory, mask, state_kernel, context_kernel,
    recurrent_bias, score_vector,
):
    """Runs the decoder over all steps; differentiable, custom gradient.

    Args:
        inputs: `(T, B, 3U)`, the embedding part of the GRU input plus bias.
        h0: `(B, U)` initial state.
        keys: `(B, S, A)` attention keys `U_a h_j` (the attention dtype).
        memory: `(B, S, M)` annotations, zero at padding (same dtype).
        mask: `(B, S)` float, 1 at real positions (same dtype).
        state_kernel: `(U, A + 3U)`, `[W_a | U_r]`.
        context_kernel: `(M, 3U)`.
        recurrent_bias: `(3U,)`, in the dtype of the gate math (float32
            under mixed policies).
        score_vector: `(A, 1)`, `v_a` (the attention dtype).

    Returns:
        `(states, contexts, weights)`: `(T, B, U)`, `(T, B, M)`, `(T, B, S)`.
    """
    return _sequence(
        inputs, h0, keys, memory, mask, state_kernel, context_kernel,
        recurrent_bias, score_vector,
    )


def _forward(inputs, h0, keys, memory, mask, state_kernel, context_kernel,
             recurrent_bias, score_vector):
    attention_units = keys.shape[-1]
    real = ops.greater(mask, 0.5)
    units = ops.shape(h0)[-1]
    cdt, adt = h0.dtype, keys.dtype
    mdt = recurrent_bias.dtype

    def body(carry, x):
        h = carry[0]
        projected = ops.matmul(h, state_kernel)
        query, recurrent = ops.split(projected, [attention_units], axis=-1)
        context, weights = softmax_attention_step(
            ops.cast(query, adt), keys, memory, real, score_vector
        )
        context = ops.cast(context, cdt)
        z, r, candidate, r_h = gru_gates(
            ops.cast(x, mdt)
            + ops.cast(ops.matmul(context, context_kernel), mdt),
            ops.cast(recurrent, mdt) + recurrent_bias,
        )
        new_h = ops.cast(z * ops.cast(h, mdt) + (1.0 - z) * candidate, cdt)
        out = (new_h, context, weights, z, r, candidate, r_h, query)
        return out, out

    # Keras' TensorFlow `scan` needs the per-step outputs to have the
    # carry's structure, so everything saved for the gradient is carried.
    # Not saved: s_{t-1} (the states shifted by one step) and
    # tanh(W_a s + keys), (batch, source, units) per step: stacking it costs
    # more than recomputing it in the backward loop.
    batch = ops.shape(h0)[0]
    zeros = ops.zeros((batch, units), mdt)
    init = (
        h0,
        ops.zeros((batch, memory.shape[-1]), cdt),
        ops.zeros_like(mask),
        zeros,
        zeros,
        zeros,
        zeros,
        ops.zeros((batch, attention_units), cdt),
    )
    _, outputs = ops.scan(body, init, inputs)
    return outputs[:3], outputs[3:]


def attention_backward(dc, da_out, weights, query, keys, memory, vector_row,
                       d_weighted, d_vector, d_scores):
    """The attention part of one step of the hand-written backward loop.

    Everything is in the attention dtype. The tanh layer's gradient
    `de_j * v_a * (1 - tanh_j^2)` is never formed at `(batch, source,
    units)`: its sum over j (the query gradient) is
    `v_a * (sum_j de_j - de^T tanh^2)`, one batched product, and its sum
    over steps (the keys gradient) is `v_a * (sum_t de - sum_t de * tanh^2)`,
    which the loop accumulates in `d_weighted` and `d_scores` and `_backward`
    finishes after the loop. Two fewer full-size passes per step than the
    direct form: 1.02x (L50) and 1.03x (L20) per training step.

    Args:
        dc: `(B, M)` gradient of the step's context.
        da_out: `(B, S)` gradient of the step's attention weights from
            outside the loop.
        weights: `(B, S)` the step's attention weights.
        query: `(B, A)` the step's query `W_a s_{t-1}`.
        keys: `(B, S, A)`.
        memory: `(B, S, M)`.
        vector_row: `(1, A)`, `v_a` as a row.
        d_weighted: `(B, S, A)` running sum of `de * tanh^2` over steps.
        d_vector: `(A, 1)` running `v_a` gradient.
        d_scores: `(B, S)` running sum of the score gradients `de`.

    Returns:
        `(d_query, d_weighted, d_vector, d_scores)`, the last three updated.
    """
    da = da_out + ops.matmul(memory, ops.expand_dims(dc, -1))[..., 0]
    de = weights * (da - ops.sum(weights * da, axis=-1, keepdims=True))
    squashed = ops.tanh(ops.expand_dims(query, 1) + keys)
    squared = ops.square(squashed)
    d_query = vector_row * (
        ops.sum(de, axis=-1, keepdims=True)
        - ops.matmul(ops.expand_dims(de, 1), squared)[:, 0]
    )
    d_vector = d_vector + ops.matmul(
        ops.transpose(ops.reshape(squashed, (-1, keys.shape[-1]))),
        ops.reshape(de, (-1, 1)),
    )
    return (d_query, d_weighted + ops.expand_dims(de, -1) * squared,
            d_vector, d_scores + de)


def _backward(upstream, saved, contexts, weights, keys, memory,
              state_kernel, context_kernel, score_vector):
    d_states, d_contexts, d_weights = upstream
    h_prev, z, r, candidate, r_h, queries = saved
    state_t = ops.transpose(state_kernel)
    context_t = ops.transpose(context_kernel)
    vector_row = ops.reshape(score_vector, (1, -1))
    attention_units = keys.shape[-1]
    cdt, adt, mdt = h_prev.dtype, keys.dtype, z.dtype

    # Per step, backwards: GRU gates, then the context (dc), the attention
    # (`attention_backward`), and the fused product of s_{t-1}
    # (d_projected -> dh_prev).
    per_step = (d_states, d_contexts, d_weights, h_prev, z, r, candidate,
                r_h, queries, weights)

    def body(carry, t):
        dh_next, d_weighted, d_vector, d_scores = carry[:4]
        (dh_out, dc_out, da_out, h, z_t, r_t, n_t, rh_t, q_t, a_t) = (
            x[t] for x in per_step
        )
        dh = ops.cast(dh_out, mdt) + dh_next
        d_gates, d_rec = gru_gates_backward(
            dh, ops.cast(h, mdt), z_t, r_t, n_t, rh_t
        )
        d_gates, d_rec = ops.cast(d_gates, cdt), ops.cast(d_rec, cdt)
        dc = dc_out + ops.matmul(d_gates, context_t)
        d_query, d_weighted, d_vector, d_scores = attention_backward(
            ops.cast(dc, adt), da_out, a_t, ops.cast(q_t, adt), keys, memory,
            vector_row, d_weighted, d_vector, d_scores,
        )
        d_projected = ops.concatenate(
            [ops.cast(d_query, cdt), d_rec], axis=-1
        )
        dh_prev = dh * z_t + ops.cast(ops.matmul(d_projected, state_t), mdt)
        out = (dh_prev, d_weighted, d_vector, d_scores, d_gates, d_projected,
               dc)
        return out, out

    batch = ops.shape(keys)[0]
    units = ops.shape(h_prev)[-1]
    init = (
        ops.zeros((batch, units), mdt),
        ops.zeros_like(keys),
        ops.zeros_like(score_vector),
        ops.zeros_like(weights[0]),
        ops.zeros((batch, 3 * units), cdt),
        ops.zeros((batch, attention_units + 3 * units), cdt),
        ops.zeros_like(d_contexts[0]),
    )
    # Scanning over step indices (one `xs`): Keras' TensorFlow `scan` fails
    # on several `xs` of unknown length. Only the final carry of the keys
    # and v_a gradient sums is used: their per-step stacks (Keras' scan
    # returns them) are never materialised.
    steps = ops.arange(ops.shape(d_states)[0])
    final, stacked = ops.scan(body, init, steps, reverse=True)
    dh0, d_weighted, d_vector, d_scores = final[:4]
    d_gates, d_projected, d_context = stacked[4:]
    d_keys = ops.reshape(vector_row, (1, 1, -1)) * (
        ops.expand_dims(d_scores, -1) - d_weighted
    )

    def rows(x):
        return ops.reshape(x, (-1, x.shape[-1]))

    d_state_kernel = ops.matmul(ops.transpose(rows(h_prev)), rows(d_projected))
    d_context_kernel = ops.matmul(
        ops.transpose(rows(contexts)), rows(d_gates)
    )
    d_recurrent_bias = ops.sum(
        ops.cast(rows(d_projected)[:, attention_units:], mdt), axis=0
    )
    # d memory[b] = sum_t weights[t, b]^T dc[t, b]: one batched product.
    d_memory = ops.matmul(
        ops.transpose(weights, (1, 2, 0)),
        ops.transpose(ops.cast(d_context, adt), (1, 0, 2)),
    )
    return (d_gates, ops.cast(dh0, cdt), d_keys, d_memory, d_state_kernel,
            d_context_kernel, d_recurrent_bias, d_vector)


@ops.custom_gradient
def _sequence(inputs, h0, keys, memory, mask, state_kernel, context_kernel,
              recurrent_bias, score_vector):
    (states, contexts, weights), gates = _forward(
        inputs, h0, keys, memory, mask, state_kernel, context_kernel,
        recurrent_bias, score_vector,
    )

    def grad(*args, upstream=None):
        if upstream is None:
            upstream = args[0] if len(args) == 1 else args
        upstream = tuple(
            ops.zeros_like(ref) if u is None else u
            for u, ref in zip(upstream, (states, contexts, weights))
        )
        h_prev = ops.concatenate([ops.expand_dims(h0, 0), states[:-1]], 0)
        grads = _backward(
            upstream, (h_prev,) + gates, contexts, weights, keys, memory,
            state_kernel, context_kernel, score_vector,
        )
        d_inputs, dh0, d_keys, d_memory, d_sk, d_ck, d_rb, d_v = grads
        return (d_inputs, dh0, d_keys, d_memory, ops.zeros_like(mask), d_sk,
                d_ck, d_rb, d_v)

    return (states, contexts, weights), grad
