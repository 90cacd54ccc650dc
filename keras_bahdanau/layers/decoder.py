"""AttentiveDecoder: the RNNsearch decoder with one shared step function.

Longer than STYLE.md's ~400 lines because it is one layer: its argument
checks, weights, the step that teacher forcing and every search share,
and the choice of training loop. The loop itself is in `teacher_forcing`,
the GRU/LSTM cell math in `recurrence`, the fused attention step in
`fused_step`.
"""

from typing import Callable

import keras
from keras import ops

from keras_bahdanau.compilation import tracing_for_tensorflow_xla
from keras_bahdanau.layers.attention import BahdanauAttention
from keras_bahdanau.layers.initializers import distinct
from keras_bahdanau.layers.initializers import for_variable_dtype
from keras_bahdanau.layers.probability import deserialize_probability_fn
from keras_bahdanau.layers.probability import serialize_probability_fn
from keras_bahdanau.layers.probability import upcast_dtype
from keras_bahdanau.layers.recurrence import GATES
from keras_bahdanau.layers.recurrence import cell_update
from keras_bahdanau.layers.recurrence import hand_written_gradient_supported
from keras_bahdanau.layers.teacher_forcing import gru_attention_sequence
from keras_bahdanau.layers.validation import check_bool
from keras_bahdanau.layers.validation import check_choice
from keras_bahdanau.layers.validation import check_last_dim
from keras_bahdanau.layers.validation import check_mask
from keras_bahdanau.layers.validation import check_positive_int
from keras_bahdanau.layers.validation import check_rank
from keras_bahdanau.layers.validation import check_rate
from keras_bahdanau.layers.validation import check_same_batch
from keras_bahdanau.layers.validation import check_time_steps
from keras_bahdanau.layers.validation import check_token_ids

BRIDGES = ("backward", "mean", "zeros")
ATTENTIONS = ("bahdanau", None)


@keras.saving.register_keras_serializable(package="keras_bahdanau")
class AttentiveDecoder(keras.layers.Layer):
    """The attentive RNN decoder of Bahdanau et al. (2015), section 3.1.

    Step i (paper order, appendix A.2.2):

        e_ij = v_a^T tanh(W_a s_{i-1} + U_a h_j)   score with s_{i-1} (eq. 6)
        alpha_i = softmax(e_i) over real positions                  (eq. 6)
        c_i = sum_j alpha_ij h_j                                     (eq. 5)
        s_i = RNN([E y_{i-1}; c_i], s_{i-1})                         (eq. 4)
        logits_i = W_o maxout(U_o s_i + C_o c_i + V_o E y_{i-1})  (deep out)

    The initial state is s_0 = tanh(W_s h_1_backward) (`bridge="backward"`,
    the backward half of the first real annotation, so left-padded sources
    work too), or a masked mean of the
    memory (`"mean"`), or zeros. `attention=None` is the plain RNN
    encoder-decoder: the context is fixed to s_0 at every step.

    One step function (`step`) serves teacher forcing (`call` runs it over
    time with `keras.ops.scan`) and generation, so the two cannot drift.
    The memory keys `U_a h_j` are computed once per sequence (`prepare`),
    `W_a` and the recurrent kernel share one matmul per step, the embedding
    part of the cell input is projected for all steps before the loop, and
    the output layer runs once over all steps after it.

    The GRU is Keras' `reset_after=True` variant by default (the reset gate
    multiplies the projected state, one matmul for all gates);
    `reset_after=False` is the paper's form `U [r * s_{i-1}]`.

    Args:
        vocab_size: number of target token ids.
        embedding_dim: size of the target embedding E.
        units: decoder RNN units (size of s_i).
        attention_units: hidden size of the attention MLP (`v_a` length).
        cell: `"gru"` or `"lstm"`.
        attention: `"bahdanau"` or `None` (no attention).
        normalize: weight-normalised attention score.
        probability_fn: `"softmax"`, `"sparsemax"` or a callable.
        dropout: dropout rate on embeddings and output features, in [0, 1).
        maxout_units: size of the maxout layer of the deep output (the
            paper uses 500); `None` projects the features to logits directly.
        deep_output: feed [s_i; c_i; E y_{i-1}] to the output layer (the
            paper); `False` feeds s_i alone.
        bridge: `"backward"`, `"mean"` or `"zeros"` initial state.
        reset_after: GRU variant, see above.
        kernel_initializer: initializer of the input, context, attention,
            bridge and output kernels; each draws values of its own
            (`layers.initializers.distinct`).
        recurrent_initializer: initializer of the recurrent kernel.
        bounded_loop: run teacher forcing as a `while_loop` with a static
            bound instead of `scan`, on TensorFlow (other backends keep
            `scan`, which JAX's XLA differentiates). XLA training on
            TensorFlow needs it where the hand-written loop gradient does
            not apply (see `manual_backprop` below); a decoder inside an
            `AttentionSeq2Seq` compiled with `jit_compile=True` uses it then
            without this flag. Slower otherwise. Needs a static target
            length.
        **kwargs: base `keras.layers.Layer` arguments.

    Attributes:
        manual_backprop: `True` (default) lets training (`training=True`)
            run the time loop with a hand-written gradient
            (`layers/teacher_forcing.py`: weight gradients as single large
            matmuls after the loop, about 1.2x faster training steps) where
            it applies: Bahdanau softmax attention, the `reset_after` GRU,
            float32 or float64 compute on TensorFlow or JAX, bfloat16
            (`mixed_bfloat16`: GRU in bfloat16, attention in float32, as in
            the step) on TensorFlow. Set it to `False` to differentiate the
            loop automatically; outputs are the same.

    Call arguments:
        target_ids: int `(batch, target_len)`, the previous tokens y_{i-1}
            (start token first: teacher forcing), ids in
            `[0, vocab_size)`. Float ids raise `TypeError` and ids outside
            the vocabulary `ValueError` where their values are known (NumPy
            input, eager calls); compiled steps cannot check data.
        memory: `(batch, source_len, memory_dim)` from the encoder.
        memory_mask: optional boolean `(batch, source_len)`; taken from the
            Keras mask of `memory` when omitted.
        initial_state: optional s_0 `(batch, units)` (GRU) or `[h, c]`
            (LSTM); computed by the bridge when omitted.
        return_attention_scores: also return the alignments.
        training: enables dropout.

    Returns:
        float32 logits `(batch, target_len, vocab_size)`; with
        `return_attention_scores`, `(logits, alignments)` with alignments
        `(batch, target_len, source_len)` (zeros when `attention=None`).

    Example:

    >>> import numpy as np
    >>> import keras_bahdanau as kb
    >>> decoder = kb.AttentiveDecoder(12, 8, units=6, attention_units=5)
    >>> memory = np.random.rand(2, 7, 10).astype("float32")
    >>> logits = decoder(np.array([[1, 4, 5], [1, 6, 0]]), memory)
    >>> tuple(logits.shape)
    (2, 3, 12)

    Reference:
        Bahdanau, Cho and Bengio, "Neural Machine Translation by Jointly
        Learning to Align and Translate", ICLR 2015, appendix A.2.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        units: int,
        attention_units: int,
        cell: str = "gru",
        attention: "str | None" = "bahdanau",
        normalize: bool = False,
        probability_fn: "str | Callable" = "softmax",
        dropout: float = 0.0,
        maxout_units: "int | None" = None,
        deep_output: bool = True,
        bridge: str = "backward",
        reset_after: bool = True,
        kernel_initializer: str = "glorot_uniform",
        recurrent_initializer: str = "orthogonal",
        bounded_loop: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        vocab_size = check_positive_int(
            "vocab_size", vocab_size, "vocab_size=8000"
        )
        embedding_dim = check_positive_int(
            "embedding_dim", embedding_dim, "embedding_dim=256"
        )
        units = check_positive_int("units", units, "units=512")
        attention_units = check_positive_int(
            "attention_units", attention_units, "attention_units=512"
        )
        check_choice("cell", cell, tuple(GATES))
        check_choice("attention", attention, ATTENTIONS)
        check_choice("bridge", bridge, BRIDGES)
        dropout = check_rate("dropout", dropout)
        if maxout_units is not None:
            maxout_units = check_positive_int(
                "maxout_units", maxout_units, "maxout_units=500"
            )
        check_bool("normalize", normalize)
        check_bool("deep_output", deep_output)
        check_bool("reset_after", reset_after)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.attention_units = attention_units
        self.cell = cell
        self.attention = attention
        self.normalize = normalize
        self.probability_fn = probability_fn
        self.dropout = dropout
        self.maxout_units = maxout_units
        self.deep_output = deep_output
        self.bridge = bridge
        self.reset_after = reset_after
        self.bounded_loop = bounded_loop
        # See "Attributes" and `_manual_backprop_applies`.
        self.manual_backprop = True
        # Set by `AttentionSeq2Seq.compile`: its steps run under XLA on
        # TensorFlow (not part of the config; compiling sets it again).
        self.xla_training = False
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(
            recurrent_initializer
        )
        policy = self.dtype_policy
        self.embedding = keras.layers.Embedding(
            vocab_size, embedding_dim, name="embedding", dtype=policy
        )
        self.embedding_dropout = keras.layers.Dropout(
            dropout, name="embedding_dropout", dtype=policy
        )
        self.output_dropout = keras.layers.Dropout(
            dropout, name="output_dropout", dtype=policy
        )
        self.attention_layer = None
        if attention == "bahdanau":
            self.attention_layer = BahdanauAttention(
                attention_units,
                normalize=normalize,
                probability_fn=probability_fn,
                kernel_initializer=distinct(
                    self.kernel_initializer, "attention"
                ),
                name="attention",
                dtype=policy,
            )
        self.bridge_layer = None
        if bridge != "zeros":
            self.bridge_layer = keras.layers.Dense(
                units,
                activation="tanh",
                kernel_initializer=distinct(
                    self.kernel_initializer, "bridge"
                ),
                name="bridge",
                dtype=policy,
            )
        self.maxout_layer = None
        if maxout_units is not None:
            self.maxout_layer = keras.layers.Dense(
                2 * maxout_units,
                kernel_initializer=distinct(
                    self.kernel_initializer, "maxout"
                ),
                name="maxout",
                dtype=policy,
            )
        self.output_layer = keras.layers.Dense(
            vocab_size,
            kernel_initializer=distinct(self.kernel_initializer, "logits"),
            name="logits",
            dtype=policy,
        )

    # ------------------------------------------------------------------ build
    def build(self, target_ids_shape, memory_shape, initial_state_shape=None):
        check_rank("target_ids", target_ids_shape, (2,))
        check_rank("memory", memory_shape, (3,))
        memory_dim = memory_shape[-1]
        if memory_dim is None:
            raise ValueError(
                "The last dimension of `memory` must be known. "
                f"Received: memory_shape={memory_shape}."
            )
        if self.bridge == "backward" and memory_dim % 2:
            raise ValueError(
                "`bridge='backward'` reads the backward half of a "
                "bidirectional memory, so `memory` needs an even last "
                f"dimension. Received: memory_shape={memory_shape}. Use "
                "bridge='mean' for other encoders."
            )
        self.memory_dim = memory_dim
        batch = memory_shape[0]
        self.embedding.build(target_ids_shape)
        if self.attention_layer is not None:
            self.attention_layer.build((batch, self.units), memory_shape)
            context_dim = memory_dim
        else:
            context_dim = self.units
        self.context_dim = context_dim
        if self.bridge_layer is not None:
            bridge_dim = memory_dim // 2 if self.bridge == "backward" else (
                memory_dim
            )
            self.bridge_layer.build((batch, bridge_dim))
        gate_units = GATES[self.cell] * self.units
        self.input_kernel = self.add_weight(
            name="input_kernel",
            shape=(self.embedding_dim, gate_units),
            initializer=distinct(self.kernel_initializer, "input_kernel"),
        )
        self.context_kernel = self.add_weight(
            name="context_kernel",
            shape=(context_dim, gate_units),
            initializer=distinct(self.kernel_initializer, "context_kernel"),
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel",
            shape=(self.units, gate_units),
            initializer=for_variable_dtype(
                self.recurrent_initializer, self.variable_dtype
            ),
        )
        self.bias = self.add_weight(
            name="bias",
            shape=(gate_units,),
            initializer=self._bias_initializer,
        )
        if self.cell == "gru" and self.reset_after:
            self.recurrent_bias = self.add_weight(
                name="recurrent_bias", shape=(gate_units,), initializer="zeros"
            )
        features_dim = self.units
        if self.deep_output:
            features_dim += context_dim + self.embedding_dim
        features_shape = (batch, None, features_dim)
        if self.maxout_layer is not None:
            self.maxout_layer.build(features_shape)
            features_shape = (batch, None, self.maxout_units)
        self.output_layer.build(features_shape)
        self.built = True

    def _bias_initializer(self, shape, dtype=None):
        if self.cell != "lstm":
            return ops.zeros(shape, dtype=dtype)
        # Forget-gate bias 1 (Jozefowicz et al., 2015), as Keras' LSTM.
        units = self.units
        return ops.concatenate(
            [
                ops.zeros((units,), dtype=dtype),
                ops.ones((units,), dtype=dtype),
                ops.zeros((2 * units,), dtype=dtype),
            ]
        )

    # --------------------------------------------------------- step contract
    def initial_state(self, memory, memory_mask=None):
        """The bridge: s_0 from the memory, as a tuple of state tensors.

        Args:
            memory: `(batch, source_len, memory_dim)`.
            memory_mask: optional boolean `(batch, source_len)`.

        Returns:
            `(s_0,)` for GRU, `(h_0, c_0)` for LSTM (c_0 = 0), each
            `(batch, units)`.
        """
        memory = ops.cast(memory, self.compute_dtype)
        batch = ops.shape(memory)[0]
        zeros = ops.zeros((batch, self.units), dtype=self.compute_dtype)
        if self.bridge == "zeros":
            h = zeros
        elif self.bridge == "backward":
            half = memory.shape[-1] // 2
            backward = memory[:, :, half:]
            if memory_mask is None:
                h = self.bridge_layer(backward[:, 0])
            else:
                # h_1: the first real position, where the backward RNN has
                # read the whole sentence (position 0 only when the padding
                # is on the right); zeros for an all-padding row.
                real = ops.cast(memory_mask, "int32")
                first = ops.logical_and(
                    ops.cast(real, "bool"), ops.cumsum(real, axis=1) == 1
                )
                h = self.bridge_layer(ops.sum(
                    ops.where(first[:, :, None], backward, 0.0), axis=1
                ))
        else:
            if memory_mask is None:
                summary = ops.mean(memory, axis=1)
            else:
                weights = ops.cast(memory_mask, memory.dtype)[:, :, None]
                total = ops.sum(memory * weights, axis=1)
                count = ops.maximum(ops.sum(weights, axis=1), 1.0)
                summary = total / count
            h = self.bridge_layer(summary)
        return (h, zeros) if self.cell == "lstm" else (h,)

    def prepare(self, memory, memory_mask=None, initial_state=None):
        """Everything the step needs that is fixed for a source batch.

        Args:
            memory: `(batch, source_len, memory_dim)`.
            memory_mask: optional boolean `(batch, source_len)`.
            initial_state: optional initial state; the bridge otherwise.

        Returns:
            `(state, cache)`: the initial state tuple and a dict with the
            batch-major tensors `memory` (zeroed at padding), `memory_mask`,
            `keys` (`U_a h_j`) or `context` (fixed, `attention=None`), and
            `kernels` (batch-independent weights, fused and cast to the
            compute dtype once; a search that expands or reorders the batch
            leaves `kernels` alone).
        """
        return self._prepare(memory, memory_mask, initial_state, True)

    def _prepare(self, memory, memory_mask, initial_state, for_step):
        _check_memory(memory.shape, memory_mask, self.memory_dim)
        memory = ops.cast(memory, self.compute_dtype)
        if memory_mask is None:
            memory_mask = ops.ones(ops.shape(memory)[:2], dtype="bool")
        memory_mask = ops.cast(memory_mask, "bool")
        memory = ops.where(memory_mask[:, :, None], memory, 0.0)
        if initial_state is None:
            state = self.initial_state(memory, memory_mask)
        else:
            state = _as_state(initial_state, self.cell)
            for s in state:
                _check_state(s.shape, memory.shape, self.units)
            state = tuple(ops.cast(s, self.compute_dtype) for s in state)
        cache = {"memory": memory, "memory_mask": memory_mask}
        if self.attention_layer is not None:
            # The attention's element-wise math runs in float32 under mixed
            # policies: more exact, and faster on CPUs, where bfloat16 tanh
            # and softmax are slower than float32 (only its matmuls gain).
            # Both casts happen once per sequence; no-ops in float32.
            math_dtype = upcast_dtype(self.compute_dtype)
            keys = self.attention_layer.precompute_keys(memory)
            cache["keys"] = ops.cast(keys, math_dtype)
            cache["memory"] = ops.cast(memory, math_dtype)
        else:
            cache["context"] = state[0]
        cache["kernels"] = self._step_kernels(for_step)
        return state, cache

    def _cast(self, variable):
        # `prepare` and `step` also run outside `__call__` (decoding), where
        # Keras does not autocast variables to the compute dtype.
        return ops.cast(variable, self.compute_dtype)

    def _step_kernels(self, for_step):
        """The weights of one step, cast to the compute dtype once.

        `state` is one matrix for everything that multiplies s_{i-1}:
        [W_a | U]. Casting here rather than in the step keeps a mixed
        precision loop from re-reading every float32 kernel at each step.
        With `for_step`, the embedding input and output layer weights that
        `step` needs (teacher forcing applies those outside the loop) are
        included too.
        """
        recurrent = self._cast(self.recurrent_kernel)
        kernels = {"context": self._cast(self.context_kernel)}
        if self.cell == "gru" and self.reset_after:
            # Added inside the gate math, which runs in float32 under
            # mixed policies (`cell_update`).
            kernels["recurrent_bias"] = ops.cast(
                self.recurrent_bias, upcast_dtype(self.compute_dtype)
            )
        elif self.cell == "gru":
            kernels["candidate"] = recurrent[:, 2 * self.units :]
            recurrent = recurrent[:, : 2 * self.units]
        if self.attention_layer is not None:
            kernels["state"] = ops.concatenate(
                [self._cast(self.attention_layer.W_a), recurrent], 1
            )
            kernels["score"] = self.attention_layer.score_weights()
        else:
            kernels["state"] = recurrent
        if for_step:
            kernels["input_context"] = ops.concatenate(
                [self._cast(self.input_kernel), kernels["context"]], axis=0
            )
            kernels["bias"] = self._cast(self.bias)
            kernels["output"] = _dense_weights(self.output_layer, self._cast)
            if self.maxout_layer is not None:
                kernels["maxout"] = _dense_weights(
                    self.maxout_layer, self._cast
                )
        return kernels

    def _embed(self, ids, training=None, rows_only=False):
        if rows_only and self.embedding.quantization_mode is None:
            # Gather, then cast the gathered rows: calling the layer under a
            # mixed policy casts the whole table first, at every step.
            embedded = ops.take(self.embedding.embeddings, ids, axis=0)
            embedded = ops.cast(embedded, self.compute_dtype)
        else:
            embedded = self.embedding(ids)
        return self.embedding_dropout(embedded, training=training)

    def _core(self, input_projection, state, cache, embedded=None,
              fused=False):
        """s_{i-1} -> (s_i, c_i, alpha_i), given E y_{i-1} projected.

        With `embedded` (one decoding step) instead of `input_projection`
        (teacher forcing projects all steps before the loop), the cell input
        [E y_{i-1}; c_i] takes one matmul with the stacked input kernels.
        `fused` is passed to `BahdanauAttention.attend`: set outside
        training, where no tape differentiates the step.
        """
        h_prev = state[0]
        kernels = cache["kernels"]
        projected = ops.matmul(h_prev, kernels["state"])
        if self.attention_layer is not None:
            # split, not slicing: its gradient is one concat, where each
            # slice's gradient pads a full-size zero tensor.
            query, recurrent = ops.split(
                projected, [self.attention_units], axis=-1
            )
            context, weights = self.attention_layer.attend(
                query,
                cache["memory"],
                cache["keys"],
                cache["memory_mask"],
                score_weights=kernels["score"],
                fused=fused,
            )
        else:
            recurrent = projected
            context = cache["context"]
            weights = ops.zeros(
                ops.shape(cache["memory_mask"]), dtype=self.compute_dtype
            )
        if embedded is None:
            inputs = input_projection + ops.matmul(context, kernels["context"])
        else:
            inputs = ops.matmul(
                ops.concatenate([embedded, context], axis=-1),
                kernels["input_context"],
            ) + kernels["bias"]
        new_state = cell_update(self, inputs, recurrent, state, kernels)
        return new_state, context, weights

    def _logits(self, h, context, embedded, training=None, kernels=None):
        if self.deep_output:
            features = ops.concatenate([h, context, embedded], axis=-1)
        else:
            features = h
        features = self.output_dropout(features, training=training)
        kernels = kernels or {}
        if self.maxout_layer is not None:
            pre = _dense(self.maxout_layer, features, kernels.get("maxout"))
            shape = ops.shape(pre)[:-1] + (self.maxout_units, 2)
            features = ops.max(ops.reshape(pre, shape), axis=-1)
        logits = _dense(self.output_layer, features, kernels.get("output"))
        return ops.cast(logits, upcast_dtype(self.compute_dtype))

    def step(self, prev_ids, state, cache, training=None):
        """One decoding step from y_{i-1} and s_{i-1}.

        Args:
            prev_ids: int `(batch,)`, the previous tokens.
            state: state tuple from `prepare` or the previous step.
            cache: the cache from `prepare`.
            training: enables dropout.

        Returns:
            `(logits, state, weights)`: float32 logits `(batch, vocab)`,
            the new state tuple and the alignment `(batch, source_len)`.
        """
        kernels = cache["kernels"]
        embedded = self._embed(prev_ids, training=training, rows_only=True)
        new_state, context, weights = self._core(
            None, state, cache, embedded=embedded, fused=not training
        )
        logits = self._logits(
            new_state[0], context, embedded, training, kernels
        )
        # float32 for every policy (float64 too): the searches' scores are.
        return ops.cast(logits, "float32"), new_state, weights

    # ----------------------------------------------------------------- call
    def call(
        self,
        target_ids,
        memory,
        memory_mask=None,
        initial_state=None,
        return_attention_scores=False,
        training=None,
    ):
        check_rank("target_ids", target_ids.shape, (2,))
        check_time_steps("target_ids", target_ids.shape)
        check_token_ids("target_ids", target_ids, self.vocab_size)
        check_same_batch(
            "target_ids", target_ids.shape, "memory", memory.shape,
            "Pass one target row per source row.",
        )
        state, cache = self._prepare(
            memory, memory_mask, initial_state, False
        )
        embedded = self._embed(target_ids, training=training)
        # One matmul for the embedding part of every step's cell input.
        input_projection = ops.matmul(
            embedded, self._cast(self.input_kernel)
        ) + self._cast(self.bias)
        batch = ops.shape(memory)[0]
        context0 = ops.zeros((batch, self.context_dim), self.compute_dtype)
        weights0 = ops.zeros(ops.shape(memory)[:2], self.compute_dtype)
        inputs = ops.transpose(input_projection, (1, 0, 2))  # time-major
        if self._manual_backprop_applies(training):
            states, contexts, weights = self._manual_backprop_loop(
                inputs, state, cache
            )
        elif self._uses_bounded_loop(training):
            states, contexts, weights = self._bounded_loop(
                inputs, state, cache, context0, weights0
            )
        else:

            def body(carry, x):
                new_state, context, weights = self._core(
                    x, carry[0], cache, fused=not training
                )
                out = (new_state, context, weights)
                return out, out

            _, (states, contexts, weights) = ops.scan(
                body, (state, context0, weights0), inputs
            )
            states = states[0]
        h = ops.transpose(states, (1, 0, 2))
        contexts = ops.transpose(contexts, (1, 0, 2))
        logits = self._logits(h, contexts, embedded, training)
        if return_attention_scores:
            alignments = ops.transpose(weights, (1, 0, 2))
            return logits, ops.cast(
                alignments, upcast_dtype(self.compute_dtype)
            )
        return logits

    def _manual_backprop_applies(self, training):
        """Whether training runs `gru_attention_sequence` (custom gradient).

        In training, with the `scan` loop, where the configuration is
        supported (`_manual_backprop_supported`). Outside training the plain
        loop is used (it keeps no saved tensors).
        """
        return bool(
            training
            and not (self.bounded_loop and self._bounded_loop_available())
            and self._manual_backprop_supported()
        )

    @staticmethod
    def _bounded_loop_available():
        # JAX differentiates `scan` under XLA; only TensorFlow's XLA needs
        # the bounded loop, which JAX cannot differentiate.
        return keras.config.backend() == "tensorflow"

    def _uses_bounded_loop(self, training=None):
        """The time loop is the bounded `while_loop` (read at trace time).

        When asked for (`bounded_loop`), or under TensorFlow's XLA where
        the hand-written gradient does not apply (also when
        `manual_backprop` is turned off after `compile`): an
        `AttentionSeq2Seq` compiled with `jit_compile=True`, or, in
        training, any model whose step XLA compiles (a user's own
        functional model with `jit_compile=True`, or `"auto"` on a GPU).
        """
        # A detected XLA trace needs it only to differentiate the loop: a
        # forward pass (evaluate, predict) keeps `scan`, which takes target
        # lengths unknown at trace time.
        xla = self.xla_training or bool(
            training and tracing_for_tensorflow_xla()
        )
        wanted = self.bounded_loop or (
            xla and not self._manual_backprop_supported()
        )
        return bool(wanted and self._bounded_loop_available())

    def _manual_backprop_supported(self):
        """Whether the hand-written loop gradient covers this decoder.

        It covers the default configuration: Bahdanau attention with
        softmax, the `reset_after` GRU, float32 or float64 compute on
        TensorFlow or JAX, bfloat16 on TensorFlow
        (`hand_written_gradient_supported`; `mixed_float16` keeps automatic
        differentiation), unless `manual_backprop` is off.
        """
        return bool(
            self.manual_backprop
            and self.attention_layer is not None
            and self.probability_fn == "softmax"
            and self.cell == "gru"
            and self.reset_after
            and hand_written_gradient_supported(self.compute_dtype)
        )

    def _manual_backprop_loop(self, inputs, state, cache):
        kernels = cache["kernels"]
        score_vector, score_bias = kernels["score"]
        keys = cache["keys"]
        # The attention and GRU gate math run in the keys' dtype (float32
        # under mixed policies, as in `_core`); the products in the compute
        # dtype.
        score_vector = ops.cast(score_vector, keys.dtype)
        if score_bias is not None:
            # tanh(q + k + b): the bias joins the keys (its gradient is the
            # keys' gradient summed, by automatic differentiation).
            score_bias = ops.cast(score_bias, keys.dtype)
            keys = keys + score_bias
        return gru_attention_sequence(
            inputs,
            state[0],
            keys,
            cache["memory"],
            ops.cast(cache["memory_mask"], keys.dtype),
            kernels["state"],
            kernels["context"],
            kernels["recurrent_bias"],
            score_vector,
        )

    def _bounded_loop(self, inputs, state, cache, context0, weights0):
        """The time loop as `while_loop` with `maximum_iterations`.

        XLA (`jit_compile=True` on TensorFlow) differentiates only bounded
        loops, and Keras' TensorFlow `scan` sets no bound. Outputs are
        collected with a one-hot `where`, which costs more than `scan`'s
        buffers on TensorFlow without XLA, so this is opt-in.
        """
        length = inputs.shape[0]
        if length is None:
            raise ValueError(
                "The bounded teacher-forcing loop (`bounded_loop=True`, or "
                "TensorFlow's XLA with this decoder configuration) needs a "
                f"static target length. Received: target_ids with {length} "
                "steps. Pad batches to a fixed length (e.g. `padded_batch` "
                "with padded_shapes), or compile with jit_compile=False."
            )
        batch = ops.shape(inputs)[1]
        width = self.units + self.context_dim
        outputs = ops.zeros((length, batch, width), self.compute_dtype)
        weights = ops.zeros(
            (length,) + tuple(ops.shape(weights0)), self.compute_dtype
        )
        steps = ops.arange(length)[:, None, None]

        def body(t, state, outputs, weights):
            new_state, context, w = self._core(inputs[t], state, cache)
            hit = ops.equal(steps, t)
            step = ops.concatenate([new_state[0], context], axis=-1)
            outputs = ops.where(hit, step[None], outputs)
            weights = ops.where(hit, w[None], weights)
            return t + 1, new_state, outputs, weights

        _, _, outputs, weights = ops.while_loop(
            lambda t, *_: t < length,
            body,
            (0, state, outputs, weights),
            maximum_iterations=length,
        )
        return outputs[..., : self.units], outputs[..., self.units :], weights

    def compute_output_spec(
        self,
        target_ids,
        memory,
        memory_mask=None,
        initial_state=None,
        return_attention_scores=False,
        training=None,
    ):
        batch, length = target_ids.shape
        dtype = upcast_dtype(self.compute_dtype)
        logits = keras.KerasTensor(
            (batch, length, self.vocab_size), dtype=dtype
        )
        if not return_attention_scores:
            return logits
        alignments = keras.KerasTensor(
            (batch, length, memory.shape[1]), dtype=dtype
        )
        return logits, alignments

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "attention_units": self.attention_units,
            "cell": self.cell,
            "attention": self.attention,
            "normalize": self.normalize,
            "probability_fn": serialize_probability_fn(self.probability_fn),
            "dropout": self.dropout,
            "maxout_units": self.maxout_units,
            "deep_output": self.deep_output,
            "bridge": self.bridge,
            "reset_after": self.reset_after,
            "bounded_loop": self.bounded_loop,
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer
            ),
            "recurrent_initializer": keras.initializers.serialize(
                self.recurrent_initializer
            ),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_probability_fn(config))


def _dense_weights(layer, cast):
    """`(kernel, bias)` of a `Dense` layer in the compute dtype."""
    return cast(layer.kernel), cast(layer.bias)


def _dense(layer, x, weights=None):
    """`layer(x)`, or the same product from pre-cast `(kernel, bias)`."""
    if weights is None:
        return layer(x)
    kernel, bias = weights
    return ops.matmul(x, kernel) + bias


def _as_state(initial_state, cell):
    if isinstance(initial_state, (list, tuple)):
        state = tuple(initial_state)
    else:
        state = (initial_state,)
    expected = 2 if cell == "lstm" else 1
    if len(state) != expected:
        raise ValueError(
            f"`initial_state` must hold {expected} tensor(s) for "
            f"cell={cell!r} ([h, c] for LSTM, h for GRU). Received "
            f"{len(state)}. Pass the state in that form."
        )
    return state


def _check_memory(memory_shape, memory_mask, memory_dim):
    """Rank, size and mask of the memory, against the built decoder."""
    check_rank("memory", memory_shape, (3,))
    check_time_steps("memory", memory_shape)
    check_last_dim(
        "memory", memory_shape, memory_dim,
        "The decoder was built for memories of that size; pass the memory "
        "of the same encoder or use a new decoder.",
    )
    if memory_mask is not None:
        check_rank("memory_mask", memory_mask.shape, (2,))
        check_mask("memory_mask", memory_mask.shape, "memory", memory_shape)


def _check_state(state_shape, memory_shape, units):
    """One initial state tensor: `(batch, units)`, the memory's batch."""
    check_rank("initial_state", state_shape, (2,))
    check_last_dim(
        "initial_state", state_shape, units,
        "Pass one state of the decoder's `units` per row.",
    )
    check_same_batch(
        "initial_state", state_shape, "memory", memory_shape,
        "Pass one state row per memory row.",
    )
