"""Engine throughput and memory benchmark, with a plain SimPy baseline for comparison.

Two models, each at 10,000 and 330,000 cards, offered loads 0.8 and 0.95, and 10^5
(``--quick``, the default) or 10^6 (``--full``) jobs:

* ``fifo``: one pool (servers of 8 cards, 32 servers a pod), one job class, FIFO.
  Measured against :mod:`baseline_simpy` (one SimPy process per job, a
  ``simpy.Container`` of cards) on the very same jobs.
* ``easy``: six centres with one pool each, six card types of different speeds, three
  job classes (any card, NVIDIA cards only, domestic cards only), EASY backfill with the
  default look-ahead, ``earliest_start`` dispatch.

Jobs in both: gang sizes 1, 2, 4, ..., 1024 cards, equally likely (mean 186.1 cards);
run time on the reference card exponential with mean 1 h (``fifo``) or lognormal with
median 1 h and sigma 1 (``easy``; mean 1.65 h); Poisson arrivals at the rate that gives
the offered load ``rate x mean(cards x run time) / capacity``, where capacity counts
cards in reference-card equivalents (cards x relative speed; the ``fifo`` pool has
speed 1). The horizon is the expected time for the target number of jobs to arrive;
utilisation and waits leave out the first 10 % of the horizon.

Every measurement runs in a fresh process, one at a time. The jobs are sampled with the
engine's own numpy job source before the clock starts and replayed into the engine, so
sampling is excluded from the timing of both engine and baseline. The clock covers
``Engine.run`` only (``RunResult.meta["wall_s"]``; the metric tables are built and timed
afterwards) and ``env.run`` for the baseline. Throughput is jobs (submitted before the
horizon, finished or not; ``meta["jobs"]``) and SimPy events (``meta["events"]``) per
second of process CPU time, because wall time on a shared machine also counts time spent
waiting for a core; wall times are printed beside them. With ``--repeat N`` the engine
(records in memory) and the baseline each run N times and the least CPU time is kept.

Memory: the peak resident set during ``Engine.run`` above the resident set just before
it (Linux ``VmHWM`` after resetting it through ``/proc/self/clear_refs``; elsewhere
``ru_maxrss``), and the resident set still held after the run (after a garbage
collection and ``malloc_trim``). The engine runs once with ``output.job_records: none``
and once with ``memory``; bytes per job record is the difference of the held memory
divided by the number of jobs (``rec B`` is the exact size of the recorder's columns).

Usage::

    .venv/bin/python benchmarks/bench_engine.py            # 10^5-job cases (minutes)
    .venv/bin/python benchmarks/bench_engine.py --full     # 10^6-job cases
    .venv/bin/python benchmarks/bench_engine.py --cases 'fifo-330k-*'
    .venv/bin/python benchmarks/bench_engine.py --profile fifo-330k-0.95-1e5
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import ctypes
import ctypes.util
import datetime as dt
import fnmatch
import gc
import io
import json
import math
import os
import platform
import pstats
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(ROOT), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import baseline_simpy  # noqa: E402

from simulator.engine import Engine, RawRun  # noqa: E402
from simulator.run import to_result  # noqa: E402
from simulator.scenario.loader import validate_mapping  # noqa: E402
from simulator.scenario.schema import Scenario  # noqa: E402
from simulator.workload import JobBatch, JobSource  # noqa: E402

GANG_SIZES = [2**k for k in range(11)]  # 1 .. 1024 cards, equally likely
MEAN_CARDS = sum(GANG_SIZES) / len(GANG_SIZES)
CARDS_PER_SERVER = baseline_simpy.CARDS_PER_SERVER  # 8
SERVERS_PER_POD = baseline_simpy.SERVERS_PER_POD  # 32
WARMUP_FRACTION = 0.1
N_BINS = 200  # utilisation time bins over the horizon

FIFO_MEAN_H = 1.0  # exponential run time on the reference card
EASY_MEDIAN_H, EASY_SIGMA = 1.0, 1.0  # lognormal run time on the reference card

# Illustrative card types (peak BF16 TFLOPS, MFU); speed is relative to A800.
CARD_TYPES: list[dict[str, Any]] = [
    {"name": "H800", "bf16_tflops": 989, "memory_gb": 80, "board_power_w": 700, "mfu": 0.40},
    {"name": "A800", "bf16_tflops": 312, "memory_gb": 80, "board_power_w": 400, "mfu": 0.45},
    {"name": "H20", "bf16_tflops": 148, "memory_gb": 96, "board_power_w": 400, "mfu": 0.50},
    {
        "name": "910B",
        "bf16_tflops": 376,
        "memory_gb": 64,
        "board_power_w": 400,
        "mfu": 0.35,
        "domestic": True,
    },
    {
        "name": "910C",
        "bf16_tflops": 780,
        "memory_gb": 128,
        "board_power_w": 600,
        "mfu": 0.30,
        "domestic": True,
    },
    {
        "name": "MLU590",
        "bf16_tflops": 314,
        "memory_gb": 80,
        "board_power_w": 350,
        "mfu": 0.30,
        "domestic": True,
    },
]
REFERENCE = "A800"
# Share of the fleet's cards per card type (thousands of cards in the 330,000-card fleet).
EASY_SHARES = {"H800": 48, "A800": 96, "H20": 24, "910B": 80, "910C": 64, "MLU590": 18}
NVIDIA = ["H800", "A800", "H20"]
DOMESTIC = ["910B", "910C", "MLU590"]

# Reference models of the fifo case (baseline_simpy.MODELS) and their keys in a row.
REFERENCES = {
    "process": "baseline",
    "loop": "loop",
    "heapq": "heapq",
    "placed": "placed",
    "recorded": "recorded",
}
REFERENCE_LABELS = {
    "baseline": "SimPy baseline",
    "loop": "bare SimPy loop",
    "heapq": "heapq loop",
    "placed": "placed heapq",
    "recorded": "+ jobs, records",
}

TARGET_FIFO_JOBS_S = 100_000
TARGET_FIFO_RATIO = 2.5
TARGET_EASY_JOBS_S = 40_000


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One benchmark case: model, fleet size in cards, offered load, expected jobs."""

    model: str  # "fifo" or "easy"
    cards: int
    load: float
    jobs: int

    @property
    def name(self) -> str:
        size = f"{self.cards // 1000}k" if self.cards % 1000 == 0 else str(self.cards)
        k = round(math.log10(self.jobs))
        jobs = f"1e{k}" if self.jobs == 10**k else str(self.jobs)
        return f"{self.model}-{size}-{self.load:g}-{jobs}"


def all_cases(job_counts: list[int]) -> list[Case]:
    return [
        Case(model, cards, load, jobs)
        for jobs in job_counts
        for model in ("fifo", "easy")
        for cards in (10_000, 330_000)
        for load in (0.8, 0.95)
    ]


def _speed(card: dict[str, Any]) -> float:
    ref = next(c for c in CARD_TYPES if c["name"] == REFERENCE)
    return card["bf16_tflops"] * card["mfu"] / (ref["bf16_tflops"] * ref["mfu"])


def _split_servers(total_servers: int, shares: dict[str, int]) -> dict[str, int]:
    """Servers per card type in proportion to ``shares`` (largest remainder, exact sum)."""
    weight = sum(shares.values())
    exact = {k: total_servers * v / weight for k, v in shares.items()}
    out = {k: math.floor(x) for k, x in exact.items()}
    by_remainder = sorted(exact, key=lambda k: out[k] - exact[k])
    for k in by_remainder[: total_servers - sum(out.values())]:
        out[k] += 1
    return out


def _pool(name: str, card_type: str, servers: int, start: str) -> dict[str, Any]:
    return {
        "name": name,
        "card_type": card_type,
        "cards_per_server": CARDS_PER_SERVER,
        "servers_per_pod": SERVERS_PER_POD,
        "phases": [{"date": start, "servers": servers}],
    }


def _job_class(name: str, rate_h: float, work: dict[str, Any], card_types: list[str]) -> dict:
    return {
        "name": name,
        "arrival": {"rate_per_day": rate_h * 24.0},
        "gang_size": {"kind": "table", "values": GANG_SIZES, "weights": [1] * len(GANG_SIZES)},
        "work": {"unit": "ref_hours", "distribution": work},
        "card_types": card_types,
    }


def scenario_mapping(case: Case, job_records: str = "none") -> dict[str, Any]:
    """The case as a scenario mapping (validated by :func:`build_scenario`)."""
    if case.cards % CARDS_PER_SERVER:
        raise ValueError(f"cards must be a multiple of {CARDS_PER_SERVER}")
    start = "2025-01-01"
    servers = case.cards // CARDS_PER_SERVER
    if case.model == "fifo":
        card_types = [{"name": "REF", "bf16_tflops": 312, "memory_gb": 80, "board_power_w": 400}]
        reference = "REF"
        centres = [{"name": "centre-0", "pools": [_pool("pool-0", "REF", servers, start)]}]
        mean_h = FIFO_MEAN_H
        rate_h = case.load * case.cards / (MEAN_CARDS * mean_h)
        classes = [_job_class("jobs", rate_h, {"kind": "exponential", "mean": mean_h}, [])]
        policy = {"name": "fifo"}
    elif case.model == "easy":
        card_types = CARD_TYPES
        reference = REFERENCE
        split = _split_servers(servers, EASY_SHARES)
        centres = [
            {"name": f"centre-{i}", "pools": [_pool(f"{t.lower()}", t, split[t], start)]}
            for i, t in enumerate(EASY_SHARES)
        ]
        speed = {c["name"]: _speed(c) for c in CARD_TYPES}
        cap = {t: split[t] * CARDS_PER_SERVER * speed[t] for t in split}
        nvidia = sum(cap[t] for t in NVIDIA)
        domestic = sum(cap[t] for t in DOMESTIC)
        mean_h = EASY_MEDIAN_H * math.exp(EASY_SIGMA**2 / 2)
        work = {"kind": "lognormal", "median": EASY_MEDIAN_H, "sigma": EASY_SIGMA}
        per_job = MEAN_CARDS * mean_h  # reference-card-hours
        classes = [
            _job_class("any", 0.5 * case.load * (nvidia + domestic) / per_job, work, []),
            _job_class("nvidia", 0.5 * case.load * nvidia / per_job, work, NVIDIA),
            _job_class("domestic", 0.5 * case.load * domestic / per_job, work, DOMESTIC),
        ]
        policy = {"name": "easy_backfill"}
    else:
        raise ValueError(f"unknown model {case.model!r}")
    rate_per_day = sum(c["arrival"]["rate_per_day"] for c in classes)
    horizon_days = case.jobs / rate_per_day
    return {
        "schema_version": 1,
        "name": f"bench-{case.name}",
        "start": start,
        "horizon_days": horizon_days,
        "warmup_days": WARMUP_FRACTION * horizon_days,
        "seed": 20250101,
        "reference_card": reference,
        "card_types": card_types,
        "centres": centres,
        "workload": {"classes": classes},
        "policy": policy,
        "dispatch": {"name": "earliest_start"},
        "output": {"job_records": job_records, "timeseries_step_h": horizon_days * 24 / N_BINS},
    }


def build_scenario(case: Case, job_records: str = "none") -> Scenario:
    return validate_mapping(scenario_mapping(case, job_records), file=f"<{case.name}>")


def capacity_ref_cards(sc: Scenario) -> float:
    """Online capacity in reference-card equivalents (cards x relative speed)."""
    ref = sc.card_type(sc.reference_card).effective_tflops
    return sum(
        sum(ph.servers for ph in p.phases)
        * p.cards_per_server
        * sc.card_type(p.card_type).effective_tflops
        / ref
        for c in sc.centres
        for p in c.pools
    )


def measure_from_h(sc: Scenario) -> float:
    """Start of the first time bin at or after the warm-up (as the metrics define it)."""
    step = sc.output.timeseries_step_h
    n_bins = max(1, math.ceil(sc.horizon_h / step - 1e-9))
    starts = np.arange(n_bins) * step
    after = starts[starts >= sc.warmup_h]
    return float(after[0]) if len(after) else sc.horizon_h


def replay(engine: Engine, batches: list[JobBatch]) -> Engine:
    """Make ``engine`` take its jobs from pre-sampled ``batches`` instead of sampling lazily."""
    engine.source.batches = lambda horizon_h: iter(batches)  # type: ignore[method-assign]
    return engine


def sample_jobs(sc: Scenario) -> list[JobBatch]:
    return list(JobSource(sc, 0).batches(sc.horizon_h))


def fifo_columns(case: Case) -> dict[str, Any]:
    """The ``fifo`` case's jobs as numpy columns for the baseline (same samples)."""
    sc = build_scenario(case)
    batches = sample_jobs(sc)
    submit = np.concatenate([b.submit_h for b in batches])
    cards = np.concatenate([b.cards for b in batches])
    work = np.concatenate([b.work for b in batches])
    return {
        "submit_h": submit,
        "cards": cards,
        "runtime_h": work / (cards * 1.0),  # the engine's run time on a speed-1 pool
        "horizon_h": sc.horizon_h,
        "measure_from_h": measure_from_h(sc),
    }


# --------------------------------------------------------------------------- memory


def _status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _trim_heap() -> None:
    """Hand freed heap memory back to the OS (glibc), so that reuse is not hidden."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


class MemoryProbe:
    """Resident memory of a stretch of code, above the resident memory at its start.

    ``peak_mb``: the high-water mark since :meth:`start`; ``retained_mb``: what is still
    resident after a garbage collection and heap trim (the memory the results hold).
    """

    def __init__(self) -> None:
        self.base_kb = 0
        self.method = "VmHWM"

    @staticmethod
    def _rss_kb() -> int:
        gc.collect()
        _trim_heap()
        rss = _status_kb("VmRSS")
        return rss if rss is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def start(self) -> None:
        gc.collect()
        _trim_heap()
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
                f.write("5")  # reset the peak resident set (Linux >= 4.0)
        except OSError:
            self.method = "ru_maxrss"
        self.base_kb = self._rss_kb()

    def peak_mb(self) -> float:
        peak = _status_kb("VmHWM") if self.method == "VmHWM" else None
        if peak is None:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return (peak - self.base_kb) / 1024.0

    def retained_mb(self) -> float:
        return (self._rss_kb() - self.base_kb) / 1024.0


# --------------------------------------------------------------------------- workers


def engine_worker(case: Case, job_records: str) -> dict[str, Any]:
    """Run the engine on one case (in a fresh process) and return its measurements."""
    sc = build_scenario(case, job_records)
    batches = sample_jobs(sc)
    work = float(sum(b.work.sum() for b in batches))
    engine = replay(Engine(sc), batches)
    probe = MemoryProbe()
    probe.start()
    cpu = time.process_time()
    raw = engine.run()
    cpu_s = time.process_time() - cpu
    peak_mb = probe.peak_mb()
    del batches, engine.source.batches
    retained_mb = probe.retained_mb()
    kept = sum(a.nbytes for chunk in raw.recorder.kept for a in chunk.values())
    probe.start()
    t0 = time.perf_counter()
    result = to_result(raw)
    result_s = time.perf_counter() - t0
    result_mb = probe.peak_mb()
    s = result.summary
    meta = result.meta
    return {
        "job_records": job_records,
        "jobs": int(meta["jobs"]),
        "events": int(meta["events"]),
        "wall_s": float(meta["wall_s"]),
        "cpu_s": cpu_s,
        "peak_mb": peak_mb,
        "retained_mb": retained_mb,
        "memory_method": probe.method,
        "result_s": result_s,
        "result_peak_mb": result_mb,
        "kept_bytes": int(kept),
        "finished": int(s["jobs_finished"]),
        "waiting_at_horizon": int(s["jobs_waiting_at_horizon"]),
        "utilisation": float(s["utilisation"]),
        "offered_load": work / (sc.horizon_h * capacity_ref_cards(sc)),
        "queue_mean": float(s["little_L"]),
        "wait_h_p95": float(s["wait_h_p95"]),
        "horizon_h": sc.horizon_h,
    }


def baseline_worker(case: Case, model: str = "process") -> dict[str, Any]:
    """Run a reference model (``baseline_simpy.MODELS``; ``process`` is the SimPy
    baseline) on the ``fifo`` case's jobs (in a fresh process)."""
    cols = fifo_columns(case)
    probe = MemoryProbe()
    probe.start()
    r = baseline_simpy.run(
        cols["submit_h"],
        cols["cards"],
        cols["runtime_h"],
        case.cards,
        cols["horizon_h"],
        cols["measure_from_h"],
        model,
    )
    out = asdict(r)
    out["peak_mb"] = probe.peak_mb()
    return out


def isolated(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Call ``fn(*args)`` in a fresh interpreter and return its result."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def best_of(repeat: int, fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """The run with the least CPU time of ``repeat`` fresh-process runs (all kept)."""
    runs = [isolated(fn, *args) for _ in range(repeat)]
    best = dict(min(runs, key=lambda r: r["cpu_s"]))
    best["cpu_s_all"] = [r["cpu_s"] for r in runs]
    best["wall_s_all"] = [r["wall_s"] for r in runs]
    return best


# --------------------------------------------------------------------------- profile


def profile(case: Case, top: int) -> None:
    """cProfile of ``Engine.run`` on one case, top functions by cumulative and own time.

    The profiler's clock is process CPU time, so that time spent waiting for a core on a
    busy machine is not charged to whatever function was running.
    """
    sc = build_scenario(case, "memory")
    engine = replay(Engine(sc), sample_jobs(sc))
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    raw: RawRun = engine.run()
    prof.disable()
    print(
        f"{case.name}: {raw.jobs_submitted} jobs, {raw.events} events under cProfile "
        f"(CPU-time clock)"
    )
    for key in ("cumulative", "tottime"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(top)
        print(f"--- top {top} by {key}")
        print(buf.getvalue().split("\n", 4)[-1].strip("\n"))


# --------------------------------------------------------------------------- report


def _fmt(x: float | None, spec: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, spec)


def _rate(r: dict[str, Any], what: str = "jobs") -> float:
    return r[what] / r["cpu_s"]


def print_tables(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'case':<19} {'cards':>7} {'load':>4} {'jobs':>7} {'wall s':>6} {'CPU s':>6} "
        f"{'jobs/s':>7} {'events/s':>8} {'peak MB':>7} {'B/job':>5} {'util':>5} "
        f"{'base/s':>7} {'b.util':>6} {'ratio':>5}"
    )
    for r in rows:
        case: Case = r["case"]
        m, n, b = r["memory"], r["none"], r.get("baseline")
        per_job = (m["retained_mb"] - n["retained_mb"]) * 2**20 / m["jobs"]
        print(
            f"{case.name:<19} {case.cards:>7} {case.load:>4.2f} {m['jobs']:>7} "
            f"{m['wall_s']:>6.2f} {m['cpu_s']:>6.2f} {_rate(m):>7,.0f} "
            f"{_rate(m, 'events'):>8,.0f} {m['peak_mb']:>7.1f} {per_job:>5.0f} "
            f"{m['utilisation']:>5.3f} {_fmt(_rate(b) if b else None, '>7,.0f')} "
            f"{_fmt(b['utilisation'] if b else None, '>6.3f')} "
            f"{_fmt(_rate(m) / _rate(b) if b else None, '>5.2f')}"
        )
    print()
    print(
        f"{'case':<19} {'offered':>7} {'finished':>8} {'wait@H':>7} {'queue':>8} "
        f"{'p95 wait':>8} {'none/s':>7} {'none MB':>7} {'rec B':>5} {'tbl s':>5} "
        f"{'tbl MB':>6} {'b.ev/s':>7} {'b.MB':>5} {'CPU s of each repeat'}"
    )
    for r in rows:
        case, m, n, b = r["case"], r["memory"], r["none"], r.get("baseline")
        reps = " ".join(f"{x:.2f}" for x in m["cpu_s_all"])
        if b:
            reps += " | base " + " ".join(f"{x:.2f}" for x in b["cpu_s_all"])
        print(
            f"{case.name:<19} {m['offered_load']:>7.3f} {m['finished']:>8} "
            f"{m['waiting_at_horizon']:>7} {m['queue_mean']:>8.1f} {m['wait_h_p95']:>8.3f} "
            f"{_rate(n):>7,.0f} {n['peak_mb']:>7.1f} {m['kept_bytes'] / m['jobs']:>5.1f} "
            f"{m['result_s']:>5.2f} {m['result_peak_mb']:>6.1f} "
            f"{_fmt(_rate(b, 'events') if b else None, '>7,.0f')} "
            f"{_fmt(b['peak_mb'] if b else None, '>5.1f')} {reps}"
        )


def print_references(rows: list[dict[str, Any]]) -> None:
    """The engine against every reference model of the ``fifo`` cases."""
    fifo = [r for r in rows if r.get("placed")]
    if not fifo:
        return
    print()
    print(
        "Reference models (jobs per CPU second; x: the engine's rate over theirs; "
        "util: their utilisation, the engine's is above)"
    )
    head = f"{'case':<19} {'engine':>7}"
    for key in REFERENCES.values():
        head += f" {REFERENCE_LABELS[key]:>16} {'x':>5} {'util':>5}"
    print(head)
    for r in fifo:
        line = f"{r['case'].name:<19} {_rate(r['memory']):>7,.0f}"
        for key in REFERENCES.values():
            b = r[key]
            line += f" {_rate(b):>16,.0f} {_rate(r['memory']) / _rate(b):>5.2f} "
            line += f"{b['utilisation']:>5.3f}"
        print(line)


def print_targets(rows: list[dict[str, Any]]) -> None:
    by_name = {r["case"].name: r for r in rows}
    print()
    print("Targets (330,000 cards, load 0.95, 10^6 jobs; rates per CPU second):")
    for model in ("fifo", "easy"):
        name = f"{model}-330k-0.95-1e6"
        note = ""
        if name not in by_name:
            name, note = f"{model}-330k-0.95-1e5", " [10^5 jobs; run --full for 10^6]"
        r = by_name.get(name)
        if r is None:
            print(f"  {model}: not measured in this run")
            continue
        jobs_s = _rate(r["memory"])
        if model == "fifo":
            line = f"  {name}: {jobs_s:,.0f} jobs/s (target {TARGET_FIFO_JOBS_S:,})"
            if r.get("baseline"):
                ratio = jobs_s / _rate(r["baseline"])
                line += f", {ratio:.2f}x the SimPy baseline (target {TARGET_FIFO_RATIO}x)"
            if r.get("placed") and r.get("recorded"):
                needed = TARGET_FIFO_RATIO * _rate(r["baseline"])
                line += (
                    f"\n    {TARGET_FIFO_RATIO}x the baseline is {needed:,.0f} jobs/s; a heapq "
                    f"loop with the engine's placement runs {_rate(r['placed']):,.0f}, and "
                    f"{_rate(r['recorded']):,.0f} with its job objects and records too"
                )
        else:
            line = f"  {name}: {jobs_s:,.0f} jobs/s (target {TARGET_EASY_JOBS_S:,})"
        print(line + note)


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def environment() -> dict[str, Any]:
    import simpy

    return {
        "commit": _git("rev-parse", "--short", "HEAD"),
        "engine_changes": _git("status", "--porcelain", "--", "simulator").splitlines(),
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "simpy": simpy.__version__,
        "numpy": np.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Engine throughput and memory benchmark against a plain SimPy baseline."
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="10^5-job cases (default)")
    size.add_argument("--full", action="store_true", help="10^6-job cases")
    size.add_argument("--all", action="store_true", help="10^5- and 10^6-job cases")
    parser.add_argument(
        "--cases",
        nargs="+",
        default=["*"],
        metavar="PATTERN",
        help="case names or glob patterns, e.g. 'fifo-330k-*' (see --list)",
    )
    parser.add_argument("--list", action="store_true", help="list the selected cases and exit")
    parser.add_argument(
        "--repeat",
        type=int,
        help="fresh-process runs of the engine (records in memory) and "
        "of the baseline, best CPU time kept (default 3 with --quick, 1 otherwise); the "
        "engine without records runs once",
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the SimPy baseline and the other reference models",
    )
    parser.add_argument("--json", type=Path, help="also write the raw measurements here")
    parser.add_argument("--profile", metavar="CASE", help="cProfile Engine.run on one case instead")
    parser.add_argument("--top", type=int, default=15, help="functions shown by --profile")
    args = parser.parse_args()

    counts = [10**6] if args.full else [10**5, 10**6] if args.all else [10**5]
    repeat = args.repeat or (1 if args.full or args.all else 3)
    if args.profile:
        known = {c.name: c for c in all_cases([10**5, 10**6])}
        if args.profile not in known:
            parser.error(f"unknown case {args.profile!r}; known: {', '.join(known)}")
        profile(known[args.profile], args.top)
        return
    cases = [c for c in all_cases(counts) if any(fnmatch.fnmatch(c.name, p) for p in args.cases)]
    if args.list or not cases:
        print("\n".join(c.name for c in cases) or "no case matches")
        return

    env = environment()
    print(
        f"{env['date']}  Python {env['python']}  SimPy {env['simpy']}  numpy {env['numpy']}  "
        f"{env['cpus']} CPUs  load average {env['loadavg']}  best of {repeat}"
    )
    dirty = env["engine_changes"]
    print(
        f"engine: {ROOT / 'simulator'} at commit {env['commit'] or '? (not a git checkout)'}"
        + (f", uncommitted changes in {len(dirty)} simulator/ files" if dirty else "")
    )
    rows: list[dict[str, Any]] = []
    for case in cases:
        row: dict[str, Any] = {"case": case}
        for records in ("none", "memory"):
            runs = 1 if records == "none" else repeat
            r = row[records] = best_of(runs, engine_worker, case, records)
            print(
                f"  {case.name:<19} engine ({records:<6}) {r['wall_s']:7.2f} s wall "
                f"{r['cpu_s']:7.2f} s CPU {_rate(r):>9,.0f} jobs/s  peak {r['peak_mb']:6.1f} MB",
                flush=True,
            )
        if case.model == "fifo" and not args.no_baseline:
            for model, key in REFERENCES.items():
                b = row[key] = best_of(repeat, baseline_worker, case, model)
                print(
                    f"  {case.name:<19} {REFERENCE_LABELS[key]:<15} {b['wall_s']:7.2f} s wall "
                    f"{b['cpu_s']:7.2f} s CPU {_rate(b):>9,.0f} jobs/s  "
                    f"peak {b['peak_mb']:6.1f} MB",
                    flush=True,
                )
        rows.append(row)
    print()
    print_tables(rows)
    print_references(rows)
    print_targets(rows)
    print(
        f"\nmemory: {rows[0]['memory']['memory_method']}; load average now "
        f"{environment()['loadavg']}; {env['platform']}"
    )
    if args.json:
        out = {
            "environment": env,
            "repeat": repeat,
            "rows": [{**r, "case": {**asdict(r["case"]), "name": r["case"].name}} for r in rows],
        }
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
