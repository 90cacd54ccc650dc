"""Tests for keras_bahdanau.text (TextTokenizer)."""

import json
import unicodedata

import numpy as np
import pytest
import tensorflow as tf

from keras_bahdanau.text import TextTokenizer

HINDI = "नमस्ते मैं ध्रुव हूँ"
JAPANESE = "私は学生です。"
CHINESE = "我是学生。"
ARABIC = "مرحبا بالعالم"
SPANISH = "¿Dónde está el café?"
ENGLISH = "(Hello) world, I don't know 1998-03-03 at 3:30!"

CORPUS = [
    HINDI,
    "मैं ध्रुव हूँ।",
    JAPANESE,
    "あなたは学生ですか?",
    CHINESE,
    "你是学生吗?",
    ARABIC,
    SPANISH,
    "El café está aquí.",
    ENGLISH,
    "Hello world.",
    "ＡＢＣ",
]


def _decode(tensor) -> list[str]:
    return [s.decode("utf-8") for s in np.asarray(tensor).reshape(-1)]


@pytest.fixture(scope="module")
def tokenizer():
    return TextTokenizer.learn(CORPUS, vocab_size=300)


def test_reserved_ids(tokenizer):
    assert tokenizer.vocabulary[:4] == ["[PAD]", "[START]", "[END]", "[UNK]"]
    assert (
        tokenizer.PAD_ID,
        tokenizer.START_ID,
        tokenizer.END_ID,
        tokenizer.UNK_ID,
    ) == (0, 1, 2, 3)
    assert tokenizer.vocabulary_size == len(tokenizer.vocabulary)
    assert len(set(tokenizer.vocabulary)) == tokenizer.vocabulary_size


@pytest.mark.parametrize(
    "text, expected",
    [
        (HINDI, HINDI),
        (JAPANESE, JAPANESE),
        (CHINESE, CHINESE),
        (ARABIC, ARABIC),
        (SPANISH, "¿dónde está el café?"),
        (ENGLISH, "(hello) world, i don't know 1998-03-03 at 3:30!"),
    ],
)
def test_round_trip(tokenizer, text, expected):
    ids = tokenizer.tokenize([text])
    assert ids.dtype == tf.int32
    assert tokenizer.UNK_ID not in ids.flat_values.numpy()
    assert _decode(tokenizer.detokenize(ids)) == [expected]


def test_devanagari_marks_are_kept(tokenizer):
    assert _decode(tokenizer.normalize([HINDI])) == [
        unicodedata.normalize("NFKC", HINDI)
    ]
    # The pieces of each word spell the word, combining marks included.
    words = tokenizer.tokens([HINDI])[0]
    spelled = "".join(
        " " + t if not t.startswith("##") else t[2:] for t in words
    )
    assert spelled.strip() == HINDI
    # candrabindu, a combining mark (Mn) that accent stripping would drop.
    assert any("\u0901" in token for token in words)


def test_cjk_one_token_per_character(tokenizer):
    assert tokenizer.tokens([CHINESE]) == [["我", "是", "学", "生", "。"]]
    assert tokenizer.tokens(JAPANESE)[0][:3] == ["私", "は", "学"]


def test_punctuation_is_split(tokenizer):
    tokens = tokenizer.tokens(["hello, world."])[0]
    assert tokens[tokens.index(",") - 1] != ","
    assert "," in tokens and "." in tokens
    assert tokenizer.tokens(["¿dónde"])[0][0] == "¿"


def test_long_words_of_known_characters_are_split(tokenizer):
    # 40 Devanagari characters (120 UTF-8 bytes) used to become one [UNK]
    # (tensorflow-text's 100-byte default).
    word = "मैं" * 10 + "हूँ" * 10
    assert len(word.encode("utf-8")) > 100
    ids = tokenizer.tokenize([word]).to_list()[0]
    assert len(ids) > 1 and tokenizer.UNK_ID not in ids
    assert _decode(tokenizer.detokenize([ids + [tokenizer.END_ID]])) == [word]


def test_unknown_characters_become_unk(tokenizer):
    ids = tokenizer.tokenize(["😀", "zzz", "café 😀"]).to_list()
    assert ids[0] == [tokenizer.UNK_ID]
    assert set(ids[1]) == {tokenizer.UNK_ID}
    assert ids[2][-1] == tokenizer.UNK_ID
    assert tokenizer.UNK_ID not in ids[2][:-1]
    assert _decode(tokenizer.detokenize([[3]])) == ["[UNK]"]


def test_empty_strings(tokenizer):
    ids = tokenizer.tokenize(["", "   ", "\t\n"])
    assert ids.to_list() == [[], [], []]
    assert _decode(tokenizer.detokenize(ids)) == ["", "", ""]
    padded = tokenizer.tokenize_padded([""], max_length=4)
    assert padded.numpy().tolist() == [[1, 2, 0, 0]]


@pytest.mark.parametrize(
    "space", ["\u2028", "\u2029", "\u0085", "\u1680", "\u3000", "\x0b"]
)
def test_every_unicode_white_space_separates_words(space):
    # The whitespace tokenizer used to leave bytes of U+2028 & co. in the
    # word before them: learn() raised UnicodeDecodeError, tokenize an [UNK].
    text = f"hello{space}world"
    tok = TextTokenizer.learn([text, "hello world"], vocab_size=50)
    assert tok.tokens([text]) == tok.tokens(["hello world"])
    assert _decode(tok.canonicalize([text])) == ["hello world"]


def test_nul_is_a_space_not_the_end_of_the_text():
    # tf.strings.lower ends a string at its first NUL.
    tok = TextTokenizer.learn(["मैं ठीक हूँ"], vocab_size=50)
    assert tok.tokens(["मैं\x00ठीक"]) == tok.tokens(["मैं ठीक"])
    assert tok.tokens(["\x00मैं"]) == tok.tokens(["मैं"])
    assert _decode(tok.normalize(["A\x00B"])) == ["a b"]


def test_words_longer_than_the_learners_limit_have_no_unknowns():
    # Thai is written without spaces: a sentence is one word, which the
    # WordPiece learner skips beyond 50 characters.
    thai = "วันนี้อากาศดีมากฉันจึงอยากออกไปเดินเล่นที่สวนสาธารณะกับเพื่อนๆของฉัน"
    assert len(thai) > 50
    tok = TextTokenizer.learn([thai, "ฉันรักคุณ"], vocab_size=300)
    ids = tok.tokenize([thai]).to_list()[0]
    assert tok.UNK_ID not in ids
    assert _decode(tok.detokenize([ids])) == [thai]


@pytest.mark.parametrize(
    "text",
    [
        "i ❤️ you", "👍🏽 ok", "🇮🇳 india", "👨\u200d👩\u200d👧 home",
        "a ✓\u0301 b",
        # England: the black flag, the tags "gbeng" and the cancel tag.
        "🏴\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F fan",
    ],
)
def test_marks_modifiers_and_emoji_sequences_stay_whole(text):
    tok = TextTokenizer.learn([text], vocab_size=100)
    assert tok.tokens([text])[0][1:] != []
    assert tok.UNK_ID not in tok.tokenize([text]).flat_values.numpy()
    assert _decode(tok.detokenize(tok.tokenize([text]))) == [text]
    assert _decode(tok.canonicalize([text])) == [text]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("你好，世界！你是谁？", "你好,世界!你是谁?"),
        ("本当？はい", "本当?はい"),
        ("你好（世界）", "你好(世界)"),
        # Latin after the bracket: spaced as in English.
        ("我去了东京 (Tokyo)。", "我去了东京 (tokyo)。"),
        ("كيف حالك؟ أنا بخير، شكرا؛ نعم", "كيف حالك؟ أنا بخير، شكرا؛ نعم"),
        ("یہ اچھا ہے۔", "یہ اچھا ہے۔"),
    ],
)
def test_cjk_and_arabic_punctuation_join_without_spaces(text, expected):
    # NFKC makes the full-width punctuation ASCII; it still joins CJK text
    # without spaces, and Arabic-script punctuation has no space before it.
    tok = TextTokenizer.learn([text], vocab_size=100)
    assert _decode(tok.detokenize(tok.tokenize([text]))) == [expected]
    assert _decode(tok.canonicalize([text])) == [expected]


def test_canonicalize_is_detokenize_of_tokenize_keeping_unknowns(tokenizer):
    texts = [ENGLISH, SPANISH, CHINESE, HINDI, "  Hello   WORLD .", ""]
    assert _decode(tokenizer.canonicalize(texts)) == _decode(
        tokenizer.detokenize(tokenizer.tokenize(texts))
    )
    assert _decode(tokenizer.canonicalize(["café 😀"])) == ["café 😀"]


def test_learning_from_no_word_raises():
    # It used to return the 4 reserved tokens alone: every text [UNK].
    with pytest.raises(ValueError, match="`texts` must hold at least one"):
        TextTokenizer.learn(["", "   ", "\u3000"])


def test_nfkc_normalization(tokenizer):
    assert _decode(tokenizer.normalize(["ＡＢＣ ﬁ"])) == ["abc fi"]
    assert (
        tokenizer.tokenize(["ＡＢＣ"]).to_list()
        == tokenizer.tokenize(["abc"]).to_list()
    )


def test_nfc_option():
    nfc = TextTokenizer.learn(CORPUS, vocab_size=300, normalization="NFC")
    # NFC composes but keeps compatibility characters (full width, ligature).
    assert _decode(nfc.normalize(["ＡＢＣ ﬁ cafe\u0301"])) == ["ａｂｃ ﬁ café"]
    assert nfc.get_config()["normalization"] == "NFC"


def test_nfd_keeps_no_space_scripts_joined():
    # NFD splits で into て + U+3099: the joining rule saw a mark, not a
    # CJK character, before the space ("私は学生で す。").
    nfd = TextTokenizer.learn([JAPANESE, "「がぎ」で。"], vocab_size=100,
                              normalization="NFD")
    for text in (JAPANESE, "「がぎ」で。"):
        ids = nfd.tokenize([text])
        expected = unicodedata.normalize("NFD", text)
        assert _decode(nfd.detokenize(ids)) == [expected]


def test_lowercase_false():
    cased = TextTokenizer.learn(CORPUS, vocab_size=300, lowercase=False)
    ids = cased.tokenize(["Hello world."])
    assert _decode(cased.detokenize(ids)) == ["Hello world."]


def test_tokenize_padded(tokenizer):
    ids = tokenizer.tokenize([CHINESE]).to_list()[0]  # 5 ids
    padded = tokenizer.tokenize_padded([CHINESE, ""], max_length=9).numpy()
    assert padded.dtype == np.int32
    assert padded.tolist() == [
        [1] + ids + [2, 0, 0],
        [1, 2, 0, 0, 0, 0, 0, 0, 0],
    ]
    cut = tokenizer.tokenize_padded([CHINESE], max_length=4).numpy()
    assert cut.tolist() == [[1] + ids[:2] + [2]]
    no_start = tokenizer.tokenize_padded([CHINESE], 4, add_start=False)
    assert no_start.numpy().tolist() == [ids[:3] + [2]]
    longest = tokenizer.tokenize_padded([CHINESE, "我"])
    assert longest.shape == (2, 7)


def test_tokenize_padded_bad_max_length(tokenizer):
    with pytest.raises(ValueError, match="max_length.*room.*larger"):
        tokenizer.tokenize_padded(["a"], max_length=1)
    with pytest.raises(ValueError, match="max_length.*room"):
        tokenizer.tokenize_padded(["a"], max_length=True)


def test_tokenize_padded_one_string_and_numpy_lengths(tokenizer):
    # One string is a batch of one (it used to fail on `.nrows()`).
    one = tokenizer.tokenize_padded(CHINESE, max_length=np.int64(9))
    assert one.numpy().tolist() == (
        tokenizer.tokenize_padded([CHINESE], max_length=9).numpy().tolist()
    )
    sized = TextTokenizer(tokenizer.vocabulary, max_length=np.int64(6))
    assert type(sized.max_length) is int  # JSON configs
    assert sized.tokenize_padded([CHINESE]).shape == (1, 6)


def test_detokenize_drops_special_tokens(tokenizer):
    ids = tokenizer.tokenize([CHINESE]).to_list()[0]
    dense = [[1] + ids + [2] + ids + [0, 0], [0] + ids + [0] * 8]
    assert _decode(tokenizer.detokenize(dense)) == [CHINESE, CHINESE]
    ragged = tf.ragged.constant([ids, ids[:2]])
    assert _decode(tokenizer.detokenize(ragged)) == [CHINESE, "我是"]
    single = tokenizer.detokenize(tf.constant(ids, tf.int64))
    assert single.shape == () and single.numpy().decode() == CHINESE


def test_id_to_token(tokenizer):
    ids = tokenizer.tokenize([CHINESE])
    assert _decode(tokenizer.id_to_token(ids).flat_values) == list(CHINESE)
    assert _decode(tokenizer.id_to_token([0, 10**6])) == ["[PAD]", "[UNK]"]


def test_learning_is_deterministic_and_accepts_datasets(tokenizer):
    again = TextTokenizer.learn(CORPUS, vocab_size=300)
    assert again.vocabulary == tokenizer.vocabulary
    dataset = tf.data.Dataset.from_tensor_slices(CORPUS)
    from_dataset = TextTokenizer.learn(dataset, vocab_size=300)
    assert from_dataset.vocabulary == tokenizer.vocabulary


def test_vocab_size_limits_vocabulary():
    texts = [f"word{i} w{i}x{i}" for i in range(200)]
    small = TextTokenizer.learn(texts, vocab_size=40)
    assert small.vocabulary_size <= 40
    # The alphabet is kept whole: every word is still spelled without [UNK].
    ids = small.tokenize(texts[:50])
    assert small.UNK_ID not in ids.flat_values.numpy()
    assert _decode(small.detokenize(ids)) == texts[:50]


def test_config_round_trip(tokenizer, tmp_path):
    config = json.loads(json.dumps(tokenizer.get_config()))
    clone = TextTokenizer.from_config(config)
    assert clone.vocabulary == tokenizer.vocabulary
    path = tokenizer.save(str(tmp_path / "tok"))
    assert path.endswith(TextTokenizer.CONFIG_FILENAME)
    loaded = TextTokenizer.load(str(tmp_path / "tok"))
    assert loaded.get_config() == tokenizer.get_config()
    texts = [HINDI, SPANISH]
    assert (
        loaded.tokenize(texts).to_list() == tokenizer.tokenize(texts).to_list()
    )


def test_load_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="No tokenizer file.*save"):
        TextTokenizer.load(str(tmp_path))


@pytest.mark.parametrize(
    "text", ["", "[1, 2]", '{"vocab": ["a"]}', '{"vocabulary": "abc"}']
)
def test_load_damaged_file_names_it(tmp_path, text):
    path = tmp_path / TextTokenizer.CONFIG_FILENAME
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="not a tokenizer file.*again"):
        TextTokenizer.load(str(tmp_path))


def test_name_survives_save_and_load(tokenizer, tmp_path):
    named = TextTokenizer(tokenizer.vocabulary, name="source_tokenizer")
    named.save(str(tmp_path))
    assert TextTokenizer.load(str(tmp_path)).name == "source_tokenizer"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        TextTokenizer.CONFIG_FILENAME  # no temporary file left
    ]


def test_bad_arguments():
    with pytest.raises(ValueError, match="must start with.*reserved"):
        TextTokenizer(["a", "[PAD]", "[START]", "[END]", "[UNK]"])
    with pytest.raises(ValueError, match="must not repeat.*Remove"):
        TextTokenizer(["[PAD]", "[START]", "[END]", "[UNK]", "a", "a"])
    with pytest.raises(TypeError, match="list of non-empty strings"):
        TextTokenizer("abc")
    with pytest.raises(ValueError, match="normalization.*NFKC"):
        TextTokenizer.learn(CORPUS, normalization="NFX")
    with pytest.raises(ValueError, match="vocab_size.*at least 5"):
        TextTokenizer.learn(CORPUS, vocab_size=4)
    # Each named, not TensorFlow's error or "no word to learn from".
    with pytest.raises(ValueError, match="`batch_size` must be a positive"):
        TextTokenizer.learn(CORPUS, batch_size=0)
    with pytest.raises(ValueError, match="`max_unique_chars` must be a pos"):
        TextTokenizer.learn(CORPUS, max_unique_chars=0)
    with pytest.raises(ValueError, match="`max_length` must be a positive"):
        TextTokenizer(["[PAD]", "[START]", "[END]", "[UNK]"], max_length=True)
    with pytest.raises(TypeError, match=r"texts\[1\].*str"):
        TextTokenizer.learn(["a", b"b"])
    with pytest.raises(TypeError, match="list of strings.*Wrap"):
        TextTokenizer.learn("just one text")
    pairs = tf.data.Dataset.from_tensor_slices((["a"], ["b"]))
    with pytest.raises(TypeError, match="dataset of string.*map"):
        TextTokenizer.learn(pairs)


def test_graph_mode(tokenizer):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def round_trip(texts):
        padded = tokenizer.tokenize_padded(texts, max_length=16)
        return tokenizer.detokenize(padded)

    assert _decode(round_trip(tf.constant([CHINESE, ARABIC]))) == [
        CHINESE,
        ARABIC,
    ]


def test_saved_model_round_trip(tokenizer, tmp_path):
    class Pipeline(tf.Module):
        def __init__(self, tok):
            super().__init__()
            self.tokenizer = tok

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, texts):
            return self.tokenizer.detokenize(self.tokenizer.tokenize(texts))

    path = str(tmp_path / "saved")
    tf.saved_model.save(Pipeline(tokenizer), path)
    del tokenizer  # the reloaded graph must not need the Python object
    restored = tf.saved_model.load(path)
    texts = [HINDI, JAPANESE, CHINESE, ARABIC, SPANISH, ""]
    expected = [HINDI, JAPANESE, CHINESE, ARABIC, "¿dónde está el café?", ""]
    assert _decode(restored(tf.constant(texts))) == expected
