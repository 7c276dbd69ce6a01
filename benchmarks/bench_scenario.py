"""Benchmark: the default Lingang scenario end to end, as a planner runs it.

Targets (issue "Lingang scenarios"): one replication of ``scenarios/lingang-baseline.yaml``
(2025-2030 at its calibrated arrival rate, failures and checkpoints on) finishes in under
3 minutes; the README's first command (``bash scripts/run-baseline.sh``, set-up included,
with the replications the scenario chooses) in under 6 minutes.

What is timed:

* ``run`` (default): ``lingang-sim run scenarios/lingang-baseline.yaml --replications 1``
  in a child process, into a temporary folder: simulation, tables, figures and report.
  Reported: wall and CPU seconds of the child, the engine's own wall time per
  replication (``summary.json`` ``meta.wall_s``), jobs simulated, jobs per CPU second,
  peak resident memory (the child's ``ru_maxrss``) and the ratio of CPU time to the
  3-minute target. ``--days N`` runs only the first N days (quicker, fewer jobs a day
  than later years, so the rate is not the full run's).
* ``--first-command``: ``git clone`` of this repository into a temporary folder, then
  ``bash scripts/run-baseline.sh`` there, as a new user would (``.venv`` created and
  installed from the package index), wall time against the 6-minute target. Needs a
  committed repository and access to the package index.

Each measurement is one fresh process; run it twice (``--repeat``) on a shared machine
and read the best. Usage::

    .venv/bin/python benchmarks/bench_scenario.py [--days N] [--repeat 1]
    .venv/bin/python benchmarks/bench_scenario.py --first-command
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = "scenarios/lingang-baseline.yaml"
RUN_TARGET_S = 180.0
FIRST_COMMAND_TARGET_S = 360.0


def _children_usage() -> tuple[float, float]:
    """CPU seconds and peak resident MB of finished children so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0


def measure_run(days: float | None) -> dict[str, Any]:
    """One ``lingang-sim run`` of the default scenario in a child process."""
    exe = ROOT / ".venv" / "bin" / "lingang-sim"
    with tempfile.TemporaryDirectory(prefix="bench-scenario-") as tmp:
        out = Path(tmp) / "out"
        cmd = [str(exe), "run", SCENARIO, "--replications", "1", "--out", str(out)]
        if days is not None:
            warmup = min(30.0, days / 4)
            cmd += ["--set", f"horizon_days={days:g}", "--set", f"warmup_days={warmup:g}"]
        cpu0, _ = _children_usage()
        wall = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - wall
        cpu1, peak_mb = _children_usage()
        if proc.returncode != 0:
            sys.exit(f"lingang-sim run failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        meta = json.loads((out / "summary.json").read_text())["meta"]
    cpu = cpu1 - cpu0
    jobs = int(sum(meta["jobs"]))
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "engine_wall_s": float(sum(meta["wall_s"])),
        "jobs": jobs,
        "jobs_per_cpu_s": jobs / cpu,
        "peak_mb": peak_mb,
    }


def measure_first_command() -> dict[str, Any]:
    """A fresh clone, then the README's first command, timed as a whole."""
    with tempfile.TemporaryDirectory(prefix="bench-first-command-") as tmp:
        clone = Path(tmp) / "lingang-sim"
        wall = time.perf_counter()
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        proc = subprocess.run(
            ["bash", "scripts/run-baseline.sh"],
            cwd=clone,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - wall
        if proc.returncode != 0:
            sys.exit(f"run-baseline.sh failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        meta = json.loads((clone / "results" / "lingang-baseline" / "summary.json").read_text())[
            "meta"
        ]
    return {"wall_s": wall, "replication_wall_s": meta["wall_s"], "jobs": meta["jobs"]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=float, default=None, help="simulate only the first N days")
    ap.add_argument("--repeat", type=int, default=1, help="runs of `lingang-sim run` (best kept)")
    ap.add_argument(
        "--first-command", action="store_true", help="time a fresh clone's first command"
    )
    args = ap.parse_args(argv)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    print(f"Python {platform.python_version()}, {machine}, load {os.getloadavg()}")
    if args.first_command:
        r = measure_first_command()
        print(
            f"first command (fresh clone, set-up included): {r['wall_s']:.0f} s wall "
            f"= {r['wall_s'] / FIRST_COMMAND_TARGET_S:.2f}x the 6-minute target; "
            f"replications {', '.join(f'{w:.0f} s' for w in r['replication_wall_s'])}"
        )
        return
    runs = [measure_run(args.days) for _ in range(args.repeat)]
    for i, r in enumerate(runs):
        print(
            f"run {i + 1}: {r['jobs']:,} jobs, {r['cpu_s']:.1f} CPU s ({r['wall_s']:.1f} s wall; "
            f"engine {r['engine_wall_s']:.1f} s), {r['jobs_per_cpu_s']:,.0f} jobs per CPU s, "
            f"peak {r['peak_mb']:.0f} MB"
        )
    best = min(runs, key=lambda r: r["cpu_s"])
    if args.days is not None:
        print(
            f"best: first {args.days:g} days in {best['cpu_s']:.1f} CPU s "
            f"({best['jobs_per_cpu_s']:,.0f} jobs/s, fixed costs of start-up, figures and "
            f"report included); the 3-minute target is for the whole horizon"
        )
        return
    print(
        f"best: one replication in {best['cpu_s']:.1f} CPU s = "
        f"{best['cpu_s'] / RUN_TARGET_S:.2f}x the 3-minute target "
        f"({best['jobs_per_cpu_s']:,.0f} jobs/s; {best['jobs'] / RUN_TARGET_S:,.0f} jobs/s "
        f"would meet it)"
    )


if __name__ == "__main__":
    main()
