"""Shared fixtures: a fixed seed for every test, backend helpers."""

import keras
import pytest


def full_float32_matmuls():
    """Asks the active backend for true float32 matrix products.

    The tests compare float32 results with NumPy references at 1e-5. On
    NVIDIA GPUs from Ampere on, JAX and TensorFlow run float32 products in
    TensorFloat-32 by default (10-bit mantissa inputs): on an H200 that put
    the layers 2e-5 to 2e-3 away from the references and failed 45 core
    tests under JAX, none of them from a fault in the package. CPUs always
    compute in float32, so this changes nothing there.
    """
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")
    elif backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)
    elif backend == "torch":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


full_float32_matmuls()


@pytest.fixture(autouse=True)
def fixed_seed():
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")
