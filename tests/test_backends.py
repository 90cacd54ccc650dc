"""The core layer and model tests, run again under the JAX and torch
backends in a subprocess (Keras picks its backend once per process).

CI tests TensorFlow and JAX, so the JAX run is part of the default suite
(about 7 minutes on 2 CPU cores: eager `ops.scan` and per-shape
compilation); the torch run skips when torch is not installed.
"""

import importlib.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE_TESTS = [
    "tests/test_attention.py",
    "tests/test_decoder.py",
    "tests/test_decoding.py",
    "tests/test_encoder.py",
    "tests/test_model.py",
    "tests/test_optimizers.py",
]


def run_under(backend):
    env = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         *CORE_TESTS, "-m", "not slow", "-k", "not tf_only",
         "-W", "ignore::DeprecationWarning"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    tail = (result.stdout + result.stderr)[-6000:]
    assert result.returncode == 0, f"{backend} run failed:\n{tail}"
    assert " passed" in result.stdout, tail


@pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                    reason="jax is not installed")
def test_core_tests_pass_under_jax():
    run_under("jax")


@pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                    reason="torch is not installed")
def test_core_tests_pass_under_torch():
    run_under("torch")
