"""Command line: each subcommand through a subprocess, errors in-process."""

import io
import json
import os
import subprocess
import sys

import pytest

import keras_bahdanau as kb
from keras_bahdanau import cli


def _run(*args, stdin=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "keras_bahdanau", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=1200,
        cwd=cwd,
    )


def _write_pairs(path, pairs):
    path.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), "utf-8")
    return str(path)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    data = _write_pairs(
        root / "pairs.tsv",
        kb.reversal_text_pairs(120, min_length=2, max_length=5),
    )
    out = str(root / "model")
    result = _run(
        "train", "--data", data, "--out", out, "--preset", "tiny",
        "--epochs", "2", "--batch-size", "16", "--max-length", "8",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Epoch 2/2" in result.stdout
    return out, data


def test_train_resumes_and_finishes(model_dir):
    out, data = model_dir
    with open(os.path.join(out, "training_log.csv")) as f:
        assert len(f.read().strip().splitlines()) == 3  # header + 2 epochs
    # The same command again: the run is finished, nothing is retrained.
    code = cli.main([
        "train", "--data", data, "--out", out, "--preset", "tiny",
        "--epochs", "2", "--batch-size", "16", "--max-length", "8",
    ])
    assert code == 0
    with open(os.path.join(out, "training_log.csv")) as f:
        assert len(f.read().strip().splitlines()) == 3


def test_translate_arguments_and_stdin(model_dir):
    out, _ = model_dir
    result = _run("translate", "--model", out, "1 2 3", "4 5")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.split("\n")
    assert len(lines) == 3 and lines[2] == ""
    result = _run(
        "translate", "--model", out, "--strategy", "beam", "--beam-size",
        "2", "--no-repeat-ngram-size", "2", stdin="1 2 3\n\n4 5\n",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.split("\n")
    assert len(lines) == 4 and lines[1] == ""


def test_evaluate_prints_one_json_object(model_dir):
    out, data = model_dir
    result = _run("evaluate", "--model", out, "--data", data, "--limit", "7")
    assert result.returncode == 0, result.stderr[-3000:]
    scores = json.loads(result.stdout)
    assert set(scores) == {"bleu", "chrf", "n"} and scores["n"] == 7


def test_attention_writes_png(model_dir, tmp_path):
    out, _ = model_dir
    png = tmp_path / "attention.png"
    result = _run("attention", "--model", out, "--out", str(png), "1 2 3")
    assert result.returncode == 0, result.stderr[-3000:]
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_attention_without_extension_writes_and_names_png(
    model_dir, tmp_path, capsys
):
    # matplotlib adds ".png"; the log used to name the path without it.
    out, _ = model_dir
    assert cli.main(["attention", "--model", out, "--out",
                     str(tmp_path / "heat"), "1 2 3"]) == 0
    assert (tmp_path / "heat.png").is_file()
    assert str(tmp_path / "heat.png") in capsys.readouterr().err


def test_train_on_a_finished_run_says_so(model_dir, tmp_path, capsys):
    # Fewer epochs than the run has done: nothing to train, and the log
    # says so (it used to say "Resuming").
    out, data = model_dir
    copy = str(tmp_path / "copy")
    import shutil

    shutil.copytree(out, copy)
    assert cli.main(["train", "--data", data, "--out", copy, "--preset",
                     "tiny", "--epochs", "1", "--batch-size", "16",
                     "--max-length", "8"]) == 0
    err = capsys.readouterr().err
    assert "already holds a finished run" in err and "Resuming" not in err


def test_train_ends_a_run_stopped_before_its_end(model_dir, tmp_path,
                                                 capsys):
    # Killed after the last epoch's backup: the state is not "finished".
    # train must end the run (training.fit does), not call it finished.
    out, data = model_dir
    copy = str(tmp_path / "copy")
    import shutil

    from keras_bahdanau import training

    shutil.copytree(out, copy)
    path = os.path.join(copy, "backup", "state.json")
    with open(path) as f:
        state = json.load(f)
    state["finished"] = False
    with open(path, "w") as f:
        json.dump(state, f)
    assert cli.main(["train", "--data", data, "--out", copy, "--preset",
                     "tiny", "--epochs", "2", "--batch-size", "16",
                     "--max-length", "8"]) == 0
    assert "already holds a finished run" not in capsys.readouterr().err
    assert training.read_state(copy)["finished"]
    assert training.logged_history(copy).epoch == [0, 1]


def test_export_writes_saved_model(model_dir, tmp_path):
    out, _ = model_dir
    target = tmp_path / "exported"
    result = _run("export", "--model", out, "--out", str(target))
    assert result.returncode == 0, result.stderr[-3000:]
    assert (target / "saved_model.pb").is_file()


def test_demo_small_run(tmp_path):
    out = tmp_path / "demo"
    result = _run(
        "demo", "--out", str(out), "--epochs", "1", "--max-pairs", "120"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "BLEU" in result.stdout and "chrF" in result.stdout
    assert cli.DEMO_SENTENCE in result.stdout
    assert cli.DEMO_REFERENCE in result.stdout
    assert (out / "attention.png").is_file()
    assert (out / "model.keras").is_file()


def test_demo_without_matplotlib(tmp_path):
    # `pip install keras-bahdanau` (README command 1 without the `plot`
    # extra) has no matplotlib: the demo skips the heatmap, exit 0. It used
    # to end with an ImportError traceback after training.
    out = tmp_path / "demo"
    script = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from keras_bahdanau.cli import main\n"
        f"sys.exit(main(['demo', '--out', {str(out)!r}, '--epochs', '1', "
        "'--max-pairs', '60']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "Attention heatmap skipped: Attention plots need matplotlib" in (
        result.stderr
    )
    assert "BLEU" in result.stdout and "Attention heatmap" not in result.stdout
    assert (out / "model.keras").is_file()
    assert not (out / "attention.png").exists()


def test_error_exit_through_subprocess(tmp_path):
    missing = str(tmp_path / "missing.tsv")
    result = _run("train", "--data", missing, "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("keras-bahdanau train: error:")
    assert "missing.tsv" in last


def _error(capsys, argv):
    code = cli.main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1, captured.err
    assert captured.out == ""
    return lines[0]


def test_error_missing_file(capsys, tmp_path):
    line = _error(capsys, [
        "evaluate", "--model", str(tmp_path), "--data",
        str(tmp_path / "nope.tsv"),
    ])
    assert "error" in line


def test_error_data_is_a_directory(capsys, tmp_path):
    line = _error(capsys, [
        "train", "--data", str(tmp_path), "--out", str(tmp_path / "o"),
    ])
    assert "is a directory, not a file" in line


def test_error_empty_file(capsys, tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_text("", "utf-8")
    line = _error(capsys, [
        "train", "--data", str(empty), "--out", str(tmp_path / "o"),
    ])
    assert "is empty" in line


def test_error_bad_columns(capsys, tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("only one column\nanother\n", "utf-8")
    line = _error(capsys, [
        "train", "--data", str(bad), "--out", str(tmp_path / "o"),
    ])
    assert "tab-separated columns" in line


def test_error_missing_model(capsys, tmp_path):
    line = _error(capsys, [
        "translate", "--model", str(tmp_path / "none"), "hello",
    ])
    assert "model not found" in line
    line = _error(capsys, ["export", "--model", str(tmp_path), "--out", "x"])
    assert "No saved translator" in line


def test_error_damaged_model(capsys, tmp_path, model_dir):
    # A damaged settings file used to end in a KeyError traceback (exit 1),
    # from `translate` and from a resumed `train` alike.
    import shutil

    out, data = model_dir
    copy = tmp_path / "damaged"
    shutil.copytree(out, copy)
    (copy / "translator.json").write_text("{}", encoding="utf-8")
    line = _error(capsys, ["translate", "--model", str(copy), "1 2"])
    assert "whose translator.json is damaged" in line
    line = _error(capsys, [
        "train", "--data", data, "--out", str(copy), "--preset", "tiny",
        "--epochs", "3", "--batch-size", "16", "--max-length", "8",
    ])
    assert "whose translator.json is damaged" in line


def test_error_unknown_preset(capsys, tmp_path):
    data = _write_pairs(tmp_path / "p.tsv", [("a", "b")])
    line = _error(capsys, [
        "train", "--data", data, "--out", str(tmp_path / "o"), "--preset",
        "huge",
    ])
    assert "unknown preset 'huge'" in line and "tiny" in line


def test_error_bad_arguments(capsys):
    line = _error(capsys, ["train", "--epochs", "-1"])
    assert "--epochs" in line or "positive" in line
    line = _error(capsys, ["translate", "--model", "m",
                           "--no-repeat-ngram-size", "0"])
    assert "--no-repeat-ngram-size" in line or "positive" in line
    assert "usage" not in _error(capsys, ["frobnicate"])


@pytest.mark.parametrize("command", ["train", "tune"])
def test_error_no_pair_within_max_length(capsys, tmp_path, command):
    data = _write_pairs(tmp_path / "p.tsv",
                        [(f"{i} 2 3 4", f"4 3 2 {i}") for i in range(5)])
    code = cli.main([
        command, "--data", data, "--out", str(tmp_path / "o"), "--preset",
        "tiny", "--max-length", "2", "--epochs", "1",
    ])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    line = err.strip().splitlines()[-1]  # after the data summary
    assert line.startswith(f"keras-bahdanau {command}: error:")
    assert "within the length limits" in line
    assert "--max-length (now 2)" in line


@pytest.mark.parametrize("argv, message", [
    (["--beam-size", "5"], "--beam-size applies to --strategy beam only; "
     "got --strategy greedy"),
    (["--strategy", "beam", "--seed", "3"], "--seed applies to --strategy "
     "sampling only; got --strategy beam"),
])
def test_error_option_of_another_strategy(capsys, model_dir, argv, message):
    # Both used to be ignored silently (Translator.translate refuses them).
    line = _error(capsys, ["translate", "--model", model_dir[0], *argv,
                           "1 2"])
    assert message in line


@pytest.mark.parametrize("command", ["train", "tune", "translate"])
@pytest.mark.parametrize("seed", ["-1", "4294967296", "x"])
def test_error_seed_out_of_range(capsys, command, seed):
    where = ["--model", "m"] if command == "translate" else [
        "--data", "d", "--out", "o"]
    line = _error(capsys, [command, *where, "--seed", seed])
    assert "--seed" in line and "[0, 2**32)" in line


def test_error_out_is_a_file(model_dir, capsys, tmp_path):
    model, _ = model_dir
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    data = _write_pairs(tmp_path / "p.tsv",
                        [(f"{i} 2", f"2 {i}") for i in range(12)])
    for argv in (
        ["train", "--data", data, "--out", str(a_file), "--preset", "tiny"],
        ["export", "--model", model, "--out", str(a_file)],
        ["demo", "--out", str(a_file)],
        ["tune", "--data", data, "--out", str(a_file)],
    ):
        line = _error(capsys, argv)
        assert "--out must be a directory" in line and "a_file" in line
        # Below a file: no directory can be made there.
        argv[argv.index("--out") + 1] = str(a_file / "sub" / "dir")
        line = _error(capsys, argv)
        assert "cannot be created" in line and "is an existing file" in line


def test_error_out_cannot_be_made(model_dir, capsys, tmp_path, monkeypatch):
    # A place where no directory can be made (no permission, /proc): one
    # line and status 2 before any work, not a traceback after it.
    model, _ = model_dir
    data = _write_pairs(tmp_path / "p.tsv",
                        [(f"{i} 2", f"2 {i}") for i in range(12)])

    def makedirs(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "makedirs", makedirs)
    out = str(tmp_path / "new")
    for argv in (
        ["export", "--model", model, "--out", out],
        ["tune", "--data", data, "--out", out, "--preset", "tiny"],
    ):
        line = _error(capsys, argv)
        assert "--out" in line and "cannot be created" in line
        assert "Permission denied" in line


def test_error_export_under_another_backend(model_dir, capsys, monkeypatch,
                                            tmp_path):
    model, _ = model_dir

    def export(self, path):
        raise RuntimeError("export needs the TensorFlow backend.")

    monkeypatch.setattr(kb.Translator, "export", export)
    out = str(tmp_path / "o")
    line = _error(capsys, ["export", "--model", model, "--out", out])
    assert "export needs the TensorFlow backend" in line
    assert not os.path.exists(out)  # the directory it made is gone


def test_error_text_argument_not_utf8(model_dir, capsys, tmp_path):
    model, _ = model_dir
    # What Python makes of the argument bytes b"1 \xff" from the shell.
    text = b"1 \xff".decode("utf-8", "surrogateescape")
    line = _error(capsys, ["translate", "--model", model, text])
    assert "TEXT b'1 \\xff' is not valid UTF-8" in line
    line = _error(capsys, ["attention", "--model", model, "--out",
                           str(tmp_path / "a.png"), text])
    assert "is not valid UTF-8" in line


def test_error_attention_unsupported_image_format(model_dir, capsys,
                                                  tmp_path):
    model, _ = model_dir
    line = _error(capsys, [
        "attention", "--model", model, "--out", str(tmp_path / "a.xyz"),
        "1 2",
    ])
    assert "--out must end with a supported image format" in line
    assert "png" in line and "a.xyz" in line


def test_error_model_is_not_a_zip(capsys, tmp_path):
    fake = tmp_path / "fake.keras"
    fake.write_bytes(b"not a zip file")
    line = _error(capsys, ["translate", "--model", str(fake), "hello"])
    assert "not a zip file" in line and "fake.keras" in line


def test_translate_stdin_bytes(model_dir, capsys, monkeypatch):
    out, _ = model_dir

    def stdin(raw):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))

    stdin(b"1 2 3\r\n\r\n4 5\n")
    assert cli.main(["translate", "--model", out]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert len(lines) == 4 and lines[1] == "" and lines[3] == ""
    stdin(b"1 2 3\n4 \xff 5\n")
    line = _error(capsys, ["translate", "--model", out])
    assert "stdin line 2 is not valid UTF-8" in line


def _copy_run(model_dir, tmp_path, keep_train_args=True):
    import shutil

    out, _ = model_dir
    copy = str(tmp_path / "copy")
    shutil.copytree(out, copy)
    settings = os.path.join(copy, cli.TRAIN_ARGS_FILENAME)
    if not keep_train_args and os.path.exists(settings):
        os.remove(settings)  # as a run of a version without the file
    return copy


def test_train_saves_its_settings(model_dir):
    out, data = model_dir
    with open(os.path.join(out, cli.TRAIN_ARGS_FILENAME)) as f:
        saved = json.load(f)
    assert {key: saved[key] for key, _ in cli.RUN_OPTIONS} == {
        "preset": "tiny", "seed": 0, "validation_split": 0.1,
        "max_length": 8, "vocab_size": 8000, "batch_size": 16,
        "source_lang": None, "target_lang": None,
    }
    # load_pairs drops repeated pairs.
    assert saved["num_pairs"] == len(kb.load_pairs(data))
    assert len(saved["pairs_sha256"]) == 64


def test_error_resume_with_other_settings(model_dir, tmp_path, capsys):
    # The run used to resume with the old tokenizers on reversed pairs,
    # ignoring every changed option, exit 0.
    _, data = model_dir
    count = len(kb.load_pairs(data))
    copy = _copy_run(model_dir, tmp_path)
    line = _error(capsys, [
        "train", "--data", data, "--out", copy, "--preset", "small",
        "--epochs", "3", "--reverse", "--seed", "5", "--max-length", "30",
        "--vocab-size", "50", "--batch-size", "16",
    ])
    assert f"--out {copy!r} holds a run started with other settings" in line
    assert "--preset saved 'tiny', given 'small'" in line
    assert "--seed saved 0, given 5" in line
    assert "--max-length saved 8, given 30" in line
    assert "--vocab-size saved 8000, given 50" in line
    assert (
        f"the pairs (--data, --reverse, --max-pairs) saved {count} pair(s) "
        f"with sha256 " in line and f"given {count} pair(s)" in line
    )
    assert "--batch-size" not in line and "--validation-split" not in line
    assert "Pass the saved options again" in line
    assert "choose another --out" in line
    # Only the pairs differ: fewer of them.
    line = _error(capsys, [
        "train", "--data", data, "--out", copy, "--preset", "tiny",
        "--epochs", "3", "--batch-size", "16", "--max-length", "8",
        "--max-pairs", "60",
    ])
    assert f"saved {count} pair(s)" in line and "given 60 pair(s)" in line
    assert "--preset" not in line.split("Pass the saved")[0]
    with open(os.path.join(copy, "training_log.csv")) as f:
        assert len(f.read().strip().splitlines()) == 3  # nothing trained


def test_error_resume_with_unreadable_settings(model_dir, tmp_path, capsys):
    _, data = model_dir
    copy = _copy_run(model_dir, tmp_path)
    with open(os.path.join(copy, cli.TRAIN_ARGS_FILENAME), "w") as f:
        f.write("[1, 2")
    line = _error(capsys, [
        "train", "--data", data, "--out", copy, "--preset", "tiny",
        "--epochs", "2", "--batch-size", "16", "--max-length", "8",
    ])
    assert "train_args.json' must hold the run's settings" in line
    assert "Delete the file" in line and "another --out" in line


def test_error_resume_with_too_few_pairs_to_split(model_dir, tmp_path,
                                                  capsys):
    # A run without train_args.json resumes unchecked; one pair cannot be
    # split: it used to end with a ValueError traceback, exit 1.
    _, data = model_dir
    copy = _copy_run(model_dir, tmp_path, keep_train_args=False)
    line = _error(capsys, [
        "train", "--data", data, "--out", copy, "--preset", "tiny",
        "--epochs", "3", "--batch-size", "16", "--max-length", "8",
        "--max-pairs", "1",
    ])
    assert "`pairs` is too small for the requested splits" in line
    assert "validation_split=0.1" in line and "Pass more pairs" in line


def test_error_resume_no_pair_within_the_runs_length_limits(
    model_dir, tmp_path, capsys
):
    # The resumed run keeps its limits (8): the hint used to ask for a
    # larger --max-length, which a resume ignores.
    copy = _copy_run(model_dir, tmp_path, keep_train_args=False)
    long = " ".join(["7"] * 20)
    data = _write_pairs(tmp_path / "long.tsv",
                        [(f"{i} {long}", f"{long} {i}") for i in range(12)])
    code = cli.main([
        "train", "--data", data, "--out", copy, "--preset", "tiny",
        "--epochs", "3", "--batch-size", "16", "--max-length", "50",
    ])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith("keras-bahdanau train: error:")
    assert "within the length limits" in line
    assert f"The run in --out {copy!r} fixed the limits at " in line
    assert "max_source_length=8 and max_target_length=8" in line
    assert "another --out with a larger --max-length" in line
    assert "(now 50)" not in line


def _cp1252_streams(monkeypatch):
    streams = {}
    for name in ("stdout", "stderr"):
        streams[name] = io.TextIOWrapper(io.BytesIO(), encoding="cp1252")
        monkeypatch.setattr(sys, name, streams[name])
    return streams


def _text(stream):
    stream.flush()
    return stream.buffer.getvalue().decode("utf-8")


def test_output_is_utf8_whatever_the_locale(model_dir, monkeypatch,
                                            tmp_path):
    # PYTHONIOENCODING=cp1252 (or a Windows locale): printing Devanagari
    # used to raise UnicodeEncodeError.
    out, _ = model_dir

    def translate(self, texts, **kwargs):
        return [f"{cli.DEMO_REFERENCE} {text}" for text in texts]

    monkeypatch.setattr(kb.Translator, "translate", translate)
    streams = _cp1252_streams(monkeypatch)
    assert cli.main(["translate", "--model", out, "1 2"]) == 0
    assert _text(streams["stdout"]) == f"{cli.DEMO_REFERENCE} 1 2\n"
    assert streams["stdout"].encoding == "cp1252"  # restored
    # Errors on stderr too: a model path in Devanagari.
    missing = str(tmp_path / "मॉडल")
    assert cli.main(["translate", "--model", missing, "1"]) == 2
    assert f"model not found: {missing!r}" in _text(streams["stderr"])
    assert streams["stderr"].encoding == "cp1252"
