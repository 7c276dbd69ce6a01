"""Queue-policy throughput at 330,000 cards with about 10^4 jobs waiting, against FIFO.

World: six centres with one pool each (H800, A800, H20, 910B, 910C, MLU590 in the shares
of ``bench_engine``'s ``easy`` model), 330,000 cards in servers of 8 cards, 32 servers a
pod, ``earliest_start`` dispatch. Jobs: three classes (any card; NVIDIA cards only,
priority 1; domestic cards only, priority 2), each split over tenants t0-t3 (weights 4,
2, 1, 1); gang sizes 1, 2, 4, ..., 1024 cards equally likely; run time on the reference
card lognormal with median 1 h and sigma 1; user estimates 1-3 x the run time.

Queue: a backlog of ``--backlog`` jobs (10^4) submitted in the first 0.1 h, then a
Poisson stream at offered load 1.0 of the fleet's capacity in reference cards: a
saturated system whose queue stays near the backlog (the table reports the mean queue
length over the run and the jobs still waiting at the end).

Every policy runs the very same jobs, sampled with the engine's job source before the
clock starts, in a fresh process, one at a time. Rate = jobs submitted / CPU seconds of
``Engine.run`` (sampling and table building excluded); ``x FIFO`` divides by FIFO's rate
in the same invocation. The engine gives the view the scenario's tenant names, so the
quotas and weights below apply to a tenant's jobs of all three classes together.

``--plain`` also runs every policy that has shortcuts with them switched off
(``simulator.policies.state.FAST_PATHS = False``; rows marked ``plain``): the simple
passes, which make the same decisions (the table's queue columns agree), as a baseline.

Quick mode (default): 2 x 10^4 stream jobs; ``--full``: 2 x 10^5. Policies whose pass
costs O(look-ahead x running jobs) in a deep queue (``conservative_backfill``) run the
first ``--slow-jobs`` stream jobs only (the same backlog); the table shows how many jobs
each rate is over.

Usage::

    .venv/bin/python benchmarks/bench_policies.py              # quick
    .venv/bin/python benchmarks/bench_policies.py --full
    .venv/bin/python benchmarks/bench_policies.py --policies fifo,sjf_backfill
    .venv/bin/python benchmarks/bench_policies.py --plain      # with the plain baselines
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import math
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from simulator.engine import Engine  # noqa: E402
from simulator.policies import state  # noqa: E402
from simulator.scenario.loader import validate_mapping  # noqa: E402
from simulator.scenario.schema import Scenario  # noqa: E402
from simulator.workload import JobBatch, JobSource  # noqa: E402

CARDS = 330_000
CARDS_PER_SERVER = 8
SERVERS_PER_POD = 32
GANG_SIZES = [2**k for k in range(11)]
MEDIAN_H, SIGMA = 1.0, 1.0
BACKLOG_SPAN_H = 0.1
LOAD = 1.0
SEED = 20250701

CARD_TYPES: list[dict[str, Any]] = [
    {"name": "H800", "bf16_tflops": 989, "memory_gb": 80, "board_power_w": 700, "mfu": 0.40},
    {"name": "A800", "bf16_tflops": 312, "memory_gb": 80, "board_power_w": 400, "mfu": 0.45},
    {"name": "H20", "bf16_tflops": 148, "memory_gb": 96, "board_power_w": 400, "mfu": 0.50},
    {"name": "910B", "bf16_tflops": 376, "memory_gb": 64, "board_power_w": 400, "mfu": 0.35},
    {"name": "910C", "bf16_tflops": 780, "memory_gb": 128, "board_power_w": 600, "mfu": 0.30},
    {"name": "MLU590", "bf16_tflops": 314, "memory_gb": 80, "board_power_w": 350, "mfu": 0.30},
]
REFERENCE = "A800"
SHARES = {"H800": 48, "A800": 96, "H20": 24, "910B": 80, "910C": 64, "MLU590": 18}
NVIDIA = ["H800", "A800", "H20"]
DOMESTIC = ["910B", "910C", "MLU590"]
TENANTS = {"names": ["t0", "t1", "t2", "t3"], "weights": [4, 2, 1, 1]}


@dataclass(frozen=True)
class Case:
    """One policy with its parameters; ``slow`` cases run a shorter stream; ``plain``
    cases run with the policies' shortcuts off."""

    policy: str
    params: dict[str, Any] = field(default_factory=dict)
    slow: bool = False
    plain: bool = False

    @property
    def label(self) -> str:
        return f"{self.policy} (plain)" if self.plain else self.policy


CASES = [
    Case("fifo"),
    Case("easy_backfill"),
    Case("conservative_backfill", slow=True),
    Case("sjf"),
    Case("sjf_backfill"),
    Case("priority"),
    Case("priority_preemptive"),
    Case("fair_share", {"weights": {"t0": 4, "t1": 2, "t2": 1, "t3": 1}}),
    Case("quota", {"quotas": {"t0": 120_000, "t1": 80_000, "t2": 50_000, "t3": 50_000}}),
    Case("las"),
]
# Policies with shortcuts (``simulator.policies.state.FAST_PATHS``).
HAS_SHORTCUTS = {
    "easy_backfill",
    "conservative_backfill",
    "sjf_backfill",
    "fair_share",
    "quota",
    "las",
}


# --------------------------------------------------------------------------- world


def _speed(name: str) -> float:
    card = next(c for c in CARD_TYPES if c["name"] == name)
    ref = next(c for c in CARD_TYPES if c["name"] == REFERENCE)
    return float(card["bf16_tflops"] * card["mfu"] / (ref["bf16_tflops"] * ref["mfu"]))


def _servers() -> dict[str, int]:
    """Servers per card type in proportion to the shares (largest remainder)."""
    total = CARDS // CARDS_PER_SERVER
    weight = sum(SHARES.values())
    exact = {k: total * v / weight for k, v in SHARES.items()}
    out = {k: math.floor(x) for k, x in exact.items()}
    for k in sorted(exact, key=lambda k: out[k] - exact[k])[: total - sum(out.values())]:
        out[k] += 1
    return out


def scenario(case: Case, stream_jobs: int) -> Scenario:
    """The world with ``case``'s policy and a stream of about ``stream_jobs`` jobs."""
    servers = _servers()
    cap = {t: servers[t] * CARDS_PER_SERVER * _speed(t) for t in servers}
    per_job = sum(GANG_SIZES) / len(GANG_SIZES) * MEDIAN_H * math.exp(SIGMA**2 / 2)
    nvidia, domestic = sum(cap[t] for t in NVIDIA), sum(cap[t] for t in DOMESTIC)
    rates_h = [
        0.5 * LOAD * (nvidia + domestic) / per_job,
        0.5 * LOAD * nvidia / per_job,
        0.5 * LOAD * domestic / per_job,
    ]
    classes = [
        {
            "name": name,
            "arrival": {"rate_per_day": rate * 24.0},
            "gang_size": {"kind": "table", "values": GANG_SIZES, "weights": [1] * 11},
            "work": {
                "unit": "ref_hours",
                "distribution": {"kind": "lognormal", "median": MEDIAN_H, "sigma": SIGMA},
            },
            "estimate": {"factor_min": 1.0, "factor_max": 3.0},
            "card_types": types,
            "tenants": TENANTS,
            "priority": priority,
        }
        for name, rate, types, priority in zip(
            ("any", "nvidia", "domestic"), rates_h, ([], NVIDIA, DOMESTIC), (0, 1, 2), strict=True
        )
    ]
    horizon_h = BACKLOG_SPAN_H + stream_jobs / sum(rates_h)
    mapping = {
        "schema_version": 1,
        "name": f"bench-policy-{case.policy}",
        "start": "2025-01-01",
        "horizon_days": horizon_h / 24.0,
        "seed": SEED,
        "reference_card": REFERENCE,
        "card_types": CARD_TYPES,
        "centres": [
            {
                "name": f"centre-{i}",
                "pools": [
                    {
                        "name": t.lower(),
                        "card_type": t,
                        "cards_per_server": CARDS_PER_SERVER,
                        "servers_per_pod": SERVERS_PER_POD,
                        "phases": [{"date": "2025-01-01", "servers": servers[t]}],
                    }
                ],
            }
            for i, t in enumerate(SHARES)
        ],
        "workload": {"classes": classes},
        "policy": {"name": case.policy, "params": case.params},
        "dispatch": {"name": "earliest_start"},
        "output": {"job_records": "none", "timeseries_step_h": horizon_h},
    }
    return validate_mapping(mapping, file=f"<bench {case.policy}>")


def jobs(sc: Scenario, backlog: int, stream_jobs: int) -> list[JobBatch]:
    """``backlog`` jobs submitted in the first 0.1 h, then the first ``stream_jobs`` of
    the scenario's stream (delayed by 0.1 h): the same jobs for every policy."""
    batches = list(JobSource(sc, 0).batches(sc.horizon_h))
    cols = {
        f: np.concatenate([getattr(b, f) for b in batches]) for f in JobBatch.__dataclass_fields__
    }
    n = len(cols["submit_h"])
    if n < backlog + stream_jobs:
        raise ValueError(f"sampled {n} jobs, need {backlog + stream_jobs}")
    # The backlog takes the attributes of the first jobs; the stream follows them.
    submit = np.concatenate(
        [
            np.linspace(0.0, BACKLOG_SPAN_H, backlog, endpoint=False),
            BACKLOG_SPAN_H
            + cols["submit_h"][backlog : backlog + stream_jobs]
            - cols["submit_h"][backlog],
        ]
    )
    keep = slice(0, backlog + stream_jobs)
    out = {f: cols[f][keep] for f in cols}
    out["submit_h"] = submit
    return [JobBatch(**out)]


# --------------------------------------------------------------------------- workers


def worker(case: Case, backlog: int, stream_jobs: int) -> dict[str, Any]:
    """Run one case in this (fresh) process and measure ``Engine.run``."""
    state.FAST_PATHS = not case.plain
    sc = scenario(case, 2 * (backlog + stream_jobs))
    batch = jobs(sc, backlog, stream_jobs)
    horizon_h = max(float(batch[0].submit_h[-1]), BACKLOG_SPAN_H) + 1e-9
    sc = sc.model_copy(update={"horizon_days": horizon_h / 24.0})
    engine = Engine(sc)
    engine.source.batches = lambda _h: iter(batch)  # type: ignore[method-assign,assignment]
    cpu = time.process_time()
    wall = time.perf_counter()
    raw = engine.run()
    cpu_s = time.process_time() - cpu
    wall_s = time.perf_counter() - wall
    online = CARDS
    return {
        "policy": case.label,
        "jobs": raw.jobs_submitted,
        "events": raw.events,
        "cpu_s": cpu_s,
        "wall_s": wall_s,
        "queue_mean": raw.queue_area_job_h / horizon_h,
        "waiting_end": len(engine.queue) + len(engine.requeued),
        "running_end": len(engine.running),
        "busy_end": sum(p.busy_cards for p in engine.pools) / online,
    }


def isolated(*args: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(worker, *args).result()


# --------------------------------------------------------------------------- report


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "-"
    return (
        f"{model}; {os.cpu_count()} CPUs; load average {load}; Python "
        f"{platform.python_version()}; {platform.platform()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--full", action="store_true", help="2 x 10^5 stream jobs")
    parser.add_argument(
        "--backlog", type=int, default=12_000, help="jobs submitted at the start (default 12,000)"
    )
    parser.add_argument("--stream-jobs", type=int, help="stream jobs (default 2e4; --full 2e5)")
    parser.add_argument("--slow-jobs", type=int, default=1_000, help="stream jobs, slow cases")
    parser.add_argument("--policies", help="comma-separated subset (fifo is always run)")
    parser.add_argument(
        "--plain", action="store_true", help="also run each policy with its shortcuts off"
    )
    args = parser.parse_args()
    stream = args.stream_jobs or (200_000 if args.full else 20_000)
    cases = CASES
    if args.policies:
        wanted = {"fifo", *(p.strip() for p in args.policies.split(","))}
        cases = [c for c in CASES if c.policy in wanted]
    if args.plain:
        cases = [
            variant
            for c in cases
            for variant in (
                [c, dataclasses.replace(c, plain=True)] if c.policy in HAS_SHORTCUTS else [c]
            )
        ]
    print(f"{dt.datetime.now().isoformat(timespec='seconds')}  {machine()}")
    print(
        f"{CARDS:,} cards in 6 pools; backlog {args.backlog:,} jobs in the first "
        f"{BACKLOG_SPAN_H} h, then a stream at load {LOAD} ({stream:,} jobs; slow cases "
        f"{args.slow_jobs:,}).\nStream rate = stream jobs / (CPU s of the whole run - CPU s "
        f"of the backlog alone): the cost per job with the queue this deep.\n"
    )
    print(
        f"{'policy':<30} {'stream':>7} {'CPU s':>8} {'jobs/s':>8} {'x FIFO':>7} "
        f"{'all jobs/s':>10} {'queue mean':>10} {'waiting end':>11} {'busy end':>8}"
    )
    fifo_rate = math.nan
    for case in cases:
        n = args.slow_jobs if case.slow else stream
        base = isolated(case, args.backlog, 0)
        r = isolated(case, args.backlog, n)
        cpu_s = r["cpu_s"] - base["cpu_s"]
        rate = n / cpu_s
        if case.policy == "fifo":
            fifo_rate = rate
        print(
            f"{case.label:<30} {n:>7,} {cpu_s:>8.2f} {rate:>8,.0f} {rate / fifo_rate:>7.3f} "
            f"{r['jobs'] / r['cpu_s']:>10,.0f} {r['queue_mean']:>10,.0f} "
            f"{r['waiting_end']:>11,} {r['busy_end']:>8.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
