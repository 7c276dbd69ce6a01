"""Invariants of every run, for every registered queue policy, on random small worlds.

Hypothesis draws scenarios of 1-3 centres with 1-2 pools each (both card types, servers
of 1-8 cards, pods of 1-4 servers), dated build-out phases and retirements, 1-2 job
classes (gang-size tables, lognormal or exponential work in reference hours or card
hours, card-type restrictions, daily profiles, estimates), an optional campaign, every
placement and dispatch option, optional failures (job interruptions, idle failures,
repairs, hot spares) and maintenance windows (drained or preempting), and horizons of
1-4 days. Each scenario runs with
``check_invariants=True`` under every policy in ``known_policies()`` (so a policy added
to the registry is covered without touching this file), and the result tables must
satisfy:

* cards in use never exceed online cards, per pool, at every event time and per bin;
  and (the engine's own check after every change) online = busy + free + spare + in
  repair + in maintenance;
* every submitted job appears exactly once; its state matches which of start/end are
  NaN (a preempted job may wait again after its first start); no start before submit,
  no end before start, nothing after the horizon; its run segments (recorded from the
  engine's start and preempt steps) agree with start_h, last_start_h and preemptions;
* each job ran, in every segment, on a pool whose card type its class (or campaign)
  allows, and for exactly work / (cards x speed) hours when it ran in one piece;
* placements have the documented shape (one server, or whole servers plus a remainder
  on one server, inside one pod when ``require`` applies), and no server ever holds
  more cards than it has;
* card-hours are conserved (run segments = utilisation table; capacity table = online
  card-hours); Little's law holds, and the backlog table integrates the same waits
  (before the first start and, for preempted jobs, between segments);
* under FIFO, jobs start in submit order.

The recorder's chunk size is drawn too, so records folded in many small chunks must give
the same tables as one chunk.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.engine import Engine
from simulator.fleet import Placement
from simulator.policies import known_dispatch_rules, known_policies
from simulator.run import to_result
from simulator.scenario import Scenario

START = dt.date(2025, 1, 1)
CARD_TYPES = ("A100", "FAST")
SPEED = {"A100": 1.0, "FAST": 1.5}
FLOP_PER_REF_CARD_H = 312e12 * 0.4 * 3600.0
POLICIES = known_policies()
# Parameter settings that take other engine paths than the defaults (timed passes).
POLICY_VARIANTS: dict[str, dict[str, Any]] = {
    "las-timed-demotion": {"name": "las", "params": {"timed_demotion": True}},
    "priority_preemptive-min-run": {"name": "priority_preemptive", "params": {"min_run_h": 0.5}},
}
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def day(n: int) -> str:
    return (START + dt.timedelta(days=n)).isoformat()


# --------------------------------------------------------------------------- scenarios


@st.composite
def pools(draw: st.DrawFn, name: str) -> dict[str, Any]:
    cps = draw(st.sampled_from([1, 2, 4, 8]))
    first = draw(st.sampled_from([0, 0, 0, 1]))
    phases = [(first, draw(st.integers(1, 4)))]
    phases += draw(st.lists(st.tuples(st.integers(0, 4), st.integers(1, 3)), max_size=2))
    wanted = draw(st.lists(st.tuples(st.integers(0, 4), st.integers(1, 3)), max_size=2))
    return {
        "name": name,
        "card_type": draw(st.sampled_from(CARD_TYPES)),
        "cards_per_server": cps,
        "servers_per_pod": draw(st.integers(1, 4)),
        "phases": [
            {"date": day(d), "servers": n, "label": f"ph{k}"} for k, (d, n) in enumerate(phases)
        ],
        "retirements": [
            {"date": day(d), "servers": n} for d, n in valid_retirements(phases, wanted)
        ],
    }


def valid_retirements(
    phases: list[tuple[int, int]], wanted: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The wanted (day, servers) retirements, trimmed so that none retires more servers
    than the phases dated up to its day brought online (the schema rejects that)."""
    online = 0
    kept = []
    events = sorted([(d, 0, n) for d, n in phases] + [(d, 1, n) for d, n in wanted])
    for d, kind, n in events:
        if kind == 0:
            online += n
        elif online > 0:
            kept.append((d, min(n, online)))
            online -= min(n, online)
    return kept


def pool_max_cards(pool: dict[str, Any], spares: float = 0.0) -> int:
    """The most cards jobs can hold: all servers but the hot spares (the pool's own
    ``hot_spare_fraction`` or ``spares``)."""
    servers = sum(p["servers"] for p in pool["phases"])
    fraction = pool.get("hot_spare_fraction", spares)
    return (servers - int(fraction * servers)) * pool["cards_per_server"]


@st.composite
def work_specs(draw: st.DrawFn) -> dict[str, Any]:
    unit = draw(st.sampled_from(["ref_hours", "card_hours"]))
    if draw(st.booleans()):
        dist: dict[str, Any] = {
            "kind": "lognormal",
            "median": draw(st.floats(0.1, 4.0)),
            "sigma": draw(st.floats(0.0, 1.5)),
        }
        if draw(st.booleans()):
            dist["max"] = draw(st.floats(5.0, 30.0))
    else:
        dist = {"kind": "exponential", "mean": draw(st.floats(0.1, 4.0))}
    return {"unit": unit, "distribution": dist}


@st.composite
def job_classes(
    draw: st.DrawFn, name: str, all_pools: list[dict[str, Any]], spares: float
) -> dict[str, Any]:
    present = sorted({p["card_type"] for p in all_pools})
    restrict = draw(st.sampled_from([[]] + [[t] for t in present]))
    eligible = [p for p in all_pools if not restrict or p["card_type"] in restrict]
    room = max(pool_max_cards(p, spares) for p in eligible)
    sizes = sorted(set(draw(st.lists(st.integers(1, room), min_size=1, max_size=4))))
    factor_min = draw(st.floats(1.0, 1.5))
    spec: dict[str, Any] = {
        "name": name,
        "arrival": {"rate_per_day": draw(st.floats(5.0, 150.0))},
        "gang_size": {
            "kind": "table",
            "values": sizes,
            "weights": draw(st.lists(st.integers(1, 5), min_size=len(sizes), max_size=len(sizes))),
        },
        "work": draw(work_specs()),
        "estimate": {"factor_min": factor_min, "factor_max": draw(st.floats(factor_min, 3.0))},
        "card_types": restrict,
        "tenants": {"names": draw(st.sampled_from([["t0"], ["t0", "t1"]]))},
        "priority": draw(st.integers(0, 3)),
    }
    if draw(st.booleans()):
        spec["checkpoint_interval_h"] = draw(st.floats(0.1, 3.0))
        spec["restart_overhead_h"] = draw(st.sampled_from([0.0, 0.1, 0.5]))
    if draw(st.booleans()):
        spec["arrival"]["daily_profile"] = draw(
            st.lists(st.floats(0.0, 2.0), min_size=24, max_size=24).filter(lambda v: sum(v) > 0)
        )
    return spec


@st.composite
def scenario_overrides(draw: st.DrawFn) -> dict[str, Any]:
    """Keys to merge into ``sim.scenario_dict`` (everything but the policy)."""
    centres = []
    all_pools: list[dict[str, Any]] = []
    failures = draw(st.booleans())
    spares = draw(st.sampled_from([0.0, 0.25, 0.5])) if failures else 0.0
    for c in range(draw(st.integers(1, 3))):
        ps = [draw(pools(f"p{c}{k}")) for k in range(draw(st.integers(1, 2)))]
        for pool in ps:
            if failures and draw(st.booleans()):
                pool["hot_spare_fraction"] = draw(st.sampled_from([0.0, 0.25]))
        all_pools += ps
        centres.append({"name": f"c{c}", "pue": 1.3, "pools": ps})
    n_classes = draw(st.integers(1, 2))
    classes = [draw(job_classes(f"class{i}", all_pools, spares)) for i in range(n_classes)]
    campaigns = []
    if draw(st.booleans()):
        pool = draw(st.sampled_from(all_pools))
        cards = draw(st.integers(1, max(1, pool_max_cards(pool, spares))))
        hours = draw(st.floats(1.0, 30.0))
        campaigns.append(
            {
                "name": "camp",
                "submit": day(draw(st.integers(0, 2))),
                "flop": hours * cards * FLOP_PER_REF_CARD_H,
                "cards": cards,
                "card_types": [pool["card_type"]],
                "estimate_factor": draw(st.floats(1.0, 2.0)),
            }
        )
    horizon_days = draw(st.sampled_from([1.0, 2.0, 2.5, 4.0]))
    reliability: dict[str, Any] = {}
    if failures:
        reliability["failures"] = {
            "rate_per_card_h": draw(st.sampled_from([1e-3, 1e-2])),
            "repair_h": {"kind": "exponential", "mean": draw(st.floats(0.5, 12.0))},
            "hot_spare_fraction": spares,
            "idle_failures": draw(st.booleans()),
        }
    if draw(st.booleans()):
        reliability["maintenance"] = [
            {
                "centre": "c0",
                "start": f"{day(0)}T{draw(st.integers(1, 20)):02d}:00:00",
                "duration_h": draw(st.floats(0.5, 6.0)),
                "every_days": draw(st.sampled_from([None, 0.5, 1.0])),
                "fraction": draw(st.sampled_from([0.25, 0.5, 1.0])),
                "mode": draw(st.sampled_from(["drain", "preempt"])),
            }
        ]
    return {
        **reliability,
        "seed": draw(st.integers(0, 10_000)),
        "horizon_days": horizon_days,
        "warmup_days": draw(st.sampled_from([0.0, 0.5])),
        "centres": centres,
        "workload": {"classes": classes, "campaigns": campaigns},
        "placement": {
            "small_jobs": draw(st.sampled_from(["best_fit", "worst_fit"])),
            "pod_locality": draw(st.sampled_from(["prefer", "require", "ignore"])),
        },
        "dispatch": {"name": draw(st.sampled_from(known_dispatch_rules()))},
        "output": {"timeseries_step_h": draw(st.sampled_from([1.0, 5.0, 24.0]))},
    }


@dataclass
class Segment:
    """One uninterrupted run of a job: its pool, placement and times (hours)."""

    job_id: int
    pool: int
    cards: int
    placement: Any
    t0: float
    t1: float = math.nan  # set when the segment ends: preemption, job end or horizon


def snapshot(placement: Placement) -> Placement:
    """A copy of a placement as it is now (a failure shortens the job's own in place)."""
    segments = [(pod, list(ids)) for pod, ids in placement.segments]
    return Placement(segments, placement.small_server, placement.small_cards)


class RecordingEngine(Engine):
    """The engine, also keeping every run segment of every job (for the checks of cards
    in use, card-hours and placements, which must hold segment by segment when policies
    preempt)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.segments: dict[int, list[Segment]] = {}

    def _launch(self, job: Any, p: int, now: float) -> None:
        super()._launch(job, p, now)  # every start, with or without a scheduling pass
        segment = Segment(job.id, job.pool, job.cards, snapshot(job.placement), self.env.now)
        self.segments.setdefault(job.id, []).append(segment)

    def _stop_segment(self, job: Any) -> None:
        super()._stop_segment(job)  # preemption, failure or maintenance
        self.segments[job.id][-1].t1 = self.env.now

    def _restart_in_place(self, job: Any, pool: Any) -> None:
        super()._restart_in_place(job, pool)  # on a hot spare, without queueing
        segment = Segment(job.id, job.pool, job.cards, snapshot(job.placement), self.env.now)
        self.segments[job.id].append(segment)

    def closed_segments(self, jobs: pd.DataFrame) -> list[Segment]:
        """All segments, those still open ended at the job's end or at the horizon."""
        end_of = dict(zip(jobs["job_id"], jobs["end_h"], strict=True))
        out = []
        for job_id, segments in self.segments.items():
            for seg in segments:
                if math.isnan(seg.t1):
                    end = end_of[job_id]
                    seg.t1 = self.horizon_h if math.isnan(end) else end
                out.append(seg)
        return out


def run_checked(
    sim,
    overrides: dict[str, Any],
    policy: str | dict[str, Any],
    replication: int,
    chunk_size: int | None = None,
):
    """Run with invariant checks; ``chunk_size`` makes the recorder fold records in
    small chunks, so folding and concatenation across chunks are exercised too.

    Returns the result and the run's segments.
    """
    config = {"name": policy} if isinstance(policy, str) else policy
    scenario = sim.scenario(**overrides, policy=config)
    engine = RecordingEngine(scenario, replication, check_invariants=True)
    if chunk_size is not None:
        engine.recorder.chunk_size = chunk_size
    result = to_result(engine.run())
    return result, engine, engine.closed_segments(result.jobs)


# --------------------------------------------------------------------------- checks


def check_job_table(scenario: Scenario, result, segments: list[Segment]) -> None:
    jobs = result.jobs
    summary = result.summary
    horizon = scenario.horizon_h
    n = len(jobs)
    assert n == summary["jobs_submitted"] == result.meta["jobs"]
    assert jobs["job_id"].tolist() == list(range(n)), "every job exactly once"
    start, end, submit = jobs["start_h"], jobs["end_h"], jobs["submit_h"]
    last_start, stops = jobs["last_start_h"], jobs["preemptions"]
    state = jobs["state"]
    assert set(state) <= {"done", "running", "queued"}
    done, running, queued = state == "done", state == "running", state == "queued"
    assert (start[done].notna() & end[done].notna()).all()
    assert (start[running].notna() & end[running].isna()).all()
    # A queued job has not started, or was stopped (preempted) and waits again.
    assert end[queued].isna().all()
    assert (start[queued].isna() | (stops[queued] > 0)).all()
    assert done.sum() == summary["jobs_finished"]
    assert running.sum() == summary["jobs_running_at_horizon"]
    assert queued.sum() == summary["jobs_waiting_at_horizon"]
    assert ((submit >= 0) & (submit < horizon)).all()
    s = start.notna()
    assert (start[s] >= submit[s]).all(), "no start before submit"
    assert (start[s] <= horizon).all()
    assert (last_start[s] >= start[s]).all()
    assert (end[done] >= last_start[done]).all()
    assert (end[done] <= horizon).all()
    assert (jobs["wait_h"][s] == (start - submit)[s]).all()
    assert (jobs.loc[s, "pool"] != "").all() and (jobs.loc[~s, "pool"] == "").all()
    assert (stops >= 0).all() and (jobs["lost_work_ref_card_h"] >= 0).all()
    assert (stops[~s] == 0).all()
    assert int(stops.sum()) == summary["preemptions"]
    never_stopped = s & (stops == 0)
    assert (last_start[never_stopped] == start[never_stopped]).all()
    assert (jobs.loc[never_stopped, "lost_work_ref_card_h"] == 0).all()
    # Segments agree with the table: first and last starts, one segment per start.
    by_job: dict[int, list[Segment]] = {}
    for seg in segments:
        by_job.setdefault(seg.job_id, []).append(seg)
    assert set(by_job) == set(jobs.loc[s, "job_id"])
    table = jobs.set_index("job_id")
    for job_id, segs in by_job.items():
        row = table.loc[job_id]
        assert segs[0].t0 == row["start_h"] and segs[-1].t0 == row["last_start_h"]
        assert len(segs) == row["preemptions"] + (row["state"] != "queued")
        assert all(a.t1 <= b.t0 for a, b in itertools.pairwise(segs))
        assert all(seg.t0 <= seg.t1 for seg in segs)
    # Card types allowed by the job's class or campaign, on every segment.
    allowed = {c.name: set(c.card_types) for c in scenario.workload.classes}
    allowed |= {c.name: set(c.card_types) for c in scenario.workload.campaigns}
    pool_type = [p.card_type for c in scenario.centres for p in c.pools]
    job_class = dict(zip(jobs["job_id"], jobs["job_class"], strict=True))
    for seg in segments:
        types = allowed[job_class[seg.job_id]]
        assert not types or pool_type[seg.pool] in types, (job_class[seg.job_id], seg)
    pool_types = {(c.name, p.name): p.card_type for c in scenario.centres for p in c.pools}
    ran_on = [
        pool_types[(c, p)] for c, p in zip(jobs.loc[s, "centre"], jobs.loc[s, "pool"], strict=True)
    ]
    assert ran_on == jobs.loc[s, "card_type"].tolist()
    # Run time = work / (cards x speed) for jobs that ran in one piece.
    whole = done & (stops == 0)
    speed = jobs.loc[whole, "card_type"].map(SPEED).astype(float)
    expected_run = jobs.loc[whole, "work_ref_card_h"] / (jobs.loc[whole, "cards"] * speed)
    assert np.allclose(jobs.loc[whole, "run_h"], expected_run, rtol=1e-9, atol=1e-12)
    # Users overestimate: the estimate is never below the true run time.
    assert (jobs.loc[whole, "estimate_h"] >= jobs.loc[whole, "run_h"] * (1 - 1e-9)).all()
    # Gang sizes come from the class's table.
    sizes = {c.name: set(c.gang_size.values) for c in scenario.workload.classes}
    sizes |= {c.name: {c.cards} for c in scenario.workload.campaigns}
    for name, group in jobs.groupby("job_class"):
        assert set(group["cards"]) <= {int(v) for v in sizes[name]}


def check_cards_in_use(segments: list[Segment], capacity: pd.DataFrame, pools: list) -> None:
    """Per pool, after all events at each event time: 0 <= busy cards <= online cards."""
    for pool in pools:
        cap = capacity[(capacity["centre"] == pool.centre) & (capacity["pool"] == pool.name)]
        segs = [seg for seg in segments if seg.pool == pool.index]
        assert not segs or len(cap), f"jobs ran on {pool.centre}/{pool.name}, never online"
        times = np.concatenate(
            [cap["time_h"].to_numpy(float), [s.t0 for s in segs], [s.t1 for s in segs]]
        )
        d_busy = np.concatenate(
            [np.zeros(len(cap)), [s.cards for s in segs], [-s.cards for s in segs]]
        )
        d_online = np.concatenate([cap["delta_cards"].to_numpy(float), np.zeros(2 * len(segs))])
        if not len(times):
            continue
        order = np.argsort(times, kind="stable")
        times = times[order]
        last_at_time = np.append(times[1:] != times[:-1], True)
        busy = np.cumsum(d_busy[order])[last_at_time]
        online = np.cumsum(d_online[order])[last_at_time]
        at = times[last_at_time]
        assert (busy >= 0).all() and (online >= 0).all()
        assert (busy <= online).all(), (
            f"{pool.centre}/{pool.name}: cards in use exceed online cards at "
            f"t={at[busy > online][:5]}"
        )


def check_card_hours(scenario: Scenario, result, segments: list[Segment]) -> None:
    jobs, util, summary = result.jobs, result.utilisation, result.summary
    horizon = scenario.horizon_h
    assert (util["busy_card_h"] <= util["online_card_h"] + 1e-6).all()
    assert (util["busy_card_h"] >= -1e-6).all()
    busy_from_segments = sum(seg.cards * (seg.t1 - seg.t0) for seg in segments)
    assert util["busy_card_h"].sum() == pytest.approx(busy_from_segments, rel=1e-9, abs=1e-6)
    cap = result.capacity
    online_from_capacity = float(((horizon - cap["time_h"]) * cap["delta_cards"]).sum())
    assert util["online_card_h"].sum() == pytest.approx(online_from_capacity, rel=1e-9, abs=1e-6)
    assert summary["busy_card_h"] <= summary["online_card_h"] + 1e-6
    # Waits: submit to first start (or the horizon), plus, for a preempted job, each gap
    # between its segments and the time from its last stop to the horizon if it waits.
    waited = (jobs["start_h"].fillna(horizon) - jobs["submit_h"]).to_numpy(float).copy()
    row_of = {job_id: i for i, job_id in enumerate(jobs["job_id"])}
    by_job: dict[int, list[Segment]] = {}
    for seg in segments:
        by_job.setdefault(seg.job_id, []).append(seg)
    state = jobs["state"].to_numpy()
    for job_id, segs in by_job.items():
        i = row_of[job_id]
        waited[i] += sum(b.t0 - a.t1 for a, b in itertools.pairwise(segs))
        if state[i] == "queued":
            waited[i] += horizon - segs[-1].t1
    # Little's law, and the backlog table integrates the same waits.
    assert summary["little_L"] == pytest.approx(summary["little_lambda_W"], rel=1e-9, abs=1e-12)
    assert summary["little_lambda_W"] * horizon == pytest.approx(
        float(waited.sum()), rel=1e-9, abs=1e-9
    )
    backlog = result.backlog
    width = backlog["bin_end_h"] - backlog["bin_start_h"]
    assert float((backlog["queued_jobs"] * width).sum()) == pytest.approx(
        float(waited.sum()), rel=1e-9, abs=1e-9
    )
    assert float((backlog["queued_cards"] * width).sum()) == pytest.approx(
        float((waited * jobs["cards"].to_numpy(float)).sum()), rel=1e-9, abs=1e-9
    )


def check_placements(segments: list[Segment], pools: list) -> None:
    """Placement shapes, and no server ever holds more cards than it has.

    A job of at most one server's cards sits in one server; a larger one holds
    ``cards // cards_per_server`` whole servers plus its remainder on one server; under
    ``pod_locality: require`` a job whose whole servers fit a pod holds them in one pod.
    """
    per_server: dict[tuple[int, int], list[tuple[float, int]]] = {}
    for seg in segments:
        pool = pools[seg.pool]
        cps = pool.cards_per_server
        placement = seg.placement
        whole = [s for _, ids in placement.segments for s in ids]
        full, rest = divmod(seg.cards, cps)
        if seg.cards <= cps:
            assert len(whole) + (placement.small_cards > 0) == 1
        assert len(whole) == full and len(set(whole)) == full
        assert placement.small_cards == rest
        if rest:
            assert placement.small_server not in whole
        if pool.pod_locality == "require" and 0 < full <= pool.servers_per_pod:
            assert len({pod for pod, _ in placement.segments}) == 1
        for pod, ids in placement.segments:
            assert all(pool.pod_of[s] == pod for s in ids)
        held = [(s, cps) for s in whole] + ([(placement.small_server, rest)] if rest else [])
        for server, n in held:
            events = per_server.setdefault((seg.pool, server), [])
            events += [(seg.t0, n), (seg.t1, -n)]
    for (p, server), events in per_server.items():
        cps = pools[p].cards_per_server
        in_use = 0
        # After all events at each time (a job may even start and stop at one instant).
        for t, group in itertools.groupby(sorted(events), key=lambda e: e[0]):
            in_use += sum(n for _, n in group)
            assert 0 <= in_use <= cps, f"pool {p} server {server}: {in_use} of {cps} cards at {t}"


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("policy", [*POLICIES, *POLICY_VARIANTS])
@SETTINGS
@given(
    overrides=scenario_overrides(),
    replication=st.integers(0, 2),
    chunk_size=st.sampled_from([None, 1, 7, 100]),
)
def test_run_invariants(
    sim, policy: str, overrides: dict[str, Any], replication: int, chunk_size: int | None
):
    """Every invariant of the module docstring, for one random scenario and policy."""
    config = POLICY_VARIANTS.get(policy, policy)
    result, engine, segments = run_checked(sim, overrides, config, replication, chunk_size)
    scenario = result.scenario
    check_job_table(scenario, result, segments)
    check_cards_in_use(segments, result.capacity, engine.pools)
    check_card_hours(scenario, result, segments)
    check_placements(segments, engine.pools)


@SETTINGS
@given(overrides=scenario_overrides(), replication=st.integers(0, 2))
def test_fifo_starts_jobs_in_submit_order(sim, overrides: dict[str, Any], replication: int):
    """FIFO never lets a job overtake: start times follow job ids (submit order), and no
    job has started while an earlier one still waits at the horizon."""
    result, _, _ = run_checked(sim, overrides, "fifo", replication)
    start = result.jobs.sort_values("job_id")["start_h"].to_numpy()
    started = ~np.isnan(start)
    n_started = int(started.sum())
    assert started[:n_started].all() and not started[n_started:].any()
    assert (np.diff(start[:n_started]) >= 0).all()


def test_registry_lists_the_builtin_policies():
    """The parametrisation above covers at least the built-in policies."""
    assert {"fifo", "easy_backfill"} <= set(POLICIES)
