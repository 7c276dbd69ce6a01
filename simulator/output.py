"""Results folders: written whole or not at all.

A results folder holds the resolved scenario (``scenario.yaml``), ``summary.json``
(metrics with confidence intervals across replications, and every replication's
summary), Parquet tables (``utilisation``, ``backlog``, ``capacity``, ``energy``, each
with a ``replication`` column; CSV copies on request), the per-job rows in
``jobs/r<replication>.parquet`` (see :mod:`simulator.jobfiles`), ``figures/`` and
``report.html``.

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
from simulator.jobfiles import read_jobs, write_jobs
from simulator.results import ExperimentResult, RunResult
from simulator.scenario.loader import dump_scenario
from simulator.scenario.schema import Scenario

SUMMARY_SCHEMA_VERSION = 1
#: Tables stacked over replications into one Parquet file each (jobs go to jobs/).
TABLES = ("utilisation", "backlog", "capacity", "energy", "wait_histogram")


def check_target(out_dir: Path, force: bool) -> None:
    """Refuse an existing output folder unless ``force`` (checked before any work)."""
    if out_dir.exists() and not force:
        raise OutputError(
            f"output folder {out_dir} already exists; choose another --out or pass --force "
            f"to replace it (it is replaced only once the new results are complete)"
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"output path {out_dir} exists and is not a folder")


class ResultsFolder:
    """A results folder under construction: a hidden temporary folder until complete.

    Use as a context manager; on a clean exit the folder is renamed into place (replacing
    an existing one only when ``force``), on an exception it is removed::

        with ResultsFolder(out_dir, force=False) as folder:
            experiment = run_experiment(scenario, jobs_dir=folder.jobs_dir)
            folder.write(scenario, experiment, command="...")
    """

    def __init__(self, out_dir: Path, *, force: bool = False) -> None:
        self.out_dir = Path(out_dir)
        self.force = force
        check_target(self.out_dir, force)
        self.tmp = Path()

    def __enter__(self) -> ResultsFolder:
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{self.out_dir.name}.tmp-"
        self.tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=self.out_dir.parent))
        self.tmp.chmod(0o755)  # mkdtemp makes it private; results are meant to be shared
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        try:
            check_target(self.out_dir, self.force)
            _swap_into_place(self.tmp, self.out_dir)
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise

    @property
    def jobs_dir(self) -> Path:
        return self.tmp / "jobs"

    def write(
        self,
        scenario: Scenario,
        experiment: ExperimentResult,
        *,
        command: str = "",
        csv: bool = False,
        extra: Callable[[Path], None] | None = None,
    ) -> None:
        """Write the scenario, summary and tables (and ``extra`` files) into the folder."""
        tmp = self.tmp
        (tmp / "scenario.yaml").write_text(dump_scenario(scenario), encoding="utf-8")
        summary = summary_document(scenario, experiment, command)
        (tmp / "summary.json").write_text(
            json.dumps(summary, indent=2, allow_nan=False), encoding="utf-8"
        )
        for run_result in experiment.runs:
            if run_result.jobs is not None:
                write_jobs(tmp, run_result.jobs, run_result.replication)
        for name, table in stacked_tables(experiment.runs).items():
            table.to_parquet(tmp / f"{name}.parquet", index=False)
            if csv:
                table.to_csv(tmp / f"{name}.csv", index=False)
        if csv and (tmp / "jobs").exists():
            jobs = read_jobs(tmp)
            if jobs is not None:
                jobs.to_csv(tmp / "jobs.csv", index=False)
        if extra is not None:
            extra(tmp)


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
    """Write one scenario's finished replications as a results folder, atomically."""
    with ResultsFolder(out_dir, force=force) as folder:
        folder.write(scenario, experiment, command=command, csv=csv, extra=extra)
    return Path(out_dir)


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
            "n": int(row.n),  # type: ignore[arg-type]
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
