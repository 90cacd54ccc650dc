"""Adam with a one-pass update on the TensorFlow backend.

Keras 3's `Adam.update_step` is written with `keras.ops`, so on TensorFlow
without XLA every variable takes about a dozen separate element-wise passes
per step (subtract, multiply, assign-add, square, sqrt, divide...). For the
benchmark model (11.6M weights) that is 19 ms of a 230 ms training step on a
2-core CPU; TensorFlow's fused `ResourceApplyAdam` kernel does the same
update in one pass, in 6.8 ms (`benchmarks/optimizer.py`).

This subclass runs that kernel where it computes Keras' update (TensorFlow
backend, `amsgrad=False`; equal up to rounding, see `Adam`) and defers to
`keras.optimizers.Adam` everywhere else: JAX and PyTorch (JAX's compiled
step fuses the update already), and AMSGrad.

It also fixes a Keras 3 deviation from Adam on TensorFlow (Keras 3.15):
embedding gradients arrive as `tf.IndexedSlices` with one slice per
occurrence of an id, and Keras' `update_step` squares the slices before
summing them (`square` acts on the slices), so the second moment of a
token that occurs k times in a batch gets the sum of k squared pieces
instead of the square of their sum (Keras 2.15's default Adam does the
same). Here the slices are summed first, as on JAX (dense gradients) and in
TensorFlow's and Keras 2's legacy optimizers.

Learning-rate schedules, gradient clipping, weight decay, EMA, gradient
accumulation and loss scaling are all done by the Keras base class around
`update_step`, so they behave as with Keras' Adam.
"""

import keras
from keras import ops

# Variable dtypes the TensorFlow kernel is registered for on CPU and GPU.
_FUSED_DTYPES = ("float16", "bfloat16", "float32", "float64")


@keras.saving.register_keras_serializable(package="keras_bahdanau")
class Adam(keras.optimizers.Adam):
    """`keras.optimizers.Adam`, with TensorFlow's fused kernel where it applies.

    Same arguments, same saved state and the same update as
    `keras.optimizers.Adam` with dense gradients (m <- m + (g - m)(1 - beta_1),
    v <- v + (g^2 - v)(1 - beta_2),
    w <- w - lr sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + eps)),
    up to rounding: the kernel forms `1 - beta` in the variable's dtype,
    Keras from the Python float (float32 weights differ by about 5e-7
    after a step, the moments by about 1e-5 relative; float16 variables
    by up to 3e-3 at learning rate 0.05).
    On the TensorFlow backend with `amsgrad=False` the update of each
    variable runs as one `ResourceApplyAdam` kernel instead of a dozen
    element-wise ops; elsewhere it is Keras' own `update_step`.
    `AttentionSeq2Seq.compile()` uses it by default.

    Args:
        fused: use the fused kernel where it applies (default True);
            `False` gives Keras' `update_step` everywhere (sparse
            gradients are still summed per id first).
        **kwargs: the arguments of `keras.optimizers.Adam`
            (`learning_rate`, `beta_1`, `beta_2`, `epsilon`, `amsgrad`,
            `clipnorm`, `weight_decay`, ...).

    Example:

    >>> import keras_bahdanau as kb
    >>> model = kb.build_model(50, 50, preset="tiny")
    >>> model.compile(optimizer=kb.optimizers.Adam(learning_rate=3e-3))
    """

    def __init__(self, *args, fused: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not isinstance(fused, bool):
            raise TypeError(
                f"`fused` must be True or False. Received: fused={fused!r}"
            )
        self.fused = fused

    def fused_applies(self, variable) -> bool:
        """Whether `variable` is updated by the fused TensorFlow kernel."""
        return (
            self.fused
            and not self.amsgrad
            and keras.config.backend() == "tensorflow"
            and keras.backend.standardize_dtype(variable.dtype)
            in _FUSED_DTYPES
        )

    def update_step(self, gradient, variable, learning_rate):
        """Updates `variable` from `gradient` (see the class docstring)."""
        if keras.config.backend() == "tensorflow":
            import tensorflow as tf

            # Sum the slices of a sparse (embedding) gradient first. Keras'
            # own update squares each slice before their sum when an id
            # repeats in the batch, which is not Adam.
            gradient = tf.convert_to_tensor(gradient)
        if not self.fused_applies(variable):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        step = ops.cast(self.iterations + 1, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable),
            m=_handle(self._momentums[index]),
            v=_handle(self._velocities[index]),
            beta1_power=ops.power(ops.cast(self.beta_1, dtype), step),
            beta2_power=ops.power(ops.cast(self.beta_2, dtype), step),
            lr=ops.cast(learning_rate, dtype),
            beta1=ops.cast(self.beta_1, dtype),
            beta2=ops.cast(self.beta_2, dtype),
            epsilon=ops.cast(self.epsilon, dtype),
            grad=ops.cast(gradient, dtype),
        )

    def get_config(self):
        return {**super().get_config(), "fused": self.fused}


def _handle(variable):
    """The resource handle of a Keras or TensorFlow variable."""
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return variable.handle
