"""Shared checks on public Keras APIs; the only test module that branches
on the backend."""

import contextlib
import os
import warnings

import keras
import numpy as np
import pytest

# The hand-written training gradients use `keras.ops.custom_gradient`,
# which Keras' PyTorch backend does not implement; there the layers train
# with automatic differentiation (`hand_written_gradient_supported`).
needs_custom_gradient = pytest.mark.skipif(
    keras.config.backend() == "torch",
    reason="hand-written gradients need keras.ops.custom_gradient (not on "
    "PyTorch; the layers use automatic differentiation there)",
)


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def backend():
    return keras.config.backend()


# ------------------------------------------------------------ config, serde
def assert_config_round_trip(layer):
    """`cls.from_config(get_config())` rebuilds a layer with equal config."""
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    return clone


def assert_serialization_round_trip(obj):
    """serialize_keras_object -> deserialize gives an equal config."""
    serialized = keras.saving.serialize_keras_object(obj)
    clone = keras.saving.deserialize_keras_object(serialized)
    assert type(clone) is type(obj)
    assert clone.get_config() == obj.get_config()
    return clone


def save_and_reload(model, tmp_path, name="model.keras"):
    """Saves to `.keras` and loads with the default (safe) settings.

    Fails on any warning raised while loading (missing variables, compile
    state that could not be restored...).
    """
    path = os.path.join(str(tmp_path), name)
    model.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reloaded = keras.saving.load_model(path)
    return reloaded


def assert_same_outputs(a, b, atol=0.0):
    a_flat = keras.tree.flatten(a)
    b_flat = keras.tree.flatten(b)
    assert len(a_flat) == len(b_flat)
    for x, y in zip(a_flat, b_flat):
        np.testing.assert_allclose(to_numpy(x), to_numpy(y), atol=atol,
                                   rtol=0)


def assert_symbolic_matches_eager(layer_fn, symbolic_inputs, eager_inputs):
    """A functional model's output shapes equal the eager output shapes.

    `layer_fn(*inputs)` must apply a fresh or shared layer. The symbolic
    shapes may have None where the eager ones are concrete.
    """
    symbolic = keras.tree.flatten(layer_fn(*symbolic_inputs))
    eager = keras.tree.flatten(layer_fn(*eager_inputs))
    assert len(symbolic) == len(eager)
    for s, e in zip(symbolic, eager):
        assert len(s.shape) == len(e.shape)
        for ds, de in zip(s.shape, e.shape):
            assert ds is None or ds == de, (s.shape, e.shape)
    return symbolic, eager


# ---------------------------------------------------------- initial values
def assert_initial_weights_independent(layer):
    """No two random weights of `layer` start from the same draw.

    One Keras initializer instance called twice repeats its values (a
    larger shape repeats the smaller draw in its first elements, scaled),
    so the first elements of every pair are compared: a shared draw gives
    a correlation of 1, independent draws of 64 or more values stay far
    below 0.5 (standard deviation about 1/8). Constant weights (zero
    biases) are left out; every other weight needs 64 or more values.
    """
    weights = [(w.path, to_numpy(w).ravel()) for w in layer.weights]
    weights = [(p, v) for p, v in weights if np.std(v) > 0]
    assert len(weights) >= 2, [p for p, _ in weights]
    for i, (path_a, a) in enumerate(weights):
        assert a.size >= 64, (path_a, a.size)
        for path_b, b in weights[i + 1:]:
            n = min(a.size, b.size)
            corr = np.corrcoef(a[:n], b[:n])[0, 1]
            assert abs(corr) < 0.5, (path_a, path_b, corr)


# ----------------------------------------------------------------- dtypes
@contextlib.contextmanager
def dtype_policy(name):
    """Sets the global dtype policy and restores the old one after."""
    old = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(old)


def dtype_name(x):
    return keras.backend.standardize_dtype(x.dtype)


def assert_finite(*tensors):
    for t in keras.tree.flatten(tensors):
        value = to_numpy(keras.ops.cast(t, "float32"))
        assert np.all(np.isfinite(value)), value


# --------------------------------------------------------------- gradients
def gradient_dtype():
    """The dtype of finite-difference gradient checks on this backend.

    float64 on TensorFlow. Keras 3 promotes float64 with a Python scalar to
    float32 on the other backends (`keras.ops.tanh` of a float64 tensor is
    float32 there), so a float64 layer cannot stay in float64; the check
    then runs in float32 with a larger step and a wider tolerance.
    """
    return "float64" if backend() == "tensorflow" else "float32"


def gradient(function, x):
    """d function(x) / dx for a scalar `function` of one float tensor.

    Args:
        function: tensor -> scalar tensor, in `keras.ops`.
        x: a NumPy array.

    Returns:
        The gradient as a NumPy array of `x`'s shape.
    """
    name = backend()
    if name == "tensorflow":
        import tensorflow as tf

        variable = tf.Variable(x)
        with tf.GradientTape() as tape:
            value = function(variable)
        return tape.gradient(value, variable).numpy()
    if name == "jax":
        import jax

        return np.asarray(jax.grad(function)(jax.numpy.asarray(x)))
    if name == "torch":
        import torch

        tensor = torch.tensor(x, requires_grad=True)
        function(tensor).backward()
        return tensor.grad.detach().cpu().numpy()
    raise NotImplementedError(name)


def flat_weights_function(layer, forward, seed=0):
    """A scalar function of the flattened trainable weights of `layer`.

    Args:
        layer: a built layer.
        forward: `forward(layer_call) -> output tensor`, where
            `layer_call(*args, **kwargs)` runs the layer statelessly.
        seed: seed of the fixed random projection of the output.

    Returns:
        `(function, theta)`: `function(theta) -> scalar` and the current
        flattened weights (float64 NumPy).
    """
    variables = layer.trainable_variables
    shapes = [tuple(v.shape) for v in variables]
    sizes = [int(np.prod(s)) for s in shapes]
    theta = np.concatenate([to_numpy(v).reshape(-1) for v in variables])
    non_trainable = [v.value for v in layer.non_trainable_variables]
    projection = {}

    def function(flat):
        values, start = [], 0
        for shape, size in zip(shapes, sizes):
            chunk = flat[start : start + size]
            values.append(keras.ops.reshape(chunk, shape))
            start += size

        def layer_call(*args, **kwargs):
            out, _ = layer.stateless_call(
                values, non_trainable, *args, **kwargs
            )
            return out

        out = forward(layer_call)
        if "r" not in projection:
            rng = np.random.RandomState(seed)
            projection["r"] = rng.normal(size=tuple(out.shape))
        r = keras.ops.convert_to_tensor(projection["r"], out.dtype)
        return keras.ops.sum(out * r)

    return function, theta


def assert_gradient_matches_finite_differences(
    function, theta, num_checks=24, eps=None, rtol=None, seed=0
):
    """Backend gradient vs central differences on a random subset.

    float64 weights: step 1e-6, relative error below 1e-4. float32 weights
    (see `gradient_dtype`): step 1e-2, relative error below 5e-3.
    """
    double = theta.dtype == np.float64
    if eps is None:
        eps = 1e-6 if double else 1e-2
    if rtol is None:
        rtol = 1e-4 if double else 5e-3
    if backend() == "jax":
        import jax

        # Compiled once: run eagerly, every evaluation re-traces and
        # compiles the layer's `scan` (about 1 s each on 2 CPU cores).
        function = jax.jit(function)
    analytic = gradient(function, theta)
    rng = np.random.RandomState(seed)
    picks = rng.choice(theta.size, size=min(num_checks, theta.size),
                       replace=False)
    numeric = []
    for i in picks:
        plus = theta.astype(np.float64)
        minus = theta.astype(np.float64)
        plus[i] += eps
        minus[i] -= eps
        f_plus = float(to_numpy(function(
            keras.ops.convert_to_tensor(plus.astype(theta.dtype)))))
        f_minus = float(to_numpy(function(
            keras.ops.convert_to_tensor(minus.astype(theta.dtype)))))
        numeric.append((f_plus - f_minus) / (2 * eps))
    numeric = np.array(numeric)
    picked = analytic[picks]
    scale = np.maximum(np.abs(numeric), np.abs(picked)).max()
    assert scale > 0, "all checked gradients are zero"
    rel = np.abs(numeric - picked).max() / scale
    assert rel < rtol, (rel, numeric, picked)
    # The full analytic gradient must also be finite and not all zero.
    assert np.all(np.isfinite(analytic))
    return rel
