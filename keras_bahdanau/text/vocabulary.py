"""WordPiece vocabulary learning with tensorflow-text's learner.

`tensorflow_text.tools.wordpiece_vocab.bert_vocab_from_dataset` splits words
with BERT's `BasicTokenizer`, whose idea of punctuation and CJK differs from
`keras_bahdanau.text.normalize.split_words` (and which strips combining marks
when it lower-cases). A vocabulary learned from other words than the ones the
tokenizer sees is "sub-optimal or broken" (its own docstring), so this module
calls the same learner library (`wordpiece_tokenizer_learner_lib`, which
`bert_vocab_from_dataset` uses) on words split by `split_words`.
"""

import collections
from collections.abc import Iterable

import numpy as np
import tensorflow as tf
from tensorflow_text.tools.wordpiece_vocab import (
    wordpiece_tokenizer_learner_lib as learner,
)

PAD_TOKEN = "[PAD]"
START_TOKEN = "[START]"
END_TOKEN = "[END]"
UNK_TOKEN = "[UNK]"
RESERVED_TOKENS = (PAD_TOKEN, START_TOKEN, END_TOKEN, UNK_TOKEN)
SUFFIX_INDICATOR = "##"


def learn_vocabulary(
    word_batches: Iterable,
    vocab_size: int,
    lower_thresh: int = 2,
    max_unique_chars: int = 1000,
    max_token_length: int = 50,
    num_iterations: int = 4,
) -> list[str]:
    """Learns a WordPiece vocabulary from batches of words.

    Args:
        word_batches: iterable of string tensors or ragged tensors of words
            (e.g. a `tf.data.Dataset` mapped through `split_words`).
        vocab_size: largest vocabulary size, reserved tokens included.
        lower_thresh: lowest word-piece count the threshold search tries.
        max_unique_chars: largest alphabet; words with rarer characters are
            not used for learning (their characters become `[UNK]`).
        max_token_length: longest word piece, in characters. Longer words
            (e.g. Thai sentences, written without spaces) are counted as
            pieces of this length: the learner skips longer words, and the
            characters only they hold would be `[UNK]`.
        num_iterations: learner iterations per threshold.

    Returns:
        The vocabulary: `RESERVED_TOKENS` at ids 0-3, then the learned pieces
        in the learner's (deterministic) order. Continuation pieces start with
        `"##"`. It has at most `vocab_size` tokens unless the alphabet alone
        (each character in word-initial and `##` form) is larger.
    """
    counts = collections.Counter()
    for words in word_batches:
        words = getattr(words, "flat_values", words)
        counts.update(np.reshape(np.asarray(words), [-1]).tolist())
    counts = {
        (w.decode("utf-8") if isinstance(w, bytes) else w): c
        for w, c in counts.items()
    }
    if not counts:
        return list(RESERVED_TOKENS)
    learned = learner.learn(
        _cut_long_words(counts, max_token_length),
        vocab_size=vocab_size,
        reserved_tokens=list(RESERVED_TOKENS),
        lower_thresh=lower_thresh,
        max_unique_chars=max_unique_chars,
        max_token_length=max_token_length,
        num_iterations=num_iterations,
    )
    reserved = set(RESERVED_TOKENS)
    pieces = [token for token in learned if token not in reserved]
    return list(RESERVED_TOKENS) + _cap(pieces, vocab_size - len(reserved))


def _cut_long_words(counts: dict, max_length: int) -> dict:
    """Counts each word longer than `max_length` as its `max_length` pieces."""
    cut = collections.Counter()
    for word, count in counts.items():
        for start in range(0, len(word), max_length):
            cut[word[start : start + max_length]] += count
    return dict(cut)


def _cap(pieces: list[str], size: int) -> list[str]:
    """Keeps the alphabet, then the first (most frequent) longer pieces.

    The learner bounds its threshold search by word counts, so on corpora of
    rare words it can return far more than `vocab_size` pieces. Its order is
    alphabet first, then pieces by decreasing count, so cutting the longer
    pieces keeps the most frequent ones. Single characters (word-initial and
    `##` forms) are never cut: without them words would become `[UNK]`.
    """

    def is_char(token):
        return len(token.removeprefix(SUFFIX_INDICATOR)) == 1

    chars = [token for token in pieces if is_char(token)]
    longer = [token for token in pieces if not is_char(token)]
    keep = set(chars + longer[: max(size - len(chars), 0)])
    return [token for token in pieces if token in keep]


def check_vocabulary(vocabulary) -> None:
    """Raises if `vocabulary` is not a valid tokenizer vocabulary."""
    reserved = list(RESERVED_TOKENS)
    if not isinstance(vocabulary, (list, tuple)) or not all(
        isinstance(token, str) and token for token in vocabulary
    ):
        raise TypeError(
            "`vocabulary` must be a list of non-empty strings. Received: "
            f"vocabulary={str(vocabulary)[:80]}. Use TextTokenizer.learn()."
        )
    if list(vocabulary[:4]) != reserved:
        raise ValueError(
            f"`vocabulary` must start with {reserved}. Received: "
            f"vocabulary[:4]={list(vocabulary[:4])}. Put the reserved tokens "
            "first."
        )
    if len(set(vocabulary)) != len(vocabulary):
        raise ValueError(
            "`vocabulary` must not repeat tokens. Received: "
            f"{len(vocabulary) - len(set(vocabulary))} duplicate(s). Remove "
            "them."
        )


def as_string_dataset(texts, batch_size: int) -> tf.data.Dataset:
    """Returns `texts` (strings or a dataset) as batches of strings."""
    if isinstance(texts, tf.data.Dataset):
        spec = texts.element_spec
        if not isinstance(spec, tf.TensorSpec) or spec.dtype != tf.string:
            raise TypeError(
                "`texts` must be a dataset of string tensors. Received: "
                f"element_spec={spec}. Map it to one string per element, "
                "e.g. dataset.map(lambda src, tgt: src)."
            )
        return texts.batch(batch_size) if spec.shape.rank == 0 else texts
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise TypeError(
            "`texts` must be a list of strings or a tf.data.Dataset. "
            f"Received: texts of type {type(texts).__name__}. Wrap a single "
            "text in a list."
        )
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(
                f"`texts[{index}]` must be a str. Received: "
                f"{type(text).__name__}. Decode bytes or drop the item."
            )
    tensor = tf.constant(list(texts), dtype=tf.string, shape=[len(texts)])
    return tf.data.Dataset.from_tensor_slices(tensor).batch(batch_size)
