"""Search spaces of `TranslatorHyperModel`: defaults, checks, sampling."""

import copy
import math

import keras_tuner

INT_HYPERPARAMETERS = (
    "embedding_dim",
    "encoder_units",
    "decoder_units",
    "attention_units",
)
# Default search spaces per model preset. A list is a choice, a dict
# `{"min": a, "max": b}` a float range (log scale for `learning_rate`), and a
# plain value is fixed.
SEARCH_SPACES = {
    "tiny": {
        "embedding_dim": [16, 32, 64],
        "encoder_units": [16, 32, 64],
        "decoder_units": [32, 64, 128],
        "attention_units": [16, 32, 64],
        "cell": ["gru", "lstm"],
        "dropout": {"min": 0.0, "max": 0.3},
        "learning_rate": {"min": 1e-4, "max": 1e-2},
        "normalize": [False, True],
    },
    "small": {
        "embedding_dim": [64, 128, 256],
        "encoder_units": [64, 128, 256],
        "decoder_units": [128, 256, 512],
        "attention_units": [64, 128, 256],
        "cell": ["gru", "lstm"],
        "dropout": {"min": 0.0, "max": 0.3},
        "learning_rate": {"min": 1e-4, "max": 1e-2},
        "normalize": [False, True],
    },
}
SPACE_EXAMPLE = "space={'cell': ['gru', 'lstm'], 'learning_rate': 1e-3}"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# What one value of each hyperparameter must be (for error messages).
VALID_VALUES = {
    **{name: "a positive int" for name in INT_HYPERPARAMETERS},
    "cell": "'gru' or 'lstm'",
    "normalize": "a bool",
    "dropout": "a float in [0, 1)",
    "learning_rate": "a positive float",
}


def _space_error(name: str, value, expectation: str) -> ValueError:
    return ValueError(
        f"`space[{name!r}]` must be {expectation}. Received: "
        f"space[{name!r}]={value!r}. Use e.g. {SPACE_EXAMPLE}."
    )


def _check_value(name: str, value) -> bool:
    """Whether `value` is a valid single value of hyperparameter `name`."""
    if name in INT_HYPERPARAMETERS:
        return _is_int(value) and value >= 1
    if name == "cell":
        return value in ("gru", "lstm")
    if name == "normalize":
        return isinstance(value, bool)
    if name == "dropout":
        return _is_number(value) and 0.0 <= value < 1.0
    # learning_rate: finite (an infinite rate makes every trial diverge).
    return _is_number(value) and math.isfinite(value) and value > 0.0


def resolve_space(preset: str = "small", space: "dict | None" = None) -> dict:
    """The search space of a preset with some entries replaced.

    Args:
        preset: `"tiny"` or `"small"`: picks the default ranges of
            `SEARCH_SPACES`.
        space: entries that replace the defaults. Keys are among
            `embedding_dim`, `encoder_units`, `decoder_units`,
            `attention_units`, `cell`, `dropout`, `learning_rate`,
            `normalize`. A list is a choice, `{"min": a, "max": b}` a float
            range (only for `dropout` and `learning_rate`; log scale for
            `learning_rate`) and a plain value is fixed.

    Returns:
        A new dict with every key, JSON-able.

    Raises:
        TypeError: `space` is not a dict.
        ValueError: unknown preset, unknown key or invalid value.

    Example:

    >>> from keras_bahdanau.tuning import resolve_space
    >>> resolve_space("tiny", {"cell": "lstm"})["cell"]
    'lstm'
    """
    if preset not in SEARCH_SPACES:
        raise ValueError(
            f"`preset` must be one of {sorted(SEARCH_SPACES)} for tuning. "
            f"Received: preset={preset!r}. Pick one of those."
        )
    if space is None:
        space = {}
    if not isinstance(space, dict):
        raise TypeError(
            "`space` must be a dict or None. Received: "
            f"{type(space).__name__}. Use e.g. {SPACE_EXAMPLE}."
        )
    resolved = copy.deepcopy(SEARCH_SPACES[preset])
    unknown = sorted(set(space) - set(resolved))
    if unknown:
        raise ValueError(
            f"`space` keys must be among {sorted(resolved)}. Received "
            f"unknown: {unknown}. Use e.g. {SPACE_EXAMPLE}."
        )
    for name, value in space.items():
        if isinstance(value, (list, tuple)):
            if not value or not all(_check_value(name, v) for v in value):
                raise _space_error(
                    name,
                    value,
                    f"a non-empty list of values, each {VALID_VALUES[name]}",
                )
            # Once each: a repeated value would be searched twice as
            # often, and [True, True] would search normalize=False too.
            value = list(dict.fromkeys(value))
            if name in ("dropout", "learning_rate"):
                # Keras Tuner's Choice takes one type: [0, 0.1] as floats.
                value = [float(v) for v in value]
        elif isinstance(value, dict):
            if name not in ("dropout", "learning_rate"):
                raise _space_error(
                    name,
                    value,
                    f"{VALID_VALUES[name]} or a list of them (no range)",
                )
            low, high = value.get("min"), value.get("max")
            if (
                set(value) != {"min", "max"}
                or not _check_value(name, low)
                or not _check_value(name, high)
                or not low < high
            ):
                raise _space_error(
                    name,
                    value,
                    "a range {'min': a, 'max': b} with a < b, each "
                    + VALID_VALUES[name],
                )
        elif not _check_value(name, value):
            raise _space_error(
                name, value, f"{VALID_VALUES[name]}, a list or a range"
            )
        resolved[name] = copy.deepcopy(value)
    return resolved


def declare(hp: keras_tuner.HyperParameters, name: str, spec):
    """Declares (or reads) one hyperparameter of a resolved space.

    Args:
        hp: the trial's `keras_tuner.HyperParameters`.
        name: the hyperparameter (a key of the space).
        spec: its entry in a space from `resolve_space`.

    Returns:
        The trial's value: `hp.Float` for a range (log scale for
        `learning_rate`), `hp.Boolean` for `normalize`, `hp.Choice` for
        other lists and `hp.Fixed` for one value.
    """
    if isinstance(spec, dict):
        sampling = "log" if name == "learning_rate" else "linear"
        return hp.Float(name, spec["min"], spec["max"], sampling=sampling)
    if isinstance(spec, list):
        if len(spec) == 1:
            return hp.Fixed(name, spec[0])
        if name == "normalize":
            # `hp.Choice` would turn booleans into ints.
            return hp.Boolean(name)
        return hp.Choice(name, spec)
    return hp.Fixed(name, spec)
