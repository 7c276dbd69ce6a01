"""Failures, repairs, hot spares, checkpoints and maintenance: timelines, oracles, errors.

The closed-form checkpoint/restart validation lives in ``test_checkpoint_theory.py``;
the invariants with failures switched on (for every policy) in ``test_invariants.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import make_pool
from scipy import stats

from simulator.engine import Engine
from simulator.errors import ScenarioError
from simulator.run import to_result
from simulator.scenario import validate_mapping

EXACT = {"rel": 1e-12, "abs": 1e-12}


def one_server(sim, **overrides):  # type: ignore[no-untyped-def]
    """One 8-card server; class 0 checkpoints every 2 h (0.5 h write, 1 h restart)."""
    cls = sim.job_class(checkpoint_interval_h=2.0, checkpoint_write_h=0.5, restart_overhead_h=1.0)
    return sim.scenario(
        centres=[{"name": "c1", "pools": [sim.pool("p1", servers=1)]}],
        workload={"classes": [cls]},
        horizon_days=2,
        **overrides,
    )


def test_checkpoint_writes_lengthen_a_run(sim):  # type: ignore[no-untyped-def]
    """10 h of computation, a checkpoint after every 2 h except the last piece: 4 writes
    of 0.5 h, so the job runs 0-12; checkpoint writes cost 4 x 0.5 x 8 card-hours."""
    run = sim.run_jobs(one_server(sim), [sim.job(0.0, 8, 10.0)])
    assert run.ends() == pytest.approx([12.0], **EXACT)
    s = run.result.summary
    assert s["lost_card_h[cause=checkpoint]"] == pytest.approx(16.0, **EXACT)
    assert s["goodput"] == pytest.approx(80.0 / 96.0, **EXACT)


def test_preempting_maintenance_keeps_checkpointed_work(sim):  # type: ignore[no-untyped-def]
    """Window 6-9 h takes the server (mode preempt). Segment 1: compute 0-2, write 2-2.5,
    compute 2.5-4.5, write 4.5-5, compute 5-6: two checkpoints, 4 h kept, 1 h of rework.
    At 9 the job restarts: 1 h restart, 6 h of computation with 2 writes: ends at 17.
    Busy 14 h x 8 = 112 card-hours; useful 80; lost: rework 8, restart 8, writes 16."""
    scenario = one_server(
        sim,
        maintenance=[
            {
                "centre": "c1",
                "start": "2025-01-01T06:00:00",
                "duration_h": 3.0,
                "mode": "preempt",
            }
        ],
    )
    run = sim.run_jobs(scenario, [sim.job(0.0, 8, 10.0)])
    jobs = run.result.jobs
    assert run.starts() == pytest.approx([0.0], **EXACT)
    assert run.ends() == pytest.approx([17.0], **EXACT)
    assert jobs["last_start_h"].tolist() == pytest.approx([9.0], **EXACT)
    assert jobs["preemptions"].tolist() == [1]
    assert jobs["failures"].tolist() == [0]
    assert jobs["lost_work_ref_card_h"].tolist() == pytest.approx([8.0], **EXACT)
    s = run.result.summary
    assert s["lost_card_h[cause=rework]"] == pytest.approx(8.0, **EXACT)
    assert s["lost_card_h[cause=restart]"] == pytest.approx(8.0, **EXACT)
    assert s["lost_card_h[cause=checkpoint]"] == pytest.approx(16.0, **EXACT)
    assert s["goodput"] == pytest.approx(80.0 / 112.0, **EXACT)
    util = run.result.utilisation
    width = util["bin_end_h"] - util["bin_start_h"]
    assert float((util["maintenance_cards"] * width).sum()) == pytest.approx(24.0, **EXACT)


def test_draining_maintenance_waits_for_the_running_job(sim):  # type: ignore[no-untyped-def]
    """Drain mode: the busy server leaves only when its job ends (at 12, after its 4
    writes); the window ends at 14, so a job submitted at 7 starts at 14."""
    scenario = one_server(
        sim,
        maintenance=[{"centre": "c1", "start": "2025-01-01T06:00:00", "duration_h": 8.0}],
    )
    run = sim.run_jobs(scenario, [sim.job(0.0, 8, 10.0), sim.job(7.0, 8, 1.0)])
    assert run.starts() == pytest.approx([0.0, 14.0], **EXACT)
    util = run.result.utilisation
    width = util["bin_end_h"] - util["bin_start_h"]
    assert float((util["maintenance_cards"] * width).sum()) == pytest.approx(16.0, **EXACT)


def test_drain_takes_a_server_freed_by_a_preemption(sim):  # type: ignore[no-untyped-def]
    """Drain window 6-14 h on the one server, busy with A (p0, 10 h) from 0. B (p5)
    arrives at 7 and preempts A; the freed server goes to the window, not to B, so it
    is in maintenance 7-14 (56 card-hours, however the server was freed) and A and B
    wait for 14: B (priority) runs 14-15, A restarts at 15."""
    scenario = sim.scenario(
        centres=[{"name": "c1", "pools": [sim.pool("p1", servers=1)]}],
        policy={"name": "priority_preemptive"},
        maintenance=[{"centre": "c1", "start": "2025-01-01T06:00:00", "duration_h": 8.0}],
        horizon_days=2,
    )
    run = sim.run_jobs(scenario, [sim.job(0.0, 8, 10.0), sim.job(7.0, 8, 1.0, priority=5)])
    assert run.starts() == pytest.approx([0.0, 14.0], **EXACT)
    assert run.result.jobs["last_start_h"].tolist() == pytest.approx([15.0, 14.0], **EXACT)
    util = run.result.utilisation
    width = util["bin_end_h"] - util["bin_start_h"]
    assert float((util["maintenance_cards"] * width).sum()) == pytest.approx(56.0, **EXACT)


def test_periodic_windows_recur_until_their_end(sim):  # type: ignore[no-untyped-def]
    """Every 12 h from 01:00, 2 h, until 2025-01-02 00:00: windows at 1 and 13 only."""
    scenario = sim.scenario(
        maintenance=[
            {
                "centre": "c1",
                "start": "2025-01-01T01:00:00",
                "duration_h": 2.0,
                "every_days": 0.5,
                "until": "2025-01-02T00:00:00",
                "fraction": 0.5,
            }
        ],
        horizon_days=3,
    )
    result = to_result(Engine(scenario, 0, check_invariants=True).run())
    util = result.utilisation
    width = util["bin_end_h"] - util["bin_start_h"]
    # Two windows x 2 h x one of the two servers (8 cards), when the server is free.
    held = float((util["maintenance_cards"] * width).sum())
    assert 0 < held <= 32.0 + 1e-9


def test_hot_spares_are_held_back_from_jobs(sim):  # type: ignore[no-untyped-def]
    """Four servers with a quarter as spares: one server is never used by jobs, so a
    32-card job never starts and the spare level is 8 cards throughout."""
    pool = sim.pool("p1", servers=4)
    pool["hot_spare_fraction"] = 0.25
    scenario = sim.scenario(centres=[{"name": "c1", "pools": [pool]}], horizon_days=2)
    run = sim.run_jobs(scenario, [sim.job(0.0, 24, 1.0), sim.job(2.0, 32, 1.0)])
    assert run.starts()[0] == pytest.approx(0.0, **EXACT)
    assert math.isnan(run.starts()[1])
    assert run.result.summary["spare_cards_mean"] == pytest.approx(8.0, **EXACT)


def idle_scenario(sim, seed: int):  # type: ignore[no-untyped-def]
    """100 idle 8-card servers; idle cards fail at 1e-3 per card-hour; 24 h repairs."""
    return sim.scenario(
        seed=seed,
        horizon_days=400,
        warmup_days=50,
        centres=[{"name": "c1", "pools": [sim.pool("p1", servers=100)]}],
        workload={"classes": [sim.job_class(rate_per_day=1e-6)]},
        failures={"rate_per_card_h": 1e-3, "repair_h": {"kind": "constant", "value": 24.0}},
    )


def test_idle_failures_match_the_finite_source_repair_model(sim):  # type: ignore[no-untyped-def]
    """Oracle: with no jobs, every idle failure takes a whole free server (8 cards, rate
    8 lambda per server) into repair for R hours; S servers form a finite-source
    repair system whose mean number in repair is S x a / (1 + a), a = 8 lambda R
    (insensitive to the repair-time distribution). S = 100, lambda = 1e-3, R = 24:
    16.1 servers, 129.0 cards. Tolerance: the 99% t-interval of the mean over 6
    replications (350 days after warm-up each)."""
    a = 8 * 1e-3 * 24.0
    expected = 100 * a / (1 + a) * 8
    means = []
    for rep in range(6):
        result = to_result(Engine(idle_scenario(sim, 7), rep).run())
        means.append(result.summary["repair_cards_mean"])
        assert result.summary["idle_failures"] > 0
    m, se = float(np.mean(means)), float(np.std(means, ddof=1) / math.sqrt(len(means)))
    half = stats.t.ppf(0.995, len(means) - 1) * se
    assert abs(m - expected) <= half, (m, half, expected)


def test_interruptions_per_job_follow_the_geometric_law(sim):  # type: ignore[no-untyped-def]
    """Oracle: a job of n cards and T hours with no checkpoints and no restart cost,
    restarting at once on a hot spare, fails a geometric number of times with mean
    exp(n lambda T) - 1. n = 16, lambda = 5e-3, T = 4 h: e^0.32 - 1 = 0.377. Tolerance:
    99% normal interval of the mean over all jobs of one run (about 1,400 jobs)."""
    cls = sim.job_class(
        rate_per_day=4.0,
        gang_sizes=(16,),
        work={"unit": "ref_hours", "distribution": {"kind": "constant", "value": 4.0}},
    )
    scenario = sim.scenario(
        horizon_days=365,
        centres=[{"name": "c1", "pools": [sim.pool("p1", servers=64)]}],
        workload={"classes": [cls]},
        failures={
            "rate_per_card_h": 5e-3,
            "repair_h": {"kind": "constant", "value": 0.5},
            "hot_spare_fraction": 0.5,
            "idle_failures": False,
        },
    )
    result = to_result(Engine(scenario, 0).run())
    jobs = result.jobs[result.jobs["state"] == "done"]
    assert (jobs["wait_h"] == 0).all()  # never queued, always a spare: downtime 0
    assert result.summary["spare_restarts"] == result.summary["interruptions"]
    counts = jobs["failures"].to_numpy(float)
    expected = math.exp(16 * 5e-3 * 4.0) - 1
    half = 2.576 * counts.std(ddof=1) / math.sqrt(len(counts))
    assert abs(counts.mean() - expected) <= half, (counts.mean(), half, expected)
    # Each interruption loses what the job had done: busy = useful + rework.
    s = result.summary
    assert s["lost_card_h[cause=restart]"] == 0 and s["lost_card_h[cause=checkpoint]"] == 0
    assert s["goodput"] < 1.0


def test_failures_do_not_disturb_the_arrivals(sim):  # type: ignore[no-untyped-def]
    """The failure streams are separate: a run with failures submits exactly the jobs of
    the run without; and the same seed gives the same run."""
    base = sim.scenario_dict(horizon_days=3)
    plain = to_result(Engine(validate_mapping(base), 0).run())
    base["failures"] = {"rate_per_card_h": 1e-2, "repair_h": {"kind": "constant", "value": 2}}
    with_failures = [to_result(Engine(validate_mapping(base), 0).run()) for _ in range(2)]
    cols = ["submit_h", "cards", "work_ref_card_h"]
    assert plain.jobs[cols].equals(with_failures[0].jobs[cols])
    assert with_failures[0].jobs.equals(with_failures[1].jobs)
    assert with_failures[0].summary["interruptions"] > 0


# --------------------------------------------------------------------------- bad input


def error_of(sim, **overrides):  # type: ignore[no-untyped-def]
    with pytest.raises(ScenarioError) as info:
        validate_mapping(sim.scenario_dict(**overrides), file="bad.yaml")
    return str(info.value)


REPAIR = {"kind": "constant", "value": 4.0}


@pytest.mark.parametrize(
    ("overrides", "key", "words"),
    [
        (
            {"failures": {"rate_per_card_h": 0, "repair_h": REPAIR}},
            "failures.rate_per_card_h",
            "greater than 0",
        ),
        (
            {"failures": {"rate_per_card_h": -1e-5, "repair_h": REPAIR}},
            "failures.rate_per_card_h",
            "greater than 0",
        ),
        (
            {"failures": {"rate_per_card_h": 1e-5, "repair_h": {"kind": "constant", "value": 0}}},
            "failures.repair_h",
            "greater than 0",
        ),
        (
            {"failures": {"rate_per_card_h": 1e-5, "repair_h": REPAIR, "hot_spare_fraction": 1.0}},
            "failures.hot_spare_fraction",
            "less than 1",
        ),
        (
            {"failures": {"rate_per_card_h": 1e-5, "repair_h": REPAIR, "hot_spare_fraction": -0.1}},
            "failures.hot_spare_fraction",
            "greater than or equal to 0",
        ),
        (
            {
                "maintenance": [
                    {"centre": "nowhere", "start": "2025-01-02T00:00:00", "duration_h": 2}
                ]
            },
            "maintenance[0].centre",
            "known: c1",
        ),
        (
            {
                "maintenance": [
                    {"centre": "c1", "pool": "px", "start": "2025-01-02", "duration_h": 2}
                ]
            },
            "maintenance[0].pool",
            "its pools: p1",
        ),
        (
            {
                "maintenance": [
                    {"centre": "c1", "start": "2025-01-02", "duration_h": 30, "every_days": 1}
                ]
            },
            "maintenance[0].duration_h",
            "shorter than the period",
        ),
    ],
)
def test_bad_reliability_input_names_the_key(sim, overrides, key, words):  # type: ignore[no-untyped-def]
    message = error_of(sim, **overrides)
    assert "bad.yaml" in message and key in message and words in message, message


def test_checkpoint_interval_shorter_than_write_names_the_class(sim):  # type: ignore[no-untyped-def]
    cls = sim.job_class("train", checkpoint_interval_h=0.1, checkpoint_write_h=0.25)
    message = error_of(sim, workload={"classes": [cls]})
    assert "workload.classes[0](train).checkpoint_interval_h" in message, message
    assert "0.1" in message and "shorter than checkpoint_write_h" in message, message


def test_young_daly_needs_a_write_cost(sim):  # type: ignore[no-untyped-def]
    cls = sim.job_class("train", checkpoint_interval_h="young_daly")
    message = error_of(sim, workload={"classes": [cls]})
    assert "checkpoint_write_h" in message and "young_daly" in message, message


def test_many_failures_keep_a_job_placement_compact():
    """Each interruption swaps one failed server for a hot spare in place: after 10,000
    of them a 40-server job still holds 40 distinct servers in at most one segment per
    pod plus one, and every server is free, busy, spare or in repair exactly once."""
    pool = make_pool(64, spp=16)  # 4 pods
    pool.spare_fraction = 0.25
    pool.fill_spares()  # 16 spares
    placement = pool.allocate(40 * 8)
    pods_used = len(placement.segments)
    in_repair = []
    for i in range(10_000):
        failed, placement = pool.split_failed(placement)
        pool.start_repair(failed)
        in_repair.append(failed)
        spare = pool.take_spare(failed.segments[0][0])
        assert spare is not None
        pool.join_server(placement, *spare)
        if len(in_repair) > 8:  # repairs come back (to the spares, which are short)
            pool.end_repair(in_repair.pop(0))
        held = [s for _, ids in placement.segments for s in ids]
        assert len(held) == 40 == len(set(held)), i
        assert len(placement.segments) <= pods_used + 1, i
    pool.check()
    assert pool.busy_cards == 40 * 8
    assert pool.repair_cards == 8 * 8
