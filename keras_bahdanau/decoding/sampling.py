"""Random sampling with temperature, top-k and nucleus (top-p) filters."""

import math
import numbers

import keras
from keras import ops

from keras_bahdanau.decoding.base import TokenByTokenStrategy
from keras_bahdanau.decoding.base import register
from keras_bahdanau.decoding.topk import top_k
from keras_bahdanau.layers.probability import LARGE_NEGATIVE

# The smallest normal float32: a smaller temperature divides by it instead
# (a subnormal one may flush to 0, and 0 / 0 is NaN). It is greedy already.
_MIN_TEMPERATURE = 1.1754944e-38
# The largest float32: a larger temperature (uniform already) would
# overflow the cast.
_MAX_TEMPERATURE = 3.4028235e38


def _divisor(temperature: float) -> float:
    """`temperature` within float32's normal range."""
    return min(max(temperature, _MIN_TEMPERATURE), _MAX_TEMPERATURE)


@register("sampling")
class RandomSampling(TokenByTokenStrategy):
    """Samples each token from the filtered, tempered distribution.

    The logits are divided by `temperature`, restricted to the `top_k` most
    likely tokens and then to the smallest set whose probability reaches
    `top_p` (the most likely token always stays; of tokens tied at the
    edge, the lowest ids enter first, as in `top_k`). A token is drawn by
    inverting the cumulative distribution with one uniform number per row
    and step; the numbers are drawn up front from `seed`, so the same seed
    gives the same samples on every backend run. `top_k=1` is greedy (ties
    to the lowest id). `pad_id`, `start_id` and n-gram-blocked tokens have
    probability exactly 0 at every temperature.

    Args:
        temperature: a finite number > 0; below 1 sharpens, above 1
            flattens. Tiny values give greedy search, huge ones a uniform
            draw among the allowed tokens.
        top_k: keep exactly the k most likely tokens, ties to the lowest id
            (None: all).
        top_p: nucleus mass in (0, 1] (None: no nucleus filter).
        no_repeat_ngram_size: None or n >= 1: never sample a token that
            repeats an n-gram of the same output.

    Example:

    >>> import numpy as np
    >>> import keras_bahdanau as kb
    >>> model = kb.build_model(12, 12, preset="tiny")
    >>> a = model.generate(np.array([[4, 5]]), strategy="sampling", seed=3,
    ...                    max_length=4)
    >>> b = model.generate(np.array([[4, 5]]), strategy="sampling", seed=3,
    ...                    max_length=4)
    >>> bool((a["tokens"] == b["tokens"]).all())
    True
    """

    def __init__(self, temperature: float = 1.0, top_k=None, top_p=None,
                 no_repeat_ngram_size: "int | None" = None):
        super().__init__(no_repeat_ngram_size)
        if (
            isinstance(temperature, bool)
            or not isinstance(temperature, numbers.Real)
            or not math.isfinite(temperature)
            or not temperature > 0
        ):
            raise ValueError(
                "`temperature` must be a finite number > 0, e.g. "
                f"temperature=0.7. Received: temperature={temperature!r}."
            )
        if top_k is not None and (
            isinstance(top_k, bool)
            or not isinstance(top_k, numbers.Integral)
            or top_k < 1
        ):
            raise ValueError(
                "`top_k` must be None or an int >= 1, e.g. top_k=10. "
                f"Received: top_k={top_k!r}."
            )
        if top_p is not None and (
            isinstance(top_p, bool)
            or not isinstance(top_p, numbers.Real)
            or not 0.0 < top_p <= 1.0
        ):
            raise ValueError(
                "`top_p` must be None or a number in (0, 1], e.g. "
                f"top_p=0.9. Received: top_p={top_p!r}."
            )
        self.temperature = float(temperature)
        self.top_k = None if top_k is None else int(top_k)
        self.top_p = None if top_p is None else float(top_p)

    def noise(self, batch, max_length, seed):
        return keras.random.uniform((max_length, batch), seed=seed)

    def choose(self, logits, noise):
        """Samples from emittable logits (banned ids at `LARGE_NEGATIVE`).

        Args:
            logits: float32 `(batch, vocab)` from `allowed`: `pad_id`,
                `start_id` and n-gram-blocked ids hold `LARGE_NEGATIVE`.
            noise: float `(batch,)` uniform numbers in [0, 1).

        Returns:
            int32 `(batch,)` sampled ids, never a banned one.
        """
        vocab = logits.shape[-1]
        drop = None  # ids to give probability exactly 0, beyond the banned
        if self.top_k is not None and self.top_k < vocab:
            # Exactly the ids top_k returns (ties to the lowest id, as in
            # greedy search), scattered into a (batch, vocab) mask.
            ids = top_k(logits, self.top_k)[1]
            rows = ops.shape(logits)[0]
            row_ids = ops.broadcast_to(
                ops.expand_dims(ops.arange(rows, dtype="int32"), 1),
                ops.shape(ids),
            )
            indices = ops.reshape(ops.stack([row_ids, ids], axis=-1), (-1, 2))
            ones = ops.reshape(ops.ones_like(ids, dtype="float32"), (-1,))
            drop = ops.scatter(indices, ones, (rows, vocab)) <= 0.0
        if self.temperature != 1.0:
            # Banned ids hold LARGE_NEGATIVE; after scaling they might not,
            # so they are banned again below.
            banned = logits <= LARGE_NEGATIVE
            drop = banned if drop is None else ops.logical_or(drop, banned)
            # From the row maximum: at most 0, so neither a huge nor a tiny
            # temperature overflows (no NaN).
            top = ops.max(logits, axis=-1, keepdims=True)
            logits = (logits - top) / _divisor(self.temperature)
        if drop is not None:
            logits = ops.where(drop, LARGE_NEGATIVE, logits)
        probs = ops.softmax(logits, axis=-1)
        if self.top_p is not None and self.top_p < 1.0:
            probs = self._nucleus(probs)
        # The first id of positive probability whose cumulative mass passes
        # the target. Not a count of `cumulative <= target`: a cumsum is not
        # monotonic on every backend (JAX adds in a tree order), so a count
        # could land on a zero-probability id.
        positive = probs > 0.0
        cumulative = ops.cumsum(probs, axis=-1)
        target = noise[:, None] * cumulative[:, -1:]
        position = ops.arange(vocab, dtype="int32")
        hit = ops.logical_and(positive, cumulative > target)
        first_hit = ops.min(ops.where(hit, position, vocab), axis=-1)
        # No hit when the target rounds up to the total: the last id of
        # positive probability.
        last = ops.max(ops.where(positive, position, -1), axis=-1)
        return ops.where(first_hit < vocab, first_hit, last)

    def _nucleus(self, probs):
        """`probs` with all but the smallest top-`top_p` set zeroed.

        The set is the n most likely ids, n the fewest whose mass reaches
        `top_p`; ids of equal probability enter lowest id first (as in
        `top_k`), so a tie at the edge does not take the whole tied group
        in (under bfloat16, 8000 logits hold only ~1,700 distinct values).

        Args:
            probs: float32 `(batch, vocab)` probabilities.

        Returns:
            `probs` with the ids outside the nucleus at exactly 0.
        """
        sorted_probs = ops.flip(ops.sort(probs, axis=-1), axis=-1)
        before = ops.cumsum(sorted_probs, axis=-1) - sorted_probs
        inside = before < self.top_p  # the first position always is
        keep = ops.sum(ops.cast(inside, "int32"), axis=-1, keepdims=True)
        # The smallest probability inside, and how many ids tied at it fit.
        threshold = ops.min(
            ops.where(inside, sorted_probs, 2.0), axis=-1, keepdims=True
        )
        above = probs > threshold
        room = keep - ops.sum(ops.cast(above, "int32"), axis=-1,
                              keepdims=True)
        tied = probs == threshold
        tie_rank = ops.cumsum(ops.cast(tied, "int32"), axis=-1)
        kept = ops.logical_or(
            above, ops.logical_and(tied, tie_rank <= room)
        )
        return ops.where(kept, probs, 0.0)
