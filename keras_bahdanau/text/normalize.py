"""Text normalisation, word splitting and word joining as TensorFlow ops.

Every function here is made of graph ops (`tensorflow_text.normalize_utf8`,
`tf.strings.*`), so it runs inside `tf.function` and in exported SavedModels.

Splitting rule: after Unicode normalisation and lower-casing, every
punctuation or symbol character (`\\p{P}`, `\\p{S}`) becomes its own word, and
so does every character of a script written without spaces (Han, Hiragana,
Katakana, optionally Hangul). The rest is split on whitespace (any Unicode
white space: line and paragraph separators, NEL and U+3000 too). Combining
marks (`\\p{M}`, e.g. Devanagari vowel signs and virama, variation selectors)
are never split off or removed; an emoji keeps its skin-tone modifier, its
zero-width-joiner sequence, its flag partner and the tag characters of a
subdivision flag (U+E0020..U+E007F, e.g. England's 🏴 + `gbeng` + cancel tag).
NUL characters read as spaces.

Joining rule (the inverse used by detokenization): words are joined with one
space, except that there is no space
- between two characters of a no-space script (CJK),
- before closing punctuation such as `. , ! ? ; : ) ] } ” ’ » । ॥ 。 、 」 』`
  and the Arabic-script `، ؛ ؟ ۔`,
- after opening punctuation such as `( [ { “ ‘ « ¿ ¡ 「 『`,
- after closing and before opening punctuation between two CJK characters
  (NFKC turns the full-width `，！？（）` of Chinese and Japanese into ASCII),
- around an apostrophe or a hyphen between two letters or digits
  (`don't`, `1998-03-03`), and around `. , :` between two digits (`3:30`,
  `1,000`, `2.5`).
Straight quotes (`"`) cannot be told open from closed and keep their spaces;
a possessive apostrophe before a word (`boys' toys`) is glued to it.
Text that was written in a different way (e.g. `a - b`) comes back in this
canonical form.
"""

import tensorflow as tf
import tensorflow_text as tf_text

NORMALIZATION_FORMS = ("NFKC", "NFC", "NFKD", "NFD")

# Characters of scripts written without spaces between words. U+3005 (々)
# and U+30FC (ー) belong to the "Common" script, so they are named here.
_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}\x{3005}\x{30FC}"
_HANGUL = r"\p{Hangul}"
_PUNCTUATION = r"\p{P}\p{S}"

_CLOSING = r"\.,!?;:)\]}”’»।॥。、」』）%،؛؟۔"
_OPENING = r"(\[{“‘«¿¡「『（"
# Unicode White_Space, which the word split must see as ASCII spaces.
_WHITE_SPACE = r"[\t-\r\x{85}\p{Z}]"
# What stays with a split character: combining marks (variation selectors
# included), emoji skin tones and tag characters (the letters and cancel tag
# of subdivision flags such as England's); a zero-width joiner and the symbol
# after it continue an emoji sequence.
_ATTACHED = r"[\p{M}\x{1F3FB}-\x{1F3FF}\x{E0020}-\x{E007F}]*"
_FLAG = r"[\x{1F1E6}-\x{1F1FF}]{2}"


def _split_class(split_hangul: bool) -> str:
    return _PUNCTUATION + _CJK + (_HANGUL if split_hangul else "")


def _cjk_class(split_hangul: bool) -> str:
    # CJK punctuation (U+3000..U+303F, e.g. 。、「」) joins without spaces too.
    return _CJK + r"\x{3000}-\x{303F}" + (_HANGUL if split_hangul else "")


def normalize(
    strings: tf.Tensor,
    normalization: str | None = "NFKC",
    lowercase: bool = True,
) -> tf.Tensor:
    """Applies Unicode normalisation and case folding.

    Lower-casing uses `tf.strings.lower(..., encoding="utf-8")`, which only
    changes cased letters: scripts without case (Devanagari, Arabic, CJK) and
    combining marks are left as they are.

    Args:
        strings: string tensor of any shape.
        normalization: `"NFKC"`, `"NFC"`, `"NFKD"`, `"NFD"` or `None` (no
            normalisation).
        lowercase: whether to lower-case.

    Returns:
        A string tensor of the same shape.

    Example:

    >>> from keras_bahdanau.text.normalize import normalize
    >>> normalize(["ＡＢＣ Déjà"]).numpy()[0].decode("utf-8")
    'abc déjà'
    """
    strings = tf.convert_to_tensor(strings, dtype=tf.string)
    # tf.strings.lower ends a string at its first NUL.
    strings = tf.strings.regex_replace(strings, r"\x00", " ")
    if normalization is not None:
        strings = tf_text.normalize_utf8(strings, normalization)
    if lowercase:
        strings = tf.strings.lower(strings, encoding="utf-8")
    return strings


def split_words(
    strings: tf.Tensor, split_hangul: bool = False
) -> tf.RaggedTensor:
    """Splits normalised text into words (see the module docstring).

    Args:
        strings: string tensor of shape `(batch,)`.
        split_hangul: whether Hangul syllables are split one per word too.

    Returns:
        A string `tf.RaggedTensor` of shape `(batch, (words))`. Empty and
        whitespace-only strings give zero words.

    Example:

    >>> from keras_bahdanau.text.normalize import split_words
    >>> split_words(["我是学生。", "hi, you"]).to_list()[1]
    [b'hi', b',', b'you']
    """
    strings = tf.convert_to_tensor(strings, dtype=tf.string)
    # The whitespace tokenizer leaves bytes of U+2028 and a few others in
    # the word before them: it sees only ASCII spaces.
    strings = tf.strings.regex_replace(strings, _WHITE_SPACE, " ")
    single = "[" + _split_class(split_hangul) + "]"
    pattern = (
        f"((?:{_FLAG}|{single}){_ATTACHED}"
        f"(?:\\x{{200D}}\\p{{S}}{_ATTACHED})*)"
    )
    spaced = tf.strings.regex_replace(strings, pattern, r" \1 ")
    return tf_text.WhitespaceTokenizer().tokenize(spaced)


def join_words(strings: tf.Tensor, split_hangul: bool = False) -> tf.Tensor:
    """Removes the spaces that the joining rule forbids.

    Args:
        strings: string tensor of words separated by single spaces.
        split_hangul: whether Hangul counts as a no-space script.

    Returns:
        A string tensor of the same shape.

    Example:

    >>> from keras_bahdanau.text.normalize import join_words
    >>> join_words(["¿ dónde está ? 私 は 学 生 です 。"]).numpy()[0].decode()
    '¿dónde está? 私は学生です。'
    """
    cjk = "[" + _cjk_class(split_hangul) + "]"
    # A no-space character with its combining marks (NFD splits で into
    # て and U+3099).
    cjk_marked = cjk + r"\pM*"
    # Non-overlapping regex matches leave every other gap: two passes close
    # every gap between two no-space characters.
    for _ in range(2):
        strings = tf.strings.regex_replace(
            strings, "(" + cjk_marked + ") (" + cjk + ")", r"\1\2"
        )
        strings = tf.strings.regex_replace(
            strings, r"([\pL\pN\pM]) (['’-]) ([\pL\pN])", r"\1\2\3"
        )
        strings = tf.strings.regex_replace(
            strings, r"(\pN) ([.,:]) (\pN)", r"\1\2\3"
        )
    strings = tf.strings.regex_replace(strings, " ([" + _CLOSING + "])", r"\1")
    strings = tf.strings.regex_replace(strings, "([" + _OPENING + "]) ", r"\1")
    for _ in range(2):
        strings = tf.strings.regex_replace(
            strings, f"({cjk_marked})([{_CLOSING}]) ({cjk})", r"\1\2\3"
        )
    return tf.strings.regex_replace(
        strings, f"({cjk_marked}) ([{_OPENING}])({cjk})", r"\1\2\3"
    )
