"""The policy library, dispatch rules, fragmentation metric and plug-in API.

Exact timelines: each test feeds the engine explicit jobs (``sim.job(submit_h, cards,
run_h)``; run times in hours on reference cards, estimates exact unless stated) and
asserts every start time (and preemption), worked out by hand in the docstring. Unless a
test says otherwise the pool is one pod of 8-card A100 servers (speed 1). Times are sums
of binary fractions, so ``EXACT`` only guards against formatting.

Then: bad input (unknown names and parameters, plug-in files, impossible decisions), the
example policy of ``docs/policies.md`` under the hypothesis invariants of
``tests/test_invariants.py``, preemption-aware invariants for the preemptive policies,
and conservative backfilling against a brute-force reference.
"""

from __future__ import annotations

import importlib.metadata
import math
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
import test_invariants as inv
from conftest import ListEngine, make_pool
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import run
from simulator.errors import PolicyError, ScenarioError
from simulator.fragmentation import fleet_fragmentation, fragmented_cards
from simulator.job import TrainingJob
from simulator.policies import (
    QueuePolicy,
    known_dispatch_rules,
    known_policies,
    load_policy_module,
    make_dispatch,
    make_policy,
    plugins,
)
from simulator.policies import base as policy_base
from simulator.policies.base import Preempt, Start
from simulator.policies.state import TenantIds, tenant_keyed
from simulator.run import to_result
from simulator.scenario import load_scenario

EXACT = {"abs": 1e-12}
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_POLICY = ROOT / "examples" / "policies" / "smallest_first.py"
EXAMPLE_SCENARIO = ROOT / "examples" / "scenarios" / "toy-smallest-first.yaml"

# The documented example registers itself; import it before anything asks the registry.
load_policy_module(EXAMPLE_POLICY)

NEW_POLICIES = [
    "conservative_backfill",
    "sjf",
    "sjf_backfill",
    "priority",
    "priority_preemptive",
    "fair_share",
    "quota",
    "las",
]
PREEMPTIVE = ["priority_preemptive", "las"]


def one_pool(sim, policy: str, params=None, *, servers: int = 2, classes=None, **kwargs):  # type: ignore[no-untyped-def]
    """One pool ``p1`` of ``servers`` 8-card servers under ``policy``."""
    overrides: dict[str, Any] = {
        "centres": [{"name": "c1", "pools": [sim.pool(servers=servers)]}],
        "policy": {"name": policy, "params": params or {}},
    }
    if classes is not None:
        overrides["workload"] = {"classes": classes}
    overrides.update(kwargs)
    return sim.scenario(**overrides)


def column(run, name: str) -> list[Any]:  # type: ignore[no-untyped-def]
    return run.result.jobs.sort_values("job_id")[name].tolist()


# --------------------------------------------------------------------------- SJF


def sjf_jobs(sim):  # type: ignore[no-untyped-def]
    """A (8 cards, 0-10); B (16, 1 h) at 1; C (1, 5 h) at 2; D (8, 3 h) at 3; E (16, 0.5 h) at 4."""
    return [
        sim.job(0.0, 8, 10.0),
        sim.job(1.0, 16, 1.0),
        sim.job(2.0, 1, 5.0),
        sim.job(3.0, 8, 3.0),
        sim.job(4.0, 16, 0.5),
    ]


def test_sjf_strict_order_by_estimate(sim):  # type: ignore[no-untyped-def]
    """SJF, strict: nothing fits beside A until 10 (B and E need all 16 cards and block
    the queue; C would fit at 2 but waits behind B). At 10 the order is E (0.5 h), B
    (1 h), D (3 h), C (5 h): E 10-10.5, B 10.5-11.5, then D and C together at 11.5.
    FIFO gives B 10, C 11, D 11, E 16."""
    run = sim.run_jobs(one_pool(sim, "sjf"), sjf_jobs(sim))
    assert run.starts() == pytest.approx([0.0, 10.5, 11.5, 11.5, 10.0], **EXACT)
    fifo = sim.run_jobs(one_pool(sim, "fifo"), sjf_jobs(sim))
    assert fifo.starts() == pytest.approx([0.0, 10.0, 11.0, 11.0, 16.0], **EXACT)


def test_sjf_orders_by_the_estimate_not_the_run_time(sim):  # type: ignore[no-untyped-def]
    """A (16 cards, 0-10) holds the pool. B (8 cards, 4 h, estimate 4 h) at 1 and C (8
    cards, 1 h, estimate x 5 = 5 h) at 2. SJF sees 4 h < 5 h: B starts first at 10 on
    one server and C beside it at 10 (both fit); with C (16 cards) it must wait for B:
    B 10-14, C 14-15."""
    jobs = [sim.job(0.0, 16, 10.0), sim.job(1.0, 8, 4.0), sim.job(2.0, 16, 1.0, estimate_factor=5)]
    run = sim.run_jobs(one_pool(sim, "sjf"), jobs)
    assert run.starts() == pytest.approx([0.0, 10.0, 14.0], **EXACT)


def test_sjf_backfill(sim):  # type: ignore[no-untyped-def]
    """SJF with EASY backfilling, same jobs. At 1 the head B is reserved at shadow time 10
    (A's end) with no extra cards. C (5 h) ends at 7 <= 10: backfills at 2. D (8 cards)
    does not fit beside A and C. E (0.5 h) arrives at 4 and becomes the head (shadow 10).
    At 7 C ends: D (3 h) fits and ends at 10 <= 10: backfills at 7. At 10 A and D end:
    E 10-10.5, then B 10.5-11.5."""
    run = sim.run_jobs(one_pool(sim, "sjf_backfill"), sjf_jobs(sim))
    assert run.starts() == pytest.approx([0.0, 10.5, 2.0, 7.0, 10.0], **EXACT)


# --------------------------------------------------------------------------- priority


def priority_jobs(sim):  # type: ignore[no-untyped-def]
    """A (16 cards, 0-10, p0); B (8, 2 h, p0) at 1; C (8, 2 h, p5) at 2; D (16, 1 h, p1) at 3."""
    return [
        sim.job(0.0, 16, 10.0),
        sim.job(1.0, 8, 2.0),
        sim.job(2.0, 8, 2.0, priority=5),
        sim.job(3.0, 16, 1.0, priority=1),
    ]


def test_strict_priority_classes(sim):  # type: ignore[no-untyped-def]
    """Priority, non-preemptive, strict. At 10 the order is C (p5), D (p1), B (p0): C
    starts at 10; D needs 16 cards and blocks B although B would fit beside C. C ends at
    12: D 12-13, then B 13-15. FIFO: B 10, C 10, D 12."""
    run = sim.run_jobs(one_pool(sim, "priority"), priority_jobs(sim))
    assert run.starts() == pytest.approx([0.0, 13.0, 10.0, 12.0], **EXACT)
    assert column(run, "preemptions") == [0, 0, 0, 0]


def test_priority_is_fifo_within_a_class(sim):  # type: ignore[no-untyped-def]
    """Three jobs of one class behind A (16 cards, 0-10): they start in submit order
    whatever their size: B (8) and C (8) at 10, D (1 card) at 11 when B ends."""
    jobs = [
        sim.job(0.0, 16, 10.0),
        sim.job(1.0, 8, 1.0, priority=3),
        sim.job(2.0, 8, 2.0, priority=3),
        sim.job(3.0, 1, 1.0, priority=3),
    ]
    run = sim.run_jobs(one_pool(sim, "priority"), jobs)
    assert run.starts() == pytest.approx([0.0, 10.0, 10.0, 11.0], **EXACT)


def test_preemptive_priority_charges_checkpointed_work(sim):  # type: ignore[no-untyped-def]
    """A (16 cards, 10 h, p0; checkpoints every 0.5 h, restart 0.25 h) runs from 0. B (8
    cards, 2 h, p5) arrives at 1.2, cannot start and stops A, which keeps 1.0 h of work
    and loses 0.2 h (16 x 0.2 = 3.2 card-hours). B 1.2-3.2; A cannot restart beside it (16
    cards), restarts at 3.2, pays 0.25 h and runs its other 9 h: ends 12.45."""
    classes = [
        sim.job_class("low", checkpoint_interval_h=0.5, restart_overhead_h=0.25),
        sim.job_class("high", priority=5),
    ]
    jobs = [sim.job(0.0, 16, 10.0, job_class=0), sim.job(1.2, 8, 2.0, job_class=1, priority=5)]
    run = sim.run_jobs(one_pool(sim, "priority_preemptive", classes=classes), jobs)
    assert run.starts() == pytest.approx([0.0, 1.2], **EXACT)
    assert column(run, "last_start_h") == pytest.approx([3.2, 1.2], **EXACT)
    assert run.ends() == pytest.approx([12.45, 3.2], **EXACT)
    assert column(run, "preemptions") == [1, 0]
    assert column(run, "lost_work_ref_card_h") == pytest.approx([3.2, 0.0], abs=1e-9)


def test_preemptive_priority_victim_order(sim):  # type: ignore[no-untyped-def]
    """X (8 cards, p1) at 0 takes a server; Y (4, p0) at 1 and Z (4, p0) at 2 share the
    other. H (8 cards, 1 h, p5) at 3 needs a whole server. Victims go lowest priority
    first, most recently started first: Z (4 cards, not enough), then Y (the server is
    free): H 3-4, X untouched. Y and Z (no checkpoints) restart from scratch at 4 when H
    ends, in submit order: 4-14 each."""
    jobs = [
        sim.job(0.0, 8, 10.0, priority=1),
        sim.job(1.0, 4, 10.0),
        sim.job(2.0, 4, 10.0),
        sim.job(3.0, 8, 1.0, priority=5),
    ]
    run = sim.run_jobs(one_pool(sim, "priority_preemptive"), jobs)
    assert run.starts() == pytest.approx([0.0, 1.0, 2.0, 3.0], **EXACT)
    assert column(run, "last_start_h") == pytest.approx([0.0, 4.0, 4.0, 3.0], **EXACT)
    assert run.ends() == pytest.approx([10.0, 14.0, 14.0, 4.0], **EXACT)
    assert column(run, "preemptions") == [0, 1, 1, 0]
    # Each victim redoes its whole segment: Y 2 h x 4 cards, Z 1 h x 4 cards.
    assert column(run, "lost_work_ref_card_h") == pytest.approx([0, 8, 4, 0], **EXACT)


def test_preemptive_priority_waits_for_min_run_h(sim):  # type: ignore[no-untyped-def]
    """``min_run_h: 2``. A (16 cards, p0) from 0; B (8, 1 h, p5) at 1 may not stop A,
    which has run only 1 h; the policy asks for a pass at 2, when A reaches 2 h, and B
    stops A then: B 2-3. C (1 card, p0) arrives at 2.5 and waits behind A (p0, submitted
    first, strict order). A restarts at 3 and runs 10 h; C starts at 13."""
    jobs = [sim.job(0.0, 16, 10.0), sim.job(1.0, 8, 1.0, priority=5), sim.job(2.5, 1, 1.0)]
    scenario = one_pool(sim, "priority_preemptive", {"min_run_h": 2.0})
    run = sim.run_jobs(scenario, jobs)
    assert run.starts() == pytest.approx([0.0, 2.0, 13.0], **EXACT)
    assert column(run, "last_start_h") == pytest.approx([3.0, 2.0, 13.0], **EXACT)


def test_preemptive_priority_never_stops_equal_priority(sim):  # type: ignore[no-untyped-def]
    """A (16 cards, p5) from 0; B (8 cards, p5) at 1 waits for A: 10."""
    jobs = [sim.job(0.0, 16, 10.0, priority=5), sim.job(1.0, 8, 1.0, priority=5)]
    run = sim.run_jobs(one_pool(sim, "priority_preemptive"), jobs)
    assert run.starts() == pytest.approx([0.0, 10.0], **EXACT)
    assert column(run, "preemptions") == [0, 0]


# --------------------------------------------------------------------------- LAS


def test_las_demotes_at_a_pass_and_preempts(sim):  # type: ignore[no-untyped-def]
    """LAS with one threshold at 4 card-hours (queues 0 and 1). A (16 cards, 10 h) starts
    at 0 and crosses 4 card-hours at 0.25, but no pass happens then. B (8 cards, 1 h) at
    0.1: A is still in queue 0 (1.6 card-hours), same queue: no preemption, B waits. C (1
    card, 1 h) at 1: the pass demotes A to queue 1; B (queue 0) stops A and starts, then
    C starts in the freed cards: both 1-2. A (queue 1, no checkpoints) restarts at 2 from
    scratch: 2-12."""
    jobs = [sim.job(0.0, 16, 10.0), sim.job(0.1, 8, 1.0), sim.job(1.0, 1, 1.0)]
    run = sim.run_jobs(one_pool(sim, "las", {"thresholds_card_h": [4]}), jobs)
    assert run.starts() == pytest.approx([0.0, 1.0, 1.0], **EXACT)
    assert column(run, "last_start_h") == pytest.approx([2.0, 1.0, 1.0], **EXACT)
    assert run.ends() == pytest.approx([12.0, 2.0, 2.0], **EXACT)
    assert column(run, "preemptions") == [1, 0, 0]


def test_las_timed_demotion_preempts_when_the_threshold_is_crossed(sim):  # type: ignore[no-untyped-def]
    """The jobs of ``test_las_demotes_at_a_pass_and_preempts`` with ``timed_demotion``.
    B waits from 0.1, so the policy asks for a pass at A's crossing, 0.25: A is demoted
    to queue 1 and B stops it and runs 0.25-1.25. A needs 16 cards and only 8 are free.
    C (1 card) at 1 starts at once. B ends at 1.25 (15 cards free); A restarts from
    scratch when C ends at 2: 2-12."""
    jobs = [sim.job(0.0, 16, 10.0), sim.job(0.1, 8, 1.0), sim.job(1.0, 1, 1.0)]
    params = {"thresholds_card_h": [4], "timed_demotion": True}
    run = sim.run_jobs(one_pool(sim, "las", params), jobs)
    assert run.starts() == pytest.approx([0.0, 0.25, 1.0], **EXACT)
    assert column(run, "last_start_h") == pytest.approx([2.0, 0.25, 1.0], **EXACT)
    assert run.ends() == pytest.approx([12.0, 1.25, 2.0], **EXACT)
    assert column(run, "preemptions") == [1, 0, 0]


@pytest.mark.timeout(120)
def test_las_demotes_a_job_whose_service_rounds_below_the_threshold(sim):  # type: ignore[no-untyped-def]
    """A (1 card) starts at 0.1 and crosses 4 card-hours at 0.1 + 4 = 4.1, but in floating
    point 1 x (4.1 - 0.1) is 3.9999999999999996. B (16 cards) waits from 0.2; the timed
    pass at 4.1 must demote A all the same (it once kept A in queue 0 with its crossing
    due again at once, a pass that never ended): B stops A and runs 4.1-5.1, and A
    restarts from scratch at 5.1: 5.1-15.1."""
    assert 1 * ((0.1 + 4.0) - 0.1) < 4.0  # the rounding this case is about
    jobs = [sim.job(0.1, 1, 10.0), sim.job(0.2, 16, 1.0)]
    params = {"thresholds_card_h": [4], "timed_demotion": True}
    run = sim.run_jobs(one_pool(sim, "las", params), jobs)
    assert run.starts() == pytest.approx([0.1, 4.1], **EXACT)
    assert column(run, "last_start_h") == pytest.approx([5.1, 4.1], **EXACT)
    assert run.ends() == pytest.approx([15.1, 5.1], **EXACT)
    assert column(run, "preemptions") == [1, 0]


def test_las_timed_demotion_needs_a_waiting_job_and_preemption(sim):  # type: ignore[no-untyped-def]
    """Timed passes only change a run where a job waits and may preempt: non-preemptive,
    the same jobs run as without ``timed_demotion`` (B waits for A: 10-11)."""
    jobs = [sim.job(0.0, 16, 10.0), sim.job(0.1, 8, 1.0), sim.job(1.0, 1, 1.0)]
    for timed in (False, True):
        params = {"thresholds_card_h": [4], "preemptive": False, "timed_demotion": timed}
        run = sim.run_jobs(one_pool(sim, "las", params), jobs)
        assert run.starts() == pytest.approx([0.0, 10.0, 10.0], **EXACT)
        assert column(run, "preemptions") == [0, 0, 0]


def test_las_lower_queue_first_and_greedy(sim):  # type: ignore[no-untyped-def]
    """Non-preemptive LAS, threshold 4 card-hours. A (8 cards, 1 h) at 0 runs 0-1 and
    ends with 8 card-hours. B (16 cards, 2 h) at 0.5 waits. At 1 A ends; B starts 1-3.
    C (8, 1 h) at 1.5 and D (1 card, 1 h) at 2 wait for B. At 3 both start (queue 0,
    FIFO): 3. Greedy: a job that does not fit is passed over, never blocks."""
    jobs = [
        sim.job(0.0, 8, 1.0),
        sim.job(0.5, 16, 2.0),
        sim.job(1.5, 8, 1.0),
        sim.job(2.0, 1, 1.0),
    ]
    params = {"thresholds_card_h": [4], "preemptive": False}
    run = sim.run_jobs(one_pool(sim, "las", params), jobs)
    assert run.starts() == pytest.approx([0.0, 1.0, 3.0, 3.0], **EXACT)


def test_las_demoted_jobs_keep_fifo_order_in_their_queue(sim):  # type: ignore[no-untyped-def]
    """Thresholds [4] card-hours. A (8 cards, 10 h) at 0 reaches 4 card-hours at 0.5. B
    (16 cards, 1 h) at 1: the pass demotes A to queue 1; B (queue 0) stops A and runs
    from 1, reaching 4 card-hours at 1.25. C (8 cards, 1 h) at 1.5: the pass demotes B;
    C (queue 0) stops B and starts, and the second sweep restarts A in the freed cards:
    queue 1 is FIFO, A (submitted at 0) before B. A restarts from scratch (no
    checkpoints) and runs 1.5-11.5; B needs all 16 cards and resumes at 11.5."""
    jobs = [sim.job(0.0, 8, 10.0), sim.job(1.0, 16, 1.0), sim.job(1.5, 8, 1.0)]
    run = sim.run_jobs(one_pool(sim, "las", {"thresholds_card_h": [4]}), jobs)
    assert run.starts() == pytest.approx([0.0, 1.0, 1.5], **EXACT)
    assert column(run, "last_start_h") == pytest.approx([1.5, 11.5, 1.5], **EXACT)
    assert run.ends() == pytest.approx([11.5, 12.5, 2.5], **EXACT)
    assert column(run, "preemptions") == [1, 1, 0]


# --------------------------------------------------------------------------- conservative


def backfill_contrast_jobs(sim):  # type: ignore[no-untyped-def]
    """Four servers (32 cards). A (16, 0-10); head B (32 cards, 2 h) at 1; C (8, 3 h) at
    2; D (16, 4 h) at 3; E (8, 5 h) at 4."""
    return [
        sim.job(0.0, 16, 10.0),
        sim.job(1.0, 32, 2.0),
        sim.job(2.0, 8, 3.0),
        sim.job(3.0, 16, 4.0),
        sim.job(4.0, 8, 5.0),
    ]


def test_conservative_backfill_protects_every_reservation(sim):  # type: ignore[no-untyped-def]
    """Conservative: B is reserved at 10-12. C fits now and ends at 5: starts at 2. D is
    reserved when C ends, 5-9. E (8 cards, 5 h) fits now (8 free) but would overlap D's
    reservation from 5, and [9, 10) is too short before B: E is reserved at 12. At 5 C
    ends and D starts; B 10-12; E 12-17."""
    jobs = backfill_contrast_jobs(sim)
    run = sim.run_jobs(one_pool(sim, "conservative_backfill", servers=4), jobs)
    assert run.starts() == pytest.approx([0.0, 10.0, 2.0, 5.0, 12.0], **EXACT)


def test_easy_backfill_delays_the_second_job_where_conservative_does_not(sim):  # type: ignore[no-untyped-def]
    """EASY on the same jobs protects only the head B: E ends at 9 <= 10 and backfills
    at 4, so at 5 only 8 cards are free and D (16 cards) cannot start; D cannot backfill
    later (9 + 4 > 10) and waits for B: 12."""
    jobs = backfill_contrast_jobs(sim)
    run = sim.run_jobs(one_pool(sim, "easy_backfill", servers=4), jobs)
    assert run.starts() == pytest.approx([0.0, 10.0, 2.0, 12.0, 4.0], **EXACT)


def test_conservative_backfill_uses_the_estimate(sim):  # type: ignore[no-untyped-def]
    """A (16 cards, 10 h) holds a 16-card pool; B (16 cards, 1 h) at 1 is reserved at
    10; C (8 cards, 1 h) at 2 is reserved at 11. A's estimate is 2 x 10 = 20 h in
    ``factor`` 2: B reserved at 20, C at 21; A truly ends at 10, the profile is rebuilt
    and B starts at 10, C at 11."""
    jobs = [
        sim.job(0.0, 16, 10.0, estimate_factor=2.0),
        sim.job(1.0, 16, 1.0),
        sim.job(2.0, 8, 1.0),
    ]
    run = sim.run_jobs(one_pool(sim, "conservative_backfill"), jobs)
    assert run.starts() == pytest.approx([0.0, 10.0, 11.0], **EXACT)


# --------------------------------------------------------------------------- tenants


def tenant_scenario(sim, policy: str, params=None, *, servers: int = 1, **kwargs):  # type: ignore[no-untyped-def]
    """One pool; one job class whose tenants are ``t0`` (index 0) and ``t1`` (index 1)."""
    return one_pool(
        sim,
        policy,
        params,
        servers=servers,
        classes=[sim.job_class(tenants={"names": ["t0", "t1"]})],
        **kwargs,
    )


def run_named(scenario, jobs, names: tuple[str, ...] | None = ("t0", "t1")):  # type: ignore[no-untyped-def]
    """Run explicit jobs with the view knowing the tenant names ``names`` (the engine's
    names when None, no names when empty)."""
    engine = ListEngine(scenario, jobs, check_invariants=True)
    if names is not None:
        engine.view.tenant_names = names
    return engine, to_result(engine.run())


def fair_share_jobs(sim):  # type: ignore[no-untyped-def]
    """One 8-card server. A (t0, 4 h) and B (t1, 2 h) at 0; C (t0, 1 h), D (t1, 1 h) at 1."""
    return [
        sim.job(0.0, 8, 4.0, tenant=0),
        sim.job(0.0, 8, 2.0, tenant=1),
        sim.job(1.0, 8, 1.0, tenant=0),
        sim.job(1.0, 8, 1.0, tenant=1),
    ]


def test_fair_share_serves_the_tenant_below_its_share(sim):  # type: ignore[no-untyped-def]
    """Half-life 1e6 h (no decay to speak of), equal weights. A starts at 0 (no usage
    yet, A was submitted first). At 4 t0 has used 32 card-hours and t1 none: t1's jobs
    first, B 4-6. At 6 usage is 32 : 16, shares 2/3 and 1/3 against 1/2 each: F(t0) =
    2^(-4/3) < F(t1) = 2^(-2/3): D 6-7, then C 7-8. FIFO: C 6, D 7."""
    scenario = tenant_scenario(sim, "fair_share", {"half_life_h": 1e6})
    _, result = run_named(scenario, fair_share_jobs(sim))
    assert result.jobs["start_h"].tolist() == pytest.approx([0.0, 4.0, 7.0, 6.0], **EXACT)


def test_fair_share_weights_by_tenant_name(sim):  # type: ignore[no-untyped-def]
    """Weights t0: 3, t1: 1 (shares 3/4 and 1/4). At 6, F(t0) = 2^(-(2/3)/(3/4)) =
    2^(-0.89) > F(t1) = 2^(-(1/3)/(1/4)) = 2^(-1.33): C 6-7, then D 7-8."""
    scenario = tenant_scenario(sim, "fair_share", {"half_life_h": 1e6, "weights": {"t0": 3}})
    _, result = run_named(scenario, fair_share_jobs(sim))
    assert result.jobs["start_h"].tolist() == pytest.approx([0.0, 4.0, 6.0, 7.0], **EXACT)


@pytest.mark.parametrize(
    ("weights", "names"),
    [
        ({"t0": 3}, None),  # the engine names the tenants from the scenario
        ({0: 3}, None),  # an integer key is a tenant index: 0 is t0
        ({0: 3}, ()),  # without names as well
        ({"0": 3}, ()),  # without names, a tenant's name is its index as text
        ({"t0": 3, 0: 1, 1: 1}, None),  # a name key wins over an index key of its tenant
    ],
)
def test_fair_share_weights_by_tenant_name_or_index(sim, weights, names):  # type: ignore[no-untyped-def]
    """Keys are tenant names; an integer key is a tenant index. Each of these weighs t0
    (index 0) 3 and t1 1, which gives the timeline of the test above."""
    scenario = tenant_scenario(sim, "fair_share", {"half_life_h": 1e6, "weights": weights})
    engine, result = run_named(scenario, fair_share_jobs(sim), names)
    assert engine.view.tenant_names == (("t0", "t1") if names is None else ())
    assert result.jobs["start_h"].tolist() == pytest.approx([0.0, 4.0, 6.0, 7.0], **EXACT)


def test_fair_share_text_digits_are_names_when_tenants_have_names(sim):  # type: ignore[no-untyped-def]
    """With named tenants, ``"0"`` is a name no tenant has: equal weights, as in the first
    fair-share test (C after D)."""
    scenario = tenant_scenario(sim, "fair_share", {"half_life_h": 1e6, "weights": {"0": 3}})
    _, result = run_named(scenario, fair_share_jobs(sim), None)
    assert result.jobs["start_h"].tolist() == pytest.approx([0.0, 4.0, 7.0, 6.0], **EXACT)


def test_tenant_keys_resolve_names_and_indices():
    """The lookup rule on its own: names first, then integer keys, which stand for the
    tenant with that index and so for every index of the same name."""

    class View:
        tenant_names = ("a", "b", "a", "c")

        def tenant_name(self, t: int) -> str:
            return self.tenant_names[t] if 0 <= t < len(self.tenant_names) else str(t)

    keyed = tenant_keyed({"b": 2, 0: 5, 3: 7, "c": 9}, "w", lambda v: True, "any")
    assert [keyed.get(View(), t, -1) for t in range(5)] == [5, 2, 5, 9, -1]
    ids = TenantIds()
    ids.sync(View())  # type: ignore[arg-type]
    assert [ids(t) for t in range(5)] == [0, 1, 0, 3, 4]


def test_fair_share_usage_decays_exactly(sim):  # type: ignore[no-untyped-def]
    """Half-life h = 2. A (t0, 8 cards) runs 0-4 and ends with nobody waiting (no pass);
    B (t1, 8 cards, 2 h) arrives at 4.5, runs 4.5-6.5; C (t0) arrives at 5 and waits. The
    last pass is at 6.5 (B ends, C starts). Usage then, card-hours decayed by 2^(-age/h):
    U(t0) = 8 h/ln2 (2^(-2.5/h) - 2^(-6.5/h)), U(t1) = 8 h/ln2 (1 - 2^(-2/h))."""
    h = 2.0
    jobs = [sim.job(0.0, 8, 4.0, tenant=0), sim.job(4.5, 8, 2.0, tenant=1), sim.job(5.0, 8, 1.0)]
    engine, result = run_named(tenant_scenario(sim, "fair_share", {"half_life_h": h}), jobs)
    assert result.jobs["start_h"].tolist() == pytest.approx([0.0, 4.5, 6.5], **EXACT)
    state = engine.policy._state.of(engine.view)  # type: ignore[attr-defined]
    assert state.since == 6.5
    k = 8 * h / math.log(2)
    assert state.usage[0] == pytest.approx(k * (2 ** (-2.5 / h) - 2 ** (-6.5 / h)), rel=1e-12)
    assert state.usage[1] == pytest.approx(k * (1 - 2 ** (-2.0 / h)), rel=1e-12)


def test_quota_passes_over_jobs_beyond_their_tenant_quota(sim):  # type: ignore[no-untyped-def]
    """Quotas t0: 8, default 8 cards; two servers. A (t0, 8 cards, 0-10) holds t0's
    quota, so B (t0, 8 cards) at 1 is passed over (FIFO would start it at 1) but does not
    block C (t1, 8 cards, 2 h), which starts at 2. D (t1, 16 cards) exceeds t1's quota
    and never starts. A ends at 10: B 10-11."""
    jobs = [
        sim.job(0.0, 8, 10.0, tenant=0),
        sim.job(1.0, 8, 1.0, tenant=0),
        sim.job(2.0, 8, 2.0, tenant=1),
        sim.job(3.0, 16, 1.0, tenant=1),
    ]
    scenario = tenant_scenario(sim, "quota", {"quotas": {"t0": 8}, "default_quota": 8}, servers=2)
    _, result = run_named(scenario, jobs)
    starts = result.jobs["start_h"].tolist()
    assert starts[:3] == pytest.approx([0.0, 10.0, 2.0], **EXACT)
    assert math.isnan(starts[3])
    assert result.jobs["state"].tolist()[3] == "queued"


def test_quota_counts_a_tenant_across_job_classes(sim):  # type: ignore[no-untyped-def]
    """Two classes both submitted by ``t0`` (tenant indices 0 and 1, one name): one
    quota of 8 cards for both, on two 8-card servers. A (class 0, 0-10) holds it, so B
    (class 1, 8 cards) at 1 waits for A although a server is free: B 10-11. By index
    they would be two tenants and B would start at 1."""
    jobs = [sim.job(0.0, 8, 10.0, tenant=0), sim.job(1.0, 8, 1.0, job_class=1, tenant=1)]
    classes = [
        sim.job_class(name="a", tenants={"names": ["t0"]}),
        sim.job_class(name="b", tenants={"names": ["t0"]}),
    ]
    scenario = one_pool(sim, "quota", {"quotas": {"t0": 8}}, servers=2, classes=classes)
    engine, result = run_named(scenario, jobs, None)
    assert engine.view.tenant_names == ("t0", "t0")
    assert result.jobs["start_h"].tolist() == pytest.approx([0.0, 10.0], **EXACT)


def test_quota_counts_cards_across_pools(sim):  # type: ignore[no-untyped-def]
    """Two pools (8 cards each), t0's quota 8 cards. A (t0, 8 cards) takes p1; B (t0,
    8 cards) at 1 would fit p2 but t0 holds 8 cards already: B waits for A (10)."""
    centres = [{"name": "c1", "pools": [sim.pool("p1", servers=1), sim.pool("p2", servers=1)]}]
    scenario = tenant_scenario(sim, "quota", {"quotas": {"t0": 8}}, centres=centres)
    _, result = run_named(scenario, [sim.job(0.0, 8, 10.0), sim.job(1.0, 8, 1.0)])
    assert result.jobs["start_h"].tolist() == pytest.approx([0.0, 10.0], **EXACT)


# --------------------------------------------------------------------------- dispatch


def two_centres(sim, dispatch: dict[str, Any], policy: str = "fifo"):  # type: ignore[no-untyped-def]
    """Centres c1 (pool a) and c2 (pool b), one 8-card server each; tenants t0, t1."""
    return tenant_scenario(
        sim,
        policy,
        centres=[
            {"name": "c1", "pools": [sim.pool("a", servers=1)]},
            {"name": "c2", "pools": [sim.pool("b", servers=1)]},
        ],
        dispatch=dispatch,
    )


def test_home_centre_waits_at_home_then_spills(sim):  # type: ignore[no-untyped-def]
    """t0's home is c1, spill after 3 h. A (t1, no home, 8 cards) takes c1 (least loaded,
    first on ties). B (t0, 8 cards) at 1 may not use c2 yet; C (t1, 1 card) at 4 runs a
    pass in which B has waited 3 h: B spills to c2 at 4; C then waits for B (5)."""
    jobs = [sim.job(0.0, 8, 10.0, tenant=1), sim.job(1.0, 8, 1.0), sim.job(4.0, 1, 1.0, tenant=1)]
    dispatch = {"name": "home_centre", "params": {"homes": {"t0": "c1"}, "spill_after_h": 3}}
    _, result = run_named(two_centres(sim, dispatch), jobs)
    jobs_table = result.jobs
    assert jobs_table["start_h"].tolist() == pytest.approx([0.0, 4.0, 5.0], **EXACT)
    assert jobs_table["centre"].tolist() == ["c1", "c2", "c2"]
    plain = sim.run_jobs(two_centres(sim, {"name": "earliest_start"}), jobs)
    assert plain.starts() == pytest.approx([0.0, 1.0, 4.0], **EXACT)


def test_home_centre_starts_at_home_when_there_is_room(sim):  # type: ignore[no-untyped-def]
    """t1's home is c2: A (t1) goes to c2 although c1 is listed first and equally empty."""
    dispatch = {"name": "home_centre", "params": {"homes": {"t1": "c2"}}}
    _, result = run_named(two_centres(sim, dispatch), [sim.job(0.0, 8, 1.0, tenant=1)])
    assert result.jobs["centre"].tolist() == ["c2"]


def test_home_centre_names_an_unknown_centre(sim):  # type: ignore[no-untyped-def]
    dispatch = {"name": "home_centre", "params": {"homes": {"t0": "gamma"}}}
    with pytest.raises(PolicyError, match="home centre 'gamma'.*centres: c1, c2"):
        run_named(two_centres(sim, dispatch), [sim.job(0.0, 8, 1.0)])


def test_card_affinity_prefers_speed_then_load(sim):  # type: ignore[no-untyped-def]
    """Pools a (c1, A100, 8 cards), b (c2, A100, 16 cards), f (c3, FAST, 8 cards). A (8
    cards) goes to f (fastest). B, C, D (4 cards each): f is full; a and b are equally
    fast. card_affinity takes the least loaded: B to a (tie, listed first), C to b
    (a half full), D to b (b 3/4 free vs a 1/2). fastest_card fills a first: C to a."""
    centres = [
        {"name": "c1", "pools": [sim.pool("a", servers=1)]},
        {"name": "c2", "pools": [sim.pool("b", servers=2)]},
        {"name": "c3", "pools": [sim.pool("f", card_type="FAST", servers=1)]},
    ]
    jobs = [sim.job(0.0, 8, 3.0), sim.job(0.5, 4, 3.0), sim.job(1.0, 4, 3.0), sim.job(1.5, 4, 3.0)]
    affinity = sim.run_jobs(
        one_pool(sim, "fifo", centres=centres, dispatch={"name": "card_affinity"}), jobs
    )
    assert column(affinity, "pool") == ["f", "a", "b", "b"]
    fastest = sim.run_jobs(
        one_pool(sim, "fifo", centres=centres, dispatch={"name": "fastest_card"}), jobs
    )
    assert column(fastest, "pool") == ["f", "a", "a", "b"]


def test_least_loaded_is_earliest_start(sim):  # type: ignore[no-untyped-def]
    """``least_loaded`` is the same rule as ``earliest_start``: identical runs."""
    base = small_world(sim, policy={"name": "easy_backfill"})
    a = run(base.model_copy(update={"dispatch": make_spec("least_loaded")}))
    b = run(base)
    pd.testing.assert_frame_equal(a.jobs, b.jobs, check_exact=True)


def make_spec(name: str):  # type: ignore[no-untyped-def]
    from simulator.scenario.schema import DispatchSpec

    return DispatchSpec(name=name)


# --------------------------------------------------------------------------- fragmentation


@pytest.mark.parametrize(
    ("shapes", "expected"),
    [
        ([], 0),  # no demand: free cards are idle, not fragmented
        ([2], 0),  # fits the 3 free cards of the partly used server
        ([4], 3),  # only the whole server can hold it
        ([4, 16], 3),  # 16 cards cannot be placed (11 free)
        ([16], 11),  # nothing placeable: every free card
        ([8], 3),  # one whole server: the partial cards are useless
        ([9], 0),  # 8 on the whole server + 1 on the partial one
        ([12], 11),  # 8 + 4: the partial server has 3, no second whole server
    ],
)
def test_fragmented_cards_small_and_whole(shapes: list[int], expected: int):
    """Two 8-card servers; a 5-card job leaves 3 free cards on its server and one free
    whole server (11 free cards)."""
    pool = make_pool(2)
    pool.allocate(5)
    assert pool.free_cards == 11
    assert fragmented_cards(pool, shapes) == expected


def test_fragmented_cards_under_pod_locality():
    """Two pods of two servers; one server busy in each pod. A 16-card job needs two
    whole servers: under ``require`` one pod must hold both, so the two free servers are
    fragmented; under ``prefer`` it may span pods, so nothing is."""
    for locality, expected in (("require", 16), ("prefer", 0), ("ignore", 0)):
        pool = make_pool(4, spp=2, locality=locality)
        placements = [pool.allocate(8) for _ in range(4)]
        by_pod = {placement.segments[0][0]: placement for placement in placements}
        for placement in by_pod.values():  # free one server in each pod
            pool.release(placement)
        assert pool.whole_free == 2 and sorted(map(len, pool.pod_stack)) == [1, 1]
        assert fragmented_cards(pool, [16]) == expected, locality
        assert fragmented_cards(pool, [8]) == 0


def test_fleet_fragmentation_takes_shapes_per_pool():
    """Each queued job counts only on its eligible pools."""
    p0, p1 = make_pool(2), make_pool(2)
    p1.index = 1
    for pool in (p0, p1):
        pool.allocate(5)
    small = TrainingJob(0, 0, 0, 0, 2, 0.0, 2.0, 1.0, (0,))
    big = TrainingJob(1, 0, 0, 0, 4, 0.0, 4.0, 1.0, (1,))
    assert fleet_fragmentation([p0, p1], [small, big]) == [0, 3]


@given(
    servers=st.integers(1, 6),
    cps=st.sampled_from([1, 2, 4, 8]),
    spp=st.integers(1, 3),
    locality=st.sampled_from(["prefer", "require", "ignore"]),
    jobs=st.lists(st.integers(1, 24), max_size=8),
    shapes=st.lists(st.integers(1, 24), max_size=4),
)
@settings(max_examples=200, deadline=None)
def test_fragmented_cards_bounds(servers, cps, spp, locality, jobs, shapes):  # type: ignore[no-untyped-def]
    """0 <= fragmented <= free; zero when a 1-card job is queued; all free cards when no
    queued shape can be placed."""
    pool = make_pool(servers, cps=cps, spp=spp, locality=locality)
    for cards in jobs:
        if pool.can_fit(cards):
            pool.allocate(cards)
    value = fragmented_cards(pool, shapes)
    assert 0 <= value <= pool.free_cards
    if pool.free_cards and 1 in shapes:
        assert value == 0
    if shapes and not any(pool.can_fit(k) for k in shapes):
        assert value == pool.free_cards


# --------------------------------------------------------------------------- bad input


def test_registry_lists_the_library():
    assert set(NEW_POLICIES) <= set(known_policies())
    assert {"least_loaded", "home_centre", "card_affinity"} <= set(known_dispatch_rules())


def test_unknown_policy_lists_what_exists():
    with pytest.raises(PolicyError) as info:
        make_policy("shortest_first", {})
    message = str(info.value)
    assert "unknown policy 'shortest_first'" in message
    for name in NEW_POLICIES:
        assert name in message


def test_unknown_parameter_lists_the_parameters():
    with pytest.raises(PolicyError) as info:
        make_policy("fair_share", {"halflife_h": 24})
    message = str(info.value)
    assert "halflife_h" in message
    assert (
        "half_life_h (float)" in message and "weights" in message and "lookahead (int)" in message
    )


def test_unknown_dispatch_rule_lists_what_exists():
    with pytest.raises(PolicyError, match="unknown dispatch rule 'nearest'.*home_centre"):
        make_dispatch("nearest", {})


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("sjf_backfill", {"lookahead": 0}, "lookahead must be >= 1"),
        ("conservative_backfill", {"lookahead": -3}, "lookahead must be >= 1"),
        ("fair_share", {"half_life_h": 0}, "half_life_h must be > 0"),
        ("fair_share", {"weights": {"t0": -1}}, "weights['t0'] must be a number > 0"),
        ("fair_share", {"weights": [1, 2]}, "weights must map tenant names"),
        ("fair_share", {"weights": {1.5: 2}}, "weights keys must be tenant names or"),
        ("quota", {"quotas": {-1: 8}}, "quotas keys must be tenant names or"),
        ("quota", {"quotas": {"t0": 2.5}}, "quotas['t0'] must be a whole number of cards"),
        ("quota", {"default_quota": -1}, "default_quota must be a whole number"),
        ("las", {"thresholds_card_h": [10, 5]}, "must increase strictly"),
        ("las", {"thresholds_card_h": [0]}, "must hold positive numbers"),
        ("las", {"thresholds_card_h": "100"}, "must be a list of numbers"),
        ("priority_preemptive", {"min_run_h": -1}, "min_run_h must be >= 0"),
        ("las", {"preemptive": "yes"}, "parameter 'preemptive' must be bool"),
        ("quota", {"backfill": 1}, "parameter 'backfill' must be bool"),
    ],
)
def test_bad_parameter_values(name: str, params: dict[str, Any], message: str):
    with pytest.raises(PolicyError) as info:
        make_policy(name, params)
    assert f"'{name}'" in str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"spill_after_h": -1}, "spill_after_h must be >= 0"),
        ({"homes": {"t0": 5}}, "homes['t0'] must be a centre name"),
    ],
)
def test_bad_dispatch_parameter_values(params: dict[str, Any], message: str):
    with pytest.raises(PolicyError, match="home_centre") as info:
        make_dispatch("home_centre", params)
    assert message in str(info.value)


def test_plugin_file_that_does_not_import(tmp_path: Path):
    path = tmp_path / "broken.py"
    path.write_text("import no_such_module_anywhere\n")
    with pytest.raises(PolicyError, match=r"broken\.py failed to import.*no_such_module"):
        make_policy("broken", {}, module=str(path))


def test_plugin_file_with_a_syntax_error(tmp_path: Path):
    path = tmp_path / "typo.py"
    path.write_text("def decide(:\n")
    with pytest.raises(PolicyError, match=r"typo\.py failed to import.*SyntaxError"):
        make_policy("typo", {}, module=str(path))


def test_plugin_file_that_does_not_define_the_named_policy(tmp_path: Path):
    """The file imports (it registers ``tp_other_policy``) but the scenario names another
    policy: the error lists what exists, the file's policy included."""
    path = tmp_path / "other.py"
    path.write_text(
        "from dataclasses import dataclass\n"
        "from simulator.policies import QueuePolicy, register_policy\n"
        "from simulator.policies.fifo import Fifo\n\n"
        "@register_policy('tp_other_policy')\n"
        "@dataclass(frozen=True)\n"
        "class Other(Fifo):\n"
        "    pass\n"
    )
    with pytest.raises(PolicyError) as info:
        make_policy("tp_missing_policy", {}, module=str(path))
    message = str(info.value)
    assert "unknown policy 'tp_missing_policy'" in message
    assert "tp_other_policy" in message and "smallest_first" in message


def test_plugin_file_that_does_not_exist(tmp_path: Path):
    with pytest.raises(PolicyError, match="does not exist"):
        make_policy("x", {}, module=str(tmp_path / "missing.py"))


def test_plugin_module_path_is_relative_to_the_scenario(tmp_path: Path):
    """A scenario naming a missing module fails when it is loaded, naming the scenario,
    the key and the resolved file next to the scenario."""
    text = EXAMPLE_SCENARIO.read_text().replace("../policies/smallest_first.py", "nope.py")
    path = tmp_path / "s.yaml"
    path.write_text(text.replace("../../scenarios/", str(ROOT / "scenarios") + "/"))
    with pytest.raises(PolicyError, match=str(tmp_path / "nope.py")) as info:
        load_scenario(path)
    assert isinstance(info.value, ScenarioError)
    assert info.value.file == str(path)
    assert info.value.key_path == "policy.module"


# --------------------------------------------------------------------------- entry points


def fake_entry_points(monkeypatch, tmp_path: Path, module_text: str, value: str):  # type: ignore[no-untyped-def]
    """One entry point ``tp_entry_policy = <value>``; ``value`` names a module
    ``tp_plugin_<test>`` written from ``module_text`` (one module name per test)."""
    (tmp_path / f"{value.split(':')[0]}.py").write_text(module_text)
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [EntryPoint(name="tp_entry_policy", value=value, group=plugins.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(
        plugins, "entry_points", lambda group: eps if group == plugins.ENTRY_POINT_GROUP else []
    )


def test_entry_point_registers_an_undecorated_policy(monkeypatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    """An entry point naming a plain policy class registers it under the entry's name."""
    text = (
        "from dataclasses import dataclass\n"
        "from simulator.policies.fifo import Fifo\n\n"
        "@dataclass(frozen=True)\n"
        "class Plain(Fifo):\n"
        "    lookahead: int = 3\n"
    )
    fake_entry_points(monkeypatch, tmp_path, text, "tp_plugin_plain:Plain")
    assert plugins.load_entry_point_policies() == ["tp_entry_policy"]
    assert "tp_entry_policy" in known_policies()
    assert make_policy("tp_entry_policy", {"lookahead": 5}).lookahead == 5  # type: ignore[attr-defined]


def test_entry_point_that_fails_is_named(monkeypatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    text = "raise RuntimeError('no GPU here')\n"
    fake_entry_points(monkeypatch, tmp_path, text, "tp_plugin_broken")
    with pytest.raises(
        PolicyError, match=r"entry point 'tp_entry_policy = tp_plugin_broken'.*no GPU"
    ):
        plugins.load_entry_point_policies()


def test_entry_point_naming_something_else(monkeypatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    fake_entry_points(monkeypatch, tmp_path, "VALUE = 3\n", "tp_plugin_value:VALUE")
    with pytest.raises(PolicyError, match="neither a module nor a policy"):
        plugins.load_entry_point_policies()


def test_registry_loads_entry_points(monkeypatch, tmp_path: Path, sim):  # type: ignore[no-untyped-def]
    """The registry loads the installed packages' policies by itself, once: a policy of
    the group ``lingang_sim.policies`` (faked in ``importlib.metadata``) is listed and
    runs by name, with no ``policy.module``; its module imports ``Start`` and ``Preempt``
    from ``simulator.policies``."""
    (tmp_path / "tp_plugin_listed.py").write_text(
        "from dataclasses import dataclass\n"
        "from simulator.policies import Preempt, QueuePolicy, Start, register_policy\n\n"
        "@register_policy('tp_listed_policy')\n"
        "@dataclass(frozen=True)\n"
        "class Listed(QueuePolicy):\n"
        "    def decide(self, view):\n"
        "        for job in view.waiting(10):\n"
        "            pool = view.choose_pool(job)\n"
        "            if pool is not None:\n"
        "                yield Start(job, pool)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    group = plugins.ENTRY_POINT_GROUP
    eps = [EntryPoint(name="tp_listed", value="tp_plugin_listed:Listed", group=group)]
    asked: list[str | None] = []

    def fake_entry_points(**kwargs: Any) -> list[EntryPoint]:
        asked.append(kwargs.get("group"))
        return eps if kwargs.get("group") == group else []

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    monkeypatch.setattr(policy_base, "_entry_points_loaded", False)
    assert "tp_listed_policy" in known_policies()
    assert "tp_listed_policy" in known_policies()
    assert asked == [group]  # once per process
    jobs = [sim.job(0.0, 8, 1.0), sim.job(0.0, 16, 1.0), sim.job(0.5, 8, 1.0)]
    run = sim.run_jobs(one_pool(sim, "tp_listed_policy"), jobs)
    assert run.starts() == pytest.approx([0.0, 1.5, 0.5], **EXACT)  # B waits for A and C


def test_registry_names_a_failing_entry_point_and_tries_again(monkeypatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A package whose entry point fails to import makes the registry's first use raise,
    naming the entry point; once it imports, the registry works."""
    module = tmp_path / "tp_plugin_flaky.py"
    module.write_text("raise ImportError('needs a GPU driver')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    group = plugins.ENTRY_POINT_GROUP
    eps = [EntryPoint(name="tp_flaky", value="tp_plugin_flaky", group=group)]
    monkeypatch.setattr(
        importlib.metadata,
        "entry_points",
        lambda **kw: eps if kw.get("group") == group else [],
    )
    monkeypatch.setattr(policy_base, "_entry_points_loaded", False)
    with pytest.raises(PolicyError, match=r"entry point 'tp_flaky = tp_plugin_flaky'.*GPU"):
        make_policy("fifo", {})
    module.write_text("X = 1\n")
    assert make_policy("fifo", {}).name == "fifo"


def test_plugin_authors_import_decisions_from_the_package():
    import simulator.policies as policies

    assert policies.Start is Start and policies.Preempt is Preempt
    assert {"Start", "Preempt", "QueuePolicy", "register_policy"} <= set(policies.__all__)


# --------------------------------------------------------------------------- impossible decisions


@dataclass(frozen=True)
class StartHeadAnyway(QueuePolicy):
    """Starts the head on pool 0 whether or not it fits."""

    name: ClassVar[str] = "start_anyway"

    def decide(self, view) -> Iterator[Start]:  # type: ignore[no-untyped-def]
        head = view.head()
        if head is not None:
            yield Start(head, 0)


@dataclass(frozen=True)
class StartTwice(QueuePolicy):
    name: ClassVar[str] = "start_twice"

    def decide(self, view) -> Iterator[Start]:  # type: ignore[no-untyped-def]
        head = view.head()
        if head is not None:
            yield Start(head, 0)
            yield Start(head, 0)


@dataclass(frozen=True)
class StartStranger(QueuePolicy):
    """Starts a job that was never submitted."""

    name: ClassVar[str] = "start_stranger"

    def decide(self, view) -> Iterator[Start]:  # type: ignore[no-untyped-def]
        yield Start(TrainingJob(99, 0, 0, 0, 1, 0.0, 1.0, 1.0, (0,)), 0)


@dataclass(frozen=True)
class PreemptQueued(QueuePolicy):
    name: ClassVar[str] = "preempt_queued"

    def decide(self, view) -> Iterator[Preempt]:  # type: ignore[no-untyped-def]
        head = view.head()
        if head is not None:
            yield Preempt(head)


@dataclass(frozen=True)
class WrongPool(QueuePolicy):
    name: ClassVar[str] = "wrong_pool"

    def decide(self, view) -> Iterator[Start]:  # type: ignore[no-untyped-def]
        head = view.head()
        if head is not None:
            yield Start(head, 1)


@dataclass(frozen=True)
class NotADecision(QueuePolicy):
    name: ClassVar[str] = "not_a_decision"

    def decide(self, view) -> Iterator[Any]:  # type: ignore[no-untyped-def]
        yield "start everything"


@pytest.mark.parametrize(
    ("policy", "jobs", "message"),
    [
        (
            StartHeadAnyway(),
            [(0.0, 8, 10.0), (1.0, 16, 1.0)],
            "policy 'start_anyway' decided to start job 1 (16 cards) on pool 0 at "
            "t=1.0000 h, which is impossible: 16 cards do not fit pool c1/p1 now "
            "(8 of 16 cards free)",
        ),
        (
            StartTwice(),
            [(0.0, 1, 1.0)],
            "policy 'start_twice' decided to start job 0 (1 cards) on pool 0 at t=0.0000 h, "
            "which is impossible: the job is not queued",
        ),
        (
            StartStranger(),
            [(0.0, 1, 1.0)],
            "policy 'start_stranger' decided to start job 99 (1 cards) on pool 0 at "
            "t=0.0000 h, which is impossible: the job is not queued",
        ),
        (
            PreemptQueued(),
            [(0.0, 1, 1.0)],
            "policy 'preempt_queued' decided to preempt job 0 at t=0.0000 h, which is "
            "impossible: the job is not running",
        ),
        (
            WrongPool(),
            [(0.0, 1, 1.0)],
            "policy 'wrong_pool' decided to start job 0 (1 cards) on pool 1 at t=0.0000 h, "
            "which is impossible: the job may only use pools [0]",
        ),
        (
            NotADecision(),
            [(0.0, 1, 1.0)],
            "policy 'not_a_decision' returned 'start everything'; a decision is "
            "Start(job, pool) or Preempt(job)",
        ),
    ],
)
def test_impossible_decisions_name_the_policy_and_decision(sim, policy, jobs, message):  # type: ignore[no-untyped-def]
    centres = [{"name": "c1", "pools": [sim.pool(), sim.pool("p2", card_type="FAST")]}]
    scenario = sim.scenario(
        centres=centres, workload={"classes": [sim.job_class(card_types=["A100"])]}
    )
    with pytest.raises(PolicyError) as info:
        sim.run_jobs(scenario, [sim.job(*j) for j in jobs], policy=policy)
    assert str(info.value) == message


# --------------------------------------------------------------------------- the example


def test_example_policy_timeline(sim):  # type: ignore[no-untyped-def]
    """smallest_first with a look-ahead of 3. A (16 cards, 0-10) holds the pool; B (16,
    1 h) at 1, C (8, 1 h) at 2, D (1, 1 h) at 3, E (1, 1 h) at 4 wait. At 10 the window
    is B, C, D (E is fourth); smallest first: D and C start, B does not fit. At 11 D ends
    first: the window is B, E; E starts (8 cards free), B does not fit. C ends at 11, E
    at 12: B 12-13. FIFO would run B 10, C 11, D 11, E 11."""
    jobs = [
        sim.job(0.0, 16, 10.0),
        sim.job(1.0, 16, 1.0),
        sim.job(2.0, 8, 1.0),
        sim.job(3.0, 1, 1.0),
        sim.job(4.0, 1, 1.0),
    ]
    run = sim.run_jobs(one_pool(sim, "smallest_first", {"lookahead": 3}), jobs)
    assert run.starts() == pytest.approx([0.0, 12.0, 10.0, 10.0, 11.0], **EXACT)


def test_example_scenario_runs(sim):  # type: ignore[no-untyped-def]
    """The documented scenario loads its module relative to itself and runs."""
    scenario = load_scenario(
        EXAMPLE_SCENARIO, ["horizon_days=3", "warmup_days=0", "replications=1"]
    )
    assert scenario.policy.name == "smallest_first"
    assert Path(scenario.policy.module or "") == EXAMPLE_POLICY
    result = run(scenario, check_invariants=True)
    assert result.summary["jobs_finished"] > 100


def check_all_invariants(scenario, replication: int) -> None:  # type: ignore[no-untyped-def]
    """Run ``scenario`` recording every run segment and apply every check of
    ``tests/test_invariants.py`` (for a policy with parameters, or not registered there
    at collection time)."""
    engine = inv.RecordingEngine(scenario, replication, check_invariants=True)
    result = to_result(engine.run())
    segments = engine.closed_segments(result.jobs)
    inv.check_job_table(scenario, result, segments)
    inv.check_cards_in_use(segments, result.capacity, engine.pools)
    inv.check_card_hours(scenario, result, segments)
    inv.check_placements(segments, engine.pools)


@settings(inv.SETTINGS)
@given(
    overrides=inv.scenario_overrides(),
    replication=st.integers(0, 2),
    lookahead=st.sampled_from([1, 5, 100]),
)
def test_example_policy_keeps_the_invariants(sim, overrides, replication, lookahead):  # type: ignore[no-untyped-def]
    """Every invariant of ``tests/test_invariants.py`` for the documented example."""
    policy = {"name": "smallest_first", "params": {"lookahead": lookahead}}
    check_all_invariants(sim.scenario(**overrides, policy=policy), replication)


@pytest.mark.parametrize(
    "policy",
    [
        {"name": "las", "params": {"thresholds_card_h": [2.0, 20.0]}},
        {"name": "las", "params": {"thresholds_card_h": [1.0], "lookahead": 2}},
        {"name": "priority_preemptive", "params": {"min_run_h": 0.5}},
    ],
    ids=["las-low-thresholds", "las-lookahead-2", "priority_preemptive-min-run"],
)
@settings(inv.SETTINGS)
@given(overrides=inv.scenario_overrides(), replication=st.integers(0, 2))
def test_preemptive_policies_keep_the_invariants(sim, policy, overrides, replication):  # type: ignore[no-untyped-def]
    """The invariants with parameters that make preemption frequent on small worlds
    (LAS thresholds of a few card-hours; ``tests/test_invariants.py`` runs the defaults)."""
    check_all_invariants(sim.scenario(**overrides, policy=policy), replication)


# --------------------------------------------------------------------------- state and reuse


def small_world(sim, **overrides):  # type: ignore[no-untyped-def]
    """Two centres, three pools, two classes and two tenants, 2 days."""
    base: dict[str, Any] = {
        "horizon_days": 2,
        "seed": 11,
        "centres": [
            {"name": "c1", "pools": [sim.pool("p1", servers=4, servers_per_pod=2)]},
            {
                "name": "c2",
                "pools": [sim.pool("p2", servers=2), sim.pool("p3", card_type="FAST", servers=2)],
            },
        ],
        "workload": {
            "classes": [
                sim.job_class(
                    "small",
                    rate_per_day=400,
                    gang_sizes=[1, 2, 4, 8],
                    tenants={"names": ["t0", "t1"]},
                    estimate={"factor_min": 1.0, "factor_max": 2.0},
                ),
                sim.job_class(
                    "large",
                    rate_per_day=20,
                    gang_sizes=[8, 16, 32],
                    priority=2,
                    work={
                        "unit": "ref_hours",
                        "distribution": {"kind": "lognormal", "median": 3, "sigma": 1, "max": 24},
                    },
                ),
            ]
        },
        "output": {"timeseries_step_h": 6.0},
    }
    base.update(overrides)
    return sim.scenario(**base)


@pytest.mark.parametrize("policy", NEW_POLICIES)
def test_a_policy_object_serves_runs_independently(sim, policy: str):  # type: ignore[no-untyped-def]
    """State belongs to a run: one policy object used for two runs gives the same tables
    as a fresh object per run, and a pickled copy starts afresh."""
    scenario = small_world(sim, policy={"name": policy})
    shared = make_policy(policy, {})
    first = run(scenario, policy=shared)
    second = run(scenario, policy=shared)
    fresh = run(scenario)
    assert len(first.jobs) > 500
    pd.testing.assert_frame_equal(first.jobs, second.jobs, check_exact=True)
    pd.testing.assert_frame_equal(first.jobs, fresh.jobs, check_exact=True)
    copy = pickle.loads(pickle.dumps(shared))
    pd.testing.assert_frame_equal(run(scenario, policy=copy).jobs, fresh.jobs, check_exact=True)


@pytest.mark.parametrize(
    "policy", ["conservative_backfill", "sjf_backfill", "fair_share", "quota", "las"]
)
def test_default_lookahead_changes_nothing_here(sim, policy: str):  # type: ignore[no-untyped-def]
    """On the small world, the default look-ahead gives the same run as an unbounded one."""
    scenario = small_world(sim, policy={"name": policy})
    unbounded = make_policy(policy, {"lookahead": 10**9})
    pd.testing.assert_frame_equal(
        run(scenario).jobs, run(scenario, policy=unbounded).jobs, check_exact=True
    )


# --------------------------------------------------------------------------- conservative reference


def reference_conservative(jobs: list[tuple[float, int, float, float]], cards: int) -> list[float]:
    """Conservative backfilling on one pool of 1-card servers, recomputed from scratch
    after every event (arrival or end; all event times distinct): a profile of free cards
    from the running jobs' estimated ends; each queued job, in submit order, placed at the
    earliest step from which its cards stay free for its estimate; jobs placed now start.

    Args:
        jobs: (submit, cards, work, estimate factor), sorted by submit.
        cards: the pool's cards.

    Returns:
        Start time of each job (NaN if it never starts).
    """
    start = [math.nan] * len(jobs)
    running: list[tuple[float, float, int]] = []  # (true end, estimated end, cards)
    arrived = 0
    queue: list[int] = []
    while True:
        next_arrival = jobs[arrived][0] if arrived < len(jobs) else math.inf
        next_end = min((r[0] for r in running), default=math.inf)
        now = min(next_arrival, next_end)
        if now == math.inf:
            return start
        if next_arrival < next_end:
            queue.append(arrived)
            arrived += 1
        else:
            running = [r for r in running if r[0] != now]
        times, free = [now], [cards - sum(r[2] for r in running)]
        for _, est_end, c in sorted(running, key=lambda r: r[1]):
            t = max(est_end, now)
            if t == times[-1]:
                free[-1] += c
            else:
                times.append(t)
                free.append(free[-1] + c)
        for j in list(queue):
            _, need, work, factor = jobs[j]
            est = work * factor / need
            chosen = next(
                (
                    i
                    for i in range(len(times))
                    if all(
                        free[k] >= need for k in range(i, len(times)) if times[k] < times[i] + est
                    )
                ),
                None,
            )
            if chosen is None:
                continue
            t0 = times[chosen]
            end_t = t0 + est
            if end_t not in times:
                k = next((k for k, u in enumerate(times) if u > end_t), len(times))
                times.insert(k, end_t)
                free.insert(k, free[k - 1])
            for k, u in enumerate(times):
                if t0 <= u < end_t:
                    free[k] -= need
            if chosen == 0:
                start[j] = now
                queue.remove(j)
                running.append((now + work / need, now + est, need))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 40), pool_cards=st.sampled_from([4, 8]))
def test_conservative_backfill_matches_a_brute_force_reference(sim, seed, n, pool_cards):  # type: ignore[no-untyped-def]
    """Random jobs (continuous times, so no two events coincide) on one pool of 1-card
    servers, estimates 1-2 x the run time: the engine's start times equal the reference's
    exactly, including the passes that reuse the previous profiles."""
    rng = np.random.default_rng(seed)
    submit = np.cumsum(rng.exponential(0.7, n))
    need = rng.integers(1, pool_cards + 1, n)
    run_h = rng.exponential(2.0, n) + 0.01
    factor = rng.uniform(1.0, 2.0, n)
    jobs = [
        sim.job(float(s), int(c), float(r), float(f))
        for s, c, r, f in zip(submit, need, run_h, factor, strict=True)
    ]
    scenario = sim.scenario(
        horizon_days=100,
        centres=[
            {
                "name": "c1",
                "pools": [sim.pool(servers=pool_cards, cards_per_server=1, servers_per_pod=64)],
            }
        ],
        policy={"name": "conservative_backfill"},
    )
    got = sim.run_jobs(scenario, jobs).starts()
    reference = reference_conservative(
        [(j.submit_h, j.cards, j.run_h * j.cards, j.estimate_factor) for j in jobs], pool_cards
    )
    assert got == pytest.approx(reference, rel=0, abs=0, nan_ok=True)
