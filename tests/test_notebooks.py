"""Every tutorial notebook runs top to bottom without errors.

The notebooks build their own data (no download) and assert what they
claim (accuracy reached, padding ignored, alignment shape, save/load round
trip); each runs in a fresh kernel with the TensorFlow backend and Jupyter's
default (inline) matplotlib backend, so figures a cell returns must show as
images. The default test runs each notebook with `KERAS_BAHDANAU_SMOKE=1`
(its first code cell shrinks every size and skips only the claims that need
a trained model); the `slow` test runs it at full size, every claim checked.
Each runs in a temporary working directory, where files a notebook writes
(the saved `.keras` model) land.
"""

import pathlib

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted(
    (pathlib.Path(__file__).parent.parent / "notebooks").glob("*.ipynb")
)


def run_notebook(path, monkeypatch, tmp_path, smoke):
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    if smoke:
        monkeypatch.setenv("KERAS_BAHDANAU_SMOKE", "1")
    else:
        monkeypatch.delenv("KERAS_BAHDANAU_SMOKE", raising=False)
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=1200,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    # A failing cell (the notebooks assert their own claims) raises here.
    client.execute()
    for cell in notebook.cells:
        if cell.cell_type == "code" and "plot_attention(" in cell.source:
            shown = [
                output for output in cell.outputs
                if "image/png" in output.get("data", {})
            ]
            assert shown, f"no image from the cell:\n{cell.source}"


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb file"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_first_cell_reads_smoke(path):
    # The style rule: the first code cell holds every size and shrinks them
    # under KERAS_BAHDANAU_SMOKE=1, so the default test below stays fast.
    notebook = nbformat.read(path, as_version=4)
    first = next(c for c in notebook.cells if c.cell_type == "code")
    assert "KERAS_BAHDANAU_SMOKE" in first.source, first.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, monkeypatch, tmp_path):
    run_notebook(path, monkeypatch, tmp_path, smoke=True)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_full_size(path, monkeypatch, tmp_path):
    run_notebook(path, monkeypatch, tmp_path, smoke=False)
