"""Blocking repeated n-grams during search (`no_repeat_ngram_size`).

Untrained and under-trained attention models often loop ("the the the",
"a b a b a b") until the length budget runs out. With
`no_repeat_ngram_size=n` a search never emits a token that would complete an
n-gram already present in the same output, as in fairseq and Hugging Face
`generate`. `end_id` is never blocked, so a row can always stop.
"""

import numbers

from keras import ops

from keras_bahdanau.layers.probability import LARGE_NEGATIVE


def check_ngram_size(value) -> "int | None":
    """Validates `no_repeat_ngram_size`: None (off) or an int >= 1.

    Raises:
        ValueError: any other value, with an example of a valid one.
    """
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < 1
    ):
        raise ValueError(
            "`no_repeat_ngram_size` must be None (off) or an int >= 1, e.g. "
            "no_repeat_ngram_size=3. "
            f"Received: no_repeat_ngram_size={value!r}."
        )
    return int(value)


def ban_repeated_ngrams(logits, tokens, step, size: int, end_id: int):
    """Makes every token that would repeat an n-gram impossible to choose.

    Row `b` has emitted `tokens[b, :step]`. A token `x` is blocked when
    `tokens[b, step - size + 1 : step] + [x]` already occurs in
    `tokens[b, :step]`; with `size=1` every emitted token is blocked.

    Args:
        logits: float `(rows, vocab)` scores of the next token.
        tokens: int `(rows, max_length)` outputs so far; columns from `step`
            on are ignored.
        step: scalar int, the column the next token goes to.
        size: n, the n-gram length (>= 1).
        end_id: never blocked.

    Returns:
        `logits` with blocked tokens set to `LARGE_NEGATIVE`.

    Example:

    >>> import numpy as np
    >>> from keras_bahdanau.decoding.repetition import ban_repeated_ngrams
    >>> logits = np.zeros((1, 5), "float32")
    >>> tokens = np.array([[3, 4, 3, 0]])   # next: column 3, after "3"
    >>> out = ban_repeated_ngrams(logits, tokens, 3, 2, end_id=2)
    >>> np.asarray(out)[0].tolist()          # "3 4" seen: 4 is blocked
    [0.0, 0.0, 0.0, 0.0, -1000000000.0]
    """
    length = tokens.shape[1]
    vocab = logits.shape[-1]
    rows = ops.shape(tokens)[0]
    tokens = ops.cast(tokens, "int32")
    step = ops.convert_to_tensor(step, "int32")

    def shifted(k):
        # shifted(k)[:, i] = tokens[:, i + k] (pad_id beyond the end).
        if k == 0:
            return tokens
        return ops.concatenate(
            [tokens[:, k:], ops.zeros_like(tokens[:, :k])], axis=1
        )

    # Candidate n-gram i is tokens[i : i + size]; it is complete before
    # `step` when i + size - 1 < step, and blocks its last token when its
    # first size - 1 tokens equal the last size - 1 emitted ones.
    starts = ops.arange(length)
    match = ops.broadcast_to(
        ops.expand_dims(starts + (size - 1) < step, 0), (rows, length)
    )
    for k in range(size - 1):
        column = ops.clip(step - (size - 1) + k, 0, length - 1)
        previous = ops.take(tokens, ops.expand_dims(column, 0), axis=1)
        match = ops.logical_and(match, ops.equal(shifted(k), previous))
    blocked = shifted(size - 1)
    row_ids = ops.broadcast_to(ops.expand_dims(ops.arange(rows), 1),
                               (rows, length))
    indices = ops.reshape(ops.stack([row_ids, blocked], axis=-1), (-1, 2))
    counts = ops.scatter(
        indices, ops.reshape(ops.cast(match, "float32"), (-1,)),
        (rows, vocab),
    )
    banned = ops.logical_and(
        counts > 0.0, ops.expand_dims(ops.arange(vocab) != end_id, 0)
    )
    return ops.where(banned, ops.cast(LARGE_NEGATIVE, logits.dtype), logits)
