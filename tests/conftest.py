"""Shared fixtures: a fixed seed for every test, backend helpers."""

import keras
import pytest


@pytest.fixture(autouse=True)
def fixed_seed():
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")
