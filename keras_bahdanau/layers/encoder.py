"""BidirectionalEncoder: embedding + bidirectional RNN -> annotations."""

import keras
from keras import ops

from keras_bahdanau.layers.bigru import bidirectional_gru
from keras_bahdanau.layers.initializers import for_variable_dtype
from keras_bahdanau.layers.recurrence import hand_written_gradient_supported
from keras_bahdanau.layers.validation import check_choice
from keras_bahdanau.layers.validation import check_positive_int
from keras_bahdanau.layers.validation import check_rank
from keras_bahdanau.layers.validation import check_rate
from keras_bahdanau.layers.validation import check_time_steps
from keras_bahdanau.layers.validation import check_token_ids

CELLS = ("gru", "lstm")


def rnn_mask(mask):
    """The mask given to the Keras RNN: `mask`, with position 0 marked real
    in rows that have no real position.

    On a GPU, Keras' `GRU` and `LSTM` take the cuDNN kernel, which
    `tf.Assert`s that no row is fully masked; inside a compiled graph that
    assert fails the whole call. Reading the padding at position 0 of such
    a row changes nothing that leaves the encoder: its memory is zeroed at
    every padded position afterwards, and the bridge reads that zeroed
    memory. Right-padded rows with a real token are left as they are.

    Args:
        mask: boolean `(batch, source_len)`, True at real positions.

    Returns:
        A boolean mask of the same shape without fully masked rows.
    """
    empty = ops.logical_not(ops.any(mask, axis=1, keepdims=True))
    first = ops.equal(ops.cumsum(ops.ones_like(mask, "int32"), axis=1), 1)
    return ops.logical_or(mask, ops.logical_and(empty, first))


@keras.saving.register_keras_serializable(package="keras_bahdanau")
class BidirectionalEncoder(keras.layers.Layer):
    """The bidirectional RNN encoder of Bahdanau et al. (2015), section 3.2.

    Each source token x_j is embedded and read by a forward and a backward
    RNN; the annotation of position j is h_j = [h_j_forward; h_j_backward]
    (eq. 7 context). Padding (`token_ids == pad_id`) is skipped by both
    directions, so `h_1_backward` (the backward half of the first real
    position: position 0 unless the padding is on the left) is the backward
    RNN's state after reading the whole real sentence: the input of the
    paper's initial decoder state s_0 = tanh(W_s h_1_backward).

    Args:
        vocab_size: number of source token ids.
        embedding_dim: size of the source embedding.
        units: hidden units per direction; the memory has `2 * units`.
        cell: `"gru"` or `"lstm"`.
        dropout: dropout rate on the embeddings, in [0, 1).
        pad_id: the padding id, masked everywhere.
        **kwargs: base `keras.layers.Layer` arguments.

    Attributes:
        fused_rnn: `True` (default) lets training (`training=True`) run the
            GRU with a hand-written gradient (`layers/bigru.py`: input
            products of all steps as one matmul, kernel gradients as single
            large matmuls after the loop; the encoder's forward and backward
            1.22-1.29x faster) where it applies: `cell="gru"`, float32 or
            float64 compute on TensorFlow or JAX, bfloat16
            (`mixed_bfloat16`) on TensorFlow, where inference runs it too
            (2x faster there; its gate math is float32). The weights are
            the `birnn` Keras layer's either way, and that layer runs
            otherwise (and in float32 inference). Set it to `False` to
            always run the Keras layer; outputs are the same (in bfloat16:
            at least as close to float32 as the Keras layer's).

    Call arguments:
        token_ids: int `(batch, source_len)`, ids in `[0, vocab_size)`,
            at least one step. Float ids raise `TypeError` and ids outside
            the vocabulary `ValueError` where their values are known (NumPy
            input, eager calls); compiled steps cannot check data.
        training: enables dropout.

    Returns:
        The memory `(batch, source_len, 2 * units)`, zero at padded
        positions, with Keras mask `token_ids != pad_id`. A row of padding
        only gives zero memory (on a GPU too: see `rnn_mask`).

    Example:

    >>> import numpy as np
    >>> import keras_bahdanau as kb
    >>> encoder = kb.BidirectionalEncoder(20, embedding_dim=8, units=4)
    >>> memory = encoder(np.array([[5, 6, 7, 0]]))
    >>> tuple(memory.shape)
    (1, 4, 8)
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        units: int,
        cell: str = "gru",
        dropout: float = 0.0,
        pad_id: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        vocab_size = check_positive_int(
            "vocab_size", vocab_size, "vocab_size=8000"
        )
        embedding_dim = check_positive_int(
            "embedding_dim", embedding_dim, "embedding_dim=256"
        )
        units = check_positive_int("units", units, "units=256")
        check_choice("cell", cell, CELLS)
        dropout = check_rate("dropout", dropout)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.cell = cell
        self.dropout = dropout
        self.pad_id = pad_id
        self.supports_masking = True
        self.embedding = keras.layers.Embedding(
            vocab_size,
            embedding_dim,
            name="embedding",
            dtype=self.dtype_policy,
        )
        self.embedding_dropout = keras.layers.Dropout(
            dropout, name="embedding_dropout", dtype=self.dtype_policy
        )
        rnn = keras.layers.GRU if cell == "gru" else keras.layers.LSTM
        self.rnn = keras.layers.Bidirectional(
            rnn(units, return_sequences=True, dtype=self.dtype_policy),
            name="birnn",
            dtype=self.dtype_policy,
        )
        # Wrapped after construction rather than passed to the RNN: Keras
        # draws a default seed when it creates an initializer, so a new one
        # here would shift every later seed (layers/initializers.py).
        for direction in (self.rnn.forward_layer, self.rnn.backward_layer):
            direction.cell.recurrent_initializer = for_variable_dtype(
                direction.cell.recurrent_initializer, self.variable_dtype
            )
        # See "Attributes" and `_fused_rnn_applies`.
        self.fused_rnn = True

    def build(self, token_ids_shape):
        check_rank("token_ids", token_ids_shape, (2,))
        self.embedding.build(token_ids_shape)
        embedded_shape = tuple(token_ids_shape) + (self.embedding_dim,)
        self.rnn.build(embedded_shape)
        self.built = True

    def call(self, token_ids, training=None):
        check_rank("token_ids", token_ids.shape, (2,))
        check_time_steps("token_ids", token_ids.shape)
        check_token_ids("token_ids", token_ids, self.vocab_size)
        mask = ops.not_equal(token_ids, self.pad_id)
        embedded = self.embedding(token_ids)
        embedded = self.embedding_dropout(embedded, training=training)
        if self._fused_rnn_applies(training):
            memory = bidirectional_gru(
                embedded,
                mask,
                self.rnn.forward_layer.cell,
                self.rnn.backward_layer.cell,
            )
        else:
            memory = self.rnn(
                embedded, mask=rnn_mask(mask), training=training
            )
        return ops.where(mask[:, :, None], memory, 0.0)

    def _fused_rnn_applies(self, training) -> bool:
        """Whether `call` runs `bidirectional_gru` instead of the layer.

        For the GRU, where `hand_written_gradient_supported`: in training in
        float32 or float64, and in bfloat16 on TensorFlow
        (`mixed_bfloat16`: 1.10x per training step of the benchmark
        model); in inference only in bfloat16, where its float32 gate math
        and once-cast kernels make the benchmark encoder 2x faster than
        Keras' layer (which casts its kernels at every step and runs
        TensorFlow's slow bfloat16 `sigmoid`); in float32 the layer's
        forward, which saves no gate values, is faster. `mixed_float16`,
        bfloat16 on JAX and PyTorch keep Keras' layer.
        """
        if not (
            self.fused_rnn
            and self.cell == "gru"
            and hand_written_gradient_supported(self.compute_dtype)
        ):
            return False
        return bool(training) or self.compute_dtype == "bfloat16"

    def compute_mask(self, token_ids, previous_mask=None):
        return ops.not_equal(token_ids, self.pad_id)

    def compute_output_shape(self, token_ids_shape):
        return tuple(token_ids_shape) + (2 * self.units,)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "cell": self.cell,
            "dropout": self.dropout,
            "pad_id": self.pad_id,
        }
