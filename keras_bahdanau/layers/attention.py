"""BahdanauAttention: additive attention with learned projections."""

from typing import Callable

import keras
from keras import ops

from keras_bahdanau.compilation import fusion_available
from keras_bahdanau.layers.fused_step import softmax_attention_step
from keras_bahdanau.layers.initializers import distinct
from keras_bahdanau.layers.probability import LARGE_NEGATIVE
from keras_bahdanau.layers.probability import deserialize_probability_fn
from keras_bahdanau.layers.probability import get_probability_fn
from keras_bahdanau.layers.probability import serialize_probability_fn
from keras_bahdanau.layers.probability import upcast_dtype
from keras_bahdanau.layers.validation import check_last_dim
from keras_bahdanau.layers.validation import check_mask
from keras_bahdanau.layers.validation import check_positive_int
from keras_bahdanau.layers.validation import check_rank
from keras_bahdanau.layers.validation import check_same_batch


@keras.saving.register_keras_serializable(package="keras_bahdanau")
class BahdanauAttention(keras.layers.Layer):
    """Additive attention of Bahdanau et al. (2015), section 3.1.

    For a query `q` (the decoder state s_{i-1}) and values `h_j` (the
    encoder annotations), the layer computes

        e_j = v_a^T tanh(W_a q + U_a h_j)            (eq. 6, appendix A.1.2)
        alpha = probability_fn(e), masked positions excluded     (eq. 6)
        c = sum_j alpha_j h_j                                     (eq. 5)

    `U_a h_j` does not depend on the query, so it can be computed once per
    source sequence with `precompute_keys(values)` and passed as `keys=`;
    decoders do this instead of projecting the memory at every step.

    With `normalize=True`, `v_a` is replaced by the weight-normalised
    `g * v_a / ||v_a||` and a bias `b_a` is added inside the tanh, as in
    `tfa.seq2seq.BahdanauAttention(normalize=True)`.

    Masked (padded) positions get exactly zero weight and never influence the
    context. A row without any real position returns zero weights and a zero
    context. Scores are normalised in float32 under mixed precision and the
    weights are cast back to the compute dtype.

    Args:
        units: size of the hidden attention layer (the rows of `v_a`).
        normalize: use the weight-normalised score.
        probability_fn: `"softmax"`, `"sparsemax"` or a callable mapping
            float32 scores `(..., values_len)` (padding filled with -1e9)
            to weights.
        kernel_initializer: initializer of `W_a`, `U_a` and `v_a`; each
            draws values of its own (`layers.initializers.distinct`).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`...).

    Call arguments:
        query: `(batch, query_dim)` for one decoder step or
            `(batch, query_len, query_dim)` for all steps at once.
        values: `(batch, values_len, values_dim)`, the memory.
        keys: optional `(batch, values_len, units)` from `precompute_keys`.
        values_mask: optional boolean `(batch, values_len)`, True for real
            positions. Taken from the Keras mask of `values` when omitted.
        return_attention_scores: also return the weights.
        training: unused; accepted for API symmetry.

    Returns:
        `context` of shape `(batch, values_dim)` (rank-2 query) or
        `(batch, query_len, values_dim)`; with `return_attention_scores`,
        `(context, weights)` with weights `(batch, values_len)` or
        `(batch, query_len, values_len)`.

    Raises:
        ValueError: bad `units` or `probability_fn`; wrong ranks; batch,
            mask or key shapes that do not match `values`.

    Example:

    >>> import numpy as np
    >>> import keras_bahdanau as kb
    >>> attention = kb.BahdanauAttention(units=8)
    >>> query = np.ones((2, 4), "float32")
    >>> values = np.ones((2, 5, 6), "float32")
    >>> context, weights = attention(
    ...     query, values, return_attention_scores=True)
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 6), (2, 5))

    Reference:
        Bahdanau, Cho and Bengio, "Neural Machine Translation by Jointly
        Learning to Align and Translate", ICLR 2015.
    """

    def __init__(
        self,
        units: int,
        normalize: bool = False,
        probability_fn: "str | Callable" = "softmax",
        kernel_initializer: "str | keras.initializers.Initializer" = (
            "glorot_uniform"
        ),
        **kwargs,
    ):
        super().__init__(**kwargs)
        units = check_positive_int("units", units, "units=128")
        if not isinstance(normalize, bool):
            raise TypeError(
                "`normalize` must be a bool. "
                f"Received: normalize={normalize!r}. Pass True or False."
            )
        self._probability = get_probability_fn(probability_fn)
        self.units = units
        self.normalize = normalize
        self.probability_fn = probability_fn
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True

    def build(self, query_shape, values_shape, keys_shape=None):
        check_rank("query", query_shape, (2, 3))
        check_rank("values", values_shape, (3,))
        check_same_batch(
            "query", query_shape, "values", values_shape,
            "Pass one query row per values row.",
        )
        if keys_shape is not None:
            _check_keys(keys_shape, values_shape, self.units)
        query_dim, values_dim = query_shape[-1], values_shape[-1]
        if query_dim is None or values_dim is None:
            raise ValueError(
                "The last dimension of `query` and `values` must be known. "
                f"Received: query_shape={query_shape}, "
                f"values_shape={values_shape}. Give the inputs a static "
                "feature size."
            )
        self.W_a = self.add_weight(
            name="W_a",
            shape=(query_dim, self.units),
            initializer=distinct(self.kernel_initializer, "W_a"),
        )
        self.U_a = self.add_weight(
            name="U_a",
            shape=(values_dim, self.units),
            initializer=distinct(self.kernel_initializer, "U_a"),
        )
        self.v_a = self.add_weight(
            name="v_a",
            shape=(self.units,),
            initializer=distinct(self.kernel_initializer, "v_a"),
        )
        if self.normalize:
            self.g = self.add_weight(
                name="g",
                shape=(),
                initializer=keras.initializers.Constant(
                    (1.0 / self.units) ** 0.5
                ),
            )
            self.b_a = self.add_weight(
                name="b_a", shape=(self.units,), initializer="zeros"
            )
        self.built = True

    def precompute_keys(self, values):
        """Returns `U_a h_j` for every position: `(batch, values_len, units)`.

        Args:
            values: `(batch, values_len, values_dim)`.

        Returns:
            The keys, to pass as `keys=` to `call` (or `attend`) for every
            query over the same values.
        """
        check_rank("values", values.shape, (3,))
        if not self.built:
            raise ValueError(
                "`precompute_keys` needs a built layer. Call the layer once "
                "or call `build(query_shape, values_shape)` first."
            )
        values = ops.cast(values, self.compute_dtype)
        return ops.matmul(values, self._cast(self.U_a))

    def _cast(self, variable):
        # Methods such as `precompute_keys` also run outside `__call__`,
        # where Keras does not autocast variables to the compute dtype.
        return ops.cast(variable, self.compute_dtype)

    def score_vector(self):
        """The effective `v_a` (weight-normalised when `normalize=True`)."""
        if not self.normalize:
            return self._cast(self.v_a)
        dtype = upcast_dtype(self.compute_dtype)
        v = ops.cast(self.v_a, dtype)
        g = ops.cast(self.g, dtype)
        v = g * v / ops.sqrt(ops.sum(ops.square(v)))
        return ops.cast(v, self.compute_dtype)

    def score_weights(self):
        """`(v, b)`: the effective `v_a` as `(units, 1)` and `b_a` or None.

        Both are in the compute dtype. A decoder computes them once per
        sequence and passes them to every `attend` call.
        """
        bias = self._cast(self.b_a) if self.normalize else None
        return ops.expand_dims(self.score_vector(), 1), bias

    def attend(
        self,
        projected_query,
        values,
        keys,
        values_mask=None,
        score_weights=None,
        fused=False,
    ):
        """Scores, normalises and reads the values for a projected query.

        This is `call` after the `W_a` product: a decoder that fuses `W_a`
        with its recurrent kernel into one matmul calls this directly.
        `values` must already be zero at padded positions (the weights there
        are exactly zero, this only keeps NaN/inf in padding out).
        The scores are computed in the dtype of `keys` and the context in
        the dtype of `values` (a decoder under a mixed policy passes
        float32 ones); the context is returned in the compute dtype.

        Args:
            projected_query: `W_a q`, `(batch, units)` or
                `(batch, query_len, units)`.
            values: `(batch, values_len, values_dim)`, zero at padding.
            keys: `(batch, values_len, units)` from `precompute_keys`.
            values_mask: optional boolean `(batch, values_len)`.
            score_weights: optional `score_weights()` result, computed
                once for many calls; computed here when omitted.
            fused: run a one-step softmax attention as one fused kernel
                (`layers/fused_step.py`: XLA on TensorFlow), 1.7-1.9x
                faster in float32 on CPU. Same result up to rounding;
                for inference, and for loops with a hand-written gradient
                (automatic differentiation through it is correct but
                slower). Only for rank-2 queries, softmax, and keys and
                values of one dtype, float32 or float64 (the -1e9 padding
                fill needs those), on TensorFlow (JAX compiles the whole
                caller anyway); ignored otherwise.

        Returns:
            `(context, weights)` as in `call`.
        """
        if score_weights is None:
            score_weights = self.score_weights()
        score_vector, score_bias = score_weights
        math_dtype = keys.dtype
        projected_query = ops.cast(projected_query, math_dtype)
        score_vector = ops.cast(score_vector, math_dtype)
        if score_bias is not None:
            score_bias = ops.cast(score_bias, math_dtype)
        # expand_dims and split-free shapes: the gradient of an indexing
        # slice such as keys[:, None] pads a full-size zero tensor per step.
        single_step = len(projected_query.shape) == 2
        dtype = keras.backend.standardize_dtype(math_dtype)
        if (
            fused
            and fusion_available()
            and single_step
            and self.probability_fn == "softmax"
            and dtype in ("float32", "float64")
            and keras.backend.standardize_dtype(values.dtype) == dtype
        ):
            if score_bias is not None:
                projected_query = projected_query + score_bias
            if values_mask is None:
                values_mask = ops.ones(ops.shape(keys)[:2], "bool")
            context, weights = softmax_attention_step(
                projected_query,
                keys,
                values,
                ops.cast(values_mask, "bool"),
                score_vector,
            )
            return (
                ops.cast(context, self.compute_dtype),
                ops.cast(weights, self.compute_dtype),
            )
        if single_step:
            # hidden: batch x values_len x units
            hidden = ops.expand_dims(projected_query, 1) + keys
        else:
            # hidden: batch x query_len x values_len x units
            hidden = ops.expand_dims(projected_query, 2) + ops.expand_dims(
                keys, 1
            )
        if score_bias is not None:
            hidden = hidden + score_bias
        # A 2-D matmul: XLA differentiates it inside loops with a dynamic
        # batch, which a rank-4 by rank-1 tensordot is not.
        scores = ops.matmul(
            ops.reshape(ops.tanh(hidden), (-1, self.units)), score_vector
        )
        scores = ops.reshape(scores, ops.shape(hidden)[:-1])
        scores = ops.cast(scores, upcast_dtype(self.compute_dtype))
        if values_mask is not None:
            mask = ops.cast(values_mask, "bool")
            if not single_step:
                mask = ops.expand_dims(mask, 1)
            scores = ops.where(mask, scores, LARGE_NEGATIVE)
            weights = ops.where(mask, self._probability(scores), 0.0)
        else:
            weights = self._probability(scores)
        weights = ops.cast(weights, values.dtype)
        if single_step:
            context = ops.squeeze(
                ops.matmul(ops.expand_dims(weights, 1), values), 1
            )
        else:
            context = ops.matmul(weights, values)
        return (
            ops.cast(context, self.compute_dtype),
            ops.cast(weights, self.compute_dtype),
        )

    def call(
        self,
        query,
        values,
        keys=None,
        values_mask=None,
        return_attention_scores=False,
        training=None,
    ):
        check_rank("query", query.shape, (2, 3))
        check_rank("values", values.shape, (3,))
        check_same_batch(
            "query", query.shape, "values", values.shape,
            "Pass one query row per values row.",
        )
        fix = (
            "The layer's W_a and U_a were built for those sizes; pass "
            "inputs of the same sizes or use a new layer."
        )
        check_last_dim("query", query.shape, self.W_a.shape[0], fix)
        check_last_dim("values", values.shape, self.U_a.shape[0], fix)
        if keys is not None:
            _check_keys(keys.shape, values.shape, self.units)
        if values_mask is not None:
            check_mask("values_mask", values_mask.shape, "values", values.shape)
            # Before the keys: NaN or inf at padded positions would reach the
            # weight gradients through them.
            values = ops.where(
                ops.cast(values_mask, "bool")[:, :, None], values, 0.0
            )
        if keys is None:
            keys = self.precompute_keys(values)
        projected_query = ops.matmul(query, self._cast(self.W_a))
        context, weights = self.attend(
            projected_query, values, keys, values_mask
        )
        if return_attention_scores:
            return context, weights
        return context

    def compute_mask(self, query, previous_mask=None):
        # The context of a rank-3 query keeps the query's time mask.
        if len(query.shape) == 3:
            return previous_mask
        return None

    def compute_output_shape(self, query_shape, values_shape, keys_shape=None):
        return tuple(query_shape[:-1]) + (values_shape[-1],)

    def compute_output_spec(
        self,
        query,
        values,
        keys=None,
        values_mask=None,
        return_attention_scores=False,
        training=None,
    ):
        context_shape = tuple(query.shape[:-1]) + (values.shape[-1],)
        context = keras.KerasTensor(context_shape, dtype=self.compute_dtype)
        if not return_attention_scores:
            return context
        weights_shape = tuple(query.shape[:-1]) + (values.shape[1],)
        weights = keras.KerasTensor(weights_shape, dtype=self.compute_dtype)
        return context, weights

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "normalize": self.normalize,
            "probability_fn": serialize_probability_fn(self.probability_fn),
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer
            ),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_probability_fn(config))


def _check_keys(keys_shape, values_shape, units):
    expected = (values_shape[0], values_shape[1], units)
    ok = len(keys_shape) == 3 and all(
        k is None or e is None or k == e for k, e in zip(keys_shape, expected)
    )
    if not ok:
        raise ValueError(
            "`keys` must have shape (batch, values_len, units) = "
            f"{expected}. Received: keys.shape={tuple(keys_shape)}. "
            "Make them with `precompute_keys(values)` from the same values."
        )
