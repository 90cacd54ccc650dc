"""The on-disk state of a training directory: its layout, and reading it.

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

`read_state` reads the state back; `is_finished` and `needs_ending` say
what is left to train; `logged_history` and `trim_log` read and trim the
log. The backups themselves are written and loaded by `checkpoint`.
"""

import csv
import io
import os

import keras

from keras_bahdanau.jsonfile import read_json
from keras_bahdanau.jsonfile import write_text

BACKUP_DIRNAME = "backup"
WEIGHTS_SUFFIX = ".weights.h5"
# The weights file of backups written before the state named its file.
WEIGHTS_FILENAME = "latest" + WEIGHTS_SUFFIX
STATE_FILENAME = "state.json"
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


def trim_log(directory: str, completed_epochs: int) -> None:
    """Drops log rows of epochs from `completed_epochs` on (to be rerun).

    Args:
        directory: a training directory.
        completed_epochs: the epochs its backup counts as done; the rows
            of later epochs are dropped.
    """
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
