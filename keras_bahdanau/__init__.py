"""keras_bahdanau: Bahdanau (additive) attention and seq2seq for Keras 3."""

from keras_bahdanau import optimizers
from keras_bahdanau.data import as_pairs
from keras_bahdanau.data import date_text_pairs
from keras_bahdanau.data import default_pairs_path
from keras_bahdanau.data import load_default_pairs
from keras_bahdanau.data import load_pairs
from keras_bahdanau.data import reversal_task
from keras_bahdanau.data import reversal_text_pairs
from keras_bahdanau.data import split_pairs
from keras_bahdanau.layers import AttentiveDecoder
from keras_bahdanau.layers import BahdanauAttention
from keras_bahdanau.layers import BidirectionalEncoder
from keras_bahdanau.layers import sparsemax
from keras_bahdanau.models import PRESETS
from keras_bahdanau.models import AttentionSeq2Seq
from keras_bahdanau.models import MaskedSparseCategoricalCrossentropy
from keras_bahdanau.models import MaskedTokenAccuracy
from keras_bahdanau.models import build_model
from keras_bahdanau.text import TextTokenizer
from keras_bahdanau.translator import Translator
from keras_bahdanau.tuning import TranslatorHyperModel
from keras_bahdanau.tuning import run_search

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
    "TextTokenizer",
    "Translator",
    "TranslatorHyperModel",
    "as_pairs",
    "date_text_pairs",
    "default_pairs_path",
    "load_default_pairs",
    "load_pairs",
    "optimizers",
    "reversal_task",
    "reversal_text_pairs",
    "run_search",
    "sparsemax",
    "split_pairs",
]
