"""Translator: end to end on the synthetic reversal task (tiny preset)."""

import csv
import json
import os
import subprocess
import sys
import textwrap
import warnings
import zipfile

import keras
import numpy as np
import pytest

import keras_bahdanau as kb
from keras_bahdanau import metrics
from keras_bahdanau import plotting
from keras_bahdanau import training
from keras_bahdanau.data.datasets import make_dataset

LIMITS = {"max_source_length": 10, "max_target_length": 10}


def _pairs(n=240, seed=0):
    return kb.reversal_text_pairs(n, min_length=2, max_length=6, seed=seed)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    keras.utils.set_random_seed(0)
    directory = str(tmp_path_factory.mktemp("translator"))
    translator = kb.Translator.from_pairs(_pairs(), preset="tiny", **LIMITS)
    translator.fit(epochs=2, batch_size=16, directory=directory, verbose=0)
    return translator, directory


def test_from_pairs_splits_and_learns_from_training_pairs():
    translator = kb.Translator.from_pairs(
        _pairs(50), preset="tiny", validation_split=0.2, **LIMITS
    )
    assert len(translator.train_pairs) == 40
    assert len(translator.validation_pairs) == 10
    model = translator.model
    assert model.source_vocab_size == (
        translator.source_tokenizer.vocabulary_size
    )


def test_from_pairs_rejects_unknown_preset_and_override():
    with pytest.raises(ValueError, match="preset.*Pick one"):
        kb.Translator.from_pairs(_pairs(20), preset="huge")
    # build_model documents TypeError; Keras raises ValueError today.
    with pytest.raises((TypeError, ValueError), match="no_such_arg"):
        kb.Translator.from_pairs(_pairs(20), preset="tiny", no_such_arg=1)


def test_constructor_rejects_mismatched_vocabulary(trained):
    translator, _ = trained
    model = kb.build_model(7, 7, preset="tiny")
    with pytest.raises(ValueError, match="vocab_size.*build_model"):
        kb.Translator(
            translator.source_tokenizer, translator.target_tokenizer, model
        )
    with pytest.raises(TypeError, match="source_tokenizer"):
        kb.Translator(None, translator.target_tokenizer, model)


def test_make_dataset_layout_and_dropping(trained):
    translator, _ = trained
    pairs = [("1 2 3", "3 2 1"), ("1 " * 30, "1 " * 30)]
    with pytest.warns(UserWarning, match="Dropped 1 of 2"):
        dataset = make_dataset(
            pairs, translator.source_tokenizer, translator.target_tokenizer,
            **LIMITS,
        )
    (source, decoder_input), target = next(iter(dataset))
    source, decoder_input, target = (
        np.asarray(source), np.asarray(decoder_input), np.asarray(target)
    )
    assert source.shape == (1, 4)  # 3 words + [END], padded per batch
    assert source[0, -1] == kb.TextTokenizer.END_ID
    assert decoder_input[0, 0] == kb.TextTokenizer.START_ID
    assert target[0, -1] == kb.TextTokenizer.END_ID
    np.testing.assert_array_equal(decoder_input[0, 1:], target[0, :-1])
    with pytest.raises(ValueError, match="within the length limits"):
        make_dataset(
            pairs[1:], translator.source_tokenizer,
            translator.target_tokenizer, **LIMITS,
        )


def test_epoch_variable_fixes_each_epoch_order(trained):
    # The order is a function of (seed, epoch): the same for a new dataset
    # at the same epoch, another at the next epoch, whatever ran before.
    import tensorflow as tf

    translator, _ = trained
    pairs = [(f"{i} {i}", f"{i}") for i in range(3, 40)]

    def order(value, seed=5):
        epoch = tf.Variable(value, dtype=tf.int64)
        dataset = make_dataset(
            pairs, translator.source_tokenizer, translator.target_tokenizer,
            batch_size=8, shuffle=True, seed=seed, epoch=epoch, **LIMITS,
        )
        assert int(dataset.cardinality()) == 5
        twice = [
            np.concatenate([np.asarray(t)[:, 0] for _, t in dataset])
            for _ in range(2)
        ]
        np.testing.assert_array_equal(*twice)  # fixed while epoch is
        return twice[0]

    first = order(0)
    np.testing.assert_array_equal(order(0), first)
    assert not np.array_equal(order(1), first)
    assert not np.array_equal(order(0, seed=6), first)


def test_translate_empty_and_whitespace_give_empty(trained):
    translator, _ = trained
    # Ideographic, no-break and em spaces too: no sub-word, no model run.
    out = translator.translate(
        ["", "   ", "\t\n", "\u3000", "\u00a0 \u2003", "1 2 3"]
    )
    assert out[:5] == [""] * 5
    assert isinstance(out[5], str)
    assert translator.translate("1 2") == translator.translate(["1 2"])


@pytest.mark.parametrize(
    "settings, error, match",
    [
        ({"strategy": "bogus"}, ValueError, "`strategy` must be one of"),
        ({"strategy": "beam", "beam_size": -3}, ValueError, "`beam_size`"),
        ({"max_length": -1}, ValueError, "`max_length`"),
        ({"strategy": "sampling", "temperature": "hot"}, ValueError,
         "`temperature`"),
        ({"foo": 1}, TypeError, "foo"),
    ],
)
@pytest.mark.parametrize("texts", [[""], ["1 2"]])
def test_translate_checks_settings_with_or_without_text(
    trained, texts, settings, error, match
):
    translator, _ = trained
    with pytest.raises(error, match=match):
        translator.translate(texts, **settings)


@pytest.mark.parametrize(
    "texts, match",
    [
        (["1 2", None], r"texts\[1\].*str"),
        (["1 2", 3], r"texts\[1\].*int"),
        ([b"1 2"], r"texts\[0\].*bytes"),
        (5, r"`texts` must be a str or a list"),
    ],
)
def test_translate_rejects_non_strings(trained, texts, match):
    translator, _ = trained
    with pytest.raises(TypeError, match=match):
        translator.translate(texts)


def test_translate_unknown_characters_and_long_input(trained):
    translator, _ = trained
    out = translator.translate(["☃ 1 ध्रुव 我"])
    assert len(out) == 1 and isinstance(out[0], str)
    with pytest.warns(UserWarning, match=r"texts\[0\].*max_source_length"):
        out = translator.translate([" ".join(["1"] * 50)])
    assert isinstance(out[0], str)


def test_long_input_warning_names_the_original_index(trained):
    translator, _ = trained
    long = " ".join(["1"] * 50)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        translator.translate([long, "1 2"])  # sorted by length: "1 2" first
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and messages[0].startswith("`texts[0]`")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        translator.attention(long)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and messages[0].startswith("`text` has")


def test_fit_names_validation_pairs_when_all_are_too_long(trained):
    translator, _ = trained
    long = " ".join(["1"] * 30)
    with pytest.raises(ValueError, match=r"^`validation_pairs` must hold at "
                       r"least one pair within the length limits.*Raise"):
        translator.fit([("1 2", "2 1")], validation_pairs=[(long, long)],
                       epochs=1, verbose=0)


def test_translate_strategies(trained):
    translator, _ = trained
    texts = ["1 2 3", "4 5"]
    greedy = translator.translate(texts)
    assert translator.translate(texts, strategy="beam", beam_size=1) == greedy
    sampled = translator.translate(texts, strategy="sampling", seed=3)
    assert sampled == translator.translate(
        texts, strategy="sampling", seed=3
    )
    with pytest.raises(ValueError, match="strategy"):
        translator.translate(texts, strategy="nope")


def test_attention_shapes_and_rows(trained):
    translator, _ = trained
    result = translator.attention("1 2 3")
    assert result["source_tokens"] == ["1", "2", "3", "[END]"]
    weights = result["weights"]
    assert weights.shape == (
        len(result["target_tokens"]), len(result["source_tokens"])
    )
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="`text` must hold a word"):
        translator.attention("  ")
    with pytest.raises(TypeError, match="`text` must be a str"):
        translator.attention(None)


def test_plot_attention_writes_png(trained, tmp_path):
    translator, _ = trained
    path = tmp_path / "attention.png"
    figure = translator.plot_attention("1 2 3", str(path))
    assert path.stat().st_size > 0
    labels = [t.get_text() for t in figure.axes[0].get_xticklabels()]
    assert labels == ["1", "2", "3", "[END]"]


@pytest.mark.parametrize(
    "text",
    ["नमस्ते मैं ध्रुव हूँ", "私は学生です。", "这是一个简单的测试", "한국어"],
)
def test_font_families_cover_devanagari_and_cjk(text):
    # The `plot` and `test` extras install the Devanagari and CJK fonts.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        families = plotting.font_families([text])
    assert families[0] == "DejaVu Sans"
    assert len(families) >= 2


def test_font_families_warn_for_uncovered_characters():
    with pytest.warns(UserWarning, match="No installed font"):
        plotting.font_families(["\U0010fffd"])  # private use, plane 16


def test_plot_attention_checks_shape():
    with pytest.raises(ValueError, match="weights.*shape"):
        plotting.plot_attention(["a"], ["b", "c"], np.ones((1, 1)))


def test_corpus_scores():
    same = "the cat sat on the mat today"
    scores = metrics.corpus_scores([same], [same])
    assert scores == {"bleu": 100.0, "chrf": 100.0, "n": 1}
    assert metrics.bleu_tokenizer(["我是学生"]) == "zh"
    assert metrics.bleu_tokenizer(["नमस्ते।"]) == "intl"
    with pytest.raises(ValueError, match="same length"):
        metrics.corpus_scores(["a"], [])


def test_evaluate(trained, tmp_path):
    translator, _ = trained
    pairs = _pairs(20, seed=5)
    scores = translator.evaluate(pairs)
    assert set(scores) == {"bleu", "chrf", "n"} and scores["n"] == 20
    assert 0.0 <= scores["bleu"] <= 100.0 and 0.0 <= scores["chrf"] <= 100.0
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), "utf-8")
    assert translator.evaluate(str(path), limit=5)["n"] == 5


def test_evaluate_scores_references_in_the_models_form(trained, monkeypatch):
    # The model writes normalised, lower-cased, canonically spaced text: a
    # perfect translation scores 100 against references in any case and
    # spacing (it scored BLEU 17.5 on such references before).
    translator, _ = trained
    pairs = [("1 2", "Two ,One  WON'T!"), ("3", "ＴＨＲＥＥ （3）.")]
    monkeypatch.setattr(
        translator, "translate",
        lambda texts, **kwargs: ["two, one won't!", "three (3)."],
    )
    scores = translator.evaluate(pairs)
    assert (scores["bleu"], scores["chrf"]) == (100.0, 100.0)


def test_save_load_directory_and_keras_file(trained, tmp_path):
    translator, directory = trained
    texts = ["1 2 3", "7 8", ""]
    expected = translator.translate(texts)
    assert kb.Translator.load(directory).translate(texts) == expected
    path = translator.save(str(tmp_path / "translator.keras"))
    loaded = kb.Translator.load(path)
    assert loaded.translate(texts) == expected
    assert loaded.max_source_length == LIMITS["max_source_length"]
    with pytest.raises(FileNotFoundError, match="No saved translator"):
        kb.Translator.load(str(tmp_path / "missing"))


def test_failed_keras_file_save_keeps_the_old_file(trained, tmp_path,
                                                   monkeypatch):
    # The model used to be written over the old file first and the
    # translator entry appended after: a failure in between left a file
    # that no longer loaded.
    translator, _ = trained
    path = str(tmp_path / "t.keras")
    translator.save(path)
    before = open(path, "rb").read()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", fail)
    with pytest.raises(OSError, match="disk full"):
        translator.save(path)
    monkeypatch.undo()
    assert open(path, "rb").read() == before
    assert os.listdir(tmp_path) == ["t.keras"]
    # What a killed save leaves is removed by the next complete one.
    open(tmp_path / ".tmp.t.keras.killed.keras", "w").close()
    translator.save(path)
    assert os.listdir(tmp_path) == ["t.keras"]
    assert kb.Translator.load(path).translate(["1 2"]) == (
        translator.translate(["1 2"]))


def test_keras_file_save_through_a_link_keeps_link_and_mode(trained,
                                                            tmp_path):
    translator, _ = trained
    target = tmp_path / "runs" / "t.keras"
    target.parent.mkdir()
    translator.save(str(target))
    os.chmod(target, 0o600)
    link = tmp_path / "latest.keras"
    link.symlink_to(target)
    before = target.stat().st_mtime_ns
    translator.save(str(link))
    assert link.is_symlink() and target.stat().st_mtime_ns >= before
    assert (target.stat().st_mode & 0o777) == 0o600
    assert sorted(os.listdir(target.parent)) == ["t.keras"]
    assert kb.Translator.load(str(link)).translate(["1 2"]) == (
        translator.translate(["1 2"]))


def test_untrained_translator_saves_and_loads_without_warnings(tmp_path):
    # Saved before its first step, the optimizer had no slots and loading
    # warned "Skipping variable loading for optimizer".
    translator = kb.Translator.from_pairs(_pairs(40), preset="tiny")
    for path in (str(tmp_path / "dir"), str(tmp_path / "t.keras")):
        translator.save(path)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loaded = kb.Translator.load(path)
        assert loaded.translate(["1 2"]) == translator.translate(["1 2"])


@pytest.mark.parametrize("name, value", [("pad_id", 5), ("start_id", 6),
                                         ("end_id", 7)])
def test_translator_rejects_other_special_ids(name, value):
    # The tokenizers' ids are fixed (0, 1, 2); a model with others gave
    # wrong translations without an error.
    with pytest.raises(ValueError, match=f"`model.{name}` must be"):
        kb.Translator.from_pairs(_pairs(40), preset="tiny", **{name: value})


def test_fit_rejects_a_keras_file_as_directory(tmp_path):
    translator = kb.Translator.from_pairs(_pairs(40), preset="tiny")
    path = tmp_path / "run.keras"
    with pytest.raises(ValueError, match="`directory` must be a directory"):
        translator.fit(epochs=1, directory=str(path), verbose=0)
    assert not path.exists()


def test_save_load_export_reject_bad_paths(trained, tmp_path):
    translator, _ = trained
    for call in (translator.save, kb.Translator.load, translator.export):
        with pytest.raises(TypeError, match=r"`path` must be a path \(str "
                           r"or os.PathLike\)\. Received: path=None"):
            call(None)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    with pytest.raises(FileExistsError, match=r"`path` must be a directory.*"
                       r"an existing file\. Pass another path"):
        translator.save(str(a_file))
    with pytest.raises(FileExistsError, match=r"`path` must be a directory.*"
                       r"an existing file\. Pass another path"):
        translator.export(str(a_file))
    # Used to fail renaming an internal temporary file onto the directory.
    a_directory = tmp_path / "run.keras"
    a_directory.mkdir()
    with pytest.raises(IsADirectoryError, match=r"`path` ending in `.keras` "
                       r"must be a file.*run.keras', an existing directory"):
        translator.save(str(a_directory))
    assert sorted(os.listdir(tmp_path)) == ["a_file", "run.keras"]
    fake = tmp_path / "fake.keras"
    fake.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match=r"`path` must be a translator saved "
                       r"by Translator.save.*not a zip file"):
        kb.Translator.load(str(fake))


@pytest.mark.parametrize("name, content, problem", [
    ("translator.json", "{}", "it lacks 'max_source_length'"),
    ("translator.json", "[]", "it holds no settings object"),
    ("translator.json", "{bad", "JSONDecodeError"),
    # The tokenizer's own error, which names its cause.
    ("target_tokenizer.json", "{}",
     "ValueError: .*not a tokenizer file.*TypeError"),
    ("model.keras", None, "KeyError"),
])
def test_load_names_a_damaged_file(trained, tmp_path, name, content,
                                   problem):
    # Damaged files used to escape as KeyError, AttributeError or
    # TypeError (a traceback from the CLI) instead of a ValueError.
    import shutil

    _, directory = trained
    copy = tmp_path / "copy"
    shutil.copytree(directory, copy)
    if content is None:  # a zip without the model's config.json
        with zipfile.ZipFile(copy / name, "w") as archive:
            archive.writestr("x.txt", "x")
    else:
        (copy / name).write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=rf"whose {name} is damaged "
                       rf"\({problem}"):
        kb.Translator.load(str(copy))


def test_load_names_a_damaged_keras_file_entry(trained, tmp_path):
    translator, _ = trained
    path = translator.save(str(tmp_path / "translator.keras"))
    damaged = tmp_path / "damaged.keras"
    with zipfile.ZipFile(path) as source, \
            zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "keras_bahdanau_translator.json":
                data = b'{"source_tokenizer": {}}'
            target.writestr(item, data)
    with pytest.raises(ValueError, match=r"damaged.keras', whose "
                       r"keras_bahdanau_translator.json is damaged"):
        kb.Translator.load(str(damaged))


def test_training_directory_contents(trained):
    _, directory = trained
    names = set(os.listdir(directory))
    assert {
        "model.keras", "source_tokenizer.json", "target_tokenizer.json",
        "translator.json", "training_log.csv",
    } <= names
    state = training.read_state(directory)
    assert state["finished"] and state["completed_epochs"] == 2
    with open(os.path.join(directory, "training_log.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert "val_loss" in rows[0]


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise KeyboardInterrupt


def test_resume_after_interruption(tmp_path):
    directory = str(tmp_path / "run")
    translator = kb.Translator.from_pairs(_pairs(96), preset="tiny", **LIMITS)
    settings = dict(epochs=3, batch_size=16, directory=directory, verbose=0,
                    backup_every=2, early_stopping_patience=None)
    with pytest.raises(KeyboardInterrupt):
        translator.fit(callbacks=[_Interrupt(1, 3)], **settings)
    state = training.read_state(directory)
    assert state["completed_epochs"] == 1 and state["batch"] == 4
    assert not state["finished"]

    # A new process: load what was saved, split the data again, fit again.
    resumed = kb.Translator.load(directory)
    resumed.train_pairs = translator.train_pairs
    resumed.validation_pairs = translator.validation_pairs
    history = resumed.fit(**settings)
    assert len(history.history["loss"]) == 2  # epochs 2 and 3 only
    with open(os.path.join(directory, "training_log.csv")) as f:
        epochs = [row["epoch"] for row in csv.DictReader(f)]
    assert epochs == ["0", "1", "2"]
    assert training.read_state(directory)["finished"]
    # Finished: nothing is trained; the History is read from the log.
    again = resumed.fit(**settings)
    assert again.epoch == [0, 1, 2]
    assert again.history["loss"][1:] == pytest.approx(
        history.history["loss"]
    )


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_resume_at_an_epoch_end_equals_an_uninterrupted_run(tmp_path,
                                                            dropout):
    # The batch order of each epoch comes from (seed, epoch): a run stopped
    # after epoch 1 and resumed in a "new process" (a loaded translator, a
    # new dataset) ends with the weights of a run never stopped. With a
    # plain reshuffling pipeline the resumed epochs replayed epoch 0's
    # order (weights apart by up to 0.09). With dropout, the backup holds
    # the dropout layers' random state too (apart by about 0.008 before).
    settings = dict(batch_size=16, verbose=0, early_stopping_patience=None)
    keras.utils.set_random_seed(0)
    full = kb.Translator.from_pairs(_pairs(96), preset="tiny",
                                    dropout=dropout, **LIMITS)
    start = full.model.get_weights()
    full.fit(epochs=3, directory=str(tmp_path / "full"), **settings)
    directory = str(tmp_path / "resumed")
    keras.utils.set_random_seed(0)
    first = kb.Translator.from_pairs(_pairs(96), preset="tiny",
                                     dropout=dropout, **LIMITS)
    first.model.set_weights(start)
    first.fit(epochs=1, directory=directory, **settings)
    resumed = kb.Translator.load(directory)
    resumed.train_pairs = first.train_pairs
    resumed.validation_pairs = first.validation_pairs
    history = resumed.fit(epochs=3, directory=directory, **settings)
    assert history.epoch == [1, 2]
    _assert_same_weights(resumed.model.get_weights(),
                         full.model.get_weights())


def test_resume_mid_epoch_equals_an_uninterrupted_run(tmp_path):
    # Interrupted after batch 3 of epoch 1 (backup at batch 4 of 6) and
    # resumed in a "new process": the resumed run trains batches 4-5 of
    # epoch 1 and then whole epochs, and ends as a run never stopped,
    # dropout included. It used to run epoch 1 again from its first batch
    # on the backup's weights: 4 optimizer steps more, other weights.
    settings = dict(epochs=3, batch_size=16, verbose=0, backup_every=2,
                    early_stopping_patience=None)
    keras.utils.set_random_seed(0)
    full = kb.Translator.from_pairs(_pairs(96), preset="tiny", dropout=0.3,
                                    **LIMITS)
    start = full.model.get_weights()
    full.fit(directory=str(tmp_path / "full"), **settings)
    directory = str(tmp_path / "resumed")
    keras.utils.set_random_seed(0)
    first = kb.Translator.from_pairs(_pairs(96), preset="tiny", dropout=0.3,
                                     **LIMITS)
    first.model.set_weights(start)
    with pytest.raises(KeyboardInterrupt):
        first.fit(directory=directory, callbacks=[_Interrupt(1, 3)],
                  **settings)
    state = training.read_state(directory)
    assert (state["completed_epochs"], state["batch"]) == (1, 4)
    resumed = kb.Translator.load(directory)
    resumed.train_pairs = first.train_pairs
    resumed.validation_pairs = first.validation_pairs
    history = resumed.fit(directory=directory, **settings)
    assert history.epoch == [1, 2]
    assert int(resumed.model.optimizer.iterations) == int(
        full.model.optimizer.iterations
    ) == 18
    for got, want in zip(resumed.model.get_weights(),
                         full.model.get_weights()):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert training.logged_history(directory).epoch == [0, 1, 2]


def _weights_of(directory):
    return kb.Translator.load(directory).model.get_weights()


def _assert_same_weights(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_fit_again_on_finished_run_keeps_and_restores_it(tmp_path):
    directory = str(tmp_path / "run")
    settings = dict(epochs=1, batch_size=16, directory=directory, verbose=0)
    first = kb.Translator.from_pairs(_pairs(64), preset="tiny", **LIMITS)
    first.fit(**settings)
    trained = first.model.get_weights()
    model_file = os.path.join(directory, "model.keras")
    saved_bytes = open(model_file, "rb").read()

    # Same data and settings in a new translator (as a re-run script does).
    second = kb.Translator.from_pairs(_pairs(64), preset="tiny", **LIMITS)
    history = second.fit(**settings)
    assert history.epoch == [0] and len(history.history["loss"]) == 1
    _assert_same_weights(second.model.get_weights(), trained)
    _assert_same_weights(_weights_of(directory), trained)
    assert open(model_file, "rb").read() == saved_bytes
    assert second.translate(["1 2 3"]) == first.translate(["1 2 3"])


def test_fit_rejects_a_run_with_other_vocabularies(tmp_path):
    directory = str(tmp_path / "run")
    settings = dict(epochs=1, batch_size=16, directory=directory, verbose=0)
    kb.Translator.from_pairs(_pairs(32), preset="tiny", **LIMITS).fit(
        **settings
    )
    saved = _weights_of(directory)
    words = [(f"w{i} x", f"x w{i}") for i in range(32)]
    other = kb.Translator.from_pairs(words, preset="tiny", **LIMITS)
    with pytest.raises(ValueError, match=r"`directory` must hold no run, "
                       r"or a run with this translator's vocabularies.*"
                       r"Pass a new directory"):
        other.fit(**settings)
    _assert_same_weights(_weights_of(directory), saved)


def test_refit_of_interrupted_run_never_saves_fresh_weights(tmp_path):
    directory = str(tmp_path / "run")
    settings = dict(epochs=2, batch_size=16, directory=directory, verbose=0,
                    backup_every=None, early_stopping_patience=None)
    first = kb.Translator.from_pairs(_pairs(64), preset="tiny", **LIMITS)
    with pytest.raises(KeyboardInterrupt):
        first.fit(callbacks=[_Interrupt(1, 0)], **settings)
    after_epoch_1 = _weights_of(directory)

    # A new translator on the same data, killed again before an epoch ends:
    # the saved model is still the one of the first epoch.
    second = kb.Translator.from_pairs(_pairs(64), preset="tiny", **LIMITS)
    with pytest.raises(KeyboardInterrupt):
        second.fit(callbacks=[_Interrupt(1, 0)], **settings)
    _assert_same_weights(_weights_of(directory), after_epoch_1)
    assert training.read_state(directory)["completed_epochs"] == 1


def test_export_saved_model_in_fresh_process(trained, tmp_path):
    translator, _ = trained
    # Whitespace of other scripts is empty in both; a control character
    # the tokenizer reads as [UNK] is translated in both.
    texts = ["1 2 3", "", "9 8 7 6", "\u3000", "\u00a0\u2003", "\x1c"]
    expected = translator.translate(texts)
    assert expected[3:5] == ["", ""]
    path = str(tmp_path / "saved_model")
    translator.export(path)
    script = textwrap.dedent(
        f"""
        import json, sys
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (registers the ops)
        model = tf.saved_model.load({path!r})
        texts = tf.constant({texts!r})
        out = model.signatures["serving_default"](texts=texts)
        print(json.dumps([t.decode() for t in out["translations"].numpy()]))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    import json

    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected
    # No XLA clusters (the fused attention step is traced unfused):
    # TensorFlow Serving runs the SavedModel without its XLA CPU JIT.
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    functions = saved.meta_graphs[0].graph_def.library.function
    assert functions and not any(
        f.attr["_XlaMustCompile"].b for f in functions
    )


def test_fit_saves_the_translator_before_the_run_reads_finished(
    tmp_path, monkeypatch
):
    # A kill between the finished backup and the translator's last save
    # left a finished run whose model.keras never got the final weights.
    directory = str(tmp_path / "run")
    translator = kb.Translator.from_pairs(_pairs(40), preset="tiny",
                                          **LIMITS)
    states = []
    original = kb.Translator.save

    def save(self, path):
        states.append(training.read_state(directory).get("finished"))
        return original(self, path)

    monkeypatch.setattr(kb.Translator, "save", save)
    translator.fit(epochs=2, batch_size=16, directory=directory, verbose=0)
    assert states and not any(states)
    assert training.read_state(directory)["finished"]
    _assert_same_weights(_weights_of(directory),
                         translator.model.get_weights())


def test_kill_while_saving_over_another_translator_leaves_no_mix(
    tmp_path, monkeypatch
):
    # Files are replaced one by one: a kill after the new model.keras used
    # to leave a directory that loaded the new model with the old
    # vocabularies (garbage translations, no error).
    from keras_bahdanau import translator_files

    directory = str(tmp_path / "t")
    old = kb.Translator.from_pairs(_pairs(40), preset="tiny")
    old.save(directory)
    letters = [(a.replace("1", "a"), b.replace("1", "a"))
               for a, b in _pairs(40)]
    new = kb.Translator.from_pairs(letters, preset="tiny")
    assert new.source_tokenizer.get_config() != (
        old.source_tokenizer.get_config())

    def killed(path, value):
        raise KeyboardInterrupt  # after model.keras, before the rest

    monkeypatch.setattr(translator_files, "write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        new.save(directory)
    monkeypatch.undo()
    with pytest.raises(FileNotFoundError, match="No saved translator"):
        kb.Translator.load(directory)
    new.save(directory)
    loaded = kb.Translator.load(directory)
    assert loaded.source_tokenizer.get_config() == (
        new.source_tokenizer.get_config())
    # Saving the same translator again keeps its settings file throughout.
    monkeypatch.setattr(translator_files, "write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        new.save(directory)
    monkeypatch.undo()
    assert kb.Translator.load(directory).translate(["a 2"]) == (
        new.translate(["a 2"]))


@pytest.mark.parametrize("argument", ["hypotheses", "references"])
def test_corpus_scores_refuses_a_str_for_a_list(argument):
    # A str was scored character by character: bleu 0.0, chrf 100, n 7.
    lists = {"hypotheses": ["the cat"], "references": ["the cat"]}
    with pytest.raises(TypeError, match=rf"`{argument}` must be a list of "
                       rf"str.*Received: {argument}='the cat' \(a single "
                       rf"str.*Wrap it in a list: {argument}=\['the cat'\]"):
        metrics.corpus_scores(**{**lists, argument: "the cat"})
    with pytest.raises(TypeError, match=rf"`{argument}` must hold str "
                       rf"sentences. Received: {argument}\[1\]=b'x'"):
        metrics.corpus_scores(**{**lists, argument: ["the cat", b"x"]})
    with pytest.raises(TypeError, match=rf"`{argument}` must be a list of "
                       r"str.*Received: .* of type set"):
        metrics.corpus_scores(**{**lists, argument: {"the cat"}})


def test_corpus_scores_takes_tuples_and_arrays():
    same = "the cat sat on the mat today"
    expected = {"bleu": 100.0, "chrf": 100.0, "n": 1}
    assert metrics.corpus_scores((same,), np.array([same])) == expected


@pytest.mark.parametrize("tokenize", ["nope", ["13a"], 13])
def test_corpus_scores_unknown_tokenizer(tokenize):
    # "nope" used to raise a bare KeyError.
    with pytest.raises(ValueError, match=r"`tokenize` must be one of "
                       r"\[None, .*'13a', 'intl'.*\]. Received: tokenize="
                       r".*Pick one of those"):
        metrics.corpus_scores(["a b"], ["a b"], tokenize=tokenize)
    assert metrics.corpus_scores(["a b"], ["a b"], tokenize="13a")["n"] == 1


def test_from_pairs_preset_must_be_a_str():
    # Used to fail with "unhashable type: 'list'".
    with pytest.raises(TypeError, match=r"`preset` must be a str \(one of "
                       r"\['paper', 'small', 'tiny'\]\) or None. Received: "
                       r"preset=\['tiny'\] of type list"):
        kb.Translator.from_pairs(_pairs(20), preset=["tiny"])


def test_from_pairs_accepts_numpy_sizes():
    # np.int64(100) was refused as "must be an int of at least 5".
    translator = kb.Translator.from_pairs(
        _pairs(40), preset="tiny", source_vocab_size=np.int64(100),
        target_vocab_size=np.int32(100), max_source_length=np.int64(12),
        max_target_length=np.int64(12), max_pairs=np.int64(30),
        embedding_dim=np.int64(16), seed=np.int64(3),
    )
    assert type(translator.max_source_length) is int
    assert type(translator.seed) is int and translator.seed == 3
    # The tokenizer alone too.
    tokenizer = kb.TextTokenizer.learn(["a b c d e"], vocab_size=np.int64(30))
    json.dumps(tokenizer.get_config())
    assert translator.max_source_length == 12
    assert len(translator.train_pairs) + len(
        translator.validation_pairs) == 30
    assert translator.model.embedding_dim == 16
    json.dumps(translator.get_config())
    json.dumps(translator.model.get_config())
    with pytest.raises(ValueError, match=r"`source_vocab_size` must be a "
                       r"positive int.*Received: source_vocab_size=100.0"):
        kb.Translator.from_pairs(_pairs(20), source_vocab_size=100.0)
    # seed=None gave an unreproducible split and saved `null` settings.
    with pytest.raises(TypeError, match=r"`seed` must be an int\. "
                       r"Received: seed=None"):
        kb.Translator.from_pairs(_pairs(20), preset="tiny", seed=None)
