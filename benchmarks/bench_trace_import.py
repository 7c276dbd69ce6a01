"""Benchmark: import of large SWF traces into the normalised job table.

Times :func:`simulator.traces.read_trace` (and the full ``traces import`` path: read plus
an atomic Parquet write) on the RICC and HPC2N logs of the shared trace folder, and a
naive baseline measured in the same run on the same machine:
``pandas.read_csv(path, sep=r"\\s+", comment=";", header=None)``, which parses the numbers
but checks nothing, keeps no line numbers and does not normalise.

Each measurement runs in a fresh Python process, so that peak memory is not mixed up
between methods. It reports the best wall time of ``--repeat`` runs, jobs per second,
the peak resident memory above the process's memory after imports (``ru_maxrss``) and,
in a separate run, the peak of Python-traced allocations (``tracemalloc``, which does not
see pyarrow's own allocator and slows the run, so its time is not reported).

Usage::

    .venv/bin/python benchmarks/bench_trace_import.py [--traces DIR] [--repeat 3]

The trace folder defaults to ``<repository>/../shared/traces``; when it is absent the
benchmark prints why and exits with status 0.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TRACES = REPO.parent / "shared" / "traces"
FILES = ("pwa-swf/RICC-2010-2.swf.gz", "pwa-swf/HPC2N-2002-2.1-cln.swf.gz")
METHODS = ("read_trace", "import", "naive")
TARGET_SECONDS = {"RICC-2010-2.swf.gz": 20.0}


def _run_once(method: str, path: Path) -> int:
    """Run one method once; return the number of jobs."""
    import pandas as pd

    from simulator.traces import read_trace
    from simulator.traces.commands import write_table

    if method == "naive":
        return len(pd.read_csv(path, sep=r"\s+", comment=";", header=None))
    frame = read_trace(path, "swf")
    if method == "import":
        with tempfile.TemporaryDirectory() as tmp:
            write_table(frame, Path(tmp) / "trace.parquet")
    return len(frame)


def child(method: str, path: Path, repeat: int, traced: bool) -> dict[str, Any]:
    """Measure one method in this process (called in a fresh subprocess)."""
    import resource
    import tracemalloc

    sys.path.insert(0, str(REPO))
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    import simulator.traces  # noqa: F401

    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if traced:
        tracemalloc.start()
        jobs = _run_once(method, path)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return {"jobs": jobs, "traced_peak_mb": peak / 1e6}
    times = []
    jobs = 0
    for _ in range(repeat):
        start = time.perf_counter()
        jobs = _run_once(method, path)
        times.append(time.perf_counter() - start)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "jobs": jobs,
        "best_s": min(times),
        "times_s": times,
        "rss_peak_over_imports_mb": (peak_kb - base_kb) / 1024,
    }


def measure(method: str, path: Path, repeat: int, traced: bool) -> dict[str, Any]:
    """Run :func:`child` in a fresh interpreter and return its JSON result."""
    cmd = [sys.executable, __file__, "--child", method, str(path), "--repeat", str(repeat)]
    if traced:
        cmd.append("--traced")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def machine() -> str:
    """One line describing the machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy
    import pandas

    return (
        f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, pandas {pandas.__version__}, "
        f"numpy {numpy.__version__}; load average {os.getloadavg()[0]:.2f}"
    )


def main() -> int:
    """Run the benchmark and print a table; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, default=DEFAULT_TRACES)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        method, file = args.child
        print(json.dumps(child(method, Path(file), args.repeat, args.traced)))
        return 0

    if not args.traces.is_dir():
        print(f"Skipped: the trace folder {args.traces} does not exist (pass --traces DIR).")
        return 0
    print(f"Machine: {machine()}")
    print(f"Best of {args.repeat} runs, each method in a fresh process.\n")
    header = (
        f"{'file':<28} {'method':<11} {'jobs':>8} {'best s':>7} {'jobs/s':>10} "
        f"{'RSS MB':>7} {'traced MB':>9} {'x naive':>7}"
    )
    print(header)
    print("-" * len(header))
    status = 0
    for relative in FILES:
        path = args.traces / relative
        if not path.exists():
            print(f"{path.name:<28} skipped: file not found")
            continue
        results = {m: measure(m, path, args.repeat, traced=False) for m in METHODS}
        traced = {m: measure(m, path, 1, traced=True) for m in METHODS}
        naive = results["naive"]["best_s"]
        for method in METHODS:
            r = results[method]
            print(
                f"{path.name:<28} {method:<11} {r['jobs']:>8,} {r['best_s']:>7.2f} "
                f"{r['jobs'] / r['best_s']:>10,.0f} {r['rss_peak_over_imports_mb']:>7.0f} "
                f"{traced[method]['traced_peak_mb']:>9.0f} {r['best_s'] / naive:>7.2f}"
            )
        target = TARGET_SECONDS.get(path.name)
        if target is not None:
            took = results["import"]["best_s"]
            verdict = "met" if took < target else "MISSED"
            print(f"{'':<28} target: import under {target:.0f} s: {verdict} ({took:.2f} s)")
            status = status or (0 if took < target else 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
