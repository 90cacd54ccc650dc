"""AttentiveDecoder: arguments, shapes, numbers vs the paper, step = call."""

import keras
import numpy as np
import pytest

import keras_bahdanau as kb
from tests import checks
from tests import reference

B, S, T, D, V, EMB, UNITS, ATT = 3, 6, 4, 8, 11, 6, 5, 4

CONFIGS = {
    "gru": dict(cell="gru"),
    "gru_paper_reset_maxout": dict(cell="gru", reset_after=False,
                                   maxout_units=3),
    "lstm": dict(cell="lstm"),
    "gru_no_attention": dict(cell="gru", attention=None),
    "lstm_no_attention_maxout": dict(cell="lstm", attention=None,
                                     maxout_units=3),
    "gru_mean_bridge_normalize": dict(bridge="mean", normalize=True),
    "gru_zeros_bridge_shallow": dict(bridge="zeros", deep_output=False),
    "sparsemax_reset_before": dict(probability_fn="sparsemax",
                                   reset_after=False),
}


def make_inputs(seed=0, dtype="float32"):
    rng = np.random.RandomState(seed)
    memory = rng.normal(size=(B, S, D)).astype(dtype)
    mask = np.array(
        [[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0]], bool
    )
    target_ids = rng.randint(1, V, size=(B, T)).astype("int32")
    return target_ids, memory, mask


def randomise(layer, seed=1):
    rng = np.random.RandomState(seed)
    for variable in layer.weights:
        value = rng.normal(scale=0.5, size=tuple(variable.shape))
        variable.assign(value.astype(variable.dtype))


def built_decoder(target_ids, memory, dtype=None, **kwargs):
    decoder = kb.AttentiveDecoder(V, EMB, UNITS, ATT, dtype=dtype, **kwargs)
    decoder(target_ids, memory)
    randomise(decoder)
    return decoder


# ------------------------------------------------------------- arguments
@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(vocab_size=0), "`vocab_size` must be a positive int.*"
         "vocab_size=8000"),
        (dict(embedding_dim=-1), "`embedding_dim` must be a positive int"),
        (dict(units=0), "`units` must be a positive int.*units=512"),
        (dict(attention_units=1.5), "`attention_units` must be a positive"),
        (dict(cell="rnn"), "`cell` must be one of \\['gru', 'lstm'\\].*"
         "Received: cell='rnn'.*Pick one of those"),
        (dict(attention="luong"), "`attention` must be one of.*"
         "Pick one of those"),
        (dict(bridge="forward"), "`bridge` must be one of.*'backward'.*"
         "Pick one of those"),
        (dict(dropout=1.0), "`dropout` must be a float in \\[0, 1\\).*"
         "dropout=0.1.*Received: dropout=1.0"),
        (dict(dropout=-0.1), "`dropout` must be a float in \\[0, 1\\)"),
        (dict(maxout_units=0), "`maxout_units` must be a positive int.*"
         "maxout_units=500"),
    ],
)
def test_bad_arguments(kwargs, pattern):
    args = dict(vocab_size=V, embedding_dim=EMB, units=UNITS,
                attention_units=ATT)
    args.update(kwargs)
    with pytest.raises(ValueError, match=pattern):
        kb.AttentiveDecoder(**args)


def test_target_ids_rank():
    _, memory, _ = make_inputs()
    decoder = kb.AttentiveDecoder(V, EMB, UNITS, ATT)
    with pytest.raises(ValueError, match="`target_ids` must have rank 2.*"
                       "Add or remove"):
        decoder(np.ones((B, T, 1), "int32"), memory)


def test_memory_rank():
    target_ids, memory, _ = make_inputs()
    decoder = kb.AttentiveDecoder(V, EMB, UNITS, ATT)
    with pytest.raises(ValueError, match="`memory` must have rank 3.*"
                       "Add or remove"):
        decoder(target_ids, memory[:, 0])


def test_memory_mask_rank():
    target_ids, memory, mask = make_inputs()
    decoder = built_decoder(target_ids, memory)
    with pytest.raises(ValueError, match="`memory_mask` must have rank 2"):
        decoder(target_ids, memory, memory_mask=mask[:, :, None])


@pytest.mark.parametrize("mask_shape", [(B, 1), (1, S), (B, S + 1)])
def test_memory_mask_shape(mask_shape):
    # (B, 1) and (1, S) used to broadcast silently over the memory.
    target_ids, memory, _ = make_inputs()
    decoder = built_decoder(target_ids, memory)
    with pytest.raises(ValueError, match="`memory_mask` must have shape "
                       f"\\(batch, memory_len\\) = \\({B}, {S}\\).*"
                       "True for real tokens"):
        decoder(target_ids, memory, memory_mask=np.ones(mask_shape, bool))


def test_memory_size_must_match_the_built_decoder():
    target_ids, memory, _ = make_inputs()
    decoder = built_decoder(target_ids, memory)
    with pytest.raises(ValueError, match=f"`memory` must have last dimension "
                       f"{D}.*memory of the same encoder"):
        decoder(target_ids, np.ones((B, S, D + 2), "float32"))


@pytest.mark.parametrize(
    "shape, pattern",
    [
        ((B, UNITS + 1), f"`initial_state` must have last dimension {UNITS}"),
        ((B + 1, UNITS), "`initial_state` and `memory` must have the same "
         "batch size"),
        ((UNITS,), "`initial_state` must have rank 2"),
    ],
)
def test_initial_state_shape(shape, pattern):
    target_ids, memory, _ = make_inputs()
    decoder = built_decoder(target_ids, memory)
    with pytest.raises(ValueError, match=pattern):
        decoder(target_ids, memory, initial_state=np.zeros(shape, "float32"))


@pytest.mark.parametrize(
    "ids, error, pattern",
    [
        (np.full((B, T), V), ValueError,
         f"`target_ids` must hold ids in \\[0, {V}\\)"),
        (np.full((B, T), -2), ValueError, "target_ids\\[0, 0\\]=-2"),
        (np.full((B, T), 1.5), TypeError,
         "`target_ids` must hold integer token ids"),
        (np.zeros((B, 0), "int32"), ValueError,
         "`target_ids` must have at least one time step"),
    ],
)
def test_bad_target_ids(ids, error, pattern):
    target_ids, memory, _ = make_inputs()
    decoder = built_decoder(target_ids, memory)
    with pytest.raises(error, match=pattern):
        decoder(ids, memory)


def test_empty_memory():
    target_ids, memory, _ = make_inputs()
    decoder = built_decoder(target_ids, memory)
    with pytest.raises(ValueError, match="`memory` must have at least one "
                       "time step"):
        decoder(target_ids, memory[:, :0])


@pytest.mark.parametrize("name", ["normalize", "deep_output", "reset_after"])
def test_flags_must_be_bool(name):
    # "no" used to act as True.
    with pytest.raises(TypeError, match=f"`{name}` must be a bool.*"
                       f"{name}='no'.*Pass True or False"):
        kb.AttentiveDecoder(V, EMB, UNITS, ATT, attention=None,
                            **{name: "no"})


def test_batch_mismatch():
    target_ids, memory, _ = make_inputs()
    decoder = built_decoder(target_ids, memory)
    with pytest.raises(ValueError, match="`target_ids` and `memory` must "
                       "have the same batch size.*Pass one target row"):
        decoder(target_ids[:2], memory)


def test_backward_bridge_needs_even_memory():
    target_ids, memory, _ = make_inputs()
    decoder = kb.AttentiveDecoder(V, EMB, UNITS, ATT)
    with pytest.raises(ValueError, match="even last dimension.*"
                       "bridge='mean'"):
        decoder(target_ids, memory[:, :, :7])


def test_initial_state_size_for_lstm():
    target_ids, memory, _ = make_inputs()
    decoder = built_decoder(target_ids, memory, cell="lstm")
    with pytest.raises(ValueError, match="`initial_state` must hold 2.*"
                       "\\[h, c\\] for LSTM"):
        decoder(target_ids, memory, initial_state=np.zeros((B, UNITS)))


# --------------------------------------------------------- initial values
@pytest.mark.parametrize("initializer", [
    "glorot_uniform",
    keras.initializers.GlorotUniform(),
    keras.initializers.RandomUniform(-0.1, 0.1, seed=5),
])
def test_every_kernel_starts_from_its_own_draw(initializer):
    # Before `initializers.distinct`, the input and context kernels were
    # one draw scaled, W_a == U_a, and an initializer instance gave the
    # bridge, maxout and logits kernels one draw too.
    decoder = kb.AttentiveDecoder(
        64, 64, 64, 64, maxout_units=64, kernel_initializer=initializer)
    decoder(np.ones((B, T), "int32"), np.zeros((B, S, 64), "float32"))
    checks.assert_initial_weights_independent(decoder)


# ----------------------------------------------------------------- shapes
@pytest.mark.parametrize("attention", ["bahdanau", None])
def test_symbolic_and_eager_shapes(attention):
    target_ids, memory, _ = make_inputs()
    decoder = kb.AttentiveDecoder(V, EMB, UNITS, ATT, attention=attention)

    def apply(ids, mem):
        return decoder(ids, mem, return_attention_scores=True)

    symbolic, eager = checks.assert_symbolic_matches_eager(
        apply,
        (keras.Input((None,), dtype="int32"), keras.Input((None, D))),
        (target_ids, memory),
    )
    assert tuple(eager[0].shape) == (B, T, V)
    assert tuple(eager[1].shape) == (B, T, S)
    assert tuple(symbolic[0].shape) == (None, None, V)
    assert checks.dtype_name(eager[0]) == "float32"
    assert tuple(decoder(target_ids, memory).shape) == (B, T, V)


# ---------------------------------------------------------------- numbers
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_matches_reference(name):
    target_ids, memory, mask = make_inputs()
    decoder = built_decoder(target_ids, memory, **CONFIGS[name])
    logits, alignments = decoder(
        target_ids, memory, memory_mask=mask, return_attention_scores=True
    )
    expected_logits, expected_alignments = reference.decoder_sequence(
        decoder, target_ids, memory, mask
    )
    np.testing.assert_allclose(checks.to_numpy(logits), expected_logits,
                               atol=1e-5, rtol=0)
    np.testing.assert_allclose(checks.to_numpy(alignments),
                               expected_alignments, atol=1e-5, rtol=0)


@pytest.mark.parametrize("bridge", ["backward", "mean"])
def test_bridge_of_left_padded_memory_matches_reference(bridge):
    # Left padding (keras.utils.pad_sequences' default) and a row that
    # starts with padding: the backward bridge reads the first real
    # position, not position 0.
    target_ids, memory, _ = make_inputs()
    mask = np.array(
        [[0, 0, 1, 1, 1, 1], [0, 1, 1, 0, 1, 1], [1, 1, 1, 1, 1, 1]], bool
    )
    decoder = built_decoder(target_ids, memory, bridge=bridge)
    logits = decoder(target_ids, memory, memory_mask=mask)
    expected, _ = reference.decoder_sequence(decoder, target_ids, memory,
                                             mask)
    np.testing.assert_allclose(checks.to_numpy(logits), expected,
                               atol=1e-5, rtol=0)


def test_first_step_is_scored_with_initial_state():
    """Paper order: alpha_1 uses s_0 = tanh(W_s h_1_backward + b)."""
    target_ids, memory, mask = make_inputs()
    decoder = built_decoder(target_ids, memory)
    _, alignments = decoder(target_ids, memory, memory_mask=mask,
                            return_attention_scores=True)
    s0 = np.tanh(reference.dense(
        decoder.bridge_layer, np.where(mask[:, :, None], memory, 0)[:, 0,
                                                                  D // 2:]))
    _, expected = reference.layer_attention(
        decoder.attention_layer, s0, memory, mask
    )
    np.testing.assert_allclose(checks.to_numpy(alignments)[:, 0], expected,
                               atol=1e-5)


def test_explicit_initial_state_is_used():
    target_ids, memory, mask = make_inputs()
    decoder = built_decoder(target_ids, memory)
    state, _ = decoder.prepare(memory, mask)
    a = decoder(target_ids, memory, memory_mask=mask)
    b = decoder(target_ids, memory, memory_mask=mask,
                initial_state=state[0])
    checks.assert_same_outputs(a, b, atol=1e-6)
    c = decoder(target_ids, memory, memory_mask=mask,
                initial_state=np.zeros((B, UNITS), "float32"))
    assert not np.allclose(checks.to_numpy(a), checks.to_numpy(c))


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_step_loop_equals_call(name):
    target_ids, memory, mask = make_inputs()
    decoder = built_decoder(target_ids, memory, **CONFIGS[name])
    logits, alignments = decoder(
        target_ids, memory, memory_mask=mask, return_attention_scores=True
    )
    state, cache = decoder.prepare(memory, mask)
    step_logits, step_weights = [], []
    for t in range(T):
        out, state, weights = decoder.step(target_ids[:, t], state, cache)
        step_logits.append(checks.to_numpy(out))
        step_weights.append(checks.to_numpy(weights))
    np.testing.assert_allclose(np.stack(step_logits, 1),
                               checks.to_numpy(logits), atol=1e-5, rtol=0)
    np.testing.assert_allclose(np.stack(step_weights, 1),
                               checks.to_numpy(alignments), atol=1e-6,
                               rtol=0)


# ---------------------------------------------------------------- masking
@pytest.mark.parametrize("name", ["gru", "gru_mean_bridge_normalize"])
def test_padding_values_do_not_matter(name):
    target_ids, memory, mask = make_inputs()
    decoder = built_decoder(target_ids, memory, **CONFIGS[name])
    before = decoder(target_ids, memory, memory_mask=mask,
                     return_attention_scores=True)
    changed = memory.copy()
    changed[~mask] = 100.0
    after = decoder(target_ids, changed, memory_mask=mask,
                    return_attention_scores=True)
    checks.assert_same_outputs(before, after)


def test_appending_memory_padding_changes_nothing():
    target_ids, memory, mask = make_inputs()
    decoder = built_decoder(target_ids, memory)
    logits, alignments = decoder(target_ids, memory, memory_mask=mask,
                                 return_attention_scores=True)
    longer = np.concatenate([memory, np.ones((B, 2, D), "float32")], 1)
    longer_mask = np.concatenate([mask, np.zeros((B, 2), bool)], 1)
    logits2, alignments2 = decoder(target_ids, longer,
                                   memory_mask=longer_mask,
                                   return_attention_scores=True)
    alignments2 = checks.to_numpy(alignments2)
    assert np.all(alignments2[:, :, S:] == 0)
    np.testing.assert_allclose(alignments2[:, :, :S],
                               checks.to_numpy(alignments), atol=1e-6,
                               rtol=0)
    np.testing.assert_allclose(checks.to_numpy(logits2),
                               checks.to_numpy(logits), atol=1e-5, rtol=0)


def test_automatic_keras_mask_equals_explicit_mask():
    target_ids, _, mask = make_inputs()
    source_ids = np.where(mask, np.arange(1, S + 1)[None], 0).astype("int32")
    src = keras.Input((None,), dtype="int32")
    tgt = keras.Input((None,), dtype="int32")
    memory = keras.layers.Embedding(20, D, mask_zero=True, name="emb")(src)
    decoder = kb.AttentiveDecoder(V, EMB, UNITS, ATT, bridge="mean")
    outputs = decoder(tgt, memory, return_attention_scores=True)
    model = keras.Model([src, tgt], list(outputs))
    randomise(decoder)
    auto = model([source_ids, target_ids])
    embedded = reference.as_numpy(model.get_layer("emb").embeddings)
    explicit = decoder(target_ids, embedded[source_ids].astype("float32"),
                       memory_mask=source_ids != 0,
                       return_attention_scores=True)
    checks.assert_same_outputs(auto, explicit, atol=1e-6)
    assert np.all(checks.to_numpy(auto[1])[~mask[:, None, :].repeat(T, 1)]
                  == 0)


@pytest.mark.parametrize("attention", ["bahdanau", None])
def test_all_padding_memory_row(attention):
    target_ids, memory, mask = make_inputs()
    mask[2] = False
    decoder = built_decoder(target_ids, memory, attention=attention)
    logits, alignments = decoder(target_ids, memory, memory_mask=mask,
                                 return_attention_scores=True)
    checks.assert_finite(logits, alignments)
    assert np.all(checks.to_numpy(alignments)[2] == 0)
    expected, _ = reference.decoder_sequence(decoder, target_ids, memory,
                                             mask)
    np.testing.assert_allclose(checks.to_numpy(logits), expected, atol=1e-5)


# -------------------------------------------------------------- gradients
@pytest.mark.parametrize("name", ["gru_paper_reset_maxout", "lstm",
                                  "gru_mean_bridge_normalize"])
def test_gradient_matches_finite_differences(name):
    dtype = checks.gradient_dtype()
    target_ids, memory, mask = make_inputs(dtype=dtype)
    decoder = built_decoder(target_ids, memory, dtype=dtype, **CONFIGS[name])

    def forward(call):
        return call(target_ids, memory, memory_mask=mask)

    function, theta = checks.flat_weights_function(decoder, forward)
    assert theta.dtype == np.dtype(dtype)
    checks.assert_gradient_matches_finite_differences(
        function, theta, num_checks=30
    )


# ----------------------------------------------------------------- saving
def test_config_round_trip():
    decoder = kb.AttentiveDecoder(
        V, EMB, UNITS, ATT, cell="lstm", attention=None, normalize=True,
        probability_fn="sparsemax", dropout=0.2, maxout_units=3,
        deep_output=False, bridge="mean", reset_after=False,
        kernel_initializer="he_normal", recurrent_initializer="zeros",
    )
    clone = checks.assert_config_round_trip(decoder)
    for key in ("cell", "attention", "maxout_units", "bridge",
                "reset_after", "dropout", "deep_output"):
        assert getattr(clone, key) == getattr(decoder, key)
    checks.assert_serialization_round_trip(decoder)


@pytest.mark.parametrize("name", ["gru_paper_reset_maxout", "lstm",
                                  "gru_no_attention"])
def test_save_and_reload_functional_model(tmp_path, name):
    target_ids, _, mask = make_inputs()
    source_ids = np.where(mask, np.arange(1, S + 1)[None], 0).astype("int32")
    src = keras.Input((None,), dtype="int32")
    tgt = keras.Input((None,), dtype="int32")
    memory = kb.BidirectionalEncoder(20, 5, D // 2, name="enc")(src)
    decoder = kb.AttentiveDecoder(V, EMB, UNITS, ATT, name="dec",
                                  **CONFIGS[name])
    outputs = decoder(tgt, memory, return_attention_scores=True)
    model = keras.Model([src, tgt], list(outputs))
    randomise(decoder)
    reloaded = checks.save_and_reload(model, tmp_path)
    checks.assert_same_outputs(model([source_ids, target_ids]),
                               reloaded([source_ids, target_ids]))
    assert reloaded.get_layer("dec").get_config() == decoder.get_config()


# ----------------------------------------------------------------- dtypes
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_mixed_precision(policy, cell):
    keras.config.set_dtype_policy(policy)
    target_ids, memory, mask = make_inputs()
    mask[2] = False
    decoder = kb.AttentiveDecoder(V, EMB, UNITS, ATT, cell=cell,
                                  maxout_units=3)
    logits, alignments = decoder(target_ids, memory, memory_mask=mask,
                                 return_attention_scores=True)
    assert checks.dtype_name(logits) == "float32"
    assert checks.dtype_name(decoder.input_kernel) == "float32"
    checks.assert_finite(logits, alignments)
    assert np.all(checks.to_numpy(alignments)[2] == 0)

    def function(mem):
        out = decoder(target_ids, mem, memory_mask=mask)
        return keras.ops.sum(keras.ops.cast(out, "float32") ** 2)

    grad = checks.gradient(function, memory)
    assert np.all(np.isfinite(grad)) and np.abs(grad).sum() > 0
    assert np.all(grad[~mask] == 0)


@pytest.mark.parametrize("config", ["gru", "gru_paper_reset_maxout", "lstm"])
def test_mixed_bfloat16_step_tracks_float32_and_scores_in_float32(config):
    # Same weights under both policies: the bf16 step stays within bf16
    # rounding of the float32 step, the attention math (keys, memory) runs
    # in float32, and the step kernels are cast once, in prepare.
    target_ids, memory, mask = make_inputs()
    exact = built_decoder(target_ids, memory, **CONFIGS[config])
    mixed = kb.AttentiveDecoder(V, EMB, UNITS, ATT, dtype="mixed_bfloat16",
                                **CONFIGS[config])
    mixed(target_ids, memory)
    mixed.set_weights(exact.get_weights())
    prev = target_ids[:, 0]
    results = []
    for decoder in (exact, mixed):
        state, cache = decoder.prepare(memory, mask)
        logits, _, weights = decoder.step(prev, state, cache)
        results.append((checks.to_numpy(logits), checks.to_numpy(weights)))
    assert checks.dtype_name(cache["keys"]) == "float32"
    assert checks.dtype_name(cache["memory"]) == "float32"
    assert checks.dtype_name(cache["kernels"]["state"]) == "bfloat16"
    assert checks.dtype_name(cache["kernels"]["output"][0]) == "bfloat16"
    (logits32, weights32), (logits16, weights16) = results
    scale = np.abs(logits32).max()
    np.testing.assert_allclose(logits16, logits32, atol=0.05 * scale)
    np.testing.assert_allclose(weights16, weights32, atol=0.03)
    assert np.all(weights16[~mask] == 0)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_bfloat16_cell_update_rounds_once(cell):
    # Under mixed_bfloat16 the gate math runs in float32 and only the new
    # state is rounded to bfloat16: the result is the exact update of the
    # bfloat16 inputs, rounded once (bfloat16 math rounds every
    # intermediate and lands several units of the last place away).
    from types import SimpleNamespace

    from keras_bahdanau.layers.recurrence import cell_update

    rng = np.random.default_rng(0)
    batch, units = 64, 32
    gates = 4 if cell == "lstm" else 3

    def bf16(shape, scale=1.0):
        x = keras.ops.cast(rng.normal(scale=scale, size=shape), "bfloat16")
        return x, checks.to_numpy(keras.ops.cast(x, "float64"))

    inputs, x_np = bf16((batch, gates * units), 2.0)
    h, h_np = bf16((batch, units))
    c, c_np = bf16((batch, units))
    bias, bias_np = bf16((gates * units,), 0.5)
    # h @ [I/2 | I/2 | ...] is exact in bfloat16, so the reference sees
    # the same recurrent product as the layer.
    kernel_np = 0.5 * np.tile(np.eye(units), (1, gates))
    recurrent = keras.ops.cast(h_np @ kernel_np, "bfloat16")
    layer = SimpleNamespace(cell=cell, reset_after=True)
    if cell == "gru":
        (new,) = cell_update(layer, inputs, recurrent, (h,),
                             {"recurrent_bias": bias})
        expected = reference.gru_step(x_np, h_np, kernel_np, bias_np)
    else:
        new, _ = cell_update(layer, inputs, recurrent, (h, c), {})
        expected, _ = reference.lstm_step(x_np, h_np, c_np, kernel_np)
    assert checks.dtype_name(new) == "bfloat16"
    got = checks.to_numpy(keras.ops.cast(new, "float64"))
    # One rounding to 8 significant bits: at most half a unit of the last
    # place, 2^-8 relative (a little more for float32 transcendentals).
    np.testing.assert_allclose(got, expected, rtol=2.0**-8 * 1.01, atol=1e-6)


# --------------------------------------------- hand-written loop gradient
MANUAL_BACKPROP = ["gru", "gru_mean_bridge_normalize",
                   "gru_zeros_bridge_shallow"]


def _training_loss(call, target_ids, memory, mask):
    # Uses the alignments too, so their gradient path is checked.
    logits, alignments = call(target_ids, memory, memory_mask=mask,
                              return_attention_scores=True, training=True)
    ramp = keras.ops.arange(S, dtype=alignments.dtype)
    return keras.ops.concatenate(
        [keras.ops.reshape(logits, (-1,)),
         keras.ops.reshape(alignments * ramp, (-1,))], axis=0
    )


@checks.needs_custom_gradient
@pytest.mark.parametrize("name", MANUAL_BACKPROP)
def test_manual_backprop_matches_finite_differences(name):
    dtype = checks.gradient_dtype()
    target_ids, memory, mask = make_inputs(dtype=dtype)
    mask[2] = False  # an all-padding row
    decoder = built_decoder(target_ids, memory, dtype=dtype, **CONFIGS[name])
    assert decoder._manual_backprop_applies(training=True)
    function, theta = checks.flat_weights_function(
        decoder, lambda call: _training_loss(call, target_ids, memory, mask)
    )
    checks.assert_gradient_matches_finite_differences(
        function, theta, num_checks=30
    )


@checks.needs_custom_gradient
@pytest.mark.parametrize("name", MANUAL_BACKPROP)
def test_manual_backprop_equals_automatic_differentiation(name):
    target_ids, memory, mask = make_inputs()
    mask[2] = False
    decoder = built_decoder(target_ids, memory, **CONFIGS[name])
    results = []
    for manual in (True, False):
        decoder.manual_backprop = manual
        assert decoder._manual_backprop_applies(training=True) == manual
        function, theta = checks.flat_weights_function(
            decoder,
            lambda call: _training_loss(call, target_ids, memory, mask),
        )
        theta = keras.ops.convert_to_tensor(theta.astype("float32"))
        value = checks.to_numpy(function(theta))
        results.append((value, checks.gradient(function, theta)))

        def of_memory(mem):
            out = _training_loss(decoder, target_ids, mem, mask)
            return keras.ops.sum(out * keras.ops.arange(out.shape[0],
                                                        dtype=out.dtype))

        results.append((None, checks.gradient(of_memory, memory)))
    (value, grad), (_, grad_memory) = results[0], results[1]
    (value_auto, grad_auto), (_, grad_memory_auto) = results[2], results[3]
    np.testing.assert_allclose(value, value_auto, rtol=1e-5)
    scale = np.abs(grad_auto).max()
    np.testing.assert_allclose(grad, grad_auto, atol=1e-5 * scale)
    scale = np.abs(grad_memory_auto).max()
    np.testing.assert_allclose(grad_memory, grad_memory_auto,
                               atol=1e-5 * scale)
    assert np.all(grad_memory[~mask] == 0)


@checks.needs_custom_gradient
def test_attention_backward_equals_automatic_differentiation():
    # One step of the hand-written backward's attention part against
    # autodiff of the forward step, with padding and an all-padding row.
    from keras_bahdanau.layers.fused_step import _softmax_attention_step
    from keras_bahdanau.layers.teacher_forcing import attention_backward

    rng = np.random.RandomState(3)
    _, memory, mask = make_inputs()
    mask[2] = False
    query = rng.normal(size=(B, ATT)).astype("float32")
    keys = rng.normal(size=(B, S, ATT)).astype("float32")
    vector = rng.normal(size=(ATT, 1)).astype("float32")
    dc = rng.normal(size=(B, D)).astype("float32")
    da_out = rng.normal(size=(B, S)).astype("float32")

    def loss(q, k, v):
        context, weights = _softmax_attention_step(q, k, memory, mask, v)
        return keras.ops.sum(context * dc) + keras.ops.sum(weights * da_out)

    _, weights = _softmax_attention_step(query, keys, memory, mask, vector)
    d_query, d_weighted, d_vector, d_scores = attention_backward(
        dc, da_out, weights, query, keys, memory, vector.T,
        np.zeros_like(keys), np.zeros_like(vector), np.zeros((B, S), "f4"),
    )
    d_keys = vector.T[None] * (
        checks.to_numpy(d_scores)[..., None] - checks.to_numpy(d_weighted)
    )
    expected = {
        "query": checks.gradient(lambda q: loss(q, keys, vector), query),
        "keys": checks.gradient(lambda k: loss(query, k, vector), keys),
        "vector": checks.gradient(lambda v: loss(query, keys, v), vector),
    }
    got = {"query": checks.to_numpy(d_query), "keys": d_keys,
           "vector": checks.to_numpy(d_vector)}
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, atol=1e-5, err_msg=name)
    assert np.all(d_keys[~mask] == 0) and np.any(d_keys != 0)


def test_manual_backprop_only_where_it_applies():
    target_ids, memory, _ = make_inputs()
    for kwargs in [dict(cell="lstm"), dict(reset_after=False),
                   dict(probability_fn="sparsemax"), dict(attention=None),
                   dict(dtype="mixed_float16")]:
        decoder = kb.AttentiveDecoder(V, EMB, UNITS, ATT, **kwargs)
        assert not decoder._manual_backprop_applies(training=True), kwargs
    # The bounded loop exists on TensorFlow only (JAX keeps scan).
    decoder = kb.AttentiveDecoder(V, EMB, UNITS, ATT, bounded_loop=True)
    assert decoder._manual_backprop_applies(training=True) == (
        keras.config.backend() == "jax"
    )
    decoder = kb.AttentiveDecoder(V, EMB, UNITS, ATT)
    assert not decoder._manual_backprop_applies(training=False)
    expected = keras.config.backend() in ("tensorflow", "jax")
    assert decoder._manual_backprop_applies(training=True) == expected
    # bfloat16: TensorFlow only (XLA on CPU crashed compiling it on JAX).
    decoder = kb.AttentiveDecoder(V, EMB, UNITS, ATT, dtype="mixed_bfloat16")
    assert decoder._manual_backprop_applies(training=True) == (
        keras.config.backend() == "tensorflow"
    )


def test_bounded_loop_decoder_trains_on_every_backend():
    # A decoder configured for TensorFlow's XLA (bounded_loop=True, also
    # in saved configs) must train where JAX cannot differentiate a
    # while_loop: there it keeps scan.
    if keras.config.backend() == "torch":
        pytest.skip("torch: no custom training loop needed here")
    target_ids, memory, _ = make_inputs()
    targets = keras.Input(shape=target_ids.shape[1:], dtype="int32")
    values = keras.Input(shape=memory.shape[1:])
    logits = kb.AttentiveDecoder(V, EMB, UNITS, ATT, bounded_loop=True)(
        targets, values
    )
    model = keras.Model([targets, values], logits)
    model.compile(optimizer="sgd",
                  loss=keras.losses.SparseCategoricalCrossentropy(True))
    history = model.fit([target_ids, memory], target_ids, epochs=2,
                        verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


@pytest.mark.parametrize("name", MANUAL_BACKPROP)
def test_manual_backprop_in_bfloat16_is_as_close_to_float32_as_autodiff(
    name,
):
    # Under mixed_bfloat16 the hand-written loop runs the GRU in bfloat16
    # and the attention in float32, as the step does: its loss and
    # gradients (weights and memory) must stay as close to float32 as
    # automatic differentiation of the step's loop does.
    target_ids, memory, mask = make_inputs()
    mask[2] = False
    exact = built_decoder(target_ids, memory, **CONFIGS[name])

    def value_and_gradients(decoder):
        function, theta = checks.flat_weights_function(
            decoder,
            lambda call: _training_loss(call, target_ids, memory, mask),
        )
        theta = keras.ops.convert_to_tensor(theta.astype("float32"))
        value = keras.ops.cast(
            _training_loss(decoder, target_ids, memory, mask), "float32"
        )

        def of_memory(mem):
            out = _training_loss(decoder, target_ids, mem, mask)
            return keras.ops.sum(out * keras.ops.arange(out.shape[0],
                                                        dtype=out.dtype))

        return (checks.to_numpy(value), checks.gradient(function, theta),
                checks.gradient(of_memory, memory))

    reference = value_and_gradients(exact)
    keras.config.set_dtype_policy("mixed_bfloat16")
    decoder = built_decoder(target_ids, memory, **CONFIGS[name])
    decoder.set_weights(exact.get_weights())
    if not decoder._manual_backprop_applies(training=True):
        pytest.skip("no hand-written bfloat16 gradient on this backend")
    results = []
    for manual in (True, False):
        decoder.manual_backprop = manual
        assert decoder._manual_backprop_applies(training=True) == manual
        results.append(value_and_gradients(decoder))

    def error(x, y):
        return np.abs(x - y).max() / np.abs(y).max()

    for manual, auto, exact_value, limit in zip(
        results[0], results[1], reference, (0.02, 0.05, 0.05)
    ):
        assert error(manual, exact_value) <= max(
            2 * error(auto, exact_value), limit
        )
    assert np.all(results[0][2][~mask] == 0)


def test_manual_backprop_trains_with_unknown_lengths():
    # A functional model with (None, None) inputs: the traced time and
    # source lengths are unknown (TensorFlow), and change between batches.
    target_in = keras.Input((None,), dtype="int32")
    memory_in = keras.Input((None, D))
    decoder = kb.AttentiveDecoder(V, EMB, UNITS, ATT, name="dec")
    model = keras.Model([target_in, memory_in],
                        decoder(target_in, memory_in))
    assert decoder._manual_backprop_applies(training=True) == (
        keras.config.backend() in ("tensorflow", "jax")
    )
    model.compile(optimizer="adam",
                  loss=kb.MaskedSparseCategoricalCrossentropy())
    rng = np.random.RandomState(0)
    for length, source_len in ((3, 5), (6, 2)):
        target_ids = rng.randint(1, V, size=(4, length)).astype("int32")
        memory = rng.normal(size=(4, source_len, D)).astype("float32")
        history = model.fit([target_ids, memory], target_ids, epochs=2,
                            verbose=0)
        assert np.all(np.isfinite(history.history["loss"]))


def test_numpy_sizes_are_stored_as_python_numbers():
    # np.int64 sizes were refused as "must be a positive int"; they are
    # kept as plain ints so that the config stays JSON.
    import json

    decoder = kb.AttentiveDecoder(
        np.int64(V), np.int32(EMB), np.int64(UNITS), np.int64(ATT),
        maxout_units=np.int64(3), dropout=np.float32(0.5),
    )
    config = decoder.get_config()
    for name in ("vocab_size", "embedding_dim", "units", "attention_units",
                 "maxout_units"):
        assert type(config[name]) is int, name
    assert type(config["dropout"]) is float and config["dropout"] == 0.5
    json.dumps(config)
