"""Tests for keras_bahdanau.data (pair loading, splitting, synthetic tasks)."""

import os
import warnings

import numpy as np
import pytest

from keras_bahdanau import data


def _write(tmp_path, text, name="pairs.tsv", bom=False):
    path = tmp_path / name
    raw = text.encode("utf-8")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + raw)
    return str(path)


def test_two_and_three_columns(tmp_path):
    path = _write(
        tmp_path,
        "Hello.\tनमस्ते।\tCC-BY 2.0 (France) Attribution: tatoeba.org #1\n"
        "Go.\tजाओ।\n",
    )
    assert data.load_pairs(path) == [("Hello.", "नमस्ते।"), ("Go.", "जाओ।")]


def test_bom_and_whitespace_are_stripped(tmp_path):
    path = _write(tmp_path, "  Hi. \t वाह! \r\nGo.\tजाओ।\r\n", bom=True)
    pairs = data.load_pairs(path)
    assert pairs == [("Hi.", "वाह!"), ("Go.", "जाओ।")]
    assert not pairs[0][0].startswith("\ufeff")


def test_byte_order_marks_inside_the_file_are_stripped(tmp_path):
    # Two exports joined with `cat`: the second one's mark is mid-file.
    path = _write(tmp_path, "Hi.\tवाह!\n\ufeffGo.\tजाओ।\n", bom=True)
    assert data.load_pairs(path) == [("Hi.", "वाह!"), ("Go.", "जाओ।")]


def test_old_mac_line_ends(tmp_path):
    # A lone "\r" ends a line: the file used to load as one pair whose
    # target swallowed the next line (and its source as "attribution").
    path = _write(tmp_path, "a\tb\rc\td\r\ne\tf\n")
    assert data.load_pairs(path) == [("a", "b"), ("c", "d"), ("e", "f")]


def test_reverse(tmp_path):
    path = _write(tmp_path, "Hi.\tवाह!\nGo.\tजाओ।\n")
    assert data.load_pairs(path, reverse=True) == [
        ("वाह!", "Hi."),
        ("जाओ।", "Go."),
    ]


def test_duplicates_and_empty_pairs_dropped(tmp_path):
    path = _write(
        tmp_path,
        "a\tb\tattr 1\n\nc\t \n a \tb\tattr 2\na\tc\n\t\n",
    )
    assert data.load_pairs(path) == [("a", "b"), ("a", "c")]


def test_malformed_lines_are_reported_by_number(tmp_path):
    lines = ["a\tb", "only one column", "c\td", "1\t2\t3\t4"]
    lines += [f"bad{i}" for i in range(5)]
    path = _write(tmp_path, "\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match=r"7 line.*2, 4, 5, 6, 7, \.\.\.") as w:
        pairs = data.load_pairs(path)
    assert len(w) == 1
    assert pairs == [("a", "b"), ("c", "d")]


def test_no_warning_for_good_file(tmp_path):
    path = _write(tmp_path, "a\tb\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data.load_pairs(path)


def test_all_bad_lines(tmp_path):
    path = _write(tmp_path, "no tabs here\nnor here\n")
    with pytest.raises(ValueError, match=r"pairs\.tsv.*no valid line.*1, 2"):
        data.load_pairs(path)


def test_empty_file(tmp_path):
    path = _write(tmp_path, "")
    with pytest.raises(ValueError, match="is empty"):
        data.load_pairs(path)
    blank = _write(tmp_path, "\n \n", name="blank.tsv", bom=True)
    with pytest.raises(ValueError, match="is empty"):
        data.load_pairs(blank)


def test_only_empty_pairs(tmp_path):
    path = _write(tmp_path, "a\t\n\tb\n")
    with pytest.raises(ValueError, match="no non-empty sentence pair"):
        data.load_pairs(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found.*missing.tsv"):
        data.load_pairs(str(tmp_path / "missing.tsv"))


def test_directory_is_not_a_pairs_file(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory, not a file"):
        data.load_pairs(tmp_path)


@pytest.mark.parametrize("path", [None, 5, b"pairs.tsv"])
def test_path_of_wrong_type(path):
    with pytest.raises(TypeError, match=r"`path` must be a path.*Received: "
                       r"path=.*Pass e\.g\. path="):
        data.load_pairs(path)


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes("café\tx\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not valid UTF-8.*Re-encode"):
        data.load_pairs(str(path))


def test_as_pairs(tmp_path):
    assert data.as_pairs([("a", "b"), ["c", "d"]]) == [("a", "b"), ("c", "d")]
    assert data.as_pairs([("a", "b")], reverse=True) == [("b", "a")]
    path = _write(tmp_path, "a\tb\n")
    assert data.as_pairs(path) == [("a", "b")]
    assert data.as_pairs(tmp_path / "pairs.tsv") == [("a", "b")]


def test_as_pairs_errors():
    with pytest.raises(TypeError, match=r"pairs_or_path\[1\].*tuple"):
        data.as_pairs([("a", "b"), "c"])
    with pytest.raises(ValueError, match=r"pairs_or_path\[0\].*2 items"):
        data.as_pairs([("a", "b", "attribution")])
    with pytest.raises(TypeError, match=r"pairs_or_path\[1\].*two str"):
        data.as_pairs([("a", "b"), ("c", 3)])
    with pytest.raises(ValueError, match="at least one pair"):
        data.as_pairs([])
    # A list used to keep them: "a -> nothing" was trained silently.
    with pytest.raises(ValueError, match=r"\[1\]` must have a non-empty tar"):
        data.as_pairs([("a", "b"), ("c", "")])
    with pytest.raises(ValueError, match=r"\[0\]` must have a non-empty sou"):
        data.as_pairs([(" \t", "b")], reverse=True)
    with pytest.raises(TypeError, match="path or a list"):
        data.as_pairs({"a": "b"})


def test_split_pairs_deterministic_and_disjoint():
    pairs = [(str(i), str(-i)) for i in range(100)]
    train, val, test = data.split_pairs(pairs, 0.1, 0.2, seed=3)
    assert (len(train), len(val), len(test)) == (70, 10, 20)
    assert sorted(train + val + test) == sorted(pairs)
    assert not set(train) & set(val) and not set(val) & set(test)
    assert data.split_pairs(pairs, 0.1, 0.2, seed=3) == (train, val, test)
    other = data.split_pairs(pairs, 0.1, 0.2, seed=4)
    assert other[1] != val
    assert train != pairs[:70]  # shuffled
    # A non-zero fraction of a small list still gets one pair.
    small_train, small_val, _ = data.split_pairs(pairs[:3], 0.1)
    assert (len(small_train), len(small_val)) == (2, 1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"validation_split": 1.0}, r"validation_split.*\[0, 1\)"),
        ({"validation_split": -0.1}, r"validation_split.*\[0, 1\)"),
        ({"test_split": 1.5}, r"test_split.*\[0, 1\)"),
        ({"validation_split": 0.6, "test_split": 0.4}, "below 1.*training"),
    ],
)
def test_split_pairs_bad_fractions(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.split_pairs([("a", "b")] * 10, **kwargs)


@pytest.mark.parametrize(
    "seed, error", [(-1, ValueError), ("x", TypeError), (1.5, TypeError)]
)
def test_seeds_are_checked(seed, error):
    # NumPy's own errors named no argument.
    for make in (
        lambda: data.split_pairs([1, 2, 3], seed=seed),
        lambda: data.reversal_text_pairs(2, seed=seed),
        lambda: data.date_text_pairs(2, seed=seed),
        lambda: data.reversal_task(2, 2, 3, seed=seed),
    ):
        with pytest.raises(error, match="`seed` must be"):
            make()
    assert data.reversal_text_pairs(2, seed=np.int64(3)) == (
        data.reversal_text_pairs(2, seed=3)
    )


def test_split_pairs_too_small():
    with pytest.raises(ValueError, match="too small.*more pairs"):
        data.split_pairs([("a", "b")], 0.5)
    with pytest.raises(TypeError, match="validation_split.*float"):
        data.split_pairs([("a", "b")] * 3, "0.1")


def test_default_pairs():
    path = data.default_pairs_path()
    assert os.path.isfile(path) and path.endswith("hin-eng.tsv")
    license_path = os.path.join(os.path.dirname(path), "LICENSE-hin-eng.txt")
    assert "CC BY 2.0 FR" in open(license_path, encoding="utf-8").read()
    pairs = data.load_default_pairs()
    assert len(pairs) >= 2900
    assert pairs[0] == ("Wow!", "वाह!")
    assert all(source and target for source, target in pairs)
    assert data.load_default_pairs(reverse=True)[0] == ("वाह!", "Wow!")


def test_reversal_task():
    src, dec_in, tgt = data.reversal_task(
        200, min_length=2, max_length=6, vocab_size=5, seed=1
    )
    assert src.shape == (200, 6) and tgt.shape == dec_in.shape == (200, 7)
    assert src.dtype == dec_in.dtype == tgt.dtype == np.int32
    lengths = (src != 0).sum(axis=1)
    assert lengths.min() == 2 and lengths.max() == 6
    for s, d, t, n in zip(src, dec_in, tgt, lengths):
        content = s[:n]
        assert np.all((content >= 3) & (content < 8))
        assert np.all(s[n:] == 0)
        assert t[:n].tolist() == content[::-1].tolist()
        assert t[n] == 2 and np.all(t[n + 1 :] == 0)
        assert d[0] == 1 and d[1:].tolist() == t[:-1].tolist()
    again = data.reversal_task(200, 2, 6, 5, seed=1)
    assert np.array_equal(again[0], src)
    assert not np.array_equal(data.reversal_task(200, 2, 6, 5, seed=2)[0], src)


def test_reversal_task_custom_special_ids():
    src, dec_in, tgt = data.reversal_task(
        50, 3, 3, vocab_size=4, pad_id=9, start_id=7, end_id=8
    )
    assert src.min() >= 10 and src.max() < 14
    assert np.all(dec_in[:, 0] == 7) and np.all(tgt[:, 3] == 8)


def test_reversal_task_errors():
    with pytest.raises(ValueError, match="min_length.*must not exceed"):
        data.reversal_task(5, min_length=4, max_length=3)
    with pytest.raises(ValueError, match="num_samples.*at least 1"):
        data.reversal_task(0)
    with pytest.raises(TypeError, match="max_length.*int"):
        data.reversal_task(5, max_length=3.5)


def test_reversal_text_pairs():
    pairs = data.reversal_text_pairs(50, min_length=2, max_length=4, seed=0)
    assert len(pairs) == 50
    for source, target in pairs:
        words = source.split(" ")
        assert 2 <= len(words) <= 4
        assert target.split(" ") == words[::-1]
        assert all(w.isdigit() and int(w) < 10 for w in words)
    assert data.reversal_text_pairs(50, 2, 4, seed=0) == pairs


def test_date_text_pairs():
    import datetime

    pairs = data.date_text_pairs(300, seed=0)
    assert data.date_text_pairs(300, seed=0) == pairs
    months = "january february march april may june july august september"
    months += " october november december"
    months = months.split()
    formats = set()
    for source, target in pairs:
        date = datetime.date.fromisoformat(target)
        assert 1950 <= date.year <= 2049
        assert str(date.year) in source
        if "/" in source:
            assert source == date.strftime("%d/%m/%Y")
            formats.add("slash")
        else:
            month = months[date.month - 1]
            assert month[:3] in source
            assert str(date.day) in source.replace(str(date.year), "")
            formats.add(source.split()[0][:3] == month[:3])
    assert len(formats) == 3  # slash, month first, other first


def test_split_pairs_accepts_numpy_fractions():
    # np.float32(0.2) used to be refused as "must be a float".
    pairs = list(range(10))
    expected = data.split_pairs(pairs, 0.2, 0.1, seed=0)
    assert data.split_pairs(
        pairs, np.float32(0.2), np.float64(0.1), seed=0
    ) == expected
    assert data.split_pairs(pairs, np.int64(0))[1] == []
    with pytest.raises(TypeError, match=r"`validation_split` must be a "
                       r"float. Received: validation_split=np.True_"):
        data.split_pairs(pairs, np.bool_(True))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        # END equal to PAD: every end of sentence looked like padding.
        ({"pad_id": 2, "end_id": 2}, ValueError,
         r"`pad_id`, `start_id` and `end_id` must be different.*"
         r"Give each special token its own id"),
        ({"start_id": 0}, ValueError, "must be different"),
        # Negative ids ended up in the arrays.
        ({"pad_id": -5}, ValueError,
         r"`pad_id` must be a non-negative int.*Received: pad_id=-5. "
         r"Pass e.g. pad_id=0"),
        ({"end_id": 2.0}, TypeError,
         r"`end_id` must be an int.*Received: end_id=2.0 of type float"),
        ({"start_id": True}, TypeError, r"`start_id` must be an int"),
        ({"pad_id": None}, TypeError, r"`pad_id` must be an int"),
    ],
)
def test_reversal_task_checks_special_ids(kwargs, error, match):
    with pytest.raises(error, match=match):
        data.reversal_task(2, 2, 3, **kwargs)


def test_reversal_task_accepts_numpy_special_ids():
    src, dec_in, tgt = data.reversal_task(
        20, 3, 3, vocab_size=4, pad_id=np.int64(9), start_id=np.int32(7),
        end_id=np.int64(8),
    )
    expected = data.reversal_task(
        20, 3, 3, vocab_size=4, pad_id=9, start_id=7, end_id=8
    )
    for got, want in zip((src, dec_in, tgt), expected):
        np.testing.assert_array_equal(got, want)


@pytest.fixture(scope="module")
def tokenizer():
    from keras_bahdanau.text import TextTokenizer

    return TextTokenizer.learn(
        [s for s, _ in data.reversal_text_pairs(40, seed=0)], vocab_size=30
    )


def test_make_dataset_empty_pairs_have_their_own_message(tokenizer):
    from keras_bahdanau.data.datasets import make_dataset

    # Used to say "0 pair(s), all longer than max_source_length=...".
    with pytest.raises(ValueError, match=r"`pairs` must hold at least one "
                       r"\(source, target\) pair. Received: pairs=\[\] "
                       r"\(no pairs\). Pass some pairs"):
        make_dataset([], tokenizer, tokenizer)
    with pytest.raises(ValueError, match=r"`validation_pairs` must hold"):
        make_dataset([], tokenizer, tokenizer, name="validation_pairs")


@pytest.mark.parametrize("name", ["max_source_length", "max_target_length"])
@pytest.mark.parametrize("value", [None, 40.0, 0, "40", True])
def test_make_dataset_checks_lengths(tokenizer, name, value):
    from keras_bahdanau.data.datasets import make_dataset

    # None was a bare TypeError; 40.0 a TensorFlow error inside tf.data.
    pairs = data.reversal_text_pairs(4, seed=0)
    with pytest.raises(ValueError, match=rf"`{name}` must be a positive "
                       rf"int, e.g. {name}=40. Received: {name}="):
        make_dataset(pairs, tokenizer, tokenizer, **{name: value})


@pytest.mark.parametrize(
    "epoch, received",
    [
        (3, r"epoch=3 of type int"),
        ("0", r"epoch='0' of type str"),
        ("int32", r"a tf.Variable of dtype int32"),
    ],
)
@pytest.mark.parametrize("shuffle", [True, False])
def test_make_dataset_checks_epoch(tokenizer, epoch, received, shuffle):
    import tensorflow as tf

    from keras_bahdanau.data.datasets import make_dataset

    if epoch == "int32":
        epoch = tf.Variable(0, dtype=tf.int32)
    pairs = data.reversal_text_pairs(4, seed=0)
    with pytest.raises(TypeError, match=r"`epoch` must be None or an int64 "
                       rf"tf.Variable.*Received: {received}. Pass e.g. "
                       r"epoch=tf.Variable\(0, dtype=tf.int64\)"):
        make_dataset(pairs, tokenizer, tokenizer, shuffle=shuffle,
                     epoch=epoch)


def test_make_dataset_accepts_numpy_sizes_and_int64_epoch(tokenizer):
    import tensorflow as tf

    from keras_bahdanau.data.datasets import make_dataset

    pairs = data.reversal_text_pairs(10, seed=0)
    dataset = make_dataset(
        pairs, tokenizer, tokenizer, max_source_length=np.int64(20),
        max_target_length=np.int32(20), batch_size=np.int64(4), shuffle=True,
        seed=0, epoch=tf.Variable(0, dtype=tf.int64),
    )
    sizes = [int(target.shape[0]) for _, target in dataset]
    assert sizes == [4, 4, 2]
