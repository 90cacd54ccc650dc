"""Initial values drawn in float32 for half-precision variables.

Keras' `orthogonal` initializer (the default recurrent initializer of
Keras' RNNs and of `AttentiveDecoder`) takes a QR decomposition, which
neither TensorFlow nor JAX offers in bfloat16, and JAX not in float16:
under the pure `bfloat16` (or, on JAX, `float16`) dtype policy, with
variables stored in half precision (e.g. for inference with half the
weight memory), building a Keras GRU fails with a backend error about QR.
`Float32Initializer` draws the values in float32 and casts them to the
variable dtype. The layers wrap their recurrent initializers with it only
for float16 and bfloat16 variables, so under the float32 and mixed
policies the initial values stay exactly what Keras' initializer gives.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_bahdanau")
class Float32Initializer(keras.initializers.Initializer):
    """Runs `initializer` in float32 and casts the result.

    Args:
        initializer: a Keras initializer or its identifier.

    Call arguments:
        shape: the variable shape.
        dtype: the variable dtype (default: `keras.config.floatx()`).

    Returns:
        The initial values, of `dtype`.

    Example:

    >>> import keras
    >>> init = Float32Initializer(keras.initializers.Orthogonal(seed=1))
    >>> values = init((4, 4), dtype="bfloat16")
    >>> keras.backend.standardize_dtype(values.dtype)
    'bfloat16'
    """

    def __init__(self, initializer):
        self.initializer = keras.initializers.get(initializer)

    def __call__(self, shape, dtype=None):
        values = self.initializer(shape, dtype="float32")
        return ops.cast(values, dtype or keras.config.floatx())

    def get_config(self) -> dict:
        return {
            "initializer": keras.initializers.serialize(self.initializer)
        }


def for_variable_dtype(initializer, variable_dtype: str):
    """`initializer`, wrapped in `Float32Initializer` for half precision.

    Args:
        initializer: a Keras initializer.
        variable_dtype: the dtype of the variable it initializes.

    Returns:
        The initializer to pass to `add_weight`.
    """
    if variable_dtype in ("float16", "bfloat16"):
        return Float32Initializer(initializer)
    return initializer
