"""Every tutorial notebook runs top to bottom without errors.

The notebooks build their own data (no download) and assert what they
claim (accuracy reached, padding ignored, alignment shape); each runs in a
fresh kernel with the TensorFlow backend and Jupyter's default (inline)
matplotlib backend, so figures a cell returns must show as images.
"""

import pathlib

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted(
    (pathlib.Path(__file__).parent.parent / "notebooks").glob("*.ipynb")
)


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb file"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
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
