"""The decoding contract, the shared token-by-token loop and the registry.

A strategy depends only on the model's step contract:

- `model.encode(source_ids) -> (state, cache)`;
- `model.decode_step(prev_ids, state, cache) -> (logits, state, weights)`
  with float32 logits `(batch, vocab)` and weights `(batch, source_len)`;
- `model.pad_id`, `model.start_id`, `model.end_id`.

`cache["kernels"]` holds batch-independent weights; every other cache entry
and every state tensor is batch-major, so a search may repeat or reorder
rows. Loops run as `keras.ops.while_loop` and stop once every row has
emitted `end_id`; the model compiles the whole search.
"""

import inspect
import numbers
from typing import Callable

from keras import ops

from keras_bahdanau.decoding.repetition import ban_repeated_ngrams
from keras_bahdanau.decoding.repetition import check_ngram_size
from keras_bahdanau.decoding.topk import ordered_top_k
from keras_bahdanau.decoding.topk import top_k
from keras_bahdanau.layers.probability import LARGE_NEGATIVE

# Longest default output: `max_length` is min(2 * source_len + 10, this).
MAX_DEFAULT_LENGTH = 256


def default_max_length(source_len: int) -> int:
    """The default output budget: `min(2 * source_len + 10, 256)`."""
    return min(2 * int(source_len) + 10, MAX_DEFAULT_LENGTH)


def check_source(shape) -> None:
    """Raises `ValueError` for a source that cannot be decoded."""
    if len(shape) != 2:
        raise ValueError(
            "`source_ids` must have rank 2 (batch, source_len). "
            f"Received: source_ids.shape={tuple(shape)}. Add a batch axis "
            "for a single sentence."
        )
    if shape[0] == 0:
        raise ValueError(
            "`source_ids` must hold at least one row. Received: "
            f"source_ids.shape={tuple(shape)}. Skip the call for an empty "
            "batch."
        )
    if shape[1] == 0:
        raise ValueError(
            "`source_ids` must have at least one position. Received: "
            f"source_ids.shape={tuple(shape)}. Pad empty sentences to "
            "length 1 with pad_id (they decode to end_id at once)."
        )


def emittable(logits, model):
    """Logits with `pad_id` and `start_id` made impossible to choose."""
    vocab = ops.shape(logits)[-1]
    ids = ops.arange(vocab)
    banned = ops.logical_or(
        ops.equal(ids, model.pad_id), ops.equal(ids, model.start_id)
    )
    return ops.where(banned, LARGE_NEGATIVE, logits)


def top_emittable(logits, k: int, model):
    """The `k` best emittable logits of each row, and its log-normaliser.

    The same as `top_k(emittable(logits), k)` and `logsumexp(logits)`, in
    fewer passes over the `(rows, vocab)` logits: the `k + 2` best raw
    logits (blocked top-k) always hold the `k` best emittable ones (only
    `pad_id` and `start_id` are banned), and the log-normaliser is
    `max(logits) - log(softmax(logits)[argmax])`, exact, with a
    probability of at least `1 / vocab` (no underflow). Per decoding step
    at batch 64 and vocabulary 8000: 1.60 against 2.44 ms for beam 5
    (1.5x), 0.29 against 0.46 ms for greedy (1.6x)
    (`benchmarks/top_k.py --pipeline`, TensorFlow CPU).

    Args:
        logits: float32 `(rows, vocab)`.
        k: the number of results, `1 <= k <= vocab` (past the emittable
            ids, the values are `LARGE_NEGATIVE`).
        model: the step model (`pad_id`, `start_id`).

    Returns:
        `(values, ids, log_norm)`: `(rows, k)` logits in descending order,
        their int32 ids (ties to the lowest id) and `(rows,)`
        `logsumexp(logits)` over the whole vocabulary.
    """
    vocab = logits.shape[-1]
    raw, raw_ids = top_k(logits, min(k + 2, vocab))
    top_prob = ops.take_along_axis(
        ops.softmax(logits, axis=-1), raw_ids[:, :1], axis=1
    )[:, 0]
    log_norm = raw[:, 0] - ops.log(top_prob)
    banned = ops.logical_or(
        ops.equal(raw_ids, model.pad_id), ops.equal(raw_ids, model.start_id)
    )
    values, position = ordered_top_k(
        ops.where(banned, LARGE_NEGATIVE, raw), k
    )
    return values, ops.take_along_axis(raw_ids, position, axis=1), log_norm


def empty_rows(cache):
    """Boolean `(batch,)`: rows whose source is all padding."""
    return ops.logical_not(ops.any(cache["memory_mask"], axis=1))


def write_column(matrix, column, values):
    """`matrix[:, column] = values` for a rank-2 or rank-3 matrix."""
    length = ops.shape(matrix)[1]
    hit = ops.equal(ops.arange(length), column)
    hit = ops.reshape(hit, (1, -1) + (1,) * (len(matrix.shape) - 2))
    return ops.where(hit, ops.expand_dims(values, 1), matrix)


class DecodingStrategy:
    """Base class: validated settings and the callable search.

    Subclasses implement `search`, and `noise` when they are random.

    Args:
        no_repeat_ngram_size: None (off) or n >= 1: never emit a token that
            repeats an n-gram of the same output (`end_id` excepted).
    """

    name = "base"

    def __init__(self, no_repeat_ngram_size: "int | None" = None):
        self.no_repeat_ngram_size = check_ngram_size(no_repeat_ngram_size)

    def allowed(self, logits, model, tokens, step):
        """Emittable logits, less the tokens that repeat an n-gram.

        Args:
            logits: `(rows, vocab)` scores of the next token.
            model: the step model (`pad_id`, `start_id`, `end_id`).
            tokens: int `(rows, max_length)` outputs so far.
            step: the column the next token goes to.

        Returns:
            `logits` with `pad_id`, `start_id` and blocked tokens set to
            `LARGE_NEGATIVE`.
        """
        logits = emittable(logits, model)
        if self.no_repeat_ngram_size:
            logits = ban_repeated_ngrams(
                logits, tokens, step, self.no_repeat_ngram_size, model.end_id
            )
        return logits

    def cache_key(self) -> tuple:
        """Hashable settings: one compiled function per distinct key.

        The class is part of the key: a strategy registered again under
        the same name (an edited notebook cell run again) gets its own
        compiled function, not the old class's.
        """
        return (type(self), self.name) + tuple(sorted(vars(self).items()))

    def noise(self, batch: int, max_length: int, seed):
        """Random numbers the search consumes (None when deterministic)."""
        return None

    def __call__(
        self, model, source_ids, max_length, noise=None,
        return_alignments=False
    ) -> dict:
        return self.search(
            model, source_ids, max_length, noise, return_alignments
        )

    def search(self, model, source_ids, max_length, noise,
               return_alignments) -> dict:
        raise NotImplementedError


class TokenByTokenStrategy(DecodingStrategy):
    """One token per row and step; subclasses choose it in `choose`.

    The shared loop encodes once, calls `model.decode_step` per step,
    keeps `pad_id`/`start_id` (and blocked n-grams) out of `choose`'s
    logits, scores each emitted token by its log-softmax, stops a row
    after `end_id` and pads it. A new strategy only picks the token; see
    `register` for an example.

    Args:
        no_repeat_ngram_size: None (off) or n >= 1, as in
            `DecodingStrategy`.
    """

    def choose(self, logits, noise):
        """Returns int32 `(batch,)` next tokens from emittable logits."""
        raise NotImplementedError

    def pick(self, logits, model, tokens, step, noise):
        """The next tokens and the log-normaliser of `logits`.

        Args:
            logits: float32 `(batch, vocab)` of the step.
            model: the step model.
            tokens: int32 `(batch, max_length)` outputs so far.
            step: the column the next token goes to.
            noise: this step's random numbers, or None.

        Returns:
            `(tokens, log_norm)`: int32 `(batch,)` choices among the
            emittable, not n-gram-blocked tokens (`choose`) and `(batch,)`
            `logsumexp(logits)`.
        """
        token = self.choose(self.allowed(logits, model, tokens, step), noise)
        return token, ops.logsumexp(logits, axis=-1)

    def search(self, model, source_ids, max_length, noise,
               return_alignments) -> dict:
        state, cache = model.encode(source_ids)
        # Dynamic sizes: a relaxed trace (tf.function reduce_retracing)
        # sees source_ids.shape == (None, None).
        batch, source_len = ops.shape(source_ids)[0], ops.shape(source_ids)[1]
        empty = empty_rows(cache)
        tokens = ops.full((batch, max_length), model.pad_id, "int32")
        scores = ops.zeros((batch,), "float32")
        finished = ops.zeros((batch,), "bool")
        # Alignments are carried only when asked for (a 1-step stand-in).
        align_len = max_length if return_alignments else 1
        alignments = ops.zeros((batch, align_len, source_len), "float32")
        prev = ops.full((batch,), model.start_id, "int32")

        def cond(t, prev, state, tokens, scores, finished, alignments):
            return ops.logical_and(
                t < max_length, ops.logical_not(ops.all(finished))
            )

        def body(t, prev, state, tokens, scores, finished, alignments):
            logits, state, weights = model.decode_step(prev, state, cache)
            step_noise = None if noise is None else noise[t]
            token, log_norm = self.pick(logits, model, tokens, t, step_noise)
            # An all-padding source decodes to end_id at once.
            token = ops.where(
                ops.logical_and(empty, ops.equal(t, 0)), model.end_id, token
            )
            token = ops.where(finished, model.pad_id, token)
            # log_softmax at the chosen id only: no (batch, vocab) output.
            chosen = ops.take_along_axis(logits, token[:, None], axis=1)
            chosen = chosen[:, 0] - log_norm
            scores = scores + ops.where(finished, 0.0, chosen)
            tokens = write_column(tokens, t, token)
            if return_alignments:
                weights = ops.where(
                    finished[:, None], 0.0, ops.cast(weights, "float32")
                )
                alignments = write_column(alignments, t, weights)
            finished = ops.logical_or(finished, ops.equal(token, model.end_id))
            return t + 1, token, state, tokens, scores, finished, alignments

        loop = ops.while_loop(
            cond,
            body,
            (0, prev, state, tokens, scores, finished, alignments),
        )
        outputs = {"tokens": loop[3], "scores": loop[4]}
        if return_alignments:
            outputs["alignments"] = loop[6]
        return outputs


_REGISTRY: "dict[str, Callable]" = {}


def register(name: str):
    """Class decorator adding a strategy to the registry under `name`.

    `model.generate(..., strategy=name)` and `get(name, ...)` then build
    it; its constructor arguments are taken from `generate`'s settings.

    Args:
        name: the `strategy` string that selects the class.

    Returns:
        The decorator; it sets `cls.name` and returns the class unchanged.

    Example:

    >>> import numpy as np
    >>> from keras import ops
    >>> import keras_bahdanau as kb
    >>> from keras_bahdanau import decoding
    >>> @decoding.register("runner_up")
    ... class RunnerUp(decoding.TokenByTokenStrategy):
    ...     def choose(self, logits, noise):  # the second most likely token
    ...         return ops.cast(ops.top_k(logits, 2)[1][:, 1], "int32")
    >>> model = kb.build_model(12, 12, preset="tiny")
    >>> out = model.generate(np.array([[4, 5, 6]]), strategy="runner_up",
    ...                      max_length=4)
    >>> out["tokens"].shape, out["scores"].shape
    ((1, 4), (1,))
    """

    def decorator(cls):
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorator


# `AttentionSeq2Seq.generate`'s defaults of the settings one strategy
# takes: a strategy that does not take one requires its default (generate
# passes every setting). `beam_size` always comes with its default of 4.
GENERATE_DEFAULTS = {
    "length_penalty": 0.0,
    "coverage_penalty": 0.0,
    "temperature": 1.0,
    "top_k": None,
    "top_p": None,
}


def _is_default(value, default) -> bool:
    if default is None:
        return value is None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return value == default


def _check_unused(name: str, settings: dict, accepted) -> None:
    """Raises `ValueError` for a non-default setting `name` does not take."""
    for key, value in settings.items():
        if key in accepted or key not in GENERATE_DEFAULTS:
            continue
        default = GENERATE_DEFAULTS[key]
        if _is_default(value, default):
            continue
        users = [
            other for other, cls in sorted(_REGISTRY.items())
            if key in inspect.signature(cls).parameters
        ]
        where = (
            f"strategy={users[0]!r}" if len(users) == 1
            else f"strategy in {users}"
        )
        use = " or ".join(f"strategy={u!r}" for u in users)
        raise ValueError(
            f"`{key}` applies to {where} only. Received: {key}={value!r} "
            f"with strategy={name!r}. Use {use} or leave {key} at "
            f"{default!r}."
        )


def get(name: str, **settings) -> DecodingStrategy:
    """Builds the strategy `name` from the settings it accepts.

    Args:
        name: `"greedy"`, `"beam"` or `"sampling"`.
        **settings: every `generate` setting; each strategy takes the ones
            it uses (`beam_size`, `length_penalty`, `coverage_penalty` for
            beam; `temperature`, `top_k`, `top_p` for sampling;
            `no_repeat_ngram_size` for all). `length_penalty`,
            `coverage_penalty`, `temperature`, `top_k` and `top_p` must keep
            `generate`'s defaults (0.0, 0.0, 1.0, None, None) for a strategy
            that does not use them; `beam_size` is ignored there.

    Returns:
        The strategy instance.

    Raises:
        ValueError: unknown name, invalid settings, or a setting the
            strategy does not use given a value other than its default.

    Example:

    >>> from keras_bahdanau import decoding
    >>> beam = decoding.get("beam", beam_size=3, temperature=1.0)
    >>> type(beam).__name__, beam.beam_size
    ('BeamSearch', 3)
    >>> decoding.get("greedy", length_penalty=0.6)
    Traceback (most recent call last):
    ...
    ValueError: `length_penalty` applies to strategy='beam' only. ...
    """
    if name not in _REGISTRY:
        raise ValueError(
            f"`strategy` must be one of {sorted(_REGISTRY)}. "
            f"Received: strategy={name!r}. Pick one of those."
        )
    cls = _REGISTRY[name]
    accepted = inspect.signature(cls).parameters
    _check_unused(name, settings, accepted)
    return cls(**{k: v for k, v in settings.items() if k in accepted})
