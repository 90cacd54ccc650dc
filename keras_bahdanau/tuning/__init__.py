"""Hyperparameter search: `TranslatorHyperModel` and `run_search`."""

from keras_bahdanau.tuning.hypermodel import OBJECTIVES
from keras_bahdanau.tuning.hypermodel import TranslatorHyperModel
from keras_bahdanau.tuning.search import run_search
from keras_bahdanau.tuning.space import SEARCH_SPACES
from keras_bahdanau.tuning.space import resolve_space
from keras_bahdanau.tuning.tuners import TUNERS
from keras_bahdanau.tuning.tuners import make_tuner

__all__ = [
    "OBJECTIVES",
    "SEARCH_SPACES",
    "TUNERS",
    "TranslatorHyperModel",
    "make_tuner",
    "resolve_space",
    "run_search",
]
