"""keras_bahdanau side of `compare.py`: one task, one JSON record.

Usage:
    python benchmarks/ours.py --task train|greedy|beam5 --length 20 \
        --batch 64 --steps 10 --warmup 2 [--dtype float32|bfloat16]

Decoding runs exactly 20 output steps with `end_id` made unreachable (no
early stop), from random weights, as the baseline does.
"""

import argparse
import json
import sys

from common import build_ours
from common import forbid_end
from common import make_batch
from common import median_seconds
from common import peak_rss_mb
from common import train_step_function
from common import use_bfloat16

DECODE_STEPS = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--task", choices=("train", "greedy", "beam5"), required=True
    )
    parser.add_argument("--length", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--dtype", choices=("float32", "bfloat16"), default="float32"
    )
    args = parser.parse_args()
    if args.dtype == "bfloat16":
        use_bfloat16()
    model = build_ours(args.length, args.batch)
    source, decoder_input, target = make_batch(args.batch, args.length)
    if args.task == "train":
        step = train_step_function(model)
        seconds = median_seconds(
            lambda: step(source, decoder_input, target),
            args.steps,
            args.warmup,
        )
        value, unit = args.batch * args.length / seconds, "target_tokens/s"
    else:
        forbid_end(model)
        settings = {"strategy": "greedy"}
        if args.task == "beam5":
            settings = {"strategy": "beam", "beam_size": 5}
        seconds = median_seconds(
            lambda: model.generate(source, max_length=DECODE_STEPS, **settings),
            args.steps,
            args.warmup,
        )
        value, unit = args.batch / seconds, "sentences/s"
    record = {
        "impl": "keras_bahdanau",
        "task": args.task,
        "length": args.length,
        "batch": args.batch,
        "value": value,
        "unit": unit,
        "median_s": seconds,
        "steps": args.steps,
        "peak_rss_mb": peak_rss_mb(),
        "dtype": args.dtype,
    }
    print(json.dumps(record))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
