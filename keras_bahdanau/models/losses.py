"""Padding-masked loss and accuracy for teacher-forced sequence training."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_bahdanau")
class MaskedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Token-level cross-entropy from logits that ignores `pad_id` targets.

    The result is the sum of the per-token losses over real target tokens
    divided by their number, so padding neither adds loss nor dilutes it.
    A batch without any real target token gives 0.

    Args:
        pad_id: the target id to ignore.
        name: loss name.

    Example:

    >>> import numpy as np
    >>> import keras_bahdanau as kb
    >>> loss = kb.MaskedSparseCategoricalCrossentropy(pad_id=0)
    >>> y_true = np.array([[3, 0]])
    >>> y_pred = np.zeros((1, 2, 4), "float32")
    >>> round(float(loss(y_true, y_pred)), 4)  # log(4), padding ignored
    1.3863
    """

    def __init__(
        self,
        pad_id: int = 0,
        name: str = "masked_sparse_categorical_crossentropy",
        **kwargs,
    ):
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="sum", **kwargs)
        self.pad_id = pad_id

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        mask = ops.cast(ops.not_equal(y_true, self.pad_id), "float32")
        losses = keras.losses.sparse_categorical_crossentropy(
            y_true, ops.cast(y_pred, "float32"), from_logits=True
        )
        return losses * mask / ops.maximum(ops.sum(mask), 1.0)

    def get_config(self):
        config = super().get_config()
        config.pop("reduction", None)
        return {**config, "pad_id": self.pad_id}


@keras.saving.register_keras_serializable(package="keras_bahdanau")
class MaskedTokenAccuracy(keras.metrics.Metric):
    """Share of real (non-`pad_id`) target tokens predicted exactly.

    Args:
        pad_id: the target id to ignore.
        name: metric name.
    """

    def __init__(self, pad_id: int = 0, name: str = "accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pad_id = pad_id
        self.correct = self.add_variable(
            shape=(), initializer="zeros", name="correct"
        )
        self.total = self.add_variable(
            shape=(), initializer="zeros", name="total"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "int32")
        mask = ops.cast(ops.not_equal(y_true, self.pad_id), "float32")
        if sample_weight is not None:
            mask = mask * ops.cast(sample_weight, "float32")
        predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        hits = ops.cast(ops.equal(predicted, y_true), "float32") * mask
        self.correct.assign_add(ops.sum(hits))
        self.total.assign_add(ops.sum(mask))

    def result(self):
        return self.correct / ops.maximum(self.total, 1.0)

    def reset_state(self):
        self.correct.assign(0.0)
        self.total.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "pad_id": self.pad_id}
