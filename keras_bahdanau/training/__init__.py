"""Fit wiring: checkpoints, resume after interruption, CSV log, early stop.

A training directory holds the backups, the state that commits them and a
CSV log (the layout is described in `keras_bahdanau.training.state`).
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

Modules: `state` (the directory's layout; reading its state and log),
`checkpoint` (the callbacks that write backups, `restore` that loads one),
`mid_epoch` (going on from a batch of a cut epoch), `fitting` (`fit`).
"""

from keras_bahdanau.training.checkpoint import ResumableCheckpoint
from keras_bahdanau.training.checkpoint import ResumableEarlyStopping
from keras_bahdanau.training.checkpoint import restore
from keras_bahdanau.training.fitting import check_fit_settings
from keras_bahdanau.training.fitting import fit
from keras_bahdanau.training.state import is_finished
from keras_bahdanau.training.state import logged_history
from keras_bahdanau.training.state import read_state

__all__ = [
    "ResumableCheckpoint",
    "ResumableEarlyStopping",
    "check_fit_settings",
    "fit",
    "is_finished",
    "logged_history",
    "read_state",
    "restore",
]
