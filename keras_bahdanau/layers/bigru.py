"""Training loop of the masked bidirectional GRU encoder, custom gradient.

Automatic differentiation of `keras.layers.Bidirectional(GRU)` on a CPU
multiplies each step's input by the input kernel inside the time loop and
accumulates the kernel gradients there: per step and direction, one small
product plus an addition of a full kernel-sized tensor, and a zero-padded
tensor for every bias slice. Here:

- the input products of all steps and both directions are one matmul before
  the loops;
- each direction is one `scan` (the two run concurrently, one per core on a
  2-core CPU) that saves the gate values;
- its backward loop (back-propagation through time written out) carries only
  the state gradient and emits the gate gradients; the kernel and bias
  gradients are single large matmuls and sums after it.

The cell is Keras' GRU with `reset_after=True` (gates z, r, h), reading the
kernels and biases of the two `GRUCell`s of the Keras layer as they are.
Masked steps keep the state, as Keras' masked RNNs do, so the outputs equal
the Keras layer's at every real position; the tests check outputs and
gradients against it and against finite differences. Measured on the
benchmark encoder (batch 64, length 20, 256 units per direction, 2-core
CPU, two runs): forward and backward 1.22-1.29x faster than the Keras layer
(23.9 against 29.1 ms, 25.5 against 32.9 ms); float32 inference keeps
the Keras layer (its forward is 0.2-0.7 ms faster: it saves no gate
values). Under `mixed_bfloat16` on TensorFlow the products run in
bfloat16 and the gate math in float32 (TensorFlow's bfloat16 `sigmoid`
and `tanh` are several times slower on CPUs), with the kernels cast once
per call where the Keras layer casts them at every step: the bf16 training
step of the benchmark model is 1.09-1.10x faster than with the Keras
layer (measured with bfloat16 gate math), and inference, which uses the
loop too in bfloat16, 2x faster for the encoder.
"""

from keras import ops

from keras_bahdanau.layers.probability import upcast_dtype
from keras_bahdanau.layers.recurrence import gru_gates
from keras_bahdanau.layers.recurrence import gru_gates_backward


def bidirectional_gru(embedded, mask, forward_cell, backward_cell):
    """Runs a masked bidirectional GRU; differentiable, custom gradient.

    Args:
        embedded: `(B, T, E)` inputs.
        mask: boolean `(B, T)`, True at real positions.
        forward_cell: the forward `keras.layers.GRUCell` (built,
            `reset_after=True`).
        backward_cell: the backward one.

    Returns:
        `(B, T, 2U)`: `[forward; backward]` states. At a masked position
        each direction repeats its last state (callers zero them).
    """
    dtype = embedded.dtype
    inputs = ops.transpose(embedded, (1, 0, 2))  # time-major
    kernel = ops.concatenate(
        [ops.cast(forward_cell.kernel, dtype),
         ops.cast(backward_cell.kernel, dtype)], axis=1
    )
    input_bias = ops.concatenate(
        [ops.cast(forward_cell.bias[0], dtype),
         ops.cast(backward_cell.bias[0], dtype)], axis=0
    )
    forward_in, backward_in = ops.split(
        ops.matmul(inputs, kernel) + input_bias, 2, axis=-1
    )
    real = ops.expand_dims(ops.cast(ops.transpose(mask), dtype), -1)
    forward_states = _direction(forward_in, real, forward_cell)
    backward_states = ops.flip(
        _direction(ops.flip(backward_in, 0), ops.flip(real, 0),
                   backward_cell),
        0,
    )
    states = ops.concatenate([forward_states, backward_states], axis=-1)
    return ops.transpose(states, (1, 0, 2))


def _direction(steps, real, cell):
    return _sequence(
        steps,
        real,
        ops.cast(cell.recurrent_kernel, steps.dtype),
        ops.cast(cell.bias[1], upcast_dtype(steps.dtype)),
    )


def _forward(steps, real, recurrent_kernel, recurrent_bias):
    """`steps` (T, B, 3U), `real` (T, B, 1) -> states and gates (T, B, U).

    The states are in the dtype of `steps`, the gates in float32 when that
    is a 16-bit float (the gate math runs in float32, see module doc).
    """
    dtype = steps.dtype
    math = recurrent_bias.dtype

    def body(carry, t):
        h = carry[0]
        recurrent = ops.cast(ops.matmul(h, recurrent_kernel), math)
        z, r, candidate, r_h = gru_gates(
            ops.cast(steps[t], math), recurrent + recurrent_bias
        )
        gru = ops.cast(z * ops.cast(h, math) + (1.0 - z) * candidate, dtype)
        new_h = ops.where(real[t] > 0.5, gru, h)
        out = (new_h, z, r, candidate, r_h)
        return out, out

    # Keras' TensorFlow `scan` needs the per-step outputs to have the
    # carry's structure (so the gates the gradient needs are carried), and
    # fails on several `xs` of unknown length (so it scans step indices).
    shape = (ops.shape(steps)[1], recurrent_kernel.shape[0])
    init = (ops.zeros(shape, dtype),) + (ops.zeros(shape, math),) * 4
    _, outputs = ops.scan(body, init, ops.arange(ops.shape(steps)[0]))
    return outputs


def _backward(d_states, saved, real, recurrent_kernel):
    h_prev, z, r, candidate, r_h = saved
    dtype, math = h_prev.dtype, z.dtype
    kernel_t = ops.transpose(recurrent_kernel)
    per_step = (d_states, h_prev, z, r, candidate, r_h, real)

    def body(carry, t):
        dh_next = carry[0]
        dh_out, h, z_t, r_t, n_t, rh_t, m_t = (x[t] for x in per_step)
        m_t = ops.cast(m_t, math)
        dh = ops.cast(dh_out, math) + dh_next
        d_gru = dh * m_t  # a masked step passes the state through
        d_inputs, d_recurrent = gru_gates_backward(
            d_gru, ops.cast(h, math), z_t, r_t, n_t, rh_t
        )
        d_inputs = ops.cast(d_inputs, dtype)
        d_recurrent = ops.cast(d_recurrent, dtype)
        dh_prev = (
            dh * (1.0 - m_t)
            + d_gru * z_t
            + ops.cast(ops.matmul(d_recurrent, kernel_t), math)
        )
        out = (dh_prev, d_inputs, d_recurrent)
        return out, out

    shape = ops.shape(d_states)
    gates = ops.zeros((shape[1], 3 * shape[2]), dtype)
    init = (ops.zeros((shape[1], shape[2]), math), gates, gates)
    _, (_, d_inputs, d_recurrent) = ops.scan(
        body, init, ops.arange(shape[0]), reverse=True
    )

    def rows(x):
        return ops.reshape(x, (-1, x.shape[-1]))

    d_kernel = ops.matmul(ops.transpose(rows(h_prev)), rows(d_recurrent))
    d_bias = ops.sum(ops.cast(rows(d_recurrent), math), axis=0)
    return d_inputs, d_kernel, d_bias


@ops.custom_gradient
def _sequence(steps, real, recurrent_kernel, recurrent_bias):
    states, z, r, candidate, r_h = _forward(
        steps, real, recurrent_kernel, recurrent_bias
    )

    def grad(*args, upstream=None):
        if upstream is None:
            upstream = args[0]
        h_prev = ops.concatenate(
            [ops.zeros_like(states[:1]), states[:-1]], axis=0
        )
        d_inputs, d_kernel, d_bias = _backward(
            upstream, (h_prev, z, r, candidate, r_h), real, recurrent_kernel
        )
        return d_inputs, ops.zeros_like(real), d_kernel, d_bias

    return states, grad
