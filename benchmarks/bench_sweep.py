"""Sweep executors: wall time of a 40-cell sweep, and the per-task overhead of each executor.

Measured, in this order, each in a fresh temporary sweep folder (no cell reused, no
figures drawn):

1. **The 40-cell sweep**: the toy two-centre scenario (``scenarios/toy-two-centres.yaml``)
   with a shorter horizon (``--horizon-days``, default 14), under 2 queue policies x 5
   evaluation-job arrival rates x 4 replications = 40 cells, run

   * serially in this process (``local`` executor, 1 worker): the baseline;
   * in 2 local processes (``local``, 2 workers);
   * on a Dask ``LocalCluster`` of 2 single-threaded worker processes (``dask-local``).

   Wall time covers :func:`simulator.sweep.run_sweep` whole: executor start-up, every
   cell, storing each cell, and the tables. ``--repeat N`` (default 3) runs N rounds,
   each running every executor once (interleaved, so that a change in the machine's
   other load does not fall on one executor only); the fastest run of each is reported.
   Speed-up = serial wall / parallel wall; the cells' own run time (sum of ``wall_s`` in
   the cell files) is printed beside it.
2. **Per-task overhead**: 200 tasks that do nothing, on an executor already started (its
   workers warmed by a first batch), for local processes and Dask; the overhead per
   task is wall / tasks. It is what each cell pays for being shipped to a worker and its
   result shipped back, on top of its simulation.

3. **The machine's ceiling**: the speed-up of two CPU-bound processes running at once
   over the same work done one after the other, measured in the same run. On an idle
   2-core machine it is close to 2; when other work shares the cores it is lower, and no
   sweep can beat it, so the sweep's speed-up is also printed as a fraction of it.

The machine may be shared: the 1-minute load average is printed before and after.

Usage::

    .venv/bin/python benchmarks/bench_sweep.py
    .venv/bin/python benchmarks/bench_sweep.py --horizon-days 7 --skip-dask
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "scenarios" / "toy-two-centres.yaml"


def noop(task: int) -> int:
    """A task that does nothing (for the per-task overhead)."""
    return task


def burn(n: int) -> int:
    """Pure-Python arithmetic: CPU only, no memory traffic to speak of."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def machine_ceiling(n: int = 10_000_000) -> float:
    """The parallel speed-up this machine gives two CPU-bound processes right now.

    Two calls of :func:`burn` one after the other, then at once in two processes; on an
    idle 2-core machine the ratio is close to 2, on a machine busy with other work it is
    lower, and no sweep can beat it.
    """
    import multiprocessing

    started = time.perf_counter()
    burn(n)
    burn(n)
    serial = time.perf_counter() - started
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(burn, [1000, 1000])  # workers started before the clock
        started = time.perf_counter()
        pool.map(burn, [n, n])
        parallel = time.perf_counter() - started
    return serial / parallel


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def write_sweep(folder: Path, horizon_days: float) -> Path:
    spec = {
        "schema_version": 1,
        "name": "bench-40",
        "scenario": str(BASE),
        "set": {"horizon_days": horizon_days, "warmup_days": 2, "output.job_records": "none"},
        "mode": "grid",
        "factors": {
            "policy.name": ["fifo", "easy_backfill"],
            "workload.classes.evaluation.arrival.rate_per_day": [200, 300, 400, 500, 600],
        },
        "replications": 4,
    }
    path = folder / "bench-sweep.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def time_sweep(sweep_path: Path, executor: object, folder: Path) -> tuple[float, float, object]:
    """Wall time of one fresh run, its cells' summed run time, and its table."""
    from simulator.sweep import load_sweep, run_sweep

    sweep = load_sweep(sweep_path)
    started = time.perf_counter()
    outcome = run_sweep(sweep, folder, executor, figures=False)  # type: ignore[arg-type]
    wall = time.perf_counter() - started
    assert outcome.complete and outcome.ran == 40, (outcome.ran, outcome.failed)
    cell_s = 0.0
    for path in (folder / "cells").glob("*-r*.json"):
        cell_s += json.loads(path.read_text())["record"]["meta"]["wall_s"]
    return wall, cell_s, outcome.table


def per_task_overhead(executor: object, tasks: int) -> float:
    with executor:  # type: ignore[attr-defined]
        list(executor.run(noop, list(range(4))))  # type: ignore[attr-defined]
        started = time.perf_counter()
        results = [r for _, r in executor.run(noop, list(range(tasks)))]  # type: ignore[attr-defined]
        wall = time.perf_counter() - started
    assert sorted(results) == list(range(tasks))
    return wall / tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizon-days", type=float, default=14.0)
    parser.add_argument("--tasks", type=int, default=200, help="null tasks for the overhead")
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds (each executor once per round)"
    )
    args = parser.parse_args()

    import pandas as pd

    from simulator.executors import DaskExecutor, LocalExecutor

    print(f"machine: {os.cpu_count()} logical CPUs, {cpu_model()}, {platform.platform()}")
    print(f"python {platform.python_version()}; load average before: {load_average()}")
    work = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        sweep_path = write_sweep(work, args.horizon_days)
        print(
            f"\n40-cell sweep: toy-two-centres, {args.horizon_days:g} days, 2 policies x 5 "
            f"rates x 4 replications; best of {args.repeat} round(s)"
        )
        executors: dict[str, Callable[[], object]] = {
            "serial (1 process)": lambda: LocalExecutor(1),
            "local processes x 2": lambda: LocalExecutor(2),
        }
        if not args.skip_dask:
            executors["Dask LocalCluster x 2"] = lambda: DaskExecutor(
                None, workers=2, processes=True
            )
        walls: dict[str, list[float]] = {name: [] for name in executors}
        cells: dict[str, list[float]] = {name: [] for name in executors}
        ceilings: list[float] = []
        reference = None
        # Rounds interleave the executors so that a change in the machine's other load
        # does not fall on one executor only.
        for k in range(args.repeat):
            ceilings.append(machine_ceiling())
            for name, make in executors.items():
                wall, cell_s, table = time_sweep(
                    sweep_path, make(), work / f"{k}-{len(walls[name])}-{name[:5]}"
                )
                if reference is None:
                    reference = table
                pd.testing.assert_frame_equal(table, reference)
                walls[name].append(wall)
                cells[name].append(cell_s)
        serial = "serial (1 process)"
        best = {name: min(w) for name, w in walls.items()}
        print(f"{'executor':<24}{'wall s':>9}{'cells s':>9}{'per cell s':>12}{'speed-up':>10}")
        for name in executors:
            k = walls[name].index(best[name])
            print(
                f"{name:<24}{best[name]:>9.2f}{cells[name][k]:>9.2f}{best[name] / 40:>12.3f}"
                f"{best[serial] / best[name]:>10.2f}"
            )
        local = "local processes x 2"
        per_round = [s_ / l_ for s_, l_ in zip(walls[serial], walls[local], strict=True)]
        print(
            f"machine ceiling (two CPU-bound processes at once vs one after the other), per "
            f"round: {', '.join(f'{c:.2f}' for c in ceilings)}"
        )
        print(
            f"local speed-up per round: {', '.join(f'{r:.2f}' for r in per_round)}; as a "
            f"fraction of that round's ceiling: "
            f"{', '.join(f'{r / c:.2f}' for r, c in zip(per_round, ceilings, strict=True))}"
        )
        if not args.skip_dask:
            extra = (best["Dask LocalCluster x 2"] - best[local]) / 40
            print(f"Dask minus local processes, per cell of this sweep: {extra * 1000:+.0f} ms")
        print("tables identical across executors: yes")

        print(f"\nper-task overhead ({args.tasks} null tasks, workers already started):")
        local = per_task_overhead(LocalExecutor(2), args.tasks)
        print(f"  local processes x 2:   {local * 1000:8.2f} ms/task")
        if not args.skip_dask:
            dask = per_task_overhead(DaskExecutor(None, workers=2, processes=True), args.tasks)
            print(
                f"  Dask LocalCluster x 2: {dask * 1000:8.2f} ms/task ({dask / local:.1f}x local)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nload average after: {load_average()}")


if __name__ == "__main__":
    main()
