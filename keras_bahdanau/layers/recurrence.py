"""Recurrent state updates (GRU and LSTM), `keras.ops` only.

The input projection `inputs` already holds W [E y_{i-1}; c_i] + b, and
`recurrent` holds the state product U s_{i-1} computed in the fused matmul.
Gate order follows Keras: GRU (z, r, h), LSTM (i, f, c, o). The GRU gate
functions are shared by the decoder step and by the loops with
hand-written gradients (`teacher_forcing.py`, `bigru.py`).
"""

import keras
from keras import ops

from keras_bahdanau.layers.probability import upcast_dtype

# Gate blocks per cell: the width of the kernels is GATES[cell] * units.
GATES = {"gru": 3, "lstm": 4}


def cell_update(layer, inputs, recurrent, state, kernels):
    """Returns the new state tuple of `layer`'s cell.

    Under a mixed policy the gate math runs in float32 (the state stays in
    the compute dtype): more exact, and faster on CPUs, where TensorFlow's
    bfloat16 `sigmoid` and `tanh` are several times slower than float32
    (`benchmarks/profile_step.py --names Sigmoid`).

    Args:
        layer: the `AttentiveDecoder` (its `cell` and `reset_after` are
            read).
        inputs: `(batch, gates * units)`, input part of the pre-activations.
        recurrent: `(batch, gates * units)` (or `2 * units` for the GRU with
            `reset_after=False`), the product of s_{i-1} and the recurrent
            kernel.
        state: the previous state tuple, `(h,)` or `(h, c)`.
        kernels: the step weights (`AttentiveDecoder` step kernels:
            `recurrent_bias` for the `reset_after` GRU, in the dtype of the
            gate math; `candidate` for the paper's GRU, in the compute
            dtype).

    Returns:
        The new state tuple, in the dtype of `inputs`.
    """
    compute = keras.backend.standardize_dtype(inputs.dtype)
    math = upcast_dtype(compute)

    def up(x):
        return x if math == compute else ops.cast(x, math)

    h_prev = up(state[0])
    inputs, recurrent = up(inputs), up(recurrent)
    if layer.cell == "lstm":
        i, f, g, o = ops.split(inputs + recurrent, 4, axis=-1)
        c = ops.sigmoid(f) * up(state[1]) + ops.sigmoid(i) * ops.tanh(g)
        new = (ops.sigmoid(o) * ops.tanh(c), c)
    elif layer.reset_after:
        z, _, candidate, _ = gru_gates(
            inputs, recurrent + up(kernels["recurrent_bias"])
        )
        new = (z * h_prev + (1.0 - z) * candidate,)
    else:
        # ops.split rather than slices: one concat in the gradient.
        x_z, x_r, x_h = ops.split(inputs, 3, axis=-1)
        r_z, r_r = ops.split(recurrent, 2, axis=-1)
        z = ops.sigmoid(x_z + r_z)
        r = ops.sigmoid(x_r + r_r)
        reset = ops.cast(r * h_prev, compute)
        candidate = ops.tanh(
            x_h + up(ops.matmul(reset, kernels["candidate"]))
        )
        new = (z * h_prev + (1.0 - z) * candidate,)
    if math == compute:
        return new
    return tuple(ops.cast(s, compute) for s in new)


def gru_gates(inputs, recurrent):
    """The gates of Keras' `reset_after` GRU.

    Args:
        inputs: `(..., 3 * units)`, input part of the pre-activations.
        recurrent: `(..., 3 * units)`, U s_{i-1} plus the recurrent bias.

    Returns:
        `(z, r, candidate, r_h)`; the new state is
        `z * h_prev + (1 - z) * candidate`.
    """
    # ops.split rather than slices: one concat in the gradient.
    x_z, x_r, x_h = ops.split(inputs, 3, axis=-1)
    r_z, r_r, r_h = ops.split(recurrent, 3, axis=-1)
    z = ops.sigmoid(x_z + r_z)
    r = ops.sigmoid(x_r + r_r)
    candidate = ops.tanh(x_h + r * r_h)
    return z, r, candidate, r_h


def gru_gates_backward(d_new, h_prev, z, r, candidate, r_h):
    """Back-propagates `gru_gates` and the state update through the gates.

    Args:
        d_new: `(..., units)`, the gradient of the new state.
        h_prev: the previous state.
        z, r, candidate, r_h: the values `gru_gates` returned.

    Returns:
        `(d_inputs, d_recurrent)`, both `(..., 3 * units)`: the gradients of
        the two pre-activation arguments of `gru_gates`. The direct path to
        the previous state, `d_new * z`, is the caller's.
    """
    dz = d_new * (h_prev - candidate)
    dpre_n = d_new * (1.0 - z) * (1.0 - candidate * candidate)
    dpre_z = dz * z * (1.0 - z)
    dpre_r = dpre_n * r_h * r * (1.0 - r)
    d_inputs = ops.concatenate([dpre_z, dpre_r, dpre_n], axis=-1)
    d_recurrent = ops.concatenate([dpre_z, dpre_r, dpre_n * r], axis=-1)
    return d_inputs, d_recurrent


def hand_written_gradient_supported(compute_dtype) -> bool:
    """Whether the loops with hand-written gradients can run here.

    They need `keras.ops.custom_gradient` (TensorFlow, JAX; not PyTorch)
    and a compute dtype they were measured and tested in: float32 or
    float64 on TensorFlow and JAX, bfloat16 (`mixed_bfloat16`) on
    TensorFlow only (encoder and decoder: 1.10x and 1.04x per bf16
    training step; on JAX, XLA's CPU compiler crashed compiling those bf16
    steps in the full JAX test run). `mixed_float16` keeps automatic
    differentiation.
    """
    backend = keras.config.backend()
    if compute_dtype == "bfloat16":
        return backend == "tensorflow"
    return compute_dtype in ("float32", "float64") and (
        backend in ("tensorflow", "jax")
    )
