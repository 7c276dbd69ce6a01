"""Run one replication of a scenario and turn its raw records into a :class:`RunResult`.

This is the Python API a notebook uses::

    from simulator import load_scenario, run
    result = run(load_scenario("scenarios/toy-two-centres.yaml"))
    result.summary["wait_h_p95"], result.jobs.head()
"""

from __future__ import annotations

from collections.abc import Callable

from simulator import __version__
from simulator.engine import Engine, RawRun
from simulator.metrics import (
    backlog_table,
    capacity_table,
    energy_table,
    jobs_table,
    summary,
    utilisation_table,
    wait_histogram_table,
)
from simulator.policies.base import QueuePolicy
from simulator.recorder import Chunk
from simulator.results import RunResult
from simulator.scenario.schema import Scenario


def run(
    scenario: Scenario,
    replication: int = 0,
    *,
    policy: QueuePolicy | None = None,
    check_invariants: bool = False,
    job_sink: Callable[[Chunk], None] | None = None,
    keep_jobs: bool | None = None,
    progress: Callable[[float], None] | None = None,
) -> RunResult:
    """Simulate one replication of ``scenario`` to its horizon.

    Args:
        scenario: a validated scenario (see :func:`simulator.load_scenario`).
        replication: which replication's random streams to use (0, 1, ...).
        policy: a policy object to use instead of ``scenario.policy``.
        check_invariants: verify the fleet bookkeeping after every event (slow).
        job_sink: receives each chunk of per-job records as numpy columns.
        keep_jobs: keep the per-job table in memory (default: ``output.job_records``).
        progress: called with the simulated hour about once a simulated week.
    """
    engine = Engine(
        scenario,
        replication,
        policy=policy,
        check_invariants=check_invariants,
        job_sink=job_sink,
        keep_jobs=keep_jobs,
        progress=progress,
    )
    raw = engine.run()
    return to_result(raw)


def to_result(raw: RawRun) -> RunResult:
    """Tables and summary of a finished engine run."""
    util = utilisation_table(raw)
    energy = energy_table(raw, util)
    result = RunResult(
        scenario=raw.scenario,
        replication=raw.replication,
        seed=raw.scenario.seed,
        jobs=jobs_table(raw),
        utilisation=util,
        backlog=backlog_table(raw),
        capacity=capacity_table(raw),
        summary=summary(raw, util, energy),
        energy=energy,
        wait_histogram=wait_histogram_table(raw),
        meta={
            "scenario": raw.scenario.name,
            "replication": raw.replication,
            "seed": raw.scenario.seed,
            "version": __version__,
            "wall_s": raw.wall_s,
            "events": raw.events,
            "jobs": raw.jobs_submitted,
        },
    )
    return result
