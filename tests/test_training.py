"""The tiny preset learns sequence reversal; attention beats no attention.

Bahdanau et al. (2015), section 5.1: without attention the fixed-length
summary degrades on long sentences. Here the same tiny model trained the
same way scores lower on long (10-12 token) reversals without attention.
"""

import os

import keras
import numpy as np
import pytest

import keras_bahdanau as kb
from keras_bahdanau import training
from tests import reference

VOCAB = 13  # 3 special ids + 10 content ids (3..12)


def reversal(num_samples, min_length, max_length, seed):
    return kb.data.reversal_task(
        num_samples, min_length=min_length, max_length=max_length,
        vocab_size=10, seed=seed,
    )


def test_reversal_data_layout():
    source, decoder_input, target = reversal(50, 5, 12, seed=3)
    lengths = (source != 0).sum(1)
    assert lengths.min() >= 5 and lengths.max() <= 12
    for row, n in enumerate(lengths):
        np.testing.assert_array_equal(target[row, :n], source[row, :n][::-1])
        assert target[row, n] == 2 and np.all(target[row, n + 1:] == 0)
        assert decoder_input[row, 0] == 1
        np.testing.assert_array_equal(decoder_input[row, 1:],
                                      target[row, :-1])
    content = source[source != 0]
    assert content.min() >= 3 and content.max() <= 12


def train(attention, epochs=4):
    keras.utils.set_random_seed(0)
    source, decoder_input, target = reversal(4000, 5, 12, seed=0)
    model = kb.build_model(VOCAB, VOCAB, preset="tiny", attention=attention)
    # Gradient norm clipped at 1 as in the paper: at this learning rate an
    # unclipped run can spike the loss late (seen in notebook 01).
    model.compile(optimizer=keras.optimizers.Adam(0.01, clipnorm=1.0))
    model.fit((source, decoder_input), target, batch_size=64,
              epochs=epochs, verbose=0)
    return model


def masked_accuracy(model, data):
    source, decoder_input, target = data
    logits = keras.ops.convert_to_numpy(
        model.predict((source, decoder_input), batch_size=250, verbose=0)
    )
    return reference.masked_accuracy(target, logits)


def test_tiny_attention_model_learns_reversal_and_beats_no_attention():
    held_out = reversal(500, 5, 12, seed=1)
    long = reversal(300, 10, 12, seed=2)
    with_attention = train("bahdanau")
    accuracy = masked_accuracy(with_attention, held_out)
    assert accuracy >= 0.95, accuracy
    evaluated = with_attention.evaluate(
        held_out[:2], held_out[2], verbose=0, return_dict=True
    )
    assert evaluated["accuracy"] == pytest.approx(accuracy, abs=1e-4)
    # Greedy generation reproduces the reversal (end id included).
    out = with_attention.generate(held_out[0][:50], max_length=13)
    rows_ok = [
        np.array_equal(out["tokens"][i][: (held_out[2][i] != 0).sum()],
                       held_out[2][i][held_out[2][i] != 0])
        for i in range(50)
    ]
    assert np.mean(rows_ok) >= 0.8, np.mean(rows_ok)

    long_with = masked_accuracy(with_attention, long)
    without_attention = train(None)
    long_without = masked_accuracy(without_attention, long)
    assert long_with >= 0.95, long_with
    assert long_without < long_with - 0.1, (long_without, long_with)


def _tiny_model(vocab=VOCAB):
    model = kb.build_model(vocab, vocab, preset="tiny")
    model.compile()
    source, decoder_input, _ = reversal(4, 2, 3, seed=0)
    model((source, decoder_input))
    return model


def test_fit_on_finished_directory_restores_weights_and_history(tmp_path):
    from keras_bahdanau import training

    directory = str(tmp_path / "run")
    source, decoder_input, target = reversal(64, 2, 4, seed=0)
    data = ((source, decoder_input), target)
    trained = _tiny_model()
    history = training.fit(trained, data, epochs=1, directory=directory,
                           verbose=0)
    fresh = _tiny_model()
    again = training.fit(fresh, data, epochs=1, directory=directory,
                         verbose=0)
    # Nothing trained: the run's weights and its logged History come back.
    assert again.epoch == [0]
    assert again.history["loss"] == pytest.approx(history.history["loss"])
    for got, want in zip(fresh.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert training.read_state(directory)["completed_epochs"] == 1
    # No validation data: no column of NAs read back as val_loss [None].
    assert "val_loss" not in again.history


def _shuffled(seed=0):
    import tensorflow as tf

    source, decoder_input, target = reversal(48, 2, 4, seed=seed)
    data = tf.data.Dataset.from_tensor_slices(
        ((source, decoder_input), target)
    )
    return data.shuffle(48, seed=seed, reshuffle_each_iteration=True).batch(
        16
    )


def _worsening_run():
    """Training data and validation data whose best epoch is 0."""
    import tensorflow as tf

    source, decoder_input, target = reversal(128, 2, 4, seed=0)
    train = tf.data.Dataset.from_tensor_slices(
        ((source, decoder_input), target)
    ).batch(16)
    vs, vd, vt = reversal(32, 2, 4, seed=1)
    vt = np.where(vt != 0, VOCAB + 1, 0).astype(vt.dtype)
    val = tf.data.Dataset.from_tensor_slices(((vs, vd), vt)).batch(16)

    def model():
        keras.utils.set_random_seed(0)
        return _tiny_model(VOCAB + 3)

    return train, val, model


def test_resume_keeps_early_stopping_state(tmp_path):
    # Validation targets that training makes ever less likely: the best
    # epoch is 0. Stopped after epoch 0 and resumed, the run must still
    # restore epoch 0's weights at the end, as an uninterrupted run does;
    # a fresh EarlyStopping restored epoch 1's.
    from keras_bahdanau import training

    train, val, model = _worsening_run()
    settings = dict(validation_data=val, early_stopping_patience=3,
                    verbose=0)
    full = model()
    history = training.fit(full, train, epochs=3,
                           directory=str(tmp_path / "full"), **settings)
    assert int(np.argmin(history.history["val_loss"])) == 0
    directory = str(tmp_path / "resumed")
    training.fit(model(), train, epochs=1, directory=directory, **settings)
    resumed = model()
    training.fit(resumed, train, epochs=3, directory=directory, **settings)
    for got, want in zip(resumed.get_weights(), full.get_weights()):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    backup = os.path.join(directory, "backup")
    assert [n for n in os.listdir(backup) if n.startswith("early_")] == [
        "early_stopping_best_0.npz"
    ]


class _KillAfterBackup(keras.callbacks.Callback):
    """Raises after the backup of the epoch where `when(epoch)` holds."""

    def __init__(self, when):
        super().__init__()
        self.when = when

    def on_epoch_end(self, epoch, logs=None):
        if self.when(self, epoch):
            raise KeyboardInterrupt


@pytest.mark.parametrize(
    "patience, epochs, when",
    [
        # The last epoch's backup is written, the end of training is not.
        (3, 3, lambda callback, epoch: epoch == 2),
        # Early stopping stopped the run; killed before the end of training.
        (1, 6, lambda callback, epoch: callback.model.stop_training),
    ],
    ids=["after_last_epoch", "after_early_stop"],
)
def test_kill_before_the_end_of_training_ends_it_on_resume(
    tmp_path, patience, epochs, when
):
    # The resumed call must end the run as model.fit would have: early
    # stopping's best weights (epoch 0), a finished backup, no extra epoch.
    # Before, the last epoch's weights were kept, or an early-stopped run
    # trained one more epoch.
    from keras_bahdanau import training

    train, val, model = _worsening_run()
    settings = dict(validation_data=val, early_stopping_patience=patience,
                    verbose=0, epochs=epochs)
    full = model()
    training.fit(full, train, directory=str(tmp_path / "full"), **settings)
    full_log = training.logged_history(str(tmp_path / "full")).epoch
    directory = str(tmp_path / "killed")
    with pytest.raises(KeyboardInterrupt):
        training.fit(model(), train, directory=directory,
                     callbacks=[_KillAfterBackup(when)], **settings)
    assert not training.read_state(directory)["finished"]
    resumed = model()
    history = training.fit(resumed, train, directory=directory, **settings)
    assert history.epoch == full_log
    for got, want in zip(resumed.get_weights(), full.get_weights()):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    state = training.read_state(directory)
    assert state["finished"] and state["completed_epochs"] == len(full_log)
    # The finished backup holds the best weights too.
    again = model()
    training.fit(again, train, directory=directory, **settings)
    for got, want in zip(again.get_weights(), full.get_weights()):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_fewer_epochs_than_an_unfinished_run_leave_it_unfinished(tmp_path):
    # fit(epochs=2) on a 4-epoch run stopped after epoch 2 loads it and
    # trains nothing; it must not mark the run finished, so fit(epochs=4)
    # still trains epochs 3 and 4.
    from keras_bahdanau import training

    train, val, model = _worsening_run()
    directory = str(tmp_path / "run")
    settings = dict(validation_data=val, early_stopping_patience=None,
                    verbose=0, directory=directory)
    with pytest.raises(KeyboardInterrupt):
        training.fit(model(), train, epochs=4,
                     callbacks=[_KillAfterBackup(lambda c, e: e == 1)],
                     **settings)
    history = training.fit(model(), train, epochs=2, **settings)
    assert history.epoch == [0, 1]
    state = training.read_state(directory)
    assert not state["finished"] and state["completed_epochs"] == 2
    training.fit(model(), train, epochs=4, **settings)
    state = training.read_state(directory)
    assert state["finished"] and state["completed_epochs"] == 4
    assert training.logged_history(directory).epoch == [0, 1, 2, 3]


def test_fit_takes_numpy_int_settings(tmp_path):
    from keras_bahdanau import training

    source, decoder_input, target = reversal(16, 2, 3, seed=0)
    history = training.fit(
        _tiny_model(), ((source, decoder_input), target), epochs=1,
        directory=str(tmp_path / "run"), verbose=0,
        backup_every=np.int64(1), early_stopping_patience=np.int32(2),
    )
    assert history.epoch == [0]


def test_fit_takes_numpy_int_epochs(tmp_path):
    # Accepted by the size check, np.int64 epochs reached the backup state
    # and failed writing it ("int64 is not JSON serializable").
    from keras_bahdanau import training

    directory = str(tmp_path / "run")
    source, decoder_input, target = reversal(16, 2, 3, seed=0)
    history = training.fit(
        _tiny_model(), ((source, decoder_input), target),
        epochs=np.int64(1), directory=directory, verbose=0,
    )
    assert history.epoch == [0]
    state = training.read_state(directory)
    assert state["finished"] and state["epochs"] == 1
    assert training.check_fit_settings(
        np.int64(3), np.int32(2), np.int64(0)
    ) == (3, 2, 0)
    assert all(
        type(value) is int
        for value in training.check_fit_settings(np.int64(3), np.int32(2),
                                                 np.int64(0))
    )


@pytest.mark.parametrize(
    "name, value",
    [
        ("backup_every", -1), ("backup_every", 0.5), ("backup_every", "x"),
        ("early_stopping_patience", -1), ("early_stopping_patience", 2.5),
        ("early_stopping_patience", "2"),
    ],
)
def test_fit_rejects_bad_settings_before_writing(tmp_path, name, value):
    from keras_bahdanau import training

    directory = tmp_path / "run"
    source, decoder_input, target = reversal(16, 2, 3, seed=0)
    with pytest.raises(ValueError, match=f"`{name}` must be None or an int"):
        training.fit(_tiny_model(), ((source, decoder_input), target),
                     epochs=1, directory=str(directory), verbose=0,
                     **{name: value})
    assert not directory.exists()


def test_kill_after_the_log_row_keeps_one_row_per_epoch(
    tmp_path, monkeypatch
):
    # Killed after epoch 1's log row but before its backup: the resume
    # reruns epoch 1 and the log still has one row per epoch.
    from keras_bahdanau import training

    directory = str(tmp_path / "run")
    save = training.ResumableCheckpoint.save

    def killed_at_epoch_1_end(self, completed_epochs, batch, **kwargs):
        if completed_epochs == 2 and batch == 0 and not kwargs.get("finished"):
            raise KeyboardInterrupt
        save(self, completed_epochs, batch, **kwargs)

    monkeypatch.setattr(training.ResumableCheckpoint, "save",
                        killed_at_epoch_1_end)
    with pytest.raises(KeyboardInterrupt):
        training.fit(_tiny_model(), _shuffled(), epochs=3, verbose=0,
                     directory=directory, backup_every=None)
    assert training.read_state(directory)["completed_epochs"] == 1
    assert training.logged_history(directory).epoch == [0, 1]
    monkeypatch.setattr(training.ResumableCheckpoint, "save", save)
    training.fit(_tiny_model(), _shuffled(), epochs=3, verbose=0,
                 directory=directory)
    assert training.logged_history(directory).epoch == [0, 1, 2]


def test_restore_rejects_the_backup_of_another_model(tmp_path):
    from keras_bahdanau import training

    directory = str(tmp_path / "run")
    source, decoder_input, target = reversal(16, 2, 3, seed=0)
    training.fit(_tiny_model(), ((source, decoder_input), target), epochs=1,
                 directory=directory, verbose=0)
    with pytest.raises(ValueError, match="`directory` must hold a run of "
                       "the same model.*Pass a new directory"):
        training.restore(_tiny_model(VOCAB + 4), directory)
    unbuilt = kb.build_model(VOCAB, VOCAB, preset="tiny")
    with pytest.raises(ValueError, match="`model` must be built"):
        training.restore(unbuilt, directory)


def test_kill_between_backup_weights_and_state_keeps_the_pair(
    tmp_path, monkeypatch
):
    # The weights used to be renamed into place before the state was
    # written: a kill in between left epoch 2's weights with epoch 1's
    # state, and the resumed run trained epoch 2 twice.
    from keras_bahdanau import training
    from keras_bahdanau.training import checkpoint
    from keras_bahdanau.training.state import STATE_FILENAME

    train, _, model = _worsening_run()
    settings = dict(epochs=3, backup_every=0, verbose=0)
    full = model()
    training.fit(full, train, directory=str(tmp_path / "full"), **settings)
    directory = str(tmp_path / "killed")
    writes = []
    original = checkpoint.write_json

    def write_json(path, value):
        if path.endswith(STATE_FILENAME):
            writes.append(value)
            if value["completed_epochs"] == 2:
                raise KeyboardInterrupt  # weights written, state not
        original(path, value)

    monkeypatch.setattr(checkpoint, "write_json", write_json)
    with pytest.raises(KeyboardInterrupt):
        training.fit(model(), train, directory=directory, **settings)
    monkeypatch.undo()
    assert training.read_state(directory)["completed_epochs"] == 1
    resumed = model()
    history = training.fit(resumed, train, directory=directory, **settings)
    assert history.epoch == [1, 2]
    for got, want in zip(resumed.get_weights(), full.get_weights()):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    # Only the committed backup's weights are left.
    backup = os.path.join(directory, "backup")
    weights = [n for n in os.listdir(backup) if n.endswith(".weights.h5")]
    assert weights == [training.read_state(directory)["weights"]]


def test_on_finished_runs_with_the_final_weights_before_the_finish(tmp_path):
    # What `on_finished` writes (the translator files) must be in place
    # whenever the run reads as finished: a kill between the finished
    # backup and a later save kept the last epoch's weights, not early
    # stopping's best, in the saved translator.
    from keras_bahdanau import training

    train, val, model = _worsening_run()
    directory = str(tmp_path / "run")
    trained = model()
    seen = []

    def on_finished():
        seen.append((training.read_state(directory)["finished"],
                     [w.copy() for w in trained.get_weights()]))

    training.fit(trained, train, validation_data=val, epochs=3,
                 early_stopping_patience=3, directory=directory, verbose=0,
                 on_finished=on_finished)
    ((finished, weights),) = seen
    assert finished is False
    assert training.read_state(directory)["finished"]
    for got, want in zip(weights, trained.get_weights()):
        np.testing.assert_array_equal(got, want)  # the best (epoch 0)


class _InterruptAt(keras.callbacks.Callback):
    """Raises after Keras batch `batch` of `epoch` (after its backup)."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise KeyboardInterrupt


def _epoch_ordered_run(dropout=0.3):
    """`make_dataset(..., shuffle=True, epoch=v)` data (6 batches an
    epoch) and a model factory: the data path that resumes exactly."""
    import tensorflow as tf

    pairs = kb.reversal_text_pairs(96, min_length=2, max_length=5, seed=0)
    limits = {"max_source_length": 10, "max_target_length": 10}
    translator = kb.Translator.from_pairs(pairs, preset="tiny", **limits)

    def data(batch_size=16):
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        dataset = translator.make_dataset(pairs, batch_size, shuffle=True,
                                          seed=3, epoch=epoch)
        assert int(dataset.cardinality()) == 96 // batch_size
        return dataset, epoch

    def model():
        keras.utils.set_random_seed(0)
        built = kb.build_model(
            translator.source_tokenizer.vocabulary_size,
            translator.target_tokenizer.vocabulary_size,
            preset="tiny", dropout=dropout,
        )
        built.compile()
        (source, decoder_input), _ = next(iter(data()[0]))
        built((source, decoder_input))
        return built

    return data, model


def _fit_ordered(data, model, directory, callbacks=()):
    dataset, epoch = data()
    return training.fit(model, dataset, epochs=3, directory=directory,
                        epoch_variable=epoch, backup_every=2, verbose=0,
                        early_stopping_patience=None,
                        callbacks=list(callbacks))


def test_resume_mid_epoch_skips_the_batches_already_trained(tmp_path):
    # Interrupted after batch 3 of epoch 1 (backup at batch 4) and resumed:
    # the resumed run trains batches 4-5 of epoch 1, then whole epochs, and
    # ends as an uninterrupted run, dropout included. It used to rerun
    # epoch 1 from its first batch on the backup's weights: 4 steps more.
    import warnings

    data, model = _epoch_ordered_run()
    full = model()
    _fit_ordered(data, full, str(tmp_path / "full"))
    assert int(full.optimizer.iterations) == 18

    directory = str(tmp_path / "cut")
    with pytest.raises(KeyboardInterrupt):
        _fit_ordered(data, model(), directory, [_InterruptAt(1, 3)])
    state = training.read_state(directory)
    assert (state["completed_epochs"], state["batch"]) == (1, 4)

    class Steps(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append((epoch, self.params["steps"], []))

        def on_train_batch_end(self, batch, logs=None):
            seen[-1][2].append(batch)

    seen = []
    resumed = model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = _fit_ordered(data, resumed, directory, [Steps()])
    assert int(resumed.optimizer.iterations) == 18
    for got, want in zip(resumed.get_weights(), full.get_weights()):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert history.epoch == [1, 2]
    assert len(history.history["loss"]) == 2
    # Keras numbers the batches left from 0, the progress target is their
    # count, and the later epoch is whole, without a "ran out of data".
    assert seen == [(1, 2, [0, 1]), (2, 6, list(range(6)))]
    assert not [w for w in caught if "ran out of data" in str(w.message)]
    assert training.logged_history(directory).epoch == [0, 1, 2]
    assert training.read_state(directory)["finished"]


def test_resume_mid_epoch_with_other_batches_reruns_the_epoch(tmp_path):
    # The interrupted run had 6 batches an epoch; resumed on 12 (batch
    # size 8) its first 4 batches are other pairs, so the cut epoch runs
    # again from its first batch instead of skipping data never trained on.
    data, model = _epoch_ordered_run()
    directory = str(tmp_path / "cut")
    with pytest.raises(KeyboardInterrupt):
        _fit_ordered(data, model(), directory, [_InterruptAt(1, 3)])
    state = training.read_state(directory)
    assert (state["batch"], state["epoch_batches"]) == (4, 6)
    narrower, epoch = data(batch_size=8)
    resumed = model()
    training.fit(resumed, narrower, epochs=3, directory=directory,
                 epoch_variable=epoch, backup_every=2, verbose=0,
                 early_stopping_patience=None)
    # 6 + 4 steps before the interruption, then epochs 1 and 2 whole
    # (12 each); skipping would have left out 4 of epoch 1's.
    assert int(resumed.optimizer.iterations) == 10 + 2 * 12


def test_second_interruption_in_the_resumed_epoch_resumes_exactly(tmp_path):
    # Backup at batch 2 of epoch 1; the resumed run is interrupted again
    # two batches later: its backup must count the skipped batches
    # (batch 4, not 2), or the third run trains batches 2-3 twice.
    data, model = _epoch_ordered_run()
    full = model()
    _fit_ordered(data, full, str(tmp_path / "full"))

    directory = str(tmp_path / "cut")
    with pytest.raises(KeyboardInterrupt):
        _fit_ordered(data, model(), directory, [_InterruptAt(1, 1)])
    assert training.read_state(directory)["batch"] == 2
    with pytest.raises(KeyboardInterrupt):
        _fit_ordered(data, model(), directory, [_InterruptAt(1, 1)])
    state = training.read_state(directory)
    assert (state["completed_epochs"], state["batch"]) == (1, 4)
    resumed = model()
    history = _fit_ordered(data, resumed, directory)
    assert history.epoch == [1, 2]
    assert int(resumed.optimizer.iterations) == 18
    for got, want in zip(resumed.get_weights(), full.get_weights()):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert training.logged_history(directory).epoch == [0, 1, 2]


def test_resume_mid_epoch_without_epoch_variable_reruns_the_epoch(tmp_path):
    # Arrays (shuffled by Keras) have no reproducible order: the cut epoch
    # is run again from its first batch, from the mid-epoch backup (3
    # batches of 32 an epoch).
    source, decoder_input, target = reversal(96, 2, 4, seed=0)
    data = ((source, decoder_input), target)
    directory = str(tmp_path / "run")
    settings = dict(epochs=2, directory=directory, verbose=0, backup_every=2)
    with pytest.raises(KeyboardInterrupt):
        training.fit(_tiny_model(), data, callbacks=[_InterruptAt(1, 1)],
                     **settings)
    assert training.read_state(directory)["batch"] == 2
    resumed = _tiny_model()
    history = training.fit(resumed, data, **settings)
    assert history.epoch == [1]
    assert int(resumed.optimizer.iterations) == 3 + 2 + 3
