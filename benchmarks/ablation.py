"""Where a training step's time goes: the step with one part made trivial.

Diagnostic, not a lever: each variant replaces one part of the decoder's
hand-written training loop (`keras_bahdanau/layers/teacher_forcing.py`)
with a trivial stand-in of the same shapes, so its results are wrong and
only its time means something. The time a part costs is the full step's
time minus the variant's:

- `no_attention_backward`: `attention_backward` (context and softmax
  gradient, the attention `tanh` recomputed, query, keys and `v_a`
  gradients) returns its inputs;
- `no_gru_backward`: `gru_gates_backward` returns the state gradient,
  tiled, for both pre-activation gradients;
- `no_attention_forward`: the fused attention step returns the first
  memory row and the mask as its context and weights.

The patches apply while each variant's `tf.function` is traced (its first
call) and are undone right after, so all variants live in one process and
are timed in interleaved rounds. Benchmark model (batch 64, vocab 8000,
embedding 256, bi-GRU 256 per direction, decoder 512, attention 512), the
package's default Adam; `--dtype bfloat16` builds the models under
`mixed_bfloat16`. Prints one JSON line per round and per variant a
summary with the median time and the median of the per-round differences
to the full step.

    python3 benchmarks/ablation.py [--rounds 5] [--steps 5] [--lengths 20 50]
        [--dtype float32|bfloat16]
"""

import argparse
import contextlib
import json
import statistics

from common import build_ours
from common import interleaved_rounds
from common import make_batch
from common import train_step_function
from common import use_bfloat16
from keras import ops

import keras_bahdanau.layers.teacher_forcing as teacher_forcing

BATCH = 64


def _attention_backward_stub(dc, da_out, weights, query, keys, memory,
                             vector_row, d_weighted, d_vector, d_scores):
    return query, d_weighted, d_vector, d_scores


def _gru_backward_stub(d_new, h_prev, z, r, candidate, r_h):
    tiled = ops.concatenate([d_new, d_new, d_new], axis=-1)
    return tiled, tiled


def _attention_forward_stub(query, keys, memory, mask, score_vector):
    return memory[:, 0, :], ops.cast(mask, memory.dtype)


STUBS = {
    "full": {},
    "no_attention_backward": {"attention_backward": _attention_backward_stub},
    "no_gru_backward": {"gru_gates_backward": _gru_backward_stub},
    "no_attention_forward": {
        "softmax_attention_step": _attention_forward_stub
    },
}


@contextlib.contextmanager
def patched(module, replacements: dict):
    """Replaces attributes of `module` inside the block."""
    saved = {name: getattr(module, name) for name in replacements}
    for name, value in replacements.items():
        setattr(module, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)


def traced_step(length: int, stubs: dict):
    """A training step of a fresh model, traced with `stubs` in place."""
    batch = make_batch(BATCH, length)
    step = train_step_function(build_ours(length, BATCH))
    with patched(teacher_forcing, stubs):
        step(*batch)
    return lambda: step(*batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--lengths", type=int, nargs="+", default=[20, 50])
    parser.add_argument(
        "--dtype", choices=("float32", "bfloat16"), default="float32"
    )
    args = parser.parse_args()
    if args.dtype == "bfloat16":
        use_bfloat16()
    for length in args.lengths:
        functions = {
            name: traced_step(length, stubs) for name, stubs in STUBS.items()
        }
        fields = {"bench": "ablation", "length": length, "dtype": args.dtype}
        per_round = interleaved_rounds(
            functions, args.rounds, args.steps, fields
        )
        for name in STUBS:
            saved = [
                full - part
                for full, part in zip(per_round["full"], per_round[name])
            ]
            print(json.dumps({
                "kind": "summary",
                **fields,
                "variant": name,
                "step_ms": round(statistics.median(per_round[name]) * 1e3, 1),
                "saved_ms_per_round": [round(s * 1e3, 1) for s in saved],
                "saved_ms": round(statistics.median(saved) * 1e3, 1),
            }), flush=True)


if __name__ == "__main__":
    main()
