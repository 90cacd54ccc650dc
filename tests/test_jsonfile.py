"""Atomic JSON and text files (keras_bahdanau.jsonfile)."""

import threading

import pytest

from keras_bahdanau.jsonfile import read_json
from keras_bahdanau.jsonfile import write_json
from keras_bahdanau.jsonfile import write_text


def test_concurrent_writers_and_reader_see_whole_files(tmp_path):
    # Writers used to share `path + ".tmp"`: one renamed another's half-
    # written file (FileNotFoundError) and readers saw torn JSON.
    path = str(tmp_path / "state.json")
    write_json(path, {"writer": -1})
    errors = []

    def write(writer):
        for step in range(100):
            try:
                write_json(path, {"writer": writer, "pad": "x" * 4000})
            except Exception as error:  # noqa: BLE001 - collected
                errors.append(repr(error))

    def read():
        for _ in range(200):
            try:
                value = read_json(path)
                assert set(value) <= {"writer", "pad"}
            except Exception as error:  # noqa: BLE001 - collected
                errors.append(repr(error))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    threads.append(threading.Thread(target=read))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    path = str(tmp_path / "log.csv")
    write_text(path, "a,b\r\n")
    with pytest.raises(TypeError):
        write_text(path, object())  # not a str: the write fails
    with open(path, encoding="utf-8", newline="") as f:
        assert f.read() == "a,b\r\n"
    assert [p.name for p in tmp_path.iterdir()] == ["log.csv"]
