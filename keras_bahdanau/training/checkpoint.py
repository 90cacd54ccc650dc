"""Backups of a training run: the callbacks that write them, and `restore`.

`ResumableCheckpoint` writes the model and optimizer variables, then the
state that commits them (the layout is described in `state`);
`ResumableEarlyStopping` adds early stopping's counters and best weights
to each backup; `restore` loads a backup into a model.
"""

import os
import uuid

import keras
import numpy as np

from keras_bahdanau.jsonfile import write_json
from keras_bahdanau.training.state import BACKUP_DIRNAME
from keras_bahdanau.training.state import STATE_FILENAME
from keras_bahdanau.training.state import WEIGHTS_FILENAME
from keras_bahdanau.training.state import WEIGHTS_SUFFIX
from keras_bahdanau.training.state import read_state

_BEST_WEIGHTS_PREFIX = "early_stopping_best_"


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
