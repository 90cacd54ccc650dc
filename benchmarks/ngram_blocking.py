"""Cost of `generate(no_repeat_ngram_size=n)`: with and without, side by side.

Runs greedy and beam-5 decoding of the benchmark model (batch 64, source
length 20, exactly 20 output steps, random weights, no early stop) in one
process, alternating the two settings over interleaved rounds, and prints
one JSON line per task with the per-round medians and the median of the
same-round ratios `with / without` (above 1: blocking costs time).

Usage:
    python benchmarks/ngram_blocking.py --rounds 5 --calls 5 --size 3
"""

import argparse
import json
import statistics
import time

from common import build_ours
from common import forbid_end
from common import make_batch

DECODE_STEPS = 20
SETTINGS = {
    "greedy": {"strategy": "greedy"},
    "beam5": {"strategy": "beam", "beam_size": 5},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--size", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    model = build_ours(20, args.batch)
    forbid_end(model)
    source, _, _ = make_batch(args.batch, 20)
    for task, settings in SETTINGS.items():
        variants = (None, args.size)

        def call(size):
            return model.generate(
                source, max_length=DECODE_STEPS, no_repeat_ngram_size=size,
                **settings,
            )

        for size in variants:  # compile both before timing
            call(size)
        medians = {size: [] for size in variants}
        for round_ in range(args.rounds):
            order = variants if round_ % 2 == 0 else variants[::-1]
            for size in order:
                times = []
                for _ in range(args.calls):
                    start = time.perf_counter()
                    call(size)
                    times.append(time.perf_counter() - start)
                medians[size].append(statistics.median(times))
        ratios = [
            with_ / without
            for with_, without in zip(medians[args.size], medians[None])
        ]
        print(json.dumps({
            "bench": "ngram_blocking",
            "task": task,
            "no_repeat_ngram_size": args.size,
            "median_s_without": statistics.median(medians[None]),
            "median_s_with": statistics.median(medians[args.size]),
            "with_over_without_per_round": ratios,
            "with_over_without": statistics.median(ratios),
        }), flush=True)


if __name__ == "__main__":
    main()
