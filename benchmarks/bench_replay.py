"""Benchmark: replay of the HPC2N Seth log (202,876 jobs, 240 processors) under EASY.

Target: the EASY replay (engine run plus result tables and the pairing with the trace)
finishes in under 60 s on a 2-core machine. The same replay under FIFO is measured in
the same run as the reference, and the EASY / FIFO wall-time ratio is printed.

What is timed: :func:`simulator.traces.replay_scenario.run_replay` (the engine, the
result tables and the per-job pairing), after the trace has been read once (reading is
cached per process and reported separately, as ``read``). The scenario is built by
:func:`simulator.traces.replay_scenario.replay_scenario` with its defaults (EASY scans
up to 100,000 queued jobs per pass, the users' requested times as estimates). Each
policy is run ``--repeat`` times; the best wall time is reported, with jobs per second
and the number of SimPy events.

``--profile`` adds a cProfile run of the EASY replay and prints the functions with the
largest cumulative and own times.

Usage::

    .venv/bin/python benchmarks/bench_replay.py [--traces DIR] [--repeat 1] [--profile]

The trace folder defaults to ``<repository>/../shared/traces``; when it is absent the
benchmark prints why and exits with status 0.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import os
import platform
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from simulator.replay import _read  # noqa: E402
from simulator.traces.replay_scenario import replay_scenario, run_replay  # noqa: E402

DEFAULT_TRACES = ROOT.parent / "shared" / "traces"
TRACE = "pwa-swf/HPC2N-2002-2.1-cln.swf.gz"
TARGET_S = 60.0


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def timed(path: Path, policy: str, repeat: int) -> tuple[float, int, int, float]:
    """Best wall time of ``repeat`` replays; (seconds, jobs, events, mean wait h)."""
    best = float("inf")
    jobs = events = 0
    mean_wait = float("nan")
    for _ in range(repeat):
        scenario = replay_scenario(path, policy=policy)
        start = time.perf_counter()
        run = run_replay(scenario)
        wall = time.perf_counter() - start
        if wall < best:
            best = wall
        jobs = len(run.jobs)
        events = int(run.result.meta["events"])
        mean_wait = float(run.jobs["sim_wait_h"].mean())
    return best, jobs, events, mean_wait


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", type=Path, default=DEFAULT_TRACES)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="cProfile the EASY replay.")
    args = parser.parse_args(argv)
    path = args.traces / TRACE
    if not path.exists():
        print(f"skipped: {path} is absent (the shared trace folder is not on this machine)")
        return 0
    print(f"bench_replay: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; {machine()}")
    start = time.perf_counter()
    table = _read(str(path.resolve()), "auto", "error")
    print(f"read: {len(table):,} jobs in {time.perf_counter() - start:.1f} s (once, cached)")
    results = {}
    for policy in ("fifo", "easy_backfill"):
        wall, jobs, events, wait = timed(path, policy, args.repeat)
        results[policy] = wall
        print(
            f"{policy:>14}: {wall:6.1f} s  {jobs / wall:9,.0f} jobs/s  {events / wall:9,.0f} "
            f"events/s  ({jobs:,} jobs, {events:,} events, mean wait {wait:.2f} h)"
        )
    easy = results["easy_backfill"]
    verdict = "meets" if easy < TARGET_S else "MISSES"
    print(
        f"EASY / FIFO wall time: {easy / results['fifo']:.2f}; EASY {verdict} the "
        f"{TARGET_S:.0f} s target"
    )
    if args.profile:
        scenario = replay_scenario(path, policy="easy_backfill")
        profiler = cProfile.Profile()
        profiler.enable()
        run_replay(scenario)
        profiler.disable()
        for key in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(18)
            print(f"\n--- profile of the EASY replay, sorted by {key} ---")
            print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
