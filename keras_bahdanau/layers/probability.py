"""Masked normalisers that turn attention scores into weights.

Scores arrive in float32 (the attention layer upcasts them under mixed
precision), padded positions already filled with `LARGE_NEGATIVE`.
"""

from typing import Callable

import keras
from keras import ops

# Fill value for padded scores. Scores are upcast to float32 before masking,
# so this fits every compute dtype's normaliser and never produces -inf/NaN.
LARGE_NEGATIVE = -1e9


def upcast_dtype(dtype) -> str:
    """float64 stays float64; every narrower float computes in float32."""
    dtype = keras.backend.standardize_dtype(dtype)
    return "float64" if dtype == "float64" else "float32"


@keras.saving.register_keras_serializable(package="keras_bahdanau")
def sparsemax(scores, axis: int = -1):
    """Sparsemax (Martins & Astudillo, 2016) along `axis`.

    The Euclidean projection of `scores` onto the probability simplex:
    `max(scores - tau, 0)` with the threshold `tau` chosen so the result sums
    to one. Unlike softmax it gives exact zeros to low scores.

    Args:
        scores: float tensor.
        axis: the axis to normalise over (only the last axis is supported).

    Returns:
        A tensor of the same shape and dtype whose slices along `axis` are
        non-negative and sum to one.

    Example:

    >>> import numpy as np
    >>> from keras_bahdanau.layers.probability import sparsemax
    >>> np.asarray(sparsemax(np.array([[2.0, 1.0, -1.0]]))).tolist()
    [[1.0, 0.0, 0.0]]
    >>> weights = sparsemax(np.array([[0.5, 0.3, -1.0]], "float32"))
    >>> [round(float(w), 3) for w in np.asarray(weights)[0]]
    [0.6, 0.4, 0.0]
    """
    if axis not in (-1, len(scores.shape) - 1):
        raise ValueError(
            "`axis` must be the last axis for sparsemax. "
            f"Received: axis={axis}. Move the axis to the end first."
        )
    dtype = scores.dtype
    compute = upcast_dtype(dtype)
    z = ops.cast(scores, compute)
    z = z - ops.max(z, axis=-1, keepdims=True)
    n = ops.shape(z)[-1]
    z_sorted = ops.flip(ops.sort(z, axis=-1), axis=-1)  # descending
    k = ops.cast(ops.arange(1, n + 1), compute)
    z_cumsum = ops.cumsum(z_sorted, axis=-1)
    support = ops.cast(1.0 + k * z_sorted > z_cumsum, compute)
    k_z = ops.sum(support, axis=-1, keepdims=True)  # >= 1 always
    # The support is the first k_z sorted scores, so their sum is the
    # cumulative sum at k_z; a sum, not a gather of it: the gradient of
    # `take_along_axis` (a broadcast of dynamic shape) fails to compile in
    # TensorFlow's XLA inside the decoder's loop.
    tau = (ops.sum(support * z_sorted, axis=-1, keepdims=True) - 1.0) / k_z
    return ops.cast(ops.maximum(z - tau, 0.0), dtype)


def softmax(scores):
    """Softmax over the last axis (source positions).

    A one-position source gives weight 1 without `ops.softmax`, which warns
    "Did you mean to use a sigmoid" for an axis of size 1 (a one-word
    sentence is valid input).
    """
    if scores.shape[-1] == 1:
        # 0 * scores keeps the (zero) gradient path to the score weights.
        return scores * 0.0 + 1.0
    return ops.softmax(scores, axis=-1)


_PROBABILITY_FNS = {"softmax": softmax, "sparsemax": sparsemax}


def get_probability_fn(probability_fn: "str | Callable") -> Callable:
    """Resolves `probability_fn` to a callable on masked float32 scores.

    Args:
        probability_fn: `"softmax"`, `"sparsemax"`, or a callable mapping
            scores `(..., source_len)` to weights of the same shape.

    Returns:
        The callable.

    Raises:
        ValueError: for an unknown name or a non-callable object.
    """
    if isinstance(probability_fn, str):
        if probability_fn not in _PROBABILITY_FNS:
            raise ValueError(
                "`probability_fn` must be one of "
                f"{sorted(_PROBABILITY_FNS)} or a callable. "
                f"Received: probability_fn={probability_fn!r}. "
                "Pass 'softmax', 'sparsemax' or a function of the scores."
            )
        return _PROBABILITY_FNS[probability_fn]
    if not callable(probability_fn):
        raise ValueError(
            "`probability_fn` must be one of "
            f"{sorted(_PROBABILITY_FNS)} or a callable. "
            f"Received: probability_fn={probability_fn!r}. "
            "Pass 'softmax', 'sparsemax' or a function of the scores."
        )
    return probability_fn


def serialize_probability_fn(probability_fn: "str | Callable"):
    """`get_config` form of `probability_fn`: a name or a Keras object."""
    if isinstance(probability_fn, str):
        return probability_fn
    return keras.saving.serialize_keras_object(probability_fn)


def deserialize_probability_fn(config: dict) -> dict:
    """Returns `config` with a serialized `probability_fn` restored."""
    config = dict(config)
    if isinstance(config.get("probability_fn"), dict):
        config["probability_fn"] = keras.saving.deserialize_keras_object(
            config["probability_fn"]
        )
    return config
