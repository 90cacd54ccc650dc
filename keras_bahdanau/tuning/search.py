"""run_search(): data, tokenizers, resume checks, best-model export."""

import contextlib
import hashlib
import io
import json
import numbers
import os
import sys

import keras
import keras_tuner
import numpy as np

from keras_bahdanau.data import as_pairs
from keras_bahdanau.data import split_pairs
from keras_bahdanau.jsonfile import read_json
from keras_bahdanau.jsonfile import write_json
from keras_bahdanau.layers.validation import check_choice
from keras_bahdanau.layers.validation import check_positive_int
from keras_bahdanau.layers.validation import check_seed
from keras_bahdanau.text import TextTokenizer
from keras_bahdanau.translator import Translator
from keras_bahdanau.tuning.hypermodel import OBJECTIVES
from keras_bahdanau.tuning.hypermodel import TranslatorHyperModel
from keras_bahdanau.tuning.space import SEARCH_SPACES
from keras_bahdanau.tuning.space import resolve_space
from keras_bahdanau.tuning.tuners import TUNERS
from keras_bahdanau.tuning.tuners import atomic_tuner_writes
from keras_bahdanau.tuning.tuners import check_bayesian_dependency
from keras_bahdanau.tuning.tuners import check_tuner_files
from keras_bahdanau.tuning.tuners import make_tuner

BEST_DIRNAME = "best"
BEST_HYPERPARAMETERS_FILENAME = "best_hyperparameters.json"
CONFIG_FILENAME = "search_config.json"
TOKENIZERS_DIRNAME = "tokenizers"
# Settings a resumed search must share with the first run (not max_trials).
RESUME_KEYS = (
    "tuner",
    "objective",
    "epochs",
    "preset",
    "seed",
    "batch_size",
    "validation_split",
    "max_length",
    "space",
    "num_pairs",
    "data_sha256",
    "chrf_samples",
)


def _fingerprint(pairs: list) -> str:
    data = json.dumps(pairs, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _check_resume(out: str, previous: dict, config: dict) -> None:
    for key in RESUME_KEYS:
        if previous.get(key) != config[key]:
            shown = "the data" if key == "data_sha256" else key
            raise ValueError(
                f"`{key}` must match the search already in {out!r} to "
                f"resume it. Received: {key}={config[key]!r}, the search "
                f"used {previous.get(key)!r} ({shown} differ). Use the same "
                "settings or another output directory."
            )


def _trial_counts(tuner: keras_tuner.Tuner) -> dict:
    statuses = [trial.status for trial in tuner.oracle.trials.values()]
    return {
        "trials": len(statuses),
        "completed": statuses.count("COMPLETED"),
        "failed": statuses.count("FAILED") + statuses.count("INVALID"),
    }


@atomic_tuner_writes()
def run_search(
    data,
    out: str,
    tuner: str = "random",
    max_trials: int = 10,
    epochs: int = 5,
    objective: str = "val_loss",
    reverse: bool = False,
    max_pairs: "int | None" = None,
    preset: str = "small",
    seed: int = 0,
    batch_size: int = 64,
    validation_split: float = 0.1,
    max_length: int = 40,
    space: "dict | None" = None,
    chrf_samples: int = 200,
    callbacks: "list | None" = None,
    verbose: int = 0,
) -> dict:
    """Searches translator hyperparameters; saves the best translator.

    Loads the pairs, splits them with `split_pairs(..., validation_split,
    seed)`, learns both tokenizers once (as `Translator.from_pairs` does;
    they are stored in `out/tokenizers`), and runs a Keras Tuner search of
    `TranslatorHyperModel` in `out/search`. The search is resumable: run
    again with the same `out` and settings, finished trials are not run
    again and only the missing ones (up to `max_trials` in all) run; an
    interrupted trial starts over. Changing a setting other than
    `max_trials` or `verbose` for an existing `out` raises `ValueError`.
    Trials that diverge (NaN loss) are marked failed and the search goes
    on. Afterwards the best trial's model is saved as a `Translator` in
    `out/best` (`Translator.load(out + "/best")`) and its hyperparameters
    in `out/best_hyperparameters.json`.

    Args:
        data: a Tatoeba/Anki TSV path or a list of `(source, target)` pairs.
        out: output directory (created when missing).
        tuner: `"random"`, `"hyperband"` (its brackets set the number of
            trials from `epochs`, factor 3; `max_trials` caps it) or
            `"bayesian"` (needs scikit-learn: `pip install
            "keras-bahdanau[bayesian]"`; its first `max(2, max_trials //
            3)` trials are random, the rest chosen by its Gaussian process;
            a resumed search keeps its first run's number, see
            `make_tuner`).
        max_trials: most trials in all, those of earlier runs included.
        epochs: training epochs per trial (Hyperband: the most per trial).
        objective: `"val_loss"` (minimised) or `"val_chrf"` (maximised;
            chrF of greedy translations of `chrf_samples` validation pairs).
        reverse: swap the columns of the pairs.
        max_pairs: keep only the first `max_pairs` pairs.
        preset: `"tiny"` or `"small"`: fixed model settings and the
            default search space (`SEARCH_SPACES`).
        seed: seed of the split, the oracle and every trial (weights,
            dropout, data order; see `TranslatorHyperModel`): the same
            call gives the same scores, resumed or not.
        batch_size: pairs per batch.
        validation_split: fraction of the pairs held out, in (0, 1).
        max_length: most sub-words per side; longer pairs are dropped.
        space: search space entries replacing the preset's (see
            `resolve_space`).
        chrf_samples: validation pairs translated for `"val_chrf"`.
        callbacks: extra Keras callbacks for every trial.
        verbose: 0 silent; 1 or 2 Keras Tuner and Keras progress (on
            stdout) and a summary line per step (on stderr).

    Returns:
        `{"out", "best_dir", "best_trial", "objective", "score",
        "hyperparameters", "trials", "completed", "failed", "new_trials"}`
        (`trials` counts all trials in `out`, `new_trials` those that
        ended in this call, a trial that an interruption stopped and this
        call ran again included).

    Raises:
        FileNotFoundError: missing data file.
        TypeError: pairs, `seed` or `space` of the wrong type.
        ValueError: a bad argument (the message names it), empty or
            malformed data, or settings that differ from the search already
            in `out`.
        ImportError: `tuner="bayesian"` without scikit-learn.
        RuntimeError: no trial finished (all failed).

    Example:

    >>> import tempfile
    >>> import keras_bahdanau as kb
    >>> out = tempfile.mkdtemp()
    >>> summary = kb.run_search(
    ...     kb.reversal_text_pairs(40), out, max_trials=1, epochs=1,
    ...     preset="tiny")
    >>> summary["trials"], summary["completed"]
    (1, 1)
    >>> best = kb.Translator.load(summary["best_dir"])
    >>> isinstance(best.translate("1 2")[0], str)
    True
    """
    check_choice("tuner", tuner, TUNERS)
    check_choice("objective", objective, OBJECTIVES)
    max_trials = check_positive_int("max_trials", max_trials, "max_trials=10")
    epochs = check_positive_int("epochs", epochs, "epochs=5")
    # Before anything is written to `out`.
    seed = check_seed(
        seed, generator=False, allow_none=False,
        why_int=(
            "it fixes the validation split and every trial, so that a "
            "resumed search continues the same trials"
        ),
    )
    check_choice("preset", preset, sorted(SEARCH_SPACES))
    batch_size = check_positive_int("batch_size", batch_size, "batch_size=64")
    max_length = check_positive_int("max_length", max_length, "max_length=40")
    chrf_samples = check_positive_int(
        "chrf_samples", chrf_samples, "chrf_samples=200"
    )
    if max_pairs is not None:
        max_pairs = check_positive_int(
            "max_pairs", max_pairs, "max_pairs=5000"
        )
    if (
        isinstance(validation_split, (bool, np.bool_))
        or not isinstance(validation_split, numbers.Real)
        or not 0.0 < validation_split < 1.0
    ):
        raise ValueError(
            "`validation_split` must be a fraction in (0, 1): the objective "
            "is measured on held-out pairs. Received: validation_split="
            f"{validation_split!r}. Use e.g. validation_split=0.1."
        )
    validation_split = float(validation_split)  # NumPy floats too (JSON)
    if not isinstance(verbose, int) or isinstance(verbose, bool):
        raise ValueError(
            "`verbose` must be 0, 1 or 2. Received: verbose="
            f"{verbose!r}. Use e.g. verbose=0."
        )
    space = resolve_space(preset, space)
    if tuner == "bayesian":
        check_bayesian_dependency()
    out = os.fspath(out)

    def log(message: str) -> None:
        if verbose:
            print(message, file=sys.stderr, flush=True)

    pairs = as_pairs(data, reverse=reverse)
    if max_pairs is not None:
        pairs = pairs[:max_pairs]
    config = {
        "tuner": tuner,
        "objective": objective,
        "epochs": epochs,
        "preset": preset,
        "seed": seed,
        "batch_size": batch_size,
        "validation_split": validation_split,
        "max_length": max_length,
        "space": space,
        "num_pairs": len(pairs),
        "data_sha256": _fingerprint(pairs),
        "chrf_samples": chrf_samples,
    }
    config_path = os.path.join(out, CONFIG_FILENAME)
    tokenizers_dir = os.path.join(out, TOKENIZERS_DIRNAME)
    resuming = os.path.isfile(config_path)
    if resuming:
        _check_resume(out, read_json(config_path), config)
        source_tokenizer = TextTokenizer.load(
            os.path.join(tokenizers_dir, "source.json")
        )
        target_tokenizer = TextTokenizer.load(
            os.path.join(tokenizers_dir, "target.json")
        )
        train_pairs, validation_pairs, _ = split_pairs(
            pairs, validation_split=validation_split, seed=seed
        )
    else:
        prepared = Translator.from_pairs(
            pairs,
            preset=preset,
            validation_split=validation_split,
            seed=seed,
            max_source_length=max_length,
            max_target_length=max_length,
        )
        source_tokenizer = prepared.source_tokenizer
        target_tokenizer = prepared.target_tokenizer
        train_pairs = prepared.train_pairs
        validation_pairs = prepared.validation_pairs
    hypermodel = TranslatorHyperModel(
        source_tokenizer,
        target_tokenizer,
        train_pairs,
        validation_pairs,
        preset=preset,
        space=space,
        objective=objective,
        batch_size=batch_size,
        max_source_length=max_length,
        max_target_length=max_length,
        chrf_samples=chrf_samples,
        seed=seed,
    )
    if not resuming:
        os.makedirs(tokenizers_dir, exist_ok=True)
        for side, tokenizer in (
            ("source", source_tokenizer),
            ("target", target_tokenizer),
        ):
            write_json(
                os.path.join(tokenizers_dir, f"{side}.json"),
                tokenizer.get_config(),
            )
        # Written last: its presence means the tokenizers are complete.
        write_json(config_path, config)
    log(
        f"{len(train_pairs)} training and {len(validation_pairs)} "
        f"validation pairs; vocabularies {source_tokenizer.vocabulary_size} "
        f"/ {target_tokenizer.vocabulary_size}; {tuner} search of "
        f"{max_trials} trial(s), {epochs} epoch(s), objective {objective}."
    )
    if resuming:
        check_tuner_files(out)
    keras.utils.set_random_seed(seed)
    with contextlib.ExitStack() as stack:
        if not verbose:
            # Keras Tuner prints "Reloading Tuner from ..." whatever the
            # verbosity.
            stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        search = make_tuner(
            hypermodel,
            out,
            tuner=tuner,
            max_trials=max_trials,
            epochs=epochs,
            seed=seed,
        )
    before = _trial_counts(search)
    ended_before = before["completed"] + before["failed"]
    if resuming:
        log(f"Resuming the search in {out}: {before['trials']} trial(s) run.")
    search.search(
        epochs=epochs, callbacks=list(callbacks or []), verbose=verbose
    )
    counts = _trial_counts(search)
    completed = [
        trial
        for trial in search.oracle.get_best_trials(counts["trials"])
        if trial.status == "COMPLETED"
    ]
    if not completed:
        messages = [
            (trial.message or "").strip().splitlines()[-1:]
            for trial in search.oracle.trials.values()
        ]
        last = messages[-1][0] if messages and messages[-1] else ""
        raise RuntimeError(
            f"No trial of the search in {out!r} finished: "
            f"{counts['failed']} of {counts['trials']} failed. Last error: "
            f"{last} Narrow the search space (e.g. lower learning rates)."
        )
    best = completed[0]
    values = {
        name: value
        for name, value in best.hyperparameters.values.items()
        if not name.startswith("tuner/")
    }
    best_dir = os.path.join(out, BEST_DIRNAME)
    best_path = os.path.join(out, BEST_HYPERPARAMETERS_FILENAME)
    record = {
        "trial_id": best.trial_id,
        "objective": objective,
        "score": float(best.score),
        "hyperparameters": values,
    }
    saved = os.path.isfile(best_path) and read_json(best_path) == record
    if not (saved and os.path.isdir(best_dir)):
        translator = Translator(
            source_tokenizer,
            target_tokenizer,
            search.load_model(best),
            max_source_length=max_length,
            max_target_length=max_length,
        )
        translator.seed = seed
        translator.save(best_dir)
        write_json(best_path, record)
    log(
        f"Best trial {best.trial_id}: {objective} {best.score:.4f}; "
        f"translator saved in {best_dir}."
    )
    return {
        "out": out,
        "best_dir": best_dir,
        "best_trial": best.trial_id,
        "objective": objective,
        "score": float(best.score),
        "hyperparameters": values,
        **counts,
        # Trials that ended in this call, an interrupted one included.
        "new_trials": counts["completed"] + counts["failed"] - ended_before,
    }
