"""How the layers initialise their weights.

`distinct` gives every weight that shares one initializer argument values
of its own. Keras fixes the seed of an unseeded random initializer when
the initializer is made, so one instance called for two weights of the
same shape returns the same values, and for two shapes with one side in
common, correlated ones (the first rows of the larger draw repeat the
smaller one, scaled). Before `distinct`, `BahdanauAttention` started with
`W_a == U_a` whenever the query and values sizes matched, `v_a` followed
the same draw, and the decoder's input (embedding-side) and context
kernels were the same values scaled.

`Float32Initializer` draws in float32 for half-precision variables.
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

import zlib

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
    >>> from keras_bahdanau.layers.initializers import Float32Initializer
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


def distinct(initializer, name: str):
    """A copy of `initializer` that draws values of its own for `name`.

    An unseeded random initializer is copied from its config, which gives
    the copy a fresh default seed (reproducible under
    `keras.utils.set_random_seed`). An integer seed `s` becomes a seed
    derived from `s` and `name`, so a seeded initializer still gives the
    same weights on every run but different ones to each weight. A
    `keras.random.SeedGenerator` seed advances on every draw already, and
    initializers without a seed (`zeros`, `Constant`...) give the same
    values to every weight by design: both are returned as they are.

    Args:
        initializer: a Keras initializer or its identifier.
        name: the weight's name, unique among the weights that share
            `initializer`.

    Returns:
        A Keras initializer.

    Example:

    >>> import keras
    >>> from keras_bahdanau.layers.initializers import distinct
    >>> init = keras.initializers.GlorotUniform()
    >>> a = distinct(init, "W_a")((4, 4))
    >>> b = distinct(init, "U_a")((4, 4))
    >>> bool(keras.ops.all(a == b))
    False
    """
    initializer = keras.initializers.get(initializer)
    config = initializer.get_config()
    seed = config.get("seed", False)
    if seed is False or isinstance(seed, dict):
        return initializer
    if seed is not None:
        config["seed"] = zlib.crc32(f"{seed}/{name}".encode()) % 2**31
    return initializer.__class__.from_config(config)
