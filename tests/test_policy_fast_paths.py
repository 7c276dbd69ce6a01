"""The policies' shortcuts never change a decision.

``simulator.policies.state.FAST_PATHS`` switches the shortcuts of the backfilling and
LAS passes (skipping jobs that cannot start, fetching the queue a window at a time,
examining only new arrivals after a pass that found no head, the placement-based stop of
conservative backfilling). Each test runs the same scenario with the shortcuts on and
off and requires identical job tables, on worlds where queues grow deep enough for the
shortcuts to matter: random worlds of ``tests/test_invariants.py`` (failures, hot spares,
maintenance, campaigns, several pools and card types), and a saturated three-pool world
with small look-aheads and binding tenant quotas.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
import test_invariants as inv
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import run
from simulator.policies import state

POLICIES = [
    {"name": "easy_backfill"},
    {"name": "easy_backfill", "params": {"lookahead": 3}},
    {"name": "conservative_backfill"},
    {"name": "conservative_backfill", "params": {"lookahead": 4}},
    {"name": "sjf_backfill"},
    {"name": "sjf_backfill", "params": {"lookahead": 2}},
    {"name": "fair_share", "params": {"half_life_h": 2.0, "lookahead": 5}},
    {"name": "fair_share"},
    {"name": "quota", "params": {"default_quota": 8, "lookahead": 6}},
    {"name": "quota", "params": {"default_quota": 16, "backfill": False}},
    {"name": "las", "params": {"thresholds_card_h": [2.0, 20.0]}},
    {"name": "las", "params": {"thresholds_card_h": [1.0], "lookahead": 3}},
    {"name": "las", "params": {"preemptive": False, "lookahead": 4}},
    {"name": "las", "params": {"thresholds_card_h": [2.0, 20.0], "timed_demotion": True}},
]
IDS = [p["name"] + "".join(f"-{k}={v}" for k, v in p.get("params", {}).items()) for p in POLICIES]


def both_ways(scenario, replication: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:  # type: ignore[no-untyped-def]
    """The jobs table with the shortcuts and without them."""
    assert state.FAST_PATHS
    fast = run(scenario, replication).jobs
    state.FAST_PATHS = False
    try:
        plain = run(scenario, replication).jobs
    finally:
        state.FAST_PATHS = True
    return fast, plain


@pytest.mark.parametrize("policy", POLICIES, ids=IDS)
@settings(inv.SETTINGS)
@given(overrides=inv.scenario_overrides(), replication=st.integers(0, 2))
def test_shortcuts_change_nothing_on_random_worlds(sim, policy, overrides, replication):  # type: ignore[no-untyped-def]
    fast, plain = both_ways(sim.scenario(**overrides, policy=policy), replication)
    pd.testing.assert_frame_equal(fast, plain, check_exact=True)


def saturated_world(sim, policy: dict[str, Any], seed: int):  # type: ignore[no-untyped-def]
    """Three pools of two card types in two centres, offered about 1.5 times their
    capacity for two days: hundreds of jobs wait. Three classes (any card, A100 only with
    priority 1, FAST only), each split over tenants t0 and t1 (the same names in every
    class), gangs of 1 to 32 cards, estimates 1 to 3 times the run time."""

    def job_class(name: str, rate: float, types: list[str], priority: int) -> dict[str, Any]:
        return sim.job_class(
            name,
            rate_per_day=rate,
            gang_sizes=[1, 2, 3, 4, 8, 12, 16, 32],
            card_types=types,
            priority=priority,
            tenants={"names": ["t0", "t1"], "weights": [3, 1]},
            estimate={"factor_min": 1.0, "factor_max": 3.0},
            work={
                "unit": "ref_hours",
                "distribution": {"kind": "lognormal", "median": 1.0, "sigma": 1.0, "max": 30},
            },
        )

    return sim.scenario(
        horizon_days=2,
        seed=seed,
        centres=[
            {"name": "c1", "pools": [sim.pool("p1", servers=4, servers_per_pod=2)]},
            {
                "name": "c2",
                "pools": [sim.pool("p2", servers=3), sim.pool("p3", card_type="FAST", servers=4)],
            },
        ],
        workload={
            "classes": [
                job_class("any", 200, [], 0),
                job_class("a100", 100, ["A100"], 1),
                job_class("fast", 100, ["FAST"], 2),
            ]
        },
        policy=policy,
        output={"timeseries_step_h": 6.0},
    )


SATURATED = [
    {"name": "easy_backfill", "params": {"lookahead": 40}},
    {"name": "conservative_backfill", "params": {"lookahead": 30}},
    {"name": "sjf_backfill", "params": {"lookahead": 40}},
    {"name": "fair_share", "params": {"half_life_h": 6.0, "lookahead": 40}},
    {"name": "quota", "params": {"quotas": {"t0": 24}, "default_quota": 40, "lookahead": 40}},
    {"name": "quota", "params": {"quotas": {"t1": 8}, "lookahead": 1000}},
    {"name": "quota", "params": {"quotas": {"t0": 4, "t1": 12}, "lookahead": 8}},
    {"name": "las", "params": {"thresholds_card_h": [4.0, 40.0], "lookahead": 40}},
    {
        "name": "las",
        "params": {"thresholds_card_h": [4.0, 40.0], "lookahead": 40, "timed_demotion": True},
    },
]


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize(
    "policy", SATURATED, ids=[f"{p['name']}-{i}" for i, p in enumerate(SATURATED)]
)
def test_shortcuts_change_nothing_in_a_deep_queue(sim, policy, seed):  # type: ignore[no-untyped-def]
    fast, plain = both_ways(saturated_world(sim, policy, seed))
    assert (fast["state"] == "queued").sum() > 50  # the queue stays deep
    pd.testing.assert_frame_equal(fast, plain, check_exact=True)
