"""keras_bahdanau.optimizers.Adam: the same updates as keras.optimizers.Adam.

On TensorFlow the fused kernel runs (checked in the traced graph); under
JAX (tests/test_backends.py reruns this module) Keras' own update runs.
"""

import keras
import numpy as np
import pytest

import keras_bahdanau as kb
from tests import checks


def tiny():
    model = kb.build_model(30, 30, preset="tiny")
    model.build(((None, None), (None, None)))
    return model


def batch():
    rng = np.random.default_rng(0)
    source = rng.integers(3, 30, (4, 6)).astype("int32")
    target = rng.integers(3, 30, (4, 5)).astype("int32")
    source[1, 4:] = 0
    target[2, 3:] = 0
    decoder_input = np.concatenate(
        [np.ones((4, 1), "int32"), target[:, :-1]], axis=1
    )
    return source, decoder_input, target


def numpy_adam(weights, gradients, lr=0.001, beta_1=0.9, beta_2=0.999,
               epsilon=1e-7, amsgrad=False):
    """Adam as in Kingma & Ba with Keras' epsilon placement, in float64."""
    w = np.array(weights, "float64")
    m, v, v_hat = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(gradients, start=1):
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        v_hat = np.maximum(v_hat, v) if amsgrad else v
        alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        w = w - alpha * m / (np.sqrt(v_hat) + epsilon)
    return w


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"learning_rate": 0.05, "beta_1": 0.8, "beta_2": 0.99,
         "epsilon": 1e-4},
        {"amsgrad": True},
        {"fused": False},
    ],
    ids=["defaults", "hyperparameters", "amsgrad", "unfused"],
)
def test_matches_numpy_adam(kwargs):
    rng = np.random.default_rng(1)
    start = rng.normal(size=(5, 3)).astype("float32")
    gradients = [rng.normal(size=(5, 3)).astype("float32") for _ in range(4)]
    variable = keras.Variable(start)
    optimizer = kb.optimizers.Adam(**kwargs)
    for g in gradients:
        optimizer.apply([keras.ops.convert_to_tensor(g)], [variable])
    reference_kwargs = {k: v for k, v in kwargs.items() if k != "fused"}
    if "learning_rate" in reference_kwargs:
        reference_kwargs["lr"] = reference_kwargs.pop("learning_rate")
    expected = numpy_adam(start, gradients, **reference_kwargs)
    assert not np.allclose(expected, start, atol=1e-3)
    np.testing.assert_allclose(checks.to_numpy(variable), expected,
                               rtol=1e-5, atol=1e-6)


def test_repeated_ids_in_a_sparse_gradient_tf_only():
    # An embedding gradient on TensorFlow: one slice per occurrence of an
    # id. Adam must see their sum (2 for row 0 here), not sum their squares.
    if checks.backend() != "tensorflow":
        pytest.skip("tf.IndexedSlices are TensorFlow's")
    import tensorflow as tf

    sparse = tf.IndexedSlices(
        tf.constant([[1.0, 1.0], [1.0, 1.0], [0.5, -2.0]]),
        tf.constant([0, 0, 2]), tf.constant([4, 2]),
    )
    dense = tf.convert_to_tensor(sparse).numpy()
    for fused in (True, False):
        variable = keras.Variable(np.ones((4, 2), "float32"))
        optimizer = kb.optimizers.Adam(0.1, fused=fused)
        for _ in range(3):
            optimizer.apply([sparse], [variable])
        np.testing.assert_allclose(
            checks.to_numpy(variable),
            numpy_adam(np.ones((4, 2)), [dense] * 3, lr=0.1),
            rtol=1e-5, atol=1e-6,
        )


def trained_weights(optimizer, steps=3, policy="float32"):
    """Weights after `steps` fit steps of the tiny model from seed 0."""
    keras.config.set_dtype_policy(policy)
    keras.utils.set_random_seed(0)
    model = tiny()
    model.compile(optimizer=optimizer)
    source, decoder_input, target = batch()
    model.fit((source, decoder_input), target, epochs=steps, batch_size=4,
              verbose=0, shuffle=False)
    return [checks.to_numpy(w) for w in model.weights], model


@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: kb.optimizers.Adam(0.01, weight_decay=0.1,
                                        clipnorm=0.5, **kw),
        lambda **kw: kb.optimizers.Adam(
            keras.optimizers.schedules.ExponentialDecay(0.05, 1, 0.5), **kw
        ),
        lambda **kw: kb.optimizers.Adam(0.01, use_ema=True,
                                        ema_overwrite_frequency=2, **kw),
    ],
    ids=["decay_and_clipping", "schedule", "ema"],
)
def test_keras_extras_fused_equals_unfused(make):
    # Everything Keras does around `update_step` is unchanged by the
    # fused kernel.
    rng = np.random.default_rng(2)
    start = rng.normal(size=(6, 4)).astype("float32")
    gradients = [rng.normal(size=(6, 4)).astype("float32") for _ in range(4)]
    results = []
    for fused in (True, False):
        variable = keras.Variable(start)
        optimizer = make(fused=fused)
        for g in gradients:
            optimizer.apply([keras.ops.convert_to_tensor(g)], [variable])
        results.append(checks.to_numpy(variable))
    assert not np.allclose(results[0], start, atol=1e-3)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize(
    "policy", ["float32", "mixed_float16", "mixed_bfloat16"]
)
def test_model_step_fused_equals_unfused(policy):
    # One `fit` step of the tiny model (sparse embedding gradients; loss
    # scaling under mixed_float16) moves every weight as the unfused update.
    # Longer runs are compared nowhere: rounding differences of the update
    # change the next forward pass.
    fused, model = trained_weights(kb.optimizers.Adam(0.01), 1, policy)
    unfused, _ = trained_weights(kb.optimizers.Adam(0.01, fused=False), 1,
                                 policy)
    keras.config.set_dtype_policy(policy)
    before = [checks.to_numpy(w) for w in tiny().weights]
    for a, b, c, w in zip(fused, unfused, before, model.weights):
        assert np.isfinite(a).all(), w.path
        assert not np.allclose(a, c), w.path
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6,
                                   err_msg=w.path)


def test_fused_kernel_runs_tf_only():
    if checks.backend() != "tensorflow":
        pytest.skip("the fused kernel is TensorFlow's")
    import tensorflow as tf

    variables = [keras.Variable(np.ones((3, 2), "float32"))]
    gradients = [tf.constant(np.full((3, 2), 0.5, "float32"))]

    def op_types(optimizer):
        optimizer.build(variables)
        graph = tf.function(
            lambda: optimizer.apply(gradients, variables)
        ).get_concrete_function().graph
        return {op.type for op in graph.get_operations()}

    assert "ResourceApplyAdam" in op_types(kb.optimizers.Adam())
    assert "ResourceApplyAdam" not in op_types(
        kb.optimizers.Adam(fused=False))
    assert "ResourceApplyAdam" not in op_types(
        kb.optimizers.Adam(amsgrad=True))


def test_fused_applies_only_where_supported():
    variable = keras.Variable(np.ones((2,), "float32"))
    on_tf = checks.backend() == "tensorflow"
    assert kb.optimizers.Adam().fused_applies(variable) is on_tf
    assert not kb.optimizers.Adam(fused=False).fused_applies(variable)
    assert not kb.optimizers.Adam(amsgrad=True).fused_applies(variable)


def test_config_and_compile_default(tmp_path):
    optimizer = kb.optimizers.Adam(0.02, fused=False, clipnorm=1.0)
    clone = checks.assert_serialization_round_trip(optimizer)
    assert clone.fused is False and clone.clipnorm == 1.0
    model = tiny()
    model.compile()
    assert type(model.optimizer) is kb.optimizers.Adam
    model.compile(optimizer="adam")
    assert type(model.optimizer) is kb.optimizers.Adam
    model.compile(optimizer=keras.optimizers.SGD())
    # PyTorch's Keras backend builds its own SGD subclass.
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    # A compiled model saves and reloads with the optimizer and its slots.
    model.compile(optimizer=kb.optimizers.Adam(0.02, fused=False))
    source, decoder_input, target = batch()
    model.fit((source, decoder_input), target, epochs=1, verbose=0)
    reloaded = checks.save_and_reload(model, tmp_path)
    assert type(reloaded.optimizer) is kb.optimizers.Adam
    assert reloaded.optimizer.fused is False
    for a, b in zip(model.optimizer.variables, reloaded.optimizer.variables):
        np.testing.assert_array_equal(checks.to_numpy(a), checks.to_numpy(b))


def test_bad_fused_argument():
    with pytest.raises(TypeError, match="`fused` must be True or False"):
        kb.optimizers.Adam(fused="yes")
