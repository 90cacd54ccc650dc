"""`fit`: one resumable training run, wired from the other modules.

It checks the settings, reads the training directory's state, ends or
resumes the run it holds, and trains with the CSV log, early stopping and
the backups as callbacks. What a resumed run does is described in the
docstring of `keras_bahdanau.training`.
"""

import numbers
import os

import keras
import numpy as np

from keras_bahdanau.data.datasets import SetEpoch
from keras_bahdanau.layers.validation import check_positive_int
from keras_bahdanau.training.checkpoint import ResumableCheckpoint
from keras_bahdanau.training.checkpoint import ResumableEarlyStopping
from keras_bahdanau.training.checkpoint import restore
from keras_bahdanau.training.mid_epoch import batches_to_skip
from keras_bahdanau.training.mid_epoch import fit_from_batch
from keras_bahdanau.training.state import LOG_FILENAME
from keras_bahdanau.training.state import is_finished
from keras_bahdanau.training.state import logged_history
from keras_bahdanau.training.state import needs_ending
from keras_bahdanau.training.state import read_state
from keras_bahdanau.training.state import trim_log


def check_fit_settings(
    epochs, early_stopping_patience, backup_every
) -> tuple:
    """Checks the settings `fit` uses; returns them as plain Python ints.

    NumPy integers are accepted and converted (the backup state is JSON).

    Args:
        epochs: an int >= 1.
        early_stopping_patience: `None` or an int >= 0 (0: off).
        backup_every: `None` or an int >= 0 (0: at epoch ends only).

    Returns:
        `(epochs, early_stopping_patience, backup_every)`, ints (or None).

    Raises:
        ValueError: a setting that is not an int (bools included) or is
            out of range.
    """
    epochs = check_positive_int("epochs", epochs, "epochs=10")
    others = []
    for name, value, example in (
        ("early_stopping_patience", early_stopping_patience, 3),
        ("backup_every", backup_every, 50),
    ):
        if value is not None and (
            isinstance(value, (bool, np.bool_))
            or not isinstance(value, numbers.Integral)
            or value < 0
        ):
            raise ValueError(
                f"`{name}` must be None or an int >= 0. Received: "
                f"{name}={value!r}. Use e.g. {name}={example}."
            )
        others.append(None if value is None else int(value))
    return (epochs, *others)


def fit(
    model: keras.Model,
    train_data,
    validation_data=None,
    epochs: int = 10,
    directory: "str | None" = None,
    callbacks: "list | None" = None,
    early_stopping_patience: "int | None" = 3,
    backup_every: "int | None" = 50,
    verbose="auto",
    on_epoch_saved=None,
    epoch_variable=None,
    on_finished=None,
) -> keras.callbacks.History:
    """Trains a compiled, built model with resumable checkpoints.

    Args:
        model: a compiled and built `keras.Model`.
        train_data: training `tf.data.Dataset` of `(inputs, targets)`
            batches, or an `(inputs, targets)` tuple of arrays.
        validation_data: validation data or `None`.
        epochs: total number of epochs, those of earlier runs included
            (an int; NumPy integers are stored as Python ints).
        directory: training directory for backups and `training_log.csv`;
            `None` trains without either.
        callbacks: extra Keras callbacks.
        early_stopping_patience: epochs without `val_loss` improvement
            before stopping (best weights restored); `None` or 0 disables
            it. Needs `validation_data`. Its counters and best weights
            are part of each backup, so a resumed run stops (and restores)
            as an uninterrupted one would.
        backup_every: batches between mid-epoch backups; `None` or 0:
            backups at epoch ends only.
        verbose: Keras `fit` verbosity (`"auto"`, 0, 1, 2).
        on_epoch_saved: `f(epoch)` called after every epoch's backup.
        on_finished: `f()` called once training has ended (the final
            weights, early stopping's best, are in `model`), before the
            backup that marks the run finished: what it writes (e.g. the
            saved translator) is in place whenever a run reads as finished.
        epoch_variable: the `tf.Variable` given to
            `make_dataset(..., epoch=...)` for `train_data`: set to the
            epoch index when each epoch begins, so the batch order of
            every epoch, resumed or not, is that of an uninterrupted run.
            With it (and `train_data` a `tf.data.Dataset` of known
            length), a run resumed from a mid-epoch backup of batch `b`
            goes on from batch `b` of the cut epoch, and ends as an
            uninterrupted run would (that epoch's log row averages its
            remaining batches only); without it, the cut epoch runs again
            from its first batch, from the backup's weights.

    Returns:
        The Keras `History`. When `directory` holds a finished run
        (`is_finished`), nothing is trained: the run's weights are loaded
        into `model` and the `History` is rebuilt from its
        `training_log.csv` (`logged_history`). A run stopped after its last
        epoch's backup (or after early stopping ended it) but before the
        end of training is ended first, as `model.fit` would have ended it:
        early stopping's best weights, then the finished backup.

    Raises:
        ValueError: if `epochs`, `early_stopping_patience` or
            `backup_every` is invalid, or the backup in `directory` belongs
            to another model.

    Example:

    >>> import numpy as np
    >>> import keras_bahdanau as kb
    >>> from keras_bahdanau import training
    >>> src, dec_in, tgt = kb.reversal_task(8, 2, 3)
    >>> model = kb.build_model(16, 16, preset="tiny")
    >>> model.compile()
    >>> _ = model((src, dec_in))
    >>> history = training.fit(model, ((src, dec_in), tgt), epochs=1,
    ...                        verbose=0)
    >>> len(history.history["loss"])
    1
    """
    epochs, early_stopping_patience, backup_every = check_fit_settings(
        epochs, early_stopping_patience, backup_every
    )
    callbacks = list(callbacks or [])
    if epoch_variable is not None:
        callbacks.insert(0, SetEpoch(epoch_variable))
    initial_epoch = 0
    skip = 0
    checkpoint = None
    early_stopping = None
    if validation_data is not None and early_stopping_patience:
        early_stopping = ResumableEarlyStopping(
            monitor="val_loss",
            patience=early_stopping_patience,
            restore_best_weights=True,
        )
    if directory is not None:
        os.makedirs(directory, exist_ok=True)
        state = read_state(directory)
        ending = needs_ending(state, epochs)
        if ending or is_finished(state, epochs):
            done = restore(model, directory)
            if ending:
                # Stopped after the last epoch's backup, before the end of
                # training: end it now, as model.fit would have.
                trim_log(directory, done)
                checkpoint = ResumableCheckpoint(
                    directory, epochs, early_stopping=early_stopping
                )
                checkpoint.set_model(model)
                if early_stopping is not None:
                    early_stopping.resume_from(
                        state.get("early_stopping"), checkpoint.backup_dir
                    )
                    early_stopping.set_model(model)
                    early_stopping.on_train_begin()
                    early_stopping.on_train_end()  # the best weights
                if on_finished is not None:
                    on_finished()
                checkpoint.save(done, 0, finished=True)
            return logged_history(directory, model)
        initial_epoch = restore(model, directory)
        trim_log(directory, initial_epoch)
        skip = batches_to_skip(state, train_data, epoch_variable)
        checkpoint = ResumableCheckpoint(
            directory,
            epochs,
            backup_every,
            on_epoch_saved,
            early_stopping,
            resumed_at=(initial_epoch, skip) if skip else None,
        )
        if early_stopping is not None and initial_epoch:
            early_stopping.resume_from(
                state.get("early_stopping"), checkpoint.backup_dir
            )
        # The log row first, then early stopping's update, then the backup
        # that marks the epoch done (with early stopping's state, and then
        # `on_epoch_saved`): a kill in between leaves a row that the resume
        # drops, never a done epoch without its row.
        callbacks = [
            keras.callbacks.CSVLogger(
                os.path.join(directory, LOG_FILENAME), append=True
            ),
            *([early_stopping] if early_stopping is not None else []),
            checkpoint,
        ] + callbacks
    elif early_stopping is not None:
        callbacks.append(early_stopping)
    targets = None
    if isinstance(train_data, tuple) and len(train_data) == 2:
        train_data, targets = train_data  # (inputs, targets) arrays
    if skip:
        # Batches 0..skip-1 of the cut epoch are in the backup's weights.
        history = fit_from_batch(
            model,
            train_data,
            skip,
            initial_epoch,
            epochs,
            callbacks,
            verbose,
            validation_data=validation_data,
            shuffle=False,
        )
    else:
        history = model.fit(
            train_data,
            targets,
            validation_data=validation_data,
            epochs=epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            verbose=verbose,
            # tf.data pipelines shuffle themselves; arrays are shuffled
            # here.
            shuffle=not hasattr(train_data, "element_spec"),
        )
    if checkpoint is not None:
        done = initial_epoch + len(history.history.get("loss", []))
        if on_finished is not None:
            on_finished()
        checkpoint.save(done, 0, finished=True)
    return history
