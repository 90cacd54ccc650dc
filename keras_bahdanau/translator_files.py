"""How a `Translator` lies on disk: a directory or one `.keras` archive.

A directory holds `model.keras`, `source_tokenizer.json`,
`target_tokenizer.json` and `translator.json` (the settings); a training
run adds its backups and log next to them (`keras_bahdanau.training`). A
path ending in `.keras` is one Keras archive with the tokenizers and the
settings in an extra `keras_bahdanau_translator.json` entry. `Translator`
calls these functions; it is the public way in.
"""

import glob
import json
import os
import shutil
import tempfile
import zipfile

import keras

from keras_bahdanau.data.pairs import check_not_a_file
from keras_bahdanau.data.pairs import check_path
from keras_bahdanau.jsonfile import read_json
from keras_bahdanau.jsonfile import write_json
from keras_bahdanau.text import TextTokenizer

CONFIG_FILENAME = "translator.json"
MODEL_FILENAME = "model.keras"
SOURCE_TOKENIZER_FILENAME = "source_tokenizer.json"
TARGET_TOKENIZER_FILENAME = "target_tokenizer.json"
# Entry added to a single-file `.keras` archive by `Translator.save`.
ARCHIVE_ENTRY = "keras_bahdanau_translator.json"
FORMAT_VERSION = 1


def save(translator, path) -> str:
    """Writes `translator` to a directory or a `.keras` file.

    Args:
        translator: the `Translator`.
        path: a directory (created when missing) or a `.keras` file.

    Returns:
        `path` as a string.

    Raises:
        TypeError: `path` is not a str or `os.PathLike`.
        FileExistsError: `path` (not ending in `.keras`) is a file.
        IsADirectoryError: `path` ends in `.keras` and is a directory.

    Example:

    >>> import os, tempfile
    >>> import keras_bahdanau as kb
    >>> from keras_bahdanau import translator_files
    >>> translator = kb.Translator.from_pairs(
    ...     kb.reversal_text_pairs(40, seed=0), preset="tiny")
    >>> path = translator_files.save(translator, tempfile.mkdtemp())
    >>> sorted(os.listdir(path))  # doctest: +NORMALIZE_WHITESPACE
    ['model.keras', 'source_tokenizer.json', 'target_tokenizer.json',
     'translator.json']
    """
    path = check_path("path", path, "my_translator")
    tokenizers = {
        SOURCE_TOKENIZER_FILENAME: translator.source_tokenizer.get_config(),
        TARGET_TOKENIZER_FILENAME: translator.target_tokenizer.get_config(),
    }
    if path.endswith(".keras"):
        if os.path.isdir(path):
            raise IsADirectoryError(
                "`path` ending in `.keras` must be a file. Received: "
                f"path={path!r}, an existing directory. Pass a file path, "
                "or a directory name without the `.keras` ending."
            )
        bundle = {
            "config": translator.get_config(),
            "source_tokenizer": tokenizers[SOURCE_TOKENIZER_FILENAME],
            "target_tokenizer": tokenizers[TARGET_TOKENIZER_FILENAME],
        }
        _write_archive(translator.model, bundle, path)
        return path
    check_not_a_file(
        "path", path, "a directory (new or existing) or end in `.keras`"
    )
    os.makedirs(path, exist_ok=True)
    config = translator.get_config()
    files = {**tokenizers, CONFIG_FILENAME: config}
    if holds_translator(path) and not all(
        _file_holds(os.path.join(path, name), value)
        for name, value in files.items()
    ):
        # Another translator is replaced: without its settings file the
        # directory reads as no translator until this save completes, so a
        # kill midway cannot leave a loadable mix of the two.
        os.remove(os.path.join(path, CONFIG_FILENAME))
    # Each file is written to a temporary name first and renamed: a kill
    # mid-save keeps the old file.
    tmp = os.path.join(path, "tmp." + MODEL_FILENAME)
    translator.model.save(tmp)
    os.replace(tmp, os.path.join(path, MODEL_FILENAME))
    for name, value in files.items():  # the settings file last
        write_json(os.path.join(path, name), value)
    return path


def _file_holds(path: str, value) -> bool:
    """Whether the JSON file `path` holds `value` as `save` writes it
    (through JSON: tuples become lists); False when it is missing or not
    valid JSON."""
    try:
        return read_json(path) == json.loads(json.dumps(value))
    except (OSError, ValueError):
        return False


def _write_archive(model, bundle: dict, path: str) -> None:
    """Writes the `.keras` archive with the translator entry atomically.

    The archive is completed under a temporary name in the same folder and
    then renamed over the file a symbolic link `path` points to (keeping
    that file's permissions): a failed or killed save leaves an existing
    file whole. Temporary files of killed saves to the same path are
    removed by the next save that completes.
    """
    target = os.path.realpath(path)
    folder, name = os.path.split(target)
    os.makedirs(folder, exist_ok=True)
    prefix = f".tmp.{name}."
    # Keras needs the `.keras` ending.
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=prefix,
                                   suffix=".keras")
    os.close(handle)
    try:
        if os.path.isfile(target):
            shutil.copymode(target, tmp)
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(
                ARCHIVE_ENTRY, json.dumps(bundle, ensure_ascii=False)
            )
        os.replace(tmp, target)
        for stale in glob.glob(os.path.join(glob.escape(folder),
                                            glob.escape(prefix) + "*.keras")):
            os.remove(stale)
    finally:
        if os.path.isfile(tmp):
            os.remove(tmp)


def load(path) -> tuple:
    """Reads what `save` wrote.

    Args:
        path: the directory or `.keras` file given to `save`.

    Returns:
        `(config, source_tokenizer, target_tokenizer, model)`: the
        settings dict of `Translator.get_config`, two `TextTokenizer`s and
        the `AttentionSeq2Seq` (loaded with `safe_mode=True`).

    Raises:
        FileNotFoundError: nothing saved at `path`.
        TypeError: `path` is not a str or `os.PathLike`.
        ValueError: the files are not a saved translator, or one of them
            is damaged (the message names it).
    """
    path = check_path("path", path, "my_translator")
    if os.path.isfile(path) and path.endswith(".keras"):
        return _load_archive(path)
    config_path = os.path.join(path, CONFIG_FILENAME)
    if not os.path.isfile(config_path):
        raise FileNotFoundError(
            f"No saved translator at {path!r} (missing {CONFIG_FILENAME}). "
            "Pass a directory written by Translator.save or "
            "`keras-bahdanau train --out`."
        )
    config = _read(path, CONFIG_FILENAME, lambda: read_json(config_path))
    model_path = os.path.join(path, MODEL_FILENAME)
    _check_archive(model_path, f"path={path!r}, whose {MODEL_FILENAME} is "
                   "missing or not a .keras archive. Save the translator "
                   "again, or train it again.")
    tokenizers = tuple(
        _read(path, name, lambda name=name: TextTokenizer.load(
            os.path.join(path, name)))
        for name in (SOURCE_TOKENIZER_FILENAME, TARGET_TOKENIZER_FILENAME)
    )
    return (
        _checked_config(path, CONFIG_FILENAME, config),
        *tokenizers,
        _read(path, MODEL_FILENAME,
              lambda: keras.saving.load_model(model_path)),
    )


def _load_archive(path: str) -> tuple:
    _check_archive(path, f"path={path!r}, a file that is not a .keras "
                   "archive (not a zip file). Pass the directory or "
                   ".keras file written by Translator.save.")
    with zipfile.ZipFile(path) as archive:
        if ARCHIVE_ENTRY not in archive.namelist():
            raise ValueError(
                "`path` must be a translator saved by Translator.save. "
                f"Received: {path!r}, a .keras file without "
                "vocabularies. Build a Translator from the model and "
                "its tokenizers instead."
            )
        bundle = _read(path, ARCHIVE_ENTRY,
                       lambda: json.loads(archive.read(ARCHIVE_ENTRY)))
    if not isinstance(bundle, dict):
        _damaged(path, ARCHIVE_ENTRY, "it holds no JSON object")
    source, target = (
        _read(path, ARCHIVE_ENTRY, lambda key=key: TextTokenizer.from_config(
            bundle[key]))
        for key in ("source_tokenizer", "target_tokenizer")
    )
    return (
        _checked_config(path, ARCHIVE_ENTRY, bundle.get("config")),
        source,
        target,
        _read(path, "the model", lambda: keras.saving.load_model(path)),
    )


# The settings `Translator.load` needs; the others have defaults.
_REQUIRED = ("max_source_length", "max_target_length")


def _checked_config(path: str, name: str, config) -> dict:
    if not isinstance(config, dict):
        _damaged(path, name, "it holds no settings object")
    missing = [key for key in _REQUIRED if key not in config]
    if missing:
        _damaged(path, name, f"it lacks {', '.join(map(repr, missing))}")
    return config


def _read(path: str, name: str, read):
    """`read()`, with the errors of a damaged file as one `ValueError`."""
    try:
        return read()
    except (KeyError, TypeError, AttributeError, ValueError,
            zipfile.BadZipFile) as error:
        _damaged(path, name, f"{type(error).__name__}: {error}")


def _damaged(path: str, name: str, problem: str):
    problem = " ".join(problem.split())
    if len(problem) > 200:
        problem = problem[:197] + "..."
    raise ValueError(
        "`path` must be a translator saved by Translator.save. Received: "
        f"{path!r}, whose {name} is damaged ({problem}). Save the "
        "translator again, or train it again."
    ) from None


def holds_translator(directory: str) -> bool:
    """Whether `directory` holds the settings file `save` writes."""
    return os.path.isfile(os.path.join(directory, CONFIG_FILENAME))


def check_same_vocabularies(translator, directory: str) -> None:
    """Raises `ValueError` when `directory` holds other vocabularies.

    Args:
        translator: the `Translator` about to train in `directory`.
        directory: a run directory; missing tokenizer files pass.
    """
    for side, name, tokenizer in (
        ("source", SOURCE_TOKENIZER_FILENAME, translator.source_tokenizer),
        ("target", TARGET_TOKENIZER_FILENAME, translator.target_tokenizer),
    ):
        path = os.path.join(directory, name)
        if os.path.isfile(path) and not _file_holds(
            path, tokenizer.get_config()
        ):
            raise ValueError(
                "`directory` must hold no run, or a run with this "
                f"translator's vocabularies. Received: directory="
                f"{directory!r}, whose {side} tokenizer ({name}) differs "
                "from this translator's (other training data or settings). "
                "Pass a new directory, or continue that run with "
                "Translator.load(directory).fit(pairs, directory=directory)."
            )


def _check_archive(path: str, received: str) -> None:
    if not zipfile.is_zipfile(path):
        raise ValueError(
            "`path` must be a translator saved by Translator.save. "
            f"Received: {received}"
        )
