"""JSON and text files of run state, settings, vocabularies and logs: atomic
writes."""

import json
import os
import tempfile


def write_json(path: str, value) -> None:
    """Writes `value` as UTF-8 JSON to `path`, atomically.

    The text goes to a new temporary file beside `path` first and
    replaces `path` in one rename, so a process killed mid-write leaves the
    old file, never a truncated one (training state and search settings
    are read back on resume), and writers that run at once never share a
    temporary file: a reader sees one whole version or another.

    Args:
        path: the file to write.
        value: a JSON-able value.

    Example:

    >>> import json, os, tempfile
    >>> from keras_bahdanau.jsonfile import write_json
    >>> path = os.path.join(tempfile.mkdtemp(), "state.json")
    >>> write_json(path, {"epoch": 3, "lang": "हिन्दी"})
    >>> json.load(open(path, encoding="utf-8"))["epoch"]
    3
    """
    write_text(path, json.dumps(value, ensure_ascii=False, indent=1))


def write_text(path: str, text: str) -> None:
    """Writes `text` as UTF-8 to `path`, atomically (as `write_json`).

    Line endings are written as given (no newline translation), so CSV
    text keeps its `\r\n` rows on every platform.

    Args:
        path: the file to write.
        text: the whole new content.
    """
    folder, name = os.path.split(os.path.abspath(path))
    handle, tmp = tempfile.mkstemp(
        dir=folder, prefix=f".{name}.", suffix=".tmp"
    )
    try:
        with open(handle, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.remove(tmp)
        raise


def read_json(path: str):
    """The JSON value in the UTF-8 file `path` (what `write_json` wrote).

    Raises:
        OSError: `path` cannot be read.
        ValueError: the file is not valid JSON.
    """
    with open(path, encoding="utf-8") as f:
        return json.load(f)
