"""keras_bahdanau: Bahdanau (additive) attention and seq2seq for Keras 3."""

from keras_bahdanau.layers import AttentiveDecoder
from keras_bahdanau.layers import BahdanauAttention
from keras_bahdanau.layers import BidirectionalEncoder
from keras_bahdanau.layers import sparsemax
from keras_bahdanau.models import PRESETS
from keras_bahdanau.models import AttentionSeq2Seq
from keras_bahdanau.models import MaskedSparseCategoricalCrossentropy
from keras_bahdanau.models import MaskedTokenAccuracy
from keras_bahdanau.models import build_model

__version__ = "0.1.0"

__all__ = [
    "PRESETS",
    "AttentionSeq2Seq",
    "AttentiveDecoder",
    "BahdanauAttention",
    "BidirectionalEncoder",
    "MaskedSparseCategoricalCrossentropy",
    "MaskedTokenAccuracy",
    "build_model",
    "sparsemax",
]
