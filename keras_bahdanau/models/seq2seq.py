"""AttentionSeq2Seq: encoder + attentive decoder as one Keras model.

Longer than STYLE.md's ~400 lines because it is one model: the decoding
contract (`encode`, `decode_step`, `generate`), its compile defaults and
its config. The searches are in `decoding/`, the loss in `losses`, the
data checks in `data_checks`, the presets in `factory`.
"""

import inspect
import warnings
from typing import Callable

import keras
import numpy as np
from keras import ops

from keras_bahdanau import decoding
from keras_bahdanau.compilation import compile_function
from keras_bahdanau.layers.decoder import AttentiveDecoder
from keras_bahdanau.layers.encoder import BidirectionalEncoder
from keras_bahdanau.layers.probability import deserialize_probability_fn
from keras_bahdanau.layers.probability import serialize_probability_fn
from keras_bahdanau.layers.validation import check_bool
from keras_bahdanau.layers.validation import check_positive_int
from keras_bahdanau.layers.validation import check_rate
from keras_bahdanau.layers.validation import check_seed
from keras_bahdanau.layers.validation import check_special_ids
from keras_bahdanau.layers.validation import check_token_ids
from keras_bahdanau.models.data_checks import INPUT_KEYS
from keras_bahdanau.models.data_checks import check_data
from keras_bahdanau.models.data_checks import check_validation_data
from keras_bahdanau.models.losses import MaskedSparseCategoricalCrossentropy
from keras_bahdanau.models.losses import MaskedTokenAccuracy
from keras_bahdanau.optimizers import Adam

# Examples for the size arguments' error messages.
DEFAULT_SIZES = {
    "source_vocab_size": 8000,
    "target_vocab_size": 8000,
    "embedding_dim": 256,
    "encoder_units": 256,
    "decoder_units": 512,
    "attention_units": 512,
}


@keras.saving.register_keras_serializable(package="keras_bahdanau")
class AttentionSeq2Seq(keras.Model):
    """RNNsearch (Bahdanau et al., 2015): bi-RNN encoder, attentive decoder.

    `model((source_ids, target_ids))` returns teacher-forced logits: the
    decoder reads `target_ids` (start token first) and predicts the next
    token at every position. `generate` decodes from source ids alone with
    greedy search, beam search or sampling, compiled as one loop.

    Args:
        source_vocab_size: number of source token ids.
        target_vocab_size: number of target token ids.
        embedding_dim: size of both embeddings.
        encoder_units: units per encoder direction (memory `2 * units`).
        decoder_units: decoder RNN units.
        attention_units: attention MLP size.
        cell: `"gru"` or `"lstm"` (encoder and decoder).
        attention: `"bahdanau"` or `None` (plain encoder-decoder).
        normalize: weight-normalised attention score.
        probability_fn: `"softmax"`, `"sparsemax"` or a callable.
        dropout: dropout on embeddings and output features.
        maxout_units: maxout size of the deep output (paper: 500), or None.
        deep_output: output layer reads [s_i; c_i; E y_{i-1}] (paper).
        bridge: initial decoder state: `"backward"`, `"mean"` or `"zeros"`.
        reset_after: GRU variant (see `AttentiveDecoder`).
        pad_id: padding id (never emitted, masked in the loss).
        start_id: first decoder input (never emitted).
        end_id: end of sentence.
        **kwargs: base `keras.Model` arguments (`name`, `dtype`...).

    Call arguments:
        inputs: a tuple `(source_ids, target_ids)` of int tensors
            `(batch, source_len)` and `(batch, target_len)`.
        training: enables dropout.

    Returns:
        float32 logits `(batch, target_len, target_vocab_size)`.

    Example:

    >>> import numpy as np
    >>> import keras_bahdanau as kb
    >>> model = kb.build_model(20, 20, preset="tiny")
    >>> logits = model((np.array([[5, 6, 0]]), np.array([[1, 7]])))
    >>> tuple(logits.shape)
    (1, 2, 20)
    >>> out = model.generate(np.array([[5, 6, 0]]), max_length=4)
    >>> tuple(out["tokens"].shape)
    (1, 4)
    """

    def __init__(
        self,
        source_vocab_size: int,
        target_vocab_size: int,
        embedding_dim: int = 256,
        encoder_units: int = 256,
        decoder_units: int = 512,
        attention_units: int = 512,
        cell: str = "gru",
        attention: "str | None" = "bahdanau",
        normalize: bool = False,
        probability_fn: "str | Callable" = "softmax",
        dropout: float = 0.0,
        maxout_units: "int | None" = None,
        deep_output: bool = True,
        bridge: str = "backward",
        reset_after: bool = True,
        pad_id: int = 0,
        start_id: int = 1,
        end_id: int = 2,
        **kwargs,
    ):
        super().__init__(**kwargs)
        policy = self.dtype_policy
        if not all(
            keras.backend.is_float_dtype(dtype)
            for dtype in (policy.compute_dtype, policy.variable_dtype)
        ):
            raise ValueError(
                "`dtype` must be a floating-point dtype policy. Received: "
                f"dtype={kwargs.get('dtype')!r} (compute dtype "
                f"{policy.compute_dtype}, variables {policy.variable_dtype})."
                " Pass e.g. 'float32', 'mixed_bfloat16' or 'mixed_float16'."
            )
        # Checked here too, so that messages name the model's arguments
        # (the layers would name theirs: `units`, `vocab_size`). The checks
        # return plain ints (NumPy integers accepted): the config is JSON.
        sizes = {
            name: check_positive_int(
                name, value, f"{name}={DEFAULT_SIZES[name]}"
            )
            for name, value in (
                ("source_vocab_size", source_vocab_size),
                ("target_vocab_size", target_vocab_size),
                ("embedding_dim", embedding_dim),
                ("encoder_units", encoder_units),
                ("decoder_units", decoder_units),
                ("attention_units", attention_units),
            )
        }
        for name, value in (
            ("normalize", normalize),
            ("deep_output", deep_output),
            ("reset_after", reset_after),
        ):
            check_bool(name, value)
        special = check_special_ids(pad_id, start_id, end_id)
        for name, value in zip(("pad_id", "start_id", "end_id"), special):
            if value >= sizes["target_vocab_size"]:
                raise ValueError(
                    f"`{name}` must be an int in [0, target_vocab_size). "
                    f"Received: {name}={value!r}, target_vocab_size="
                    f"{target_vocab_size}. Use ids inside the vocabulary."
                )
        self.source_vocab_size = source_vocab_size = sizes["source_vocab_size"]
        self.target_vocab_size = target_vocab_size = sizes["target_vocab_size"]
        self.embedding_dim = embedding_dim = sizes["embedding_dim"]
        self.encoder_units = encoder_units = sizes["encoder_units"]
        self.decoder_units = decoder_units = sizes["decoder_units"]
        self.attention_units = attention_units = sizes["attention_units"]
        self.cell = cell
        self.attention = attention
        self.normalize = normalize
        self.probability_fn = probability_fn
        # Checked by the layers too; here so the stored values are plain
        # Python numbers (NumPy ones accepted): the config is JSON.
        self.dropout = dropout = check_rate("dropout", dropout)
        if maxout_units is not None:
            maxout_units = check_positive_int(
                "maxout_units", maxout_units, "maxout_units=500"
            )
        self.maxout_units = maxout_units
        self.deep_output = deep_output
        self.bridge = bridge
        self.reset_after = reset_after
        self.pad_id, self.start_id, self.end_id = special
        self.encoder = BidirectionalEncoder(
            source_vocab_size,
            embedding_dim,
            encoder_units,
            cell=cell,
            dropout=dropout,
            pad_id=self.pad_id,
            name="encoder",
            dtype=policy,
        )
        self.decoder = AttentiveDecoder(
            target_vocab_size,
            embedding_dim,
            decoder_units,
            attention_units,
            cell=cell,
            attention=attention,
            normalize=normalize,
            probability_fn=probability_fn,
            dropout=dropout,
            maxout_units=maxout_units,
            deep_output=deep_output,
            bridge=bridge,
            reset_after=reset_after,
            name="decoder",
            dtype=policy,
        )
        # Not a dict attribute: Keras and SavedModel would track it.
        self._generate_functions = _FunctionCache()

    def build(self, input_shape):
        source_shape, target_shape = _split_inputs(input_shape)
        self.encoder.build(source_shape)
        memory_shape = tuple(source_shape) + (2 * self.encoder_units,)
        self.decoder.build(target_shape, memory_shape)
        self.built = True

    def call(self, inputs, training=None):
        source_ids, target_ids = _split_inputs(inputs)
        memory = self.encoder(source_ids, training=training)
        memory_mask = ops.not_equal(source_ids, self.pad_id)
        return self.decoder(
            target_ids, memory, memory_mask=memory_mask, training=training
        )

    def compute_output_shape(self, input_shape):
        _, target_shape = _split_inputs(input_shape)
        return tuple(target_shape) + (self.target_vocab_size,)

    # ------------------------------------------------------------ Keras loops
    # Ids outside the vocabulary cannot be caught inside a compiled step
    # (TensorFlow fails without naming them, JAX trains to NaN): array data
    # is checked before Keras sees it (`data_checks`).
    def fit(self, x=None, y=None, *args, **kwargs):
        check_data(self, x, y)
        check_validation_data(self, kwargs.get("validation_data"))
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        check_data(self, x, y)
        return super().evaluate(x, y, *args, **kwargs)

    def train_on_batch(self, x, y=None, *args, **kwargs):
        check_data(self, x, y)
        return super().train_on_batch(x, y, *args, **kwargs)

    def test_on_batch(self, x, y=None, *args, **kwargs):
        check_data(self, x, y)
        return super().test_on_batch(x, y, *args, **kwargs)

    # ------------------------------------------------------ decoding contract
    def encode(self, source_ids, training=None):
        """Encodes a source batch for step-by-step decoding.

        Args:
            source_ids: int `(batch, source_len)`.
            training: enables dropout.

        Returns:
            `(state, cache)` as `AttentiveDecoder.prepare` returns them.
            An unbuilt model is built first (as `generate` does).
        """
        check_token_ids("source_ids", source_ids, self.source_vocab_size)
        source_ids = ops.convert_to_tensor(source_ids, "int32")
        if not self.built:
            self.build((source_ids.shape, (source_ids.shape[0], 1)))
        memory = self.encoder(source_ids, training=training)
        memory_mask = ops.not_equal(source_ids, self.pad_id)
        return self.decoder.prepare(memory, memory_mask)

    def decode_step(self, prev_ids, state, cache, training=None):
        """One decoder step: `(logits (batch, vocab), state, alignment)`."""
        return self.decoder.step(prev_ids, state, cache, training=training)

    def generate(
        self,
        source_ids,
        max_length: "int | None" = None,
        strategy: str = "greedy",
        beam_size: int = 4,
        length_penalty: float = 0.0,
        coverage_penalty: float = 0.0,
        temperature: float = 1.0,
        top_k: "int | None" = None,
        top_p: "float | None" = None,
        seed: "int | None" = None,
        return_alignments: bool = False,
        no_repeat_ngram_size: "int | None" = None,
    ) -> dict:
        """Decodes target ids from source ids, as one compiled loop.

        Args:
            source_ids: int `(batch, source_len)`, padded with `pad_id`.
            max_length: most output tokens; default
                `decoding.default_max_length(source_len)` =
                `min(2 * source_len + 10, 256)`.
            strategy: `"greedy"`, `"beam"` or `"sampling"`.
            beam_size: beams for `"beam"`.
            length_penalty: GNMT alpha for `"beam"`: scores are divided by
                `((5 + length) / 6) ** alpha`.
            coverage_penalty: GNMT beta in [0, 1000] for `"beam"`; needs
                attention (not for a model with `attention=None`).
            temperature: softmax temperature for `"sampling"`.
            top_k: sample among the k most likely tokens.
            top_p: nucleus sampling mass in (0, 1].
            seed: int seed in `[0, 2**32)` (or a
                `keras.random.SeedGenerator`); the same seed gives the same
                samples for the same batch on the same backend (TensorFlow
                and JAX draw different numbers from one seed; one number is
                drawn per row and step, so a sentence sampled in another
                batch size gets other numbers).
            return_alignments: also return the attention weights.
            no_repeat_ngram_size: None (off) or n >= 1, for every
                strategy: never emit a token that would repeat an n-gram
                already in the same output (`end_id` is never blocked).
                Stops the loops of under-trained models; 3 is a common
                choice for translation.

        Returns:
            A dict with `"tokens"` int32 `(batch, max_length)` (end_id kept,
            pad_id after it; start_id and pad_id are never emitted),
            `"scores"` float32 `(batch,)`: the sum of full-vocabulary
            log-softmax of the emitted tokens (end_id included), divided by
            the length penalty and plus the coverage penalty when set, and
            `"alignments"` float32 `(batch, max_length, source_len)` when
            asked. Beam search adds the sorted n-best `"beam_tokens"`
            `(batch, beam_size, max_length)` and `"beam_scores"`.

        Raises:
            ValueError: empty batch, zero-length source, rows of
                different lengths, wrong rank, ids outside
                `[0, source_vocab_size)`, or bad strategy settings.
            TypeError: `None` or non-integer `source_ids`.
        """
        check_token_ids("source_ids", source_ids, self.source_vocab_size)
        seed = check_seed(seed)
        source_ids = ops.convert_to_tensor(source_ids, "int32")
        decoding.check_source(source_ids.shape)
        source_len = source_ids.shape[1]
        if not self.built:
            self.build((source_ids.shape, (source_ids.shape[0], 1)))
        search, max_length = self._search(
            source_len,
            max_length,
            strategy,
            return_alignments,
            beam_size=beam_size,
            length_penalty=length_penalty,
            coverage_penalty=coverage_penalty,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            no_repeat_ngram_size=no_repeat_ngram_size,
        )
        key = (
            search.cache_key(),
            max_length,
            return_alignments,
            self.jit_compile is True,
        )
        function = self._generate_functions.get(key)
        if function is None:

            def run(source_ids, noise):
                return search(
                    self,
                    source_ids,
                    max_length=max_length,
                    noise=noise,
                    return_alignments=return_alignments,
                )

            function = compile_function(self, run)
            self._generate_functions[key] = function
        noise = search.noise(source_ids.shape[0], max_length, seed)
        outputs = function(source_ids, noise)
        return {k: ops.convert_to_numpy(v) for k, v in outputs.items()}

    def _search(
        self, source_len, max_length, strategy, return_alignments, **settings
    ):
        """The checked strategy and output length `generate` decodes with."""
        check_bool("return_alignments", return_alignments)
        if max_length is None:
            max_length = decoding.default_max_length(source_len)
        if isinstance(max_length, np.integer):
            max_length = int(max_length)
        check_positive_int("max_length", max_length, "max_length=50")
        if self.attention is None and settings.get("coverage_penalty"):
            # Without attention every alignment is zero: the penalty would
            # add the same meaningless -beta * n * log(1e-10) to all scores.
            raise ValueError(
                "`coverage_penalty` needs attention weights, and this "
                "model has attention=None. Received: coverage_penalty="
                f"{settings['coverage_penalty']!r}. Leave coverage_penalty "
                "at 0.0 for this model."
            )
        return decoding.get(strategy, **settings), max_length

    def check_generate_settings(self, **settings) -> None:
        """Raises what `generate` raises for these settings, decoding nothing.

        Everything but the source ids is checked: a caller with nothing to
        decode (e.g. `Translator.translate` of empty texts) fails on bad
        settings as it would with data.

        Args:
            **settings: `generate` keyword arguments (all but `source_ids`).

        Raises:
            TypeError: an argument `generate` does not take.
            ValueError: an invalid setting.

        Example:

        >>> import keras_bahdanau as kb
        >>> model = kb.build_model(20, 20, preset="tiny")
        >>> model.check_generate_settings(strategy="beam", beam_size=0)
        Traceback (most recent call last):
        ...
        ValueError: `beam_size` must be an int >= 1, e.g. beam_size=4. ...
        """
        bound = inspect.signature(self.generate).bind(None, **settings)
        bound.apply_defaults()
        args = dict(bound.arguments)
        del args["source_ids"]
        seed = args.pop("seed")
        self._search(
            1,
            args.pop("max_length"),
            args.pop("strategy"),
            args.pop("return_alignments"),
            **args,
        )
        check_seed(seed)

    def quantize(self, mode, *args, **kwargs):
        """Not supported: raises `NotImplementedError`.

        The decoder reads the float kernels of its layers directly (fused
        products in its step and training loop), so Keras' int8/float8
        layer quantization would leave `generate` on stale or raw integer
        weights instead of failing.
        """
        raise NotImplementedError(
            "`AttentionSeq2Seq.quantize` is not supported. Received: "
            f"mode={mode!r}. The decoder reads its layers' float kernels "
            "directly; keep the model in float32, or use the mixed_bfloat16 "
            "or pure bfloat16 dtype policy for smaller, faster inference."
        )

    # ---------------------------------------------------------- compile/save
    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """Compiles with the padding-masked loss and token accuracy.

        Args:
            optimizer: any Keras optimizer. The default, and the string
                `"adam"`, give `keras_bahdanau.optimizers.Adam()`: Keras'
                Adam with TensorFlow's one-pass update kernel.
            loss: default `MaskedSparseCategoricalCrossentropy(pad_id)`.
            metrics: default `[MaskedTokenAccuracy(pad_id)]`.
            **kwargs: other `keras.Model.compile` arguments
                (`jit_compile`, `steps_per_execution`...). With
                `jit_compile=True` on TensorFlow the decoder switches to its
                bounded time loop (XLA needs it for gradients).
        """
        if isinstance(optimizer, str) and optimizer.lower() == "adam":
            optimizer = Adam()
        if loss is None:
            loss = MaskedSparseCategoricalCrossentropy(pad_id=self.pad_id)
        if metrics is None:
            metrics = [MaskedTokenAccuracy(pad_id=self.pad_id)]
        # What `get_compile_config` saves (Keras would save the resolved
        # value of "auto", the saving backend's choice).
        # Keras turns jit_compile off (with a warning) under run_eagerly.
        self._jit_compile_argument = (
            False if kwargs.get("run_eagerly")
            else kwargs.get("jit_compile", "auto")
        )
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics,
                        **kwargs)
        if self.built and not self.optimizer.built:
            # Saved before its first step, the model then holds the
            # optimizer's slots, and loading it warns of no mismatch.
            self.optimizer.build(self.trainable_variables)
        variable_dtype = keras.backend.standardize_dtype(
            self.dtype_policy.variable_dtype
        )
        if variable_dtype in ("float16", "bfloat16") and isinstance(
            self.optimizer, keras.optimizers.Adam
        ):
            warnings.warn(
                f"Adam cannot train {variable_dtype} variables (policy "
                f"{self.dtype_policy.name!r}): in bfloat16 beta_2=0.999 "
                "rounds to 1 and no weight changes; in float16 training "
                "diverges. Train under 'mixed_bfloat16' or "
                "'mixed_float16' (float32 variables) and keep the pure "
                "policy for inference.",
                stacklevel=2,
            )
        # XLA on TensorFlow differentiates bounded loops only. The decoder
        # picks its loop when traced: the (faster) scan wherever its
        # hand-written loop gradient applies, the bounded loop elsewhere.
        self.decoder.xla_training = self.jit_compile is True

    def get_compile_config(self):
        """Keras' compile config with `jit_compile` as passed to `compile`.

        Keras saves the resolved value, so `"auto"` (the default) came back
        as the saving backend's choice: a model saved under TensorFlow
        trained op by op under JAX, and one saved under JAX trained with
        XLA under TensorFlow. `"auto"` now resolves where the model loads;
        an explicit `True` or `False` is kept.
        """
        config = super().get_compile_config()
        if config is not None and "jit_compile" in config:
            config["jit_compile"] = getattr(
                self, "_jit_compile_argument", config["jit_compile"]
            )
        return config

    def compile_from_config(self, config):
        """Recompiles a loaded model (optimizer state is restored after)."""
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)  # builds the optimizer of a built model

    def get_config(self):
        return {
            **super().get_config(),
            "source_vocab_size": self.source_vocab_size,
            "target_vocab_size": self.target_vocab_size,
            "embedding_dim": self.embedding_dim,
            "encoder_units": self.encoder_units,
            "decoder_units": self.decoder_units,
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
            "pad_id": self.pad_id,
            "start_id": self.start_id,
            "end_id": self.end_id,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_probability_fn(config))


class _FunctionCache:
    """Compiled generate functions by settings; invisible to tracking."""

    def __init__(self):
        self._functions = {}

    def get(self, key):
        return self._functions.get(key)

    def __setitem__(self, key, function):
        self._functions[key] = function


def _split_inputs(inputs):
    if isinstance(inputs, dict):
        source_key, target_key = INPUT_KEYS
        return inputs[source_key], inputs[target_key]
    if (
        not isinstance(inputs, (list, tuple))
        or len(inputs) != 2
        # A flat shape such as (batch, source_len) is not a pair of inputs.
        or any(x is None or isinstance(x, int) for x in inputs)
    ):
        raise ValueError(
            "`inputs` must be a tuple (source_ids, target_ids). "
            f"Received: {type(inputs).__name__}. Call the model as "
            "model((source_ids, target_ids))."
        )
    return inputs[0], inputs[1]
