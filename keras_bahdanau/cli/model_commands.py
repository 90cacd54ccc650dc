"""The subcommands that use a trained `--model`.

`translate`, `evaluate`, `attention` and `export` load a translator
directory: the `--out` of `train` or `demo`, or `best` in that of `tune`.
"""

import contextlib
import json
import os

from keras_bahdanau.cli.common import UserError
from keras_bahdanau.cli.common import check_out_dir
from keras_bahdanau.cli.common import check_utf8
from keras_bahdanau.cli.common import load_translator
from keras_bahdanau.cli.common import log
from keras_bahdanau.cli.common import make_out_dir
from keras_bahdanau.cli.common import one_line
from keras_bahdanau.cli.common import read_pairs
from keras_bahdanau.cli.common import stdin_lines


def cmd_translate(args) -> int:
    translator = load_translator(args.model)
    texts = args.text
    check_utf8("TEXT", texts)
    if not texts:
        texts = stdin_lines()
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
    translator = load_translator(args.model)
    pairs = read_pairs(args.data, reverse=args.reverse)
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
    check_utf8("TEXT", [args.text])
    translator = load_translator(args.model)
    if not args.text.strip():
        raise UserError("TEXT must hold a word; received an empty string.")
    try:
        translator.plot_attention(args.text, args.out)
    except (ImportError, OSError, ValueError) as error:
        raise UserError(f"--out {args.out!r}: {one_line(error)}") from None
    log(f"Attention heatmap: {os.path.abspath(args.out)}")
    return 0


def cmd_export(args) -> int:
    check_out_dir(args.out)
    translator = load_translator(args.model)
    created = not os.path.exists(args.out)
    make_out_dir(args.out)
    try:
        translator.export(args.out)
    except RuntimeError as error:  # another Keras backend than TensorFlow
        if created:
            with contextlib.suppress(OSError):  # only while still empty
                os.rmdir(args.out)
        raise UserError(one_line(error)) from None
    log(f"SavedModel written to {os.path.abspath(args.out)}")
    return 0
