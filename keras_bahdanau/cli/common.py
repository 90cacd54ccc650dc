"""Shared pieces of the subcommands: errors, argument types, inputs, logs.

`UserError` is what a subcommand raises for a problem with the user's
arguments or files; `main` prints it on one line and exits with status 2.
"""

import argparse
import os
import sys
import warnings

PROG = "keras-bahdanau"
# `keras.utils.set_random_seed` (NumPy) takes seeds in [0, 2**32).
MAX_SEED = 2**32


class UserError(Exception):
    """A problem with the user's arguments or files (exit status 2)."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UserError(message)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def length_hint(
    error: BaseException, max_length: int, out=None, translator=None
) -> str:
    """`error` on one line, with the fix when no pair fit the length limits.

    Args:
        error: the error of training or of the search.
        max_length: the `--max-length` given.
        out: the `--out` directory of a resumed run, else `None`.
        translator: the resumed `Translator` (its limits were fixed by the
            run in `out`), else `None`: `--max-length` set the limits.

    Returns:
        The message on one line.
    """
    message = one_line(error)
    if "length limits" not in message:
        return message
    if translator is None:
        return message + f" Pass a larger --max-length (now {max_length})."
    return message + (
        f" The run in --out {out!r} fixed the limits at max_source_length="
        f"{translator.max_source_length} and max_target_length="
        f"{translator.max_target_length} sub-words; a resume keeps them. "
        "Train a new run in another --out with a larger --max-length."
    )


def read_pairs(path: str, reverse: bool = False) -> list:
    from keras_bahdanau.data import load_pairs

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pairs = load_pairs(path, reverse=reverse)
    except (OSError, ValueError) as error:  # missing, a directory, unread
        raise UserError(one_line(error)) from None
    for warning in caught:
        log(f"warning: {one_line(warning.message)}")
    return pairs


def load_translator(path: str):
    from keras_bahdanau.translator import Translator

    if not os.path.exists(path):
        raise UserError(
            f"model not found: {path!r}. Pass a directory written by "
            f"`{PROG} train --out DIR`."
        )
    try:
        return Translator.load(path)
    except (FileNotFoundError, ValueError) as error:
        raise UserError(one_line(error)) from None


def check_out_dir(path: str) -> None:
    """`--out` names a directory: fail early when it or a parent is a file."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(
            f"--out must be a directory; {path!r} is an existing file. "
            "Pass a new or existing directory."
        )
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UserError(
            f"--out {path!r} cannot be created: {parent!r} is an existing "
            "file. Pass a directory outside it."
        )


def make_out_dir(path: str) -> None:
    """Makes the checked `--out` directory now, so a place where none can
    be made (no permission, a read-only or special file system) fails with
    one line before the work, not with a traceback at the end of it."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise UserError(
            f"--out {path!r} cannot be created: {one_line(error)}. "
            "Pass a directory you can write to."
        ) from None


def check_utf8(name: str, texts: list) -> None:
    """Command-line texts the shell passed as bytes that are not UTF-8."""
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise UserError(
                f"{name} {text.encode('utf-8', 'surrogateescape')!r} is not "
                "valid UTF-8. Re-encode it as UTF-8."
            ) from None


def stdin_lines() -> list:
    """Lines of stdin without their line ends, decoded as UTF-8."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a text stream without bytes (e.g. io.StringIO)
        return [line.rstrip("\r\n") for line in sys.stdin]
    lines = []
    for number, raw in enumerate(stream, start=1):
        try:
            # A byte order mark (Windows tools) is not part of the text.
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise UserError(
                f"stdin line {number} is not valid UTF-8. Re-encode the "
                "input as UTF-8 (e.g. `iconv -t UTF-8`)."
            ) from None
        lines.append(line.rstrip("\r\n"))
    return lines


def seed_arg(text: str) -> int:
    """argparse type of `--seed`: an int in `[0, 2**32)`."""
    message = f"expected an int in [0, 2**32), got {text!r}"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(message) from None
    if not 0 <= value < MAX_SEED:
        raise argparse.ArgumentTypeError(message)
    return value


def positive_arg(kind):
    """argparse type of a number `> 0` of type `kind` (int or float)."""

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a positive {kind.__name__}, got {text!r}"
            ) from None
        if value <= 0:
            raise argparse.ArgumentTypeError(
                f"expected a positive {kind.__name__}, got {text!r}"
            )
        return value

    return parse


def fraction_arg(text: str) -> float:
    """argparse type of a fraction in `[0, 1)`."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a fraction in [0, 1), got {text!r}"
        ) from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(
            f"expected a fraction in [0, 1), got {text!r}"
        )
    return value
