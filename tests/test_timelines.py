"""Exact timelines of small hand-checked cases: queue order, backfill, build-out, placement.

Each test feeds the engine an explicit list of jobs (``sim.job(submit_h, cards, run_h)``;
run times in hours on reference cards, estimates exact unless stated) and asserts every
start time, worked out by hand in the docstring. Times are sums of binary fractions, so
the expected values are exact (compared to within 1e-12 h).
Unless a test says otherwise the pool is one pod of 8-card A100 servers (speed 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from simulator.policies.base import Preempt, QueuePolicy, Start
from simulator.run import run as run_scenario

EXACT = {"abs": 1e-12}


def starts(jobs_run) -> list[float]:
    """Start times (hours) in job-id order."""
    return jobs_run.starts()


def one_pool(sim, policy: str = "fifo", placement=None, **pool_kwargs):
    """A scenario with a single pool ``p1``, the given queue policy and placement rules."""
    return sim.scenario(
        centres=[{"name": "c1", "pools": [sim.pool(**pool_kwargs)]}],
        policy={"name": policy},
        placement=placement or {},
    )


# --------------------------------------------------------------------------- queue order


def head_of_line_jobs(sim, small_run_h: float = 1.0, factor: float = 1.0):
    """A (8 cards, 0-10 h) runs; B (16 cards, the whole pool) waits; C (1 card) would fit."""
    return [
        sim.job(0.0, 8, 10.0),
        sim.job(1.0, 16, 5.0),
        sim.job(2.0, 1, small_run_h, estimate_factor=factor),
    ]


def test_fifo_head_of_line_blocking(sim):
    """FIFO: B cannot start until A ends (t=10); C fits at t=2 but waits behind B.

    A 0-10, B 10-15, C 15-16. Busy card-hours 8x10 + 16x5 + 1x1 = 161 in the first day's
    bin; queue area (Little's L x H) = B's 9 h + C's 13 h = 22 job-hours.
    """
    run = sim.run_jobs(one_pool(sim, "fifo"), head_of_line_jobs(sim))
    assert starts(run) == pytest.approx([0.0, 10.0, 15.0], **EXACT)
    assert run.ends() == pytest.approx([10.0, 15.0, 16.0], **EXACT)
    jobs = run.result.jobs
    assert jobs["wait_h"].tolist() == pytest.approx([0.0, 9.0, 13.0], **EXACT)
    assert (jobs["state"] == "done").all()
    util = run.result.utilisation
    assert util["busy_card_h"].iloc[0] == pytest.approx(161.0, rel=1e-12)
    assert util["online_card_h"].iloc[0] == pytest.approx(16 * 24.0, rel=1e-12)
    summary = run.result.summary
    horizon_h = run.result.scenario.horizon_h
    assert summary["little_L"] * horizon_h == pytest.approx(22.0, rel=1e-12)
    assert summary["little_lambda_W"] * horizon_h == pytest.approx(22.0, rel=1e-12)


def test_easy_backfills_a_job_that_ends_before_the_shadow_time(sim):
    """EASY: the head B is reserved at shadow time 10 (A's end) with no extra cards.

    C (1 card, estimate 1 h) fits now and ends at 3 <= 10, so it starts at 2; B still
    starts at 10.
    """
    run = sim.run_jobs(one_pool(sim, "easy_backfill"), head_of_line_jobs(sim))
    assert starts(run) == pytest.approx([0.0, 10.0, 2.0], **EXACT)


def test_easy_does_not_backfill_a_job_that_would_delay_the_head(sim):
    """EASY: C (1 card, 20 h) would run past the shadow time 10 and there are no extra
    cards at 10 (B needs all 16), so C waits for B: A 0-10, B 10-15, C 15-35."""
    run = sim.run_jobs(one_pool(sim, "easy_backfill"), head_of_line_jobs(sim, small_run_h=20.0))
    assert starts(run) == pytest.approx([0.0, 10.0, 15.0], **EXACT)


@pytest.mark.parametrize(
    ("factor", "c_start"),
    [
        (8.0, 2.0),  # estimate 8 h: ends at 10 = shadow time, may backfill (boundary)
        (8.5, 15.0),  # estimate 8.5 h: would end at 10.5 > 10, must wait
        (20.0, 15.0),  # estimate 20 h
    ],
)
def test_easy_backfill_sees_only_the_estimate(sim, factor: float, c_start: float):
    """C truly runs 1 h (it would not delay B), but backfill judges by the user's
    estimate 1 h x factor: it backfills at 2 only if 2 + estimate <= shadow time 10."""
    jobs = head_of_line_jobs(sim, small_run_h=1.0, factor=factor)
    run = sim.run_jobs(one_pool(sim, "easy_backfill"), jobs)
    assert starts(run) == pytest.approx([0.0, 10.0, c_start], **EXACT)


def test_easy_backfill_uses_extra_cards(sim):
    """Four servers (32 cards). A (16 cards, 0-10) runs; head B needs 24 and 16 are free.

    Shadow time 10, when 32 cards are free: 8 extra beyond B's 24. C (8 cards, 50 h)
    runs past the shadow time but fits in the extra cards: starts at 2, extra drops to
    0. D (8 cards, 50 h) also fits now (one server is free) but neither ends before 10
    nor fits the extra cards: it waits. B starts at 10 on A's two servers and the free
    one; D starts when B ends at 15.
    """
    jobs = [
        sim.job(0.0, 16, 10.0),
        sim.job(1.0, 24, 5.0),
        sim.job(2.0, 8, 50.0),
        sim.job(3.0, 8, 50.0),
    ]
    run = sim.run_jobs(one_pool(sim, "easy_backfill", servers=4), jobs)
    assert starts(run) == pytest.approx([0.0, 10.0, 2.0, 15.0], **EXACT)


@pytest.mark.parametrize(("lookahead", "d_start"), [(1000, 3.0), (2, 15.0), (1, 15.0)])
def test_easy_lookahead_bounds_the_backfill_scan(sim, lookahead: int, d_start: float):
    """Head-of-line case plus C (1 card, 20 h: may not backfill) and D (1 card, 1 h: may).

    ``lookahead`` counts the queued jobs examined per pass, the head included. With
    1000, D backfills when it arrives at 3. With 2, only C is examined after the head:
    D waits and starts with C when B ends at 15. With 1 nothing is backfilled (FIFO).
    """
    scenario = sim.scenario(
        centres=[{"name": "c1", "pools": [sim.pool()]}],
        policy={"name": "easy_backfill", "params": {"lookahead": lookahead}},
    )
    jobs = [*head_of_line_jobs(sim, small_run_h=20.0), sim.job(3.0, 1, 1.0)]
    run = sim.run_jobs(scenario, jobs)
    assert starts(run) == pytest.approx([0.0, 10.0, 15.0, d_start], **EXACT)


def test_easy_reservation_binds_only_its_pool(sim):
    """Pools p1 (two servers) and p2 (one server), jobs may use either.

    A (16 cards, 0-10) fills p1; the head B (16 cards) can only ever run on p1 and is
    reserved there for t=10 with no extra cards. C (8 cards, 50 h) would delay B on p1
    but starts at 2 on p2, which the reservation does not bind. D (8 cards, 50 h) finds
    no room and starts on p1 when B ends at 15.
    """
    scenario = sim.scenario(
        centres=[{"name": "c1", "pools": [sim.pool("p1", servers=2), sim.pool("p2", servers=1)]}],
        workload={"classes": [sim.job_class("any", gang_sizes=[8, 16])]},
        policy={"name": "easy_backfill"},
    )
    jobs = [
        sim.job(0.0, 16, 10.0),
        sim.job(1.0, 16, 5.0),
        sim.job(2.0, 8, 50.0),
        sim.job(3.0, 8, 50.0),
    ]
    run = sim.run_jobs(scenario, jobs)
    assert starts(run) == pytest.approx([0.0, 10.0, 2.0, 15.0], **EXACT)
    assert run.result.jobs["pool"].tolist() == ["p1", "p1", "p2", "p1"]


@pytest.mark.parametrize(
    ("dispatch", "pools"),
    [("earliest_start", ["p1", "p2"]), ("fastest_card", ["p2", "p1"])],
)
def test_dispatch_rules(sim, dispatch: str, pools: list[str]):
    """p1: two A100 servers; p2: one FAST server (1.5 x faster). A and B, 8 cards each.

    ``earliest_start`` sends A to the least loaded pool (a tie: the first listed, p1),
    then B to p2 (all free, against half of p1). ``fastest_card`` sends A to p2, then B
    to p1, the only pool where it can start now.
    """
    scenario = sim.scenario(
        centres=[
            {
                "name": "c1",
                "pools": [sim.pool("p1", servers=2), sim.pool("p2", card_type="FAST", servers=1)],
            }
        ],
        workload={"classes": [sim.job_class("any", gang_sizes=[8])]},
        dispatch={"name": dispatch},
    )
    run = sim.run_jobs(scenario, [sim.job(0.0, 8, 3.0), sim.job(0.5, 8, 3.0)])
    assert starts(run) == pytest.approx([0.0, 0.5], **EXACT)
    assert run.result.jobs["pool"].tolist() == pools


def test_fifo_runs_same_jobs_in_submit_order(sim):
    """The extra-cards case under FIFO: nothing overtakes B. At 10 A ends and all four
    servers are free: B takes three, C the fourth; D waits until B ends at 15."""
    jobs = [
        sim.job(0.0, 16, 10.0),
        sim.job(1.0, 24, 5.0),
        sim.job(2.0, 8, 50.0),
        sim.job(3.0, 8, 50.0),
    ]
    run = sim.run_jobs(one_pool(sim, "fifo", servers=4), jobs)
    assert starts(run) == pytest.approx([0.0, 10.0, 10.0, 15.0], **EXACT)


# --------------------------------------------------------------------------- capacity


@pytest.mark.parametrize(("policy", "b_start"), [("fifo", 53.0), ("easy_backfill", 1.0)])
def test_build_out_phase_unblocks_the_head(sim, policy: str, b_start: float):
    """One server online at the start, a second one at day 2 (t=48).

    A (16 cards, 5 h) cannot run on 8 cards and starts at 48 when the phase lands. FIFO:
    B (8 cards, 1 h) waits behind A until 53. EASY: A can never start on today's cards
    (shadow time infinite), so B backfills at once (t=1).
    """
    scenario = one_pool(sim, policy, phases=[(0, 1), (2, 1)])
    run = sim.run_jobs(scenario, [sim.job(0.0, 16, 5.0), sim.job(1.0, 8, 1.0)])
    assert starts(run) == pytest.approx([48.0, b_start], **EXACT)
    capacity = run.result.capacity
    assert capacity["time_h"].tolist() == [0.0, 48.0]
    assert capacity["delta_cards"].tolist() == [8, 8]
    assert capacity["online_cards"].tolist() == [8, 16]
    assert capacity["label"].tolist() == ["phase-0", "phase-1"]


def test_retirement_of_a_busy_server_waits_for_its_job(sim):
    """Two servers; one retires at day 1 (t=24) while A (16 cards, 0-30) holds both.

    The server leaves when A ends at 30 (not at 24); B (8 cards, submitted at 26) starts
    at 30 on the server that stays. Busy card-hours never exceed online ones.
    """
    scenario = one_pool(sim, "fifo", phases=[(0, 2)], retirements=[(1, 1)])
    run = sim.run_jobs(scenario, [sim.job(0.0, 16, 30.0), sim.job(26.0, 8, 2.0)])
    assert starts(run) == pytest.approx([0.0, 30.0], **EXACT)
    capacity = run.result.capacity
    assert capacity["time_h"].tolist() == [0.0, 30.0]
    assert capacity["delta_cards"].tolist() == [16, -8]
    assert capacity["online_cards"].tolist() == [16, 8]
    util = run.result.utilisation
    assert (util["busy_card_h"] <= util["online_card_h"] + 1e-9).all()
    # Day 2 (24-48 h): 16 cards online until 30, then 8: 16x6 + 8x18 = 240 card-hours.
    assert util["online_card_h"].iloc[1] == pytest.approx(240.0, rel=1e-12)


# --------------------------------------------------------------------------- placement


def servers_of(placement) -> list[int]:
    """Every server a placement touches (whole servers, then the shared one)."""
    ids = [s for _, seg in placement.segments for s in seg]
    if placement.small_cards:
        ids.append(placement.small_server)
    return ids


def test_small_jobs_stay_inside_one_server(sim):
    """Two servers. A and B (5 cards each) each take a server of their own (5 + 5 > 8),
    leaving 3 free cards on each: 6 free cards in all, but no server with 6. C (6 cards)
    therefore waits until A ends at 10 rather than spanning two servers."""
    jobs = [sim.job(0.0, 5, 10.0), sim.job(0.5, 5, 10.0), sim.job(1.0, 6, 1.0)]
    run = sim.run_jobs(one_pool(sim, "fifo"), jobs)
    assert starts(run) == pytest.approx([0.0, 0.5, 10.0], **EXACT)
    for job_id in range(3):
        _, placement = run.placements[job_id]
        assert placement.segments == []
        assert len(servers_of(placement)) == 1
    assert servers_of(run.placements[0][1]) != servers_of(run.placements[1][1])


@pytest.mark.parametrize(("small_jobs", "c_start"), [("best_fit", 1.0), ("worst_fit", 10.0)])
def test_small_job_server_choice(sim, small_jobs: str, c_start: float):
    """Two servers; A (4 cards, 0-10), then B (2 cards, 0.5-10.5).

    Best fit puts B on A's server (the fullest that fits), keeping a whole server free
    for C (8 cards) at t=1. Worst fit puts B on the empty server, so C waits until A's
    server is whole again at 10.
    """
    scenario = one_pool(sim, "fifo", placement={"small_jobs": small_jobs})
    jobs = [sim.job(0.0, 4, 10.0), sim.job(0.5, 2, 10.0), sim.job(1.0, 8, 1.0)]
    run = sim.run_jobs(scenario, jobs)
    assert starts(run) == pytest.approx([0.0, 0.5, c_start], **EXACT)
    same_server = servers_of(run.placements[0][1]) == servers_of(run.placements[1][1])
    assert same_server == (small_jobs == "best_fit")


def test_whole_server_jobs_take_whole_servers(sim):
    """Three servers. A (1 card, 0-10) opens one. B (16 cards) starts at 1 on exactly the
    two untouched servers; C (7 cards) then fits in A's server at 2; D (8 cards) finds no
    whole server until B ends at 6."""
    jobs = [
        sim.job(0.0, 1, 10.0),
        sim.job(1.0, 16, 5.0),
        sim.job(2.0, 7, 1.0),
        sim.job(3.0, 8, 1.0),
    ]
    run = sim.run_jobs(one_pool(sim, "fifo", servers=3), jobs)
    assert starts(run) == pytest.approx([0.0, 1.0, 2.0, 6.0], **EXACT)
    a = run.placements[0][1]
    b = run.placements[1][1]
    c = run.placements[2][1]
    d = run.placements[3][1]
    assert b.small_cards == 0
    assert len(set(servers_of(b))) == 2
    assert a.small_server not in servers_of(b)
    assert servers_of(c) == [a.small_server]
    assert d.small_cards == 0
    assert len(servers_of(d)) == 1


def test_remainder_of_a_large_job_is_placed_like_a_small_job(sim):
    """Two servers. A (4 cards) opens one; B (12 cards) takes the other whole server plus
    4 cards of A's server, so it starts at once (t=1) and the pool is full."""
    jobs = [sim.job(0.0, 4, 10.0), sim.job(1.0, 12, 5.0)]
    run = sim.run_jobs(one_pool(sim, "fifo"), jobs)
    assert starts(run) == pytest.approx([0.0, 1.0], **EXACT)
    a = run.placements[0][1]
    b = run.placements[1][1]
    assert sum(len(seg) for _, seg in b.segments) == 1
    assert (b.small_server, b.small_cards) == (a.small_server, 4)


def fragmented_pods_jobs(sim):
    """Two pods of two servers; by t=11 each pod has exactly one free server.

    A (0-10) and B (0.25-100.25) fill pod 0 (best fit keeps pods whole), C (0.5-100.5)
    and D (0.75-10.75) fill pod 1; A and D end, leaving one free server per pod. E (16
    cards) arrives at 11.
    """
    return [
        sim.job(0.0, 8, 10.0),
        sim.job(0.25, 8, 100.0),
        sim.job(0.5, 8, 100.0),
        sim.job(0.75, 8, 10.0),
        sim.job(11.0, 16, 5.0),
    ]


@pytest.mark.parametrize(
    ("pod_locality", "e_start", "e_pods"),
    [("require", 100.25, 1), ("prefer", 11.0, 2), ("ignore", 11.0, 2)],
)
def test_pod_locality(sim, pod_locality: str, e_start: float, e_pods: int):
    """E (16 cards) fits one pod of two servers. ``require`` makes it wait for a whole
    pod (B ends at 100.25, freeing pod 0) rather than span pods at 11; ``prefer`` and
    ``ignore`` start it at 11 across the two pods. (With ``ignore``, A-D are spread over
    the pods, pods 0, 1, 0, 1, and the same servers end up free.)"""
    scenario = one_pool(sim, "fifo", {"pod_locality": pod_locality}, servers=4, servers_per_pod=2)
    run = sim.run_jobs(scenario, fragmented_pods_jobs(sim))
    assert starts(run) == pytest.approx([0.0, 0.25, 0.5, 0.75, e_start], **EXACT)
    pods = [run.placements[i][1].segments[0][0] for i in range(4)]
    if pod_locality == "ignore":
        # Without locality whole servers come from the pod with the most free ones.
        assert pods == [0, 1, 0, 1]
    else:
        assert pods == [0, 0, 1, 1]
    e = run.placements[4][1]
    assert len({pod for pod, _ in e.segments}) == e_pods
    assert sum(len(seg) for _, seg in e.segments) == 2


# --------------------------------------------------------------------------- card types


def test_jobs_use_only_allowed_card_types_at_their_speed(sim):
    """Pool p1 (A100, speed 1) and p2 (FAST, speed 1.5), one server each.

    Class ``any`` may use both pools, class ``fast`` only p2. A (fast, 8 cards, 3
    reference hours) runs 2 h on p2; B (any) starts at once on p1, the only free pool
    it may use, 0-3; C (fast) may not use p1 and waits for p2 until A ends: 2-4. D (any,
    1 card) at 3.5 starts on p1, free since 3: 3.5-4.5.
    """
    scenario = sim.scenario(
        centres=[
            {
                "name": "c1",
                "pools": [sim.pool("p1", servers=1), sim.pool("p2", card_type="FAST", servers=1)],
            }
        ],
        workload={
            "classes": [
                sim.job_class("any", gang_sizes=[1, 8]),
                sim.job_class("fast", gang_sizes=[8], card_types=["FAST"]),
            ]
        },
    )
    jobs = [
        sim.job(0.0, 8, 3.0, job_class=1),
        sim.job(0.0, 8, 3.0, job_class=0),
        sim.job(0.5, 8, 3.0, job_class=1),
        sim.job(3.5, 1, 1.0, job_class=0),
    ]
    run = sim.run_jobs(scenario, jobs)
    table = run.result.jobs
    assert table["start_h"].tolist() == pytest.approx([0.0, 0.0, 2.0, 3.5], **EXACT)
    assert table["end_h"].tolist() == pytest.approx([2.0, 3.0, 4.0, 4.5], rel=1e-12)
    assert table["pool"].tolist() == ["p2", "p1", "p2", "p1"]
    assert table["card_type"].tolist() == ["FAST", "A100", "FAST", "A100"]
    assert table["job_class"].tolist() == ["fast", "any", "fast", "any"]
    assert table["estimate_h"].tolist() == pytest.approx([2.0, 3.0, 2.0, 1.0], rel=1e-12)


# --------------------------------------------------------------------------- campaigns

FAST_FLOP_PER_CARD_H = 480e12 * 0.39 * 3600.0  # FAST card: 480 TFLOPS x MFU 0.39


def test_campaigns_run_their_flop_budget_in_order(sim):
    """Campaigns through the scenario's own job source (no job classes).

    One FAST pool of two servers (16 cards), a one-week horizon (see
    ``test_campaign_only_workload_longer_than_a_week``). Both campaigns are submitted at day 1
    (t=24). ``big`` (16 cards, 10 h worth of FLOP at 480 TFLOPS x 0.39) runs 24-34;
    ``half-mfu`` (8 cards, 5 h worth of FLOP at its own MFU 0.195) waits for it and
    runs 34-39. Time to train is reported in days; estimates are 1.2 x run time.
    """
    big_flop = 10.0 * 16 * FAST_FLOP_PER_CARD_H
    half_flop = 5.0 * 8 * 480e12 * 0.195 * 3600.0
    scenario = sim.scenario(
        horizon_days=7,
        centres=[{"name": "c1", "pools": [sim.pool(card_type="FAST", servers=2)]}],
        workload={
            "classes": [],
            "campaigns": [
                {
                    "name": "big",
                    "submit": sim.day(1),
                    "flop": big_flop,
                    "cards": 16,
                    "card_types": ["FAST"],
                },
                {
                    "name": "half-mfu",
                    "submit": sim.day(1),
                    "flop": half_flop,
                    "cards": 8,
                    "card_types": ["FAST"],
                    "mfu": 0.195,
                },
            ],
        },
    )
    result = run_scenario(scenario, check_invariants=True)
    jobs = result.jobs
    assert jobs["campaign"].tolist() == ["big", "half-mfu"]
    assert jobs["job_class"].tolist() == ["big", "half-mfu"]
    assert jobs["tenant"].tolist() == ["frontier", "frontier"]
    assert jobs["submit_h"].tolist() == [24.0, 24.0]
    assert jobs["start_h"].tolist() == pytest.approx([24.0, 34.0], rel=1e-12)
    assert jobs["end_h"].tolist() == pytest.approx([34.0, 39.0], rel=1e-12)
    assert jobs["estimate_h"].tolist() == pytest.approx([12.0, 6.0], rel=1e-12)
    assert result.summary["campaign_days[name=big]"] == pytest.approx(10 / 24, rel=1e-12)
    assert result.summary["campaign_days[name=half-mfu]"] == pytest.approx(15 / 24, rel=1e-12)


# --------------------------------------------------------------------------- preemption


@dataclass(frozen=True)
class PreemptForPriority(QueuePolicy):
    """A test policy (not registered): highest priority first, then queue order; a job
    that cannot start stops the latest-started running job of lower priority."""

    def decide(self, view):
        while waiting := view.waiting(1000):
            job = max(waiting, key=lambda j: j.priority)
            pool = view.choose_pool(job)
            if pool is not None:
                yield Start(job, pool)
                continue
            victims = [r for r in view.running_jobs() if r.priority < job.priority]
            if not victims:
                return
            yield Preempt(victims[-1])


def preemption_run(sim, checkpoint_h=None, restart_h=0.0, b_submit=2.0):
    """One server; A (8 cards, 10 h, priority 0) at 0, B (8 cards, 3 h, priority 5)."""
    job_class = sim.job_class("jobs", gang_sizes=[8], restart_overhead_h=restart_h)
    if checkpoint_h is not None:
        job_class["checkpoint_interval_h"] = checkpoint_h
    scenario = sim.scenario(
        centres=[{"name": "c1", "pools": [sim.pool(servers=1)]}],
        workload={"classes": [job_class]},
    )
    jobs = [sim.job(0.0, 8, 10.0), sim.job(b_submit, 8, 3.0, priority=5)]
    return sim.run_jobs(scenario, jobs, policy=PreemptForPriority())


@pytest.mark.parametrize(
    ("checkpoint_h", "restart_h", "b_submit", "a_restart", "a_end", "lost", "busy"),
    [
        # No checkpoints: A loses its 2 h (16 card-hours) and reruns 10 h from 5.
        (None, 0.0, 2.0, 5.0, 15.0, 16.0, 8 * 2 + 8 * 3 + 8 * 10),
        # Checkpoints every 0.5 h: stopped at 2.25, A keeps 2 h, loses 0.25 h (2 card-
        # hours), restarts at 5.25, pays 0.25 h of restart and runs the other 8 h.
        (0.5, 0.25, 2.25, 5.25, 13.5, 2.0, 8 * 2.25 + 8 * 3 + 8 * 8.25),
    ],
)
def test_preempted_job_keeps_checkpointed_work(
    sim, checkpoint_h, restart_h, b_submit, a_restart, a_end, lost, busy
):
    """B (priority 5) stops A (priority 0) when it arrives, runs 3 h, and A resumes."""
    run = preemption_run(sim, checkpoint_h, restart_h, b_submit)
    jobs = run.result.jobs
    assert jobs["start_h"].tolist() == pytest.approx([0.0, b_submit], **EXACT)
    assert jobs["last_start_h"].tolist() == pytest.approx([a_restart, b_submit], **EXACT)
    assert jobs["end_h"].tolist() == pytest.approx([a_end, b_submit + 3.0], **EXACT)
    assert jobs["preemptions"].tolist() == [1, 0]
    assert jobs["lost_work_ref_card_h"].tolist() == pytest.approx([lost, 0.0], **EXACT)
    assert jobs["state"].tolist() == ["done", "done"]
    assert run.result.summary["preemptions"] == 1
    assert run.result.utilisation["busy_card_h"].sum() == pytest.approx(busy, rel=1e-12)


def test_littles_law_with_preemption(sim):
    """Regression: A waits, requeued, from 2 to 5: 3 job-hours in queue. The engine's
    L x H, lambda x W x H and the backlog table's integral must all count them (the last
    two used to stop at the first start and gave 0)."""
    run = preemption_run(sim)
    summary = run.result.summary
    horizon = run.result.scenario.horizon_h
    backlog = run.result.backlog
    queued_job_h = float(
        (backlog["queued_jobs"] * (backlog["bin_end_h"] - backlog["bin_start_h"])).sum()
    )
    assert summary["little_L"] * horizon == pytest.approx(3.0, rel=1e-12)
    assert summary["little_lambda_W"] * horizon == pytest.approx(3.0, rel=1e-12)
    assert queued_job_h == pytest.approx(3.0, rel=1e-12)


# --------------------------------------------------------------------------- regressions


def test_no_start_before_submit_with_inexact_arrival_times(sim):
    """Regression: jobs at 0.2 h and 0.9 h on an empty pool. The clock reaches the second
    arrival as 0.2 + (0.9 - 0.2) = 0.8999999999999999 in binary floating point; the job
    must not start before its recorded submit time (``check_invariants`` asserts it)."""
    jobs = [sim.job(0.2, 1, 1.0), sim.job(0.9, 1, 1.0)]
    run = sim.run_jobs(one_pool(sim, "fifo"), jobs, check_invariants=True)
    table = run.result.jobs
    assert (table["start_h"] >= table["submit_h"]).all()
    assert (table["wait_h"] >= 0).all()


def test_campaign_only_workload_longer_than_a_week(sim):
    """Regression: a campaign-only workload (no job classes) over 10 days. The job source
    works in weekly batches; the second week has no jobs and must simply be empty. The
    campaign (8 cards, 10 h worth of FLOP on A100) runs 24-34."""
    scenario = sim.scenario(
        horizon_days=10,
        workload={
            "classes": [],
            "campaigns": [
                {
                    "name": "solo",
                    "submit": sim.day(1),
                    "flop": 10 * 8 * 4.4928e17,
                    "cards": 8,
                    "card_types": ["A100"],
                }
            ],
        },
    )
    result = run_scenario(scenario, check_invariants=True)
    assert result.jobs["start_h"].tolist() == [24.0]
    assert result.jobs["end_h"].tolist() == pytest.approx([34.0], rel=1e-12)
