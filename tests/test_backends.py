"""The core layer and model tests, run again under the JAX and torch
backends in a subprocess (Keras picks its backend once per process).

CI tests TensorFlow and JAX, so the JAX run is part of the default suite
(7 to 19 minutes on 2 CPU cores, by machine: eager `ops.scan` and
per-shape compilation); the torch run skips when torch is not installed.

Each test file runs in its own process, as its own test, so that
`pytest -n 2` shares them between its two workers. With all six in one process,
jaxlib 0.10's XLA CPU compiler crashed (SIGSEGV or SIGABRT inside
`backend_compile_and_load`) compiling the `fit` step of the last file in
4 of 5 runs on 2026-11-26, although that file passes alone, with
`test_model.py` and with `test_attention.py`: the crash depends on what
the process compiled before, not on that test alone.
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


def run_under(backend, path):
    env = {**os.environ, "KERAS_BACKEND": backend}
    # A guard against a hung process, not a speed check: one file takes
    # up to about 8 minutes beside another test process on 2 cores.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         path, "-m", "not slow", "-k", "not tf_only",
         "-W", "ignore::DeprecationWarning"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=2400,
    )
    tail = (result.stdout + result.stderr)[-4000:]
    assert result.returncode == 0 and " passed" in result.stdout, (
        f"{path} under {backend} (exit {result.returncode}):\n{tail}"
    )


@pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                    reason="jax is not installed")
@pytest.mark.parametrize("path", CORE_TESTS)
def test_core_tests_pass_under_jax(path):
    run_under("jax", path)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                    reason="torch is not installed")
@pytest.mark.parametrize("path", CORE_TESTS)
def test_core_tests_pass_under_torch(path):
    run_under("torch", path)
