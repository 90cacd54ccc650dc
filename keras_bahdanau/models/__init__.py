"""The seq2seq model, its factory, presets, loss and metric."""

from keras_bahdanau.models.factory import build_model
from keras_bahdanau.models.losses import MaskedSparseCategoricalCrossentropy
from keras_bahdanau.models.losses import MaskedTokenAccuracy
from keras_bahdanau.models.presets import PRESETS
from keras_bahdanau.models.seq2seq import AttentionSeq2Seq

__all__ = [
    "PRESETS",
    "AttentionSeq2Seq",
    "MaskedSparseCategoricalCrossentropy",
    "MaskedTokenAccuracy",
    "build_model",
]
