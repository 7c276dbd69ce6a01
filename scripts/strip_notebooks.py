"""Remove outputs, execution counts and run metadata from Jupyter notebooks.

Notebooks are stored without outputs so that their diffs show only what was written.
Usage::

    python scripts/strip_notebooks.py                 # strip notebooks/*.ipynb in place
    python scripts/strip_notebooks.py a.ipynb b.ipynb  # strip the given notebooks
    python scripts/strip_notebooks.py --check          # exit 1 if any would change

Every code cell loses its outputs and execution count; every cell keeps only its
``tags`` metadata (the ``parameters`` tag matters); the notebook keeps only its
``kernelspec`` and its ``language_info`` without the Python version. Files are written
the way nbformat writes them (one-space indent, sorted keys, UTF-8, final newline), so
stripping a stripped notebook changes nothing. Only the standard library is used.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
KEPT_CELL_METADATA = ("tags",)
KEPT_NOTEBOOK_METADATA = ("kernelspec", "language_info")


def strip(notebook: dict[str, Any]) -> dict[str, Any]:
    """The notebook without outputs, execution counts and run metadata (a new dict)."""
    out = dict(notebook)
    cells = []
    for cell in notebook.get("cells", []):
        cell = dict(cell)
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        metadata = cell.get("metadata") or {}
        cell["metadata"] = {k: metadata[k] for k in KEPT_CELL_METADATA if metadata.get(k)}
        cells.append(cell)
    out["cells"] = cells
    metadata = notebook.get("metadata") or {}
    kept = {k: metadata[k] for k in KEPT_NOTEBOOK_METADATA if k in metadata}
    if isinstance(kept.get("language_info"), dict):
        kept["language_info"] = {k: v for k, v in kept["language_info"].items() if k != "version"}
    out["metadata"] = kept
    return out


def dumps(notebook: dict[str, Any]) -> str:
    """The notebook as nbformat writes it."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/)")
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a notebook would change"
    )
    args = parser.parse_args(argv)
    paths = args.paths or sorted(NOTEBOOKS.glob("*.ipynb"))
    changed = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        stripped = dumps(strip(json.loads(text)))
        if stripped == text:
            continue
        changed.append(path)
        if not args.check:
            path.write_text(stripped, encoding="utf-8")
    for path in changed:
        print(f"{'has outputs or run metadata' if args.check else 'stripped'}: {path}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
