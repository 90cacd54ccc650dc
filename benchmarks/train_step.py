"""Training-step speed: keras_bahdanau vs a Python-loop tutorial decoder.

Compares in one process, interleaved over rounds (the machine is noisy):

- `ours`: `AttentionSeq2Seq` (scan decoder, keys precomputed once, fused
  state matmul, output projection after the scan, hand-written gradient
  of the time loop) in a `tf.function`;
- `ours_autodiff`: the same with the time loop differentiated by
  TensorFlow (`decoder.manual_backprop = False`);
- `ours_jit`: `ours` under `jit_compile=True` (XLA; the hand-written
  gradient needs no loop differentiation, so the scan loop stays);
- `recompute_keys`: `ours_autodiff`, but `U_a h_j` recomputed at every
  step (compare with `ours_autodiff`);
- `pyloop`: `tutorial_model.TutorialSeq2Seq`, the TensorFlow tutorial's
  Python-loop decoder inside a `tf.function`.

Batch 64, vocab 8000, embedding 256, encoder 256 per direction, decoder 512,
attention 512, source and target length 20 and 50. Prints one JSON line per
(round, variant, length) and a summary line per length with per-round
median step times, target tokens/s and the median of same-round ratios
against `pyloop`, `ours` and `ours_autodiff`.

Usage:
    python benchmarks/train_step.py [--rounds 5] [--steps 5] [--lengths 20 50]
"""

import argparse
import json
import statistics

from common import BENCH_CONFIG
from common import VOCAB
from common import build_ours
from common import make_batch
from common import median_seconds
from common import train_step_function
from tutorial_model import TutorialSeq2Seq

BATCH = 64


def autodiff_model(length: int):
    """Ours, with the time loop differentiated automatically."""
    model = build_ours(length, BATCH)
    model.decoder.manual_backprop = False
    return model


def recompute_keys_model(length: int):
    """`autodiff_model`, with the attention ignoring precomputed keys."""
    model = autodiff_model(length)
    attention = model.decoder.attention_layer
    attend = attention.attend

    def attend_recomputing(query, values, keys, values_mask=None, **kwargs):
        keys = attention.precompute_keys(values)
        return attend(query, values, keys, values_mask, **kwargs)

    attention.attend = attend_recomputing
    return model


def tutorial_model(length: int):
    model = TutorialSeq2Seq(
        VOCAB,
        BENCH_CONFIG["embedding_dim"],
        BENCH_CONFIG["encoder_units"],
        BENCH_CONFIG["decoder_units"],
        BENCH_CONFIG["attention_units"],
    )
    source, decoder_input, _ = make_batch(BATCH, length)
    model((source, decoder_input))
    return model


VARIANTS = {
    "ours": lambda length: (build_ours(length, BATCH), False),
    "ours_autodiff": lambda length: (autodiff_model(length), False),
    "ours_jit": lambda length: (build_ours(length, BATCH), True),
    "recompute_keys": lambda length: (recompute_keys_model(length), False),
    "pyloop": lambda length: (tutorial_model(length), False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--lengths", type=int, nargs="+", default=[20, 50])
    parser.add_argument(
        "--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS
    )
    args = parser.parse_args()
    for length in args.lengths:
        batch = make_batch(BATCH, length)
        steps = {}
        for name in args.variants:
            model, jit = VARIANTS[name](length)
            steps[name] = train_step_function(model, jit_compile=jit)
        times = {name: [] for name in args.variants}
        for round_index in range(args.rounds):
            order = (
                args.variants[round_index % len(args.variants) :]
                + (args.variants[: round_index % len(args.variants)])
            )
            for name in order:
                seconds = median_seconds(
                    lambda: steps[name](*batch),
                    args.steps,
                    args.warmup if round_index == 0 else 0,
                )
                times[name].append(seconds)
                print(
                    json.dumps(
                        {
                            "bench": "train_step",
                            "round": round_index,
                            "variant": name,
                            "length": length,
                            "batch": BATCH,
                            "step_s": seconds,
                            "target_tokens_per_s": BATCH * length / seconds,
                        }
                    ),
                    flush=True,
                )
        summary = {"bench": "train_step", "summary": True, "length": length}
        for name in args.variants:
            summary[name] = {
                "median_step_s": statistics.median(times[name]),
                "target_tokens_per_s": BATCH
                * length
                / statistics.median(times[name]),
            }
            for base in ("pyloop", "ours", "ours_autodiff"):
                if base in times and base != name:
                    ratios = [b / s for s, b in zip(times[name], times[base])]
                    summary[name][f"speedup_vs_{base}"] = statistics.median(
                        ratios
                    )
        print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
