"""Comparisons: several scenarios (or policies) on the same arrivals, with paired intervals.

Every compared scenario runs with the same seed and replication indices, so each
replication sees the same arrivals in all of them (common random numbers) wherever the
workload is the same. The comparison table gives, per metric, each scenario's mean and
95% interval across replications and its paired difference against the first scenario
with its own interval: the difference is what a planner should read, because the shared
noise cancels in it.
"""

from __future__ import annotations

import pandas as pd

from simulator.errors import PolicyError
from simulator.policies import known_policies, load_policy_module
from simulator.results import ExperimentResult
from simulator.scenario.schema import PolicySpec, Scenario

#: Metrics shown first in comparison tables and figures.
HEADLINE_METRICS = (
    "utilisation",
    "wait_h_mean",
    "wait_h_p50",
    "wait_h_p95",
    "wait_h_p95[size=1]",
    "wait_h_p95[size=2-8]",
    "wait_h_p95[size=9-64]",
    "wait_h_p95[size=65-1024]",
    "wait_h_p95[size=>1024]",
    "jct_h_mean",
    "bsld_mean",
    "backlog_cards_mean",
    "jobs_waiting_at_horizon",
    "goodput",
    "lost_card_h[cause=rework]",
    "interruptions_per_job",
    "repair_cards_mean",
    "energy_mwh",
)


def with_common_seed(scenarios: list[Scenario]) -> list[Scenario]:
    """The scenarios with the first one's seed, so that they share random streams."""
    seed = scenarios[0].seed
    return [s if s.seed == seed else s.model_copy(update={"seed": seed}) for s in scenarios]


def policy_variants(scenario: Scenario, policies: list[str]) -> list[Scenario]:
    """One copy of ``scenario`` per policy name, named ``<scenario>-<policy>``."""
    module = scenario.policy.module
    if module is not None:
        load_policy_module(module)  # a user's policy file may define some of the names
    known = known_policies()
    variants = []
    for name in policies:
        if name not in known:
            raise PolicyError(f"unknown policy '{name}'; known: {', '.join(known)}")
        params = scenario.policy.params if name == scenario.policy.name else {}
        variants.append(
            scenario.model_copy(
                update={
                    "name": f"{scenario.name}-{name}",
                    "policy": PolicySpec(name=name, params=params, module=module),
                }
            )
        )
    return variants


def comparison_table(
    experiment: ExperimentResult, metrics: list[str] | None = None
) -> pd.DataFrame:
    """Per metric and scenario: mean, interval, and paired difference against the first."""
    iv = experiment.intervals
    table = iv.rename(columns={"mean": "mean", "ci_low": "ci_low", "ci_high": "ci_high"})
    if experiment.paired is not None and len(experiment.paired):
        paired = experiment.paired[
            ["scenario", "metric", "diff_mean", "diff_ci_low", "diff_ci_high"]
        ]
        table = table.merge(paired, on=["scenario", "metric"], how="left")
    else:
        for col in ("diff_mean", "diff_ci_low", "diff_ci_high"):
            table[col] = float("nan")
    if metrics is not None:
        table = table[table["metric"].isin(metrics)]
        order = {m: i for i, m in enumerate(metrics)}
        table = (
            table.assign(_order=table["metric"].map(order))
            .sort_values(["_order"], kind="stable")
            .drop(columns="_order")
        )
    return table.reset_index(drop=True)


def default_metrics(experiment: ExperimentResult) -> list[str]:
    """Headline metrics plus per-year utilisation and p95 waits present in the results."""
    present = list(dict.fromkeys(experiment.intervals["metric"]))
    chosen = [m for m in HEADLINE_METRICS if m in present]
    chosen += [m for m in present if m.startswith("utilisation[year=")]
    chosen += [m for m in present if m.startswith("wait_h_p95[year=")]
    chosen += [m for m in present if m.startswith("campaign_days")]
    return chosen
