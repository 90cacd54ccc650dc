"""Argument checks shared by the layers; messages follow STYLE.md."""

from typing import Sequence


def check_positive_int(name: str, value, example: str) -> None:
    """Raises `ValueError` unless `value` is an int >= 1 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive int, e.g. {example}. "
            f"Received: {name}={value!r}"
        )


def check_rate(name: str, value) -> None:
    """Raises `ValueError` unless `value` is a float in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        0.0 <= value < 1.0
    ):
        raise ValueError(
            f"`{name}` must be a float in [0, 1), e.g. {name}=0.1. "
            f"Received: {name}={value!r}"
        )


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
