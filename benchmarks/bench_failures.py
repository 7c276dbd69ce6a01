"""Benchmark: the default Lingang scenario with failures on against failures off.

Target: failures (job interruptions drawn from each run segment's size, idle-card
failures per pool, repairs, hot spares, Young/Daly checkpoints) cost at most 1.5x the
run time of the same scenario without them, measured in the same run.

What is timed: :meth:`simulator.engine.Engine.run` (CPU time of the process), for the
first ``--days`` days of ``scenarios/lingang-baseline.yaml`` at its calibrated arrival
rate, once as written (``on``) and once with ``failures: null`` (``off``; the job
classes keep their checkpoint settings, which without failures take no checkpoints but
still lay out each segment). Each measurement runs in a fresh interpreter, one at a
time, ``--repeat`` times; the run with the least CPU time is reported with jobs per
CPU second, SimPy events, peak resident memory and the interruptions simulated.

Usage::

    .venv/bin/python benchmarks/bench_failures.py [--days 120] [--repeat 2]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SCENARIO = ROOT / "scenarios" / "lingang-baseline.yaml"


def measure(mode: str, days: float, queue: Any) -> None:
    """Run one configuration in this (fresh) process and put its numbers on ``queue``."""
    from simulator.engine import Engine
    from simulator.scenario import load_scenario

    overrides: dict[str, Any] = {
        "horizon_days": days,
        "warmup_days": min(30.0, days / 4),
        "output.job_records": "none",
    }
    if mode == "off":
        overrides["failures"] = None
    scenario = load_scenario(SCENARIO, overrides)
    engine = Engine(scenario, 0)
    cpu = time.process_time()
    raw = engine.run()
    cpu = time.process_time() - cpu
    rel = raw.extra["reliability"]
    queue.put(
        {
            "mode": mode,
            "jobs": raw.jobs_submitted,
            "events": raw.events,
            "cpu_s": cpu,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "interruptions": rel.failures,
            "idle_failures": rel.idle_failure_count,
        }
    )


def run_fresh(mode: str, days: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=measure, args=(mode, days, queue))
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise SystemExit(f"the '{mode}' run failed (exit code {proc.exitcode}); see above")
    return queue.get()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--days", type=float, default=120.0, help="simulated days (from 2025-01-01)"
    )
    parser.add_argument("--repeat", type=int, default=2, help="fresh runs per mode (best kept)")
    args = parser.parse_args()
    cpu = platform.processor() or platform.machine()
    print(
        f"lingang-baseline, first {args.days:g} days; {cpu}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    best: dict[str, dict[str, Any]] = {}
    for _ in range(args.repeat):
        for mode in ("off", "on"):
            r = run_fresh(mode, args.days)
            if mode not in best or r["cpu_s"] < best[mode]["cpu_s"]:
                best[mode] = r
    print(
        f"{'mode':<5} {'jobs':>10} {'CPU s':>8} {'jobs/s':>9} {'events':>11} {'peak MB':>8} "
        f"{'interruptions':>13} {'idle failures':>13}"
    )
    for mode in ("off", "on"):
        r = best[mode]
        print(
            f"{mode:<5} {r['jobs']:>10,} {r['cpu_s']:>8.1f} {r['jobs'] / r['cpu_s']:>9,.0f} "
            f"{r['events']:>11,} {r['peak_mb']:>8.0f} {r['interruptions']:>13,} "
            f"{r['idle_failures']:>13,}"
        )
    ratio = best["on"]["cpu_s"] / best["off"]["cpu_s"]
    verdict = "met" if ratio <= 1.5 else "NOT met"
    print(
        f"failures on / off CPU time: {ratio:.2f}x (target <= 1.5x: {verdict}); "
        f"load average now {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
