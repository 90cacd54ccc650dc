"""The subcommands that train from pairs into `--out`: demo, train, tune."""

import json
import os
import sys
import time

from keras_bahdanau.cli.common import UserError
from keras_bahdanau.cli.common import check_out_dir
from keras_bahdanau.cli.common import length_hint
from keras_bahdanau.cli.common import log
from keras_bahdanau.cli.common import make_out_dir
from keras_bahdanau.cli.common import one_line
from keras_bahdanau.cli.common import read_pairs
from keras_bahdanau.cli.runs import train_run

DEMO_SENTENCE = "Hello I am Dhruv"
DEMO_REFERENCE = "नमस्ते मैं ध्रुव हूँ"
# Sized to train the `small` preset on the embedded data in well under 10
# minutes on 2 CPU cores.
DEMO_EPOCHS = 20
DEMO_BATCH_SIZE = 32
# Sub-word vocabulary of the demo: with ~2,700 training pairs, 500-1,000
# pieces score best on held-out data (8,000 gave chrF 9 instead of 17).
DEMO_VOCAB_SIZE = 1000


def _check_preset(preset: str) -> None:
    from keras_bahdanau.models import PRESETS

    if preset not in PRESETS:
        raise UserError(
            f"unknown preset {preset!r}; choose one of "
            f"{', '.join(sorted(PRESETS))}."
        )


def cmd_demo(args) -> int:
    from keras_bahdanau.data import load_default_pairs

    start = time.time()
    check_out_dir(args.out)
    pairs = load_default_pairs()
    if args.max_pairs:
        pairs = pairs[: args.max_pairs]
    log(
        f"Training the 'small' preset on {len(pairs)} embedded "
        f"English-Hindi pairs for {args.epochs} epochs (resumable)..."
    )
    translator = train_run(
        pairs,
        args.out,
        preset="small",
        epochs=args.epochs,
        batch_size=DEMO_BATCH_SIZE,
        validation_split=0.1,
        seed=0,
        source_lang="en",
        target_lang="hi",
        vocab_size=DEMO_VOCAB_SIZE,
    )
    validation = translator.validation_pairs
    scores = translator.evaluate(validation)
    print(
        f"\nValidation ({scores['n']} pairs): BLEU {scores['bleu']:.2f}, "
        f"chrF {scores['chrf']:.2f}"
    )
    examples = validation[:5] + [(DEMO_SENTENCE, DEMO_REFERENCE)]
    # Beam search: greedy decoding loops on out-of-vocabulary names.
    outputs = translator.translate(
        [s for s, _ in examples], strategy="beam", beam_size=5
    )
    print("\nExamples, beam 5 (source -> translation | reference):")
    for (source, reference), output in zip(examples, outputs):
        print(f"  {source}\n    -> {output}\n    |  {reference}")
    png = os.path.join(args.out, "attention.png")
    try:
        translator.plot_attention(DEMO_SENTENCE, png)
    except ImportError as error:
        # `pip install keras-bahdanau` has no matplotlib (the `plot` extra).
        png = None
        log(f"Attention heatmap skipped: {one_line(error)}")
    print(f"\nModel saved in {os.path.abspath(args.out)}")
    if png is not None:
        print(f"Attention heatmap: {os.path.abspath(png)}")
    print(f"Wall time: {time.time() - start:.0f} s")
    return 0


def cmd_train(args) -> int:
    _check_preset(args.preset)
    check_out_dir(args.out)
    pairs = read_pairs(args.data, reverse=args.reverse)
    if args.max_pairs:
        pairs = pairs[: args.max_pairs]
    translator = train_run(
        pairs,
        args.out,
        preset=args.preset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        validation_split=args.validation_split,
        seed=args.seed,
        source_lang=args.source_lang,
        target_lang=args.target_lang,
        max_length=args.max_length,
        vocab_size=args.vocab_size,
    )
    if translator.validation_pairs:
        scores = translator.evaluate(translator.validation_pairs[:500])
        log(
            f"Validation: BLEU {scores['bleu']:.2f}, chrF "
            f"{scores['chrf']:.2f} on {scores['n']} pairs."
        )
    log(f"Model saved in {os.path.abspath(args.out)}")
    return 0


def cmd_tune(args) -> int:
    import contextlib

    from keras_bahdanau.tuning import run_search

    check_out_dir(args.out)
    pairs = read_pairs(args.data, reverse=args.reverse)
    make_out_dir(args.out)
    try:
        # Keras Tuner and Keras print progress on stdout: keep it for JSON.
        with contextlib.redirect_stdout(sys.stderr):
            summary = run_search(
                pairs,
                args.out,
                tuner=args.tuner,
                max_trials=args.max_trials,
                epochs=args.epochs,
                objective=args.objective,
                max_pairs=args.max_pairs,
                preset=args.preset,
                seed=args.seed,
                batch_size=args.batch_size,
                validation_split=args.validation_split,
                max_length=args.max_length,
                verbose=args.verbose,
            )
    # RuntimeError: every trial failed.
    except (ImportError, RuntimeError, ValueError) as error:
        raise UserError(length_hint(error, args.max_length)) from None
    print(json.dumps(summary, ensure_ascii=False))
    return 0
