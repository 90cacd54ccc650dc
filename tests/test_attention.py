"""BahdanauAttention: arguments, shapes, numbers, masking, saving, dtypes."""

import keras
import numpy as np
import pytest

import keras_bahdanau as kb
from tests import checks
from tests import reference

B, TQ, TV, DQ, DV, UNITS = 3, 4, 6, 5, 7, 8


def make_inputs(seed=0, rank=2, dtype="float32"):
    rng = np.random.RandomState(seed)
    shape = (B, DQ) if rank == 2 else (B, TQ, DQ)
    query = rng.normal(size=shape).astype(dtype)
    values = rng.normal(size=(B, TV, DV)).astype(dtype)
    mask = np.array(
        [[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]], bool
    )
    return query, values, mask


def randomise(layer, seed=1):
    """Non-default values for every weight (b_a and g start constant)."""
    rng = np.random.RandomState(seed)
    for variable in layer.weights:
        value = rng.normal(scale=0.5, size=tuple(variable.shape))
        variable.assign(value.astype(variable.dtype))


def built_layer(query, values, **kwargs):
    layer = kb.BahdanauAttention(UNITS, **kwargs)
    layer(query, values)
    randomise(layer)
    return layer


# ------------------------------------------------------------- arguments
@pytest.mark.parametrize("units", [0, -3, 2.5, True, None])
def test_units_must_be_positive_int(units):
    with pytest.raises(ValueError, match="`units` must be a positive int.*"
                       "e.g. units=128.*Received: units="):
        kb.BahdanauAttention(units)


def test_normalize_must_be_bool():
    with pytest.raises(TypeError, match="`normalize` must be a bool.*"
                       "Pass True or False"):
        kb.BahdanauAttention(4, normalize="yes")


@pytest.mark.parametrize("fn", ["entmax", 3])
def test_unknown_probability_fn(fn):
    with pytest.raises(ValueError, match="`probability_fn` must be one of.*"
                       "sparsemax.*Received.*Pass 'softmax'"):
        kb.BahdanauAttention(4, probability_fn=fn)


@pytest.mark.parametrize("query_shape", [(B,), (B, TQ, 2, DQ)])
def test_query_rank(query_shape):
    layer = kb.BahdanauAttention(UNITS)
    with pytest.raises(ValueError, match="`query` must have rank 2 or 3.*"
                       "Received.*Add or remove"):
        layer(np.ones(query_shape, "float32"), np.ones((B, TV, DV), "float32"))


def test_values_rank():
    layer = kb.BahdanauAttention(UNITS)
    with pytest.raises(ValueError, match="`values` must have rank 3.*"
                       "Received.*Add or remove"):
        layer(np.ones((B, DQ), "float32"), np.ones((B, DV), "float32"))


def test_batch_mismatch():
    layer = kb.BahdanauAttention(UNITS)
    with pytest.raises(ValueError, match="same batch size.*Received.*"
                       "Pass one query row per values row"):
        layer(np.ones((B + 1, DQ), "float32"),
              np.ones((B, TV, DV), "float32"))


def test_batch_mismatch_after_build():
    query, values, _ = make_inputs()
    layer = built_layer(query, values)
    with pytest.raises(ValueError, match="same batch size"):
        layer(query[:2], values)


@pytest.mark.parametrize("mask_shape", [(B, TV + 1), (B,), (B, TV, 1)])
def test_mask_shape_mismatch(mask_shape):
    query, values, _ = make_inputs()
    layer = built_layer(query, values)
    with pytest.raises(ValueError, match="`values_mask` must have shape.*"
                       "Received.*True for real tokens"):
        layer(query, values, values_mask=np.ones(mask_shape, bool))


@pytest.mark.parametrize("which", ["query", "values"])
def test_feature_size_must_match_the_built_layer(which):
    query, values, _ = make_inputs()
    layer = built_layer(query, values)
    if which == "query":
        query = np.ones((B, DQ + 1), "float32")
    else:
        values = np.ones((B, TV, DV - 1), "float32")
    with pytest.raises(ValueError, match=f"`{which}` must have last "
                       "dimension.*Received.*same sizes or use a new layer"):
        layer(query, values)


@pytest.mark.parametrize("keys_shape", [(B, TV, UNITS + 1), (B, TV + 1, UNITS),
                                        (B, UNITS)])
def test_keys_shape_mismatch(keys_shape):
    query, values, _ = make_inputs()
    layer = built_layer(query, values)
    with pytest.raises(ValueError, match="`keys` must have shape.*Received.*"
                       "precompute_keys"):
        layer(query, values, keys=np.ones(keys_shape, "float32"))


def test_precompute_keys_needs_built_layer():
    with pytest.raises(ValueError, match="needs a built layer.*build"):
        kb.BahdanauAttention(UNITS).precompute_keys(np.ones((B, TV, DV)))


# --------------------------------------------------------- initial values
@pytest.mark.parametrize("initializer", [
    "glorot_uniform",
    keras.initializers.GlorotUniform(),
    keras.initializers.RandomNormal(seed=3),
    keras.initializers.GlorotUniform(seed=keras.random.SeedGenerator(4)),
])
def test_w_a_u_a_and_v_a_start_from_their_own_draws(initializer):
    # Equal query and values sizes: with one shared draw W_a == U_a.
    layer = kb.BahdanauAttention(64, kernel_initializer=initializer)
    layer(np.zeros((B, 64), "float32"), np.zeros((B, TV, 64), "float32"))
    assert not np.array_equal(checks.to_numpy(layer.W_a),
                              checks.to_numpy(layer.U_a))
    checks.assert_initial_weights_independent(layer)


def test_seeded_initializer_gives_the_same_weights_every_time():
    def weights():
        layer = kb.BahdanauAttention(
            UNITS, kernel_initializer=keras.initializers.GlorotUniform(7))
        layer(np.zeros((B, DQ), "float32"), np.zeros((B, TV, DV), "float32"))
        return [checks.to_numpy(w) for w in layer.weights]

    keras.utils.set_random_seed(1)
    first = weights()
    keras.utils.set_random_seed(2)
    for a, b in zip(first, weights()):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------- shapes
@pytest.mark.parametrize("rank", [2, 3])
def test_symbolic_and_eager_shapes(rank):
    query, values, mask = make_inputs(rank=rank)
    layer = kb.BahdanauAttention(UNITS)

    def apply(q, v):
        return layer(q, v, return_attention_scores=True)

    q_in = keras.Input(query.shape[1:])
    v_in = keras.Input((None, DV))
    symbolic, eager = checks.assert_symbolic_matches_eager(
        apply, (q_in, v_in), (query, values)
    )
    expected_context = query.shape[:-1] + (DV,)
    expected_weights = query.shape[:-1] + (TV,)
    assert tuple(eager[0].shape) == expected_context
    assert tuple(eager[1].shape) == expected_weights
    assert tuple(symbolic[0].shape) == (None,) + expected_context[1:]
    context_only = layer(query, values)
    assert tuple(context_only.shape) == expected_context
    assert layer.compute_output_shape(query.shape, values.shape) == (
        expected_context
    )


# ---------------------------------------------------------------- numbers
@pytest.mark.parametrize("rank", [2, 3])
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("probability_fn", ["softmax", "sparsemax"])
@pytest.mark.parametrize("masked", [False, True])
def test_matches_reference(rank, normalize, probability_fn, masked):
    query, values, mask = make_inputs(rank=rank)
    layer = built_layer(
        query, values, normalize=normalize, probability_fn=probability_fn
    )
    values_mask = mask if masked else None
    context, weights = layer(
        query, values, values_mask=values_mask, return_attention_scores=True
    )
    expected_context, expected_weights = reference.layer_attention(
        layer, query, values, values_mask
    )
    np.testing.assert_allclose(checks.to_numpy(weights), expected_weights,
                               atol=1e-5, rtol=0)
    np.testing.assert_allclose(checks.to_numpy(context), expected_context,
                               atol=1e-5, rtol=0)
    if masked:
        padded = ~mask if rank == 2 else ~mask[:, None, :].repeat(TQ, 1)
        assert np.all(checks.to_numpy(weights)[padded] == 0.0)


def test_sparsemax_gives_exact_zeros_and_matches_reference():
    rng = np.random.RandomState(3)
    scores = rng.normal(scale=3.0, size=(5, 9)).astype("float32")
    out = checks.to_numpy(kb.sparsemax(scores))
    expected = reference.masked_sparsemax(scores)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert (out == 0).any()
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-6)


def test_callable_probability_fn():
    query, values, mask = make_inputs()

    def sharpen(scores):
        return keras.ops.softmax(2.0 * scores, axis=-1)

    layer = built_layer(query, values, probability_fn=sharpen)
    _, weights = layer(query, values, values_mask=mask,
                       return_attention_scores=True)
    scores = reference.additive_scores(
        query, values, *reference.attention_weights_of(layer)
    )
    expected = reference.masked_softmax(2.0 * scores, mask)
    np.testing.assert_allclose(checks.to_numpy(weights), expected, atol=1e-5)


def test_precomputed_keys_equal_recomputed():
    query, values, mask = make_inputs(rank=3)
    layer = built_layer(query, values, normalize=True)
    keys = layer.precompute_keys(values)
    U_a = reference.as_numpy(layer.U_a)
    np.testing.assert_allclose(checks.to_numpy(keys), values @ U_a,
                               atol=1e-5)
    a = layer(query, values, values_mask=mask, return_attention_scores=True)
    b = layer(query, values, keys=keys, values_mask=mask,
              return_attention_scores=True)
    checks.assert_same_outputs(a, b)


# ---------------------------------------------------------------- masking
@pytest.mark.parametrize("probability_fn", ["softmax", "sparsemax"])
def test_padding_values_do_not_matter(probability_fn):
    query, values, mask = make_inputs(rank=3)
    layer = built_layer(query, values, probability_fn=probability_fn)
    before = layer(query, values, values_mask=mask,
                   return_attention_scores=True)
    changed = values.copy()
    changed[~mask] = 1e4 * np.random.RandomState(5).normal(
        size=changed[~mask].shape)
    after = layer(query, changed, values_mask=mask,
                  return_attention_scores=True)
    checks.assert_same_outputs(before, after)


def test_appending_padding_changes_nothing():
    query, values, mask = make_inputs()
    layer = built_layer(query, values)
    context, weights = layer(query, values, values_mask=mask,
                             return_attention_scores=True)
    extra = np.random.RandomState(6).normal(size=(B, 3, DV))
    longer = np.concatenate([values, extra.astype("float32")], axis=1)
    longer_mask = np.concatenate([mask, np.zeros((B, 3), bool)], axis=1)
    context2, weights2 = layer(query, longer, values_mask=longer_mask,
                               return_attention_scores=True)
    weights2 = checks.to_numpy(weights2)
    assert np.all(weights2[:, TV:] == 0.0)
    np.testing.assert_allclose(weights2[:, :TV], checks.to_numpy(weights),
                               rtol=0, atol=1e-7)
    np.testing.assert_allclose(checks.to_numpy(context2),
                               checks.to_numpy(context), rtol=0, atol=1e-6)


def _embedding_model(layer, rank):
    ids = keras.Input((None,), dtype="int32")
    query = keras.Input((DQ,) if rank == 2 else (TQ, DQ))
    values = keras.layers.Embedding(20, DV, mask_zero=True, name="emb")(ids)
    outputs = layer(query, values, return_attention_scores=True)
    return keras.Model([ids, query], list(outputs))


@pytest.mark.parametrize("rank", [2, 3])
def test_automatic_keras_mask_equals_explicit_mask(rank):
    query, _, mask = make_inputs(rank=rank)
    ids = np.where(mask, np.arange(1, TV + 1)[None, :], 0).astype("int32")
    layer = kb.BahdanauAttention(UNITS)
    model = _embedding_model(layer, rank)
    randomise(layer)
    context, weights = model([ids, query])
    embeddings = reference.as_numpy(model.get_layer("emb").embeddings)
    values = embeddings[ids].astype("float32")
    expected = layer(query, values, values_mask=ids != 0,
                     return_attention_scores=True)
    checks.assert_same_outputs((context, weights), expected, atol=1e-6)
    assert np.all(checks.to_numpy(weights)[..., ~mask[-1]][-1] == 0.0)
    unmasked = layer(query, values, return_attention_scores=True)
    assert not np.allclose(checks.to_numpy(unmasked[1]),
                           checks.to_numpy(weights))


@pytest.mark.parametrize("probability_fn", ["softmax", "sparsemax"])
@pytest.mark.parametrize("rank", [2, 3])
def test_all_padding_row_gives_zeros(probability_fn, rank):
    query, values, mask = make_inputs(rank=rank)
    mask[1] = False
    layer = built_layer(query, values, probability_fn=probability_fn)
    context, weights = layer(query, values, values_mask=mask,
                             return_attention_scores=True)
    context, weights = checks.to_numpy(context), checks.to_numpy(weights)
    assert np.all(np.isfinite(context)) and np.all(np.isfinite(weights))
    assert np.all(weights[1] == 0.0) and np.all(context[1] == 0.0)
    np.testing.assert_allclose(weights[0].sum(-1), 1.0, atol=1e-6)


# -------------------------------------------------------------- gradients
@pytest.mark.parametrize("normalize", [False, True])
def test_gradient_matches_finite_differences(normalize):
    dtype = checks.gradient_dtype()
    query, values, mask = make_inputs(rank=3, dtype=dtype)
    layer = kb.BahdanauAttention(UNITS, normalize=normalize, dtype=dtype)
    layer(query, values)
    randomise(layer)

    def forward(call):
        return call(query, values, values_mask=mask)

    function, theta = checks.flat_weights_function(layer, forward)
    assert theta.dtype == np.dtype(dtype)
    checks.assert_gradient_matches_finite_differences(function, theta)


def test_gradient_wrt_values_is_zero_at_padding():
    query, values, mask = make_inputs(rank=2)
    layer = built_layer(query, values)

    def function(v):
        return keras.ops.sum(layer(query, v, values_mask=mask) ** 2)

    grad = checks.gradient(function, values)
    assert np.all(grad[~mask] == 0.0)
    assert np.all(np.abs(grad[mask]).sum(-1) > 0)


@pytest.mark.parametrize("fill", [np.inf, np.nan])
def test_non_finite_padding_values_leave_weight_gradients_unchanged(fill):
    query, values, mask = make_inputs(rank=2)
    layer = built_layer(query, values)

    def forward(values):
        def run(layer_call):
            return layer_call(query, values, values_mask=mask)
        return run

    clean = np.where(mask[:, :, None], values, 0.0).astype("float32")
    dirty = np.where(mask[:, :, None], values, fill).astype("float32")
    function, theta = checks.flat_weights_function(layer, forward(clean))
    dirty_function, _ = checks.flat_weights_function(layer, forward(dirty))
    theta = theta.astype("float32")
    expected = checks.gradient(function, theta)
    got = checks.gradient(dirty_function, theta)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


# ------------------------------------------- fused one-step attention
def _attend(layer, query, values, mask, fused):
    """`attend` as a decoder calls it (values zeroed at padding)."""
    if mask is not None:
        values = np.where(mask[:, :, None], values, 0.0).astype(values.dtype)
    keys = layer.precompute_keys(values)
    projected = keras.ops.matmul(query, layer.W_a)
    return layer.attend(projected, values, keys, mask, fused=fused)


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_fused_attend_matches_reference_and_unfused(normalize, masked):
    query, values, mask = make_inputs()
    mask = mask if masked else None
    layer = built_layer(query, values, normalize=normalize)
    fused = [checks.to_numpy(x) for x in _attend(layer, query, values, mask,
                                                  True)]
    plain = [checks.to_numpy(x) for x in _attend(layer, query, values, mask,
                                                  False)]
    expected = reference.layer_attention(layer, query, values, mask)
    for got, separate, want in zip(fused, plain, expected):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
        np.testing.assert_allclose(got, separate, atol=2e-6, rtol=0)
    if masked:
        assert np.all(fused[1][~mask] == 0.0)


def test_fused_attend_padding_and_all_padding_rows():
    query, values, mask = make_inputs()
    mask[1] = False
    layer = built_layer(query, values)
    context, weights = (checks.to_numpy(x) for x in _attend(
        layer, query, values, mask, True))
    assert np.all(np.isfinite(context)) and np.all(np.isfinite(weights))
    assert np.all(weights[1] == 0.0) and np.all(context[1] == 0.0)
    changed = values.copy()
    changed[~mask] = 1e4 * np.random.RandomState(5).normal(
        size=changed[~mask].shape)
    again = _attend(layer, query, changed, mask, True)
    checks.assert_same_outputs((context, weights), again)


def test_fused_attend_gradient_equals_unfused():
    query, values, mask = make_inputs()
    layer = built_layer(query, values)

    def loss(fused):
        def function(q):
            context, weights = _attend(layer, q, values, mask, fused)
            return keras.ops.sum(context**2) + keras.ops.sum(
                weights * keras.ops.arange(TV, dtype="float32"))
        return function

    np.testing.assert_allclose(
        checks.gradient(loss(True), query),
        checks.gradient(loss(False), query), atol=1e-5, rtol=0)


def test_fused_step_is_exact_in_float64():
    from keras_bahdanau.layers.fused_step import softmax_attention_step

    # float64 on TensorFlow; float32 elsewhere (`checks.gradient_dtype`).
    dtype = checks.gradient_dtype()
    atol = 1e-12 if dtype == "float64" else 1e-6
    rng = np.random.RandomState(3)
    query = rng.normal(size=(B, UNITS))
    keys = rng.normal(size=(B, TV, UNITS))
    values = rng.normal(size=(B, TV, DV))
    v_a = rng.normal(size=(UNITS, 1))
    mask = make_inputs()[2]
    values[~mask] = 0.0
    context, weights = softmax_attention_step(
        *(keras.ops.convert_to_tensor(x, dtype)
          for x in (query, keys, values)),
        keras.ops.convert_to_tensor(mask),
        keras.ops.convert_to_tensor(v_a, dtype),
    )
    scores = (np.tanh(query[:, None] + keys) @ v_a)[..., 0]
    expected = reference.masked_softmax(scores, mask)
    assert checks.dtype_name(weights) == dtype
    np.testing.assert_allclose(checks.to_numpy(weights), expected,
                               atol=atol, rtol=0)
    np.testing.assert_allclose(
        checks.to_numpy(context), np.einsum("bv,bvd->bd", expected, values),
        atol=atol, rtol=0)


def _xla_clusters(function):
    """Names of the XLA-compiled functions in `function`'s traced graph."""
    import tensorflow as tf

    graph = tf.function(function, autograph=False).get_concrete_function(
        tf.TensorSpec((2, 3), tf.float32)).graph.as_graph_def()
    return [f.signature.name for f in graph.library.function
            if f.attr["_XlaMustCompile"].b]


def test_fuse_compiles_with_xla_on_tensorflow_only():
    from keras_bahdanau.compilation import fuse
    from keras_bahdanau.compilation import unfused

    def function(x):
        return keras.ops.tanh(x) * 2.0

    fused = fuse(function)
    if checks.backend() != "tensorflow":
        assert fused is function
        return

    def caller(x):
        return fused(x) + 1.0

    assert len(_xla_clusters(caller)) == 1
    with unfused():
        assert _xla_clusters(caller) == []
    assert len(_xla_clusters(caller)) == 1  # the block restores fusion
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(checks.to_numpy(fused(x)), 2 * np.tanh(x),
                               atol=1e-6)


# ----------------------------------------------------------------- saving
def test_config_round_trip():
    layer = kb.BahdanauAttention(
        5, normalize=True, probability_fn="sparsemax",
        kernel_initializer="he_normal", name="att"
    )
    clone = checks.assert_config_round_trip(layer)
    assert clone.units == 5 and clone.normalize
    assert clone.probability_fn == "sparsemax"
    checks.assert_serialization_round_trip(layer)


def test_config_round_trip_with_registered_callable():
    layer = kb.BahdanauAttention(5, probability_fn=kb.sparsemax)
    clone = type(layer).from_config(layer.get_config())
    query, values, mask = make_inputs()
    layer(query, values)
    clone(query, values)
    clone.set_weights(layer.get_weights())
    checks.assert_same_outputs(
        layer(query, values, values_mask=mask),
        clone(query, values, values_mask=mask),
    )


@pytest.mark.parametrize("normalize", [False, True])
def test_save_and_reload_functional_model(tmp_path, normalize):
    query, _, mask = make_inputs(rank=3)
    ids = np.where(mask, np.arange(1, TV + 1)[None, :], 0).astype("int32")
    layer = kb.BahdanauAttention(UNITS, normalize=normalize,
                                 probability_fn="sparsemax")
    model = _embedding_model(layer, rank=3)
    randomise(layer)
    reloaded = checks.save_and_reload(model, tmp_path)
    checks.assert_same_outputs(model([ids, query]), reloaded([ids, query]))
    att = [lay for lay in reloaded.layers
           if isinstance(lay, kb.BahdanauAttention)][0]
    assert att.normalize == normalize and att.probability_fn == "sparsemax"


# ----------------------------------------------------------------- dtypes
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("probability_fn", ["softmax", "sparsemax"])
def test_mixed_precision(policy, probability_fn):
    keras.config.set_dtype_policy(policy)
    compute = policy.split("_")[1]
    query, values, mask = make_inputs(rank=3)
    mask[2] = False
    layer = kb.BahdanauAttention(UNITS, normalize=True,
                                 probability_fn=probability_fn)
    context, weights = layer(query, values, values_mask=mask,
                             return_attention_scores=True)
    assert checks.dtype_name(context) == compute
    assert checks.dtype_name(weights) == compute
    assert checks.dtype_name(layer.W_a) == "float32"
    checks.assert_finite(context, weights)
    assert np.all(checks.to_numpy(weights)[2] == 0)
    np.testing.assert_allclose(
        checks.to_numpy(keras.ops.cast(weights, "float32"))[:2].sum(-1),
        1.0, atol=2e-2)

    def function(q):
        out = layer(q, values, values_mask=mask)
        return keras.ops.sum(keras.ops.cast(out, "float32"))

    grad = checks.gradient(function, query)
    assert np.all(np.isfinite(grad)) and np.abs(grad).sum() > 0


def test_numpy_units_are_stored_as_an_int():
    # np.int64(4) was refused: "must be a positive int ... Received:
    # units=np.int64(4)".
    import json

    layer = kb.BahdanauAttention(np.int64(4))
    assert type(layer.units) is int and layer.units == 4
    json.dumps(layer.get_config())
