"""Does `mixed_bfloat16` training reach the float32 validation loss?

Trains the same model from the same initial weights on the synthetic
reversal task (`kb.data.reversal_task`) once under the float32 policy and
once under `mixed_bfloat16`, for `--seeds` seeds (data, initial weights
and shuffling), then prints one JSON line per run and a summary with the
per-seed and mean loss ratios (the target is within 2%, i.e. at most
1.02) and the ratio of training wall times.

The summary gives two ratios of mean bf16 loss / mean float32 loss: of
the last epoch (`val_loss_ratio`) and of the lowest validation loss over
the epochs (`best_val_loss_ratio`, what early stopping keeps). The last
epoch is noisy: at this learning rate without clipping, the validation
loss of either policy still jumps by up to 0.8 between epochs after the
fifth, and
3-seed, 12-epoch runs of the last-epoch ratio ranged from 0.963 to 1.114
(per seed 0.78 to 1.21). On 2026-11-26 the defaults (5 seeds, 16 epochs)
gave best 1.317 vs 1.308, ratio 1.007 (per seed 1.001-1.017), and last
epoch 0.977 (per seed 0.92-1.00).

Every target token is replaced by a random content token with probability
`--noise` (train and validation alike), so the best reachable loss is the
noise entropy, not zero: a clean reversal is learned perfectly by both
policies and their losses near 0 differ by noise-level absolute amounts
that make a ratio meaningless.

Usage:
    python benchmarks/bf16_quality.py [--epochs 16] [--seeds 5] \
        [--samples 4000] [--units 128] [--max-length 20] [--noise 0.2] \
        [--clipnorm 0] [--seed 0]

The weights are created once in float32 and copied into the bf16 model, so
both runs start from identical parameters (variables stay float32 under a
mixed policy). Validation loss is the padding-masked cross-entropy on a
held-out set of the same task.
"""

import argparse
import json
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_bahdanau as kb  # noqa: E402

SPECIAL_IDS = 3  # pad, start, end


def build(args, policy: str) -> kb.AttentionSeq2Seq:
    """The model under `policy`, built for the task's shapes."""
    keras.config.set_dtype_policy(policy)
    vocab = args.content_vocab + SPECIAL_IDS
    model = kb.build_model(
        vocab,
        vocab,
        embedding_dim=args.units // 2,
        encoder_units=args.units // 2,
        decoder_units=args.units,
        attention_units=args.units,
        maxout_units=None,
    )
    length = args.max_length + 1
    model.build(((None, length), (None, length)))
    clip = {"clipnorm": args.clipnorm} if args.clipnorm > 0 else {}
    model.compile(optimizer=kb.optimizers.Adam(args.learning_rate, **clip))
    keras.config.set_dtype_policy("float32")
    return model


def run(args, seed: int, policy: str, weights, train, val) -> dict:
    """Trains a fresh model under `policy` from `weights`; one record."""
    keras.utils.set_random_seed(seed)
    model = build(args, policy)
    model.set_weights(weights)
    start = time.perf_counter()
    history = model.fit(
        train[:2],
        train[2],
        batch_size=args.batch,
        epochs=args.epochs,
        shuffle=False,
        validation_data=(val[:2], val[2]),
        validation_batch_size=250,
        verbose=0,
    )
    seconds = time.perf_counter() - start
    per_epoch = [float(x) for x in history.history["val_loss"]]
    return {
        "kind": "run",
        "seed": seed,
        "policy": policy,
        "val_loss": per_epoch[-1],
        "val_accuracy": float(history.history["val_accuracy"][-1]),
        "best_val_loss": min(per_epoch),
        "best_epoch": 1 + int(np.argmin(per_epoch)),
        "val_loss_per_epoch": [round(x, 4) for x in per_epoch],
        "train_s": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--content-vocab", type=int, default=50)
    parser.add_argument("--max-length", type=int, default=20)
    parser.add_argument("--noise", type=float, default=0.2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=0.005)
    parser.add_argument(
        "--clipnorm", type=float, default=0.0,
        help="gradient norm clipping of Adam per weight (0: off)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    def task(samples, seed):
        source, decoder_input, target = kb.data.reversal_task(
            samples,
            min_length=5,
            max_length=args.max_length,
            vocab_size=args.content_vocab,
            seed=seed,
        )
        rng = np.random.default_rng(seed + 1000)
        content = target >= SPECIAL_IDS
        flip = content & (rng.random(target.shape) < args.noise)
        noise = rng.integers(SPECIAL_IDS, SPECIAL_IDS + args.content_vocab,
                             target.shape)
        target = np.where(flip, noise, target).astype(target.dtype)
        decoder_input = decoder_input.copy()
        decoder_input[:, 1:] = target[:, :-1]
        return source, decoder_input, target

    losses = {"float32": [], "mixed_bfloat16": []}
    best = {"float32": [], "mixed_bfloat16": []}
    seconds = {"float32": 0.0, "mixed_bfloat16": 0.0}
    for seed in range(args.seed, args.seed + args.seeds):
        train = task(args.samples, seed)
        val = task(500, seed + 1)
        keras.utils.set_random_seed(seed)
        weights = build(args, "float32").get_weights()
        for policy in losses:
            record = run(args, seed, policy, weights, train, val)
            losses[policy].append(record["val_loss"])
            best[policy].append(record["best_val_loss"])
            seconds[policy] += record["train_s"]
            print(json.dumps(record), flush=True)
    f32 = float(np.mean(losses["float32"]))
    bf16 = float(np.mean(losses["mixed_bfloat16"]))
    best_f32 = float(np.mean(best["float32"]))
    best_bf16 = float(np.mean(best["mixed_bfloat16"]))
    summary = {
        "kind": "summary",
        "epochs": args.epochs,
        "seeds": args.seeds,
        "samples": args.samples,
        "units": args.units,
        "clipnorm": args.clipnorm,
        "val_loss_float32": f32,
        "val_loss_bfloat16": bf16,
        "val_loss_ratio_per_seed": [
            b / a for a, b in zip(losses["float32"],
                                  losses["mixed_bfloat16"])
        ],
        "val_loss_ratio": bf16 / f32,
        "within_2_percent": bf16 <= 1.02 * f32,
        "best_val_loss_float32": best_f32,
        "best_val_loss_bfloat16": best_bf16,
        "best_val_loss_ratio_per_seed": [
            b / a for a, b in zip(best["float32"], best["mixed_bfloat16"])
        ],
        "best_val_loss_ratio": best_bf16 / best_f32,
        "best_within_2_percent": best_bf16 <= 1.02 * best_f32,
        "train_time_ratio_float32_over_bfloat16": seconds["float32"]
        / seconds["mixed_bfloat16"],
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
