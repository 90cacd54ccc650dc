"""Compiles a decoding function for the active Keras backend.

The decoding loops themselves use `keras.ops` only. Running such a loop
eagerly would dispatch every op from Python, so the model wraps the whole
search once per configuration: `tf.function` on TensorFlow (with the
model's `jit_compile` setting), `jax.jit` with the model variables passed in
explicitly through `keras.StatelessScope` on JAX (so updated weights are
seen without retracing), and plain eager execution on PyTorch. This module
is the only place in the package that knows which backend is running.
"""

from typing import Callable

import keras


def compile_function(model: keras.Model, function: Callable) -> Callable:
    """Returns `function(*tensors) -> dict`, compiled for the backend.

    Args:
        model: the model whose variables `function` reads.
        function: a `keras.ops` function of tensors (or `None`s).

    Returns:
        A callable with the same arguments and results.
    """
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        jit = getattr(model, "jit_compile", False) is True
        return tf.function(
            function, jit_compile=jit, reduce_retracing=True, autograph=False
        )
    if backend == "jax":
        import jax

        def stateless(values, *args):
            mapping = list(zip(model.variables, values))
            with keras.StatelessScope(state_mapping=mapping):
                return function(*args)

        compiled = jax.jit(stateless)

        def run(*args):
            values = [variable.value for variable in model.variables]
            return compiled(values, *args)

        return run
    return function
