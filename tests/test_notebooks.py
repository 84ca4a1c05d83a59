"""The notebooks are jupytext pairs in sync, executed, and written the vtlab way (their outputs are checked
separately, by `pytest --nbval`, which pyproject.toml turns on for notebooks/)."""

from __future__ import annotations

import json
from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def cells(path: Path) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source.strip()) for cell in jupytext.read(path).cells]


def test_there_are_notebooks():
    assert len(SOURCES) >= 1, f"no notebooks/NN_name.py in {NOTEBOOKS}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_pair_in_sync(source: Path):
    paired = source.with_suffix(".ipynb")
    assert paired.exists(), f"{paired.name} is missing: run `jupytext --sync {source}` and execute it"
    assert cells(source) == cells(paired), f"{source.name} and {paired.name} differ: run `jupytext --sync {source}`"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_executed_and_uses_vtlab(source: Path):
    notebook = jupytext.read(source.with_suffix(".ipynb"))
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.get("execution_count") for cell in code), f"{source.stem}.ipynb has unexecuted cells"
    text = source.read_text()
    assert "setup_notebook(" in text, "each notebook starts with vtlab.viz.setup_notebook() (seeds, threads)"
    assert "FULL =" in text, "each notebook has a visible FULL switch for the full-size (GPU) configuration"
    assert "class " not in text and "nn.Module" not in text, "models live in vtlab, not in notebooks"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_ipynb_has_a_kernelspec(source: Path):
    """JupyterLab opens a notebook without a kernelspec with no kernel chosen (a dialog, and Run All waits)."""
    metadata = json.loads(source.with_suffix(".ipynb").read_text())["metadata"]
    assert metadata.get("kernelspec", {}).get("name") == "python3", f"{source.stem}.ipynb: no python3 kernelspec"
    assert metadata["kernelspec"].get("display_name") and metadata["kernelspec"].get("language") == "python"
