"""Experiments: scenarios x replications, run serially or in local processes.

Each (scenario, replication) cell is independent and deterministic: its random streams
depend only on the scenario's seed and the replication index, so results are identical
whichever worker runs a cell and in whatever order.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from functools import partial
from pathlib import Path
from queue import Empty
from typing import Any

import pandas as pd

from simulator.jobfiles import ParquetJobSink
from simulator.results import ExperimentResult, RunResult
from simulator.run import run
from simulator.scenario.schema import Scenario
from simulator.stats import intervals, paired_differences

log = logging.getLogger(__name__)


ProgressCallback = Callable[[str, int, float], None]


class _QueueProgress:
    """Forwards a worker's simulated time to the driver through a queue (picklable)."""

    def __init__(self, queue: Any, scenario: str, replication: int, horizon_h: float) -> None:
        self.queue, self.scenario, self.replication = queue, scenario, replication
        self.horizon_h = horizon_h

    def __call__(self, now_h: float) -> None:
        self.queue.put((self.scenario, self.replication, now_h / self.horizon_h))


def _cell(
    scenario: Scenario,
    replication: int,
    jobs_dir: Path | None,
    progress: Callable[[float], None] | None = None,
    keep_jobs: bool | None = None,
) -> RunResult:
    """One replication; with ``jobs_dir`` its per-job rows stream to a Parquet file there."""
    if jobs_dir is None or scenario.output.job_records == "none":
        return run(scenario, replication, progress=progress, keep_jobs=keep_jobs)
    sink = ParquetJobSink(jobs_dir / f"r{replication}.parquet", scenario, replication)
    try:
        result = run(scenario, replication, job_sink=sink, keep_jobs=False, progress=progress)
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
    on_progress: ProgressCallback | None = None,
) -> ExperimentResult:
    """Run every scenario for ``replications`` replications (default: each scenario's own).

    Args:
        scenarios: one scenario or several; the first is the baseline of paired differences.
        replications: replications per scenario (overrides the scenarios' own setting).
        workers: local processes (1 runs in this process; 0 means all cores).
        keep_runs: keep every RunResult (tables included) in the result; when False the
            runs do not even build their per-job tables.
        on_done: called with each finished run, e.g. to report progress.
        jobs_dir: stream each run's per-job rows to ``jobs_dir/r<replication>.parquet``
            instead of keeping them in memory (one scenario only).
        on_progress: called with (scenario name, replication, fraction of the horizon
            simulated) about once per simulated week of each run.
    """
    if isinstance(scenarios, Scenario):
        scenarios = [scenarios]
    names = [s.name for s in scenarios]
    if jobs_dir is not None and len(scenarios) > 1:
        raise ValueError("jobs_dir holds one scenario's job files; run one scenario")
    if len(set(names)) != len(names):
        raise ValueError(f"scenario names must be unique in an experiment, got {names}")
    cells = [(s, r) for s in scenarios for r in range(replications or s.replications)]
    workers = os.cpu_count() or 1 if workers == 0 else workers
    runs: list[RunResult] = []
    if workers <= 1 or len(cells) == 1:
        for s, r in cells:
            hook = None
            if on_progress is not None:
                hook = partial(_fraction, on_progress, s.name, r, s.horizon_h)
            result = _cell(s, r, jobs_dir, hook, None if keep_runs else False)
            runs.append(result)
            if on_done:
                on_done(result)
    else:
        with (
            multiprocessing.Manager() as manager,
            ProcessPoolExecutor(max_workers=min(workers, len(cells))) as pool,
        ):
            queue = manager.Queue() if on_progress is not None else None
            futures = {
                pool.submit(
                    _cell,
                    s,
                    r,
                    jobs_dir,
                    None if queue is None else _QueueProgress(queue, s.name, r, s.horizon_h),
                    None if keep_runs else False,
                )
                for s, r in cells
            }
            while futures:
                done, futures = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
                _drain(queue, on_progress)
                for fut in done:
                    result = fut.result()
                    runs.append(result)
                    if on_done:
                        on_done(result)
    order = {n: i for i, n in enumerate(names)}
    runs.sort(key=lambda r: (order[r.scenario.name], r.replication))
    summaries = summaries_table(runs)
    return ExperimentResult(
        summaries=summaries,
        intervals=intervals(summaries),
        runs=runs if keep_runs else [],
        paired=paired_differences(summaries, names[0]) if len(scenarios) > 1 else None,
        meta={"scenarios": names, "replications": replications},
    )


def _fraction(
    callback: ProgressCallback, scenario: str, replication: int, horizon_h: float, now_h: float
) -> None:
    callback(scenario, replication, now_h / horizon_h)


def _drain(queue: Any, callback: ProgressCallback | None) -> None:
    if queue is None or callback is None:
        return
    while True:
        try:
            callback(*queue.get_nowait())
        except Empty:
            return


def summaries_table(runs: list[RunResult]) -> pd.DataFrame:
    """The long table (scenario, replication, metric, value) of several runs."""
    rows = [
        (r.scenario.name, r.replication, metric, value)
        for r in runs
        for metric, value in r.summary.items()
    ]
    return pd.DataFrame(rows, columns=["scenario", "replication", "metric", "value"])
