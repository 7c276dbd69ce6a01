"""Validation against queueing theory, and reproducibility of random streams.

Oracle: the Erlang C formula for the M/M/c queue (Poisson arrivals at rate lambda,
exponential service of rate mu, c servers, first come first served),

    a = lambda / mu,  rho = a / c < 1,  T = a^c / c! * c / (c - a),
    P(wait > 0) = C(c, a) = T / (sum_{k<c} a^k / k! + T),
    E[wait] = C(c, a) / (c * mu - lambda).

In the simulator, 1-card jobs with ``work: {unit: ref_hours, distribution: exponential,
mean 1}`` on reference cards run Exp(1) hours; Poisson arrivals at rate load x c per
hour, FIFO, make the pool of c cards an M/M/c queue, provided placement never keeps a job
waiting while a card is free. Gang jobs of k cards on servers whose free cards always come
in multiples of k (k = 4 or 8 on 8-card servers, k = 16 as two whole 8-card servers) make
c cards an M/M/(c/k) queue. Each case is also checked directly for that proviso: after
every event, if a job is queued then fewer than k cards are free.

Statistics: R independent replications (replication index 0..R-1, one fixed seed chosen
before the first run and never changed), each trimmed of its warm-up (``warmup_days``);
the per-replication estimates (``summary['wait_h_mean']``; the fraction of measured jobs
that waited) are averaged and a two-sided 99 % Student-t interval with R - 1 degrees of
freedom is formed; the Erlang C value must lie inside it. A correct engine fails one such
check with probability about 1 %, so about 11 % for one of the twelve default checks
whenever a change to the engine reshuffles its random streams: a failure calls for the
``slow`` cases (30 replications of a year) and a look at the estimator, never for
another seed. The heavier load-0.95 studies are marked ``slow``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from simulator import run
from simulator.results import RunResult

SEED = 20250101
CONFIDENCE = 0.99


# --------------------------------------------------------------------------- oracle


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in M/M/c with offered load ``a`` Erlangs (a < c).

    Written with Poisson terms, a^k / k! = e^a * pmf(k; a), so it stays finite for any c.
    """
    if not 0 <= a < c:
        raise ValueError(f"need 0 <= a < c, got a={a}, c={c}")
    tail = stats.poisson.pmf(c, a) * c / (c - a)
    return float(tail / (stats.poisson.cdf(c - 1, a) + tail))


def mmc_mean_wait(c: int, arrival_rate: float, service_rate: float = 1.0) -> float:
    """Mean wait in queue (Erlang C): C(c, a) / (c * mu - lambda)."""
    a = arrival_rate / service_rate
    return erlang_c(c, a) / (c * service_rate - arrival_rate)


def _erlang_c_by_recursion(c: int, a: float) -> float:
    """Erlang C via the Erlang B recursion B(k) = a B(k-1) / (k + a B(k-1))."""
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return c * b / (c - a * (1.0 - b))


def test_erlang_c_reduces_to_mm1():
    """M/M/1: P(wait) = rho and E[wait] = rho / (mu - lambda)."""
    for rho in (0.1, 0.5, 0.95):
        assert erlang_c(1, rho) == pytest.approx(rho, rel=1e-12)
        assert mmc_mean_wait(1, rho) == pytest.approx(rho / (1.0 - rho), rel=1e-12)


def test_erlang_c_known_values():
    """M/M/2 with a = 1: C = 1/3 and E[wait] = 1/3; the Poisson form equals the
    Erlang B recursion for the configurations used below."""
    assert erlang_c(2, 1.0) == pytest.approx(1.0 / 3.0, rel=1e-12)
    assert mmc_mean_wait(2, 1.0) == pytest.approx(1.0 / 3.0, rel=1e-12)
    for c, a in ((8, 6.4), (16, 8.0), (16, 12.8), (16, 15.2), (100, 95.0)):
        assert erlang_c(c, a) == pytest.approx(_erlang_c_by_recursion(c, a), rel=1e-10)


def t_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Two-sided Student-t interval for the mean of independent replications."""
    n = len(values)
    mean = float(np.mean(values))
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * float(np.std(values, ddof=1)) / math.sqrt(n)
    return mean - half, mean + half


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class QueueCase:
    """One pool of ``servers`` 8-card A100 servers fed k-card jobs with Exp(1) h runs."""

    name: str
    servers: int
    gang: int
    load: float
    horizon_days: float
    warmup_days: float
    replications: int

    @property
    def cards(self) -> int:
        return self.servers * 8

    @property
    def queue_servers(self) -> int:
        """c of the equivalent M/M/c queue: the gangs the pool holds at once."""
        return self.cards // self.gang

    @property
    def arrival_rate_h(self) -> float:
        return self.load * self.queue_servers

    def scenario_overrides(self) -> dict:
        return {
            "name": "mmc",
            "seed": SEED,
            "horizon_days": self.horizon_days,
            "warmup_days": self.warmup_days,
            "centres": [
                {
                    "name": "c1",
                    "pools": [
                        {
                            "name": "p1",
                            "card_type": "A100",
                            "cards_per_server": 8,
                            "servers_per_pod": 32,
                            "phases": [{"date": "2025-01-01", "servers": self.servers}],
                        }
                    ],
                }
            ],
            "workload": {
                "classes": [
                    {
                        "name": "exp",
                        "arrival": {"rate_per_day": self.arrival_rate_h * 24.0},
                        "gang_size": {"kind": "constant", "value": self.gang},
                        "work": {
                            "unit": "ref_hours",
                            "distribution": {"kind": "exponential", "mean": 1.0},
                        },
                    }
                ]
            },
            "policy": {"name": "fifo"},
            "output": {"timeseries_step_h": 24.0 * self.horizon_days},
        }


# Each run has ~1.5e4-4.5e4 jobs; warm-up is several relaxation times 1/(c (1 - sqrt(rho))^2).
CASES = [
    QueueCase("M/M/16 load 0.5, 1-card jobs", 2, 1, 0.5, 100, 2, 10),
    QueueCase("M/M/16 load 0.8, 1-card jobs", 2, 1, 0.8, 60, 3, 10),
    QueueCase("M/M/16 load 0.95, 1-card jobs", 2, 1, 0.95, 120, 20, 10),
    QueueCase("M/M/8 load 0.7, 4-card jobs on 4 servers", 4, 4, 0.7, 100, 3, 10),
    QueueCase("M/M/8 load 0.8, 8-card jobs on 8 servers", 8, 8, 0.8, 100, 3, 10),
    QueueCase("M/M/8 load 0.9, 16-card jobs on 16 servers", 16, 16, 0.9, 100, 5, 10),
]
SLOW_CASES = [
    QueueCase("M/M/16 load 0.95, 1-card jobs, long", 2, 1, 0.95, 365, 30, 30),
    QueueCase("M/M/8 load 0.95, 8-card jobs on 8 servers, long", 8, 8, 0.95, 365, 30, 30),
]
PARAMS = [pytest.param(c, id=c.name) for c in CASES] + [
    pytest.param(c, id=c.name, marks=pytest.mark.slow) for c in SLOW_CASES
]


@dataclass
class Replications:
    case: QueueCase
    results: list[RunResult]

    def mean_waits(self) -> np.ndarray:
        return np.array([r.summary["wait_h_mean"] for r in self.results])

    def fractions_waiting(self) -> np.ndarray:
        """Per replication: measured jobs (submitted after warm-up, started) that waited."""
        out = []
        for r in self.results:
            jobs = r.jobs
            measured = jobs[(jobs["submit_h"] >= r.scenario.warmup_h) & jobs["start_h"].notna()]
            out.append(float((measured["wait_h"] > 1e-9).mean()))
        return np.array(out)


@pytest.fixture(scope="module", params=PARAMS)
def replications(request, sim) -> Replications:
    case: QueueCase = request.param
    scenario = sim.scenario(**case.scenario_overrides())
    return Replications(case, [run(scenario, replication=r) for r in range(case.replications)])


def free_cards_while_queued(jobs: pd.DataFrame, cards: int) -> np.ndarray:
    """Free cards after all events at each instant when some job is queued."""
    started = jobs[jobs["start_h"].notna()]
    ended = jobs[jobs["end_h"].notna()]
    times = np.concatenate([jobs["submit_h"], started["start_h"], ended["end_h"]])
    d_queue = np.concatenate([np.ones(len(jobs)), -np.ones(len(started)), np.zeros(len(ended))])
    d_busy = np.concatenate([np.zeros(len(jobs)), started["cards"], -ended["cards"]])
    order = np.argsort(times, kind="stable")
    times = times[order]
    queued = np.cumsum(d_queue[order])
    free = cards - np.cumsum(d_busy[order])
    last_at_time = np.append(times[1:] != times[:-1], True)
    waiting = last_at_time & (queued > 0)
    return free[waiting]


# --------------------------------------------------------------------------- tests


def test_mean_wait_matches_erlang_c(replications: Replications):
    """Oracle: Erlang C mean wait C(c, a) / (c mu - lambda), mu = 1 per hour, a = lambda,
    for c = cards / gang size.

    Tolerance: the value must lie in the 99 % Student-t interval of the mean of the R
    per-replication mean waits (R = ``case.replications``: 10, or 30 in the slow cases),
    each over the jobs submitted after ``case.warmup_days``.
    """
    case = replications.case
    expected = mmc_mean_wait(case.queue_servers, case.arrival_rate_h)
    waits = replications.mean_waits()
    lo, hi = t_interval(waits)
    assert lo <= expected <= hi, (
        f"{case.name}: Erlang C mean wait {expected:.5f} h outside the 99% interval "
        f"[{lo:.5f}, {hi:.5f}] h of {len(waits)} replications (mean {waits.mean():.5f} h)"
    )


def test_probability_of_waiting_matches_erlang_c(replications: Replications):
    """Oracle: Erlang C probability of waiting C(c, a), a = lambda (mean service 1 h).

    Tolerance: the value must lie in the 99 % Student-t interval of the mean of the R
    per-replication fractions of measured jobs with a positive wait (R =
    ``case.replications``: 10, or 30 in the slow cases).
    """
    case = replications.case
    expected = erlang_c(case.queue_servers, case.arrival_rate_h)
    fractions = replications.fractions_waiting()
    lo, hi = t_interval(fractions)
    assert lo <= expected <= hi, (
        f"{case.name}: Erlang C P(wait > 0) = {expected:.5f} outside the 99% interval "
        f"[{lo:.5f}, {hi:.5f}] of {len(fractions)} replications"
    )


def test_no_job_waits_while_its_gang_fits(replications: Replications):
    """Exact (no tolerance), every replication: whenever a job is queued, fewer than k
    cards are free, so placement never makes the pool behave worse than M/M/(c/k)."""
    case = replications.case
    for result in replications.results:
        free = free_cards_while_queued(result.jobs, case.cards)
        assert len(free) > 0, "the case never queues a job; it tests nothing"
        assert (free < case.gang).all(), (
            f"{case.name}, replication {result.replication}: a {case.gang}-card job waited "
            f"while {free.max():.0f} cards were free"
        )


def test_gang_sizes_reduce_to_the_same_queue(sim):
    """Exact, one replication of 20 days at load 0.85: k-card jobs on 8k/8 servers (k = 1
    on one server, 4, 8, 16) are the same M/M/8 queue. With common random numbers (same
    seed, class name and arrival rate; work in reference hours, so the same run times)
    every job starts and ends at the same time whatever k."""
    tables = []
    for servers, gang in ((1, 1), (4, 4), (8, 8), (16, 16)):
        case = QueueCase(f"k={gang}", servers, gang, 0.85, 20, 1, 1)
        jobs = run(sim.scenario(**case.scenario_overrides())).jobs
        tables.append(jobs[["job_id", "submit_h", "start_h", "end_h", "state"]])
    first = tables[0]
    assert len(first) > 3000 and (first["start_h"] > first["submit_h"]).any()
    for other in tables[1:]:
        pd.testing.assert_frame_equal(first, other, check_exact=True)


# --------------------------------------------------------------------------- reproducibility


def small_world(sim, **overrides):
    """Two pools, two classes with gang tables and lognormal work, EASY backfill: 3 days."""
    base = {
        "horizon_days": 3,
        "seed": 42,
        "centres": [
            {
                "name": "c1",
                "pools": [
                    sim.pool("p1", servers=4, servers_per_pod=2),
                    sim.pool("p2", card_type="FAST", servers=2),
                ],
            }
        ],
        "workload": {
            "classes": [
                sim.job_class("small", rate_per_day=300, gang_sizes=[1, 2, 4, 8]),
                sim.job_class(
                    "large",
                    rate_per_day=20,
                    gang_sizes=[8, 16],
                    work={
                        "unit": "ref_hours",
                        "distribution": {"kind": "lognormal", "median": 3, "sigma": 1, "max": 24},
                    },
                ),
            ]
        },
        "policy": {"name": "easy_backfill"},
        "output": {"timeseries_step_h": 6.0},
    }
    base.update(overrides)
    return sim.scenario(**base)


def test_same_seed_gives_identical_tables(sim):
    """Same scenario, seed and replication: the jobs, utilisation, backlog and capacity
    tables and the summary are equal bit for bit."""
    scenario = small_world(sim)
    first, second = run(scenario, replication=0), run(scenario, replication=0)
    assert len(first.jobs) > 100
    pd.testing.assert_frame_equal(first.jobs, second.jobs, check_exact=True)
    pd.testing.assert_frame_equal(first.utilisation, second.utilisation, check_exact=True)
    pd.testing.assert_frame_equal(first.backlog, second.backlog, check_exact=True)
    pd.testing.assert_frame_equal(first.capacity, second.capacity, check_exact=True)
    assert first.summary.keys() == second.summary.keys()
    for key, value in first.summary.items():
        assert value == second.summary[key] or (
            math.isnan(value) and math.isnan(second.summary[key])
        )


def test_replications_and_seeds_differ(sim):
    """Another replication index, or another seed, gives other arrivals and results."""
    scenario = small_world(sim)
    base = run(scenario, replication=0)
    other_rep = run(scenario, replication=1)
    other_seed = run(small_world(sim, seed=43), replication=0)
    for other in (other_rep, other_seed):
        assert not base.jobs["submit_h"].equals(other.jobs["submit_h"])
        assert not base.utilisation["busy_card_h"].equals(other.utilisation["busy_card_h"])
        assert base.summary["wait_h_mean"] != other.summary["wait_h_mean"]


def test_common_random_numbers_across_policies(sim):
    """Two scenarios with the same seed that differ only in policy see the same jobs:
    submit times, gang sizes and work are equal, job by job."""
    fifo = run(small_world(sim, policy={"name": "fifo"}), replication=2)
    easy = run(small_world(sim), replication=2)
    columns = ["job_id", "job_class", "submit_h", "cards", "work_ref_card_h"]
    pd.testing.assert_frame_equal(fifo.jobs[columns], easy.jobs[columns], check_exact=True)
    assert not fifo.jobs["start_h"].equals(easy.jobs["start_h"])
