"""Result objects: what a run and an experiment hand back, as pandas tables.

:class:`RunResult` is one replication of one scenario. Its tables are tidy and carry
their own units in the column names; downstream code (statistics, plots, reports, file
output) reads only these tables and never the engine.

Tables of a :class:`RunResult`:

``jobs`` (one row per job, present when ``output.job_records == "memory"``):
    job_id (int64), job_class (str), tenant (str), priority (int), cards (int),
    size_class (str, see ``SIZE_CLASSES``), submit_h, start_h, end_h (float hours since
    the scenario start; NaN when the job had not started / finished by the horizon),
    wait_h (start - submit; NaN if never started), run_h (end - start), centre, pool,
    card_type (str; empty if never started), work_ref_card_h (float), estimate_h
    (user estimate of the run time on the pool it ran on, hours), state
    ("done", "running" or "queued" at the horizon), campaign (str, empty for class jobs),
    last_start_h (start of the last run segment; differs from start_h after a
    stop), preemptions (int: times the job was stopped, by the policy, a failure or a
    maintenance window), failures (int: of those, stops caused by failures),
    lost_work_ref_card_h (work redone after stops).

``utilisation`` (one row per time bin and pool):
    bin_start_h, bin_end_h (float), date (datetime64 of the bin start), centre, pool,
    card_type (str), online_cards (mean cards online over the bin), busy_cards (mean
    cards busy over the bin), busy_card_h, online_card_h (card-hours in the bin),
    utilisation (= busy_card_h / online_card_h; NaN when nothing is online),
    idle_cards (online - busy - repair - maintenance; hot spares count as idle),
    repair_cards, maintenance_cards, spare_cards (mean cards in repair, held for
    maintenance and kept as hot spares), out_of_service_card_h (repair plus maintenance
    card-hours in the bin), fragmented_cards (free cards no queued job's shape could
    use, sampled at the middle of the bin).

``backlog`` (one row per time bin, whole fleet):
    bin_start_h, bin_end_h, date, queued_jobs (mean number waiting over the bin),
    queued_cards (mean queued card demand over the bin).

``capacity`` (one row per capacity change):
    time_h, date, centre, pool, card_type, delta_cards, online_cards (after the change),
    label (the build-out phase or retirement label).

``energy`` (one row per centre and calendar year): centre, year, energy_mwh, cost_cny.

``wait_histogram`` (binned waits, kept whatever ``job_records`` says): size_class, year
(0 for all years), wait_low_h, wait_high_h, count; see
:func:`simulator.metrics.wait_histogram_table`.

``summary`` (a flat dict of floats and ints; see :mod:`simulator.metrics` for each
metric's definition), and ``meta`` (scenario name, seed, replication index, version,
wall time, events processed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from simulator.scenario.schema import Scenario


@dataclass
class RunResult:
    """The outcome of one replication of one scenario."""

    scenario: Scenario
    replication: int
    seed: int
    jobs: pd.DataFrame | None
    utilisation: pd.DataFrame
    backlog: pd.DataFrame
    capacity: pd.DataFrame
    summary: dict[str, float]
    energy: pd.DataFrame | None = None
    wait_histogram: pd.DataFrame | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExperimentResult:
    """Several replications of one or more scenarios.

    ``summaries`` is the long table (scenario, replication, metric, value);
    ``intervals`` gives per scenario and metric the mean, standard error and the
    95% confidence interval across replications (Student t); ``paired`` (several
    scenarios only) gives each scenario's paired difference against the first; ``runs`` keeps each
    :class:`RunResult` when the experiment was asked to keep them.
    """

    summaries: pd.DataFrame
    intervals: pd.DataFrame
    runs: list[RunResult] = field(default_factory=list)
    paired: pd.DataFrame | None = None
    meta: dict[str, Any] = field(default_factory=dict)
