"""Resuming in the middle of an epoch: the batches to leave out, and the
rest of the cut epoch and the later epochs as one training run."""

import keras


def batches_to_skip(state: dict, train_data, epoch_variable) -> int:
    """The batches of the cut epoch a resumed run leaves out (0: none).

    Only data whose batch order is a function of the epoch index
    (`epoch_variable` given, a `tf.data.Dataset` of known length) can go
    on from the batch a mid-epoch backup reached; other data run the cut
    epoch again from its first batch. A backup that reached the epoch's
    last batch (none is written there now) runs it again too, as does data
    with another number of batches per epoch than the interrupted run's
    (another batch size: its first batches are other pairs).

    Args:
        state: a dict from `read_state`.
        train_data: the training data of the resumed run.
        epoch_variable: the dataset's epoch variable, or `None`.

    Returns:
        The number of the cut epoch's first batches to leave out.
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


def fit_from_batch(
    model, train_data, skip, epoch, epochs, callbacks, verbose, **kwargs
):
    """`model.fit` from batch `skip` of `epoch` on.

    Keras reads the number of batches an epoch has once per `fit` (and,
    for data of unknown length, learns it from the first epoch, so a
    shortened first epoch would cut the later ones): the rest of `epoch`
    (`train_data.skip(skip)`, whose length is known) is one `fit`, the
    later epochs another, with one set of callbacks.

    Args:
        model: the compiled, built model.
        train_data: a `tf.data.Dataset` of known length.
        skip: the batches of `epoch` to leave out.
        epoch: the cut epoch.
        epochs: the total number of epochs.
        callbacks: the Keras callbacks of the run.
        verbose: Keras `fit` verbosity.
        **kwargs: further `model.fit` arguments.

    Returns:
        The `History` of the last `model.fit` call.
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
