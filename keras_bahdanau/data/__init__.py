"""Embedded English-Hindi data, pair loaders and synthetic tasks."""

from keras_bahdanau.data.pairs import as_pairs
from keras_bahdanau.data.pairs import default_pairs_path
from keras_bahdanau.data.pairs import load_default_pairs
from keras_bahdanau.data.pairs import load_pairs
from keras_bahdanau.data.pairs import split_pairs
from keras_bahdanau.data.synthetic import date_text_pairs
from keras_bahdanau.data.synthetic import reversal_task
from keras_bahdanau.data.synthetic import reversal_text_pairs

__all__ = [
    "as_pairs",
    "date_text_pairs",
    "default_pairs_path",
    "load_default_pairs",
    "load_pairs",
    "reversal_task",
    "reversal_text_pairs",
    "split_pairs",
]
