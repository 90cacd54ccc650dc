"""The decoder's recurrent state updates (GRU and LSTM), `keras.ops` only.

The input projection `inputs` already holds W [E y_{i-1}; c_i] + b, and
`recurrent` holds the state product U s_{i-1} computed in the fused matmul.
Gate order follows Keras: GRU (z, r, h), LSTM (i, f, c, o).
"""

from keras import ops

# Gate blocks per cell: the width of the kernels is GATES[cell] * units.
GATES = {"gru": 3, "lstm": 4}


def cell_update(layer, inputs, recurrent, state):
    """Returns the new state tuple of `layer`'s cell.

    Args:
        layer: the `AttentiveDecoder` (its `cell`, `units`, `reset_after`,
            `recurrent_kernel` and `recurrent_bias` are read).
        inputs: `(batch, gates * units)`, input part of the pre-activations.
        recurrent: `(batch, gates * units)` (or `2 * units` for the GRU with
            `reset_after=False`), the product of s_{i-1} and the recurrent
            kernel.
        state: the previous state tuple, `(h,)` or `(h, c)`.

    Returns:
        The new state tuple.
    """
    units = layer.units
    h_prev = state[0]
    if layer.cell == "lstm":
        gates = inputs + recurrent
        i = ops.sigmoid(gates[:, :units])
        f = ops.sigmoid(gates[:, units : 2 * units])
        g = ops.tanh(gates[:, 2 * units : 3 * units])
        o = ops.sigmoid(gates[:, 3 * units :])
        c = f * state[1] + i * g
        return (o * ops.tanh(c), c)
    if layer.reset_after:
        recurrent = recurrent + layer.recurrent_bias
        z = ops.sigmoid(inputs[:, :units] + recurrent[:, :units])
        r = ops.sigmoid(
            inputs[:, units : 2 * units] + recurrent[:, units : 2 * units]
        )
        candidate = ops.tanh(
            inputs[:, 2 * units :] + r * recurrent[:, 2 * units :]
        )
    else:
        z = ops.sigmoid(inputs[:, :units] + recurrent[:, :units])
        r = ops.sigmoid(
            inputs[:, units : 2 * units] + recurrent[:, units : 2 * units]
        )
        candidate_kernel = layer.recurrent_kernel[:, 2 * units :]
        candidate = ops.tanh(
            inputs[:, 2 * units :] + ops.matmul(r * h_prev, candidate_kernel)
        )
    return (z * h_prev + (1.0 - z) * candidate,)
