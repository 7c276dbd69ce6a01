"""Experiments: scenarios x replications, run serially or in local processes.

Each (scenario, replication) cell is independent and deterministic: its random streams
depend only on the scenario's seed and the replication index, so results are identical
whichever worker runs a cell and in whatever order.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import pandas as pd

from simulator.jobfiles import ParquetJobSink
from simulator.results import ExperimentResult, RunResult
from simulator.run import run
from simulator.scenario.schema import Scenario
from simulator.stats import intervals, paired_differences

log = logging.getLogger(__name__)


def _cell(scenario: Scenario, replication: int, jobs_dir: Path | None) -> RunResult:
    """One replication; with ``jobs_dir`` its per-job rows stream to a Parquet file there."""
    if jobs_dir is None or scenario.output.job_records == "none":
        return run(scenario, replication)
    sink = ParquetJobSink(jobs_dir / f"r{replication}.parquet", scenario, replication)
    try:
        result = run(scenario, replication, job_sink=sink, keep_jobs=False)
    finally:
        sink.close()
    result.meta["jobs_file"] = str(sink.path)
    return result


def run_experiment(
    scenarios: list[Scenario] | Scenario,
    replications: int | None = None,
    *,
    workers: int = 1,
    keep_runs: bool = True,
    on_done: Callable[[RunResult], None] | None = None,
    jobs_dir: Path | None = None,
) -> ExperimentResult:
    """Run every scenario for ``replications`` replications (default: each scenario's own).

    Args:
        scenarios: one scenario or several; the first is the baseline of paired differences.
        replications: replications per scenario (overrides the scenarios' own setting).
        workers: local processes (1 runs in this process; 0 means all cores).
        keep_runs: keep every RunResult (tables included) in the result.
        on_done: called with each finished run, e.g. to report progress.
        jobs_dir: stream each run's per-job rows to ``jobs_dir/r<replication>.parquet``
            instead of keeping them in memory (one scenario only).
    """
    if isinstance(scenarios, Scenario):
        scenarios = [scenarios]
    names = [s.name for s in scenarios]
    if jobs_dir is not None and len(scenarios) > 1:
        raise ValueError("jobs_dir holds one scenario's job files; run one scenario")
    if len(set(names)) != len(names):
        raise ValueError(f"scenario names must be unique in an experiment, got {names}")
    cells = [
        (s, r) for s in scenarios for r in range(replications or s.replications)
    ]
    workers = os.cpu_count() or 1 if workers == 0 else workers
    runs: list[RunResult] = []
    if workers <= 1 or len(cells) == 1:
        for s, r in cells:
            result = _cell(s, r, jobs_dir)
            runs.append(result)
            if on_done:
                on_done(result)
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(cells))) as pool:
            futures = [pool.submit(_cell, s, r, jobs_dir) for s, r in cells]
            for fut in as_completed(futures):
                result = fut.result()
                runs.append(result)
                if on_done:
                    on_done(result)
    order = {n: i for i, n in enumerate(names)}
    runs.sort(key=lambda r: (order[r.scenario.name], r.replication))
    summaries = summaries_table(runs)
    result = ExperimentResult(
        summaries=summaries,
        intervals=intervals(summaries),
        runs=runs if keep_runs else [],
        meta={"scenarios": names, "replications": replications},
    )
    if len(scenarios) > 1:
        result.paired = paired_differences(summaries, names[0])
    return result


def summaries_table(runs: list[RunResult]) -> pd.DataFrame:
    """The long table (scenario, replication, metric, value) of several runs."""
    rows = [
        (r.scenario.name, r.replication, metric, value)
        for r in runs
        for metric, value in r.summary.items()
    ]
    return pd.DataFrame(rows, columns=["scenario", "replication", "metric", "value"])
