"""Results folders: written whole or not at all.

A results folder holds the resolved scenario (``scenario.yaml``), ``summary.json``
(metrics with confidence intervals across replications, and every replication's
summary), Parquet tables (``jobs``, ``utilisation``, ``backlog``, ``capacity``,
``energy``, each with a ``replication`` column; CSV copies on request), ``figures/``
and ``report.html``.

Atomicity: everything is written into a hidden temporary folder beside the target,
which is renamed into place only when complete. An existing folder is refused unless
``force`` is given, and even then it is replaced only after the new one is complete, so
an interrupted run never leaves a half-written folder that looks whole.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from simulator import __version__
from simulator.errors import OutputError
from simulator.results import ExperimentResult, RunResult
from simulator.scenario.loader import dump_scenario
from simulator.scenario.schema import Scenario

SUMMARY_SCHEMA_VERSION = 1
TABLES = ("jobs", "utilisation", "backlog", "capacity", "energy")


def check_target(out_dir: Path, force: bool) -> None:
    """Refuse an existing output folder unless ``force`` (checked before any work)."""
    if out_dir.exists() and not force:
        raise OutputError(
            f"output folder {out_dir} already exists; choose another --out or pass --force "
            f"to replace it (it is replaced only once the new results are complete)"
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"output path {out_dir} exists and is not a folder")


def write_results(
    out_dir: Path,
    scenario: Scenario,
    experiment: ExperimentResult,
    *,
    command: str = "",
    force: bool = False,
    csv: bool = False,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write one scenario's replications as a results folder, atomically.

    Args:
        out_dir: the folder to create.
        scenario: the resolved scenario.
        experiment: its replications (``experiment.runs`` must be kept).
        command: the command line, recorded for reproducibility.
        force: replace an existing folder.
        csv: also write CSV copies of the tables.
        extra: called with the temporary folder before it is renamed into place (to add
            figures or a report).
    """
    out_dir = Path(out_dir)
    check_target(out_dir, force)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; results are meant to be shared
    try:
        (tmp / "scenario.yaml").write_text(dump_scenario(scenario), encoding="utf-8")
        summary = summary_document(scenario, experiment, command)
        (tmp / "summary.json").write_text(
            json.dumps(summary, indent=2, allow_nan=False), encoding="utf-8"
        )
        for name, table in stacked_tables(experiment.runs).items():
            table.to_parquet(tmp / f"{name}.parquet", index=False)
            if csv:
                table.to_csv(tmp / f"{name}.csv", index=False)
        if extra is not None:
            extra(tmp)
        _swap_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def stacked_tables(runs: list[RunResult]) -> dict[str, pd.DataFrame]:
    """Each table of every replication stacked, with a ``replication`` column first."""
    out: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        frames = []
        for r in runs:
            table = getattr(r, name)
            if table is None:
                continue
            frame = table.copy()
            frame.insert(0, "replication", r.replication)
            frames.append(frame)
        if frames:
            out[name] = pd.concat(frames, ignore_index=True)
    return out


def summary_document(
    scenario: Scenario, experiment: ExperimentResult, command: str
) -> dict[str, Any]:
    """The content of ``summary.json``."""
    metrics = {
        row.metric: {
            "mean": _clean(row.mean),
            "ci_low": _clean(row.ci_low),
            "ci_high": _clean(row.ci_high),
            "sem": _clean(row.sem),
            "n": int(row.n),
        }
        for row in experiment.intervals.itertuples()
        if row.scenario == scenario.name
    }
    runs = [r for r in experiment.runs if r.scenario.name == scenario.name]
    return {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "scenario": scenario.name,
        "replications": len(runs),
        "seed": scenario.seed,
        "interval_level": 0.95,
        "metrics": metrics,
        "per_replication": [
            {"replication": r.replication, **{k: _clean(v) for k, v in r.summary.items()}}
            for r in runs
        ],
        "meta": {
            "version": __version__,
            "command": command,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "wall_s": [round(r.meta.get("wall_s", math.nan), 3) for r in runs],
            "jobs": [r.meta.get("jobs") for r in runs],
        },
    }


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return float(x) if isinstance(x, (int, float)) else x


def _swap_into_place(tmp: Path, out_dir: Path) -> None:
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
        os.replace(out_dir, old / "previous")
        os.replace(tmp, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out_dir)


def read_summary(results_dir: Path) -> dict[str, Any]:
    """Read and check ``summary.json`` of a results folder."""
    path = Path(results_dir) / "summary.json"
    if not path.exists():
        raise OutputError(
            f"{results_dir} is not a lingang-sim results folder: it has no summary.json "
            f"(expected the folder written by 'lingang-sim run')"
        )
    doc = json.loads(path.read_text(encoding="utf-8"))
    version = doc.get("schema_version")
    if version != SUMMARY_SCHEMA_VERSION:
        raise OutputError(
            f"{path} has schema_version {version!r}; this lingang-sim reads version "
            f"{SUMMARY_SCHEMA_VERSION}. Re-run the scenario to regenerate it."
        )
    return doc
