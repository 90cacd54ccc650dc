"""Synthetic translation tasks with known answers, for tests and tutorials.

The sequence reversal task follows Joey NMT's
`scripts/generate_reverse_task.py`: the target is the source read backwards,
which needs attention to look at the far end of the source.
"""

import datetime

import numpy as np

from keras_bahdanau.layers.validation import check_seed
from keras_bahdanau.layers.validation import check_special_ids

_MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)


def _check_lengths(num_samples, min_length, max_length, vocab_size) -> None:
    for name, value in (
        ("num_samples", num_samples),
        ("min_length", min_length),
        ("max_length", max_length),
        ("vocab_size", vocab_size),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(
                f"`{name}` must be an int. Received: {name}={value!r}. Use "
                "a positive int."
            )
        if value < 1:
            raise ValueError(
                f"`{name}` must be at least 1. Received: {name}={value!r}. "
                "Use a positive int."
            )
    if min_length > max_length:
        raise ValueError(
            "`min_length` must not exceed `max_length`. Received: "
            f"min_length={min_length}, max_length={max_length}. Swap them."
        )


def reversal_task(
    num_samples: int,
    min_length: int = 5,
    max_length: int = 12,
    vocab_size: int = 10,
    seed: int = 0,
    pad_id: int = 0,
    start_id: int = 1,
    end_id: int = 2,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random id sequences and their reversals, ready for teacher forcing.

    Content tokens are drawn uniformly from `[first, first + vocab_size)`
    with `first = max(pad_id, start_id, end_id) + 1` (3 by default), so they
    never collide with the special ids; the model's vocabulary size must be
    at least `first + vocab_size`. Lengths are uniform in
    `[min_length, max_length]`. The three special ids must be ints >= 0
    (NumPy integers too) and all different, as in `AttentionSeq2Seq`.

    Args:
        num_samples: number of sequences.
        min_length: shortest source.
        max_length: longest source.
        vocab_size: number of distinct content tokens.
        seed: seed of `numpy.random.RandomState`.
        pad_id: padding id.
        start_id: id that starts every decoder input.
        end_id: id that ends every target.

    Returns:
        int32 arrays `(source_ids, decoder_input_ids, target_ids)`:
        `source_ids` `(num_samples, max_length)` padded at the end;
        `target_ids` `(num_samples, max_length + 1)`, the reversed source
        followed by `end_id`, padded with `pad_id`; `decoder_input_ids` of
        the same shape, exactly `start_id` followed by `target_ids[:, :-1]`
        (so it holds `end_id` where the target holds the first `pad_id`; a
        loss masked on `target_ids != pad_id` ignores that position).

    Raises:
        TypeError: a size or special id that is not an int (bools
            included).
        ValueError: a size below 1, `min_length > max_length`, a negative
            special id, or two special ids that are equal (e.g. `end_id`
            equal to `pad_id` would make every end look like padding).

    Example:

    >>> import keras_bahdanau as kb
    >>> src, dec_in, tgt = kb.reversal_task(2, 2, 3, seed=1)
    >>> src.shape, dec_in.shape, tgt.shape
    ((2, 3), (2, 4), (2, 4))
    """
    _check_lengths(num_samples, min_length, max_length, vocab_size)
    pad_id, start_id, end_id = check_special_ids(pad_id, start_id, end_id)
    rng = np.random.RandomState(
        check_seed(seed, generator=False, allow_none=False)
    )
    first = max(pad_id, start_id, end_id) + 1
    source = np.full((num_samples, max_length), pad_id, dtype=np.int32)
    target = np.full((num_samples, max_length + 1), pad_id, dtype=np.int32)
    decoder_input = np.full_like(target, pad_id)
    lengths = rng.randint(min_length, max_length + 1, size=num_samples)
    for row, length in enumerate(lengths):
        tokens = rng.randint(first, first + vocab_size, size=length)
        source[row, :length] = tokens
        target[row, :length] = tokens[::-1]
        target[row, length] = end_id
    decoder_input[:, 0] = start_id
    decoder_input[:, 1:] = target[:, :-1]
    return source, decoder_input, target


def reversal_text_pairs(
    num_samples: int,
    min_length: int = 3,
    max_length: int = 8,
    vocab_size: int = 10,
    seed: int = 0,
) -> list[tuple[str, str]]:
    """The reversal task as text: `("3 9 4", "4 9 3")`.

    Words are the decimal numbers `0 .. vocab_size - 1` separated by single
    spaces.

    Args:
        num_samples: number of pairs.
        min_length: fewest words.
        max_length: most words.
        vocab_size: number of distinct words.
        seed: seed of `numpy.random.RandomState`.

    Returns:
        A list of `(source, reversed source)` string pairs.

    Example:

    >>> import keras_bahdanau as kb
    >>> kb.reversal_text_pairs(1, seed=0)
    [('5 0 3 3 7 9 3', '3 9 7 3 3 0 5')]
    """
    _check_lengths(num_samples, min_length, max_length, vocab_size)
    rng = np.random.RandomState(
        check_seed(seed, generator=False, allow_none=False)
    )
    pairs = []
    for _ in range(num_samples):
        length = rng.randint(min_length, max_length + 1)
        words = [str(w) for w in rng.randint(0, vocab_size, size=length)]
        pairs.append((" ".join(words), " ".join(words[::-1])))
    return pairs


def _date_formats(date: datetime.date) -> list[str]:
    month = _MONTHS[date.month - 1]
    weekday = date.strftime("%A").lower()
    d, m, y = date.day, date.month, date.year
    return [
        f"{month} {d}, {y}",
        f"{d} {month} {y}",
        f"{month[:3]} {d} {y}",
        f"{d:02d}/{m:02d}/{y}",
        f"{weekday}, {month} {d}, {y}",
        f"{y} {month} {d}",
        f"the {d} of {month}, {y}",
    ]


def date_text_pairs(num_samples: int, seed: int = 0) -> list[tuple[str, str]]:
    """Dates written in several ways, to be translated into ISO 8601.

    Sources use one of seven formats chosen at random, e.g.
    `"march 3, 1998"`, `"3 march 1998"`, `"mar 3 1998"`, `"03/03/1998"`
    (day/month/year), `"tuesday, march 3, 1998"`, `"1998 march 3"`,
    `"the 3 of march, 1998"`; targets are `"1998-03-03"`. Dates are uniform
    between 1950-01-01 and 2049-12-31.

    Args:
        num_samples: number of pairs.
        seed: seed of `numpy.random.RandomState`.

    Returns:
        A list of `(written date, ISO date)` string pairs.

    Example:

    >>> import keras_bahdanau as kb
    >>> kb.date_text_pairs(2, seed=0)
    [('1957 june 25', '1957-06-25'), ('29/02/2008', '2008-02-29')]
    """
    _check_lengths(num_samples, 1, 1, 1)
    rng = np.random.RandomState(
        check_seed(seed, generator=False, allow_none=False)
    )
    first = datetime.date(1950, 1, 1).toordinal()
    last = datetime.date(2049, 12, 31).toordinal()
    pairs = []
    for _ in range(num_samples):
        date = datetime.date.fromordinal(int(rng.randint(first, last + 1)))
        formats = _date_formats(date)
        source = formats[rng.randint(len(formats))]
        pairs.append((source, date.isoformat()))
    return pairs
