"""Beam search with GNMT length and coverage penalties."""

import functools
import math
import numbers

from keras import ops

from keras_bahdanau.decoding.base import DecodingStrategy
from keras_bahdanau.decoding.base import empty_rows
from keras_bahdanau.decoding.base import register
from keras_bahdanau.decoding.base import top_emittable
from keras_bahdanau.decoding.base import write_column
from keras_bahdanau.decoding.topk import ordered_top_k
from keras_bahdanau.decoding.topk import top_k
from keras_bahdanau.layers.probability import LARGE_NEGATIVE

# Coverage below this is clipped before the log (a position never attended).
_MIN_COVERAGE = 1e-10
# The largest beta: its penalty, at most beta * log(1e-10) = -23 beta per
# source position, stays far above LARGE_NEGATIVE for sources of up to
# 20,000 positions.
_MAX_COVERAGE_PENALTY = 1000.0


def length_penalty(length, alpha: float):
    """GNMT length penalty `((5 + length) / 6) ** alpha` (Wu et al., 2016)."""
    return ops.power((5.0 + ops.cast(length, "float32")) / 6.0, alpha)


def coverage_penalty(coverage, mask, beta: float):
    """GNMT `beta * sum_j log(min(sum_t a_tj, 1))` over real positions."""
    clipped = ops.clip(coverage, _MIN_COVERAGE, 1.0)
    logs = ops.where(mask, ops.log(clipped), 0.0)
    return beta * ops.sum(logs, axis=-1)


def _gather(x, index):
    """`x[b, index[b, k]]` for `x` of shape `(batch, beams, ...)`.

    One gather of whole rows of the flattened `(batch * beams, ...)`
    array; Keras' `take_along_axis` would transpose `x`, the indices and
    the result on TensorFlow (15 transposes per beam step).
    """
    inner = ops.shape(x)[2:]
    rows = ops.expand_dims(ops.arange(ops.shape(index)[0]), 1) * x.shape[1]
    flat = ops.take(
        ops.reshape(x, (-1,) + inner), ops.reshape(rows + index, (-1,)),
        axis=0,
    )
    return ops.reshape(flat, ops.shape(index) + inner)


@register("beam")
class BeamSearch(DecodingStrategy):
    """Keeps the `beam_size` best live hypotheses; finished ones are frozen.

    At each step the `beam_size` most likely continuations of all live
    beams (by log-probability) are chosen; those that end with `end_id`
    join the finished set (scored `log p / lp + cp` with the GNMT length
    penalty `lp = ((5 + |Y|) / 6) ** alpha` and coverage penalty
    `cp = beta * sum_j log(min(sum_t a_tj, 1))`) and the others stay live,
    so an ending takes a beam for that step. An `end_id` continuation
    outside those `beam_size` is dropped, even when its penalised score
    would beat the finished set: a narrow beam can miss a short output. The
    finished set keeps its best `beam_size` entries and is never
    overwritten by live ones. A sentence's search stops when none of its
    live beams can still beat its best finished one (an exact bound:
    log-probabilities only fall), so for a given `max_length` its n-best
    list does not depend on the other sentences of the batch (the default
    `max_length` of `generate` follows the batch's padded source length);
    the loop ends when every sentence
    has stopped or at `max_length`, where the live beams are finished as
    they are. With `length_penalty=0` and a beam at least as wide as the number
    of live hypotheses the search is exact; `beam_size=1` is greedy search.
    The first step, where every sentence has one hypothesis, runs on the
    batch rows alone (1.04x per beam-5 call at batch 64); the
    memory is repeated for the beams after it.

    Args:
        beam_size: number of beams, >= 1.
        length_penalty: finite alpha >= 0 (0: raw log-probabilities).
        coverage_penalty: beta in [0, 1000] (0: off).
        no_repeat_ngram_size: None or n >= 1: no hypothesis repeats an
            n-gram of its own.

    Example:

    >>> import numpy as np
    >>> import keras_bahdanau as kb
    >>> model = kb.build_model(12, 12, preset="tiny")
    >>> out = model.generate(np.array([[4, 5, 6]]), strategy="beam",
    ...                      beam_size=3, max_length=5)
    >>> out["beam_tokens"].shape
    (1, 3, 5)

    Reference:
        Wu et al., "Google's Neural Machine Translation System", 2016, §7.
    """

    def __init__(
        self,
        beam_size: int = 4,
        length_penalty: float = 0.0,
        coverage_penalty: float = 0.0,
        no_repeat_ngram_size: "int | None" = None,
    ):
        super().__init__(no_repeat_ngram_size)
        if (
            isinstance(beam_size, bool)
            or not isinstance(beam_size, numbers.Integral)
            or beam_size < 1
        ):
            raise ValueError(
                "`beam_size` must be an int >= 1, e.g. beam_size=4. "
                f"Received: beam_size={beam_size!r}."
            )
        for name, value in (
            ("length_penalty", length_penalty),
            ("coverage_penalty", coverage_penalty),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Real)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ValueError(
                    f"`{name}` must be a finite number >= 0, e.g. "
                    f"{name}=0.6. Received: {name}={value!r}."
                )
        if coverage_penalty > _MAX_COVERAGE_PENALTY:
            # Beyond it a penalised score can fall below the empty slots'
            # LARGE_NEGATIVE, and padding would win the n-best list.
            raise ValueError(
                "`coverage_penalty` must be at most "
                f"{_MAX_COVERAGE_PENALTY:g} (GNMT used 0.2). Received: "
                f"coverage_penalty={coverage_penalty!r}."
            )
        self.beam_size = int(beam_size)
        self.length_penalty = float(length_penalty)
        self.coverage_penalty = float(coverage_penalty)

    def search(self, model, source_ids, max_length, noise,
               return_alignments) -> dict:
        k = self.beam_size
        alpha, beta = self.length_penalty, self.coverage_penalty
        state, cache = model.encode(source_ids)
        # Dynamic sizes: a relaxed trace (tf.function reduce_retracing)
        # sees source_ids.shape == (None, None).
        batch, source_len = ops.shape(source_ids)[0], ops.shape(source_ids)[1]
        mask = ops.reshape(
            ops.repeat(cache["memory_mask"], k, axis=0), (-1, k, source_len)
        )
        align_len = max_length if return_alignments else 1
        zeros_seq = ops.full((batch, k, max_length), model.pad_id, "int32")
        zeros_align = ops.zeros((batch, k, align_len, source_len), "float32")
        done = (
            ops.full((batch, k), LARGE_NEGATIVE, "float32"),
            zeros_seq,
            zeros_align,
        )
        # The first step has a single hypothesis per sentence: it runs on
        # the batch rows and its k best continuations become the k beams.
        alive = (
            ops.zeros((batch, 1), "float32"),
            zeros_seq[:, :1],
            ops.zeros((batch, 1, source_len), "float32"),
            zeros_align[:, :1],
        )
        prev = ops.full((batch,), model.start_id, "int32")
        step = functools.partial(
            self._step, model, mask, max_length, return_alignments
        )
        prev, state, alive, done = step(
            0, prev, state, alive, done, cache, empty_rows(cache)
        )
        # The loop's memory is expanded to batch * beam_size rows once.
        cache = {
            name: value if name == "kernels" else ops.repeat(value, k, axis=0)
            for name, value in cache.items()
        }

        def searching(alive, done):
            # Whether a live beam of each sentence can still beat its best
            # finished one (an exact bound: log-probabilities only fall).
            best_done = ops.max(done[0], axis=1)
            bound = ops.max(alive[0], axis=1) / length_penalty(
                max_length, alpha
            )
            return best_done < bound

        def cond(t, prev, state, alive, done):
            return ops.logical_and(
                t < max_length, ops.any(searching(alive, done))
            )

        def body(t, prev, state, alive, done):
            # A sentence whose search has ended stops here, as it would
            # alone: its live beams are dropped, so no later step adds to
            # its n-best list while other sentences go on.
            stopped = ops.logical_not(searching(alive, done))
            alive = (
                ops.where(stopped[:, None], LARGE_NEGATIVE, alive[0]),
            ) + tuple(alive[1:])
            prev, state, alive, done = step(
                t, prev, state, alive, done, cache, None
            )
            return t + 1, prev, state, alive, done

        t, _, _, alive, done = ops.while_loop(
            cond, body, (1, prev, state, alive, done)
        )
        # Live beams left at max_length are finished as they are
        # (truncated); after an early stop (of the loop, or of a sentence:
        # its beams were dropped) they are unfinished prefixes and stay out
        # of the n-best list.
        alive_logp, alive_seq, alive_cov, alive_align = alive
        alive_score = alive_logp / length_penalty(t, alpha)
        if beta:
            alive_score = alive_score + coverage_penalty(alive_cov, mask, beta)
        alive_score = ops.where(
            ops.logical_and(alive_logp > LARGE_NEGATIVE / 2, t >= max_length),
            alive_score,
            LARGE_NEGATIVE,
        )
        scores, seqs, aligns = _merge(
            done, (alive_score, alive_seq, alive_align), k
        )
        outputs = {
            "tokens": seqs[:, 0],
            "scores": scores[:, 0],
            "beam_tokens": seqs,
            "beam_scores": scores,
        }
        if return_alignments:
            outputs["alignments"] = aligns[:, 0]
        return outputs

    def _step(self, model, mask, max_length, return_alignments, t, prev,
              state, alive, done, cache, empty):
        """One search step from `beams` live hypotheses per sentence to k.

        Args:
            model, mask, max_length, return_alignments: as in `search`
                (`mask`: `(batch, k, source_len)`).
            t: the step (the column the new tokens go to).
            prev: int32 `(batch * beams,)` the last tokens.
            state: the decoder state of those rows.
            alive: `(logp, seqs, coverage, steps)` of the live hypotheses,
                `(batch, beams, ...)`.
            done: `(scores, seqs, steps)` of the finished set, `(batch, k,
                ...)`.
            cache: the decoder cache with `batch * beams` rows.
            empty: bool `(batch * beams,)` all-padding sources (they end at
                once), or None after the first step.

        Returns:
            `(prev, state, alive, done)` with k beams per sentence.
        """
        k = self.beam_size
        alpha, beta = self.length_penalty, self.coverage_penalty
        end = model.end_id
        alive_logp, alive_seq, alive_cov, alive_align = alive
        beams = alive_logp.shape[1]
        source_len = ops.shape(alive_cov)[-1]
        align_len = alive_align.shape[2]
        logits, state, weights = model.decode_step(prev, state, cache)
        vocab = logits.shape[-1]
        per_beam = min(k, vocab)
        # Each beam's best `per_beam` continuations by raw logit (a beam's
        # log-probabilities are its logits less one log-norm), then the best
        # k of those beams * per_beam per sentence: the same as the top k of
        # all beams * vocab continuations, without a (rows, vocab)
        # log_softmax, sum or top_k over all of them.
        if self.no_repeat_ngram_size:
            log_norm = ops.logsumexp(logits, axis=-1)
            scores = self.allowed(
                logits, model, ops.reshape(alive_seq, (-1, max_length)), t
            )
            best, best_token = top_k(scores, per_beam)
        else:
            best, best_token, log_norm = top_emittable(
                logits, per_beam, model
            )
        best_logp = best - ops.expand_dims(log_norm, -1)
        if empty is not None:
            # An all-padding source decodes to end_id at once.
            force = ops.expand_dims(empty, -1)
            end_logp = ops.take(logits, end, axis=1) - log_norm
            best_logp = ops.where(
                force,
                ops.where(ops.arange(per_beam) == 0,
                          ops.expand_dims(end_logp, -1), LARGE_NEGATIVE),
                best_logp,
            )
            best_token = ops.where(force, end, best_token)
        weights = ops.reshape(
            ops.cast(weights, "float32"), (-1, beams, source_len)
        )
        coverage = alive_cov + weights
        if return_alignments:
            steps = write_column(
                ops.reshape(alive_align, (-1, align_len, source_len)),
                t,
                ops.reshape(weights, (-1, source_len)),
            )
            steps = ops.reshape(steps, (-1, beams, align_len, source_len))
        else:
            steps = alive_align

        # The best k continuations; those that end join the finished set,
        # the others stay live (k=1 is greedy search).
        candidates = ops.reshape(
            alive_logp[:, :, None]
            + ops.reshape(best_logp, (-1, beams, per_beam)),
            (-1, beams * per_beam),
        )
        tokens = ops.reshape(best_token, (-1, beams * per_beam))
        if beams * per_beam < k:  # a vocabulary smaller than the beam
            missing = k - beams * per_beam
            candidates = ops.pad(
                candidates, ((0, 0), (0, missing)),
                constant_values=LARGE_NEGATIVE,
            )
            tokens = ops.pad(
                tokens, ((0, 0), (0, missing)), constant_values=model.pad_id
            )
        cand_logp, index = ordered_top_k(candidates, k)
        source_beam = ops.minimum(index // per_beam, beams - 1)
        token = ops.take_along_axis(tokens, index, axis=1)
        cand_seq = ops.reshape(
            write_column(
                ops.reshape(_gather(alive_seq, source_beam),
                            (-1, max_length)),
                t,
                ops.reshape(token, (-1,)),
            ),
            (-1, k, max_length),
        )
        cand_cov = _gather(coverage, source_beam)
        cand_steps = _gather(steps, source_beam)
        real = cand_logp > LARGE_NEGATIVE / 2
        ends = ops.logical_and(real, ops.equal(token, end))
        end_score = cand_logp / length_penalty(t + 1, alpha)
        if beta:
            end_score = end_score + coverage_penalty(cand_cov, mask, beta)
        end_score = ops.where(ends, end_score, LARGE_NEGATIVE)
        done = _merge(done, (end_score, cand_seq, cand_steps), k)
        live_logp = ops.where(
            ops.logical_or(ends, ops.logical_not(real)),
            LARGE_NEGATIVE,
            cand_logp,
        )
        alive = (live_logp, cand_seq, cand_cov, cand_steps)
        rows = ops.arange(ops.shape(source_beam)[0])[:, None] * beams
        flat = ops.reshape(rows + source_beam, (-1,))
        state = tuple(ops.take(s, flat, axis=0) for s in state)
        return ops.reshape(token, (-1,)), state, alive, done


def _merge(done, candidates, k):
    """The best `k` of the finished set and new candidates (done first)."""
    scores = ops.concatenate([done[0], candidates[0]], axis=1)
    top_scores, index = ordered_top_k(scores, k)
    seqs = _gather(ops.concatenate([done[1], candidates[1]], axis=1), index)
    aligns = _gather(ops.concatenate([done[2], candidates[2]], axis=1), index)
    return top_scores, seqs, aligns
