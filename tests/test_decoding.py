"""Tests for greedy search, beam search and sampling.

Two kinds of models drive the searches:

- `ScriptedModel`: a fake model implementing the step contract
  (`encode`, `decode_step`, `pad_id`, `start_id`, `end_id`) whose next-token
  distribution is read from a table keyed by readable prefixes ("", "a",
  "ab", ...), as in the keras-hub sampler tests. Expected scores are
  computed by hand from the same table.
- a tiny random `AttentionSeq2Seq` with a peaked output layer, checked
  against its own teacher-forced logits and against brute-force search.
"""

import itertools
import math

import keras
import numpy as np
import pytest
from keras import ops

import keras_bahdanau as kb
from keras_bahdanau import decoding
from keras_bahdanau.decoding import topk

PAD, START, END = 0, 1, 2
# Readable names of the scripted vocabulary (ids 0..5).
NAMES = ["<pad>", "<s>", "</s>", "a", "b", "c"]
IDS = {name: i for i, name in enumerate(NAMES)}
# Probability given to tokens a table row does not mention.
FLOOR = 1e-9
LARGE_NEGATIVE = -1e9


def token_id(name: str) -> int:
    """Id of one token name; "$" is the end token."""
    return END if name == "$" else IDS[name]


def ids(text: str) -> "list[int]":
    """Token ids of a string of one-letter tokens; "$" is the end token."""
    return [token_id(ch) for ch in text]


class ScriptedModel:
    """A fake step model whose distributions come from a prefix table.

    Args:
        table: maps a prefix string of emitted tokens ("" first step,
            "ab" after a then b; "$" is end_id) to a dict
            `{token_name_or_"$": probability}`. Unlisted tokens get
            `FLOOR`; each row is normalised over the full vocabulary.
        default: the distribution of prefixes missing from the table.
        attention: optional `{prefix: weights}` with one weight per source
            position; the default spreads weight evenly over real tokens.
        depth: the longest prefix the table may name.
        logits: optional `{prefix: {token: logit}}` of raw logits that
            replace the rows above (for pad/start logit tests).
    """

    pad_id, start_id, end_id = PAD, START, END
    vocab = len(NAMES)

    def __init__(
        self,
        table: dict,
        default: "dict | None" = None,
        attention: "dict | None" = None,
        depth: int = 4,
        logits: "dict | None" = None,
    ):
        self.size = (self.vocab + 1) ** (depth + 1)
        default = default or {"$": 1.0}
        rows = np.tile(self._row(default), (self.size + 1, 1))
        for prefix, probs in table.items():
            rows[self.code(prefix)] = self._row(probs)
        for prefix, values in (logits or {}).items():
            row = np.zeros(self.vocab)
            for name, value in values.items():
                row[token_id(name)] = value
            rows[self.code(prefix)] = row - _logsumexp(row)
        self.log_probs = rows  # float64 (size + 1, vocab), log-softmaxed
        self.attention = attention or {}

    def _row(self, probs: dict) -> np.ndarray:
        row = np.full(self.vocab, FLOOR)
        for name, p in probs.items():
            row[token_id(name)] = p
        return np.log(row / row.sum())

    def code(self, prefix: str) -> int:
        """Index of a prefix (start token included) in the table."""
        code = 0
        for token in [START] + ids(prefix):
            code = code * (self.vocab + 1) + token + 1
        return code

    def log_prob(self, tokens) -> float:
        """Sum of log-probabilities of `tokens` (stops after end_id)."""
        total, prefix = 0.0, ""
        for token in tokens:
            total += self.log_probs[self.code(prefix)][token]
            if token == END:
                break
            prefix += "$" if token == END else NAMES[token]
        return total

    def encode(self, source_ids):
        source_ids = ops.convert_to_tensor(source_ids, "int32")
        batch = ops.shape(source_ids)[0]
        state = (ops.zeros((batch,), "int32"),)
        return state, {"memory_mask": ops.not_equal(source_ids, PAD)}

    def decode_step(self, prev_ids, state, cache):
        size = self.size
        code = ops.minimum(state[0], size) * (self.vocab + 1) + prev_ids + 1
        code = ops.minimum(code, size)
        logits = ops.take(
            ops.convert_to_tensor(self.log_probs, "float32"), code, axis=0
        )
        mask = ops.cast(cache["memory_mask"], "float32")
        weights = mask / ops.maximum(ops.sum(mask, axis=1, keepdims=True), 1)
        if self.attention:
            source_len = mask.shape[1]
            table = np.zeros((size + 1, source_len), "float32")
            known = np.zeros((size + 1, 1), "float32")
            for prefix, values in self.attention.items():
                table[self.code(prefix)] = values
                known[self.code(prefix)] = 1.0
            scripted = ops.take(ops.convert_to_tensor(table), code, axis=0)
            use = ops.take(ops.convert_to_tensor(known), code, axis=0)
            weights = use * scripted + (1.0 - use) * weights
        return logits, (code,), weights


def _logsumexp(row: np.ndarray) -> float:
    top = row.max()
    return top + math.log(np.exp(row - top).sum())


def run_search(
    model,
    source,
    strategy: str,
    max_length: int,
    seed: "int | None" = None,
    return_alignments: bool = False,
    **settings,
) -> dict:
    """Runs a strategy on any step model, as `generate` does."""
    search = decoding.get(strategy, **settings)
    source = ops.convert_to_tensor(np.asarray(source), "int32")
    noise = search.noise(source.shape[0], max_length, seed)
    outputs = search(
        model, source, max_length, noise=noise,
        return_alignments=return_alignments,
    )
    return {k: ops.convert_to_numpy(v) for k, v in outputs.items()}


def one_source(batch: int = 1) -> np.ndarray:
    """A source of two real tokens and one pad per row."""
    return np.tile(np.array([[3, 4, 0]]), (batch, 1))


# ------------------------------------------------------- tiny random model
def tiny_model(target_vocab: int = 6, scale: float = 5.0, seed: int = 9):
    """A built tiny model with NumPy-drawn weights and peaked next-token
    distributions.

    The weights come from NumPy, not from the backend's generator (torch
    draws other numbers on a GPU than on the CPU), so every backend and
    device tests the same model. Kernels are uniform in
    +-sqrt(6 / (fan_in + fan_out)) (Keras' default), biases stay zero,
    embeddings are uniform in +-1 (Keras' +-0.05, scaled by 20, so that
    logits are not near-uniform) and the output kernel is scaled by
    `scale`: first-step logits then spread over several nats.
    """
    model = kb.build_model(9, target_vocab, preset="tiny")
    model((np.array([[3, 4]]), np.array([[START, 3]])))
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape = tuple(variable.shape)
        if variable.path.endswith("bias"):
            continue
        if variable.path.endswith("embeddings"):
            limit = 1.0
        else:
            fan_in, fan_out = (shape[0], shape[-1]) if len(shape) > 1 else (
                shape[0], 1)
            limit = np.sqrt(6.0 / (fan_in + fan_out))
        values = rng.uniform(-limit, limit, shape)
        if variable is model.decoder.output_layer.kernel:
            values = values * scale
        variable.assign(values.astype(variable.dtype))
    return model


@pytest.fixture(scope="module")
def model():
    # Seed 123: within 6 steps, greedy outputs end at step 2, at step 4 and
    # not at all; beam outputs at step 2 and not at all.
    return tiny_model(seed=123)


SOURCE = np.array([[3, 4, 5, 6], [7, 8, 0, 0], [5, 3, 8, 0]])


def teacher_forced_log_probs(model, source, tokens) -> np.ndarray:
    """float64 `(n, L, vocab)` log-softmax of teacher-forced logits."""
    tokens = np.asarray(tokens)
    target_in = np.concatenate(
        [np.full((len(tokens), 1), START), tokens[:, :-1]], axis=1
    )
    logits = model((np.asarray(source), target_in))
    logits = ops.convert_to_numpy(logits).astype("float64")
    top = logits.max(axis=-1, keepdims=True)
    shifted = logits - top
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def emitted_length(row) -> int:
    """Tokens up to and including the first end_id (all when none)."""
    row = list(row)
    return row.index(END) + 1 if END in row else len(row)


def teacher_forced_scores(model, source, tokens) -> np.ndarray:
    """Sum of teacher-forced log-probs of each row's emitted tokens."""
    log_probs = teacher_forced_log_probs(model, source, tokens)
    scores = []
    for row, lp in zip(np.asarray(tokens), log_probs):
        n = emitted_length(row)
        scores.append(sum(lp[i, row[i]] for i in range(n)))
    return np.array(scores)


def check_tail_is_padding(tokens) -> None:
    """Tokens after the first end_id are pad_id; no pad/start before."""
    for row in np.asarray(tokens):
        n = emitted_length(row)
        assert not np.isin(row[:n], [PAD, START]).any(), row
        assert (row[n:] == PAD).all(), row


def gnmt_length_penalty(length: int, alpha: float) -> float:
    return ((5.0 + length) / 6.0) ** alpha


def all_hypotheses(vocab: int, max_length: int) -> "list[list[int]]":
    """Every output a search may return: ends with end_id, or is full."""
    words = [t for t in range(vocab) if t not in (PAD, START, END)]
    hyps = []
    for n in range(0, max_length):
        for prefix in itertools.product(words, repeat=n):
            hyps.append(list(prefix) + [END])
    for full in itertools.product(words, repeat=max_length):
        hyps.append(list(full))
    return hyps


# ------------------------------------------------------------- brute force
@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_beam_search_matches_brute_force(alpha):
    vocab, max_length = 6, 4
    model = tiny_model(vocab)
    hyps = all_hypotheses(vocab, max_length)
    assert len(hyps) == 40 + 81
    padded = np.array([h + [PAD] * (max_length - len(h)) for h in hyps])
    lengths = np.array([len(h) for h in hyps])
    out = model.generate(
        SOURCE, max_length=max_length, strategy="beam",
        beam_size=len(hyps), length_penalty=alpha,
    )
    for b, source in enumerate(SOURCE):
        sources = np.tile(source, (len(hyps), 1))
        scores = teacher_forced_scores(model, sources, padded)
        scores = scores / gnmt_length_penalty(lengths, alpha)
        best = int(np.argmax(scores))
        # The brute-force optimum must be unique for the check to mean
        # something, and the peaked model should make it clear.
        runner_up = np.sort(scores)[-2]
        assert scores[best] - runner_up > 1e-3
        np.testing.assert_array_equal(out["tokens"][b], padded[best])
        np.testing.assert_allclose(out["scores"][b], scores[best], atol=1e-4)


def test_brute_force_optimum_differs_from_greedy_somewhere():
    # Guards the brute-force test: the scaled random model must be
    # non-trivial, i.e. greedy search is not optimal on every row.
    model = tiny_model()
    greedy = model.generate(SOURCE, max_length=4)
    beam = model.generate(SOURCE, max_length=4, strategy="beam",
                          beam_size=121)
    assert (beam["scores"] >= greedy["scores"] - 1e-5).all()
    assert (beam["scores"] > greedy["scores"] + 1e-3).any()


# ------------------------------------------- equivalences on a tiny model
def test_beam_size_one_is_greedy(model):
    greedy = model.generate(SOURCE, max_length=6)
    beam = model.generate(SOURCE, max_length=6, strategy="beam",
                          beam_size=1)
    np.testing.assert_array_equal(beam["tokens"], greedy["tokens"])
    np.testing.assert_allclose(beam["scores"], greedy["scores"], atol=1e-5)


def test_top_k_one_sampling_is_greedy(model):
    greedy = model.generate(SOURCE, max_length=6)
    sampled = model.generate(SOURCE, max_length=6, strategy="sampling",
                             top_k=1, seed=4)
    np.testing.assert_array_equal(sampled["tokens"], greedy["tokens"])
    np.testing.assert_allclose(sampled["scores"], greedy["scores"],
                               atol=1e-5)


def test_greedy_tokens_are_teacher_forced_argmax(model):
    out = model.generate(SOURCE, max_length=6)
    log_probs = teacher_forced_log_probs(model, SOURCE, out["tokens"])
    log_probs[..., [PAD, START]] = -np.inf
    for row, lp in zip(out["tokens"], log_probs):
        n = emitted_length(row)
        np.testing.assert_array_equal(row[:n], lp[:n].argmax(axis=-1))


@pytest.mark.parametrize(
    "settings",
    [
        {"strategy": "greedy"},
        {"strategy": "beam", "beam_size": 3},
        {"strategy": "sampling", "seed": 7},
        {"strategy": "sampling", "seed": 7, "temperature": 1.7, "top_k": 4},
    ],
    ids=["greedy", "beam", "sampling", "sampling_filtered"],
)
def test_scores_are_teacher_forced_log_probs(model, settings):
    out = model.generate(SOURCE, max_length=6, **settings)
    check_tail_is_padding(out["tokens"])
    expected = teacher_forced_scores(model, SOURCE, out["tokens"])
    np.testing.assert_allclose(out["scores"], expected, atol=1e-4)
    if settings["strategy"] == "beam":
        # Every entry of the n-best list is scored the same way.
        for k in range(3):
            tokens = out["beam_tokens"][:, k]
            real = out["beam_scores"][:, k] > LARGE_NEGATIVE / 2
            expected = teacher_forced_scores(model, SOURCE, tokens)
            np.testing.assert_allclose(
                out["beam_scores"][:, k][real], expected[real], atol=1e-4
            )
        assert (np.diff(out["beam_scores"], axis=1) <= 1e-6).all()


def test_same_seed_same_samples_other_seed_other_samples():
    flat = {"a": 0.25, "b": 0.25, "c": 0.25, "$": 0.25}
    scripted = ScriptedModel({}, default=flat)
    source = one_source(64)
    first = run_search(scripted, source, "sampling", 5, seed=11)
    again = run_search(scripted, source, "sampling", 5, seed=11)
    other = run_search(scripted, source, "sampling", 5, seed=12)
    np.testing.assert_array_equal(first["tokens"], again["tokens"])
    assert (first["tokens"] != other["tokens"]).any()
    # The flat distribution really is sampled: every token shows up.
    assert set(np.unique(first["tokens"][:, 0])) == {2, 3, 4, 5}


def test_same_seed_same_samples_on_model(model):
    a = model.generate(SOURCE, max_length=6, strategy="sampling", seed=3)
    b = model.generate(SOURCE, max_length=6, strategy="sampling", seed=3)
    np.testing.assert_array_equal(a["tokens"], b["tokens"])
    np.testing.assert_array_equal(a["scores"], b["scores"])


# ---------------------------------------------------- scripted behaviours
@pytest.mark.parametrize(
    "settings",
    [
        {"strategy": "greedy"},
        {"strategy": "beam", "beam_size": 4},
        {"strategy": "sampling", "seed": 1},
    ],
    ids=["greedy", "beam", "sampling"],
)
def test_pad_and_start_never_emitted(settings):
    # pad and start hold almost all the probability mass at every step.
    logits = {"<pad>": 10.0, "<s>": 9.0, "a": 1.0, "b": 0.5, "$": 0.0}
    prefixes = [""] + ["".join(p) for n in (1, 2)
                       for p in itertools.product("ab", repeat=n)]
    scripted = ScriptedModel({}, logits={p: logits for p in prefixes})
    strategy = settings.pop("strategy")
    out = run_search(scripted, one_source(32), strategy, 3, **settings)
    tokens = out["tokens"]
    assert not np.isin(tokens[:, 0], [PAD, START]).any()
    check_tail_is_padding(tokens)
    # Scores still use the full-vocabulary log-softmax.
    expected = [scripted.log_prob(row) for row in tokens]
    np.testing.assert_allclose(out["scores"], expected, atol=1e-4)
    assert (out["scores"] < -8.0).all()


def test_tokens_after_end_are_padding():
    scripted = ScriptedModel(
        {"": {"a": 0.9, "$": 0.1}, "a": {"$": 0.9, "b": 0.1}},
        default={"a": 1.0},
    )
    for strategy in ("greedy", "beam"):
        out = run_search(scripted, one_source(2), strategy, 6)
        np.testing.assert_array_equal(
            out["tokens"], [ids("a$") + [PAD] * 4] * 2
        )
        np.testing.assert_allclose(
            out["scores"], math.log(0.9 * 0.9), atol=1e-5
        )


def _sample_first_tokens(scripted, n: int = 4000, **settings) -> np.ndarray:
    out = run_search(scripted, one_source(n), "sampling", 1, seed=5,
                     **settings)
    return out["tokens"][:, 0]


def _frequencies(tokens, vocab: int = 6) -> np.ndarray:
    return np.bincount(tokens, minlength=vocab) / len(tokens)


def test_temperature_sharpens_and_flattens():
    probs = np.array([0.5, 0.3, 0.15, 0.05])  # a, b, c, end
    scripted = ScriptedModel(
        {"": {"a": 0.5, "b": 0.3, "c": 0.15, "$": 0.05}}
    )
    top = []
    for temperature in (0.5, 1.0, 2.0):
        tokens = _sample_first_tokens(scripted, temperature=temperature)
        freq = _frequencies(tokens)[[3, 4, 5, 2]]
        tempered = probs ** (1.0 / temperature)
        np.testing.assert_allclose(freq, tempered / tempered.sum(),
                                   atol=0.04)
        top.append(freq[0])
    assert top[0] > top[1] + 0.1 > top[2] + 0.2


def test_top_p_keeps_smallest_nucleus():
    scripted = ScriptedModel(
        {"": {"a": 0.5, "b": 0.3, "c": 0.15, "$": 0.05}}
    )
    tokens = _sample_first_tokens(scripted, top_p=0.7)
    assert set(np.unique(tokens)) == {IDS["a"], IDS["b"]}
    share_a = np.mean(tokens == IDS["a"])
    assert abs(share_a - 0.5 / 0.8) < 0.04
    # A nucleus just above 0.8 must take the third token in.
    tokens = _sample_first_tokens(scripted, top_p=0.85)
    assert set(np.unique(tokens)) == {IDS["a"], IDS["b"], IDS["c"]}


def test_top_k_samples_only_top_k():
    scripted = ScriptedModel(
        {"": {"a": 0.3, "b": 0.4, "c": 0.2, "$": 0.1}}
    )
    tokens = _sample_first_tokens(scripted, top_k=2)
    assert set(np.unique(tokens)) == {IDS["a"], IDS["b"]}
    assert abs(np.mean(tokens == IDS["b"]) - 0.4 / 0.7) < 0.04


@pytest.mark.parametrize("settings", [{"top_k": 2}, {"top_p": 0.5}],
                         ids=["top_k", "top_p"])
def test_filters_keep_the_lowest_ids_when_logits_tie(settings):
    # a, b and c tie at 0.3: top_k=2 keeps the two lowest ids, as top_k
    # does, and so does a nucleus of 0.5, which needs two of them (not the
    # whole tied group).
    scripted = ScriptedModel(
        {"": {"a": 0.3, "b": 0.3, "c": 0.3, "$": 0.1}}
    )
    tokens = _sample_first_tokens(scripted, **settings)
    assert set(np.unique(tokens)) == {IDS["a"], IDS["b"]}
    assert abs(np.mean(tokens == IDS["a"]) - 0.5) < 0.04
    if "top_p" in settings:
        # A nucleus the first token fills alone keeps that token only.
        tokens = _sample_first_tokens(scripted, top_p=0.2)
        assert set(np.unique(tokens)) == {IDS["a"]}


def test_top_k_one_sampling_is_greedy_when_logits_tie():
    # a and b tie for the best first token: greedy takes a (lowest id),
    # and so must top_k=1 sampling, for every row and seed.
    scripted = ScriptedModel(
        {"": {"a": 0.4, "b": 0.4, "$": 0.2}}, default={"$": 1.0}
    )
    greedy = run_search(scripted, one_source(64), "greedy", 3)
    np.testing.assert_array_equal(greedy["tokens"][:, :2], [ids("a$")] * 64)
    for seed in (0, 1):
        sampled = run_search(scripted, one_source(64), "sampling", 3,
                             seed=seed, top_k=1)
        np.testing.assert_array_equal(sampled["tokens"], greedy["tokens"])
        np.testing.assert_allclose(sampled["scores"], greedy["scores"],
                                   atol=1e-6)


def _pad_and_start_heavy_model() -> ScriptedModel:
    """pad and start hold almost all the mass at the first three steps."""
    logits = {"<pad>": 10.0, "<s>": 9.0, "a": 1.0, "b": 0.5, "c": 0.2,
              "$": 0.0}
    prefixes = [""] + ["".join(p) for n in (1, 2)
                       for p in itertools.product("abc", repeat=n)]
    return ScriptedModel({}, logits={p: logits for p in prefixes})


@pytest.mark.parametrize("temperature", [1e-300, 1e-38, 1e-6])
def test_tiny_temperature_sampling_is_greedy(temperature):
    # Dividing raw logits by a tiny temperature overflows (NaN); a
    # temperature that is 0 in float32 divides by zero.
    scripted = _pad_and_start_heavy_model()
    greedy = run_search(scripted, one_source(8), "greedy", 3)
    out = run_search(scripted, one_source(8), "sampling", 3, seed=1,
                     temperature=temperature)
    np.testing.assert_array_equal(out["tokens"], greedy["tokens"])
    np.testing.assert_allclose(out["scores"], greedy["scores"], atol=1e-6)
    np.testing.assert_array_equal(greedy["tokens"][0], ids("aaa"))


@pytest.mark.parametrize("temperature", [1e9, 1e12, 1e300])
def test_huge_temperature_samples_allowed_ids_uniformly(temperature):
    # The ban on pad and start survives any temperature: a huge one gives
    # a uniform draw among a, b, c and end only.
    tokens = _sample_first_tokens(_pad_and_start_heavy_model(),
                                  temperature=temperature)
    np.testing.assert_allclose(
        _frequencies(tokens), [0.0, 0.0, 0.25, 0.25, 0.25, 0.25], atol=0.04
    )


def test_huge_temperature_keeps_ngram_blocking():
    flat = {"a": 0.25, "b": 0.25, "c": 0.25, "$": 0.25}
    scripted = ScriptedModel({}, default=flat)
    out = run_search(scripted, one_source(200), "sampling", 4, seed=2,
                     temperature=1e9, no_repeat_ngram_size=1)
    assert not any(repeated_ngram(r, 1) for r in out["tokens"])
    check_tail_is_padding(out["tokens"])


def test_sampling_never_picks_a_zero_probability_last_id():
    # A uniform number that rounds up to the total mass (noise 1.0 here)
    # must still land on the last allowed id, not on a banned one after it.
    logits = np.log(np.array([[0.1, 0.1, 0.3, 0.3, 0.2, 0.1]], "float32"))
    logits[0, [PAD, START, 5]] = LARGE_NEGATIVE
    choice = decoding.RandomSampling().choose(
        ops.convert_to_tensor(logits), ops.ones((1,), "float32")
    )
    assert int(ops.convert_to_numpy(choice)[0]) == 4


def test_sampling_never_picks_a_banned_id_at_cumsum_steps():
    # Half the ids banned, and noise placed exactly at the backend's own
    # cumulative sums next to banned ids: JAX's CPU cumsum adds in a tree
    # order, so the running total can move at a zero-probability id, and
    # counting `cumulative <= target` then picked it.
    rng = np.random.default_rng(0)
    vocab = 8000
    logits = 3.0 * rng.normal(size=(1, vocab)).astype("float32")
    banned = rng.random(vocab) < 0.5
    logits[0, banned] = LARGE_NEGATIVE
    probs = ops.softmax(ops.convert_to_tensor(logits), axis=-1)
    cumulative = ops.convert_to_numpy(ops.cumsum(probs, axis=-1))[0]
    total = cumulative[-1]
    at = [i for i in np.nonzero(banned)[0][:400] if i > 0]
    noise = np.array(
        [min(cumulative[i - 1], cumulative[i]) / total for i in at]
        + [np.nextafter(np.float32(1.0), np.float32(0.0))], "float32",
    )
    rows = np.repeat(logits, len(noise), axis=0)
    chosen = ops.convert_to_numpy(decoding.RandomSampling().choose(
        ops.convert_to_tensor(rows), ops.convert_to_tensor(noise)))
    assert not banned[chosen].any()


def test_beam_beats_short_sighted_greedy():
    # "a" looks best first, but every continuation of it is poor;
    # "b$" has probability 0.4 * 0.9 = 0.36 > 0.6 * 0.5 = 0.3.
    scripted = ScriptedModel(
        {
            "": {"a": 0.6, "b": 0.4},
            "a": {"$": 0.5, "c": 0.5},
            "b": {"$": 0.9, "c": 0.1},
        },
        default={"$": 1.0},
    )
    greedy = run_search(scripted, one_source(), "greedy", 4)
    beam = run_search(scripted, one_source(), "beam", 4, beam_size=2)
    assert greedy["tokens"][0, 0] == IDS["a"]
    np.testing.assert_array_equal(beam["tokens"][0], ids("b$") + [PAD] * 2)
    np.testing.assert_allclose(beam["scores"][0], math.log(0.36), atol=1e-5)
    assert beam["scores"][0] > greedy["scores"][0] + 0.1


def test_finished_hypothesis_is_kept():
    # "$" (0.3) ends at step 1. The live beams "aa" and "ab" (0.35 each)
    # score higher at step 2; at step 3 both end with 0.28 < 0.3, and the
    # merge must keep "$" first.
    scripted = ScriptedModel(
        {
            "": {"$": 0.3, "a": 0.7},
            "a": {"a": 0.5, "b": 0.5},
            "aa": {"$": 0.8, "c": 0.2},
            "ab": {"$": 0.8, "c": 0.2},
        },
        default={"$": 0.5, "c": 0.5},
    )
    out = run_search(scripted, one_source(), "beam", 5, beam_size=2)
    np.testing.assert_array_equal(out["tokens"][0], [END] + [PAD] * 4)
    np.testing.assert_allclose(out["scores"][0], math.log(0.3), atol=1e-5)
    assert out["beam_tokens"][0, 1, 0] == IDS["a"]
    assert out["beam_tokens"][0, 1, 2] == END
    np.testing.assert_allclose(
        out["beam_scores"][0, 1], math.log(0.28), atol=1e-5
    )


def test_end_outside_the_best_k_continuations_is_dropped():
    # "$" (0.3) is the best output, but "a" and "b" (0.35 each) are the two
    # best first continuations: with beam_size=2 the end continuation is
    # not among them and is dropped (the beam is not exact), so the search
    # returns "a$" (0.35 * 0.25); beam_size=3 takes it in.
    scripted = ScriptedModel(
        {
            "": {"a": 0.35, "b": 0.35, "$": 0.3},
            "a": {"a": 0.25, "b": 0.25, "c": 0.25, "$": 0.25},
            "b": {"a": 0.25, "b": 0.25, "c": 0.25, "$": 0.25},
        },
        default={"$": 1.0},
    )
    narrow = run_search(scripted, one_source(), "beam", 4, beam_size=2)
    np.testing.assert_array_equal(narrow["tokens"][0], ids("a$") + [PAD] * 2)
    np.testing.assert_allclose(narrow["scores"][0], math.log(0.35 * 0.25),
                               atol=1e-5)
    wide = run_search(scripted, one_source(), "beam", 4, beam_size=3)
    np.testing.assert_array_equal(wide["tokens"][0], [END] + [PAD] * 3)
    np.testing.assert_allclose(wide["scores"][0], math.log(0.3), atol=1e-5)


def test_n_best_holds_only_finished_hypotheses():
    # After step 3 the live beams "aac" and "abc" (0.21 each) cannot beat
    # "$" (0.3), so the search stops early. Those unfinished prefixes are
    # not outputs: the second n-best slot stays empty.
    scripted = ScriptedModel(
        {
            "": {"$": 0.3, "a": 0.7},
            "a": {"a": 0.5, "b": 0.5},
            "aa": {"$": 0.4, "c": 0.6},
            "ab": {"$": 0.4, "c": 0.6},
        },
        default={"$": 0.5, "c": 0.5},
    )
    out = run_search(scripted, one_source(), "beam", 5, beam_size=2)
    np.testing.assert_array_equal(out["tokens"][0], [END] + [PAD] * 4)
    np.testing.assert_allclose(out["scores"][0], math.log(0.3), atol=1e-5)
    assert out["beam_scores"][0, 1] < LARGE_NEGATIVE / 2
    np.testing.assert_array_equal(out["beam_tokens"][0, 1], PAD)


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_beam_n_best_does_not_depend_on_the_batch(alpha):
    # Row 1 can stop early; in the batch its neighbours run on to
    # max_length. Its n-best list must stay what it is alone (it once
    # gained the truncated beams of the steps run for the neighbours).
    model = tiny_model()
    settings = {"strategy": "beam", "beam_size": 3, "length_penalty": alpha,
                "max_length": 6}
    batch = model.generate(SOURCE, **settings)
    for row in range(len(SOURCE)):
        alone = model.generate(SOURCE[row:row + 1], **settings)
        np.testing.assert_array_equal(
            batch["beam_tokens"][row], alone["beam_tokens"][0]
        )
        np.testing.assert_allclose(
            batch["beam_scores"][row], alone["beam_scores"][0], atol=1e-5
        )


def test_length_penalty_prefers_longer_outputs():
    # "$": 0.4; "a$": 0.6 * 0.6 = 0.36. Raw scores pick "$", and
    # log(0.36) / (7 / 6) > log(0.4) / 1 picks "a$" with alpha = 1.
    scripted = ScriptedModel(
        {"": {"$": 0.4, "a": 0.6}, "a": {"$": 0.6, "b": 0.4}},
        default={"$": 1.0},
    )
    raw = run_search(scripted, one_source(), "beam", 3, beam_size=3)
    np.testing.assert_array_equal(raw["tokens"][0], [END, PAD, PAD])
    np.testing.assert_allclose(raw["scores"][0], math.log(0.4), atol=1e-5)
    out = run_search(scripted, one_source(), "beam", 3, beam_size=3,
                     length_penalty=1.0)
    np.testing.assert_array_equal(out["tokens"][0], ids("a$") + [PAD])
    np.testing.assert_allclose(
        out["scores"][0], math.log(0.36) / (7.0 / 6.0), atol=1e-5
    )


def test_coverage_penalty_is_gnmt():
    # Source: two real tokens and one pad. The search emits "a$" with
    # attention [0.7, 0.2, 0.1] then [0.6, 0.1, 0.3] (the padded weight is
    # nonzero on purpose: the penalty must ignore padded positions).
    scripted = ScriptedModel(
        {"": {"a": 0.9, "$": 0.1}, "a": {"$": 0.8, "b": 0.2}},
        default={"$": 1.0},
        attention={"": [0.7, 0.2, 0.1], "a": [0.6, 0.1, 0.3]},
    )
    alpha, beta = 0.5, 0.2
    out = run_search(scripted, one_source(), "beam", 3, beam_size=2,
                     length_penalty=alpha, coverage_penalty=beta)
    np.testing.assert_array_equal(out["tokens"][0], ids("a$") + [PAD])
    coverage = [min(0.7 + 0.6, 1.0), min(0.2 + 0.1, 1.0)]
    expected = math.log(0.9 * 0.8) / gnmt_length_penalty(2, alpha)
    expected += beta * sum(math.log(c) for c in coverage)
    np.testing.assert_allclose(out["scores"][0], expected, atol=1e-5)


@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_new_source_lengths_and_extra_padding(model, strategy):
    # Several source lengths through one model (on TensorFlow the later
    # calls run a relaxed trace with unknown lengths); appended padding
    # must not change the output.
    out = model.generate(SOURCE, max_length=6, strategy=strategy,
                         beam_size=3)
    for extra in (2, 5):
        padded = np.pad(SOURCE, ((0, 0), (0, extra)))
        again = model.generate(padded, max_length=6, strategy=strategy,
                               beam_size=3)
        np.testing.assert_array_equal(again["tokens"], out["tokens"])
        np.testing.assert_allclose(again["scores"], out["scores"],
                                   atol=1e-5)


# ------------------------------------------------------------- alignments
@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_alignments_are_distributions_over_real_positions(model, strategy):
    out = model.generate(SOURCE, max_length=6, strategy=strategy,
                         beam_size=3, return_alignments=True)
    alignments = out["alignments"]
    assert alignments.shape == (3, 6, 4)
    real = SOURCE != PAD
    for b in range(len(SOURCE)):
        n = emitted_length(out["tokens"][b])
        rows = alignments[b]
        np.testing.assert_allclose(rows[:n].sum(axis=-1), 1.0, atol=1e-5)
        np.testing.assert_array_equal(rows[:n, ~real[b]], 0.0)
        np.testing.assert_array_equal(rows[n:], 0.0)
        assert (rows[:n, real[b]] > 0.0).all()


def test_alignments_stop_after_end_with_early_end():
    # Rows that end at step 2 get zero alignment rows afterwards; the
    # scripted weights are readable, so check them too.
    scripted = ScriptedModel(
        {"": {"a": 1.0}, "a": {"$": 1.0}},
        attention={"": [0.25, 0.75, 0.0], "a": [1.0, 0.0, 0.0]},
    )
    for strategy in ("greedy", "beam"):
        out = run_search(scripted, one_source(2), strategy, 4,
                         return_alignments=True, beam_size=2)
        expected = np.zeros((4, 3))
        expected[0] = [0.25, 0.75, 0.0]
        expected[1] = [1.0, 0.0, 0.0]
        np.testing.assert_allclose(out["alignments"][0], expected,
                                   atol=1e-6)


# -------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "source, match",
    [
        (np.zeros((0, 3), "int32"), "at least one row"),
        (np.zeros((2, 0), "int32"), "at least one position"),
        (np.array([3, 4, 5]), "rank 2"),
    ],
    ids=["empty_batch", "zero_length", "rank_1"],
)
def test_bad_source_raises(model, source, match):
    with pytest.raises(ValueError, match=match):
        model.generate(source, max_length=3)


@pytest.mark.parametrize(
    "source, error, match",
    [
        ([[3, 4, 5], [6, 7]], ValueError,
         r"`source_ids` must be rectangular.*lengths \[2, 3\].*Pad the "
         r"rows"),
        (None, TypeError, r"`source_ids` must be an int array.*Received: "
         r"source_ids=None"),
    ],
    ids=["ragged", "none"],
)
def test_source_that_is_no_array_raises(model, source, error, match):
    with pytest.raises(error, match=match):
        model.generate(source, max_length=3)


def test_coverage_penalty_without_attention_raises():
    model = kb.build_model(9, 6, preset="tiny", attention=None)
    with pytest.raises(ValueError, match=r"`coverage_penalty` needs "
                       r"attention weights.*attention=None.*Received: "
                       r"coverage_penalty=0\.2"):
        model.generate(SOURCE, max_length=3, strategy="beam",
                       coverage_penalty=0.2)
    out = model.generate(SOURCE, max_length=3, strategy="beam")
    assert np.isfinite(out["scores"]).all()


def test_step_contract_builds_an_unbuilt_model():
    # encode + decode_step is the contract custom decoders use; on a fresh
    # model it once failed with an AttributeError deep in the decoder.
    model = kb.build_model(9, 6, preset="tiny")
    state, cache = model.encode(SOURCE)
    logits, _, weights = model.decode_step(
        np.full((len(SOURCE),), START, "int32"), state, cache
    )
    assert tuple(logits.shape) == (len(SOURCE), 6)
    assert tuple(weights.shape) == SOURCE.shape


def test_strategy_registered_again_gets_its_own_function(model):
    # A notebook cell that defines a strategy is edited and run again:
    # the model must not keep the first class's compiled search.
    name = "test_second_best_then_fixed"
    try:
        @decoding.register(name)
        class SecondBest(decoding.TokenByTokenStrategy):
            def choose(self, logits, noise):
                return ops.cast(ops.top_k(logits, 2)[1][:, 1], "int32")

        first = model.generate(SOURCE, max_length=3, strategy=name)

        @decoding.register(name)
        class Fixed(decoding.TokenByTokenStrategy):
            def choose(self, logits, noise):
                return ops.full((ops.shape(logits)[0],), 4, "int32")

        again = model.generate(SOURCE, max_length=3, strategy=name)
    finally:
        decoding.base._REGISTRY.pop(name, None)
    assert not (first["tokens"] == 4).all()
    np.testing.assert_array_equal(again["tokens"], 4)


@pytest.mark.parametrize(
    "settings, match",
    [
        ({"strategy": "beam", "beam_size": 0}, "`beam_size` must be an int"),
        ({"strategy": "beam", "coverage_penalty": 1e9},
         r"`coverage_penalty` must be at most 1000 .*Received: "
         r"coverage_penalty=1000000000\.0"),
        ({"strategy": "sampling", "top_p": 0.0}, r"`top_p` must .*\(0, 1\]"),
        ({"strategy": "sampling", "top_p": 1.5}, r"`top_p` must .*\(0, 1\]"),
        ({"strategy": "sampling", "temperature": 0}, "`temperature`.*> 0"),
        ({"strategy": "sampling", "temperature": -1}, "`temperature`.*> 0"),
        ({"strategy": "sampling", "top_k": 0}, "`top_k` must be None or"),
        ({"strategy": "beam", "length_penalty": -1}, "`length_penalty`"),
        ({"strategy": "beam", "coverage_penalty": -1}, "`coverage_penalty`"),
        ({"strategy": "beam", "length_penalty": math.nan},
         r"`length_penalty` must be a finite number >= 0, e\.g\. "
         r"length_penalty=0\.6\. Received: length_penalty=nan"),
        ({"strategy": "beam", "length_penalty": math.inf},
         r"`length_penalty` must be a finite .*length_penalty=0\.6"),
        ({"strategy": "beam", "coverage_penalty": math.nan},
         r"`coverage_penalty` must be a finite .*coverage_penalty=0\.6"),
        ({"strategy": "beam", "coverage_penalty": math.inf},
         r"`coverage_penalty` must be a finite .*coverage_penalty=0\.6"),
        ({"strategy": "sampling", "temperature": math.inf},
         r"`temperature` must be a finite number > 0, e\.g\. "
         r"temperature=0\.7\. Received: temperature=inf"),
        ({"strategy": "sampling", "temperature": math.nan},
         r"`temperature` must be a finite .*temperature=0\.7"),
        ({"strategy": "sampling", "top_p": math.nan},
         r"`top_p` must .*\(0, 1\], e\.g\. top_p=0\.9\. Received: top_p=nan"),
        ({"max_length": 0}, "`max_length` must be a positive int"),
        ({"strategy": "viterbi"}, "`strategy` must be one of .*'beam'"),
    ],
    ids=lambda x: str(x) if isinstance(x, dict) else "",
)
def test_bad_settings_raise(model, settings, match):
    settings = {"max_length": 3, **settings}
    with pytest.raises(ValueError, match=match):
        model.generate(SOURCE, **settings)
    # The same check without data (what Translator.translate runs first).
    with pytest.raises(ValueError, match=match):
        model.check_generate_settings(**settings)


@pytest.mark.parametrize(
    "seed, error, match",
    [
        (-1, ValueError, r"`seed` must be in \[0, 2\*\*32\)\. Received: "
         r"seed=-1"),
        (2**32, ValueError, r"`seed` must be in \[0, 2\*\*32\)"),
        (True, TypeError, "`seed` must be None or an int.*bool"),
        (1.5, TypeError, "`seed` must be None or an int.*float"),
    ],
)
def test_bad_seed_raises_alike_on_every_backend(model, seed, error, match):
    # TensorFlow took negative seeds and JAX did not; JAX took True.
    with pytest.raises(error, match=match):
        model.generate(SOURCE, max_length=3, strategy="sampling", seed=seed)
    with pytest.raises(error, match=match):
        model.check_generate_settings(strategy="sampling", seed=seed)


def test_numpy_int_seed_equals_python_int(model):
    outputs = [
        model.generate(SOURCE, max_length=4, strategy="sampling", seed=seed)
        for seed in (7, np.int64(7), np.uint32(7))
    ]
    for other in outputs[1:]:
        np.testing.assert_array_equal(other["tokens"], outputs[0]["tokens"])


def test_check_generate_settings_accepts_good_and_rejects_unknown(model):
    model.check_generate_settings()
    model.check_generate_settings(
        strategy="sampling", max_length=4, temperature=0.7, top_k=3, seed=4,
        return_alignments=True,
    )
    with pytest.raises(TypeError, match="beam_width"):
        model.check_generate_settings(beam_width=3)
    with pytest.raises(TypeError, match="`return_alignments` must be a bool"):
        model.check_generate_settings(return_alignments="yes")
    with pytest.raises(TypeError, match="`return_alignments` must be a bool"):
        model.generate(SOURCE, max_length=3, return_alignments="yes")


@pytest.mark.parametrize(
    "settings",
    [
        {"strategy": "beam", "beam_size": 3, "length_penalty": 0.6,
         "coverage_penalty": 0.2, "no_repeat_ngram_size": 2},
        {"strategy": "sampling", "temperature": 0.7, "top_k": 3,
         "top_p": 0.9, "seed": 4},
    ],
)
def test_numpy_scalar_settings_equal_python_ones(model, settings):
    as_numpy = {
        key: (np.int64(value) if isinstance(value, int) else
              np.float32(value) if isinstance(value, float) else value)
        for key, value in settings.items() if key not in ("strategy", "seed")
    }
    plain = model.generate(SOURCE, max_length=np.int64(4), **settings)
    numpy = model.generate(SOURCE, max_length=4, **{**settings, **as_numpy})
    np.testing.assert_array_equal(numpy["tokens"], plain["tokens"])
    np.testing.assert_allclose(numpy["scores"], plain["scores"], rtol=1e-6)


@pytest.mark.parametrize(
    "strategy, settings, match",
    [
        ("greedy", {"length_penalty": 1.0},
         r"`length_penalty` applies to strategy='beam' only\. Received: "
         r"length_penalty=1\.0 with strategy='greedy'\. Use strategy='beam' "
         r"or leave length_penalty at 0\.0\."),
        ("sampling", {"coverage_penalty": 0.2},
         r"`coverage_penalty` applies to strategy='beam' only\. .*"
         r"leave coverage_penalty at 0\.0"),
        ("greedy", {"temperature": 0.7},
         r"`temperature` applies to strategy='sampling' only\. Received: "
         r"temperature=0\.7 with strategy='greedy'\. Use "
         r"strategy='sampling' or leave temperature at 1\.0\."),
        ("beam", {"top_k": 5},
         r"`top_k` applies to strategy='sampling' only.*top_k at None"),
        ("beam", {"top_p": 0.9},
         r"`top_p` applies to strategy='sampling' only.*top_p at None"),
    ],
    ids=["greedy_alpha", "sampling_beta", "greedy_temperature", "beam_top_k",
         "beam_top_p"],
)
def test_settings_of_another_strategy_raise(model, strategy, settings, match):
    with pytest.raises(ValueError, match=match):
        model.generate(SOURCE, max_length=3, strategy=strategy, **settings)


@pytest.mark.parametrize("strategy", ["greedy", "beam", "sampling"])
def test_default_settings_of_another_strategy_are_accepted(strategy):
    # generate passes every setting: at generate's defaults (any number
    # type) they are accepted, and beam_size is ignored outside beam.
    search = decoding.get(
        strategy, beam_size=7, length_penalty=0, coverage_penalty=0.0,
        temperature=1, top_k=None, top_p=None, no_repeat_ngram_size=None,
    )
    assert search.name == strategy


@pytest.mark.parametrize(
    "settings",
    [
        {"strategy": "greedy"},
        {"strategy": "beam", "beam_size": 3, "length_penalty": 0.6,
         "coverage_penalty": 0.2},
        {"strategy": "sampling", "seed": 2},
    ],
    ids=["greedy", "beam", "sampling"],
)
def test_all_padding_row_ends_at_once(model, settings):
    source = np.array([[0, 0, 0, 0], [3, 4, 5, 0], [0, 0, 0, 0]])
    out = model.generate(source, max_length=5, return_alignments=True,
                         **settings)
    for b in (0, 2):
        np.testing.assert_array_equal(out["tokens"][b], [END] + [PAD] * 4)
        np.testing.assert_array_equal(out["alignments"][b], 0.0)
    assert np.isfinite(out["scores"]).all()
    assert np.isfinite(out["alignments"]).all()
    if settings["strategy"] != "sampling":  # noise depends on the batch
        # The real row is unaffected by its all-padding neighbours.
        alone = model.generate(source[1:2], max_length=5, **settings)
        np.testing.assert_array_equal(out["tokens"][1], alone["tokens"][0])


@pytest.mark.parametrize("strategy", ["greedy", "beam", "sampling"])
def test_early_stop_with_long_budget(strategy):
    # The end token's bias is huge after the second step's input, so
    # every row ends within two tokens although max_length is 200.
    model = tiny_model(scale=1.0)
    bias = model.decoder.output_layer.bias
    values = np.zeros(6, "float32")
    values[END] = 30.0
    bias.assign(values)
    out = model.generate(SOURCE, max_length=200, strategy=strategy,
                         beam_size=3, seed=0)
    assert out["tokens"].shape == (3, 200)
    np.testing.assert_array_equal(out["tokens"][:, 0], END)
    np.testing.assert_array_equal(out["tokens"][:, 1:], PAD)
    assert np.isfinite(out["scores"]).all()


def test_jit_compile_gives_same_tokens():
    if keras.config.backend() != "tensorflow":
        pytest.skip("jit_compile of generate is a TensorFlow setting")
    plain = tiny_model(seed=3)
    jitted = tiny_model(seed=3)
    jitted.compile(jit_compile=True)
    assert jitted.jit_compile is True
    for settings in ({"strategy": "greedy"},
                     {"strategy": "beam", "beam_size": 3},
                     {"strategy": "greedy", "no_repeat_ngram_size": 1},
                     {"strategy": "beam", "beam_size": 3,
                      "no_repeat_ngram_size": 2}):
        a = plain.generate(SOURCE, max_length=5, **settings)
        b = jitted.generate(SOURCE, max_length=5, **settings)
        np.testing.assert_array_equal(a["tokens"], b["tokens"])
        np.testing.assert_allclose(a["scores"], b["scores"], atol=1e-4)


@pytest.mark.parametrize("policy",
                         ["mixed_float16", "mixed_bfloat16", "float64"])
@pytest.mark.parametrize(
    "settings",
    [{"strategy": "greedy"}, {"strategy": "beam", "beam_size": 3},
     {"strategy": "sampling", "seed": 1}],
)
def test_generate_under_other_policies(policy, settings):
    # decode_step runs outside Layer.__call__, where Keras does not autocast
    # variables: every strategy must still work under mixed policies. A
    # float64 model's float64 logits met the searches' float32 scores.
    keras.config.set_dtype_policy(policy)
    model = kb.build_model(12, 12, preset="tiny")
    source = np.array([[4, 5, 6, 0], [0, 0, 0, 0]])
    out = model.generate(
        source, max_length=5, return_alignments=True, **settings
    )
    for key in ("scores", "alignments"):
        assert out[key].dtype == np.float32
    assert np.isfinite(out["scores"]).all()
    assert out["tokens"][1, 0] == model.end_id
    assert not np.isin(out["tokens"], [model.start_id]).any()
    sums = out["alignments"][0].sum(-1)
    emitted = out["tokens"][0] != model.pad_id
    np.testing.assert_allclose(sums[emitted], 1.0, atol=1e-2)


def test_greedy_breaks_ties_to_the_lowest_id():
    # Zero output kernel: the logits are the bias, with ids 4 and 5 tied.
    model = tiny_model()
    layer = model.decoder.output_layer
    layer.kernel.assign(np.zeros(tuple(layer.kernel.shape), "float32"))
    bias = np.full(tuple(layer.bias.shape), -5.0, "float32")
    bias[[4, 5]] = 3.0
    layer.bias.assign(bias)
    out = model.generate(SOURCE, strategy="greedy", max_length=3)
    assert np.all(out["tokens"] == 4)
    log_z = np.log(np.exp(bias.astype("float64")).sum())
    np.testing.assert_allclose(out["scores"], 3 * (3.0 - log_z), atol=1e-4)


# ------------------------------------------------ no_repeat_ngram_size
def blocked_reference(tokens, step: int, size: int, vocab: int):
    """Naive bool `(rows, vocab)`: tokens that would repeat an n-gram."""
    blocked = np.zeros((len(tokens), vocab), bool)
    for b, row in enumerate(np.asarray(tokens)):
        seen = [tuple(row[i : i + size]) for i in range(step - size + 1)]
        tail = tuple(row[step - size + 1 : step]) if size > 1 else ()
        for gram in seen:
            if step >= size - 1 and gram[:-1] == tail:
                blocked[b, gram[-1]] = True
    blocked[:, END] = False
    return blocked


def repeated_ngram(row, size: int) -> bool:
    """Whether the emitted part of `row` holds an n-gram twice."""
    row = list(row[: emitted_length(row)])
    grams = [tuple(row[i : i + size]) for i in range(len(row) - size + 1)]
    return len(grams) != len(set(grams))


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_ngram_blocking_matches_naive_reference(size):
    rng = np.random.default_rng(size)
    vocab = 5
    for _ in range(25):
        length = int(rng.integers(1, 10))
        tokens = rng.integers(0, vocab, size=(3, length))
        step = int(rng.integers(0, length + 1))
        logits = rng.normal(size=(3, vocab)).astype("float32")
        out = ops.convert_to_numpy(
            decoding.ban_repeated_ngrams(logits, tokens, step, size, END)
        )
        expected = blocked_reference(tokens, step, size, vocab)
        np.testing.assert_array_equal(out <= LARGE_NEGATIVE, expected)
        np.testing.assert_array_equal(out[~expected], logits[~expected])


@pytest.mark.parametrize(
    "size, text",
    # Always "a" without blocking. Size 1: each word once, then end_id,
    # although end_id has only the floor probability. Size 2: "aa", "ab",
    # "ba", "ac", "ca", then a, b and c would all repeat a bigram after "a".
    [(None, "aaaaaaaaaa"), (1, "abc$"), (2, "aabaca$")],
)
def test_greedy_blocks_repeated_ngrams_by_hand(size, text):
    scripted = ScriptedModel({}, default={"a": 0.5, "b": 0.3, "c": 0.2})
    out = run_search(scripted, one_source(), "greedy", 10,
                     no_repeat_ngram_size=size)
    expected = ids(text) + [PAD] * (10 - len(text))
    np.testing.assert_array_equal(out["tokens"][0], expected)
    # Scores stay the full-vocabulary log-probabilities of what is emitted
    # (every prefix has the default row here).
    row = scripted.log_probs[-1]
    np.testing.assert_allclose(
        out["scores"][0], sum(row[i] for i in ids(text)), rtol=1e-5
    )


@pytest.mark.parametrize(
    "settings",
    [
        {"strategy": "greedy"},
        # A strong length penalty keeps beam search from ending at once.
        {"strategy": "beam", "beam_size": 3, "length_penalty": 3.0},
        {"strategy": "sampling", "seed": 5},
    ],
    ids=["greedy", "beam", "sampling"],
)
def test_generate_never_repeats_an_ngram(settings):
    # Random NumPy weights (the same model on every backend) of this scale
    # loop ("9 9 9 ...", "11 10 11 10 ..."); blocking bigrams stops it.
    model = kb.build_model(12, 12, preset="tiny")
    model((np.array([[3, 4]]), np.array([[START, 3]])))
    rng = np.random.default_rng(2)
    for variable in model.weights:
        shape = tuple(variable.shape)
        variable.assign((0.3 * rng.normal(size=shape)).astype("float32"))
    source = np.array([[4, 5, 6, 0], [7, 8, 0, 0], [9, 9, 9, 9]])
    free = model.generate(source, max_length=20, **settings)
    out = model.generate(source, max_length=20, no_repeat_ngram_size=2,
                         **settings)
    # Every real n-best entry too (unfilled ones score LARGE_NEGATIVE).
    rows = out.get("beam_tokens", out["tokens"][:, None])
    real = out.get("beam_scores", out["scores"][:, None]) > LARGE_NEGATIVE / 2
    assert not any(repeated_ngram(r, 2) for r in rows[real])
    assert any(repeated_ngram(r, 2) for r in free["tokens"])
    check_tail_is_padding(out["tokens"])


def test_ngram_blocking_equivalences(model):
    greedy = model.generate(SOURCE, max_length=8, no_repeat_ngram_size=1)
    beam = model.generate(SOURCE, max_length=8, strategy="beam",
                          beam_size=1, no_repeat_ngram_size=1)
    sampled = model.generate(SOURCE, max_length=8, strategy="sampling",
                             top_k=1, seed=3, no_repeat_ngram_size=1)
    for other in (beam, sampled):
        np.testing.assert_array_equal(other["tokens"], greedy["tokens"])
        np.testing.assert_allclose(other["scores"], greedy["scores"],
                                   atol=1e-5)
    assert not any(repeated_ngram(r, 1) for r in greedy["tokens"])


@pytest.mark.parametrize("size", [0, -1, 2.0, True, "3"])
def test_bad_ngram_size_raises(model, size):
    with pytest.raises(ValueError, match="`no_repeat_ngram_size` must be"):
        model.generate(SOURCE, max_length=3, no_repeat_ngram_size=size)


# ------------------------------------------------------ blocked top-k
@pytest.mark.parametrize("vocab", [1024, 1200, 8000])
@pytest.mark.parametrize("k", [1, 3, 5, 8])
def test_blocked_top_k_equals_top_k(vocab, k):
    # Random scores, many ties (small integers), all equal, and rows of
    # LARGE_NEGATIVE with a few real scores: values and indices must be
    # those of ops.top_k, ties to the lowest index.
    assert topk.block_size(vocab, k) is not None
    rng = np.random.RandomState(vocab + k)
    rows = [rng.normal(size=vocab), rng.randint(0, 4, size=vocab),
            np.zeros(vocab), np.full(vocab, LARGE_NEGATIVE)]
    rows[3][rng.choice(vocab, 2, replace=False)] = (-3.0, 7.0)
    scores = np.stack(rows).astype("float32")
    values, indices = topk.top_k(scores, k)
    order = np.argsort(-scores, axis=-1, kind="stable")[:, :k]
    np.testing.assert_array_equal(ops.convert_to_numpy(indices), order)
    np.testing.assert_array_equal(
        ops.convert_to_numpy(values), np.take_along_axis(scores, order, 1))
    assert ops.convert_to_numpy(indices).dtype == np.int32


def test_block_size_choice():
    assert topk.block_size(8000, 5) == 80
    assert topk.block_size(32000, 5) == 160
    assert topk.block_size(1000, 1) is None  # small: plain top_k
    assert topk.block_size(1031, 1) is None  # a prime has no blocks
    assert topk.block_size(50257, 5) is None  # 29 x 1733: no fitting size
    for vocab, k in [(8000, 5), (1200, 8), (4096, 64)]:
        size = topk.block_size(vocab, k)
        assert vocab % size == 0 and vocab // size >= 4 * k


@pytest.mark.parametrize(
    "settings",
    [{"strategy": "greedy"},
     {"strategy": "beam", "beam_size": 4, "length_penalty": 0.6},
     {"strategy": "sampling", "top_k": 20, "seed": 3}],
    ids=["greedy", "beam", "sampling"],
)
def test_searches_equal_with_and_without_blocked_top_k(monkeypatch, settings):
    # A 1200-token vocabulary takes the blocked path; the same weights with
    # blocking turned off give the same tokens and scores.
    blocked = tiny_model(target_vocab=1200, scale=20.0)
    plain = tiny_model(target_vocab=1200, scale=20.0)
    source = np.array([[3, 4, 5, 6], [7, 8, 0, 0], [0, 0, 0, 0]])
    out = blocked.generate(source, max_length=6, **settings)
    monkeypatch.setattr(topk, "MIN_BLOCKED_VOCAB", 10**9)
    expected = plain.generate(source, max_length=6, **settings)
    np.testing.assert_array_equal(out["tokens"], expected["tokens"])
    np.testing.assert_allclose(out["scores"], expected["scores"], atol=1e-5)
    if settings["strategy"] == "beam":
        np.testing.assert_array_equal(out["beam_tokens"],
                                      expected["beam_tokens"])
    # Not a degenerate case: real tokens beyond the special ids.
    assert (out["tokens"][:2] > END).sum() >= 4


@pytest.mark.parametrize("vocab", [6, 1200])
@pytest.mark.parametrize("k", [1, 4])
def test_top_emittable_equals_top_k_of_emittable(vocab, k):
    # Rows whose raw best logits are pad_id and start_id, ties, and plain
    # random rows: the fast path gives the values, ids and log-normaliser
    # of top_k(emittable(logits)) and logsumexp(logits).
    rng = np.random.RandomState(vocab + k)
    logits = rng.normal(size=(5, vocab)).astype("float32") * 3
    logits[0, [PAD, START]] = (50.0, 40.0)
    logits[1, START] = 60.0
    logits[2] = rng.randint(0, 3, size=vocab)
    logits[3, [PAD, START, END]] = 9.0
    scripted = ScriptedModel({})
    values, ids, log_norm = decoding.base.top_emittable(logits, k, scripted)
    allowed = ops.convert_to_numpy(decoding.base.emittable(logits, scripted))
    order = np.argsort(-allowed, axis=-1, kind="stable")[:, :k]
    np.testing.assert_array_equal(ops.convert_to_numpy(ids), order)
    np.testing.assert_array_equal(ops.convert_to_numpy(values),
                                  np.take_along_axis(logits, order, 1))
    expected = np.log(np.exp(logits.astype("float64")).sum(-1))
    np.testing.assert_allclose(ops.convert_to_numpy(log_norm), expected,
                               rtol=1e-6)


def test_greedy_fast_pick_equals_generic_pick():
    rng = np.random.RandomState(5)
    logits = rng.normal(size=(4, 1200)).astype("float32")
    logits[0, PAD] = 30.0
    logits[1, [START, 7, 9]] = (30.0, 20.0, 20.0)
    scripted = ScriptedModel({})
    tokens = np.zeros((4, 3), "int32")
    greedy = decoding.GreedySearch()
    fast = greedy.pick(logits, scripted, tokens, 0, None)
    generic = decoding.TokenByTokenStrategy.pick(
        greedy, logits, scripted, tokens, 0, None)
    np.testing.assert_array_equal(ops.convert_to_numpy(fast[0]),
                                  ops.convert_to_numpy(generic[0]))
    assert ops.convert_to_numpy(fast[0])[1] == 7
    np.testing.assert_allclose(ops.convert_to_numpy(fast[1]),
                               ops.convert_to_numpy(generic[1]), rtol=1e-6)
