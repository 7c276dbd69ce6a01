"""The notebooks in notebooks/ run from top to bottom and are stored without outputs.

Each notebook runs in a fresh kernel of this interpreter, started from a kernel spec
written to a temporary folder (nothing is installed into any Jupyter path), with
matplotlib's Agg backend. The short-run values of :data:`SHORT_RUNS` are injected in a
cell right after the notebook's ``parameters`` cell, as papermill does, so CI stays quick
whatever the notebook's own defaults.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Any

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL_NAME = "lingang-sim-tests"

#: Parameters injected into each notebook (a notebook not listed runs with its own).
SHORT_RUNS: dict[str, dict[str, Any]] = {
    "01-quickstart.ipynb": {"horizon_days": 45},
    "02-planner-buildout-comparison.ipynb": {
        "horizon_days": 400,
        "replications": 2,
        "workers": 2,
    },
    "03-engineer-policy-tuning.ipynb": {"horizon_days": 30, "replications": 3},
    "04-energy-and-capacity.ipynb": {"horizon_days": 400, "replications": 2, "workers": 2},
}


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _parameters_cells(notebook: dict[str, Any]) -> list[int]:
    return [
        i
        for i, cell in enumerate(notebook["cells"])
        if "parameters" in (cell.get("metadata") or {}).get("tags", [])
    ]


def _assigned_names(source: str) -> set[str]:
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    notebook = _read(path)
    dirty = [
        i
        for i, cell in enumerate(notebook["cells"])
        if cell["cell_type"] == "code"
        and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} hold outputs or execution counts; "
        f"run `python scripts/strip_notebooks.py`"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_opens_with_its_reader_then_parameters(path: Path) -> None:
    notebook = _read(path)
    cells = notebook["cells"]
    assert cells and cells[0]["cell_type"] == "markdown", (
        f"{path.name}: the first cell must be markdown saying who the notebook is for"
    )
    params = _parameters_cells(notebook)
    first_code = next(i for i, c in enumerate(cells) if c["cell_type"] == "code")
    assert params == [first_code], (
        f"{path.name}: the first code cell, and only it, must be tagged 'parameters' "
        f"(tagged: {params}, first code cell: {first_code})"
    )
    declared = _assigned_names(_source(cells[first_code]))
    unknown = set(SHORT_RUNS.get(path.name, {})) - declared
    assert not unknown, (
        f"{path.name}: SHORT_RUNS sets {sorted(unknown)}, which its parameters cell does "
        f"not define (it defines {sorted(declared)})"
    )


@pytest.fixture(scope="module")
def kernel_spec_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kernel spec for this interpreter, with the Agg backend, in a temporary folder."""
    pytest.importorskip("ipykernel", reason="notebook tests need ipykernel")
    root = tmp_path_factory.mktemp("kernels")
    spec = root / KERNEL_NAME
    spec.mkdir()
    kernel = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "lingang-sim tests",
        "language": "python",
        "env": {"MPLBACKEND": "Agg"},
    }
    (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")
    return root


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path, kernel_spec_dir: Path) -> None:
    nbformat = pytest.importorskip("nbformat", reason="notebook tests need nbformat")
    nbclient = pytest.importorskip("nbclient", reason="notebook tests need nbclient")
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    notebook = nbformat.read(path, as_version=4)
    overrides = SHORT_RUNS.get(path.name, {})
    if overrides:
        (where,) = _parameters_cells(notebook)
        injected = nbformat.v4.new_code_cell(
            "\n".join(f"{name} = {value!r}" for name, value in overrides.items())
        )
        injected.metadata["tags"] = ["injected-parameters"]
        notebook.cells.insert(where + 1, injected)
    manager = AsyncKernelManager(
        kernel_name=KERNEL_NAME,
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_spec_dir)]),
    )
    client = nbclient.NotebookClient(
        notebook,
        km=manager,
        timeout=600,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute(cleanup_kc=True)  # the client shuts down the kernel it did not create

    warnings = [
        f"cell {i}: {output['text'].strip()}"
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.get("output_type") == "stream" and output.get("name") == "stderr"
    ]
    assert not warnings, f"{path.name} wrote to stderr:\n" + "\n".join(warnings)
