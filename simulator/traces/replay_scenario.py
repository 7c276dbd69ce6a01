"""Replay a recorded HPC or GPU trace on the machine it came from, and pair the waits.

:func:`replay_scenario` builds a complete :class:`~simulator.scenario.schema.Scenario`
around one trace file, so that a user needs no scenario file to replay a log:

* one centre ``site`` with one pool ``machine`` of ``capacity`` cards of the card type
  ``unit``, which is also the reference card (speed 1, so every job runs exactly its
  recorded run time); ``cards_per_server = 1`` and one pod of ``capacity`` servers, with
  ``placement.pod_locality = ignore``: an HPC machine allocates processors, not server
  shapes, so a job starts whenever enough cards are free;
* ``capacity`` defaults to the header's machine size (SWF ``MaxProcs``, else
  ``MaxNodes``, via :func:`simulator.replay.trace_capacity`); a trace without one needs
  it given, else :class:`~simulator.errors.TraceError`;
* the window starts ``start_day`` days after the trace's first submit and lasts
  ``span_days`` (default: to the last submit); the horizon is the window (divided by
  ``arrival_scale``) plus a drain time long enough for the window's jobs to finish
  (default: 1.5 x the window's card-hours / capacity + the longest run time, at least
  30 days), so that waits are not cut off at the horizon;
* ``output.job_records = memory`` (the per-job table is needed for the pairing), the
  queue policy by name (``easy_backfill`` scans ``lookahead`` = 100,000 queued jobs by
  default, i.e. the whole queue in practice, as the EASY scheduler did).

:func:`run_replay` runs such a scenario (any scenario whose only jobs come from
``workload.trace``) and pairs each simulated job with its trace row, one to one, in a
table with the recorded and the simulated wait (:class:`ReplayRun`). The scenario's
``start`` date is the calendar date (UTC) of the window start when the trace gives its
epoch, else 2000-01-01; it is a label only: simulated time 0 is the window start.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from simulator.engine import Engine
from simulator.errors import TraceError
from simulator.policies.base import QueuePolicy
from simulator.replay import ReplayJobs, _read, trace_capacity
from simulator.results import RunResult
from simulator.run import to_result
from simulator.scenario import Scenario, validate_mapping

HOURS = 3600.0
DAY_S = 86400.0
DEFAULT_START = dt.date(2000, 1, 1)
MIN_DRAIN_DAYS = 30.0
DEFAULT_LOOKAHEAD = 100_000
CARD_TYPE = "unit"
CENTRE = "site"
POOL = "machine"

#: Columns of :attr:`ReplayRun.jobs`.
JOB_COLUMNS = (
    "job_id",
    "trace_job_id",
    "source_line",
    "user",
    "status",
    "cards",
    "submit_h",
    "run_h",
    "estimate_h",
    "sim_start_h",
    "sim_end_h",
    "sim_wait_h",
    "recorded_wait_h",
)


@dataclass
class ReplayRun:
    """A finished replay, with every simulated job paired with its trace row.

    Attributes:
        scenario: the scenario that ran.
        result: the engine's result tables (``result.jobs`` in job-id order).
        jobs: one row per replayed job, in submit order (columns :data:`JOB_COLUMNS`):
            ``job_id`` (engine id), ``trace_job_id`` and ``source_line`` (the trace row),
            ``user``, ``status``, ``cards`` (as replayed), ``submit_h`` (hours since the
            window start, after ``arrival_scale``), ``run_h`` (simulated run time),
            ``estimate_h`` (the estimate the scheduler used), ``sim_start_h``,
            ``sim_end_h``, ``sim_wait_h`` (NaN if not started by the horizon) and
            ``recorded_wait_h`` (recorded start - submit, hours; NaN when the trace has
            no start).
        capacity: cards in the machine.
        counts: what the trace conversion read, kept and adjusted
            (:class:`simulator.replay.ReplayJobs` counts).
        wall_s: wall time of the simulation (engine and result tables), seconds.
    """

    scenario: Scenario
    result: RunResult
    jobs: pd.DataFrame
    capacity: int
    counts: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def unfinished(self) -> int:
        """Jobs not finished at the horizon (0 when the drain time sufficed)."""
        return int(self.jobs["sim_end_h"].isna().sum())


def _name(path: Path) -> str:
    stem = path.name
    for suffix in (".gz", ".swf", ".csv", ".txt", ".parquet"):
        stem = stem.removesuffix(suffix)
    clean = re.sub(r"[^A-Za-z0-9_.\-]+", "-", stem).strip("-.") or "trace"
    return f"replay-{clean}"


def _start_date(table: pd.DataFrame, window_start_s: float) -> dt.date:
    """Calendar date (UTC) of the window start, when the trace gives its epoch."""
    header = table.attrs.get("header", {}) or {}
    unix = header.get("UnixStartTime")
    if isinstance(unix, (int, float)) and not isinstance(unix, bool) and unix > 0:
        moment = dt.datetime.fromtimestamp(float(unix) + window_start_s, tz=dt.timezone.utc)
        return moment.date()
    epoch = table.attrs.get("epoch")
    if isinstance(epoch, str):
        try:
            base = dt.datetime.fromisoformat(epoch)
        except ValueError:
            return DEFAULT_START
        return (base + dt.timedelta(seconds=window_start_s)).date()
    return DEFAULT_START


def replay_scenario(
    trace_path: str | Path,
    *,
    format: str = "auto",
    policy: str = "easy_backfill",
    policy_params: Mapping[str, Any] | None = None,
    capacity: int | None = None,
    start_day: float = 0.0,
    span_days: float | None = None,
    on_bad: Literal["error", "skip"] = "error",
    estimates: Literal["trace", "exact"] = "trace",
    too_large: Literal["error", "skip", "clamp"] = "error",
    arrival_scale: float = 1.0,
    size_scale: float = 1.0,
    drain_days: float | None = None,
    tenant_from: Literal["user", "tenant", "none"] = "user",
    name: str | None = None,
) -> Scenario:
    """A complete scenario replaying one trace on one machine of ``capacity`` cards.

    Args:
        trace_path: the trace file (any format :func:`simulator.traces.read_trace` reads).
        format: its format, or ``"auto"``.
        policy: registered queue policy (``easy_backfill``, ``fifo``, ...).
        policy_params: the policy's parameters; ``easy_backfill`` defaults to
            ``lookahead = 100000``.
        capacity: cards (processors or GPUs) in the machine; default the header's
            ``MaxProcs`` (else ``MaxNodes``).
        start_day: window start, days after the trace's first submit.
        span_days: window length in days of trace time; default to the last submit.
        on_bad: bad trace rows: ``"error"`` or ``"skip"``.
        estimates: ``"trace"`` (the users' requested times) or ``"exact"`` run times.
        too_large: jobs larger than ``capacity``: ``"error"``, ``"skip"`` or ``"clamp"``.
        arrival_scale: submit gaps are divided by it (2 = twice the arrival rate).
        size_scale: job sizes are multiplied by it (rounded up to whole cards).
        drain_days: simulated days after the window for the last jobs to finish;
            default 1.5 x the window's card-hours / capacity + the longest run, at
            least 30 days.
        tenant_from: tenant of each job: the trace's ``user``, ``tenant`` or ``none``.
        name: scenario name; default ``replay-<trace name>``.

    Returns:
        The validated scenario.

    Raises:
        TraceError: unreadable trace, no capacity in the header and none given, or no
            job submitted inside the window.
        ScenarioError: an invalid value (e.g. a negative ``start_day``).
    """
    path = Path(trace_path).expanduser().resolve()
    table = _read(str(path), format, on_bad)
    if capacity is None:
        capacity = trace_capacity(table)
        if capacity is None:
            raise TraceError(
                f"{path}: the trace gives no machine size (no MaxProcs or MaxNodes in its "
                f"header); pass the capacity (--capacity CARDS)"
            )
    if capacity < 1:
        raise TraceError(f"{path}: capacity must be at least 1 card, got {capacity}")
    submit = table["submit_s"].to_numpy(dtype=float)
    if not len(submit):
        raise TraceError(f"{path}: the trace has no jobs")
    origin = float(submit.min())
    last = float(submit.max())
    start = origin + start_day * DAY_S
    end = start + span_days * DAY_S if span_days is not None else math.inf
    window = (submit >= start) & (submit < end)
    if not window.any():
        raise TraceError(
            f"{path}: no job was submitted in the window (days {start_day:g} to "
            f"{'the end' if span_days is None else f'{start_day + span_days:g}'} after the "
            f"first submit); the trace's submits span {(last - origin) / DAY_S:.1f} days"
        )
    window_days = span_days if span_days is not None else (last - start) / DAY_S
    run_h = table["run_s"].to_numpy(dtype=float)[window] / HOURS
    cards = np.ceil(table["cards"].to_numpy(dtype=float)[window] * size_scale - 1e-9)
    cards = np.clip(cards, 1, capacity)
    if drain_days is None:
        card_h = float(np.sum(run_h * cards))
        drain_days = max(
            MIN_DRAIN_DAYS, (1.5 * card_h / capacity + float(run_h.max(initial=0.0))) / 24.0
        )
    horizon_days = window_days / arrival_scale + drain_days
    params = dict(policy_params or {})
    if policy == "easy_backfill":
        params.setdefault("lookahead", DEFAULT_LOOKAHEAD)
    trace: dict[str, Any] = {
        "name": "trace",
        "file": str(path),
        "format": format,
        "on_bad": on_bad,
        "start_day": start_day,
        "estimates": estimates,
        "too_large": too_large,
        "arrival_scale": arrival_scale,
        "size_scale": size_scale,
        "tenant_from": tenant_from,
    }
    if span_days is not None:
        trace["span_days"] = span_days
    start_date = _start_date(table, start)
    mapping: dict[str, Any] = {
        "schema_version": 1,
        "name": name or _name(path),
        "description": f"Replay of {path.name} on {capacity} cards ({policy}).",
        "start": start_date.isoformat(),
        "horizon_days": horizon_days,
        "seed": 0,
        "reference_card": CARD_TYPE,
        "card_types": [
            {
                "name": CARD_TYPE,
                "bf16_tflops": 1.0,
                "memory_gb": 1.0,
                "board_power_w": 100.0,
                "mfu": 1.0,
            }
        ],
        "centres": [
            {
                "name": CENTRE,
                "pools": [
                    {
                        "name": POOL,
                        "card_type": CARD_TYPE,
                        "cards_per_server": 1,
                        "servers_per_pod": capacity,
                        "phases": [{"date": start_date.isoformat(), "servers": capacity}],
                    }
                ],
            }
        ],
        "workload": {"trace": trace},
        "policy": {"name": policy, "params": params},
        "placement": {"pod_locality": "ignore"},
        "output": {"job_records": "memory"},
    }
    return validate_mapping(mapping, file=str(path))


def run_replay(
    scenario: Scenario, *, policy: QueuePolicy | None = None, replication: int = 0
) -> ReplayRun:
    """Run a trace-replay scenario and pair every simulated job with its trace row.

    Args:
        scenario: a scenario whose only jobs come from ``workload.trace`` (e.g. from
            :func:`replay_scenario`) and that keeps job records in memory.
        policy: a policy object to use instead of ``scenario.policy``.
        replication: replication index (a replay has no randomness of its own).

    Returns:
        The run with the per-job pairing.

    Raises:
        ValueError: the scenario has no trace, has generated jobs beside it, or keeps no
            job records.
    """
    trace = scenario.workload.trace
    if trace is None:
        raise ValueError(f"scenario '{scenario.name}' has no workload.trace to replay")
    if scenario.workload.classes or scenario.workload.campaigns:
        raise ValueError(
            f"scenario '{scenario.name}' mixes generated jobs with the trace; "
            f"run_replay pairs trace jobs only"
        )
    wall = time.perf_counter()
    engine = Engine(scenario, replication, policy=policy, keep_jobs=True)
    raw = engine.run()
    result = to_result(raw)
    wall_s = time.perf_counter() - wall
    replay = engine.source.replay
    assert replay is not None and result.jobs is not None
    jobs = pair_jobs(result.jobs, replay, _read(trace.file, trace.format, trace.on_bad))
    capacity = sum(p.max_cards for p in raw.pools)
    return ReplayRun(
        scenario=scenario,
        result=result,
        jobs=jobs,
        capacity=capacity,
        counts=dict(replay.counts),
        wall_s=wall_s,
    )


def pair_jobs(sim_jobs: pd.DataFrame, replay: ReplayJobs, table: pd.DataFrame) -> pd.DataFrame:
    """Per-job table pairing simulated jobs (engine ids in submit order) with trace rows.

    Args:
        sim_jobs: the run's ``jobs`` table.
        replay: the converted window (its rows are the engine's job ids 0, 1, ...).
        table: the normalised trace table the window came from.

    Returns:
        One row per replayed job, columns :data:`JOB_COLUMNS`.

    Raises:
        ValueError: the simulated jobs and the window's jobs differ in number.
    """
    sim = sim_jobs.sort_values("job_id", kind="stable")
    n = len(replay.submit_h)
    if len(sim) != n:
        raise ValueError(
            f"{len(sim)} simulated jobs but {n} trace jobs in the window; the pairing "
            f"needs a scenario whose only jobs are the trace's"
        )
    rows = table.set_index("source_line").loc[replay.source_line]
    recorded = (
        rows["recorded_start_s"].to_numpy(dtype=float) - rows["submit_s"].to_numpy(dtype=float)
    ) / HOURS
    return pd.DataFrame(
        {
            "job_id": sim["job_id"].to_numpy(dtype=np.int64),
            "trace_job_id": rows["job_id"].astype(str).to_numpy(),
            "source_line": replay.source_line.astype(np.int64),
            "user": rows["user"].astype(str).to_numpy(),
            "status": rows["status"].astype(str).to_numpy(),
            "cards": sim["cards"].to_numpy(dtype=np.int64),
            "submit_h": sim["submit_h"].to_numpy(dtype=float),
            "run_h": sim["run_h"].to_numpy(dtype=float),
            "estimate_h": sim["estimate_h"].to_numpy(dtype=float),
            "sim_start_h": sim["start_h"].to_numpy(dtype=float),
            "sim_end_h": sim["end_h"].to_numpy(dtype=float),
            "sim_wait_h": sim["wait_h"].to_numpy(dtype=float),
            "recorded_wait_h": recorded,
        },
        columns=list(JOB_COLUMNS),
    )
