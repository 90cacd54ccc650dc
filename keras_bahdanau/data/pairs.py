"""Sentence pairs: Tatoeba/Anki TSV loading, validation and splitting."""

import importlib.resources
import numbers
import os
import re
import warnings

import numpy as np

from keras_bahdanau.layers.validation import check_seed

DEFAULT_PAIRS_FILENAME = "hin-eng.tsv"
_MAX_REPORTED_LINES = 5


def check_path(name: str, value, example: str) -> str:
    """Returns `os.fspath(value)`; `TypeError` unless a str or PathLike.

    Args:
        name: the argument's name, for the message.
        value: the argument.
        example: a path for the message, e.g. `"pairs.tsv"`.

    Returns:
        The path as a str.

    Raises:
        TypeError: `value` is not a str or an `os.PathLike` of str.
    """
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if isinstance(path, str):
            return path
    raise TypeError(
        f"`{name}` must be a path (str or os.PathLike). Received: "
        f"{name}={value!r} of type {type(value).__name__}. Pass e.g. "
        f"{name}={example!r}."
    )


def check_not_a_file(name: str, path: str, expected: str) -> None:
    """Raises `FileExistsError` when `path`, due to be a directory, is a file.

    Args:
        name: the argument's name, for the message.
        path: the path (from `check_path`).
        expected: what `path` must be, e.g. `"a directory (new or
            existing)"`.
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise FileExistsError(
            f"`{name}` must be {expected}. Received: {name}={path!r}, an "
            "existing file. Pass another path, or remove the file."
        )


def load_pairs(
    path: str | os.PathLike, reverse: bool = False
) -> list[tuple[str, str]]:
    """Loads sentence pairs from a Tatoeba/Anki tab-separated file.

    Each line is `source<TAB>target` or `source<TAB>target<TAB>attribution`
    (the attribution is ignored). The file is UTF-8, with or without a byte
    order mark. Both sides are stripped of surrounding whitespace; blank
    lines, pairs with an empty side and exact duplicate pairs (after the
    first) are dropped. Lines with 1 or more than 3 columns are skipped and
    reported by line number in one warning.

    Args:
        path: path of the TSV file.
        reverse: swap the columns, giving `(target, source)` pairs.

    Returns:
        A list of `(source, target)` string pairs in file order.

    Raises:
        FileNotFoundError: if the file does not exist.
        IsADirectoryError: if `path` is a directory.
        TypeError: if `path` is not a str or `os.PathLike`.
        ValueError: if the file is empty, is not UTF-8, or has no valid line.

    Example:

    >>> import keras_bahdanau as kb
    >>> pairs = kb.load_pairs(kb.default_pairs_path())
    >>> pairs[0]
    ('Wow!', 'वाह!')
    """
    path = check_path("path", path, "pairs.tsv")
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"Sentence-pair file {path!r} is a directory, not a file. Pass "
            "the path of a tab-separated file inside it."
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"Sentence-pair file not found: {path!r}. Pass the path of a "
            "tab-separated file with `source<TAB>target[<TAB>attribution]` "
            "lines."
        )
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"Sentence-pair file {path!r} is not valid UTF-8 ({error}). "
            "Re-encode it as UTF-8."
        ) from None
    if not text.strip():
        raise ValueError(
            f"Sentence-pair file {path!r} is empty. Expected lines of "
            "`source<TAB>target[<TAB>attribution]`."
        )

    pairs = []
    seen = set()
    bad_lines = []
    # Unix, Windows and old Mac line ends: a lone "\r" in a tab-separated
    # export is a line end, never part of a sentence.
    for number, line in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) not in (2, 3):
            bad_lines.append(number)
            continue
        # A byte order mark inside the file (files joined with `cat`)
        # is not text.
        pair = tuple(c.replace("\ufeff", "").strip() for c in columns[:2])
        if not pair[0] or not pair[1]:
            continue
        if reverse:
            pair = (pair[1], pair[0])
        if pair in seen:
            continue
        seen.add(pair)
        pairs.append(pair)

    shown = ", ".join(str(n) for n in bad_lines[:_MAX_REPORTED_LINES])
    if len(bad_lines) > _MAX_REPORTED_LINES:
        shown += ", ..."
    if not pairs:
        if bad_lines:
            raise ValueError(
                f"Sentence-pair file {path!r} has no valid line: every line "
                "must have 2 or 3 tab-separated columns "
                "(`source<TAB>target[<TAB>attribution]`). Bad lines: "
                f"{shown}. Check that the columns are separated by tabs."
            )
        raise ValueError(
            f"Sentence-pair file {path!r} has no non-empty sentence pair. "
            "Expected lines of `source<TAB>target[<TAB>attribution]`."
        )
    if bad_lines:
        warnings.warn(
            f"Skipped {len(bad_lines)} line(s) of {path!r} that do not have "
            "2 or 3 tab-separated columns: line(s) "
            f"{shown}.",
            stacklevel=2,
        )
    return pairs


def as_pairs(pairs_or_path, reverse: bool = False) -> list[tuple[str, str]]:
    """Returns validated sentence pairs from a list of pairs or a TSV path.

    Args:
        pairs_or_path: a path (read with `load_pairs`) or a list of
            `(source, target)` string pairs.
        reverse: swap source and target.

    Returns:
        A new list of `(source, target)` tuples.

    Raises:
        TypeError: if the argument, or an item or side of an item, has the
            wrong type (the message names the index).
        ValueError: if the list is empty, an item is not a pair, or a side
            is empty or only whitespace (a model would learn to translate
            into nothing; `load_pairs` skips such lines of a file).

    Example:

    >>> import keras_bahdanau as kb
    >>> kb.as_pairs([("Hello.", "नमस्ते।")], reverse=True)
    [('नमस्ते।', 'Hello.')]
    """
    if isinstance(pairs_or_path, (str, os.PathLike)):
        return load_pairs(pairs_or_path, reverse=reverse)
    if not isinstance(pairs_or_path, (list, tuple)):
        raise TypeError(
            "`pairs_or_path` must be a path or a list of (source, target) "
            f"string pairs. Received: {type(pairs_or_path).__name__}. Pass "
            "e.g. [('hello', 'नमस्ते')]."
        )
    if not pairs_or_path:
        raise ValueError(
            "`pairs_or_path` must hold at least one pair. Received: an "
            "empty list. Pass e.g. [('hello', 'नमस्ते')]."
        )
    pairs = []
    for index, item in enumerate(pairs_or_path):
        if not isinstance(item, (list, tuple)):
            raise TypeError(
                f"`pairs_or_path[{index}]` must be a (source, target) "
                f"tuple. Received: {type(item).__name__} {item!r}. Pass "
                "pairs of strings."
            )
        if len(item) != 2:
            raise ValueError(
                f"`pairs_or_path[{index}]` must have 2 items (source, "
                f"target). Received: {len(item)} items {tuple(item)!r}. "
                "Drop extra columns such as attributions."
            )
        source, target = item
        if not isinstance(source, str) or not isinstance(target, str):
            raise TypeError(
                f"`pairs_or_path[{index}]` must hold two str. Received: "
                f"({type(source).__name__}, {type(target).__name__}). "
                "Decode bytes to str."
            )
        for side, text in (("source", source), ("target", target)):
            if not text.strip():
                raise ValueError(
                    f"`pairs_or_path[{index}]` must have a non-empty "
                    f"{side}. Received: {tuple(item)!r}. Remove the pair "
                    "(a file's lines with an empty side are skipped)."
                )
        pairs.append((target, source) if reverse else (source, target))
    return pairs


def split_pairs(
    pairs: list,
    validation_split: float = 0.1,
    test_split: float = 0.0,
    seed: int = 0,
) -> tuple[list, list, list]:
    """Shuffles pairs and splits them into train, validation and test sets.

    The shuffle is `numpy.random.RandomState(seed).permutation`, so the same
    seed gives the same split. A non-zero fraction always gets at least one
    pair; the sizes are rounded to the nearest integer.

    Args:
        pairs: list of items (usually `(source, target)` pairs).
        validation_split: fraction for validation, in `[0, 1)` (a Python
            or NumPy number, e.g. `np.float32(0.2)`).
        test_split: fraction for test, in `[0, 1)`.
        seed: shuffle seed.

    Returns:
        `(train, validation, test)` lists; together they hold every pair
        once.

    Raises:
        TypeError: if a fraction is not a real number (a str, None, a
            bool).
        ValueError: if a fraction is outside `[0, 1)`, the fractions add up
            to 1 or more, or no pair would be left for training.

    Example:

    >>> import keras_bahdanau as kb
    >>> train, validation, test = kb.split_pairs(
    ...     list(range(10)), validation_split=0.2, test_split=0.1, seed=0)
    >>> len(train), len(validation), len(test)
    (7, 2, 1)
    """
    fractions = {}
    for name, value in (
        ("validation_split", validation_split),
        ("test_split", test_split),
    ):
        if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, numbers.Real
        ):
            raise TypeError(
                f"`{name}` must be a float. Received: {name}={value!r}. "
                "Use e.g. 0.1."
            )
        if not 0.0 <= value < 1.0:
            raise ValueError(
                f"`{name}` must be in [0, 1). Received: {name}={value!r}. "
                "Use e.g. 0.1."
            )
        fractions[name] = float(value)
    validation_split = fractions["validation_split"]
    test_split = fractions["test_split"]
    if validation_split + test_split >= 1.0:
        raise ValueError(
            "`validation_split` + `test_split` must be below 1. Received: "
            f"validation_split={validation_split}, test_split={test_split}. "
            "Leave a fraction for training."
        )
    pairs = list(pairs)
    n = len(pairs)

    def size(fraction):
        return 0 if fraction == 0 else max(1, int(round(n * fraction)))

    n_val, n_test = size(validation_split), size(test_split)
    if n - n_val - n_test < 1:
        raise ValueError(
            "`pairs` is too small for the requested splits. Received: "
            f"{n} pair(s), validation_split={validation_split}, "
            f"test_split={test_split}. Pass more pairs or smaller fractions."
        )
    seed = check_seed(seed, generator=False, allow_none=False)
    order = np.random.RandomState(seed).permutation(n)
    shuffled = [pairs[i] for i in order]
    test = shuffled[:n_test]
    validation = shuffled[n_test : n_test + n_val]
    train = shuffled[n_test + n_val :]
    return train, validation, test


def default_pairs_path() -> str:
    """Path of the packaged English-Hindi file (`hin-eng.tsv`).

    2,949 Tatoeba pairs, CC-BY 2.0 France, with per-row attribution; see
    `LICENSE-hin-eng.txt` next to it.

    Returns:
        The file's path as a string.

    Example:

    >>> import keras_bahdanau as kb
    >>> kb.default_pairs_path().endswith("hin-eng.tsv")
    True
    """
    resource = importlib.resources.files("keras_bahdanau.data")
    return str(resource.joinpath(DEFAULT_PAIRS_FILENAME))


def load_default_pairs(reverse: bool = False) -> list[tuple[str, str]]:
    """Loads the packaged pairs: English -> Hindi, or Hindi -> English.

    Args:
        reverse: `True` gives `(hindi, english)` pairs.

    Returns:
        A list of `(source, target)` pairs.

    Example:

    >>> import keras_bahdanau as kb
    >>> pairs = kb.load_default_pairs(reverse=True)
    >>> len(pairs), pairs[0]
    (2949, ('वाह!', 'Wow!'))
    """
    return load_pairs(default_pairs_path(), reverse=reverse)
