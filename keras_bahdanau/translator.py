"""Translator: tokenizers + `AttentionSeq2Seq`, strings in, strings out.

Longer than STYLE.md's ~400 lines because it is the one class users call
for text (creation, training, translation, attention, evaluation), each
method a thin layer over its own module: `data/`, `text/`, `training`,
`decoding/`, `metrics`, `plotting`, and `translator_files` for its files.
"""

import os
import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_bahdanau import metrics
from keras_bahdanau import training
from keras_bahdanau import translator_files
from keras_bahdanau.data import as_pairs
from keras_bahdanau.data import split_pairs
from keras_bahdanau.data.datasets import epoch_variable
from keras_bahdanau.data.datasets import make_dataset
from keras_bahdanau.data.pairs import check_path
from keras_bahdanau.layers.validation import check_positive_int
from keras_bahdanau.layers.validation import check_seed
from keras_bahdanau.layers.validation import check_type
from keras_bahdanau.models import build_model
from keras_bahdanau.models.factory import check_preset
from keras_bahdanau.text import TextTokenizer


def _check_text(name: str, value) -> None:
    if not isinstance(value, str):
        raise TypeError(
            f"`{name}` must be a str. Received: {type(value).__name__} "
            f"{value!r}. Pass text (decode bytes, drop None)."
        )


def _as_texts(texts) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, np.ndarray):
        texts = texts.tolist()
    if not isinstance(texts, (list, tuple)):
        raise TypeError(
            "`texts` must be a str or a list of str. Received: "
            f"{type(texts).__name__}. Pass e.g. ['Hello.']."
        )
    for index, text in enumerate(texts):
        _check_text(f"texts[{index}]", text)
    return list(texts)


class Translator:
    """Translates strings with two `TextTokenizer`s and an `AttentionSeq2Seq`.

    Data preparation (tokenizers, `make_dataset`) is separate from model
    building, so a tuner or a notebook can build the model itself and pass
    it in; `from_pairs` does all three for one call.

    Args:
        source_tokenizer: `TextTokenizer` of the source language.
        target_tokenizer: `TextTokenizer` of the target language.
        model: an `AttentionSeq2Seq` whose vocabulary sizes match the
            tokenizers (compiled with `model.compile()` when it is not).
        source_lang: optional source language code (metadata).
        target_lang: optional target language code (metadata).
        max_source_length: most source sub-words read; longer inputs are
            cut (with a warning) at translation and dropped in training.
        max_target_length: most target sub-words produced (and trained).

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if vocabulary sizes disagree or a length is invalid.

    Example:

    >>> import keras_bahdanau as kb
    >>> pairs = kb.reversal_text_pairs(64, seed=0)
    >>> translator = kb.Translator.from_pairs(pairs, preset="tiny")
    >>> _ = translator.fit(epochs=1, verbose=0)
    >>> len(translator.translate(["1 2 3", ""]))
    2
    """

    def __init__(
        self,
        source_tokenizer: TextTokenizer,
        target_tokenizer: TextTokenizer,
        model: keras.Model,
        source_lang: "str | None" = None,
        target_lang: "str | None" = None,
        max_source_length: int = 40,
        max_target_length: int = 40,
    ):
        for name, value in (
            ("source_tokenizer", source_tokenizer),
            ("target_tokenizer", target_tokenizer),
        ):
            check_type(
                name, value, TextTokenizer, "Use TextTokenizer.learn(...)."
            )
        if not isinstance(model, keras.Model):
            raise TypeError(
                "`model` must be a keras.Model (AttentionSeq2Seq). Received: "
                f"{type(model).__name__}. Use kb.build_model(...)."
            )
        max_source_length = check_positive_int(
            "max_source_length", max_source_length, "max_source_length=40"
        )
        max_target_length = check_positive_int(
            "max_target_length", max_target_length, "max_target_length=40"
        )
        for side, tokenizer, size in (
            ("source", source_tokenizer, model.source_vocab_size),
            ("target", target_tokenizer, model.target_vocab_size),
        ):
            if tokenizer.vocabulary_size != size:
                raise ValueError(
                    f"`model.{side}_vocab_size` must equal the {side} "
                    f"tokenizer's vocabulary size. Received: {size} and "
                    f"{tokenizer.vocabulary_size}. Build the model with "
                    "build_model(source_tok.vocabulary_size, "
                    "target_tok.vocabulary_size)."
                )
        for name, fixed in (
            ("pad_id", TextTokenizer.PAD_ID),
            ("start_id", TextTokenizer.START_ID),
            ("end_id", TextTokenizer.END_ID),
        ):
            value = getattr(model, name, fixed)
            if value != fixed:
                raise ValueError(
                    f"`model.{name}` must be {fixed}, the tokenizers' id of "
                    f"that token. Received: {name}={value}. Build the model "
                    f"without a {name} override."
                )
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.model = model
        self.source_lang = source_lang
        self.target_lang = target_lang
        self.max_source_length = max_source_length
        self.max_target_length = max_target_length
        self.train_pairs: list = []
        self.validation_pairs: list = []
        if not model.built:
            source = np.array([[TextTokenizer.END_ID, 0]], "int32")
            target = np.array([[TextTokenizer.START_ID]], "int32")
            model((source, target))
        if not getattr(model, "compiled", False):
            model.compile()

    # ------------------------------------------------------------ creation
    @classmethod
    def from_pairs(
        cls,
        pairs_or_path,
        source_lang: "str | None" = None,
        target_lang: "str | None" = None,
        preset: "str | None" = "small",
        source_vocab_size: int = 8000,
        target_vocab_size: int = 8000,
        max_source_length: int = 40,
        max_target_length: int = 40,
        validation_split: float = 0.1,
        seed: int = 0,
        reverse: bool = False,
        max_pairs: "int | None" = None,
        lowercase: bool = True,
        **model_overrides,
    ) -> "Translator":
        """Splits pairs, learns both tokenizers and builds the model.

        The pairs are shuffled and split with `split_pairs(...,
        validation_split, seed=seed)`; the tokenizers are learned from the
        training part only; `fit()` with no data then uses
        `translator.train_pairs` and `translator.validation_pairs`.

        Args:
            pairs_or_path: list of `(source, target)` pairs or a TSV path.
            source_lang: source language code (metadata only).
            target_lang: target language code (metadata only).
            preset: `build_model` preset (`"tiny"`, `"small"`, `"paper"`).
            source_vocab_size: largest source vocabulary (exceeded only
                when its alphabet alone is larger; see
                `TextTokenizer.learn`).
            target_vocab_size: largest target vocabulary (exceeded only
                when its alphabet alone is larger; see
                `TextTokenizer.learn`).
            max_source_length: most source sub-words (see `Translator`).
            max_target_length: most target sub-words.
            validation_split: fraction held out for validation (0 for none).
            seed: seed of the split and of the shuffling in `fit`: an int
                in `[0, 2**32)` (NumPy integers are stored as ints).
            reverse: swap the columns of the pairs.
            max_pairs: keep only the first `max_pairs` pairs of the file
                (before shuffling).
            lowercase: lower-case text in both tokenizers.
            **model_overrides: `build_model` overrides (`cell="lstm"`,
                `attention=None`, `dropout=0.2`, ...).

        Returns:
            A compiled, untrained `Translator`.

        Raises:
            FileNotFoundError: missing file.
            TypeError: a pair, an override, `seed` or `preset` (e.g. a
                list) of the wrong type.
            ValueError: empty or malformed data, unknown preset, bad setting.
        """
        check_preset(preset)
        source_vocab_size = check_positive_int(
            "source_vocab_size", source_vocab_size, "source_vocab_size=8000"
        )
        target_vocab_size = check_positive_int(
            "target_vocab_size", target_vocab_size, "target_vocab_size=8000"
        )
        pairs = as_pairs(pairs_or_path, reverse=reverse)
        if max_pairs is not None:
            max_pairs = check_positive_int(
                "max_pairs", max_pairs, "max_pairs=5000"
            )
            pairs = pairs[:max_pairs]
        # An int in [0, 2**32), stored in the settings (JSON) for `fit`.
        seed = check_seed(seed, generator=False, allow_none=False)
        train, validation, _ = split_pairs(
            pairs, validation_split=validation_split, seed=seed
        )
        source_tokenizer = TextTokenizer.learn(
            [s for s, _ in train],
            vocab_size=source_vocab_size,
            lowercase=lowercase,
        )
        target_tokenizer = TextTokenizer.learn(
            [t for _, t in train],
            vocab_size=target_vocab_size,
            lowercase=lowercase,
        )
        model = build_model(
            source_tokenizer.vocabulary_size,
            target_tokenizer.vocabulary_size,
            preset=preset,
            **model_overrides,
        )
        translator = cls(
            source_tokenizer,
            target_tokenizer,
            model,
            source_lang=source_lang,
            target_lang=target_lang,
            max_source_length=max_source_length,
            max_target_length=max_target_length,
        )
        translator.train_pairs = train
        translator.validation_pairs = validation
        translator.seed = seed
        return translator

    seed: int = 0

    # ------------------------------------------------------------ training
    def make_dataset(
        self,
        pairs_or_path,
        batch_size: int = 64,
        shuffle: bool = False,
        seed: "int | None" = None,
        epoch: "tf.Variable | None" = None,
        name: str = "pairs",
    ) -> tf.data.Dataset:
        """`make_dataset` with this translator's tokenizers and limits.

        Args:
            pairs_or_path: list of `(source, target)` pairs or a TSV path.
            batch_size: pairs per batch.
            shuffle: reshuffle every epoch.
            seed: shuffle seed.
            epoch: optional epoch-index variable for a resumable order
                (see `keras_bahdanau.data.datasets.make_dataset`).
            name: the caller's name for the pairs in error messages.

        Returns:
            The `tf.data.Dataset` of `((source_ids, decoder_input_ids),
            target_ids)` batches.
        """
        return make_dataset(
            as_pairs(pairs_or_path),
            self.source_tokenizer,
            self.target_tokenizer,
            self.max_source_length,
            self.max_target_length,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            epoch=epoch,
            name=name,
        )

    def fit(
        self,
        pairs=None,
        validation_pairs=None,
        epochs: int = 10,
        batch_size: int = 64,
        directory: "str | os.PathLike | None" = None,
        callbacks: "list | None" = None,
        early_stopping_patience: "int | None" = 3,
        backup_every: "int | None" = 50,
        verbose="auto",
    ) -> keras.callbacks.History:
        """Trains the model (teacher forcing), resumable from `directory`.

        With `directory`, the translator is saved there after every epoch
        (`Translator.load(directory)` works at any time), a backup of the
        variables is written every `backup_every` batches, the epochs are
        logged to `directory/training_log.csv`, and a run that was
        interrupted goes on from its last backup when `fit` is called again
        with the same `directory` (see `keras_bahdanau.training`).

        A directory that already holds a run is never overwritten with
        untrained weights: the translator is saved there before training
        only when it holds no run yet. An interrupted run goes on from its
        backup; a finished run is not trained again: its weights are loaded
        into this translator. The run's vocabularies must equal this
        translator's (create it with `Translator.load(directory)` to go on
        with other pairs).

        Args:
            pairs: training pairs or TSV path; default `self.train_pairs`.
            validation_pairs: validation pairs or path; default
                `self.validation_pairs` (none when empty).
            epochs: total epochs, those of an interrupted run included.
            batch_size: pairs per batch.
            directory: training directory, or `None`.
            callbacks: extra Keras callbacks.
            early_stopping_patience: stop after this many epochs without a
                better `val_loss` and keep the best weights (`None`: never).
            backup_every: batches between mid-epoch backups (`None` or 0:
                at epoch ends only).
            verbose: Keras verbosity (`"auto"` shows progress bars).

        Returns:
            The Keras `History`. When `directory` holds a finished run of
            `epochs` epochs, nothing is trained and the `History` is read
            back from `directory/training_log.csv` (one entry per logged
            epoch).

        Raises:
            ValueError: no training pairs, no pair (training or validation)
                within the length limits, `directory` holds a run with other
                vocabularies or another model, or a bad setting.
        """
        training.check_fit_settings(
            epochs, early_stopping_patience, backup_every
        )
        if pairs is None:
            pairs = self.train_pairs
        if validation_pairs is None:
            validation_pairs = self.validation_pairs
        if not pairs:
            raise ValueError(
                "`pairs` must hold training pairs. Received: none. Pass "
                "pairs to fit() or create the translator with from_pairs()."
            )
        # Each epoch's order from (seed, epoch): a resumed run trains on
        # the batches an uninterrupted one would.
        epoch = epoch_variable()
        train_data = self.make_dataset(
            pairs, batch_size, shuffle=True, seed=self.seed, epoch=epoch
        )
        validation_data = None
        if validation_pairs:
            validation_data = self.make_dataset(
                validation_pairs, batch_size, name="validation_pairs"
            )
        on_epoch_saved = on_finished = None
        if directory is not None:
            directory = check_path("directory", directory, "runs/en-hi")
            if directory.endswith(".keras"):
                raise ValueError(
                    "`directory` must be a directory for the run's backups "
                    f"and log, not a .keras file. Received: {directory!r}. "
                    "Pass e.g. directory='runs/en-hi' and save a .keras "
                    "file after training with translator.save(...)."
                )
            translator_files.check_same_vocabularies(self, directory)
            state = training.read_state(directory)
            if not state:
                # No run yet: Translator.load(directory) works from now on.
                self.save(directory)
            elif not translator_files.holds_translator(directory):
                # A backup without the translator files: save the run's
                # weights with this translator's vocabularies and settings.
                training.restore(self.model, directory)
                self.save(directory)

            def on_epoch_saved(epoch):
                self.save(directory)

            # Saved before the backup that marks the run finished, so that
            # a finished run's files always hold its final weights.
            def on_finished():
                self.save(directory)

        history = training.fit(
            self.model,
            train_data,
            validation_data=validation_data,
            epochs=epochs,
            directory=directory,
            callbacks=callbacks,
            early_stopping_patience=early_stopping_patience,
            backup_every=backup_every,
            verbose=verbose,
            on_epoch_saved=on_epoch_saved,
            epoch_variable=epoch,
            on_finished=on_finished,
        )
        return history

    # --------------------------------------------------------- translation
    def _sub_word_counts(self, texts: list[str], names: list[str]):
        """Source sub-words per text (0: nothing to translate).

        Warns for each text longer than `max_source_length` sub-words,
        labelled by `names` (the caller's argument, e.g. `"texts[3]"`).
        """
        if not texts:
            return np.zeros((0,), "int64")
        strings = tf.constant(texts, dtype=tf.string)
        counts = self.source_tokenizer.tokenize(strings).row_lengths().numpy()
        for name, count in zip(names, counts):
            if count > self.max_source_length:
                warnings.warn(
                    f"`{name}` has {count} sub-words, more than "
                    f"max_source_length={self.max_source_length}; only the "
                    "first ones are translated. Split long sentences.",
                    stacklevel=3,
                )
        return counts

    def _encode_sources(self, texts: list[str]) -> np.ndarray:
        """Dense source ids `(batch, len)`, cut to `max_source_length`."""
        # One fixed width: one compiled search per batch size and strategy.
        ids = self.source_tokenizer.tokenize_padded(
            tf.constant(texts, dtype=tf.string),
            max_length=self.max_source_length + 1,
            add_start=False,
        )
        return ids.numpy()

    def _generate(self, source_ids, strategy, max_length, generate_kwargs):
        if max_length is None:
            max_length = self.max_target_length + 1
        return self.model.generate(
            source_ids,
            max_length=max_length,
            strategy=strategy,
            **generate_kwargs,
        )

    def translate(
        self,
        texts,
        strategy: str = "greedy",
        batch_size: int = 64,
        max_length: "int | None" = None,
        **generate_kwargs,
    ) -> list[str]:
        """Translates texts.

        Texts without a sub-word (empty, or only whitespace of any script,
        e.g. U+3000) translate to `""` without running the model, as in the
        exported SavedModel. Characters outside the vocabulary are read as
        `[UNK]`. Texts longer than `max_source_length` sub-words are cut,
        with a warning.

        Args:
            texts: a str or a list of str.
            strategy: `"greedy"`, `"beam"` or `"sampling"`.
            batch_size: sentences decoded together.
            max_length: most output sub-words (the end token included);
                default `max_target_length + 1`.
            **generate_kwargs: other `AttentionSeq2Seq.generate` settings
                (`beam_size`, `length_penalty`, `temperature`, `top_k`,
                `top_p`, `seed`, `no_repeat_ngram_size`, ...).

        Returns:
            One translation per text, in order.

        Raises:
            TypeError: `texts` or one of its items is not a str (the message
                names the index).
            ValueError: unknown strategy or invalid decoding settings.
        """
        texts = _as_texts(texts)
        batch_size = check_positive_int(
            "batch_size", batch_size, "batch_size=64"
        )
        if max_length is None:
            max_length = self.max_target_length + 1
        # Bad settings fail alike when no text needs the model.
        self.model.check_generate_settings(
            strategy=strategy, max_length=max_length, **generate_kwargs
        )
        results = [""] * len(texts)
        counts = self._sub_word_counts(
            texts, [f"texts[{i}]" for i in range(len(texts))]
        )
        todo = [i for i, count in enumerate(counts) if count]
        # Similar lengths together: less padding per batch.
        todo.sort(key=lambda i: len(texts[i]))
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            source_ids = self._encode_sources([texts[i] for i in chunk])
            outputs = self._generate(
                source_ids, strategy, max_length, generate_kwargs
            )
            decoded = self.target_tokenizer.detokenize(outputs["tokens"])
            for i, text in zip(chunk, decoded.numpy()):
                results[i] = text.decode("utf-8")
        return results

    def attention(self, text: str, max_length: "int | None" = None) -> dict:
        """Greedy translation of one text with its attention weights.

        Args:
            text: the source sentence.
            max_length: most output sub-words (see `translate`).

        Returns:
            `{"source_tokens": list[str], "target_tokens": list[str],
            "weights": float32 array (T, S)}`: sub-word strings (`"##"`
            marks a continuation), the source ending with `"[END]"` and
            the target with `"[END]"` unless `max_length` cut it first, and
            `weights[t, s]`, the attention of target token `t` on source
            token `s` (each row sums to 1).

        Raises:
            TypeError: `text` is not a str.
            ValueError: `text` is empty or whitespace only.
        """
        _check_text("text", text)
        if not self._sub_word_counts([text], ["text"])[0]:
            raise ValueError(
                "`text` must hold a word. Received: text="
                f"{text!r}. Pass a non-empty sentence."
            )
        source_ids = self._encode_sources([text])
        outputs = self._generate(
            source_ids, "greedy", max_length, {"return_alignments": True}
        )
        source_ids = source_ids[0]
        source_len = int(np.sum(source_ids != TextTokenizer.PAD_ID))
        tokens = [int(t) for t in outputs["tokens"][0]]
        if TextTokenizer.END_ID in tokens:
            tokens = tokens[: tokens.index(TextTokenizer.END_ID) + 1]
        source_vocab = self.source_tokenizer.vocabulary
        target_vocab = self.target_tokenizer.vocabulary
        weights = outputs["alignments"][0, : len(tokens), :source_len]
        return {
            "source_tokens": [source_vocab[i] for i in source_ids[:source_len]],
            "target_tokens": [target_vocab[i] for i in tokens],
            "weights": np.asarray(weights, dtype="float32"),
        }

    def plot_attention(self, text: str, path: "str | None" = None):
        """Attention heatmap of one translation (paper, Figure 3).

        Source tokens run along x, target tokens along y; brighter is more
        attention. Needs matplotlib (`pip install keras-bahdanau[plot]`).

        Args:
            text: the source sentence.
            path: image file to write (PNG, SVG, PDF...), or `None`.

        Returns:
            The matplotlib `Figure`.

        Raises:
            ImportError: matplotlib is missing.
            TypeError, ValueError: as `attention`.
        """
        from keras_bahdanau import plotting

        result = self.attention(text)
        return plotting.plot_attention(
            result["source_tokens"],
            result["target_tokens"],
            result["weights"],
            path=path,
        )

    def evaluate(
        self,
        pairs_or_path,
        strategy: str = "greedy",
        limit: "int | None" = None,
        reverse: bool = False,
        tokenize: "str | None" = None,
        **generate_kwargs,
    ) -> dict:
        """Corpus BLEU and chrF of the translations of held-out pairs.

        The references are scored in the form the model writes: through
        `target_tokenizer.canonicalize` (Unicode-normalised, lower-cased
        when the tokenizer lower-cases, spaced by its detokenization rule),
        so a perfect translation scores 100 whatever the references' case
        and spacing. With lower-casing tokenizers (the default) scores are
        therefore case-insensitive, like sacrebleu's `--lowercase`;
        characters outside the vocabulary still count as errors.

        Args:
            pairs_or_path: list of `(source, reference)` pairs or TSV path.
            strategy: decoding strategy (see `translate`).
            limit: score only the first `limit` pairs.
            reverse: swap the columns of the pairs.
            tokenize: sacrebleu BLEU tokenizer; default
                `metrics.bleu_tokenizer` (`"intl"`, `"zh"` for CJK).
            **generate_kwargs: passed to `translate`.

        Returns:
            `{"bleu": float, "chrf": float, "n": int}` (0-100 scale).

        Raises:
            FileNotFoundError, TypeError, ValueError: bad pairs or settings.
        """
        pairs = as_pairs(pairs_or_path, reverse=reverse)
        if limit is not None:
            limit = check_positive_int("limit", limit, "limit=500")
            pairs = pairs[:limit]
        hypotheses = self.translate(
            [s for s, _ in pairs], strategy=strategy, **generate_kwargs
        )
        references = self.target_tokenizer.canonicalize(
            tf.constant([t for _, t in pairs], dtype=tf.string)
        )
        return metrics.corpus_scores(
            hypotheses,
            [t.decode("utf-8") for t in references.numpy()],
            tokenize=tokenize,
        )

    # ------------------------------------------------------------- saving
    def get_config(self) -> dict:
        """JSON-able settings (without the tokenizers and the model)."""
        return {
            "format_version": translator_files.FORMAT_VERSION,
            "source_lang": self.source_lang,
            "target_lang": self.target_lang,
            "max_source_length": self.max_source_length,
            "max_target_length": self.max_target_length,
            "seed": self.seed,
        }

    def save(self, path: str) -> str:
        """Saves the model, both vocabularies and the settings.

        A directory gets `model.keras`, `source_tokenizer.json`,
        `target_tokenizer.json` and `translator.json`. A path ending in
        `.keras` gets one Keras archive with the tokenizers and settings in
        an extra `keras_bahdanau_translator.json` entry.

        Args:
            path: a directory (created when missing) or a `.keras` file.

        Returns:
            `path`.

        Raises:
            TypeError: `path` is not a str or `os.PathLike`.
            FileExistsError: `path` (not ending in `.keras`) is a file.
            IsADirectoryError: `path` ends in `.keras` and is a directory.
        """
        return translator_files.save(self, path)

    @classmethod
    def load(cls, path: str) -> "Translator":
        """Loads a translator written by `save` (no `safe_mode=False`).

        Args:
            path: the directory or `.keras` file given to `save`.

        Returns:
            A `Translator`.

        Raises:
            FileNotFoundError: nothing saved at `path`.
            TypeError: `path` is not a str or `os.PathLike`.
            ValueError: the files are not a saved translator.
        """
        config, source, target, model = translator_files.load(path)
        translator = cls(
            source,
            target,
            model,
            source_lang=config.get("source_lang"),
            target_lang=config.get("target_lang"),
            max_source_length=config["max_source_length"],
            max_target_length=config["max_target_length"],
        )
        translator.seed = config.get("seed", 0)
        return translator

    def export(self, path: str) -> str:
        """Writes a TensorFlow SavedModel: strings in, strings out.

        The `serving_default` signature maps a `tf.string` vector `texts`
        to a `tf.string` vector `translations` by greedy decoding; it needs
        only TensorFlow and tensorflow-text (for the tokenizer ops) to run.
        See `keras_bahdanau.export.export_saved_model`.

        Args:
            path: output directory.

        Returns:
            `path`.

        Raises:
            TypeError: `path` is not a str or `os.PathLike`.
            FileExistsError: `path` is an existing file.
        """
        from keras_bahdanau import export

        return export.export_saved_model(self, path)

