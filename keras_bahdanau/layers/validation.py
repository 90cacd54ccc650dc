"""Argument checks shared by the layers; messages follow STYLE.md."""

import numbers
from typing import Sequence

import keras
import numpy as np

from keras_bahdanau.compilation import concrete_value


def is_integer(value) -> bool:
    """Whether `value` is an integer (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(
        value, (bool, np.bool_)
    )


def check_positive_int(name: str, value, example: str) -> int:
    """`value` as a plain int, or `ValueError` unless it is an int >= 1.

    NumPy integers (e.g. `np.int64(16)`) are accepted and returned as a
    Python `int`, so configs that store the returned value stay
    JSON-serialisable; bools are refused.

    Raises:
        ValueError: `value` is not an integer, is a bool, or is below 1.
    """
    if not is_integer(value) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive int, e.g. {example}. "
            f"Received: {name}={value!r}"
        )
    return int(value)


def check_special_id(name: str, value, example: str) -> int:
    """`value` as a plain int: a token id (`pad_id`, `start_id`...) >= 0.

    NumPy integers are accepted and returned as a Python `int` (so
    `get_config` stays JSON-serialisable); bools are refused.

    Raises:
        TypeError: `value` is not an integer (a float, a str, None, a
            bool).
        ValueError: `value` is negative.
    """
    if not is_integer(value):
        raise TypeError(
            f"`{name}` must be an int (a token id). Received: "
            f"{name}={value!r} of type {type(value).__name__}. Pass e.g. "
            f"{example}."
        )
    if value < 0:
        raise ValueError(
            f"`{name}` must be a non-negative int (a token id). Received: "
            f"{name}={value!r}. Pass e.g. {example}."
        )
    return int(value)


def check_special_ids(pad_id, start_id, end_id) -> tuple[int, int, int]:
    """`(pad_id, start_id, end_id)` as plain ints: >= 0 and all different.

    Raises:
        TypeError: an id that is not an integer (bools included).
        ValueError: a negative id, or two ids that are equal.
    """
    special = {
        "pad_id": check_special_id("pad_id", pad_id, "pad_id=0"),
        "start_id": check_special_id("start_id", start_id, "start_id=1"),
        "end_id": check_special_id("end_id", end_id, "end_id=2"),
    }
    if len(set(special.values())) != 3:
        raise ValueError(
            "`pad_id`, `start_id` and `end_id` must be different. "
            f"Received: {special}. Give each special token its own id."
        )
    return special["pad_id"], special["start_id"], special["end_id"]


def check_seed(
    seed, generator: bool = True, allow_none: bool = True, why_int: str = ""
):
    """`seed` as an int in `[0, 2**32)`, `None`, or a `SeedGenerator`.

    Args:
        seed: the value to check.
        generator: whether a `keras.random.SeedGenerator` is accepted
            (not where the seed reseeds everything through
            `keras.utils.set_random_seed`).
        allow_none: whether `None` (no fixed seed) is accepted; the
            messages name only what is accepted.
        why_int: where `None` is refused, why the caller needs a fixed
            seed; the message for `seed=None` gives it.

    Raises:
        TypeError: a seed that is not an integer (bools included), a
            `SeedGenerator` where `generator` is False, or `None` where
            `allow_none` is False.
        ValueError: an integer outside `[0, 2**32)` (the backends disagree
            on those: TensorFlow takes negative seeds, JAX does not).
    """
    accepted = "None or an int" if allow_none else "an int"
    if isinstance(seed, keras.random.SeedGenerator):
        if generator:
            return seed
        raise TypeError(
            f"`seed` must be {accepted}: it reseeds everything with "
            "`keras.utils.set_random_seed`. Received a SeedGenerator. Pass "
            "e.g. seed=0."
        )
    if seed is None:
        if allow_none:
            return seed
        reason = f": {why_int}" if why_int else ""
        raise TypeError(
            f"`seed` must be an int{reason}. Received: seed=None. Pass e.g. "
            "seed=42."
        )
    if isinstance(seed, (bool, np.bool_)) or not isinstance(
        seed, numbers.Integral
    ):
        raise TypeError(
            f"`seed` must be {accepted}. Received: seed={seed!r} of "
            f"type {type(seed).__name__}. Pass e.g. seed=42."
        )
    if not 0 <= seed < 2**32:
        raise ValueError(
            f"`seed` must be in [0, 2**32). Received: seed={seed}. Pass "
            "e.g. seed=42."
        )
    return int(seed)


def check_rate(name: str, value) -> float:
    """`value` as a plain float, or `ValueError` unless it is in [0, 1).

    NumPy numbers (e.g. `np.float32(0.1)`) are accepted and returned as a
    Python `float`; bools are refused.

    Raises:
        ValueError: `value` is not a real number, is a bool, or is outside
            [0, 1).
    """
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, numbers.Real)
        or not 0.0 <= value < 1.0
    ):
        raise ValueError(
            f"`{name}` must be a float in [0, 1), e.g. {name}=0.1. "
            f"Received: {name}={value!r}"
        )
    return float(value)


def check_choice(name: str, value, choices: Sequence) -> None:
    """Raises `ValueError` unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {list(choices)}. "
            f"Received: {name}={value!r}. Pick one of those."
        )


def check_rank(name: str, shape, ranks: Sequence[int]) -> None:
    """Raises `ValueError` unless `len(shape)` is one of `ranks`."""
    if len(shape) not in ranks:
        expected = " or ".join(str(r) for r in ranks)
        raise ValueError(
            f"`{name}` must have rank {expected}. "
            f"Received: {name}.shape={tuple(shape)} (rank {len(shape)}). "
            "Add or remove the batch/time axis to match."
        )


def check_type(name: str, value, cls: type, fix: str) -> None:
    """Raises `TypeError` unless `value` is an instance of `cls`."""
    if not isinstance(value, cls):
        raise TypeError(
            f"`{name}` must be a {cls.__name__}. Received: "
            f"{type(value).__name__}. {fix}"
        )


def check_bool(name: str, value) -> None:
    """Raises `TypeError` unless `value` is a bool (not a string or int)."""
    if not isinstance(value, bool):
        raise TypeError(
            f"`{name}` must be a bool. Received: {name}={value!r}. "
            "Pass True or False."
        )


def check_last_dim(name: str, shape, expected: int, fix: str) -> None:
    """Raises `ValueError` when the last axis of `shape` is not `expected`.

    An unknown (`None`) size passes: it is checked when it is known.
    """
    if shape[-1] is not None and shape[-1] != expected:
        raise ValueError(
            f"`{name}` must have last dimension {expected}. "
            f"Received: {name}.shape={tuple(shape)}. {fix}"
        )


def check_same_batch(
    name: str, shape, other: str, other_shape, fix: str
) -> None:
    """Raises `ValueError` when two known batch sizes (axis 0) differ."""
    batch, other_batch = shape[0], other_shape[0]
    if batch is not None and other_batch is not None and batch != other_batch:
        raise ValueError(
            f"`{name}` and `{other}` must have the same batch size. "
            f"Received: {name}.shape={tuple(shape)}, "
            f"{other}.shape={tuple(other_shape)}. {fix}"
        )


def check_time_steps(name: str, shape) -> None:
    """Raises `ValueError` when axis 1 (time) of `shape` is known to be 0."""
    if shape[1] == 0:
        raise ValueError(
            f"`{name}` must have at least one time step. "
            f"Received: {name}.shape={tuple(shape)}. Pass at least one token "
            "per row (pad shorter rows with `pad_id`)."
        )


def check_mask(
    name: str, mask_shape, values_name: str, values_shape
) -> None:
    """Raises `ValueError` unless `mask_shape` is `values_shape[:2]`."""
    expected = tuple(values_shape[:2])
    ok = len(mask_shape) == 2 and all(
        m is None or e is None or m == e for m, e in zip(mask_shape, expected)
    )
    if not ok:
        raise ValueError(
            f"`{name}` must have shape (batch, {values_name}_len) = "
            f"{expected}. Received: {name}.shape={tuple(mask_shape)}. Pass "
            f"one boolean per {values_name} position, True for real tokens."
        )


def check_token_ids(name: str, ids, vocab_size: int) -> None:
    """Raises for ids that are not integers in `[0, vocab_size)`.

    Runs where the values exist (NumPy input, eager calls); inside a
    compiled step, where ids are symbolic, it checks nothing (see
    `compilation.concrete_value`).

    Raises:
        TypeError: `None`, or float or bool ids (a cast would truncate
            them).
        ValueError: rows of different lengths, or an id below 0 or at
            least `vocab_size`.
    """
    if ids is None:
        raise TypeError(
            f"`{name}` must be an int array of token ids, e.g. "
            f"np.array([[4, 5, 6]]). Received: {name}=None."
        )
    if isinstance(ids, (list, tuple)):
        try:
            ids = np.asarray(ids)
        except ValueError:  # NumPy refuses ragged nested lists
            lengths = sorted({
                len(row) for row in ids if isinstance(row, (list, tuple))
            })
            raise ValueError(
                f"`{name}` must be rectangular: every row the same length. "
                f"Received rows of lengths {lengths}. Pad the rows to one "
                "length with the padding id (`pad_id`, 0 by default)."
            ) from None
    values = concrete_value(ids)
    if values is None:
        return
    if not np.issubdtype(values.dtype, np.integer):
        raise TypeError(
            f"`{name}` must hold integer token ids. Received dtype "
            f"{values.dtype}. Convert them with `.astype('int32')`; a cast "
            "of non-integer values would silently truncate them."
        )
    outside = (values < 0) | (values >= vocab_size)
    if outside.any():
        where = tuple(int(i) for i in np.argwhere(outside)[0])
        raise ValueError(
            f"`{name}` must hold ids in [0, {vocab_size}) (the vocabulary "
            f"size). Received: {name}[{', '.join(map(str, where))}]="
            f"{values[where]} ({int(outside.sum())} id(s) outside). Map "
            "unknown tokens to an id inside the vocabulary (e.g. the "
            "tokenizer's [UNK]) or build the layer with a larger "
            "vocabulary."
        )
