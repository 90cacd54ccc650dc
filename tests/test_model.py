"""AttentionSeq2Seq, build_model, presets, masked loss and accuracy."""

import importlib.util
import json
import os
import re
import subprocess
import sys
import warnings
import zipfile

import keras
import numpy as np
import pytest

import keras_bahdanau as kb
from keras_bahdanau.models.losses import token_cross_entropy
from tests import checks
from tests import reference

SRC_V, TGT_V = 17, 13


def batch(seed=0, n=4):
    rng = np.random.RandomState(seed)
    source = rng.randint(3, SRC_V, size=(n, 7)).astype("int32")
    target = rng.randint(3, TGT_V, size=(n, 6)).astype("int32")
    for row in range(n):
        source[row, 3 + row % 4:] = 0
        target[row, 2 + row % 4:] = 0
        target[row, 1 + row % 4] = 2
    decoder_input = np.concatenate(
        [np.ones((n, 1), "int32"), target[:, :-1]], axis=1
    )
    return source, decoder_input, target


def tiny(**overrides):
    return kb.build_model(SRC_V, TGT_V, preset="tiny", **overrides)


# ------------------------------------------------------------- arguments
def test_special_ids_must_differ():
    with pytest.raises(ValueError, match="must be different.*Received.*"
                       "Give each special token its own id"):
        tiny(pad_id=0, start_id=0)


@pytest.mark.parametrize("name, value, error, message", [
    ("pad_id", -1, ValueError, "must be a non-negative int"),
    ("start_id", TGT_V, ValueError,
     "must be an int in \\[0, target_vocab_size\\).*Use ids inside"),
    ("end_id", 1.0, TypeError, "must be an int \\(a token id\\)"),
])
def test_special_ids_in_range(name, value, error, message):
    with pytest.raises(error, match=f"`{name}` {message}"):
        tiny(**{name: value})


def test_special_ids_accept_numpy_integers():
    model = tiny(pad_id=np.int64(0), start_id=np.int32(1), end_id=np.int64(2))
    assert type(model.pad_id) is int and type(model.end_id) is int
    json.dumps(model.get_config())  # the config stays JSON
    # The model itself too, not only build_model.
    model = kb.AttentionSeq2Seq(np.int64(SRC_V), np.int32(TGT_V),
                                embedding_dim=np.int64(8),
                                encoder_units=np.int64(8),
                                dropout=np.float32(0.25),
                                maxout_units=np.int64(6))
    assert type(model.embedding_dim) is int
    assert type(model.dropout) is float and type(model.maxout_units) is int
    json.dumps(model.get_config())


@pytest.mark.parametrize("dtype", ["int32", "bool"])
def test_dtype_must_be_a_float_policy(dtype):
    # Used to fail deep inside a backend op (or a sampler) at `generate`.
    with pytest.raises(ValueError, match=r"`dtype` must be a floating-point "
                       rf"dtype policy. Received: dtype='{dtype}'"):
        tiny(dtype=dtype)


def test_unknown_preset():
    with pytest.raises(ValueError, match="`preset` must be one of.*paper.*"
                       "Received: preset='huge'.*Pick one of those"):
        kb.build_model(SRC_V, TGT_V, preset="huge")


def test_unknown_override():
    with pytest.raises(TypeError, match="`overrides` must be.*"
                       "hidden_size.*Use some of.*decoder_units"):
        tiny(hidden_size=3)


def test_bad_target_vocab_size():
    with pytest.raises(ValueError, match="`target_vocab_size` must be a "
                       "positive int"):
        kb.build_model(SRC_V, 0, preset="tiny")


@pytest.mark.parametrize(
    "name, value",
    [("source_vocab_size", 0), ("embedding_dim", -2), ("encoder_units", 0),
     ("decoder_units", -1), ("attention_units", 1.5)],
)
def test_size_errors_name_the_model_argument(name, value):
    # Not the sub-layer's `units` or `vocab_size`.
    with pytest.raises(ValueError, match=f"^`{name}` must be a positive int, "
                       f"e.g. {name}=.*Received: {name}="):
        args = dict(source_vocab_size=SRC_V, target_vocab_size=TGT_V)
        kb.build_model(preset="tiny", **{**args, name: value})


@pytest.mark.parametrize("name", ["normalize", "deep_output", "reset_after"])
def test_flags_must_be_bool(name):
    with pytest.raises(TypeError, match=f"`{name}` must be a bool"):
        tiny(attention=None, **{name: "False"})


@pytest.mark.parametrize(
    "source, error, pattern",
    [
        (np.array([[3.7, 4.0]]), TypeError,
         "`source_ids` must hold integer token ids"),
        (np.array([[3, SRC_V]]), ValueError,
         f"`source_ids` must hold ids in \\[0, {SRC_V}\\)"),
        (np.array([[-1, 3]]), ValueError, "source_ids\\[0, 0\\]=-1"),
    ],
)
def test_generate_and_call_reject_bad_source_ids(source, error, pattern):
    model = tiny()
    with pytest.raises(error, match=pattern):
        model.generate(source, max_length=3)
    with pytest.raises(error, match=pattern.replace("source_ids",
                                                     "token_ids")):
        model((source, np.ones((1, 2), "int32")))


def test_quantize_is_refused():
    # It used to leave generate() on stale weights (cached) or raw int8
    # kernels (scores 0) without an error.
    model = tiny()
    model((np.array([[3, 4]]), np.ones((1, 2), "int32")))
    with pytest.raises(NotImplementedError, match="`AttentionSeq2Seq."
                       "quantize` is not supported.*mode='int8'"):
        model.quantize("int8")


def test_generate_accepts_numpy_integer_max_length():
    model = tiny()
    out = model.generate(np.array([[3, 4]]), max_length=np.int64(3))
    assert out["tokens"].shape == (1, 3)


def test_inputs_must_be_a_pair():
    model = tiny()
    source, decoder_input, _ = batch()
    with pytest.raises(ValueError, match="`inputs` must be a tuple.*"
                       "model\\(\\(source_ids, target_ids\\)\\)"):
        model(source)


# ------------------------------------------------------- presets, configs
def test_paper_preset_config_without_building():
    model = kb.build_model(30000, 30000, preset="paper")
    assert not model.built
    config = model.get_config()
    assert config["embedding_dim"] == 620
    assert config["encoder_units"] == 1000
    assert config["decoder_units"] == 1000
    assert config["attention_units"] == 1000
    assert config["maxout_units"] == 500
    assert config["attention"] == "bahdanau"
    assert config["deep_output"] is True
    assert config["bridge"] == "backward"
    assert (config["pad_id"], config["start_id"], config["end_id"]) == (
        0, 1, 2)


def test_overrides_win_over_preset():
    model = tiny(cell="lstm", decoder_units=7, attention=None)
    assert (model.cell, model.decoder_units, model.attention) == (
        "lstm", 7, None)
    assert model.encoder_units == kb.PRESETS["tiny"]["encoder_units"]
    assert model.decoder.cell == "lstm" and model.encoder.cell == "lstm"


def test_model_config_round_trip():
    model = tiny(cell="lstm", normalize=True, probability_fn="sparsemax",
                 pad_id=5, start_id=6, end_id=7, maxout_units=4)
    config = model.get_config()
    clone = kb.AttentionSeq2Seq.from_config(config)
    assert clone.get_config() == config
    assert clone.decoder.probability_fn == "sparsemax"
    assert clone.encoder.pad_id == 5


# ----------------------------------------------------------------- shapes
def test_symbolic_and_eager_shapes():
    model = tiny()
    source, decoder_input, _ = batch()
    logits = model((source, decoder_input))
    assert tuple(logits.shape) == (4, 6, TGT_V)
    assert checks.dtype_name(logits) == "float32"
    src = keras.Input((None,), dtype="int32")
    tgt = keras.Input((None,), dtype="int32")
    symbolic = model((src, tgt))
    assert tuple(symbolic.shape) == (None, None, TGT_V)


@pytest.mark.parametrize("cell", ["gru"])
def test_matches_reference_encoder_and_decoder(cell):
    model = tiny(cell=cell, maxout_units=4)
    source, decoder_input, _ = batch()
    logits = checks.to_numpy(model((source, decoder_input)))
    memory, mask = reference.encoder(model.encoder, source)
    expected, _ = reference.decoder_sequence(
        model.decoder, decoder_input, memory, mask
    )
    np.testing.assert_allclose(logits, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("overrides", [dict(), dict(cell="lstm"),
                                       dict(attention=None)])
def test_encode_and_decode_step_equal_teacher_forcing(overrides):
    model = tiny(**overrides)
    source, decoder_input, _ = batch()
    logits = checks.to_numpy(model((source, decoder_input)))
    state, cache = model.encode(source)
    for t in range(decoder_input.shape[1]):
        step_logits, state, _ = model.decode_step(
            decoder_input[:, t], state, cache
        )
        np.testing.assert_allclose(checks.to_numpy(step_logits),
                                   logits[:, t], atol=1e-5)


def test_source_padding_invariance():
    model = tiny()
    source, decoder_input, _ = batch()
    logits = checks.to_numpy(model((source, decoder_input)))
    longer = np.concatenate([source, np.zeros((4, 3), "int32")], axis=1)
    logits2 = checks.to_numpy(model((longer, decoder_input)))
    np.testing.assert_allclose(logits2, logits, atol=1e-5, rtol=0)


def test_target_padding_does_not_change_earlier_logits():
    model = tiny()
    source, decoder_input, _ = batch()
    logits = checks.to_numpy(model((source, decoder_input)))
    changed = decoder_input.copy()
    changed[:, 4:] = 9
    logits2 = checks.to_numpy(model((source, changed)))
    np.testing.assert_allclose(logits2[:, :4], logits[:, :4], atol=1e-6)


# ------------------------------------------------------------ loss/metric
def test_masked_loss_equals_numpy_and_ignores_padding():
    rng = np.random.RandomState(0)
    _, _, target = batch()
    logits = rng.normal(size=target.shape + (TGT_V,)).astype("float32")
    loss = kb.MaskedSparseCategoricalCrossentropy(pad_id=0)
    value = float(checks.to_numpy(loss(target, logits)))
    assert value == pytest.approx(
        reference.masked_cross_entropy(target, logits), abs=1e-5)
    changed = logits.copy()
    changed[target == 0] = 50.0 * rng.normal(size=changed[target == 0].shape)
    assert float(checks.to_numpy(loss(target, changed))) == pytest.approx(
        value, abs=1e-6)
    # Appending padding neither adds loss nor dilutes it.
    longer_t = np.concatenate([target, np.zeros((4, 3), "int32")], 1)
    longer_l = np.concatenate([logits, changed[:, :3]], 1)
    assert float(checks.to_numpy(loss(longer_t, longer_l))) == (
        pytest.approx(value, abs=1e-6))
    empty = float(checks.to_numpy(loss(np.zeros_like(target), logits)))
    assert empty == 0.0


def test_token_cross_entropy_matches_numpy_value_and_gradient():
    # The lean custom gradient of `token_cross_entropy` against the NumPy
    # formulas, with ids at both ends of the vocabulary and a row whose
    # target probability underflows in float32 (logit gap 300).
    rng = np.random.RandomState(3)
    logits = 3.0 * rng.normal(size=(3, 5, TGT_V)).astype("float32")
    labels = rng.randint(0, TGT_V, size=(3, 5)).astype("int32")
    labels[0, :2] = (0, TGT_V - 1)
    logits[1, 2, :] = 0.0
    logits[1, 2, (labels[1, 2] + 1) % TGT_V] = 300.0
    weights = rng.uniform(size=(3, 5)).astype("float32")
    expected, d_expected = reference.token_cross_entropy(labels, logits)
    value = checks.to_numpy(token_cross_entropy(labels, logits))
    np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-5)
    assert value[1, 2] == pytest.approx(300.0, rel=1e-6)

    def weighted(x):
        return keras.ops.sum(
            keras.ops.multiply(token_cross_entropy(labels, x), weights))

    np.testing.assert_allclose(
        checks.gradient(weighted, logits), d_expected * weights[..., None],
        atol=1e-6)
    theta = logits[0].reshape(-1).astype(checks.gradient_dtype())
    checks.assert_gradient_matches_finite_differences(
        lambda x: keras.ops.sum(keras.ops.multiply(token_cross_entropy(
            labels[0], keras.ops.reshape(x, (5, TGT_V))), weights[0])), theta)


def test_masked_loss_gradient_is_exactly_zero_at_padding():
    rng = np.random.RandomState(4)
    _, _, target = batch()
    logits = rng.normal(size=target.shape + (TGT_V,)).astype("float32")
    logits[target == 0] = 1e4 * rng.normal(size=logits[target == 0].shape)
    loss = kb.MaskedSparseCategoricalCrossentropy(pad_id=0)
    grad = checks.gradient(lambda x: loss(target, x), logits)
    _, d_tokens = reference.token_cross_entropy(target, logits)
    real = (target != 0)[..., None]
    np.testing.assert_allclose(
        grad, d_tokens * real / real.sum(), atol=1e-7)
    assert np.all(grad[target == 0] == 0.0)
    empty = checks.gradient(lambda x: loss(np.zeros_like(target), x), logits)
    assert np.all(empty == 0.0)


def test_loss_with_other_pad_id_and_config():
    rng = np.random.RandomState(1)
    target = rng.randint(0, 5, size=(3, 4))
    logits = rng.normal(size=(3, 4, 5)).astype("float32")
    loss = kb.MaskedSparseCategoricalCrossentropy(pad_id=4)
    assert float(checks.to_numpy(loss(target, logits))) == pytest.approx(
        reference.masked_cross_entropy(target, logits, pad_id=4), abs=1e-5)
    clone = checks.assert_serialization_round_trip(loss)
    assert clone.pad_id == 4


def test_sentence_weights_weight_rows():
    # Keras broadcast a (batch,) weight against the time axis: an error, or
    # with batch == target length, weights on the wrong tokens.
    rng = np.random.RandomState(5)
    target = rng.randint(1, 5, size=(4, 4))
    target[1, 2:] = 0
    logits = rng.normal(size=(4, 4, 5)).astype("float32")
    rows = np.array([1.0, 0.5, 0.0, 2.0], "float32")
    per_token = np.repeat(rows[:, None], 4, axis=1)
    loss = kb.MaskedSparseCategoricalCrossentropy()
    metric, token_metric = kb.MaskedTokenAccuracy(), kb.MaskedTokenAccuracy()
    for weights in (rows, per_token):
        assert float(checks.to_numpy(loss(target, logits, weights))) == (
            pytest.approx(float(checks.to_numpy(
                loss(target, logits, per_token))), abs=1e-6))
    metric.update_state(target, logits, rows)
    token_metric.update_state(target, logits, per_token)
    assert float(checks.to_numpy(metric.result())) == pytest.approx(
        float(checks.to_numpy(token_metric.result())), abs=1e-6)
    # As Keras' own losses: a scalar scales, (batch, steps, 1) is per token.
    base = float(checks.to_numpy(loss(target, logits)))
    assert float(checks.to_numpy(loss(target, logits, 0.5))) == (
        pytest.approx(base / 2, abs=1e-6))
    assert float(checks.to_numpy(
        loss(target, logits, per_token[..., None]))) == pytest.approx(
        float(checks.to_numpy(loss(target, logits, per_token))), abs=1e-6)
    for bad in (np.ones((4, 4, 2)), np.ones((4, 4, 1, 1))):
        with pytest.raises(ValueError, match="`sample_weight` must be"):
            loss(target, logits, bad)
    model = tiny()
    model.compile()
    source, decoder_input, target = batch()
    history = model.fit((source, decoder_input), target, epochs=1, verbose=0,
                        sample_weight=np.ones(len(target), "float32"))
    assert np.isfinite(history.history["loss"]).all()


def test_left_and_right_padding_give_the_same_outputs():
    # keras.utils.pad_sequences pads on the left by default. The backward
    # bridge once read position 0 (padding there), so s_0 = tanh(b) for
    # every left-padded sentence.
    model = tiny()
    source, decoder_input, _ = batch()
    lengths = (source != 0).sum(axis=1)
    left = np.zeros_like(source)
    for row, n in enumerate(lengths):
        left[row, source.shape[1] - n:] = source[row, :n]
    right_logits = model((source, decoder_input))
    left_logits = model((left, decoder_input))
    np.testing.assert_allclose(checks.to_numpy(left_logits),
                               checks.to_numpy(right_logits), atol=1e-5)
    right = model.generate(source, max_length=5)
    left = model.generate(left, max_length=5)
    np.testing.assert_array_equal(left["tokens"], right["tokens"])


def test_masked_accuracy_takes_labels_with_a_trailing_axis():
    # (batch, steps, 1) labels, as the loss and Keras' sparse metrics take.
    rng = np.random.RandomState(3)
    _, _, target = batch()
    logits = rng.normal(size=target.shape + (TGT_V,)).astype("float32")
    flat, trailing = kb.MaskedTokenAccuracy(), kb.MaskedTokenAccuracy()
    flat.update_state(target, logits)
    trailing.update_state(target[..., None], logits)
    assert float(checks.to_numpy(trailing.result())) == pytest.approx(
        float(checks.to_numpy(flat.result())), abs=1e-7)
    model = tiny()
    model.compile()
    source, decoder_input, target = batch()
    history = model.fit((source, decoder_input), target[..., None],
                        epochs=1, verbose=0)
    assert np.isfinite(history.history["accuracy"]).all()


def test_masked_accuracy():
    rng = np.random.RandomState(2)
    _, _, target = batch()
    logits = rng.normal(size=target.shape + (TGT_V,)).astype("float32")
    logits[..., 0] = 100.0  # predicts pad everywhere ...
    hit = (target != 0) & (rng.rand(*target.shape) < 0.5)
    rows, cols = np.nonzero(hit)
    logits[rows, cols, target[rows, cols]] = 200.0  # ... except here
    metric = kb.MaskedTokenAccuracy(pad_id=0)
    metric.update_state(target, logits)
    expected = reference.masked_accuracy(target, logits)
    assert expected == pytest.approx(hit.sum() / (target != 0).sum())
    assert float(checks.to_numpy(metric.result())) == pytest.approx(
        expected, abs=1e-6)
    metric.update_state(target, logits)
    assert float(checks.to_numpy(metric.result())) == pytest.approx(
        expected, abs=1e-6)
    metric.reset_state()
    assert float(checks.to_numpy(metric.result())) == 0.0
    assert checks.assert_serialization_round_trip(metric).pad_id == 0


def test_keras_loops_check_array_ids_before_compiling():
    # Inside a compiled step an id outside the vocabulary cannot raise:
    # TensorFlow failed without naming it, JAX trained silently to NaN.
    source, decoder_input, target = kb.data.reversal_task(
        16, 3, 6, seed=0)  # ids up to 12
    model = kb.build_model(10, 10, preset="tiny")
    model.compile()
    ok = (source % 10, decoder_input % 10)
    calls = [
        ("x[0]", lambda: model.fit((source, decoder_input), target % 10,
                                   verbose=0)),
        ("x['target_ids']", lambda: model.evaluate(
            {"source_ids": ok[0], "target_ids": decoder_input}, target % 10,
            verbose=0)),
        ("y", lambda: model.train_on_batch(ok, target)),
        # PyTorch's "ignore" label wrapped or gave NaN; it is no id here.
        ("y", lambda: model.test_on_batch(ok, np.full_like(target, -100))),
        ("validation_data[1]", lambda: model.fit(
            ok, target % 10, validation_data=(ok, target), verbose=0)),
    ]
    for name, call in calls:
        with pytest.raises(ValueError, match=rf"`{re.escape(name)}` must "
                           r"hold ids in \[0, 10\)"):
            call()
    assert not model.built or not np.any(
        [np.isnan(checks.to_numpy(w)).any() for w in model.weights])
    # Valid arrays train; a dataset passes unchecked (not consumed).
    history = model.fit(ok, target % 10, batch_size=8, verbose=0).history
    assert np.isfinite(history["loss"][0])
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((ok, target % 10)).batch(8)
    history = model.fit(dataset, shuffle=False, verbose=0).history
    assert np.isfinite(history["loss"][0])


def test_compile_defaults():
    model = tiny()
    model.compile()
    assert isinstance(model.loss, kb.MaskedSparseCategoricalCrossentropy)
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    source, decoder_input, target = batch()
    logits = checks.to_numpy(model((source, decoder_input)))
    results = model.evaluate((source, decoder_input), target, verbose=0,
                             return_dict=True)
    assert results["loss"] == pytest.approx(
        reference.masked_cross_entropy(target, logits), abs=1e-4)
    assert results["accuracy"] == pytest.approx(
        reference.masked_accuracy(target, logits), abs=1e-6)


# ----------------------------------------------------------------- saving
def test_save_and_reload_trained_tiny_model(tmp_path):
    model = tiny()
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    source, decoder_input, target = batch()
    model.fit((source, decoder_input), target, epochs=1, batch_size=4,
              verbose=0)
    reloaded = checks.save_and_reload(model, tmp_path)
    assert isinstance(reloaded, kb.AttentionSeq2Seq)
    assert reloaded.get_config() == model.get_config()
    checks.assert_same_outputs(model((source, decoder_input)),
                               reloaded((source, decoder_input)))
    # compile() state: loss, metric, optimizer and its slots.
    assert isinstance(reloaded.loss, kb.MaskedSparseCategoricalCrossentropy)
    assert int(checks.to_numpy(reloaded.optimizer.iterations)) == 1
    assert float(checks.to_numpy(reloaded.optimizer.learning_rate)) == (
        pytest.approx(0.01))
    for a, b in zip(model.optimizer.variables, reloaded.optimizer.variables):
        np.testing.assert_array_equal(checks.to_numpy(a), checks.to_numpy(b))
    # One more step gives the same weights on both.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss_a = model.train_on_batch((source, decoder_input), target)
        loss_b = reloaded.train_on_batch((source, decoder_input), target)
    # `to_numpy`: on torch, `train_on_batch` returns a tensor (on a GPU
    # a CUDA tensor, which NumPy cannot read).
    assert float(np.ravel(checks.to_numpy(loss_a))[0]) == pytest.approx(
        float(np.ravel(checks.to_numpy(loss_b))[0]), abs=1e-6)
    checks.assert_same_outputs(model((source, decoder_input)),
                               reloaded((source, decoder_input)), atol=1e-5)


def _saved_jit_compile(path):
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    return config["compile_config"]["jit_compile"]


def test_saved_jit_compile_is_the_compile_argument(tmp_path):
    # Keras saved the resolved "auto": the saving backend's choice then
    # travelled to other backends (a TensorFlow file trained op by op
    # under JAX).
    fresh = tiny()
    fresh.compile()
    for kwargs, saved in (({}, "auto"), ({"jit_compile": False}, False)):
        model = tiny()
        model.compile(**kwargs)
        path = str(tmp_path / f"m{len(kwargs)}.keras")
        model.save(path)
        assert _saved_jit_compile(path) == saved
        reloaded = keras.models.load_model(path)
        expected = fresh.jit_compile if saved == "auto" else saved
        assert reloaded.jit_compile == expected
        reloaded.save(path)  # and saved again as it was
        assert _saved_jit_compile(path) == saved
    # Keras turns XLA off under run_eagerly: saved so (no warning on load).
    model = tiny()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.compile(jit_compile=True, run_eagerly=True)
    path = str(tmp_path / "eager.keras")
    model.save(path)
    assert _saved_jit_compile(path) is False


@pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                    reason="jax is not installed")
def test_file_saved_under_tensorflow_jit_compiles_under_jax_tf_only(
        tmp_path):
    if keras.config.backend() != "tensorflow":
        pytest.skip("saves under TensorFlow")
    model = tiny()
    model.compile()
    path = str(tmp_path / "m.keras")
    model.save(path)
    code = (
        "import sys, keras, keras_bahdanau\n"
        "print(keras.models.load_model(sys.argv[1]).jit_compile)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, path], capture_output=True, text=True,
        env={**os.environ, "KERAS_BACKEND": "jax"}, timeout=600,
    )
    assert result.stdout.strip().splitlines()[-1] == "True", result.stderr


def test_serialize_model():
    model = tiny(attention=None)
    clone = checks.assert_serialization_round_trip(model)
    assert clone.attention is None and clone.decoder.attention_layer is None


# ---------------------------------------------------------------- training
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_jit_compile_training_step_matches_eager(cell):
    # GRU: XLA with the hand-written loop gradient (scan loop); LSTM: XLA
    # differentiating the bounded loop.
    if keras.config.backend() == "torch":
        pytest.skip("jit_compile=True is not used with the torch backend")
    source, decoder_input, target = batch()
    losses = {}
    for jit in (False, True):
        keras.utils.set_random_seed(0)
        model = tiny(cell=cell)
        model.compile(optimizer=keras.optimizers.Adam(0.01),
                      jit_compile=jit)
        bounded = jit and cell == "lstm"
        bounded = bounded and keras.config.backend() == "tensorflow"
        assert model.decoder._uses_bounded_loop() == bounded
        assert not model.decoder.bounded_loop  # the config is unchanged
        history = model.fit((source, decoder_input), target, epochs=3,
                            batch_size=4, verbose=0)
        losses[jit] = history.history["loss"]
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-4)
    assert losses[True][-1] < losses[True][0]


@pytest.mark.parametrize("config", [{"cell": "lstm"},
                                    {"probability_fn": "sparsemax"}])
def test_users_own_model_trains_under_tensorflow_xla(config):
    # A functional model of the layers, compiled by Keras with XLA (as
    # jit_compile="auto" does on a TensorFlow GPU): configurations without
    # the hand-written gradient need the bounded loop, which the decoder
    # now picks from the XLA trace (it failed with "XLA compilation
    # requires a fixed tensor list size"). JAX's XLA differentiates scan
    # (test_jit_compile_training_step_matches_eager).
    if keras.config.backend() != "tensorflow":
        pytest.skip("the XLA trace detection is TensorFlow's")
    source, decoder_input, target = batch()
    src = keras.Input(source.shape[1:], dtype="int32")
    tgt = keras.Input(decoder_input.shape[1:], dtype="int32")
    memory = kb.BidirectionalEncoder(SRC_V, 6, 4)(src)
    decoder = kb.AttentiveDecoder(TGT_V, 6, 5, 4, **config)
    model = keras.Model([src, tgt], decoder(tgt, memory))
    model.compile(optimizer="adam", jit_compile=True,
                  loss=kb.MaskedSparseCategoricalCrossentropy())
    history = model.fit([source, decoder_input], target, epochs=2,
                        verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert not decoder.bounded_loop  # chosen at trace time, not configured


def test_users_own_model_evaluates_any_length_under_tensorflow_xla():
    # The bounded loop (static lengths only) is for XLA's gradients: an
    # XLA-compiled forward pass over batches of unknown length (a relaxed
    # trace) keeps scan and evaluates.
    if keras.config.backend() != "tensorflow":
        pytest.skip("the XLA trace detection is TensorFlow's")
    import tensorflow as tf

    inner = tiny(cell="lstm")
    src = keras.Input((None,), dtype="int32")
    tgt = keras.Input((None,), dtype="int32")
    model = keras.Model([src, tgt], inner((src, tgt)))
    model.compile(loss=kb.MaskedSparseCategoricalCrossentropy(),
                  jit_compile=True)
    rng = np.random.default_rng(0)

    def batches():
        for length in (3, 4, 5, 3, 4, 5):
            ids = rng.integers(3, TGT_V, (4, length)).astype("int32")
            yield (ids, ids), ids

    spec = tf.TensorSpec((None, None), tf.int32)
    data = tf.data.Dataset.from_generator(
        batches, output_signature=((spec, spec), spec)
    )
    assert np.isfinite(model.evaluate(data, verbose=0))


def compiled_under(policy):
    """The compiled `tiny` model built under `policy`, and its batch; its
    logits are float32 and finite."""
    keras.config.set_dtype_policy(policy)
    model = tiny()
    model.compile()
    data = batch()
    logits = model(data[:2])
    assert checks.dtype_name(logits) == "float32"
    checks.assert_finite(logits)
    return model, data


@pytest.mark.parametrize("policy", ["float16", "bfloat16"])
def test_pure_half_policy_builds_trains_decodes_and_reloads(policy, tmp_path):
    # Variables in half precision (half the weight memory). Keras'
    # orthogonal recurrent initializer needs a QR decomposition that
    # TensorFlow and JAX lack in bfloat16 and JAX in float16 (a plain
    # keras.layers.GRU fails to build there); the layers draw those kernels
    # in float32 and cast them.
    # Adam cannot train half-precision variables (no update at all in
    # bfloat16): compile() says so, and plain SGD trains.
    with pytest.warns(UserWarning, match="Adam cannot train"):
        model, (source, decoder_input, target) = compiled_under(policy)
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    assert {checks.dtype_name(w) for w in model.weights} == {policy}
    recurrent = checks.to_numpy(
        keras.ops.cast(model.decoder.recurrent_kernel, "float32")
    )
    # Orthonormal rows (to half-precision rounding), as Keras' initializer
    # gives.
    np.testing.assert_allclose(
        recurrent @ recurrent.T, np.eye(model.decoder.units), atol=0.03
    )
    history = model.fit((source, decoder_input), target, epochs=3,
                        batch_size=4, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    tokens = model.generate(source, max_length=5)["tokens"]
    assert tokens.shape == (source.shape[0], 5)
    reloaded = checks.save_and_reload(model, tmp_path)
    checks.assert_same_outputs(model((source, decoder_input)),
                               reloaded((source, decoder_input)))


def test_manual_backprop_turned_off_after_jit_compile_still_trains():
    # The loop is chosen when the step is traced: turned off after
    # compile(jit_compile=True), the decoder needs the bounded loop under
    # TensorFlow's XLA (scan failed: "XLA compilation requires a fixed
    # tensor list size").
    if keras.config.backend() == "torch":
        pytest.skip("jit_compile=True is not used with the torch backend")
    source, decoder_input, target = batch()
    model = tiny()
    model.compile(optimizer=keras.optimizers.Adam(0.01), jit_compile=True)
    model.decoder.manual_backprop = False
    history = model.fit((source, decoder_input), target, epochs=2,
                        batch_size=4, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


def test_float32_initializer_keeps_other_policies_values():
    # The wrapper is used for half-precision variables only; elsewhere the
    # layers keep Keras' own initializer object and its values.
    from keras_bahdanau.layers.initializers import Float32Initializer
    from keras_bahdanau.layers.initializers import for_variable_dtype

    orthogonal = keras.initializers.Orthogonal(seed=3)
    assert for_variable_dtype(orthogonal, "float32") is orthogonal
    assert isinstance(for_variable_dtype(orthogonal, "float16"),
                      Float32Initializer)
    wrapped = for_variable_dtype(orthogonal, "bfloat16")
    assert isinstance(wrapped, Float32Initializer)
    restored = Float32Initializer.from_config(wrapped.get_config())
    expected = checks.to_numpy(orthogonal((6, 6), dtype="float32"))
    for initializer in (wrapped, restored):
        np.testing.assert_array_equal(
            checks.to_numpy(initializer((6, 6), dtype="float32")), expected
        )


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_training(policy):
    model, (source, decoder_input, target) = compiled_under(policy)
    assert model.decoder.compute_dtype == policy.split("_")[1]
    before = [checks.to_numpy(w) for w in model.trainable_weights]
    history = model.fit((source, decoder_input), target, epochs=2,
                        batch_size=4, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    after = [checks.to_numpy(w) for w in model.trainable_weights]
    assert all(np.all(np.isfinite(w)) for w in after)
    assert all(w.dtype == np.float32 for w in after)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))


def test_one_token_source_runs_without_warnings():
    # A one-word sentence: Keras' softmax warns "Did you mean to use a
    # sigmoid" over an axis of size 1; the attention's weight there is 1.
    source = np.array([[5], [0]], "int32")
    decoder_input = np.array([[1, 4], [1, 4]], "int32")
    model = tiny()
    model.compile()
    with warnings.catch_warnings():
        # UserWarning: Keras' softmax warning (torch's NumPy 2
        # DeprecationWarnings are not this test's business).
        warnings.simplefilter("error", UserWarning)
        model((source, decoder_input))
        _, alignments = model.decoder(
            decoder_input,
            model.encoder(source),
            memory_mask=source != 0,
            return_attention_scores=True,
        )
        for strategy in ("greedy", "beam"):
            model.generate(source, max_length=3, strategy=strategy)
        model.fit((source, decoder_input), decoder_input, epochs=1,
                  verbose=0)
    weights = checks.to_numpy(alignments)
    np.testing.assert_array_equal(weights[0], np.ones((2, 1)))
    np.testing.assert_array_equal(weights[1], np.zeros((2, 1)))


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_reload_restores_every_optimizer_variable(policy, tmp_path):
    # compile() builds the optimizer of a built model; building it again
    # while loading added a second loss-scale state under mixed_float16,
    # and the saved one (scale, step counter) was skipped with a warning.
    keras.config.set_dtype_policy(policy)
    try:
        source, decoder_input, target = batch()
        model = tiny()
        model.compile()
        model.fit((source, decoder_input), target, epochs=1, verbose=0)
        reloaded = checks.save_and_reload(model, tmp_path)
    finally:
        keras.config.set_dtype_policy("float32")
    saved = [checks.to_numpy(v) for v in model.optimizer.variables]
    loaded = [checks.to_numpy(v) for v in reloaded.optimizer.variables]
    assert len(loaded) == len(saved)
    for got, want in zip(loaded, saved):
        np.testing.assert_array_equal(got, want)


# ------------------------------------------- argument types (presets, NumPy)
@pytest.mark.parametrize("preset", [["tiny"], ("tiny",), {"tiny": 1}, 3])
def test_preset_must_be_a_str(preset):
    # A list used to fail with "unhashable type: 'list'".
    with pytest.raises(TypeError, match=r"`preset` must be a str \(one of "
                       r"\['paper', 'small', 'tiny'\]\) or None. Received: "
                       r"preset=.*Pass one name, e.g. preset='tiny'"):
        kb.build_model(SRC_V, TGT_V, preset=preset)


def test_build_model_accepts_numpy_numbers(tmp_path):
    # "`embedding_dim` must be a positive int ... Received:
    # embedding_dim=np.int64(16)" contradicted itself.
    model = kb.build_model(
        np.int64(SRC_V), np.int32(TGT_V), preset="tiny",
        embedding_dim=np.int64(16), encoder_units=np.int32(8),
        decoder_units=np.int64(12), attention_units=np.int64(8),
        maxout_units=np.int64(6), dropout=np.float32(0.25),
        pad_id=np.int64(0), start_id=np.int64(1), end_id=np.int32(2),
    )
    config = model.get_config()
    for name in ("source_vocab_size", "target_vocab_size", "embedding_dim",
                 "encoder_units", "decoder_units", "attention_units",
                 "maxout_units", "pad_id", "start_id", "end_id"):
        assert type(config[name]) is int, name
    assert type(config["dropout"]) is float
    assert model.embedding_dim == 16 and model.decoder.units == 12
    clone = kb.AttentionSeq2Seq.from_config(
        json.loads(json.dumps(config))
    )
    assert clone.get_config() == config
    source, decoder_input, _ = batch()
    logits = model((source, decoder_input))
    model.compile()
    reloaded = checks.save_and_reload(model, tmp_path)
    assert reloaded.get_config() == config
    checks.assert_same_outputs(
        reloaded((source, decoder_input)), logits, atol=1e-6
    )


@pytest.mark.parametrize(
    "pad_id, error, match",
    [
        # 1.5 masked nothing; None and "0" failed inside the backend.
        (1.5, TypeError, r"Received: pad_id=1.5 of type float"),
        (None, TypeError, r"Received: pad_id=None of type NoneType"),
        ("0", TypeError, r"Received: pad_id='0' of type str"),
        (True, TypeError, r"Received: pad_id=True of type bool"),
        (np.float32(0), TypeError, r"of type float32"),
        (-1, ValueError, r"a non-negative int \(a token id\). Received: "
                         r"pad_id=-1"),
    ],
)
@pytest.mark.parametrize(
    "cls", [kb.MaskedSparseCategoricalCrossentropy, kb.MaskedTokenAccuracy]
)
def test_loss_and_accuracy_check_pad_id(cls, pad_id, error, match):
    with pytest.raises(error, match=rf"`pad_id` must be.*{match}.*"
                       r"Pass e.g. pad_id=0"):
        cls(pad_id=pad_id)


@pytest.mark.parametrize(
    "cls", [kb.MaskedSparseCategoricalCrossentropy, kb.MaskedTokenAccuracy]
)
def test_loss_and_accuracy_store_numpy_pad_id_as_int(cls):
    obj = cls(pad_id=np.int64(3))
    assert type(obj.pad_id) is int and obj.pad_id == 3
    json.dumps(obj.get_config())
    assert checks.assert_serialization_round_trip(obj).pad_id == 3
