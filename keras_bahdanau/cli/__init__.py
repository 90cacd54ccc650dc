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
import sys

from keras_bahdanau.cli.common import PROG
from keras_bahdanau.cli.common import Parser
from keras_bahdanau.cli.common import UserError
from keras_bahdanau.cli.common import fraction_arg
from keras_bahdanau.cli.common import one_line
from keras_bahdanau.cli.common import positive_arg
from keras_bahdanau.cli.common import seed_arg
from keras_bahdanau.cli.model_commands import cmd_attention
from keras_bahdanau.cli.model_commands import cmd_evaluate
from keras_bahdanau.cli.model_commands import cmd_export
from keras_bahdanau.cli.model_commands import cmd_translate
from keras_bahdanau.cli.runs import RUN_OPTIONS
from keras_bahdanau.cli.runs import TRAIN_ARGS_FILENAME
from keras_bahdanau.cli.train import DEMO_EPOCHS
from keras_bahdanau.cli.train import DEMO_REFERENCE
from keras_bahdanau.cli.train import DEMO_SENTENCE
from keras_bahdanau.cli.train import DEMO_VOCAB_SIZE
from keras_bahdanau.cli.train import cmd_demo
from keras_bahdanau.cli.train import cmd_train
from keras_bahdanau.cli.train import cmd_tune

__all__ = [
    "DEMO_REFERENCE",
    "DEMO_SENTENCE",
    "DEMO_VOCAB_SIZE",
    "RUN_OPTIONS",
    "TRAIN_ARGS_FILENAME",
    "build_parser",
    "main",
]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `keras-bahdanau` command."""
    parser = Parser(
        prog=PROG,
        description="Bahdanau attention translation: train, translate, "
        "evaluate, plot attention, export.",
    )
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    sub.required = True

    demo = sub.add_parser(
        "demo", help="train on the embedded English-Hindi data and show it"
    )
    demo.add_argument("--out", default="keras_bahdanau_demo")
    demo.add_argument("--epochs", type=positive_arg(int), default=DEMO_EPOCHS)
    demo.add_argument("--max-pairs", type=positive_arg(int), default=None)
    demo.set_defaults(func=cmd_demo)

    train = sub.add_parser("train", help="train on an Anki/Tatoeba TSV")
    train.add_argument("--data", required=True)
    train.add_argument("--out", required=True)
    train.add_argument("--reverse", action="store_true")
    train.add_argument("--preset", default="small")
    train.add_argument("--epochs", type=positive_arg(int), default=10)
    train.add_argument("--max-pairs", type=positive_arg(int), default=None)
    train.add_argument("--validation-split", type=fraction_arg, default=0.1)
    train.add_argument("--seed", type=seed_arg, default=0)
    train.add_argument("--batch-size", type=positive_arg(int), default=64)
    train.add_argument("--max-length", type=positive_arg(int), default=40)
    train.add_argument(
        "--vocab-size",
        type=positive_arg(int),
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
        "--beam-size", type=positive_arg(int), default=None,
        help="with --strategy beam (default: generate's, 4)",
    )
    translate.add_argument(
        "--seed", type=seed_arg, default=None, help="with --strategy sampling"
    )
    translate.add_argument(
        "--no-repeat-ngram-size", type=positive_arg(int), default=None,
        help="never repeat an n-gram of this size in one output",
    )
    translate.add_argument("text", nargs="*")
    translate.set_defaults(func=cmd_translate)

    evaluate = sub.add_parser("evaluate", help="print BLEU/chrF as JSON")
    evaluate.add_argument("--model", required=True)
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument("--reverse", action="store_true")
    evaluate.add_argument("--limit", type=positive_arg(int), default=None)
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
        help="bayesian needs scikit-learn (pip install "
        "'keras-bahdanau[bayesian]'); its first third of --max-trials (at "
        "least 2) is random",
    )
    tune.add_argument("--max-trials", type=positive_arg(int), default=10)
    tune.add_argument("--epochs", type=positive_arg(int), default=5)
    tune.add_argument(
        "--objective", choices=("val_loss", "val_chrf"), default="val_loss"
    )
    tune.add_argument("--reverse", action="store_true")
    tune.add_argument("--preset", choices=("tiny", "small"), default="small")
    tune.add_argument("--max-pairs", type=positive_arg(int), default=None)
    tune.add_argument("--seed", type=seed_arg, default=0)
    tune.add_argument("--batch-size", type=positive_arg(int), default=64)
    tune.add_argument("--validation-split", type=fraction_arg, default=0.1)
    tune.add_argument("--max-length", type=positive_arg(int), default=40)
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
        print(f"{prefix}: error: {one_line(error)}", file=sys.stderr)
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
