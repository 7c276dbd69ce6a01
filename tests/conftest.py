"""Shared helpers: small valid scenarios and runs of an explicit list of jobs.

The session-scoped fixture ``sim`` gathers them in one namespace (session scope, so
hypothesis tests may use it):

* ``sim.scenario_dict(**overrides)`` / ``sim.scenario(**overrides)``: one centre ``c1``
  with one pool ``p1`` of two 8-card A100 servers (A100 is the reference card, so speed
  1), starting 2025-01-01, FIFO; overrides merge into the mapping key by key (mappings
  merge, lists and scalars replace, as with ``extends:``). ``scenario`` validates.
* ``sim.pool(...)`` and ``sim.job_class(...)``: pool and job-class mappings.
* ``sim.job(submit_h, cards, run_h, ...)`` and ``sim.run_jobs(scenario, jobs)``: run the
  engine on explicit arrivals instead of the synthetic generator, for hand-checked
  timelines in exact hours; the run also keeps each job's placement (which servers).
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from simulator.engine import Engine
from simulator.fleet import Placement, Pool
from simulator.policies.base import QueuePolicy
from simulator.results import RunResult
from simulator.run import to_result
from simulator.scenario import Scenario, validate_mapping
from simulator.workload import JobBatch

START = dt.date(2025, 1, 1)

A100 = {"name": "A100", "bf16_tflops": 312, "memory_gb": 80, "board_power_w": 400, "mfu": 0.40}
# 1.5 x the reference speed (480 x 0.39 = 187.2 = 1.5 x 124.8): run times stay round.
FAST = {"name": "FAST", "bf16_tflops": 480, "memory_gb": 96, "board_power_w": 700, "mfu": 0.39}


def day(n: float) -> str:
    """The ISO date ``n`` whole days after the scenario start."""
    return (START + dt.timedelta(days=n)).isoformat()


def pool_spec(
    name: str = "p1",
    *,
    card_type: str = "A100",
    servers: int = 2,
    cards_per_server: int = 8,
    servers_per_pod: int = 32,
    phases: Sequence[tuple[int, int]] | None = None,
    retirements: Sequence[tuple[int, int]] = (),
) -> dict[str, Any]:
    """A pool mapping; ``phases``/``retirements`` are (day, servers) pairs."""
    phases = phases if phases is not None else [(0, servers)]
    return {
        "name": name,
        "card_type": card_type,
        "cards_per_server": cards_per_server,
        "servers_per_pod": servers_per_pod,
        "phases": [
            {"date": day(d), "servers": n, "label": f"phase-{k}"} for k, (d, n) in enumerate(phases)
        ],
        "retirements": [{"date": day(d), "servers": n} for d, n in retirements],
    }


def job_class_spec(
    name: str = "jobs",
    *,
    rate_per_day: float = 24.0,
    gang_sizes: Sequence[int] = (1,),
    work: dict[str, Any] | None = None,
    card_types: Sequence[str] = (),
    **extra: Any,
) -> dict[str, Any]:
    """A job-class mapping: Poisson arrivals, a gang-size table and a work distribution."""
    return {
        "name": name,
        "arrival": {"rate_per_day": rate_per_day},
        "gang_size": {
            "kind": "table",
            "values": list(gang_sizes),
            "weights": [1] * len(gang_sizes),
        },
        "work": work or {"unit": "ref_hours", "distribution": {"kind": "exponential", "mean": 1.0}},
        "card_types": list(card_types),
        **extra,
    }


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = _merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(override)


def scenario_dict(**overrides: Any) -> dict[str, Any]:
    """A small valid scenario as plain data, with ``overrides`` merged in."""
    base: dict[str, Any] = {
        "schema_version": 1,
        "name": "test",
        "start": START.isoformat(),
        "horizon_days": 10,
        "warmup_days": 0,
        "seed": 1,
        "reference_card": "A100",
        "card_types": [A100, FAST],
        "centres": [{"name": "c1", "pue": 1.2, "pools": [pool_spec()]}],
        "workload": {"classes": [job_class_spec()]},
        "policy": {"name": "fifo"},
        "output": {"timeseries_step_h": 24.0},
    }
    return _merge(base, overrides)


def make_scenario(**overrides: Any) -> Scenario:
    """A validated :class:`Scenario` built from :func:`scenario_dict`."""
    return validate_mapping(scenario_dict(**overrides))


# --------------------------------------------------------------------------- explicit jobs


@dataclass(frozen=True)
class ExplicitJob:
    """One job of a hand-checked timeline.

    ``run_h`` is the run time on reference cards (work = run_h x cards reference-card-hours);
    the user's estimate is ``run_h x estimate_factor``. ``job_class`` indexes the scenario's
    classes and decides the card types the job may use.
    """

    submit_h: float
    cards: int
    run_h: float
    estimate_factor: float = 1.0
    job_class: int = 0
    tenant: int = 0
    priority: int = 0


class _ListSource:
    """A job source yielding one batch of explicit jobs (sorted by submit time)."""

    def __init__(self, jobs: Sequence[ExplicitJob]) -> None:
        order = sorted(range(len(jobs)), key=lambda i: jobs[i].submit_h)
        js = [jobs[i] for i in order]
        self.batch = JobBatch(
            submit_h=np.array([j.submit_h for j in js], dtype=float),
            job_class=np.array([j.job_class for j in js], dtype=np.int64),
            cards=np.array([j.cards for j in js], dtype=np.int64),
            work=np.array([j.run_h * j.cards for j in js], dtype=float),
            estimate_factor=np.array([j.estimate_factor for j in js], dtype=float),
            tenant=np.array([j.tenant for j in js], dtype=np.int64),
            priority=np.array([j.priority for j in js], dtype=np.int64),
        )

    def batches(self, horizon_h: float) -> Iterator[JobBatch]:
        keep = self.batch.submit_h < horizon_h
        yield JobBatch(*(getattr(self.batch, f)[keep] for f in JobBatch.__dataclass_fields__))


class ListEngine(Engine):
    """An engine fed with explicit jobs, remembering each job's placement."""

    def __init__(self, scenario: Scenario, jobs: Sequence[ExplicitJob], **kwargs: Any) -> None:
        super().__init__(scenario, 0, **kwargs)
        self.source = _ListSource(jobs)
        self.placements: dict[int, tuple[int, Placement]] = {}

    def _launch(self, job: Any, p: int, now: float) -> None:
        super()._launch(job, p, now)  # every start, with or without a scheduling pass
        self.placements[job.id] = (job.pool, job.placement)


@dataclass
class JobsRun:
    """The result of :func:`run_jobs`: tables plus the placement of every started job."""

    result: RunResult
    placements: dict[int, tuple[int, Placement]]
    engine: ListEngine

    def start(self, job_id: int) -> float:
        return float(self.result.jobs.set_index("job_id").loc[job_id, "start_h"])

    def starts(self) -> list[float]:
        return self.result.jobs.sort_values("job_id")["start_h"].tolist()

    def ends(self) -> list[float]:
        return self.result.jobs.sort_values("job_id")["end_h"].tolist()


def run_jobs(
    scenario: Scenario,
    jobs: Sequence[ExplicitJob],
    *,
    check_invariants: bool = True,
    policy: QueuePolicy | None = None,
) -> JobsRun:
    """Run ``scenario`` with ``jobs`` as its only arrivals; job ids follow submit order.

    ``policy`` replaces the scenario's policy with an (unregistered) policy object.
    """
    engine = ListEngine(scenario, jobs, check_invariants=check_invariants, policy=policy)
    result = to_result(engine.run())
    return JobsRun(result, engine.placements, engine)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def sim() -> SimpleNamespace:
    """The helpers of this module as one namespace (``sim.scenario(...)``, ``sim.job(...)``)."""
    return SimpleNamespace(
        START=START,
        A100=A100,
        FAST=FAST,
        day=day,
        pool=pool_spec,
        job_class=job_class_spec,
        scenario_dict=scenario_dict,
        scenario=make_scenario,
        job=ExplicitJob,
        run_jobs=run_jobs,
    )


def make_pool(
    servers: int, *, cps: int = 8, spp: int = 4, locality: str = "prefer", fit: str = "best_fit"
) -> Pool:
    """A one-pool fleet of ``servers`` servers for placement tests."""
    pool = Pool(
        index=0,
        centre="c",
        centre_index=0,
        name="p",
        card_type="A100",
        cards_per_server=cps,
        servers_per_pod=spp,
        speed=1.0,
        small_jobs=fit,
        pod_locality=locality,
    )
    pool.add_servers(servers)
    return pool
