"""Where the time of one training step or greedy call goes, by TensorFlow op.

Runs the benchmark model (see `common.py`) under the TensorFlow profiler
and prints JSON lines:

- `{"kind": "wall", ...}`: median wall time of the call unprofiled, and of
  the profiled calls;
- `{"kind": "region", "region": ..., "op_ms": ...}`: the summed duration of
  the ops of each part of the step (per call), parts told apart by op name:
  `decoder_loop_forward` (the decoder's time loop), `backward_loops` (the
  hand-written backward time loops of the decoder and the encoder),
  `encoder` (its forward, loops included, and the gradients of its input
  products), `output_layer` (the vocabulary projection and its
  gradients), `loss`, `optimizer` and `other` (mostly the weight-gradient
  products after the backward loops and the decoder's input products);
- `{"kind": "op", "op": ..., "op_ms": ..., "count": ...}`: the largest op
  types;
- with `--names TYPE`, `{"kind": "name", "name": ..., "op_ms": ...}`: the
  largest ops of that type by name (summed over loop iterations).

Op durations overlap when ops run at the same time (this CPU has 2 cores),
so sums can exceed the wall time; a time loop whose ops add up to about
its wall time ran about one op at a time. The profiler adds some overhead.

    python3 benchmarks/profile_step.py [--task train|greedy] [--length 20]
        [--dtype float32|bfloat16] [--calls 3] [--top 15] [--names Cast]
"""

import argparse
import collections
import glob
import json
import os
import re
import statistics
import tempfile
import time

from common import build_ours
from common import forbid_end
from common import make_batch
from common import median_seconds
from common import tf
from common import train_step_function
from common import use_bfloat16

# (region, pattern on the op name) per task; the first match wins.
REGIONS = {
    "train": (
        ("optimizer", r"^adam|ResourceApplyAdam|UnsortedSegmentSum"),
        ("output_layer", r"logits"),
        ("loss", r"crossentropy|^mul|^TensorScatterUpdate|^Max"),
        ("encoder", r"encoder"),
        ("decoder_loop_forward", r"decoder.*while"),
        ("backward_loops", r"^while"),
    ),
    "greedy": (
        ("encoder", r"encoder"),
        ("decoding_loop", r"^while"),
    ),
}


def region_of(name: str, task: str) -> str:
    for region, pattern in REGIONS[task]:
        if re.search(pattern, name):
            return region
    return "other"


def op_events(logdir: str):
    """`(name, type, milliseconds)` of every TensorFlow op event."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    (path,) = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"),
                        recursive=True)
    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    for plane in space.planes:
        if "host:CPU" not in plane.name:
            continue
        metadata = plane.event_metadata
        for line in plane.lines:
            if line.name == "python":
                continue
            for event in line.events:
                name = metadata[event.metadata_id].name
                if ":" not in name or name.startswith("ExecutorState"):
                    continue
                op_name, op_type = name.rsplit(":", 1)
                if op_type.strip().startswith("__inference"):
                    continue
                yield op_name, op_type.strip(), event.duration_ps / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("train", "greedy"),
                        default="train")
    parser.add_argument("--length", type=int, default=20)
    parser.add_argument("--dtype", choices=("float32", "bfloat16"),
                        default="float32")
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument(
        "--names", metavar="OP_TYPE", default=None,
        help="also print the largest op names of this type (e.g. Cast)",
    )
    args = parser.parse_args()
    if args.dtype == "bfloat16":
        use_bfloat16()
    model = build_ours(args.length, 64)
    source, decoder_input, target = make_batch(64, args.length)
    if args.task == "train":
        step = train_step_function(model)

        def call():
            return step(source, decoder_input, target)
    else:
        forbid_end(model)

        def call():
            return model.generate(source, max_length=20, strategy="greedy")

    fields = {"task": args.task, "length": args.length, "dtype": args.dtype}
    unprofiled = median_seconds(call, 5, 3)
    logdir = tempfile.mkdtemp(prefix="profile_step_")
    profiled = []
    tf.profiler.experimental.start(logdir)
    for _ in range(args.calls):
        start = time.perf_counter()
        tf.nest.map_structure(
            lambda x: x.numpy() if hasattr(x, "numpy") else x, call()
        )
        profiled.append(time.perf_counter() - start)
    tf.profiler.experimental.stop()
    by_region = collections.Counter()
    by_type = collections.Counter()
    counts = collections.Counter()
    by_name = collections.Counter()
    for name, op_type, ms in op_events(logdir):
        by_region[region_of(name, args.task)] += ms / args.calls
        by_type[op_type] += ms / args.calls
        counts[op_type] += 1
        if op_type == args.names:
            by_name[name] += ms / args.calls
    print(json.dumps({
        "kind": "wall", **fields,
        "unprofiled_ms": round(unprofiled * 1000, 1),
        "profiled_ms": round(statistics.median(profiled) * 1000, 1),
        "op_ms_total": round(sum(by_type.values()), 1),
    }), flush=True)
    for region, ms in by_region.most_common():
        print(json.dumps({"kind": "region", **fields, "region": region,
                          "op_ms": round(ms, 1)}), flush=True)
    for op_type, ms in by_type.most_common(args.top):
        print(json.dumps({
            "kind": "op", **fields, "op": op_type, "op_ms": round(ms, 2),
            "count": counts[op_type] // args.calls,
        }), flush=True)
    for name, ms in by_name.most_common(args.top):
        print(json.dumps({"kind": "name", **fields, "op": args.names,
                          "name": name, "op_ms": round(ms, 2)}), flush=True)


if __name__ == "__main__":
    main()
