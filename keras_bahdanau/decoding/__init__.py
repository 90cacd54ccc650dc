"""Decoding strategies over the model's step contract (see `base`)."""

from keras_bahdanau.decoding.base import DecodingStrategy
from keras_bahdanau.decoding.base import TokenByTokenStrategy
from keras_bahdanau.decoding.base import check_source
from keras_bahdanau.decoding.base import default_max_length
from keras_bahdanau.decoding.base import get
from keras_bahdanau.decoding.base import register
from keras_bahdanau.decoding.beam import BeamSearch
from keras_bahdanau.decoding.greedy import GreedySearch
from keras_bahdanau.decoding.repetition import ban_repeated_ngrams
from keras_bahdanau.decoding.sampling import RandomSampling

__all__ = [
    "BeamSearch",
    "DecodingStrategy",
    "GreedySearch",
    "RandomSampling",
    "TokenByTokenStrategy",
    "ban_repeated_ngrams",
    "check_source",
    "default_max_length",
    "get",
    "register",
]
