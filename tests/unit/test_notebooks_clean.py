"""The course notebooks are committed clean and follow the course's shape."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
IMPORTS_XAI_LAB = re.compile(r"^\s*(from\s+xai_lab(\.\w+)*\s+import|import\s+xai_lab)\b", re.M)


def _load_cleaner():
    spec = importlib.util.spec_from_file_location("clean_notebooks", ROOT / "tools" / "clean_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_there_are_notebooks():
    names = {p.name for p in NOTEBOOKS}
    assert {"00_welcome.ipynb", "01_neurons.ipynb", "02_backprop.ipynb", "03_cnn_pneumonia.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_valid_and_clean(path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    raw = _read(path)
    assert _load_cleaner().problems(raw) == [], f"{path.name} is not clean: run python tools/clean_notebooks.py"
    for i, cell in enumerate(raw["cells"]):
        extra = set(cell.get("metadata", {})) - {"tags"}
        assert not extra, f"{path.name} cell {i} carries run-time metadata {sorted(extra)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_checked_cells_store_their_reference_output(path):
    """nbval skips a "# NBVAL_CHECK_OUTPUT" cell that has no stored output: record them."""
    cleaner = _load_cleaner()
    raw = _read(path)
    checked = [c for c in raw["cells"] if cleaner.is_checked(c)]
    assert checked, f"{path.name} checks no output with # NBVAL_CHECK_OUTPUT"
    missing = [p for p in cleaner.problems(raw, require_references=True) if "no reference output" in p]
    assert not missing, f"{path.name}: {missing}; run python tools/clean_notebooks.py --record {path.name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_imports_from_xai_lab(path):
    code = [c for c in _read(path)["cells"] if c["cell_type"] == "code"]
    assert code, f"{path.name} has no code"
    source = "".join(code[0]["source"])
    assert IMPORTS_XAI_LAB.search(source), f"{path.name}: the first code cell must import from xai_lab"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_goals_needs_exercises_and_references(path):
    text = "\n".join("".join(c["source"]) for c in _read(path)["cells"])
    lower = text.lower()
    assert "learning goals" in lower, f"{path.name}: no learning goals"
    assert "what you need" in lower, f"{path.name}: no 'what you need'"
    assert "exercise" in lower and "check(" in text, f"{path.name}: no self-checked exercises"
    assert "references" in lower, f"{path.name}: no references"


def test_cleaner_removes_outputs_counts_and_widget_state(tmp_path):
    cleaner = _load_cleaner()
    checked = {"cell_type": "code", "source": "# NBVAL_CHECK_OUTPUT\nprint(2)", "execution_count": 7,
               "metadata": {}, "outputs": [
                   {"output_type": "stream", "name": "stdout", "text": "2\n"},
                   {"output_type": "stream", "name": "stderr", "text": "warning\n"},
                   {"output_type": "display_data", "metadata": {},
                    "data": {"text/plain": "<fig>", "application/vnd.plotly.v1+json": {}}}]}
    dirty = {
        "cells": [
            checked,
            {"cell_type": "code", "source": "import xai_lab", "execution_count": 3,
             "metadata": {"tags": ["x"], "execution": {"t": 1}, "scrolled": True},
             "outputs": [{"output_type": "stream", "name": "stdout", "text": "hi"}]},
            {"cell_type": "markdown", "source": "# t", "metadata": {}},
        ],
        "metadata": {"widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}}},
                     "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    assert len(cleaner.problems(dirty)) == 4
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(dirty))
    assert cleaner.main(["--check", str(path)]) == 1
    assert cleaner.main([str(path)]) == 0
    cleaned = _read(path)
    assert cleaner.problems(cleaned, require_references=True) == []
    assert cleaned["cells"][1]["metadata"] == {"tags": ["x"]} and cleaned["cells"][1]["outputs"] == []
    kept = cleaned["cells"][0]
    assert kept["execution_count"] == 1 and [o["output_type"] for o in kept["outputs"]] == ["stream", "display_data"]
    assert kept["outputs"][1]["data"] == {"text/plain": "<fig>"}
    assert "kernelspec" in cleaned["metadata"] and "widgets" not in cleaned["metadata"]
    assert cleaner.main(["--check", str(path)]) == 0
