"""Keras 3 layers: attention, encoder and decoder."""

from keras_bahdanau.layers.attention import BahdanauAttention
from keras_bahdanau.layers.decoder import AttentiveDecoder
from keras_bahdanau.layers.encoder import BidirectionalEncoder
from keras_bahdanau.layers.probability import sparsemax

__all__ = [
    "AttentiveDecoder",
    "BahdanauAttention",
    "BidirectionalEncoder",
    "sparsemax",
]
