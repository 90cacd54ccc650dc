"""Hyperparameter search: hypermodel, run_search, resume, failures, CLI."""

import glob
import json
import os
import shutil
import sys

import keras
import keras_tuner
import numpy as np
import pytest

import keras_bahdanau as kb
from keras_bahdanau import cli
from keras_bahdanau.tuning import SEARCH_SPACES
from keras_bahdanau.tuning import TranslatorHyperModel
from keras_bahdanau.tuning import make_tuner
from keras_bahdanau.tuning import resolve_space
from keras_bahdanau.tuning import run_search
from keras_bahdanau.tuning.space import declare

# Small models and a small space: every trial takes seconds on a CPU.
SPACE = {
    "embedding_dim": [8, 16],
    "encoder_units": [8, 16],
    "decoder_units": [16, 32],
    "attention_units": [8, 16],
}
SETTINGS = {
    "preset": "tiny",
    "epochs": 1,
    "batch_size": 16,
    "max_length": 12,
    "space": SPACE,
}
FIXED = {
    "embedding_dim": 24,
    "encoder_units": 12,
    "decoder_units": 20,
    "attention_units": 10,
    "cell": "lstm",
    "dropout": 0.1,
    "learning_rate": 3e-3,
    "normalize": True,
}


@pytest.fixture(scope="module")
def pairs():
    return kb.reversal_text_pairs(60, min_length=2, max_length=5, seed=0)


@pytest.fixture(scope="module")
def hypermodel(pairs):
    translator = kb.Translator.from_pairs(
        pairs, preset="tiny", validation_split=0.2, max_source_length=12,
        max_target_length=12,
    )
    return TranslatorHyperModel.from_translator(
        translator, preset="tiny", space=SPACE, objective="val_chrf",
        batch_size=16,
    )


@pytest.fixture(scope="module")
def searched(tmp_path_factory, pairs):
    """A finished 2-trial random search (objective val_chrf), seeded with
    a NumPy integer: the searches it is compared with use the int 0."""
    out = str(tmp_path_factory.mktemp("tuning") / "search")
    summary = run_search(
        pairs, out, max_trials=2, objective="val_chrf", seed=np.int64(0),
        **SETTINGS
    )
    return out, summary


def _fixed_hp(values):
    hp = keras_tuner.HyperParameters()
    for name, value in values.items():
        hp.Fixed(name, value)
    return hp


def _weight(model, suffix):
    (variable,) = [v for v in model.weights if v.path.endswith(suffix)]
    return variable


def _trials(out):
    """`{trial_id: (status, score, checkpoint mtime)}` read from disk."""
    trials = {}
    for path in glob.glob(os.path.join(out, "search", "trial_*")):
        with open(os.path.join(path, "trial.json")) as f:
            trial = json.load(f)
        checkpoint = os.path.join(path, "checkpoint.weights.h5")
        mtime = (
            os.stat(checkpoint).st_mtime_ns
            if os.path.exists(checkpoint) else None
        )
        trials[trial["trial_id"]] = (trial["status"], trial["score"], mtime)
    return trials


class _PoisonWeights(keras.callbacks.Callback):
    """Sets the first weight to NaN before batch 1: the loss becomes NaN."""

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 1:
            variable = self.model.trainable_variables[0]
            variable.assign(np.full(variable.shape, np.nan, "float32"))


class _CountEpochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs += 1


# ------------------------------------------------------------ hypermodel
def test_build_takes_sizes_from_hp(hypermodel):
    model = hypermodel.build(_fixed_hp(FIXED))
    source_vocab = hypermodel.source_tokenizer.vocabulary_size
    assert (model.embedding_dim, model.encoder_units) == (24, 12)
    assert (model.decoder_units, model.attention_units) == (20, 10)
    assert model.cell == "lstm" and model.normalize is True
    assert model.dropout == pytest.approx(0.1)
    # The variables have the sampled sizes.
    assert _weight(model, "encoder/embedding/embeddings").shape == (
        source_vocab, 24,
    )
    assert _weight(model, "attention/W_a").shape == (20, 10)
    assert _weight(model, "bridge/kernel").shape == (12, 20)
    assert any("lstm_cell" in v.path for v in model.weights)
    assert any(v.path.endswith("attention/g") for v in model.weights)
    # Compiled with Adam(learning_rate) and the masked loss.
    assert model.compiled
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(3e-3)
    assert isinstance(model.loss, kb.MaskedSparseCategoricalCrossentropy)


def test_build_declares_the_search_space(hypermodel):
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    assert set(hp.values) == set(SEARCH_SPACES["tiny"])
    assert hp.values["encoder_units"] in SPACE["encoder_units"]
    learning_rate = hp.get_config()["space"]
    (lr,) = [h for h in learning_rate if h["config"]["name"] == "learning_rate"]
    assert lr["config"]["sampling"] == "log"
    assert isinstance(hp.values["normalize"], bool)


def test_fit_returns_val_loss_and_val_chrf(hypermodel):
    hp = _fixed_hp({**FIXED, "cell": "gru", "normalize": False})
    model = hypermodel.build(hp)
    metrics = hypermodel.fit(hp, model, epochs=1, verbose=0)
    assert {"loss", "val_loss", "val_chrf", "val_bleu"} <= set(metrics)
    assert np.isfinite(metrics["val_loss"]) and metrics["val_loss"] > 0
    assert 0.0 <= metrics["val_chrf"] <= 100.0
    # The chrF is that of the trained model's greedy translations.
    translator = kb.Translator(
        hypermodel.source_tokenizer, hypermodel.target_tokenizer, model,
        max_source_length=12, max_target_length=12,
    )
    scores = translator.evaluate(hypermodel.validation_pairs)
    assert metrics["val_chrf"] == pytest.approx(scores["chrf"])


def test_fit_from_initial_epoch_trains_on_that_epochs_batches(hypermodel):
    # Hyperband goes on training an earlier trial's model with
    # `initial_epoch`: its epoch 1 must be an uninterrupted run's epoch 1.
    hp = _fixed_hp({**FIXED, "dropout": 0.0})
    whole = hypermodel.build(hp)
    hypermodel.fit(hp, whole, epochs=2, verbose=0)
    continued = hypermodel.build(hp)
    hypermodel.fit(hp, continued, epochs=1, verbose=0)
    hypermodel.fit(hp, continued, epochs=2, initial_epoch=1, verbose=0)
    for a, b in zip(whole.weights, continued.weights):
        np.testing.assert_allclose(
            np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6,
            err_msg=a.path,
        )


def test_fit_without_seed_leaves_the_order_to_the_global_state(
    hypermodel, monkeypatch
):
    unseeded = TranslatorHyperModel(
        hypermodel.source_tokenizer, hypermodel.target_tokenizer,
        hypermodel.train_pairs, hypermodel.validation_pairs, preset="tiny",
        space=SPACE, batch_size=16, seed=None,
    )
    epochs = []
    original = unseeded.datasets

    def datasets(epoch=None):
        epochs.append(epoch)
        return original(epoch=epoch)

    monkeypatch.setattr(unseeded, "datasets", datasets)
    hp = _fixed_hp(FIXED)
    unseeded.fit(hp, unseeded.build(hp), epochs=1, verbose=0)
    # An epoch variable would fix the order to seed 0.
    assert epochs == [None]


def test_diverging_fit_raises_failed_trial_error(hypermodel):
    hp = _fixed_hp(FIXED)
    model = hypermodel.build(hp)
    counter = _CountEpochs()
    with pytest.raises(
        keras_tuner.errors.FailedTrialError, match=r"diverged: loss=nan"
    ):
        hypermodel.fit(
            hp, model, epochs=3, verbose=0,
            callbacks=[_PoisonWeights(), counter],
        )
    assert counter.epochs == 1  # stopped at once, not after 3 epochs


def test_hypermodel_bad_settings(hypermodel, pairs):
    tokenizers = (hypermodel.source_tokenizer, hypermodel.target_tokenizer)
    with pytest.raises(ValueError, match="`objective` must be one of"):
        TranslatorHyperModel(*tokenizers, pairs, pairs, objective="bleu")
    with pytest.raises(ValueError, match="`validation_pairs` must hold"):
        TranslatorHyperModel(*tokenizers, pairs, [], preset="tiny")
    with pytest.raises(TypeError, match="`source_tokenizer` must be a"):
        TranslatorHyperModel("vocab.txt", tokenizers[1], pairs, pairs)
    with pytest.raises(TypeError, match="takes no positional data"):
        hypermodel.fit(keras_tuner.HyperParameters(), None, pairs)
    # The same errors as `generate` and `run_search` give.
    for seed in (-1, 2**32):
        with pytest.raises(ValueError, match=r"`seed` must be in \[0, 2"):
            TranslatorHyperModel(*tokenizers, pairs, pairs, seed=seed)
    for seed in (1.5, "0", True, keras.random.SeedGenerator(1)):
        with pytest.raises(TypeError, match="`seed` must be None or an int"):
            TranslatorHyperModel(*tokenizers, pairs, pairs, seed=seed)


@pytest.mark.parametrize("seed", [None, np.int64(3)])
def test_hypermodel_builds_with_none_or_numpy_seed(hypermodel, pairs, seed):
    # `build` reseeds with `keras.utils.set_random_seed`, which takes only
    # a Python int: None skips it, NumPy ints are converted.
    model = TranslatorHyperModel(
        hypermodel.source_tokenizer, hypermodel.target_tokenizer, pairs,
        pairs, preset="tiny", space=SPACE, seed=seed,
    ).build(keras_tuner.HyperParameters())
    assert model.built


@pytest.mark.parametrize(
    "space, match",
    [
        ({"heads": [2]}, r"`space` keys must be among .*Received unknown"),
        ({"cell": ["gru", "rnn"]}, r"non-empty list .* 'gru' or 'lstm'"),
        ({"encoder_units": []}, r"space\['encoder_units'\]` must be a non"),
        ({"encoder_units": {"min": 8, "max": 16}}, r"int or a list .*range"),
        ({"learning_rate": {"min": 1e-2, "max": 1e-3}}, r"with a < b"),
        ({"dropout": 1.5}, r"space\['dropout'\]` must be a float in \[0, 1"),
        ({"normalize": "yes"}, r"space\['normalize'\]` must be a bool"),
        ({"learning_rate": float("inf")}, r"space\['learning_rate'\]` must"),
        ({"learning_rate": {"min": 1e-3, "max": float("inf")}},
         r"space\['learning_rate'\]` must be a range"),
    ],
)
def test_resolve_space_rejects_bad_entries(space, match):
    with pytest.raises(ValueError, match=match) as info:
        resolve_space("tiny", space)
    assert "Use e.g. space=" in str(info.value)


def test_resolve_space_merges_and_fixes():
    space = resolve_space("small", {"cell": "lstm", "encoder_units": (32,)})
    assert space["cell"] == "lstm" and space["encoder_units"] == [32]
    assert space["decoder_units"] == SEARCH_SPACES["small"]["decoder_units"]
    with pytest.raises(ValueError, match="`preset` must be one of"):
        resolve_space("paper")
    with pytest.raises(TypeError, match="`space` must be a dict"):
        resolve_space("tiny", [("cell", "gru")])


def test_resolve_space_lists_take_each_value_once_and_one_type():
    space = resolve_space("tiny", {"dropout": [0, 0.1, 0.1],
                                   "learning_rate": [1e-3, 1],
                                   "normalize": [True, True]})
    assert space["dropout"] == [0.0, 0.1]
    assert all(type(v) is float for v in space["dropout"])
    assert space["learning_rate"] == [1e-3, 1.0]
    assert space["normalize"] == [True]
    # Keras Tuner's Choice took neither mixed list; normalize is now fixed.
    hp = keras_tuner.HyperParameters()
    for name in ("dropout", "learning_rate", "normalize"):
        declare(hp, name, space[name])
    assert hp.values["normalize"] is True
    kinds = {h.name: type(h).__name__ for h in hp.space}
    assert kinds == {"dropout": "Choice", "learning_rate": "Choice",
                     "normalize": "Fixed"}


# ------------------------------------------------------------ run_search
def test_bleu_is_recorded_as_maximised(searched):
    out, _ = searched
    paths = glob.glob(os.path.join(out, "search", "trial_*"))
    assert len(paths) == 2
    for path in paths:
        with open(os.path.join(path, "trial.json")) as f:
            metrics = json.load(f)["metrics"]["metrics"]
        assert metrics["val_bleu"]["direction"] == "max"
        assert metrics["val_chrf"]["direction"] == "max"


def test_search_saves_the_best_translator(searched):
    out, summary = searched
    assert (summary["trials"], summary["completed"]) == (2, 2)
    assert (summary["failed"], summary["new_trials"]) == (0, 2)
    trials = _trials(out)
    assert set(trials) == {"0", "1"}
    best_score = max(score for _, score, _ in trials.values())
    assert summary["score"] == pytest.approx(best_score)
    assert trials[summary["best_trial"]][1] == pytest.approx(best_score)
    with open(os.path.join(out, "best_hyperparameters.json")) as f:
        record = json.load(f)
    assert record["trial_id"] == summary["best_trial"]
    assert record["objective"] == "val_chrf"
    assert record["hyperparameters"] == summary["hyperparameters"]
    best = kb.Translator.load(os.path.join(out, "best"))
    values = record["hyperparameters"]
    for name in SPACE:
        assert getattr(best.model, name) == values[name]
    assert best.model.cell == values["cell"]
    outputs = best.translate(["1 2 3", "4 5"])
    assert len(outputs) == 2 and all(isinstance(o, str) for o in outputs)


def test_search_resumes_without_repeating_trials(searched, pairs, tmp_path):
    out = str(tmp_path / "copy")
    shutil.copytree(searched[0], out)
    before = _trials(out)
    best_model = os.path.join(out, "best", "model.keras")
    best_mtime = os.stat(best_model).st_mtime_ns
    # Same max_trials: nothing runs, nothing is rewritten.
    summary = run_search(
        pairs, out, max_trials=2, objective="val_chrf", **SETTINGS
    )
    assert (summary["new_trials"], summary["trials"]) == (0, 2)
    assert _trials(out) == before
    assert os.stat(best_model).st_mtime_ns == best_mtime
    assert summary["best_trial"] == searched[1]["best_trial"]
    # One more trial allowed: exactly one more runs.
    summary = run_search(
        pairs, out, max_trials=3, objective="val_chrf", **SETTINGS
    )
    assert (summary["new_trials"], summary["trials"]) == (1, 3)
    after = _trials(out)
    assert len(after) == 3
    assert {k: after[k] for k in before} == before


def test_scores_do_not_depend_on_earlier_trials_or_resumes(
    searched, pairs, tmp_path
):
    # The same 2-trial search again in this process, after other random
    # draws, and once more run as 1 trial then resumed to 2: each trial
    # starts from `seed`, so every score equals the first search's (whose
    # seed was `np.int64(0)`, these the default int 0).
    scores = {k: v[1] for k, v in _trials(searched[0]).items()}
    keras.utils.set_random_seed(123)
    np.random.rand(7)
    again = str(tmp_path / "again")
    run_search(pairs, again, max_trials=2, objective="val_chrf", **SETTINGS)
    assert {k: v[1] for k, v in _trials(again).items()} == scores
    resumed = str(tmp_path / "resumed")
    run_search(pairs, resumed, max_trials=1, objective="val_chrf", **SETTINGS)
    keras.utils.set_random_seed(7)
    run_search(pairs, resumed, max_trials=2, objective="val_chrf", **SETTINGS)
    assert {k: v[1] for k, v in _trials(resumed).items()} == scores


def test_resume_with_other_settings_raises(searched, pairs):
    out = searched[0]
    config = os.path.join(out, "search_config.json")
    mtime = os.stat(config).st_mtime_ns
    with pytest.raises(ValueError, match="`objective` must match the search"):
        run_search(pairs, out, max_trials=2, objective="val_loss", **SETTINGS)
    with pytest.raises(ValueError, match="`num_pairs` must match"):
        run_search(
            pairs[:50], out, max_trials=2, objective="val_chrf", **SETTINGS
        )
    with pytest.raises(ValueError, match="`chrf_samples` must match"):
        run_search(
            pairs, out, max_trials=2, objective="val_chrf", chrf_samples=5,
            **SETTINGS,
        )
    assert os.stat(config).st_mtime_ns == mtime
    assert len(_trials(out)) == 2


def test_failed_trials_are_recorded_and_the_search_goes_on(pairs, tmp_path):
    out = str(tmp_path / "search")
    with pytest.raises(RuntimeError, match="No trial .* finished: 1 of 1"):
        run_search(
            pairs, out, max_trials=1, callbacks=[_PoisonWeights()],
            **SETTINGS,
        )
    assert _trials(out)["0"][0] == "FAILED"  # FailedTrialError, not INVALID
    # The search goes on with the next trial; the failed one is kept.
    summary = run_search(pairs, out, max_trials=2, **SETTINGS)
    trials = _trials(out)
    assert (trials["0"][0], trials["1"][0]) == ("FAILED", "COMPLETED")
    assert (summary["failed"], summary["completed"]) == (1, 1)
    assert (summary["new_trials"], summary["best_trial"]) == (1, "1")
    assert os.path.isfile(os.path.join(out, "best", "model.keras"))


def test_consecutive_failed_trials_do_not_end_the_search(pairs, tmp_path):
    # Keras Tuner ends a search after 3 failed trials in a row by default,
    # with its own RuntimeError and no best translator saved.
    out = str(tmp_path / "search")
    run_search(pairs, out, max_trials=1, **SETTINGS)
    summary = run_search(
        pairs, out, max_trials=5, callbacks=[_PoisonWeights()], **SETTINGS
    )
    assert (summary["completed"], summary["failed"]) == (1, 4)
    assert (summary["new_trials"], summary["best_trial"]) == (4, "0")


class _InterruptTrial(keras.callbacks.Callback):
    """Raises KeyboardInterrupt in the trial numbered `trial` (from 0)."""

    started = []  # shared by the copies Keras Tuner makes per trial

    def __init__(self, trial):
        super().__init__()
        self.trial = trial

    def on_train_begin(self, logs=None):
        self.started.append(1)
        if len(self.started) == self.trial + 1:
            raise KeyboardInterrupt


def test_new_trials_counts_the_interrupted_trial_run_again(pairs, tmp_path):
    out = str(tmp_path / "search")
    _InterruptTrial.started.clear()
    with pytest.raises(KeyboardInterrupt):
        run_search(pairs, out, max_trials=2, callbacks=[_InterruptTrial(1)],
                   **SETTINGS)
    summary = run_search(pairs, out, max_trials=2, **SETTINGS)
    assert (summary["trials"], summary["completed"]) == (2, 2)
    assert summary["new_trials"] == 1  # trial 1, run again


@pytest.mark.parametrize(
    "seed, error, match",
    [
        (None, TypeError,
         r"`seed` must be an int: it fixes the validation split and every "
         r"trial, .*Received: seed=None"),
        (1.5, TypeError, r"`seed` must be an int\. Received: seed=1\.5"),
        (keras.random.SeedGenerator(1), TypeError,
         "`seed` must be an int: it reseeds"),
        (-1, ValueError, r"`seed` must be in \[0, 2\*\*32\)"),
    ],
)
def test_run_search_bad_seed_raises_before_writing(pairs, tmp_path, seed,
                                                   error, match):
    out = tmp_path / "never"
    with pytest.raises(error, match=match):
        run_search(pairs, str(out), max_trials=1, seed=seed, **SETTINGS)
    assert not out.exists()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"tuner": "grid"}, r"`tuner` must be one of \['random', "),
        ({"objective": "bleu"}, r"`objective` must be one of"),
        ({"max_trials": 0}, r"`max_trials` must be a positive int"),
        ({"epochs": 0}, r"`epochs` must be a positive int"),
        ({"preset": "paper"}, r"`preset` must be one of \['small', 'tiny'\]"),
        ({"validation_split": 0.0}, r"`validation_split` must be a fraction"),
        # A NumPy fraction passes its check (it was refused): the next
        # bad argument is the one named.
        ({"validation_split": np.float32(0.2), "verbose": "x"},
         r"`verbose` must be 0, 1 or 2"),
        ({"max_pairs": -3}, r"`max_pairs` must be a positive int"),
        ({"space": {"heads": [2]}}, r"`space` keys must be among"),
    ],
)
def test_run_search_bad_arguments_raise_at_once(pairs, tmp_path, kwargs,
                                                 match):
    settings = {**SETTINGS, "max_trials": 1, **kwargs}
    out = tmp_path / "never"
    with pytest.raises(ValueError, match=match):
        run_search(pairs, str(out), **settings)
    assert not out.exists()


def test_bayesian_without_scikit_learn_raises(pairs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match="scikit-learn"):
        run_search(pairs, str(tmp_path / "o"), tuner="bayesian", **SETTINGS)
    assert not (tmp_path / "o").exists()


def test_make_tuner_kinds(hypermodel, tmp_path):
    random = make_tuner(hypermodel, str(tmp_path / "r"), max_trials=3)
    assert isinstance(random, keras_tuner.RandomSearch)
    assert random.oracle.max_trials == 3
    assert random.oracle.objective.direction == "max"  # val_chrf
    hyperband = make_tuner(
        hypermodel, str(tmp_path / "h"), tuner="hyperband", max_trials=4,
        epochs=7,
    )
    assert isinstance(hyperband, keras_tuner.Hyperband)
    assert (hyperband.oracle.max_epochs, hyperband.oracle.max_trials) == (7, 4)
    assert hyperband.project_dir == str(tmp_path / "h" / "search")
    with pytest.raises(ValueError, match="`max_trials` must be a positive"):
        make_tuner(hypermodel, str(tmp_path / "x"), max_trials=0)


def test_make_tuner_bayesian_initial_points(hypermodel, tmp_path):
    pytest.importorskip("sklearn")
    default = make_tuner(
        hypermodel, str(tmp_path / "b"), tuner="bayesian", max_trials=10
    )
    assert isinstance(default, keras_tuner.BayesianOptimization)
    # Not Keras Tuner's 3 per hyperparameter (24 for the 8 here): 10
    # would all be random.
    assert default.oracle.num_initial_points == 3
    given = make_tuner(
        hypermodel, str(tmp_path / "g"), tuner="bayesian", max_trials=10,
        initial_points=np.int64(5),
    )
    assert given.oracle.num_initial_points == 5
    # A reloaded search keeps its number: another one given is an error.
    given.save()  # its files, as a started search has them
    again = make_tuner(
        hypermodel, str(tmp_path / "g"), tuner="bayesian", max_trials=30
    )
    assert again.oracle.num_initial_points == 5
    with pytest.raises(ValueError, match="must match the search already"):
        make_tuner(
            hypermodel, str(tmp_path / "g"), tuner="bayesian",
            initial_points=7,
        )
    with pytest.raises(ValueError, match="Bayesian tuner only"):
        make_tuner(hypermodel, str(tmp_path / "r"), initial_points=2)
    with pytest.raises(ValueError, match="`initial_points` must be a posi"):
        make_tuner(
            hypermodel, str(tmp_path / "z"), tuner="bayesian",
            initial_points=0,
        )


def test_bayesian_search_uses_its_gaussian_process(pairs, tmp_path,
                                                    monkeypatch):
    gaussian_process = pytest.importorskip("sklearn.gaussian_process")
    fits = []
    original = gaussian_process.GaussianProcessRegressor.fit

    def counted_fit(self, *args, **kwargs):
        fits.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(
        gaussian_process.GaussianProcessRegressor, "fit", counted_fit
    )
    settings = {**SETTINGS, "max_trials": 3, "tuner": "bayesian"}
    summary = run_search(pairs, str(tmp_path / "s"), **settings)
    # Two random trials (max(2, 3 // 3)), then one from the process.
    assert (summary["trials"], summary["completed"]) == (3, 3)
    assert fits, "the third trial was not chosen by the Gaussian process"
    with open(os.path.join(summary["out"], "search", "oracle.json")) as f:
        assert json.load(f)["num_initial_points"] == 2


# ------------------------------------------------------------------ CLI
def _cli_error(capsys, argv):
    code = cli.main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1, captured.err
    assert captured.out == ""
    return lines[0]


def test_cli_tune_errors(capsys, tmp_path):
    missing = str(tmp_path / "missing.tsv")
    line = _cli_error(capsys, ["tune", "--data", missing, "--out", "o"])
    assert line.startswith("keras-bahdanau tune: error:")
    assert "missing.tsv" in line
    data = tmp_path / "p.tsv"
    data.write_text("1 2\t2 1\n3 4\t4 3\n", "utf-8")
    line = _cli_error(capsys, [
        "tune", "--data", str(data), "--out", "o", "--tuner", "grid",
    ])
    assert "--tuner" in line and "grid" in line
    line = _cli_error(capsys, [
        "tune", "--data", str(data), "--out", "o", "--max-trials", "0",
    ])
    assert "--max-trials" in line
    line = _cli_error(capsys, [
        "tune", "--data", str(data), "--out", str(tmp_path / "o"),
        "--validation-split", "0",
    ])
    assert "`validation_split` must be a fraction" in line


def test_cli_tune_prints_one_json_summary(capsys, tmp_path, pairs):
    data = tmp_path / "pairs.tsv"
    data.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), "utf-8")
    out = tmp_path / "tuned"
    code = cli.main([
        "tune", "--data", str(data), "--out", str(out), "--preset", "tiny",
        "--tuner", "hyperband", "--max-trials", "1", "--epochs", "1",
        "--batch-size", "16", "--max-length", "12",
    ])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-3000:]
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1, captured.out
    summary = json.loads(lines[0])
    assert (summary["trials"], summary["completed"]) == (1, 1)
    assert "training and" in captured.err  # progress on stderr
    best = kb.Translator.load(summary["best_dir"])
    assert isinstance(best.translate("1 2")[0], str)


def test_keras_tuner_files_are_written_atomically(pairs, tmp_path,
                                                  monkeypatch):
    # Keras Tuner wrote oracle.json, trial.json and tuner0.json in place: a
    # kill during a write left an empty file that no resume could read.
    from keras_tuner.src import utils

    original = utils.save_json
    renamed = []
    os_replace = os.replace

    def spy(source, target):
        renamed.append(os.path.basename(target))
        os_replace(source, target)

    monkeypatch.setattr(os, "replace", spy)
    run_search(pairs, str(tmp_path / "out"), max_trials=1, **SETTINGS)
    assert {"oracle.json", "trial.json", "tuner0.json"} <= set(renamed)
    assert utils.save_json is original  # restored after the search


def test_resume_with_a_cut_short_tuner_file_names_it(searched, pairs,
                                                     tmp_path):
    out = str(tmp_path / "copy")
    shutil.copytree(searched[0], out)
    (path,) = glob.glob(os.path.join(out, "search", "trial_*0",
                                     "trial.json"))[:1]
    open(path, "w").close()  # what a kill during Keras Tuner's write left
    with pytest.raises(ValueError, match="cannot be resumed: .*trial.json"):
        run_search(pairs, out, max_trials=2, objective="val_chrf",
                   **SETTINGS)
