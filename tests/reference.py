"""NumPy float64 versions of the equations of Bahdanau et al. (2015).

Written from the paper (section 3.1, appendix A) and the Keras cell
conventions, not from the package code. The weights are read from the
layers under test, the arithmetic is done here in float64.
"""

import keras
import numpy as np


def as_numpy(x):
    """A float64 (or int) NumPy copy of a tensor or variable."""
    x = keras.ops.convert_to_numpy(x)
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float64)
    return x


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# ------------------------------------------------------------- normalisers
def masked_softmax(scores, mask=None):
    """Softmax over the last axis; masked positions (False) get 0.

    A row without any True position gives all zeros.
    """
    scores = np.asarray(scores, np.float64)
    if mask is None:
        mask = np.ones(scores.shape, bool)
    mask = np.broadcast_to(np.asarray(mask, bool), scores.shape)
    filled = np.where(mask, scores, -np.inf)
    top = np.max(filled, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    exp = np.where(mask, np.exp(np.where(mask, scores, 0.0) - top), 0.0)
    total = np.sum(exp, axis=-1, keepdims=True)
    return np.where(total > 0, exp / np.where(total > 0, total, 1.0), 0.0)


def _sparsemax_row(z):
    """Euclidean projection of a 1-D vector onto the simplex."""
    z_sorted = np.sort(z)[::-1]
    cumsum = np.cumsum(z_sorted)
    k = np.arange(1, len(z) + 1)
    support = 1.0 + k * z_sorted > cumsum
    k_z = k[support][-1]
    tau = (cumsum[k_z - 1] - 1.0) / k_z
    return np.maximum(z - tau, 0.0)


def masked_sparsemax(scores, mask=None):
    """Sparsemax over the real positions of the last axis; 0 elsewhere."""
    scores = np.asarray(scores, np.float64)
    if mask is None:
        mask = np.ones(scores.shape, bool)
    mask = np.broadcast_to(np.asarray(mask, bool), scores.shape)
    out = np.zeros_like(scores)
    flat_scores = scores.reshape(-1, scores.shape[-1])
    flat_mask = mask.reshape(-1, scores.shape[-1])
    flat_out = out.reshape(-1, scores.shape[-1])
    for row in range(flat_scores.shape[0]):
        keep = flat_mask[row]
        if keep.any():
            flat_out[row, keep] = _sparsemax_row(flat_scores[row, keep])
    return flat_out.reshape(scores.shape)


NORMALISERS = {"softmax": masked_softmax, "sparsemax": masked_sparsemax}


# --------------------------------------------------------------- attention
def attention_weights_of(layer):
    """`(W_a, U_a, v, b)` of a built `BahdanauAttention`, float64.

    With `normalize=True`, `v = g v_a / ||v_a||` and `b = b_a`; otherwise
    `v = v_a` and `b = 0`.
    """
    W_a = as_numpy(layer.W_a)
    U_a = as_numpy(layer.U_a)
    v_a = as_numpy(layer.v_a)
    b_a = np.zeros_like(v_a)
    if layer.normalize:
        g = as_numpy(layer.g)
        v_a = g * v_a / np.linalg.norm(v_a)
        b_a = as_numpy(layer.b_a)
    return W_a, U_a, v_a, b_a


def additive_scores(query, values, W_a, U_a, v_a, b_a=None):
    """e_j = v_a . tanh(W_a q + U_a h_j + b_a), for 2-D or 3-D queries.

    Args:
        query: `(B, Dq)` or `(B, Tq, Dq)`.
        values: `(B, Tv, Dv)`.

    Returns:
        `(B, Tv)` or `(B, Tq, Tv)` scores.
    """
    query = np.asarray(query, np.float64)
    values = np.asarray(values, np.float64)
    if b_a is None:
        b_a = np.zeros(W_a.shape[1])
    single = query.ndim == 2
    if single:
        query = query[:, None, :]
    q = np.einsum("bqd,du->bqu", query, W_a)
    k = np.einsum("bvd,du->bvu", values, U_a)
    hidden = np.tanh(q[:, :, None, :] + k[:, None, :, :] + b_a)
    scores = np.einsum("bqvu,u->bqv", hidden, v_a)
    return scores[:, 0] if single else scores


def attention(
    query, values, W_a, U_a, v_a, b_a=None, mask=None, probability="softmax"
):
    """Context and weights of additive attention (eqs. 5 and 6).

    Returns:
        `(context, weights)`: `(B, Dv)`, `(B, Tv)` for a 2-D query,
        `(B, Tq, Dv)`, `(B, Tq, Tv)` for a 3-D one.
    """
    values = np.asarray(values, np.float64)
    scores = additive_scores(query, values, W_a, U_a, v_a, b_a)
    if mask is not None:
        mask = np.asarray(mask, bool)
        if scores.ndim == 3:
            mask = mask[:, None, :]
    weights = NORMALISERS[probability](scores, mask)
    if weights.ndim == 2:
        context = np.einsum("bv,bvd->bd", weights, values)
    else:
        context = np.einsum("bqv,bvd->bqd", weights, values)
    return context, weights


def layer_attention(layer, query, values, mask=None):
    """`attention(...)` with the weights and settings of `layer`."""
    W_a, U_a, v_a, b_a = attention_weights_of(layer)
    return attention(
        query,
        values,
        W_a,
        U_a,
        v_a,
        b_a,
        mask=mask,
        probability=layer.probability_fn,
    )


# ------------------------------------------------------------------- cells
def gru_step(x_proj, h, recurrent_kernel, recurrent_bias=None,
             reset_after=True):
    """One GRU update in Keras' gate order (z, r, h).

    Args:
        x_proj: `(B, 3U)`, the input pre-activations W x + b.
        h: `(B, U)`, the previous state.
        recurrent_kernel: `(U, 3U)`.
        recurrent_bias: `(3U,)` for `reset_after=True` (Keras' default
            variant: tanh(W x + r * (U s + b_r))); ignored otherwise.
        reset_after: False is the paper's s~ = tanh(W x + U (r * s) + b).

    Returns:
        The new state `(B, U)`.
    """
    units = h.shape[-1]
    U_z = recurrent_kernel[:, :units]
    U_r = recurrent_kernel[:, units : 2 * units]
    U_h = recurrent_kernel[:, 2 * units :]
    x_z = x_proj[:, :units]
    x_r = x_proj[:, units : 2 * units]
    x_h = x_proj[:, 2 * units :]
    if reset_after:
        if recurrent_bias is None:
            recurrent_bias = np.zeros(3 * units)
        b_z = recurrent_bias[:units]
        b_r = recurrent_bias[units : 2 * units]
        b_h = recurrent_bias[2 * units :]
        z = sigmoid(x_z + h @ U_z + b_z)
        r = sigmoid(x_r + h @ U_r + b_r)
        candidate = np.tanh(x_h + r * (h @ U_h + b_h))
    else:
        z = sigmoid(x_z + h @ U_z)
        r = sigmoid(x_r + h @ U_r)
        candidate = np.tanh(x_h + (r * h) @ U_h)
    return z * h + (1.0 - z) * candidate


def lstm_step(x_proj, h, c, recurrent_kernel):
    """One LSTM update in Keras' gate order (i, f, c, o).

    Returns:
        `(h, c)`, each `(B, U)`.
    """
    units = h.shape[-1]
    gates = x_proj + h @ recurrent_kernel
    i = sigmoid(gates[:, :units])
    f = sigmoid(gates[:, units : 2 * units])
    g = np.tanh(gates[:, 2 * units : 3 * units])
    o = sigmoid(gates[:, 3 * units :])
    c = f * c + i * g
    return o * np.tanh(c), c


def keras_gru_sequence(x, mask, cell, go_backwards=False):
    """A Keras `GRU` layer (reset_after=True) over the real steps only.

    Args:
        x: `(B, T, D)` inputs.
        mask: `(B, T)` booleans; masked steps keep the state.
        cell: the Keras `GRUCell` whose `kernel`, `recurrent_kernel` and
            `bias` (shape `(2, 3U)`) are read.
        go_backwards: read from the last step to the first.

    Returns:
        `(outputs, final_state)`: outputs `(B, T, U)` aligned with the
        input positions (the state after reading that position), 0 at
        masked positions; final state `(B, U)`.
    """
    kernel = as_numpy(cell.kernel)
    recurrent = as_numpy(cell.recurrent_kernel)
    bias = as_numpy(cell.bias)
    units = recurrent.shape[0]
    batch, steps = x.shape[:2]
    h = np.zeros((batch, units))
    outputs = np.zeros((batch, steps, units))
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    for t in order:
        x_proj = x[:, t] @ kernel + bias[0]
        new_h = gru_step(x_proj, h, recurrent, bias[1], reset_after=True)
        keep = mask[:, t][:, None]
        h = np.where(keep, new_h, h)
        outputs[:, t] = np.where(keep, new_h, 0.0)
    return outputs, h


# ----------------------------------------------------------------- encoder
def encoder(layer, token_ids):
    """Memory of a GRU `BidirectionalEncoder`: [h_forward; h_backward].

    Returns:
        `(memory, mask)`: `(B, S, 2U)` zero at padding, `(B, S)` booleans.
    """
    token_ids = np.asarray(token_ids)
    mask = token_ids != layer.pad_id
    embedded = as_numpy(layer.embedding.embeddings)[token_ids]
    forward, _ = keras_gru_sequence(
        embedded, mask, layer.rnn.forward_layer.cell
    )
    backward, _ = keras_gru_sequence(
        embedded, mask, layer.rnn.backward_layer.cell, go_backwards=True
    )
    memory = np.concatenate([forward, backward], axis=-1)
    return np.where(mask[:, :, None], memory, 0.0), mask


# ----------------------------------------------------------------- decoder
def dense(layer, x):
    """A Keras `Dense` layer's affine map (activation not applied)."""
    return x @ as_numpy(layer.kernel) + as_numpy(layer.bias)


def bridge(decoder, memory, mask=None):
    """s_0: tanh(W_s h_1_backward + b) with h_1_backward the backward half
    of the first real position (`"backward"`), tanh of a masked mean
    (`"mean"`), zeros.
    """
    memory = np.asarray(memory, np.float64)
    batch, source_len, dim = memory.shape
    if mask is None:
        mask = np.ones((batch, source_len), bool)
    memory = np.where(mask[:, :, None], memory, 0.0)
    if decoder.bridge == "zeros":
        return np.zeros((batch, decoder.units))
    if decoder.bridge == "backward":
        # h_1: the first real position (the backward RNN's state after the
        # whole sentence, wherever the padding is); zeros without one.
        h1_backward = np.zeros_like(memory[:, 0, dim // 2 :])
        for b in range(memory.shape[0]):
            real = np.flatnonzero(mask[b]) if mask is not None else [0]
            if len(real):
                h1_backward[b] = memory[b, real[0], dim // 2 :]
        return np.tanh(dense(decoder.bridge_layer, h1_backward))
    count = np.maximum(mask.sum(axis=1, keepdims=True), 1.0)
    summary = memory.sum(axis=1) / count
    return np.tanh(dense(decoder.bridge_layer, summary))


def decoder_weights(decoder):
    """The decoder's own variables, float64, in a dict."""
    weights = {
        "E": as_numpy(decoder.embedding.embeddings),
        "W_in": as_numpy(decoder.input_kernel),  # multiplies E y_{i-1}
        "W_ctx": as_numpy(decoder.context_kernel),  # multiplies c_i
        "U": as_numpy(decoder.recurrent_kernel),  # multiplies s_{i-1}
        "b": as_numpy(decoder.bias),
        "b_rec": None,
    }
    if decoder.cell == "gru" and decoder.reset_after:
        weights["b_rec"] = as_numpy(decoder.recurrent_bias)
    return weights


def output_logits(decoder, s, context, embedded):
    """logits_i from [s_i; c_i; E y_{i-1}], maxout (pairs), dense."""
    if decoder.deep_output:
        features = np.concatenate([s, context, embedded], axis=-1)
    else:
        features = s
    if decoder.maxout_layer is not None:
        pre = dense(decoder.maxout_layer, features)
        features = np.maximum(pre[..., 0::2], pre[..., 1::2])
    return dense(decoder.output_layer, features)


def decoder_step(decoder, prev_ids, state, memory, mask, s0=None):
    """One AttentiveDecoder step in the paper's order.

    e_ij = v_a . tanh(W_a s_{i-1} + U_a h_j)      (scored with s_{i-1})
    c_i = sum_j alpha_ij h_j
    s_i = cell(W_in E y_{i-1} + W_ctx c_i + b, s_{i-1})
    logits_i = W_o maxout([s_i; c_i; E y_{i-1}])

    Args:
        decoder: a built `AttentiveDecoder`.
        prev_ids: `(B,)` ints y_{i-1}.
        state: `(s,)` or `(h, c)` float64 arrays.
        memory: `(B, S, D)`, zero at padding.
        mask: `(B, S)` booleans.
        s0: the initial state, the fixed context when `attention=None`.

    Returns:
        `(logits (B, V), new_state, weights (B, S))`.
    """
    w = decoder_weights(decoder)
    embedded = w["E"][np.asarray(prev_ids)]
    s_prev = state[0]
    if decoder.attention_layer is not None:
        context, weights = layer_attention(
            decoder.attention_layer, s_prev, memory, mask
        )
    else:
        context = s0
        weights = np.zeros(memory.shape[:2])
    x_proj = embedded @ w["W_in"] + context @ w["W_ctx"] + w["b"]
    if decoder.cell == "lstm":
        new_state = lstm_step(x_proj, state[0], state[1], w["U"])
    else:
        new_state = (
            gru_step(x_proj, s_prev, w["U"], w["b_rec"], decoder.reset_after),
        )
    logits = output_logits(decoder, new_state[0], context, embedded)
    return logits, new_state, weights


def decoder_sequence(decoder, target_ids, memory, mask=None):
    """Teacher-forced logits and alignments over a whole target sequence.

    Returns:
        `(logits (B, T, V), alignments (B, T, S))`.
    """
    target_ids = np.asarray(target_ids)
    memory = np.asarray(memory, np.float64)
    if mask is None:
        mask = np.ones(memory.shape[:2], bool)
    mask = np.asarray(mask, bool)
    memory = np.where(mask[:, :, None], memory, 0.0)
    s0 = bridge(decoder, memory, mask)
    state = (s0, np.zeros_like(s0)) if decoder.cell == "lstm" else (s0,)
    all_logits, all_weights = [], []
    for t in range(target_ids.shape[1]):
        logits, state, weights = decoder_step(
            decoder, target_ids[:, t], state, memory, mask, s0=s0
        )
        all_logits.append(logits)
        all_weights.append(weights)
    return np.stack(all_logits, axis=1), np.stack(all_weights, axis=1)


# -------------------------------------------------------------------- loss
def token_cross_entropy(y_true, logits):
    """Per-token `logsumexp(logits) - logits[y]` and its gradient
    `softmax(logits) - one_hot(y)` (float64)."""
    y_true = np.asarray(y_true)
    logits = np.asarray(logits, np.float64)
    top = logits.max(axis=-1, keepdims=True)
    exp = np.exp(logits - top)
    log_norm = top[..., 0] + np.log(exp.sum(axis=-1))
    picked = np.take_along_axis(logits, y_true[..., None], -1)[..., 0]
    probs = exp / exp.sum(axis=-1, keepdims=True)
    one_hot = np.eye(logits.shape[-1])[y_true]
    return log_norm - picked, probs - one_hot


def masked_cross_entropy(y_true, logits, pad_id=0):
    """Mean token cross-entropy over targets that are not `pad_id`."""
    y_true = np.asarray(y_true)
    logits = np.asarray(logits, np.float64)
    top = logits.max(axis=-1, keepdims=True)
    log_probs = logits - top - np.log(
        np.exp(logits - top).sum(axis=-1, keepdims=True)
    )
    picked = np.take_along_axis(log_probs, y_true[..., None], -1)[..., 0]
    mask = y_true != pad_id
    return float(-(picked * mask).sum() / max(mask.sum(), 1))


def masked_accuracy(y_true, logits, pad_id=0):
    """Share of non-pad targets whose argmax prediction is right."""
    y_true = np.asarray(y_true)
    mask = y_true != pad_id
    hits = (np.asarray(logits).argmax(axis=-1) == y_true) & mask
    return float(hits.sum() / max(mask.sum(), 1))
