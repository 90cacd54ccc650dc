"""`TextTokenizer`: normalisation + WordPiece ids + detokenization in TF ops."""

import os

import tensorflow as tf
import tensorflow_text as tf_text

from keras_bahdanau.jsonfile import read_json
from keras_bahdanau.jsonfile import write_json
from keras_bahdanau.layers.validation import check_positive_int
from keras_bahdanau.layers.validation import is_integer
from keras_bahdanau.text import normalize as norm
from keras_bahdanau.text import vocabulary as vocab_lib

# Words longer than this (UTF-8 bytes, about 330 Devanagari or 1000 Latin
# characters) are read as one [UNK].
MAX_BYTES_PER_WORD = 1000


class TextTokenizer(tf.Module):
    """Subword tokenizer for translation, made of TensorFlow graph ops.

    Text is normalised (`tensorflow_text.normalize_utf8`, NFKC by default),
    lower-cased where the script has case, split into words (each punctuation
    mark, symbol and CJK character is a word of its own, the rest is split on
    whitespace) and each word is cut into WordPiece sub-words
    (`tensorflow_text.WordpieceTokenizer`). Combining marks (Devanagari vowel
    signs, virama, nukta) are kept. The reserved ids match the model's
    defaults: `[PAD]`=0, `[START]`=1, `[END]`=2, `[UNK]`=3.

    `tokenize`, `tokenize_padded`, `detokenize` and `id_to_token` are graph
    ops: they run inside `tf.function`. The tokenizer is a `tf.Module` whose
    lookup tables are tracked, so a `tf.Module` that holds it as an attribute
    can be written with `tf.saved_model.save` and used after
    `tf.saved_model.load` without this package.

    Detokenization joins words with one space, except: no space between two
    characters of a no-space script (CJK and CJK punctuation), none before
    closing punctuation (`. , ! ? ; : ) ] } ” ’ » । ॥ 。 、 ، ؛ ؟ ۔`), none
    after opening punctuation (`( [ { “ ‘ « ¿ ¡`), none around punctuation
    between CJK characters, none around an apostrophe or hyphen between
    letters or digits, and none around `. , :` between digits (`3:30`). So
    normalised text written in that canonical form comes back exactly; other
    spacing is canonicalised (see `keras_bahdanau.text.normalize`).

    Args:
        vocabulary: list of tokens; ids 0-3 must be `[PAD]`, `[START]`,
            `[END]`, `[UNK]`. Continuation pieces start with `"##"`.
        lowercase: whether to lower-case text.
        normalization: Unicode normalisation form, `"NFKC"`, `"NFC"`,
            `"NFKD"`, `"NFD"` or `None`.
        split_hangul: whether Hangul is split one syllable per word like
            Han and kana (Korean uses spaces, so off by default).
        max_length: default `max_length` of `tokenize_padded`, or `None`.
        name: name of the `tf.Module`.

    Example:

    >>> import keras_bahdanau as kb
    >>> tok = kb.TextTokenizer.learn(["I am a student.", "我是学生。"],
    ...                              vocab_size=100)
    >>> ids = tok.tokenize(["我是学生。"])
    >>> tok.detokenize(ids).numpy()[0].decode("utf-8")
    '我是学生。'
    """

    PAD_ID = 0
    START_ID = 1
    END_ID = 2
    UNK_ID = 3
    PAD_TOKEN = vocab_lib.PAD_TOKEN
    START_TOKEN = vocab_lib.START_TOKEN
    END_TOKEN = vocab_lib.END_TOKEN
    UNK_TOKEN = vocab_lib.UNK_TOKEN
    RESERVED_TOKENS = vocab_lib.RESERVED_TOKENS
    CONFIG_FILENAME = "text_tokenizer.json"

    def __init__(
        self,
        vocabulary: list[str],
        lowercase: bool = True,
        normalization: str | None = "NFKC",
        split_hangul: bool = False,
        max_length: int | None = None,
        name: str | None = None,
    ):
        vocab_lib.check_vocabulary(vocabulary)
        max_length = _check_settings(normalization, max_length)
        super().__init__(name=name or "text_tokenizer")
        self._vocabulary = tuple(vocabulary)
        self.lowercase = bool(lowercase)
        self.normalization = normalization
        self.split_hangul = bool(split_hangul)
        self.max_length = max_length

        tokens = tf.constant(list(vocabulary), dtype=tf.string)
        ids = tf.range(len(vocabulary), dtype=tf.int64)
        # The WordPiece kernel treats the default value as "not found".
        self._token_to_id = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tokens, ids), default_value=-1
        )
        self._id_to_token_table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(ids, tokens),
            default_value=self.UNK_TOKEN,
        )
        self._wordpiece = tf_text.WordpieceTokenizer(
            self._token_to_id,
            suffix_indicator=vocab_lib.SUFFIX_INDICATOR,
            token_out_type=tf.int64,
            unknown_token=self.UNK_TOKEN,
            split_unknown_characters=True,
            # Longer words become one [UNK] (tensorflow-text's default, 100
            # bytes, is 33 Devanagari characters).
            max_bytes_per_word=MAX_BYTES_PER_WORD,
        )

    @classmethod
    def learn(
        cls,
        texts: "list[str] | tf.data.Dataset",
        vocab_size: int = 8000,
        lowercase: bool = True,
        normalization: str | None = "NFKC",
        max_length: int | None = None,
        split_hangul: bool = False,
        lower_thresh: int = 2,
        max_unique_chars: int = 1000,
        batch_size: int = 1024,
    ) -> "TextTokenizer":
        """Learns a WordPiece vocabulary from texts.

        The texts are normalised and split exactly as `tokenize` does, then
        tensorflow-text's WordPiece learner
        (`tensorflow_text.tools.wordpiece_vocab`) picks the pieces.

        Args:
            texts: list of strings, or a `tf.data.Dataset` of string scalars
                or string vectors.
            vocab_size: largest vocabulary size, reserved tokens included,
                unless the alphabet alone (each character in word-initial
                and `##` form) is larger: every word can be split.
            lowercase: whether to lower-case text.
            normalization: `"NFKC"`, `"NFC"`, `"NFKD"`, `"NFD"` or `None`.
            max_length: default `max_length` of `tokenize_padded`.
            split_hangul: whether Hangul is split one syllable per word.
            lower_thresh: lowest piece count the learner's threshold search
                tries; small corpora need a small value.
            max_unique_chars: largest alphabet kept by the learner.
            batch_size: texts per batch while counting words.

        Returns:
            A `TextTokenizer`.

        Raises:
            TypeError: if `texts` is not a list of strings or a dataset of
                strings.
            ValueError: if `vocab_size` is too small, a setting is invalid
                or `texts` hold no word.
        """
        if (
            not is_integer(vocab_size)
            or vocab_size < 5
        ):
            raise ValueError(
                "`vocab_size` must be an int of at least 5 (4 reserved tokens "
                f"and one piece). Received: vocab_size={vocab_size!r}. Use "
                "e.g. vocab_size=8000."
            )
        vocab_size = int(vocab_size)  # NumPy integers too
        max_length = _check_settings(normalization, max_length)
        batch_size = check_positive_int(
            "batch_size", batch_size, "batch_size=1024"
        )
        max_unique_chars = check_positive_int(
            "max_unique_chars", max_unique_chars, "max_unique_chars=1000"
        )
        dataset = vocab_lib.as_string_dataset(texts, batch_size)

        def split(batch):
            normalized = norm.normalize(batch, normalization, lowercase)
            return norm.split_words(normalized, split_hangul)

        words = dataset.map(split)
        vocabulary = vocab_lib.learn_vocabulary(
            words,
            vocab_size=vocab_size,
            lower_thresh=lower_thresh,
            max_unique_chars=max_unique_chars,
        )
        if len(vocabulary) == len(cls.RESERVED_TOKENS):
            raise ValueError(
                "`texts` must hold at least one word to learn from. "
                "Received: only empty or whitespace-only texts. Pass the "
                "sentences of the training pairs."
            )
        return cls(
            vocabulary,
            lowercase=lowercase,
            normalization=normalization,
            split_hangul=split_hangul,
            max_length=max_length,
        )

    @property
    def vocabulary(self) -> list[str]:
        """The tokens, indexed by id."""
        return list(self._vocabulary)

    @property
    def vocabulary_size(self) -> int:
        """Number of tokens, reserved ones included."""
        return len(self._vocabulary)

    def normalize(self, strings) -> tf.Tensor:
        """Normalises and lower-cases strings as `tokenize` does."""
        return norm.normalize(strings, self.normalization, self.lowercase)

    def split_words(self, strings) -> tf.RaggedTensor:
        """Normalises strings and splits them into words, `(batch, (words))`."""
        return norm.split_words(self.normalize(strings), self.split_hangul)

    def canonicalize(self, strings) -> tf.Tensor:
        """Text as `detokenize(tokenize(text))` gives it, `[UNK]` aside.

        Normalised, lower-cased (when the tokenizer lower-cases), split into
        words and joined by the detokenization rule; characters outside the
        vocabulary are kept. References scored against translations need
        this form (see `Translator.evaluate`).

        Args:
            strings: string tensor of shape `(batch,)`.

        Returns:
            A string tensor of shape `(batch,)`.

        Example:

        >>> import keras_bahdanau as kb
        >>> tok = kb.TextTokenizer.learn(["Hi, you."], vocab_size=50)
        >>> tok.canonicalize(["Hi ,YOU  ."]).numpy()[0].decode("utf-8")
        'hi, you.'
        """
        words = self.split_words(strings)
        text = tf.strings.reduce_join(words, axis=-1, separator=" ")
        return norm.join_words(text, self.split_hangul)

    def tokenize(self, strings) -> tf.RaggedTensor:
        """Maps strings to sub-word ids, without `[START]`/`[END]`.

        Characters missing from the vocabulary become `[UNK]` (id 3). Empty
        and whitespace-only strings give zero ids.

        Args:
            strings: string tensor of shape `(batch,)` (or a scalar).

        Returns:
            An int32 `tf.RaggedTensor` of shape `(batch, (tokens))`, or an
            int32 vector of ids for a scalar input.
        """
        strings = tf.convert_to_tensor(strings, dtype=tf.string)
        scalar = strings.shape.rank == 0
        if scalar:
            strings = tf.reshape(strings, [1])
        words = self.split_words(strings)  # batch x (words)
        pieces = self._wordpiece.tokenize(words)  # batch x (words) x (pieces)
        ids = tf.cast(pieces.merge_dims(-2, -1), tf.int32)
        # With split_unknown_characters the kernel returns -1 for unknown
        # characters inside a word: they are unknown tokens too.
        flat = ids.flat_values
        ids = ids.with_flat_values(tf.where(flat < 0, self.UNK_ID, flat))
        return ids[0] if scalar else ids

    def tokenize_padded(
        self,
        strings,
        max_length: int | None = None,
        add_start: bool = True,
        add_end: bool = True,
    ) -> tf.Tensor:
        """Maps strings to a dense, padded batch of ids with special tokens.

        Each row is `[START] t_1 ... t_n [END] [PAD] ...`. When the row is too
        long the sub-word ids are cut so that `[START]` and `[END]` still
        fit: `[END]` is always present when `add_end=True`.

        Args:
            strings: string tensor of shape `(batch,)`, or one string (a
                batch of one).
            max_length: row length, special tokens included. `None` uses the
                tokenizer's `max_length`, and when that is `None` too the
                longest row of the batch.
            add_start: whether rows begin with `[START]` (id 1).
            add_end: whether rows end with `[END]` (id 2).

        Returns:
            An int32 tensor of shape `(batch, max_length)`, padded with
            `[PAD]` (id 0).

        Raises:
            ValueError: if `max_length` cannot hold the special tokens.
        """
        if isinstance(strings, str):
            strings = [strings]  # a batch of one, as `tokens` takes it
        if max_length is None:
            max_length = self.max_length
        specials = int(add_start) + int(add_end)
        if max_length is not None and (
            not is_integer(max_length)
            or max_length < max(specials, 1)
        ):
            raise ValueError(
                "`max_length` must be an int that leaves room for the "
                f"{specials} special token(s). Received: "
                f"max_length={max_length!r}. Use a larger max_length."
            )
        ids = self.tokenize(strings)
        if max_length is not None:
            ids = ids[:, : int(max_length) - specials]
        batch = ids.nrows()
        parts = [ids]
        if add_start:
            parts.insert(0, _column(batch, self.START_ID))
        if add_end:
            parts.append(_column(batch, self.END_ID))
        ids = tf.concat(parts, axis=1)
        shape = None if max_length is None else [None, max_length]
        return ids.to_tensor(default_value=self.PAD_ID, shape=shape)

    def id_to_token(self, ids) -> tf.Tensor:
        """Maps ids (dense or ragged, any shape) to their token strings."""
        if isinstance(ids, tf.RaggedTensor):
            return ids.with_flat_values(self.id_to_token(ids.flat_values))
        ids = tf.cast(tf.convert_to_tensor(ids), tf.int64)
        return self._id_to_token_table.lookup(ids)

    def detokenize(self, ids) -> tf.Tensor:
        """Maps ids back to text.

        `[PAD]` and `[START]` are dropped, everything from the first `[END]`
        on is dropped, `##` pieces are glued to the previous piece and words
        are joined by the rule in the class docstring. Unknown ids read as
        `[UNK]`.

        Args:
            ids: int tensor `(batch, length)` (padded, with or without
                special tokens), a ragged `(batch, (length))` tensor, or one
                vector of ids.

        Returns:
            A string tensor of shape `(batch,)`, or a scalar for a vector.
        """
        if isinstance(ids, tf.RaggedTensor):
            ids = ids.to_tensor(default_value=self.PAD_ID)
        ids = tf.cast(tf.convert_to_tensor(ids), tf.int64)
        scalar = ids.shape.rank == 1
        if scalar:
            ids = ids[tf.newaxis]
        is_end = tf.cast(tf.equal(ids, self.END_ID), tf.int32)
        before_end = tf.equal(tf.cumsum(is_end, axis=1), 0)
        keep = before_end & (ids != self.PAD_ID) & (ids != self.START_ID)
        pieces = self.id_to_token(tf.ragged.boolean_mask(ids, keep))
        text = tf.strings.reduce_join(pieces, axis=-1, separator=" ")
        suffix = vocab_lib.SUFFIX_INDICATOR
        text = tf.strings.regex_replace(text, " " + suffix, "")
        text = tf.strings.regex_replace(text, "^" + suffix, "")
        text = norm.join_words(text, self.split_hangul)
        return text[0] if scalar else text

    def tokens(self, strings) -> list[list[str]]:
        """Sub-word strings of each text (Python lists, e.g. for plots).

        Args:
            strings: a string or a list of strings.

        Returns:
            One list of token strings per text (`"##"` marks continuations).
        """
        if isinstance(strings, str):
            strings = [strings]
        ids = self.tokenize(tf.constant(list(strings), dtype=tf.string))
        return [[self._vocabulary[i] for i in row] for row in ids.to_list()]

    def get_config(self) -> dict:
        """JSON-able settings and vocabulary; see `from_config`."""
        return {
            "vocabulary": self.vocabulary,
            "lowercase": self.lowercase,
            "normalization": self.normalization,
            "split_hangul": self.split_hangul,
            "max_length": self.max_length,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict) -> "TextTokenizer":
        """Rebuilds a tokenizer from `get_config()`."""
        return cls(**config)

    def save(self, directory: str) -> str:
        """Writes `get_config()` to `directory/CONFIG_FILENAME` (UTF-8 JSON).

        Args:
            directory: folder, created when missing.

        Returns:
            The path of the JSON file.
        """
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, self.CONFIG_FILENAME)
        write_json(path, self.get_config())  # atomic
        return path

    @classmethod
    def load(cls, directory: str) -> "TextTokenizer":
        """Reads a tokenizer written by `save`.

        Args:
            directory: the folder given to `save`, or the JSON file itself.

        Returns:
            A `TextTokenizer`.

        Raises:
            FileNotFoundError: if the file is missing.
            ValueError: if the file is not a tokenizer's JSON.
        """
        path = directory
        if os.path.isdir(directory):
            path = os.path.join(directory, cls.CONFIG_FILENAME)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"No tokenizer file at {path!r}. Pass the directory given to "
                "`TextTokenizer.save`."
            )
        try:
            config = read_json(path)
            if not isinstance(config, dict):
                raise TypeError(f"a {type(config).__name__}, not an object")
            return cls.from_config(config)
        except (TypeError, ValueError, KeyError) as error:
            raise ValueError(
                f"{path!r} is not a tokenizer file written by "
                f"`TextTokenizer.save` ({type(error).__name__}: {error}). "
                "Save the tokenizer again."
            ) from None


def _column(batch, value: int) -> tf.RaggedTensor:
    column = tf.fill(tf.stack([batch, 1]), tf.constant(value, tf.int32))
    return tf.RaggedTensor.from_tensor(column)


def _check_settings(normalization, max_length) -> "int | None":
    """Checks the settings; returns `max_length` as a plain int or None."""
    if normalization is not None and (
        normalization not in norm.NORMALIZATION_FORMS
    ):
        raise ValueError(
            "`normalization` must be one of "
            f"{norm.NORMALIZATION_FORMS} or None. Received: "
            f"normalization={normalization!r}. Use e.g. 'NFKC'."
        )
    if max_length is None:
        return None
    if (
        not is_integer(max_length)
        or max_length < 1
    ):
        raise ValueError(
            "`max_length` must be a positive int or None. Received: "
            f"max_length={max_length!r}. Use e.g. max_length=32."
        )
    return int(max_length)  # NumPy integers too (JSON configs)
