"""Greedy search: the most likely token at every step."""

from keras import ops

from keras_bahdanau.decoding.base import TokenByTokenStrategy
from keras_bahdanau.decoding.base import register
from keras_bahdanau.decoding.base import top_emittable
from keras_bahdanau.decoding.topk import top_k


@register("greedy")
class GreedySearch(TokenByTokenStrategy):
    """Emits `argmax` of the emittable logits until `end_id`.

    Args:
        no_repeat_ngram_size: None or n >= 1: never emit a token that
            repeats an n-gram of the same output (`end_id` excepted).

    Example:

    >>> import numpy as np
    >>> import keras_bahdanau as kb
    >>> model = kb.build_model(12, 12, preset="tiny")
    >>> out = model.generate(np.array([[4, 5, 6]]), strategy="greedy",
    ...                      max_length=5)
    >>> out["tokens"].shape
    (1, 5)
    """

    def choose(self, logits, noise):
        # top_k, not argmax: Keras' float argmax adds four full passes over
        # the logits (a negative-zero fix). Ties go to the lowest id in both.
        # The blocked top_k reads the logits once (`decoding/topk.py`).
        return ops.cast(top_k(logits, 1)[1][:, 0], "int32")

    def pick(self, logits, model, tokens, step, noise):
        if self.no_repeat_ngram_size:
            return super().pick(logits, model, tokens, step, noise)
        # Without n-gram blocking: no (batch, vocab) ban pass and a cheaper
        # log-normaliser (`top_emittable`); the same tokens and scores.
        _, ids, log_norm = top_emittable(logits, 1, model)
        return ids[:, 0], log_norm
