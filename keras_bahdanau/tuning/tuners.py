"""Keras Tuner set-up: the tuner kinds, their fixes, atomic tuner files."""

import contextlib
import json
import os
import warnings

import keras_tuner

from keras_bahdanau.jsonfile import read_json
from keras_bahdanau.jsonfile import write_text
from keras_bahdanau.layers.validation import check_choice
from keras_bahdanau.layers.validation import check_positive_int
from keras_bahdanau.tuning.hypermodel import TranslatorHyperModel

TUNERS = ("random", "hyperband", "bayesian")
# The tuner's folder inside a search's output directory.
PROJECT_NAME = "search"


class _TunerFixes:
    """Keras Tuner 1.4 tweaks for the translator hypermodel.

    With the `val_chrf` objective, `val_bleu` is registered as maximised
    in every trial (Keras Tuner would record it as minimised, in
    `trial.json` and for `trial.metrics.get_best_value`).

    Keras Tuner imports `tensorboard` in every trial on TensorFlow to patch
    `TensorBoard` callbacks, but TensorFlow 2.21 no longer installs it: it
    is imported only when such a callback is given.
    """

    def on_trial_begin(self, trial):
        # Keras Tuner records metrics it cannot place as minimised; the
        # hypermodel reports BLEU (maximised) beside a chrF objective.
        if self.oracle.objective.name == "val_chrf":
            if not trial.metrics.exists("val_bleu"):
                trial.metrics.register("val_bleu", direction="max")
        super().on_trial_begin(trial)

    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
        if any(type(c).__name__ == "TensorBoard" for c in callbacks):
            super()._configure_tensorboard_dir(callbacks, trial, execution)

    def _build_hypermodel(self, hp):
        # Hyperband rebuilds a continued trial from its build config; the
        # hypermodel builds its models itself, so Keras' warning is moot.
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=".*had a build config, but the model"
            )
            return super()._build_hypermodel(hp)


class _RandomSearch(_TunerFixes, keras_tuner.RandomSearch):
    pass


class _Hyperband(_TunerFixes, keras_tuner.Hyperband):
    pass


class _BayesianOptimization(
    _TunerFixes, keras_tuner.BayesianOptimization
):
    pass


def check_bayesian_dependency() -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise ImportError(
            "tuner='bayesian' needs scikit-learn. Install it with `pip "
            "install scikit-learn` (or `pip install keras-bahdanau[bayesian]`"
            "), or use tuner='random' or 'hyperband'."
        ) from None


def _objective(objective: str) -> keras_tuner.Objective:
    direction = "max" if objective == "val_chrf" else "min"
    return keras_tuner.Objective(objective, direction=direction)


def make_tuner(
    hypermodel: TranslatorHyperModel,
    out: str,
    tuner: str = "random",
    max_trials: int = 10,
    epochs: int = 5,
    seed: int = 0,
    initial_points: "int | None" = None,
) -> keras_tuner.Tuner:
    """Creates (or reloads) the Keras Tuner of a search in `out/search`.

    `overwrite=False`: a tuner on a directory that holds a search reloads
    it, so finished trials are not run again. Hyperband trains for at most
    `epochs` epochs (`max_epochs`, factor 3, one iteration) and also stops
    after `max_trials` trials. The Bayesian tuner picks its first
    `initial_points` trials at random and the others by its Gaussian
    process. By default that is a third of `max_trials` (at least 2):
    Keras Tuner's own default, 3 per hyperparameter (24 for the presets'
    spaces), would leave a budget of 10 trials entirely random. A reloaded
    search keeps the number its first run chose (Keras Tuner saves it),
    also when `max_trials` is raised.

    Args:
        hypermodel: the `TranslatorHyperModel` to search.
        out: the search directory.
        tuner: `"random"`, `"hyperband"` or `"bayesian"`.
        max_trials: most trials in all (finished runs included).
        epochs: epochs per trial (the largest for Hyperband).
        seed: seed of the oracle.
        initial_points: `"bayesian"` only: random trials before the
            Gaussian process guides the search (default `max(2,
            max_trials // 3)`).

    Returns:
        A `keras_tuner.RandomSearch`, `Hyperband` or
        `BayesianOptimization` tuner.

    Raises:
        ValueError: unknown tuner, `max_trials`, `epochs` or
            `initial_points` below 1, `initial_points` for another tuner,
            or for a reloaded search that started with another number.
        ImportError: `"bayesian"` without scikit-learn.
    """
    check_choice("tuner", tuner, TUNERS)
    max_trials = check_positive_int("max_trials", max_trials, "max_trials=10")
    epochs = check_positive_int("epochs", epochs, "epochs=5")
    given = initial_points is not None
    if not given:
        initial_points = max(2, max_trials // 3)
    elif tuner != "bayesian":
        raise ValueError(
            "`initial_points` is a setting of the Bayesian tuner only. "
            f"Received: initial_points={initial_points!r} with tuner="
            f"{tuner!r}. Leave it out, or pass tuner='bayesian'."
        )
    else:
        initial_points = check_positive_int(
            "initial_points", initial_points, "initial_points=3"
        )
    common = {
        "hypermodel": hypermodel,
        "objective": _objective(hypermodel.objective),
        "seed": seed,
        "directory": os.fspath(out),
        "project_name": PROJECT_NAME,
        "overwrite": False,
        # Diverging trials fail one by one; Keras Tuner's default (3 in a
        # row) would end the search with its own error. None: no limit.
        "max_consecutive_failed_trials": None,
    }
    if tuner == "random":
        return _RandomSearch(max_trials=max_trials, **common)
    if tuner == "bayesian":
        check_bayesian_dependency()
        result = _BayesianOptimization(
            max_trials=max_trials, num_initial_points=initial_points, **common
        )
        saved = result.oracle.num_initial_points
        if given and saved != initial_points:
            raise ValueError(
                f"`initial_points` must match the search already in {out!r}"
                f", which started with {saved} random trials. Received: "
                f"initial_points={initial_points}. Leave it out to resume, "
                "or use another output directory."
            )
        return result
    result = _Hyperband(
        max_epochs=epochs, factor=3, hyperband_iterations=1, **common
    )
    # Not part of the oracle's saved state: set on every (re)load.
    result.oracle.max_trials = max_trials
    return result


@contextlib.contextmanager
def atomic_tuner_writes():
    """Keras Tuner's JSON files written atomically within the block.

    Keras Tuner 1.4 writes `oracle.json`, `trial.json` and `tuner0.json`
    in place (`keras_tuner.src.utils.save_json`): a process killed during a
    write left an empty file and a search that could never be resumed.
    Here each goes to a temporary file that replaces it in one rename.
    """
    from keras_tuner.src import utils

    original = utils.save_json

    def save_json(path, obj):
        text = json.dumps(obj)  # Keras Tuner's format and return value
        write_text(path, text)
        return text

    utils.save_json = save_json
    try:
        yield
    finally:
        utils.save_json = original


def check_tuner_files(out: str) -> None:
    """Raises a clear error for a Keras Tuner file that does not parse."""
    for folder, _, names in os.walk(os.path.join(out, PROJECT_NAME)):
        for name in names:
            if not name.endswith(".json"):
                continue
            path = os.path.join(folder, name)
            try:
                read_json(path)
            except ValueError:
                raise ValueError(
                    f"The search in {out!r} cannot be resumed: {path} is not "
                    "valid JSON (a write cut short; versions before "
                    "2026-11-26 let Keras Tuner write it in place). Start "
                    "the search in a new output directory."
                ) from None
