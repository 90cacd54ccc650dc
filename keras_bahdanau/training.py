"""Fit wiring: checkpoints, resume after interruption, CSV log, early stop.

A training directory holds:

- `backup/backup_<epochs>_<batch>_<random>.weights.h5`: model and optimizer
  variables, written every `backup_every` batches (not after an epoch's
  last batch: the epoch's own backup follows) and at the end of every
  epoch, each time to a new file;
- `backup/state.json`: `{"weights": file name, "epochs": N,
  "completed_epochs": k, "batch": b, "epoch_batches": n or null,
  "finished": bool, "stopped": bool,
  "random_states": [...]}` (the dropout layers' random state, which
  `save_weights` leaves out). Written atomically after the weights (a
  temporary file renamed), it commits the pair: a kill at any point keeps
  the previous weights with their state;
- `training_log.csv`: one row per finished epoch (Keras `CSVLogger`,
  appended on resume, so the rows stay continuous; written before the
  backup of the same epoch, and rows of epochs the backup does not count
  as done are dropped on resume).

`fit` reads the state before training: when a backup exists its variables
are loaded and training goes on from epoch `completed_epochs`, so an
interrupted run that is started again ends with the requested number of
epochs. Where an epoch cut short goes on depends on the training data:

- data from `make_dataset(..., shuffle=True, epoch=v)` (or any `tf.data`
  pipeline of known length whose batch order is a function of `v`) with
  `fit(..., epoch_variable=v)`, as in `Translator.fit`: the batch order of
  every epoch is that of an uninterrupted run, and a run resumed from a
  mid-epoch backup of batch `b` leaves out the first `b` batches of the cut
  epoch (they are in the backup's weights); later epochs are whole. The
  resumed run, stopped at an epoch end or mid-epoch, once or more, ends with
  the optimizer steps and the weights of an uninterrupted one, early
  stopping and dropout included (its patience count, best weights and the
  dropout layers' random state are in the backup too). The rest of the cut
  epoch and the later epochs are two `model.fit` calls with one set of
  callbacks (begun and ended once); in the cut epoch Keras numbers the
  batches, and the progress bar counts them, from the first one left
  (`params["steps"]` is what is left), and its `training_log.csv` row and
  `History` entry average only those batches;
- other data (arrays, which Keras shuffles, or a `tf.data` pipeline without
  `epoch_variable`): the cut epoch runs again from its first batch,
  starting from the weights of the last mid-epoch backup, so its first
  batches are trained twice; a run resumed at an epoch end goes on with the
  same weights and optimizer state, but a reshuffling pipeline starts its
  sequence of orders again in a new process.

On PyTorch, Keras' dropout draws from torch's global generator, which is
not saved, so there dropout makes a resumed run differ.

A finished run is not trained again: its weights are loaded into the model
and its `History` is read back from `training_log.csv`.
"""

import csv
import io
import numbers
import os
import uuid

import keras
import numpy as np

from keras_bahdanau.jsonfile import read_json
from keras_bahdanau.jsonfile import write_json
from keras_bahdanau.jsonfile import write_text
from keras_bahdanau.layers.validation import check_positive_int

BACKUP_DIRNAME = "backup"
WEIGHTS_SUFFIX = ".weights.h5"
# The weights file of backups written before the state named its file.
WEIGHTS_FILENAME = "latest" + WEIGHTS_SUFFIX
STATE_FILENAME = "state.json"
_BEST_WEIGHTS_PREFIX = "early_stopping_best_"
LOG_FILENAME = "training_log.csv"


def read_state(directory: str) -> dict:
    """The training state of `directory` (empty dict when none).

    Args:
        directory: a training directory.

    Returns:
        The dict stored in `backup/state.json`, or `{}`.
    """
    path = os.path.join(directory, BACKUP_DIRNAME, STATE_FILENAME)
    if not os.path.isfile(path):
        return {}
    return read_json(path)


def is_finished(state: dict, epochs: int) -> bool:
    """Whether `state` describes a run with nothing left to train.

    Args:
        state: a dict from `read_state`.
        epochs: the requested total number of epochs.

    Returns:
        `True` when the run finished, or early stopping stopped it, with
        `epochs` requested, or it has completed at least `epochs` epochs,
        and it is not a run that `fit` must still end (`needs_ending`).
    """
    if not state or needs_ending(state, epochs):
        return False
    if (state.get("finished") or state.get("stopped")) and state.get(
        "epochs"
    ) == epochs:
        return True
    return int(state.get("completed_epochs", 0)) >= epochs


def needs_ending(state: dict, epochs: int) -> bool:
    """Whether `state` is a run whose training is over but not ended.

    Stopped after the backup of its last epoch, or of the epoch where
    early stopping ended it, and before `model.fit` returned (best weights
    restored, finished backup written), for the `epochs` it was started
    with.

    Args:
        state: a dict from `read_state`.
        epochs: the requested total number of epochs.

    Returns:
        `True` when `fit(..., epochs=epochs)` must end the run.
    """
    return bool(
        state
        and not state.get("finished")
        and state.get("epochs") == epochs
        and state.get("batch", 0) == 0
        and (
            state.get("stopped")
            or int(state.get("completed_epochs", 0)) >= epochs
        )
    )


def logged_history(
    directory: str, model: "keras.Model | None" = None
) -> keras.callbacks.History:
    """A Keras `History` rebuilt from `directory/training_log.csv`.

    Args:
        directory: a training directory.
        model: the model to attach to the `History`, or `None`.

    Returns:
        A `keras.callbacks.History` whose `epoch` lists the logged epochs
        and whose `history` maps each logged metric to its values (empty
        when there is no log).
    """
    history = keras.callbacks.History()
    history.epoch = []
    path = os.path.join(directory, LOG_FILENAME)
    if os.path.isfile(path):
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                history.epoch.append(int(row.pop("epoch")))
                for key, value in row.items():
                    history.history.setdefault(key, []).append(
                        _number(value)
                    )
    # Metrics never logged (`NA` in every row, e.g. `val_loss` of a run
    # without validation data) are left out, as in the live `History`.
    history.history = {
        key: values
        for key, values in history.history.items()
        if any(value is not None for value in values)
    }
    if model is not None:
        history.set_model(model)
    return history


class _SetEpoch(keras.callbacks.Callback):
    """Writes the epoch index into the dataset's order variable."""

    def __init__(self, variable):
        super().__init__()
        self.variable = variable

    def on_epoch_begin(self, epoch, logs=None):
        self.variable.assign(epoch)


def _trim_log(directory: str, completed_epochs: int) -> None:
    """Drops log rows of epochs from `completed_epochs` on (to be rerun)."""
    path = os.path.join(directory, LOG_FILENAME)
    if not os.path.isfile(path):
        return
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    kept = rows[:1] + [
        row for row in rows[1:] if int(row[0]) < completed_epochs
    ]
    if len(kept) == len(rows):
        return
    text = io.StringIO(newline="")
    csv.writer(text).writerows(kept)
    write_text(path, text.getvalue())


def _number(text: "str | None") -> "float | None":
    """A logged value; `None` for the `NA` that `CSVLogger` writes."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


class ResumableCheckpoint(keras.callbacks.Callback):
    """Saves model + optimizer variables and the epoch/batch reached.

    Args:
        directory: training directory (the backup goes to `backup/`).
        epochs: the requested number of epochs (stored in the state).
        backup_every: batches between mid-epoch backups; `None` saves at
            epoch ends only.
        on_epoch_saved: optional `f(epoch)` called after each epoch's backup
            (the translator saves itself there).
        early_stopping: optional `ResumableEarlyStopping` whose state goes
            into every backup.
        resumed_at: `(epoch, batches)` when training resumes at batch
            `batches` of `epoch` (its first `batches` batches left out):
            the batch numbers Keras gives in that epoch start at 0, so
            `batches` is added to the batch recorded in its backups.
    """

    def __init__(
        self,
        directory: str,
        epochs: int,
        backup_every: "int | None" = 50,
        on_epoch_saved=None,
        early_stopping: "ResumableEarlyStopping | None" = None,
        resumed_at: "tuple[int, int] | None" = None,
    ):
        super().__init__()
        self.directory = directory
        self.epochs = epochs
        self.backup_every = backup_every
        self.on_epoch_saved = on_epoch_saved
        self.early_stopping = early_stopping
        self.resumed_at = resumed_at
        self._completed = 0
        self._since_save = 0
        self._offset = 0

    @property
    def backup_dir(self) -> str:
        return os.path.join(self.directory, BACKUP_DIRNAME)

    def save(
        self,
        completed_epochs: int,
        batch: int,
        finished: bool = False,
        stopped: bool = False,
    ):
        """Writes the variables, then the state that points at them.

        `stopped`: early stopping ended the run at this epoch (what is left
        is the end of training: best weights, the finished backup).
        """
        os.makedirs(self.backup_dir, exist_ok=True)
        # A new file per backup, named in the state: the state's atomic
        # write commits weights and state together (a kill before it keeps
        # the previous pair).
        name = (
            f"backup_{completed_epochs}_{batch}_{uuid.uuid4().hex[:12]}"
            + WEIGHTS_SUFFIX
        )
        path = os.path.join(self.backup_dir, name)
        tmp = os.path.join(self.backup_dir, "tmp." + name)
        self.model.save_weights(tmp, overwrite=True)
        os.replace(tmp, path)
        state = {
            "weights": name,
            "epochs": self.epochs,
            "completed_epochs": completed_epochs,
            "batch": batch,
            # Batches of a whole epoch, when known: a resume skips `batch`
            # batches only of data batched the same way.
            "epoch_batches": self._epoch_batches(),
            "finished": finished,
            "stopped": stopped,
            "random_states": [
                np.asarray(keras.ops.convert_to_numpy(v)).tolist()
                for v in _random_states(self.model)
            ],
        }
        if self.early_stopping is not None:
            state["early_stopping"] = self.early_stopping.save(
                self.backup_dir
            )
        write_json(os.path.join(self.backup_dir, STATE_FILENAME), state)
        _remove_stale(
            self.backup_dir, lambda n: n.endswith(WEIGHTS_SUFFIX), name
        )
        if self.early_stopping is not None:
            self.early_stopping.remove_stale(self.backup_dir, state)

    def _epoch_batches(self) -> "int | None":
        steps = (self.params or {}).get("steps")
        return None if steps is None else self._offset + int(steps)

    def on_epoch_begin(self, epoch, logs=None):
        self._completed = epoch
        self._since_save = 0
        self._offset = 0
        if self.resumed_at is not None and self.resumed_at[0] == epoch:
            self._offset = self.resumed_at[1]

    def on_train_batch_end(self, batch, logs=None):
        if not self.backup_every:
            return
        steps = (self.params or {}).get("steps")
        if steps is not None and batch + 1 >= steps:
            # The epoch's last batch: its own backup follows. A mid-epoch
            # backup of a whole epoch would leave no batch to resume with.
            return
        self._since_save += 1
        if self._since_save >= self.backup_every:
            self._since_save = 0
            self.save(self._completed, self._offset + batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        self.save(epoch + 1, 0, stopped=bool(self.model.stop_training))
        if self.on_epoch_saved is not None:
            self.on_epoch_saved(epoch)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """`keras.callbacks.EarlyStopping` whose state survives a resume.

    Its counters and best weights go into every backup of
    `ResumableCheckpoint` (`save`); `fit` hands them back (`resume_from`)
    before a resumed run starts, so it stops, and restores the best
    weights, as an uninterrupted run would.

    Args:
        **kwargs: `keras.callbacks.EarlyStopping` arguments.

    Example:

    >>> import tempfile
    >>> from keras_bahdanau.training import ResumableEarlyStopping
    >>> stopping = ResumableEarlyStopping(monitor="val_loss", patience=2)
    >>> stopping.on_train_begin()
    >>> backup = tempfile.mkdtemp()
    >>> state = stopping.save(backup)  # no epoch yet: no best weights
    >>> state["wait"], state["best_weights"]
    (0, None)
    >>> stopping.resume_from(state, backup)
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._saved = None

    def resume_from(self, saved: "dict | None", backup_dir: str) -> None:
        """Takes the state `save` wrote; applied when training begins."""
        self._saved = None
        if saved:
            self._saved = dict(saved)
            name = saved.get("best_weights")
            if name:
                with np.load(os.path.join(backup_dir, name)) as arrays:
                    self._saved["best_weights"] = [
                        arrays[f"arr_{i}"] for i in range(len(arrays.files))
                    ]

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self._saved:
            self.wait = self._saved["wait"]
            self.best = self._saved["best"]
            self.best_epoch = self._saved["best_epoch"]
            self.best_weights = self._saved.get("best_weights")

    def save(self, backup_dir: str) -> dict:
        """Writes the best weights (once per best epoch); returns the state.

        Args:
            backup_dir: the backup directory.

        Returns:
            JSON-able `{"wait", "best", "best_epoch", "best_weights"}`,
            the last one the weights' file name in `backup_dir` (or None).
        """
        name = None
        if self.best_weights is not None:
            name = f"{_BEST_WEIGHTS_PREFIX}{self.best_epoch}.npz"
            path = os.path.join(backup_dir, name)
            if not os.path.isfile(path):
                tmp = path + ".tmp.npz"
                np.savez(tmp, *self.best_weights)
                os.replace(tmp, path)
        best = None if self.best is None else float(self.best)
        return {
            "wait": int(self.wait),
            "best": best,
            "best_epoch": int(self.best_epoch),
            "best_weights": name,
        }

    @staticmethod
    def remove_stale(backup_dir: str, state: dict) -> None:
        """Deletes best-weight files the committed `state` no longer uses."""
        keep = (state.get("early_stopping") or {}).get("best_weights")
        _remove_stale(
            backup_dir, lambda n: n.startswith(_BEST_WEIGHTS_PREFIX), keep
        )


def _remove_stale(backup_dir: str, of_kind, keep: "str | None") -> None:
    """Deletes the files whose name `of_kind(name)` accepts, other than the
    committed `keep`: earlier backups, and leftovers of saves killed before
    their state was written."""
    for name in os.listdir(backup_dir):
        if of_kind(name) and name != keep:
            os.remove(os.path.join(backup_dir, name))


def _random_states(model: keras.Model) -> list:
    """The state variables of the model's random layers (dropout), in
    model order. `save_weights` leaves them out, so the backup state holds
    them: a resumed run then draws the dropout masks an uninterrupted one
    would."""
    return [
        v for v in model.variables
        if v.path.endswith("seed_generator_state")
    ]


def restore(model: keras.Model, directory: str) -> int:
    """Loads the backup of `directory` into `model` when there is one.

    Args:
        model: a built, compiled model.
        directory: training directory.

    Returns:
        The number of completed epochs (0 without a backup).

    Raises:
        ValueError: the backup holds the variables of another model.
    """
    state = read_state(directory)
    # Backups before 2026-11-26 wrote one file name, not named in the state.
    name = state.get("weights", WEIGHTS_FILENAME)
    path = os.path.join(directory, BACKUP_DIRNAME, name)
    if not state or not os.path.isfile(path):
        return 0
    if not model.built:
        raise ValueError(
            "`model` must be built before its backup is loaded. Received: "
            "an unbuilt model. Call it once on a batch (or `model.build`) "
            "first."
        )
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(path)
    except ValueError as error:
        raise ValueError(
            "`directory` must hold a run of the same model to resume it. "
            f"Received: directory={directory!r}, whose backup does not fit "
            f"this model ({' '.join(str(error).split())[:200]}). Pass a new "
            "directory, or build the model with the run's settings."
        ) from None
    saved = state.get("random_states")
    variables = _random_states(model)
    if saved is not None and len(saved) == len(variables):
        for variable, value in zip(variables, saved):
            variable.assign(np.asarray(value, variable.dtype))
    return int(state.get("completed_epochs", 0))


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


def _batches_to_skip(state: dict, train_data, epoch_variable) -> int:
    """The batches of the cut epoch a resumed run leaves out (0: none).

    Only data whose batch order is a function of the epoch index
    (`epoch_variable` given, a `tf.data.Dataset` of known length) can go
    on from the batch a mid-epoch backup reached; other data run the cut
    epoch again from its first batch. A backup that reached the epoch's
    last batch (none is written there now) runs it again too, as does data
    with another number of batches per epoch than the interrupted run's
    (another batch size: its first batches are other pairs).
    """
    batch = int(state.get("batch", 0) or 0)
    if (
        not batch
        or epoch_variable is None
        or not hasattr(train_data, "element_spec")
    ):
        return 0
    steps = int(train_data.cardinality())
    saved = state.get("epoch_batches")
    if saved is not None and saved != steps:
        # Batched otherwise than the interrupted run (another batch size
        # or data): its first `batch` batches are not these.
        return 0
    return batch if batch < steps else 0


class _OneTraining(keras.callbacks.CallbackList):
    """The callbacks of one training run over two `model.fit` calls.

    `hold_begin`/`hold_end` keep `on_train_begin`/`on_train_end` from the
    callbacks (the logs of a held end are kept in `held_logs`), so they
    see one run: begun once, ended once. With `keep_variables`, the
    trainable variables at each epoch end are kept in `kept`.
    """

    hold_begin = False
    hold_end = False
    held_logs = None
    keep_variables = False
    kept = None

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if self.keep_variables:
            self.kept = [
                keras.ops.convert_to_numpy(v)
                for v in self.model.trainable_variables
            ]

    def on_train_begin(self, logs=None):
        if not self.hold_begin:
            super().on_train_begin(logs)

    def on_train_end(self, logs=None):
        if self.hold_end:
            self.held_logs = logs
            return
        super().on_train_end(logs)


def _fit_from_batch(
    model, train_data, skip, epoch, epochs, callbacks, verbose, **kwargs
):
    """`model.fit` from batch `skip` of `epoch` on.

    Keras reads the number of batches an epoch has once per `fit` (and,
    for data of unknown length, learns it from the first epoch, so a
    shortened first epoch would cut the later ones): the rest of `epoch`
    (`train_data.skip(skip)`, whose length is known) is one `fit`, the
    later epochs another, with one set of callbacks.
    """
    steps = int(train_data.cardinality())
    callback_list = _OneTraining(
        callbacks,
        add_history=True,
        add_progbar=verbose != 0,
        model=model,
        verbose=verbose,
        epochs=epochs,
        steps=steps - skip,
    )
    callback_list.hold_end = True
    # Optimizers with a moving average of the variables put the average
    # into the model when `fit` ends; an uninterrupted run goes on from the
    # variables themselves, kept at the epoch's end.
    callback_list.keep_variables = bool(
        getattr(model.optimizer, "use_ema", False)
    )
    history = model.fit(
        train_data.skip(skip),
        epochs=epoch + 1,
        initial_epoch=epoch,
        callbacks=callback_list,
        verbose=verbose,
        **kwargs,
    )
    callback_list.hold_end = False
    if model.stop_training or epoch + 1 >= epochs:
        callback_list.on_train_end(callback_list.held_logs)
        return history
    if callback_list.kept is not None:
        for variable, value in zip(
            model.trainable_variables, callback_list.kept
        ):
            variable.assign(value)
        callback_list.keep_variables, callback_list.kept = False, None
    callback_list.hold_begin = True
    callback_list.set_params(
        {"verbose": verbose, "epochs": epochs, "steps": steps}
    )
    return model.fit(
        train_data,
        epochs=epochs,
        initial_epoch=epoch + 1,
        callbacks=callback_list,
        verbose=verbose,
        **kwargs,
    )


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
        callbacks.insert(0, _SetEpoch(epoch_variable))
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
                _trim_log(directory, done)
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
        _trim_log(directory, initial_epoch)
        skip = _batches_to_skip(state, train_data, epoch_variable)
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
        history = _fit_from_batch(
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
