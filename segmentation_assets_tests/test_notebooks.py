"""The notebooks under notebooks/ run top to bottom without an error, and are stored clean.

Each notebook is executed with nbclient in a fresh ``python3`` kernel (jupyter_client starts it
with this interpreter, so the venv's packages), in a temporary working directory, on an ephemeral
Dagster instance. Each notebook's last cells assert what it demonstrates, so "no cell errors" also
means the results are the promised ones.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from segmentation_assets.settings import PROJECT_ROOT

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))
#: Per cell: one small pipeline run takes well under a minute; the margin covers a busy machine.
CELL_TIMEOUT_SECONDS = 300


def test_the_three_notebooks_exist() -> None:
    assert [path.stem for path in NOTEBOOKS] == [
        "01_quick_start",
        "02_custom_configuration",
        "03_visualization_gallery",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The kernel inherits this environment: no project Dagster instance (`make test` exports
    # DAGSTER_HOME) and no SEGMENTATION_* overrides.
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    for key in list(os.environ):
        if key.startswith("SEGMENTATION_"):
            monkeypatch.delenv(key)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError naming the cell and the error
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert errors == []
    executed = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in executed)
