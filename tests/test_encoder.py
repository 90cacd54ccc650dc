"""BidirectionalEncoder: arguments, numbers, padding, mask, saving, dtypes."""

import keras
import numpy as np
import pytest

import keras_bahdanau as kb
from tests import checks
from tests import reference

VOCAB, EMB, UNITS = 15, 6, 5

IDS = np.array(
    [[3, 4, 5, 6, 7, 8], [9, 10, 11, 0, 0, 0], [12, 0, 0, 0, 0, 0]], "int32"
)


def built_encoder(ids=IDS, **kwargs):
    encoder = kb.BidirectionalEncoder(VOCAB, EMB, UNITS, **kwargs)
    encoder(ids)
    return encoder


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(vocab_size=0), "`vocab_size` must be a positive int"),
        (dict(embedding_dim=2.0), "`embedding_dim` must be a positive int"),
        (dict(units=-1), "`units` must be a positive int.*units=256"),
        (dict(cell="rnn"), "`cell` must be one of.*Pick one of those"),
        (dict(dropout=1.5), "`dropout` must be a float in \\[0, 1\\).*"
         "dropout=0.1"),
    ],
)
def test_bad_arguments(kwargs, pattern):
    args = dict(vocab_size=VOCAB, embedding_dim=EMB, units=UNITS)
    args.update(kwargs)
    with pytest.raises(ValueError, match=pattern):
        kb.BidirectionalEncoder(**args)


def test_token_ids_rank():
    encoder = kb.BidirectionalEncoder(VOCAB, EMB, UNITS)
    with pytest.raises(ValueError, match="`token_ids` must have rank 2.*"
                       "Add or remove"):
        encoder(IDS[:, :, None])


@pytest.mark.parametrize(
    "ids, error, pattern",
    [
        (np.array([[3, VOCAB]]), ValueError,
         f"`token_ids` must hold ids in \\[0, {VOCAB}\\).*"
         f"token_ids\\[0, 1\\]={VOCAB}.*\\[UNK\\]"),
        (np.array([[-1, 3]]), ValueError, "token_ids\\[0, 0\\]=-1"),
        (np.array([[3.0, 4.7]]), TypeError,
         "`token_ids` must hold integer token ids.*float.*astype"),
        (np.zeros((2, 0), "int32"), ValueError,
         "`token_ids` must have at least one time step.*\\(2, 0\\)"),
    ],
)
def test_bad_token_ids(ids, error, pattern):
    # Without the check, TensorFlow reads row -1 as the last row and JAX
    # gives NaN for an id past the table; floats were truncated.
    encoder = built_encoder()
    with pytest.raises(error, match=pattern):
        encoder(ids)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_symbolic_and_eager_shapes(cell):
    encoder = kb.BidirectionalEncoder(VOCAB, EMB, UNITS, cell=cell)
    symbolic, eager = checks.assert_symbolic_matches_eager(
        encoder, (keras.Input((None,), dtype="int32"),), (IDS,)
    )
    assert tuple(eager[0].shape) == (3, 6, 2 * UNITS)
    assert tuple(symbolic[0].shape) == (None, None, 2 * UNITS)
    assert encoder.compute_output_shape((3, 6)) == (3, 6, 2 * UNITS)


def test_matches_reference():
    encoder = built_encoder()
    memory = checks.to_numpy(encoder(IDS))
    expected, _ = reference.encoder(encoder, IDS)
    np.testing.assert_allclose(memory, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_memory_is_zero_at_padding(cell):
    encoder = built_encoder(cell=cell)
    memory = checks.to_numpy(encoder(IDS))
    assert np.all(memory[IDS == 0] == 0)
    assert np.all(np.abs(memory[IDS != 0]).sum(-1) > 0)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_appending_padding_changes_nothing(cell):
    encoder = built_encoder(cell=cell)
    memory = checks.to_numpy(encoder(IDS))
    longer = np.concatenate([IDS, np.zeros((3, 4), "int32")], axis=1)
    memory2 = checks.to_numpy(encoder(longer))
    np.testing.assert_allclose(memory2[:, :6], memory, atol=1e-6, rtol=0)
    assert np.all(memory2[:, 6:] == 0)


def _cudnn_accepts(mask):
    """Keras' cuDNN mask check: right-padded, no fully masked row."""
    lengths = mask.sum(axis=1)
    right_padded = mask == (np.arange(mask.shape[1])[None] < lengths[:, None])
    return bool(right_padded.all() and (lengths > 0).all())


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_keras_rnn_never_sees_a_fully_masked_row(monkeypatch, cell):
    # On a GPU the Keras RNN takes cuDNN, whose mask assert fails a
    # compiled call on a row of padding only; the output must not change.
    encoder = built_encoder(cell=cell)
    seen = []
    original = keras.layers.Bidirectional.call

    def spy(self, sequences, initial_state=None, mask=None, training=None):
        seen.append(checks.to_numpy(mask))
        return original(self, sequences, initial_state=initial_state,
                        mask=mask, training=training)

    monkeypatch.setattr(keras.layers.Bidirectional, "call", spy)
    ids = IDS.copy()
    ids[2] = 0  # a row of padding only
    memory = checks.to_numpy(encoder(ids))
    assert seen and all(_cudnn_accepts(m) for m in seen)
    assert np.all(memory[2] == 0)
    monkeypatch.setattr(keras.layers.Bidirectional, "call", original)
    np.testing.assert_array_equal(memory[:2], checks.to_numpy(encoder(ids[:2])))


def test_rnn_mask_of_unknown_length():
    from keras_bahdanau.layers.encoder import rnn_mask

    symbolic = rnn_mask(keras.Input((None,), dtype="bool"))
    assert tuple(symbolic.shape) == (None, None)
    mask = np.array([[True, True, False], [False, False, False]])
    np.testing.assert_array_equal(
        checks.to_numpy(rnn_mask(mask)),
        [[True, True, False], [True, False, False]])


def test_backward_half_of_first_position_is_backward_final_state():
    encoder = built_encoder()
    memory = checks.to_numpy(encoder(IDS))
    embeddings = reference.as_numpy(encoder.embedding.embeddings)
    cell = encoder.rnn.backward_layer.cell
    for row in range(IDS.shape[0]):
        real = IDS[row][IDS[row] != 0]
        x = embeddings[real][None]
        _, state = reference.keras_gru_sequence(
            x, np.ones((1, len(real)), bool), cell, go_backwards=True
        )
        np.testing.assert_allclose(memory[row, 0, UNITS:], state[0],
                                   atol=1e-5)
        # Forward half of the last real token: the forward final state.
        _, forward = reference.keras_gru_sequence(
            x, np.ones((1, len(real)), bool), encoder.rnn.forward_layer.cell
        )
        np.testing.assert_allclose(memory[row, len(real) - 1, :UNITS],
                                   forward[0], atol=1e-5)


def test_keras_mask_is_ids_not_pad():
    ids = np.where(IDS == 0, 7, IDS).astype("int32")
    ids[1, 3:] = 3
    encoder = kb.BidirectionalEncoder(VOCAB, EMB, UNITS, pad_id=3)
    inputs = keras.Input((None,), dtype="int32")
    memory = encoder(inputs)
    assert memory._keras_mask is not None
    mask = checks.to_numpy(encoder.compute_mask(ids))
    np.testing.assert_array_equal(mask, ids != 3)
    out = checks.to_numpy(encoder(ids))
    assert np.all(out[ids == 3] == 0)
    # Id 0 is a normal token when pad_id=3.
    assert np.all(np.abs(out[ids == 7]).sum(-1) > 0)


def test_mask_reaches_a_downstream_layer():
    ids = keras.Input((None,), dtype="int32")
    memory = kb.BidirectionalEncoder(VOCAB, EMB, UNITS)(ids)
    pooled = keras.layers.GlobalAveragePooling1D()(memory)
    model = keras.Model(ids, pooled)
    out = checks.to_numpy(model(IDS))
    full = checks.to_numpy(model.layers[1](IDS))
    expected = full.sum(1) / (IDS != 0).sum(1, keepdims=True)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_dropout_only_in_training():
    encoder = built_encoder(dropout=0.5)
    a = encoder(IDS, training=False)
    b = encoder(IDS, training=False)
    c = encoder(IDS, training=True)
    checks.assert_same_outputs(a, b)
    assert not np.allclose(checks.to_numpy(a), checks.to_numpy(c))


def test_config_round_trip():
    encoder = kb.BidirectionalEncoder(VOCAB, EMB, UNITS, cell="lstm",
                                      dropout=0.1, pad_id=2)
    clone = checks.assert_config_round_trip(encoder)
    assert (clone.cell, clone.pad_id, clone.dropout) == ("lstm", 2, 0.1)
    checks.assert_serialization_round_trip(encoder)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_save_and_reload_functional_model(tmp_path, cell):
    ids = keras.Input((None,), dtype="int32")
    memory = kb.BidirectionalEncoder(VOCAB, EMB, UNITS, cell=cell)(ids)
    model = keras.Model(ids, memory)
    reloaded = checks.save_and_reload(model, tmp_path)
    checks.assert_same_outputs(model(IDS), reloaded(IDS))


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy):
    keras.config.set_dtype_policy(policy)
    encoder = kb.BidirectionalEncoder(VOCAB, EMB, UNITS)
    memory = encoder(IDS)
    assert checks.dtype_name(memory) == policy.split("_")[1]
    assert checks.dtype_name(encoder.embedding.embeddings) == "float32"
    checks.assert_finite(memory)
    assert np.all(checks.to_numpy(keras.ops.cast(memory, "float32"))[
        IDS == 0] == 0)


# ------------------------------------ hand-written bidirectional GRU loop
# Padding at the end, in the middle (a masked step keeps the state in both
# directions) and a row with no real token.
MIXED_IDS = np.array(
    [[3, 4, 5, 6, 7, 8], [9, 0, 11, 12, 0, 0], [0, 0, 0, 0, 0, 0],
     [13, 14, 0, 0, 0, 0]], "int32"
)


def _fused_and_keras(encoder, function, training=True):
    results = []
    for fused in (True, False):
        encoder.fused_rnn = fused
        assert encoder._fused_rnn_applies(training=training) == fused
        results.append(function())
    encoder.fused_rnn = True
    return results


def _training_call(call, ids=MIXED_IDS):
    return call(ids, training=True)


@checks.needs_custom_gradient
def test_fused_rnn_equals_keras_layer():
    encoder = built_encoder(MIXED_IDS)
    fused, keras_layer = _fused_and_keras(
        encoder, lambda: checks.to_numpy(_training_call(encoder))
    )
    np.testing.assert_allclose(fused, keras_layer, atol=1e-6, rtol=0)
    assert np.all(fused[MIXED_IDS == 0] == 0)
    assert np.abs(fused[MIXED_IDS != 0]).min(axis=-1).max() > 0
    # And the reference of the paper's formulas.
    expected, _ = reference.encoder(encoder, MIXED_IDS)
    np.testing.assert_allclose(fused, expected, atol=1e-5, rtol=0)


@checks.needs_custom_gradient
def test_fused_rnn_gradient_equals_automatic_differentiation():
    encoder = built_encoder(MIXED_IDS)

    def value_and_gradient():
        function, theta = checks.flat_weights_function(
            encoder, _training_call
        )
        theta = keras.ops.convert_to_tensor(theta.astype("float32"))
        return checks.to_numpy(function(theta)), checks.gradient(
            function, theta
        )

    (value, gradient), (value_auto, gradient_auto) = _fused_and_keras(
        encoder, value_and_gradient
    )
    np.testing.assert_allclose(value, value_auto, rtol=1e-5)
    scale = np.abs(gradient_auto).max()
    np.testing.assert_allclose(gradient, gradient_auto, atol=1e-5 * scale)
    # Embedding rows of ids absent from the batch get no gradient.
    table = gradient[: VOCAB * EMB].reshape(VOCAB, EMB)
    unused = np.setdiff1d(np.arange(VOCAB), MIXED_IDS)
    assert np.all(table[unused] == 0)
    assert np.abs(table[np.unique(MIXED_IDS[MIXED_IDS > 0])]).min() > 0


@checks.needs_custom_gradient
def test_fused_rnn_matches_finite_differences():
    dtype = checks.gradient_dtype()
    encoder = kb.BidirectionalEncoder(VOCAB, EMB, UNITS, dtype=dtype)
    encoder(MIXED_IDS)
    assert encoder._fused_rnn_applies(training=True) == (dtype in (
        "float32", "float64"))
    function, theta = checks.flat_weights_function(encoder, _training_call)
    checks.assert_gradient_matches_finite_differences(
        function, theta, num_checks=30
    )


def test_fused_rnn_only_where_it_applies():
    encoder = kb.BidirectionalEncoder(VOCAB, EMB, UNITS)
    on_backend = keras.config.backend() in ("tensorflow", "jax")
    assert encoder._fused_rnn_applies(training=True) == on_backend
    assert not encoder._fused_rnn_applies(training=False)
    for kwargs in [dict(cell="lstm"), dict(dtype="mixed_float16")]:
        encoder = kb.BidirectionalEncoder(VOCAB, EMB, UNITS, **kwargs)
        assert not encoder._fused_rnn_applies(training=True), kwargs
    # bfloat16: TensorFlow only (XLA on CPU crashed compiling it on JAX),
    # and there in inference too.
    encoder = kb.BidirectionalEncoder(VOCAB, EMB, UNITS,
                                      dtype="mixed_bfloat16")
    for training in (True, False):
        assert encoder._fused_rnn_applies(training=training) == (
            keras.config.backend() == "tensorflow"
        )


def test_fused_rnn_in_bfloat16_is_as_close_to_float32_as_keras_layer():
    # Under mixed_bfloat16 the hand-written loop's products run in
    # bfloat16, as the Keras layer's do (its gate math in float32):
    # outputs and gradients must stay as close to the float32 ones as the
    # Keras layer's are.
    exact = built_encoder(MIXED_IDS)

    def value_and_gradient(encoder):
        function, theta = checks.flat_weights_function(
            encoder, _training_call
        )
        theta = keras.ops.convert_to_tensor(theta.astype("float32"))
        value = keras.ops.cast(_training_call(encoder), "float32")
        return checks.to_numpy(value), checks.gradient(function, theta)

    value32, gradient32 = value_and_gradient(exact)
    keras.config.set_dtype_policy("mixed_bfloat16")
    encoder = built_encoder(MIXED_IDS)
    encoder.set_weights(exact.get_weights())
    if not encoder._fused_rnn_applies(training=True):
        pytest.skip("no hand-written bfloat16 gradient on this backend")
    (value, gradient), (value_auto, gradient_auto) = _fused_and_keras(
        encoder, lambda: value_and_gradient(encoder)
    )

    def error(x, reference):
        return np.abs(x - reference).max() / np.abs(reference).max()

    assert np.all(value[MIXED_IDS == 0] == 0)
    assert error(value, value32) <= max(2 * error(value_auto, value32), 0.02)
    assert error(gradient, gradient32) <= max(
        2 * error(gradient_auto, gradient32), 0.05
    )


def test_bfloat16_inference_is_closer_to_float32_than_keras_layer():
    # In bfloat16 inference the hand-written forward runs (2x faster on the
    # benchmark encoder): float32 gate math, one rounding per state, so it
    # tracks float32 more closely than the Keras layer's bfloat16 math.
    exact = built_encoder(MIXED_IDS)
    value32 = checks.to_numpy(exact(MIXED_IDS))
    keras.config.set_dtype_policy("mixed_bfloat16")
    encoder = built_encoder(MIXED_IDS)
    encoder.set_weights(exact.get_weights())
    if not encoder._fused_rnn_applies(training=False):
        pytest.skip("no hand-written bfloat16 loop on this backend")

    def infer():
        value = encoder(MIXED_IDS, training=False)
        assert checks.dtype_name(value) == "bfloat16"
        return checks.to_numpy(keras.ops.cast(value, "float32"))

    fused, keras_layer = _fused_and_keras(encoder, infer, training=False)
    assert np.all(fused[MIXED_IDS == 0] == 0)
    error = np.abs(fused - value32).max()
    assert 0 < error <= np.abs(keras_layer - value32).max()


def test_fused_rnn_trains_with_unknown_lengths():
    # Functional model with (None, None) ids: unknown traced lengths on
    # TensorFlow, and two different lengths.
    ids_in = keras.Input((None,), dtype="int32")
    encoder = kb.BidirectionalEncoder(VOCAB, EMB, UNITS)
    model = keras.Model(ids_in, keras.layers.Dense(1)(encoder(ids_in)))
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.RandomState(0)
    before = [checks.to_numpy(w) for w in encoder.weights]
    for length in (3, 7):
        ids = rng.randint(0, VOCAB, size=(4, length)).astype("int32")
        target = rng.normal(size=(4, length, 1)).astype("float32")
        history = model.fit(ids, target, epochs=2, verbose=0)
        assert np.all(np.isfinite(history.history["loss"]))
    after = [checks.to_numpy(w) for w in encoder.weights]
    assert all(not np.allclose(a, b) for a, b in zip(before, after))


def test_numpy_sizes_are_stored_as_python_numbers():
    # np.int64(6) was refused as "must be a positive int", np.float32(0.25)
    # as "must be a float"; both are kept as plain numbers (JSON config).
    import json

    encoder = kb.BidirectionalEncoder(
        np.int64(VOCAB), np.int32(EMB), np.int64(UNITS),
        dropout=np.float32(0.25),
    )
    config = encoder.get_config()
    for name in ("vocab_size", "embedding_dim", "units"):
        assert type(config[name]) is int, name
    assert type(config["dropout"]) is float and config["dropout"] == 0.25
    json.dumps(config)
    with pytest.raises(ValueError, match="`units` must be a positive int"):
        kb.BidirectionalEncoder(VOCAB, EMB, np.bool_(True))
    with pytest.raises(ValueError, match="`dropout` must be a float"):
        kb.BidirectionalEncoder(VOCAB, EMB, UNITS, dropout=True)
