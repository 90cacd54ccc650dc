"""Matmul FLOP lower bounds for the Bahdanau seq2seq benchmark.

Two parts:

* :func:`measure_matmul_rate` times float32 matmuls on this machine with
  numpy and with TensorFlow (a cube and the model's own shapes) and reports
  GFLOP/s. The lower bounds use the best TensorFlow float32 rate
  (``tf_gflops``); the TensorFlow bfloat16 rate is reported too.
* :func:`flop_bound` counts the matmul FLOPs of one training step or one
  decode call of the benchmark configuration (embedding 256, vocabulary 8000,
  bidirectional GRU 256 per direction, memory 512, attention units 512,
  decoder GRU 512) and divides by a rate to give a time lower bound.

Only matrix products are counted (2 FLOPs per multiply-add); element-wise
work, softmax, top-k, gathers and memory traffic are ignored, so real
implementations cannot reach the bound. A training step is counted as three
forward passes (forward + two matmuls per matmul in the backward pass).

Run ``python3 benchmarks/flops.py`` (system TensorFlow) to print JSON lines
``{"kind": "matmul_rate", ...}`` and ``{"kind": "flop_bound", ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import asdict
from dataclasses import dataclass
from typing import Callable

VOCAB = 8000
EMBED = 256
ENC_UNITS = 256
DEC_UNITS = 512
ATT_UNITS = 512
BEAM_WIDTH = 5
DECODE_STEPS = 20
TASKS = ("train", "greedy", "beam5")


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the benchmark model."""

    vocab: int = VOCAB
    embed: int = EMBED
    enc_units: int = ENC_UNITS
    dec_units: int = DEC_UNITS
    att_units: int = ATT_UNITS

    @property
    def memory(self) -> int:
        """Width of the encoder memory (both GRU directions)."""
        return 2 * self.enc_units


def mm(m: int, k: int, n: int) -> int:
    """FLOPs of an ``(m x k) @ (k x n)`` product."""
    return 2 * m * k * n


def forward_breakdown(
    batch: int,
    src_len: int,
    out_steps: int,
    dec_rows: int | None = None,
    cfg: ModelConfig = ModelConfig(),
) -> dict[str, int]:
    """Matmul FLOPs of one forward pass, by component.

    Args:
      batch: source sentences.
      src_len: source length S.
      out_steps: decoder steps T.
      dec_rows: rows the decoder runs on (``batch`` for teacher forcing and
        greedy, ``batch * beam`` for beam search); the attention memory is
        counted once per source sentence for the key projection (an ideal
        implementation projects before tiling) and per row for the scores
        and the context.
      cfg: model sizes.

    Returns:
      Component name -> FLOPs.
    """
    rows = batch if dec_rows is None else dec_rows
    e, h_enc, h, a, d, v = (
        cfg.embed,
        cfg.enc_units,
        cfg.dec_units,
        cfg.att_units,
        cfg.memory,
        cfg.vocab,
    )
    bs = batch * src_len
    return {
        # Two directions, input and recurrent kernels, 3 gates each.
        "encoder_input": 2 * mm(bs, e, 3 * h_enc),
        "encoder_recurrent": 2 * mm(bs, h_enc, 3 * h_enc),
        # Bridge Dense on the backward final state.
        "bridge": mm(batch, h_enc, h),
        # U_a keys, once per source sequence.
        "attention_keys": mm(bs, d, a),
        # Per step: W_a query, v_a score reduction, context.
        "attention_query": out_steps * mm(rows, h, a),
        "attention_score": out_steps * 2 * rows * src_len * a,
        "attention_context": out_steps * 2 * rows * src_len * d,
        # Decoder GRU: input [embedding; context] and recurrent kernels.
        "decoder_input": out_steps * mm(rows, e + d, 3 * h),
        "decoder_recurrent": out_steps * mm(rows, h, 3 * h),
        "vocab_projection": out_steps * mm(rows, h, v),
    }


def flop_count(
    task: str,
    length: int,
    batch: int = 64,
    decode_steps: int = DECODE_STEPS,
    beam_width: int = BEAM_WIDTH,
    cfg: ModelConfig = ModelConfig(),
) -> int:
    """Matmul FLOPs of one training step or one decode call.

    Args:
      task: ``train``, ``greedy`` or ``beam5``.
      length: source length (also the target length for ``train``).
      batch: sentences per call.
      decode_steps: output steps for ``greedy`` / ``beam5``.
      beam_width: beams for ``beam5``.
      cfg: model sizes.

    Returns:
      FLOPs (training counts 3x the forward pass).
    """
    if task == "train":
        return 3 * sum(
            forward_breakdown(batch, length, length, cfg=cfg).values()
        )
    if task == "greedy":
        return sum(
            forward_breakdown(batch, length, decode_steps, cfg=cfg).values()
        )
    if task == "beam5":
        return sum(
            forward_breakdown(
                batch, length, decode_steps, batch * beam_width, cfg=cfg
            ).values()
        )
    raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")


def flop_bound(
    task: str,
    length: int,
    batch: int = 64,
    gflops: float | None = None,
    decode_steps: int = DECODE_STEPS,
    beam_width: int = BEAM_WIDTH,
    cfg: ModelConfig = ModelConfig(),
) -> dict:
    """FLOP count and time lower bound of one step / call.

    Args:
      task: ``train``, ``greedy`` or ``beam5``.
      length: source length (also the target length for ``train``).
      batch: sentences per call.
      gflops: matmul rate in GFLOP/s; when ``None`` the bound is omitted
        (``lower_bound_s`` is ``None``).
      decode_steps: output steps for ``greedy`` / ``beam5``.
      beam_width: beams for ``beam5``.
      cfg: model sizes.

    Returns:
      ``{"kind": "flop_bound", "task", "length", "batch", "flops",
      "gflops_used", "lower_bound_s"}``.
    """
    flops = flop_count(task, length, batch, decode_steps, beam_width, cfg)
    return {
        "kind": "flop_bound",
        "task": task,
        "length": length,
        "batch": batch,
        "flops": flops,
        "gflops_used": gflops,
        "lower_bound_s": None if not gflops else flops / (gflops * 1e9),
    }


@dataclass
class RateResult:
    """One measured matmul rate (best and median over the passes)."""

    backend: str
    dtype: str
    m: int
    k: int
    n: int
    best_s: float
    median_s: float
    gflops: float
    gflops_median: float


def _calibrate(fn: Callable[[], object], min_s: float) -> int:
    """Calls of ``fn`` needed for one timed batch of about ``min_s``."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    return max(1, int(min_s / once))


def _time_batch(fn: Callable[[], object], inner: int) -> float:
    """Seconds per call of ``fn`` averaged over ``inner`` calls."""
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


# Idle time after a numpy batch (OpenBLAS spins up to ~0.1 s by default).
OPENBLAS_SETTLE_S = 0.3


def _graph_loop(a, b, reps: int) -> Callable[[], object]:
    """A call running ``reps`` products ``(a + i) @ b`` inside one graph.

    Timing single eager-launched products measures launch overhead and the
    page faults of a fresh output buffer per call (about 40% of the time
    of a 1280x512x8000 product here), which a model's compiled step does
    not pay. In a ``while_loop`` the buffers are reused, every product is
    distinct (``a + i``) and fully consumed (summed into an accumulator),
    so no optimizer pass can skip or merge them.
    """
    import tensorflow as tf

    m, n = a.shape[0], b.shape[1]

    @tf.function(autograph=False)
    def loop():
        def body(i, total):
            shifted = a + tf.cast(i, a.dtype)
            return i + 1, total + tf.linalg.matmul(shifted, b)

        total = tf.zeros((m, n), a.dtype)
        _, total = tf.while_loop(lambda i, _: i < reps, body, (0, total))
        return tf.reduce_sum(tf.cast(total[:1], tf.float32))

    return lambda: loop().numpy()


DEFAULT_SHAPES: tuple[tuple[int, int, int], ...] = (
    (1024, 1024, 1024),  # cube
    (64, 512, 1536),  # decoder GRU recurrent kernel, batch 64
    (64, 768, 1536),  # decoder GRU input kernel [emb; ctx]
    (64, 512, 8000),  # vocabulary projection, one step
    (1280, 512, 8000),  # vocabulary projection, all 20 steps at once
    (1280, 512, 512),  # attention keys U_a, batch 64 x 20
    (320, 512, 1536),  # decoder GRU recurrent kernel, beam 5
)


def measure_matmul_rate(
    shapes: tuple[tuple[int, int, int], ...] = DEFAULT_SHAPES,
    passes: int = 9,
    min_s: float = 0.05,
    with_bf16: bool = True,
) -> tuple[list[RateResult], dict]:
    """Time matmuls with numpy and TensorFlow.

    The timed batches are interleaved: each of ``passes`` passes times every
    (shape, backend, dtype) once, so a slow phase of the machine (this VM's
    speed drifts by up to 2x for seconds at a time) does not hit one shape
    only. Per shape the best batch gives ``gflops`` (the rate a lower bound
    must assume) and the median batch ``gflops_median``.

    Args:
      shapes: ``(m, k, n)`` products to time.
      passes: timed batches per shape.
      min_s: approximate duration of one timed batch.
      with_bf16: also time TensorFlow bfloat16.

    Returns:
      ``(per-shape results, summary)`` where the summary is the
      ``{"kind": "matmul_rate", ...}`` record: best numpy float32, best
      TensorFlow float32 (``tf_gflops``, the rate used for the bounds) and
      best TensorFlow bfloat16 GFLOP/s over all shapes, plus the cube rates.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    cases: list[tuple[str, str, int, int, int, int, Callable[[], object]]]
    cases = []
    for m, k, n in shapes:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        cases.append(("numpy", "float32", m, k, n, 1, lambda a=a, b=b: a @ b))
        dtypes = [tf.float32] + ([tf.bfloat16] if with_bf16 else [])
        # Products per TensorFlow call: about 0.5 GFLOP of work.
        reps = max(1, int(5e8 / mm(m, k, n)))
        for dtype in dtypes:
            ta = tf.constant(a, dtype=dtype)
            tb = tf.constant(b, dtype=dtype)
            run = _graph_loop(ta, tb, reps)
            cases.append(("tensorflow", dtype.name, m, k, n, reps, run))

    inners = [_calibrate(case[-1], min_s) for case in cases]
    samples: list[list[float]] = [[] for _ in cases]
    for _ in range(passes):
        for i, case in enumerate(cases):
            per_call = _time_batch(case[-1], inners[i])
            samples[i].append(per_call / case[-2])
            if case[0] == "numpy":
                # OpenBLAS worker threads spin for a while after a product
                # and would slow the next TensorFlow batch.
                time.sleep(OPENBLAS_SETTLE_S)

    results: list[RateResult] = []
    for (backend, dtype, m, k, n, _reps, _fn), times in zip(cases, samples):
        best_s = min(times)
        median_s = statistics.median(times)
        results.append(
            RateResult(
                backend,
                dtype,
                m,
                k,
                n,
                best_s,
                median_s,
                mm(m, k, n) / best_s / 1e9,
                mm(m, k, n) / median_s / 1e9,
            )
        )

    def best(backend: str, dtype: str) -> float | None:
        rates = [
            r.gflops
            for r in results
            if r.backend == backend and r.dtype == dtype
        ]
        return max(rates) if rates else None

    def cube(backend: str, dtype: str) -> float | None:
        for r in results:
            if (r.backend, r.dtype, r.m, r.k, r.n) == (
                backend,
                dtype,
                1024,
                1024,
                1024,
            ):
                return r.gflops
        return None

    summary = {
        "kind": "matmul_rate",
        "numpy_gflops": best("numpy", "float32"),
        "tf_gflops": best("tensorflow", "float32"),
        "tf_bf16_gflops": best("tensorflow", "bfloat16"),
        "numpy_cube_gflops": cube("numpy", "float32"),
        "tf_cube_gflops": cube("tensorflow", "float32"),
        "tf_bf16_cube_gflops": cube("tensorflow", "bfloat16"),
        "passes": passes,
        "numpy_version": np.__version__,
        "tensorflow_version": tf.__version__,
        "cpu_count": os.cpu_count(),
    }
    return results, summary


def bound_records(
    gflops: float | None,
    lengths_train: tuple[int, ...] = (20, 50),
    length_decode: int = 20,
    batch: int = 64,
) -> list[dict]:
    """Bound records for the benchmark's task/length grid."""
    records = [
        flop_bound("train", length, batch, gflops) for length in lengths_train
    ]
    records += [
        flop_bound(task, length_decode, batch, gflops)
        for task in ("greedy", "beam5")
    ]
    return records


def main(argv: list[str] | None = None) -> int:
    """Print matmul rates and FLOP bounds as JSON lines on stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--gflops",
        type=float,
        default=None,
        help="use this float32 rate instead of measuring",
    )
    parser.add_argument(
        "--rate-only",
        action="store_true",
        help="print only the matmul_rate summary line",
    )
    parser.add_argument(
        "--details",
        action="store_true",
        help="also print one line per timed shape and the FLOP breakdown",
    )
    parser.add_argument("--passes", type=int, default=9)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args(argv)

    gflops = args.gflops
    if gflops is None:
        results, summary = measure_matmul_rate(passes=args.passes)
        if args.details:
            for r in results:
                print(json.dumps({"kind": "matmul_shape", **asdict(r)}))
        print(json.dumps(summary), flush=True)
        gflops = summary["tf_gflops"]
    if args.rate_only:
        return 0
    for record in bound_records(gflops, batch=args.batch):
        print(json.dumps(record))
    if args.details:
        for task, length, rows in (
            ("train", 20, None),
            ("train", 50, None),
            ("greedy", 20, None),
            ("beam5", 20, args.batch * BEAM_WIDTH),
        ):
            steps = length if task == "train" else DECODE_STEPS
            print(
                json.dumps(
                    {
                        "kind": "forward_breakdown",
                        "task": task,
                        "length": length,
                        **forward_breakdown(args.batch, length, steps, rows),
                    }
                )
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
