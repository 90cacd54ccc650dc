"""A training run in `--out`: train or resume it, check its settings.

A fresh run saves its settings (and a digest of its pairs) in
`TRAIN_ARGS_FILENAME`; a resume must be given the same ones, only
`--epochs` may change.
"""

import hashlib
import json
import os
import sys

from keras_bahdanau.cli.common import UserError
from keras_bahdanau.cli.common import length_hint
from keras_bahdanau.cli.common import log
from keras_bahdanau.cli.common import one_line

TRAIN_ARGS_FILENAME = "train_args.json"
# The settings in TRAIN_ARGS_FILENAME that a resume must repeat, with their
# options. `--epochs` is not one: a larger value trains the run on. The
# pairs (after `--reverse` and `--max-pairs`) are saved as `num_pairs` and
# `pairs_sha256`.
RUN_OPTIONS = (
    ("preset", "--preset"),
    ("seed", "--seed"),
    ("validation_split", "--validation-split"),
    ("max_length", "--max-length"),
    ("vocab_size", "--vocab-size"),
    ("batch_size", "--batch-size"),
    ("source_lang", "--source-lang"),
    ("target_lang", "--target-lang"),
)


def _pairs_digest(pairs) -> str:
    """The sha256 (hex) of `pairs` as JSON: the same pairs in the same
    order give the same digest."""
    text = json.dumps([list(pair) for pair in pairs], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_run_settings(out: str, settings: dict) -> None:
    """Raises `UserError` when the run in `out` was started with other
    settings than `settings` (see `RUN_OPTIONS`).

    A run without `TRAIN_ARGS_FILENAME` (written by an older version)
    passes: there is nothing to compare.

    Args:
        out: the `--out` directory, holding a run.
        settings: this command's settings, as `train_run` saves them.

    Raises:
        UserError: the settings file cannot be read, or an option or the
            pairs differ; the message names each difference, saved and
            given, and the fix.
    """
    from keras_bahdanau.jsonfile import read_json

    path = os.path.join(out, TRAIN_ARGS_FILENAME)
    if not os.path.isfile(path):
        return
    try:
        saved = read_json(path)
        problem = None if isinstance(saved, dict) else "not a JSON object"
    except (OSError, ValueError) as error:
        problem = one_line(error)
    if problem is not None:
        raise UserError(
            f"{path!r} must hold the run's settings as a JSON object. "
            f"Received: {problem}. Delete the file to resume without "
            "comparing the settings, or choose another --out."
        )
    differences = [
        f"{option} saved {saved[key]!r}, given {settings[key]!r}"
        for key, option in RUN_OPTIONS
        if key in saved and saved[key] != settings[key]
    ]
    if any(
        key in saved and saved[key] != settings[key]
        for key in ("num_pairs", "pairs_sha256")
    ):
        differences.append(
            "the pairs (--data, --reverse, --max-pairs) saved "
            f"{saved.get('num_pairs')} pair(s) with sha256 "
            f"{str(saved.get('pairs_sha256'))[:12]}..., given "
            f"{settings['num_pairs']} pair(s) with sha256 "
            f"{settings['pairs_sha256'][:12]}..."
        )
    if differences:
        raise UserError(
            f"--out {out!r} holds a run started with other settings, and a "
            f"resume must repeat them: {'; '.join(differences)}. Pass the "
            "saved options again (only --epochs may change), or choose "
            "another --out for a new run."
        )


def train_run(
    pairs,
    out: str,
    preset: str,
    epochs: int,
    batch_size: int,
    validation_split: float,
    seed: int,
    source_lang=None,
    target_lang=None,
    max_length: int = 40,
    verbose=None,
    vocab_size: int = 8000,
):
    """Trains (or resumes) a translator in `out`; returns it.

    A fresh run writes its settings to `out/TRAIN_ARGS_FILENAME` before it
    trains; a resume compares them with the given ones first.

    Args:
        pairs: the `(source, target)` pairs, after `--reverse` and
            `--max-pairs`.
        out: the run directory (`--out`).
        preset: the model preset of a fresh run.
        epochs: the total number of epochs (may grow between runs).
        batch_size: the batch size.
        validation_split: the fraction of `pairs` held out.
        seed: the seed of the split, the shuffles and the weights.
        source_lang: the source language code, or `None`.
        target_lang: the target language code, or `None`.
        max_length: the sub-word length limit of both sides (fresh run).
        verbose: Keras' verbosity; `None`: bars on a terminal, else lines.
        vocab_size: the largest vocabulary per side (fresh run).

    Returns:
        The trained `Translator`.

    Raises:
        UserError: `out` holds a run started with other settings, its
            translator cannot be loaded, the pairs cannot be split, or
            training rejects the pairs or settings (e.g. no pair within
            the length limits).
    """
    import keras

    from keras_bahdanau import training
    from keras_bahdanau.data import split_pairs
    from keras_bahdanau.jsonfile import write_json
    from keras_bahdanau.translator import Translator
    from keras_bahdanau.translator_files import holds_translator

    settings = {
        "preset": preset,
        "seed": seed,
        "validation_split": validation_split,
        "max_length": max_length,
        "vocab_size": vocab_size,
        "batch_size": batch_size,
        "source_lang": source_lang,
        "target_lang": target_lang,
        "num_pairs": len(pairs),
        "pairs_sha256": _pairs_digest(pairs),
    }
    keras.utils.set_random_seed(seed)
    if verbose is None:
        # Progress bars on a terminal, one line per epoch in a log file.
        verbose = 1 if sys.stdout.isatty() else 2
    state = training.read_state(out)
    if state:
        _check_run_settings(out, settings)
    resumed = None  # the loaded translator of a resumed run
    if state and holds_translator(out):
        try:
            translator = resumed = Translator.load(out)
        except (FileNotFoundError, ValueError) as error:
            raise UserError(one_line(error)) from None
        try:
            train, validation, _ = split_pairs(
                pairs, validation_split=validation_split, seed=seed
            )
        except ValueError as error:  # e.g. too few pairs to split
            raise UserError(one_line(error)) from None
        translator.train_pairs, translator.validation_pairs = train, validation
        done = state.get("completed_epochs", 0)
        # A run stopped before its end of training is ended by fit below.
        if training.is_finished(state, epochs):
            log(
                f"{out} already holds a finished run ({done} epoch(s) "
                f"done, {epochs} asked): nothing to train."
            )
            return translator
        log(f"Resuming from the checkpoint in {out} ({done} epoch(s) done).")
    else:
        try:
            translator = Translator.from_pairs(
                pairs,
                source_lang=source_lang,
                target_lang=target_lang,
                preset=preset,
                validation_split=validation_split,
                seed=seed,
                max_source_length=max_length,
                max_target_length=max_length,
                source_vocab_size=vocab_size,
                target_vocab_size=vocab_size,
            )
        except ValueError as error:
            raise UserError(one_line(error)) from None
        if not out.endswith(".keras"):  # fit rejects it below
            os.makedirs(out, exist_ok=True)
            write_json(os.path.join(out, TRAIN_ARGS_FILENAME), settings)
        log(
            f"{len(translator.train_pairs)} training and "
            f"{len(translator.validation_pairs)} validation pairs; "
            f"vocabularies {translator.source_tokenizer.vocabulary_size} / "
            f"{translator.target_tokenizer.vocabulary_size}; preset "
            f"{preset!r}."
        )
    try:
        translator.fit(
            epochs=epochs,
            batch_size=batch_size,
            directory=out,
            verbose=verbose,
        )
    except ValueError as error:
        raise UserError(
            length_hint(error, max_length, out, resumed)
        ) from None
    return translator
