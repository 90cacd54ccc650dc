"""The README's composition example runs, saves and reloads."""

import os
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_composition_example_runs(tmp_path, monkeypatch):
    text = README.read_text(encoding="utf-8")
    section = text.split("## Compose it into your own model", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)
    assert os.path.isfile(tmp_path / "my_model.keras")
    assert namespace["model"].outputs[1].shape[-1] is None  # (batch, Tv)


def test_ci_runs_the_readme_test_command():
    # The README's command 2 is what CI runs: `.ci/run` must hold it as is.
    block = re.search(r"```bash\n(.*?)```", README.read_text("utf-8"), re.S)
    lines = block.group(1).splitlines()
    after = next(i for i, line in enumerate(lines) if line.startswith("# 2."))
    command = lines[after + 1]
    ci = (README.parent / ".ci" / "run").read_text("utf-8").splitlines()
    assert command.startswith("python -m pip install -e")
    assert command in ci
