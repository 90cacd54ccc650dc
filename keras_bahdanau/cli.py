"""Command line: `keras-bahdanau demo|train|translate|evaluate|...`.

Exit status 0 on success; 2 with one line on stderr naming the problem for
user errors (missing or empty file, bad columns, missing or unreadable model,
unknown preset, bad argument, `--out` that is a file, stdin that is not
UTF-8, no pair within `--max-length`, a resumed run given other settings
than those in `--out`). Results go to stdout, logs and progress to stderr
(except the Keras progress bars of `train` and `demo`, on stdout). Both are
written as UTF-8 whatever the locale, as stdin is read.

`train` and `demo` resume the run in `--out` when it holds one. A fresh run
saves its settings (and a digest of its pairs) in `train_args.json` there;
a resume must be given the same ones, only `--epochs` may change.
"""

import argparse
import codecs
import hashlib
import json
import os
import sys
import time
import warnings

PROG = "keras-bahdanau"
DEMO_SENTENCE = "Hello I am Dhruv"
DEMO_REFERENCE = "नमस्ते मैं ध्रुव हूँ"
# Sized to train the `small` preset on the embedded data in well under 10
# minutes on 2 CPU cores.
DEMO_EPOCHS = 20
DEMO_BATCH_SIZE = 32
# Sub-word vocabulary of the demo: with ~2,700 training pairs, 500-1,000
# pieces score best on held-out data (8,000 gave chrF 9 instead of 17).
DEMO_VOCAB_SIZE = 1000
TRAIN_ARGS_FILENAME = "train_args.json"
# The settings in TRAIN_ARGS_FILENAME that a resume must repeat, with their
# options. `--epochs` is not one: a larger value trains the run on. The
# pairs (after `--reverse` and `--max-pairs`) are saved as `num_pairs` and
# `pairs_sha256`.
RUN_OPTIONS = (
    ("preset", "--preset"),
    ("seed", "--seed"),
    ("validation_split", "--validation-split"),
    ("max_length", "--max-length"),
    ("vocab_size", "--vocab-size"),
    ("batch_size", "--batch-size"),
    ("source_lang", "--source-lang"),
    ("target_lang", "--target-lang"),
)
# `keras.utils.set_random_seed` (NumPy) takes seeds in [0, 2**32).
MAX_SEED = 2**32


class UserError(Exception):
    """A problem with the user's arguments or files (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UserError(message)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _length_hint(
    error: BaseException, max_length: int, out=None, translator=None
) -> str:
    """`error` on one line, with the fix when no pair fit the length limits.

    Args:
        error: the error of training or of the search.
        max_length: the `--max-length` given.
        out: the `--out` directory of a resumed run, else `None`.
        translator: the resumed `Translator` (its limits were fixed by the
            run in `out`), else `None`: `--max-length` set the limits.

    Returns:
        The message on one line.
    """
    message = _one_line(error)
    if "length limits" not in message:
        return message
    if translator is None:
        return message + f" Pass a larger --max-length (now {max_length})."
    return message + (
        f" The run in --out {out!r} fixed the limits at max_source_length="
        f"{translator.max_source_length} and max_target_length="
        f"{translator.max_target_length} sub-words; a resume keeps them. "
        "Train a new run in another --out with a larger --max-length."
    )


def _load_pairs(path: str, reverse: bool = False) -> list:
    from keras_bahdanau.data import load_pairs

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pairs = load_pairs(path, reverse=reverse)
    except (OSError, ValueError) as error:  # missing, a directory, unread
        raise UserError(_one_line(error)) from None
    for warning in caught:
        _log(f"warning: {_one_line(warning.message)}")
    return pairs


def _load_translator(path: str):
    from keras_bahdanau.translator import Translator

    if not os.path.exists(path):
        raise UserError(
            f"model not found: {path!r}. Pass a directory written by "
            f"`{PROG} train --out DIR`."
        )
    try:
        return Translator.load(path)
    except (FileNotFoundError, ValueError) as error:
        raise UserError(_one_line(error)) from None


def _check_out_dir(path: str) -> None:
    """`--out` names a directory: fail early when it or a parent is a file."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(
            f"--out must be a directory; {path!r} is an existing file. "
            "Pass a new or existing directory."
        )
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UserError(
            f"--out {path!r} cannot be created: {parent!r} is an existing "
            "file. Pass a directory outside it."
        )


def _make_out_dir(path: str) -> None:
    """Makes the checked `--out` directory now, so a place where none can
    be made (no permission, a read-only or special file system) fails with
    one line before the work, not with a traceback at the end of it."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise UserError(
            f"--out {path!r} cannot be created: {_one_line(error)}. "
            "Pass a directory you can write to."
        ) from None


def _check_utf8(name: str, texts: list) -> None:
    """Command-line texts the shell passed as bytes that are not UTF-8."""
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise UserError(
                f"{name} {text.encode('utf-8', 'surrogateescape')!r} is not "
                "valid UTF-8. Re-encode it as UTF-8."
            ) from None


def _stdin_lines() -> list:
    """Lines of stdin without their line ends, decoded as UTF-8."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a text stream without bytes (e.g. io.StringIO)
        return [line.rstrip("\r\n") for line in sys.stdin]
    lines = []
    for number, raw in enumerate(stream, start=1):
        try:
            # A byte order mark (Windows tools) is not part of the text.
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise UserError(
                f"stdin line {number} is not valid UTF-8. Re-encode the "
                "input as UTF-8 (e.g. `iconv -t UTF-8`)."
            ) from None
        lines.append(line.rstrip("\r\n"))
    return lines


def _seed(text):
    message = f"expected an int in [0, 2**32), got {text!r}"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(message) from None
    if not 0 <= value < MAX_SEED:
        raise argparse.ArgumentTypeError(message)
    return value


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a positive {kind.__name__}, got {text!r}"
            ) from None
        if value <= 0:
            raise argparse.ArgumentTypeError(
                f"expected a positive {kind.__name__}, got {text!r}"
            )
        return value

    return parse


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a fraction in [0, 1), got {text!r}"
        ) from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(
            f"expected a fraction in [0, 1), got {text!r}"
        )
    return value


def _check_preset(preset: str) -> None:
    from keras_bahdanau.models import PRESETS

    if preset not in PRESETS:
        raise UserError(
            f"unknown preset {preset!r}; choose one of "
            f"{', '.join(sorted(PRESETS))}."
        )


def _pairs_digest(pairs) -> str:
    """The sha256 (hex) of `pairs` as JSON: the same pairs in the same
    order give the same digest."""
    text = json.dumps([list(pair) for pair in pairs], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_run_settings(out: str, settings: dict) -> None:
    """Raises `UserError` when the run in `out` was started with other
    settings than `settings` (see `RUN_OPTIONS`).

    A run without `TRAIN_ARGS_FILENAME` (written by an older version)
    passes: there is nothing to compare.

    Args:
        out: the `--out` directory, holding a run.
        settings: this command's settings, as `_train` saves them.

    Raises:
        UserError: the settings file cannot be read, or an option or the
            pairs differ; the message names each difference, saved and
            given, and the fix.
    """
    from keras_bahdanau.jsonfile import read_json

    path = os.path.join(out, TRAIN_ARGS_FILENAME)
    if not os.path.isfile(path):
        return
    try:
        saved = read_json(path)
        problem = None if isinstance(saved, dict) else "not a JSON object"
    except (OSError, ValueError) as error:
        problem = _one_line(error)
    if problem is not None:
        raise UserError(
            f"{path!r} must hold the run's settings as a JSON object. "
            f"Received: {problem}. Delete the file to resume without "
            "comparing the settings, or choose another --out."
        )
    differences = [
        f"{option} saved {saved[key]!r}, given {settings[key]!r}"
        for key, option in RUN_OPTIONS
        if key in saved and saved[key] != settings[key]
    ]
    if any(
        key in saved and saved[key] != settings[key]
        for key in ("num_pairs", "pairs_sha256")
    ):
        differences.append(
            "the pairs (--data, --reverse, --max-pairs) saved "
            f"{saved.get('num_pairs')} pair(s) with sha256 "
            f"{str(saved.get('pairs_sha256'))[:12]}..., given "
            f"{settings['num_pairs']} pair(s) with sha256 "
            f"{settings['pairs_sha256'][:12]}..."
        )
    if differences:
        raise UserError(
            f"--out {out!r} holds a run started with other settings, and a "
            f"resume must repeat them: {'; '.join(differences)}. Pass the "
            "saved options again (only --epochs may change), or choose "
            "another --out for a new run."
        )


def _train(
    pairs,
    out: str,
    preset: str,
    epochs: int,
    batch_size: int,
    validation_split: float,
    seed: int,
    source_lang=None,
    target_lang=None,
    max_length: int = 40,
    verbose=None,
    vocab_size: int = 8000,
):
    """Trains (or resumes) a translator in `out`; returns it.

    A fresh run writes its settings to `out/TRAIN_ARGS_FILENAME` before it
    trains; a resume compares them with the given ones first.

    Args:
        pairs: the `(source, target)` pairs, after `--reverse` and
            `--max-pairs`.
        out: the run directory (`--out`).
        preset: the model preset of a fresh run.
        epochs: the total number of epochs (may grow between runs).
        batch_size: the batch size.
        validation_split: the fraction of `pairs` held out.
        seed: the seed of the split, the shuffles and the weights.
        source_lang: the source language code, or `None`.
        target_lang: the target language code, or `None`.
        max_length: the sub-word length limit of both sides (fresh run).
        verbose: Keras' verbosity; `None`: bars on a terminal, else lines.
        vocab_size: the largest vocabulary per side (fresh run).

    Returns:
        The trained `Translator`.

    Raises:
        UserError: `out` holds a run started with other settings, its
            translator cannot be loaded, the pairs cannot be split, or
            training rejects the pairs or settings (e.g. no pair within
            the length limits).
    """
    import keras

    from keras_bahdanau import training
    from keras_bahdanau.data import split_pairs
    from keras_bahdanau.jsonfile import write_json
    from keras_bahdanau.translator import Translator
    from keras_bahdanau.translator_files import holds_translator

    settings = {
        "preset": preset,
        "seed": seed,
        "validation_split": validation_split,
        "max_length": max_length,
        "vocab_size": vocab_size,
        "batch_size": batch_size,
        "source_lang": source_lang,
        "target_lang": target_lang,
        "num_pairs": len(pairs),
        "pairs_sha256": _pairs_digest(pairs),
    }
    keras.utils.set_random_seed(seed)
    if verbose is None:
        # Progress bars on a terminal, one line per epoch in a log file.
        verbose = 1 if sys.stdout.isatty() else 2
    state = training.read_state(out)
    if state:
        _check_run_settings(out, settings)
    resumed = None  # the loaded translator of a resumed run
    if state and holds_translator(out):
        try:
            translator = resumed = Translator.load(out)
        except (FileNotFoundError, ValueError) as error:
            raise UserError(_one_line(error)) from None
        try:
            train, validation, _ = split_pairs(
                pairs, validation_split=validation_split, seed=seed
            )
        except ValueError as error:  # e.g. too few pairs to split
            raise UserError(_one_line(error)) from None
        translator.train_pairs, translator.validation_pairs = train, validation
        done = state.get("completed_epochs", 0)
        # A run stopped before its end of training is ended by fit below.
        if training.is_finished(state, epochs):
            _log(
                f"{out} already holds a finished run ({done} epoch(s) "
                f"done, {epochs} asked): nothing to train."
            )
            return translator
        _log(f"Resuming from the checkpoint in {out} ({done} epoch(s) done).")
    else:
        try:
            translator = Translator.from_pairs(
                pairs,
                source_lang=source_lang,
                target_lang=target_lang,
                preset=preset,
                validation_split=validation_split,
                seed=seed,
                max_source_length=max_length,
                max_target_length=max_length,
                source_vocab_size=vocab_size,
                target_vocab_size=vocab_size,
            )
        except ValueError as error:
            raise UserError(_one_line(error)) from None
        if not out.endswith(".keras"):  # fit rejects it below
            os.makedirs(out, exist_ok=True)
            write_json(os.path.join(out, TRAIN_ARGS_FILENAME), settings)
        _log(
            f"{len(translator.train_pairs)} training and "
            f"{len(translator.validation_pairs)} validation pairs; "
            f"vocabularies {translator.source_tokenizer.vocabulary_size} / "
            f"{translator.target_tokenizer.vocabulary_size}; preset "
            f"{preset!r}."
        )
    try:
        translator.fit(
            epochs=epochs,
            batch_size=batch_size,
            directory=out,
            verbose=verbose,
        )
    except ValueError as error:
        raise UserError(
            _length_hint(error, max_length, out, resumed)
        ) from None
    return translator


# ------------------------------------------------------------------ commands
def cmd_demo(args) -> int:
    from keras_bahdanau.data import load_default_pairs

    start = time.time()
    _check_out_dir(args.out)
    pairs = load_default_pairs()
    if args.max_pairs:
        pairs = pairs[: args.max_pairs]
    _log(
        f"Training the 'small' preset on {len(pairs)} embedded "
        f"English-Hindi pairs for {args.epochs} epochs (resumable)..."
    )
    translator = _train(
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
        _log(f"Attention heatmap skipped: {_one_line(error)}")
    print(f"\nModel saved in {os.path.abspath(args.out)}")
    if png is not None:
        print(f"Attention heatmap: {os.path.abspath(png)}")
    print(f"Wall time: {time.time() - start:.0f} s")
    return 0


def cmd_train(args) -> int:
    _check_preset(args.preset)
    _check_out_dir(args.out)
    pairs = _load_pairs(args.data, reverse=args.reverse)
    if args.max_pairs:
        pairs = pairs[: args.max_pairs]
    translator = _train(
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
        _log(
            f"Validation: BLEU {scores['bleu']:.2f}, chrF "
            f"{scores['chrf']:.2f} on {scores['n']} pairs."
        )
    _log(f"Model saved in {os.path.abspath(args.out)}")
    return 0


def cmd_translate(args) -> int:
    translator = _load_translator(args.model)
    texts = args.text
    _check_utf8("TEXT", texts)
    if not texts:
        texts = _stdin_lines()
    kwargs = {}
    for flag, value, strategy in (("--beam-size", args.beam_size, "beam"),
                                  ("--seed", args.seed, "sampling")):
        if value is not None and args.strategy != strategy:
            raise UserError(
                f"{flag} applies to --strategy {strategy} only; got "
                f"--strategy {args.strategy}. Add --strategy {strategy} or "
                f"drop {flag}."
            )
    if args.beam_size is not None:
        kwargs["beam_size"] = args.beam_size
    if args.seed is not None:
        kwargs["seed"] = args.seed
    if args.no_repeat_ngram_size is not None:
        kwargs["no_repeat_ngram_size"] = args.no_repeat_ngram_size
    for line in translator.translate(texts, strategy=args.strategy, **kwargs):
        print(line)
    return 0


def cmd_evaluate(args) -> int:
    translator = _load_translator(args.model)
    pairs = _load_pairs(args.data, reverse=args.reverse)
    scores = translator.evaluate(pairs, limit=args.limit)
    print(json.dumps(scores))
    return 0


def _check_image_path(path: str) -> None:
    """`--out` of `attention`: a file with a format matplotlib writes."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise UserError(
            "attention needs matplotlib: pip install 'keras-bahdanau[plot]'."
        ) from None
    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    extension = os.path.splitext(path)[1][1:].lower()
    if extension and extension not in formats:
        raise UserError(
            f"--out must end with a supported image format "
            f"({', '.join(formats)}); received {path!r}. Use e.g. "
            "--out attention.png."
        )
    if os.path.isdir(path):
        raise UserError(
            f"--out must be an image file; {path!r} is a directory. Use "
            "e.g. --out attention.png."
        )


def cmd_attention(args) -> int:
    if not os.path.splitext(args.out)[1]:
        args.out += ".png"  # what matplotlib would write; logged below
    _check_image_path(args.out)
    _check_utf8("TEXT", [args.text])
    translator = _load_translator(args.model)
    if not args.text.strip():
        raise UserError("TEXT must hold a word; received an empty string.")
    try:
        translator.plot_attention(args.text, args.out)
    except (ImportError, OSError, ValueError) as error:
        raise UserError(f"--out {args.out!r}: {_one_line(error)}") from None
    _log(f"Attention heatmap: {os.path.abspath(args.out)}")
    return 0


def cmd_export(args) -> int:
    _check_out_dir(args.out)
    translator = _load_translator(args.model)
    _make_out_dir(args.out)
    try:
        translator.export(args.out)
    except RuntimeError as error:  # another Keras backend than TensorFlow
        raise UserError(_one_line(error)) from None
    _log(f"SavedModel written to {os.path.abspath(args.out)}")
    return 0


def cmd_tune(args) -> int:
    import contextlib

    from keras_bahdanau.tuning import run_search

    _check_out_dir(args.out)
    pairs = _load_pairs(args.data, reverse=args.reverse)
    _make_out_dir(args.out)
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
        raise UserError(_length_hint(error, args.max_length)) from None
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `keras-bahdanau` command."""
    parser = _Parser(
        prog=PROG,
        description="Bahdanau attention translation: train, translate, "
        "evaluate, plot attention, export.",
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    sub.required = True

    demo = sub.add_parser(
        "demo", help="train on the embedded English-Hindi data and show it"
    )
    demo.add_argument("--out", default="keras_bahdanau_demo")
    demo.add_argument("--epochs", type=_positive(int), default=DEMO_EPOCHS)
    demo.add_argument("--max-pairs", type=_positive(int), default=None)
    demo.set_defaults(func=cmd_demo)

    train = sub.add_parser("train", help="train on an Anki/Tatoeba TSV")
    train.add_argument("--data", required=True)
    train.add_argument("--out", required=True)
    train.add_argument("--reverse", action="store_true")
    train.add_argument("--preset", default="small")
    train.add_argument("--epochs", type=_positive(int), default=10)
    train.add_argument("--max-pairs", type=_positive(int), default=None)
    train.add_argument("--validation-split", type=_fraction, default=0.1)
    train.add_argument("--seed", type=_seed, default=0)
    train.add_argument("--batch-size", type=_positive(int), default=64)
    train.add_argument("--max-length", type=_positive(int), default=40)
    train.add_argument(
        "--vocab-size",
        type=_positive(int),
        default=8000,
        help="largest sub-word vocabulary per side (use ~1000 for a few "
        "thousand pairs)",
    )
    train.add_argument("--source-lang", default=None)
    train.add_argument("--target-lang", default=None)
    train.set_defaults(func=cmd_train)

    translate = sub.add_parser(
        "translate", help="translate TEXT arguments or stdin lines"
    )
    translate.add_argument("--model", required=True)
    translate.add_argument(
        "--strategy", choices=("greedy", "beam", "sampling"), default="greedy"
    )
    translate.add_argument(
        "--beam-size", type=_positive(int), default=None,
        help="with --strategy beam (default: generate's, 4)",
    )
    translate.add_argument(
        "--seed", type=_seed, default=None, help="with --strategy sampling"
    )
    translate.add_argument(
        "--no-repeat-ngram-size", type=_positive(int), default=None,
        help="never repeat an n-gram of this size in one output",
    )
    translate.add_argument("text", nargs="*")
    translate.set_defaults(func=cmd_translate)

    evaluate = sub.add_parser("evaluate", help="print BLEU/chrF as JSON")
    evaluate.add_argument("--model", required=True)
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument("--reverse", action="store_true")
    evaluate.add_argument("--limit", type=_positive(int), default=None)
    evaluate.set_defaults(func=cmd_evaluate)

    attention = sub.add_parser("attention", help="save an attention heatmap")
    attention.add_argument("--model", required=True)
    attention.add_argument("--out", required=True)
    attention.add_argument("text")
    attention.set_defaults(func=cmd_attention)

    export = sub.add_parser("export", help="write a TensorFlow SavedModel")
    export.add_argument("--model", required=True)
    export.add_argument("--out", required=True)
    export.set_defaults(func=cmd_export)

    tune = sub.add_parser(
        "tune", help="search hyperparameters; save the best translator"
    )
    tune.add_argument("--data", required=True)
    tune.add_argument("--out", required=True)
    tune.add_argument(
        "--tuner", choices=("random", "hyperband", "bayesian"),
        default="random",
    )
    tune.add_argument("--max-trials", type=_positive(int), default=10)
    tune.add_argument("--epochs", type=_positive(int), default=5)
    tune.add_argument(
        "--objective", choices=("val_loss", "val_chrf"), default="val_loss"
    )
    tune.add_argument("--reverse", action="store_true")
    tune.add_argument("--preset", choices=("tiny", "small"), default="small")
    tune.add_argument("--max-pairs", type=_positive(int), default=None)
    tune.add_argument("--seed", type=_seed, default=0)
    tune.add_argument("--batch-size", type=_positive(int), default=64)
    tune.add_argument("--validation-split", type=_fraction, default=0.1)
    tune.add_argument("--max-length", type=_positive(int), default=40)
    tune.add_argument(
        "--verbose", type=int, choices=(0, 1, 2), default=2,
        help="0 quiet, 1 progress bars, 2 one line per epoch (stderr)",
    )
    tune.set_defaults(func=cmd_tune)
    return parser


def _to_utf8(stream):
    """Reconfigures the text `stream` to write UTF-8 (keeping its error
    handler) when it can; returns a function that restores its encoding."""
    try:
        encoding = stream.encoding
        if codecs.lookup(encoding).name == "utf-8":
            return lambda: None
        stream.reconfigure(encoding="utf-8", errors=stream.errors)
    # No reconfigure (e.g. a notebook's stream), or a closed stream.
    except (AttributeError, LookupError, OSError, TypeError, ValueError):
        return lambda: None

    def undo():
        try:
            stream.reconfigure(encoding=encoding, errors=stream.errors)
        except (OSError, ValueError):
            pass

    return undo


def _main(argv) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except UserError as error:
        command = getattr(locals().get("args"), "command", None)
        prefix = f"{PROG} {command}" if command else PROG
        print(f"{prefix}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def main(argv: "list[str] | None" = None) -> int:
    """Runs the command line; returns the exit status.

    stdout and stderr are written as UTF-8 whatever the locale (e.g.
    `PYTHONIOENCODING=cp1252`) while `main` runs, as stdin is read:
    Devanagari or CJK output cannot fail to encode. Their encodings are
    restored on return.

    Args:
        argv: arguments without the program name (default `sys.argv[1:]`).

    Returns:
        0 on success, 2 on a user error (one line on stderr).
    """
    restore = [_to_utf8(sys.stdout), _to_utf8(sys.stderr)]
    try:
        return _main(argv)
    finally:
        for undo in restore:
            undo()


if __name__ == "__main__":
    sys.exit(main())
