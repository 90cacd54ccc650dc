"""Tokenization in TensorFlow ops (tensorflow-text WordPiece)."""

from keras_bahdanau.text.tokenizer import TextTokenizer

__all__ = ["TextTokenizer"]
