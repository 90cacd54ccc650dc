"""The decoder's recurrent state updates (GRU and LSTM), `keras.ops` only.

The input projection `inputs` already holds W [E y_{i-1}; c_i] + b, and
`recurrent` holds the state product U s_{i-1} computed in the fused matmul.
Gate order follows Keras: GRU (z, r, h), LSTM (i, f, c, o).
"""

from keras import ops

# Gate blocks per cell: the width of the kernels is GATES[cell] * units.
GATES = {"gru": 3, "lstm": 4}


def cell_update(layer, inputs, recurrent, state, kernels):
    """Returns the new state tuple of `layer`'s cell.

    Args:
        layer: the `AttentiveDecoder` (its `cell` and `reset_after` are
            read).
        inputs: `(batch, gates * units)`, input part of the pre-activations.
        recurrent: `(batch, gates * units)` (or `2 * units` for the GRU with
            `reset_after=False`), the product of s_{i-1} and the recurrent
            kernel.
        state: the previous state tuple, `(h,)` or `(h, c)`.
        kernels: the step weights in the compute dtype
            (`AttentiveDecoder` step kernels: `recurrent_bias` for the
            `reset_after` GRU, `candidate` for the paper's GRU).

    Returns:
        The new state tuple.
    """
    h_prev = state[0]
    if layer.cell == "lstm":
        i, f, g, o = ops.split(inputs + recurrent, 4, axis=-1)
        c = ops.sigmoid(f) * state[1] + ops.sigmoid(i) * ops.tanh(g)
        return (ops.sigmoid(o) * ops.tanh(c), c)
    # ops.split rather than slices: one concat in the gradient.
    x_z, x_r, x_h = ops.split(inputs, 3, axis=-1)
    if layer.reset_after:
        r_z, r_r, r_h = ops.split(
            recurrent + kernels["recurrent_bias"], 3, -1
        )
        z = ops.sigmoid(x_z + r_z)
        r = ops.sigmoid(x_r + r_r)
        candidate = ops.tanh(x_h + r * r_h)
    else:
        r_z, r_r = ops.split(recurrent, 2, axis=-1)
        z = ops.sigmoid(x_z + r_z)
        r = ops.sigmoid(x_r + r_r)
        candidate = ops.tanh(
            x_h + ops.matmul(r * h_prev, kernels["candidate"])
        )
    return (z * h_prev + (1.0 - z) * candidate,)
