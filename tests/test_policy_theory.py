"""Scheduling policies against M/G/1 queueing theory (Kleinrock, Queueing Systems II, 3.6-3.7).

Setting: one pool of one 1-card server; every job takes 1 card; Poisson arrivals; work
in ``ref_hours`` on the reference card, so a job's service time is its sampled work.
With a single card the pool is an M/G/1 queue whatever the gang logic, and each policy
reduces to a classical discipline:

* ``priority`` (non-preemptive, FIFO within a class), classes k = 1..K from the most
  urgent, with arrival rates lambda_i, service moments E[S_i], E[S_i^2],
  rho_i = lambda_i E[S_i], sigma_k = rho_1 + ... + rho_k, W0 = sum_i lambda_i E[S_i^2] / 2:
  mean wait (submit to start) ``W_k = W0 / ((1 - sigma_{k-1}) (1 - sigma_k))``.
* ``sjf`` and ``sjf_backfill`` with exact estimates (estimate factor 1), non-preemptive
  SJF, the continuous-priority limit of the formula above: a job of size x waits on mean
  ``W(x) = W0 / (1 - rho(x))^2`` with ``rho(x) = lambda int_0^x t dF(t)``; the mean wait
  over sizes in [a, b) is ``int_a^b W(x) dF(x) / (F(b) - F(a))``.
* ``priority_preemptive`` (preemptive resume): mean time in system (submit to end)
  ``T_k = E[S_k] / (1 - sigma_{k-1}) + R_k / ((1 - sigma_{k-1}) (1 - sigma_k))`` with
  ``R_k = sum_{i<=k} lambda_i E[S_i^2] / 2``. Preemptive *resume* needs that no work is
  lost: the engine keeps a stopped job's work up to its last checkpoint, so every class
  checkpoints every 1e-7 h (at most 1e-7 h redone per preemption) and restarts at no cost.

State oracle: the formulas above, evaluated with the distributions' exact moments (SJF:
numerical integration, relative error < 1e-8).

Statistics: R independent replications (replication index 0..R-1 of one seed fixed
before the first run and never changed); each estimates the per-class (or per-size-band)
mean over jobs submitted in [warm-up, horizon - margin], all of which must have started
(or, for sojourn times, finished). The formula must lie inside the two-sided Student-t
interval of the R estimates, at confidence 1 - 0.01 / K for K compared values
(Bonferroni), so that a correct engine fails a test with probability at most about 1 %.
Warm-up and margin are many relaxation times 1 / (1 - sqrt(rho))^2 of the queue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from simulator import run

SEED = 20250601
FAMILY_CONFIDENCE = 0.99
CHECKPOINT_H = 1e-7

# --------------------------------------------------------------------------- service


@dataclass(frozen=True)
class Service:
    """A service-time distribution as the scenario spells it, with its exact moments."""

    spec: dict[str, Any]
    mean: float
    second_moment: float

    @staticmethod
    def constant(value: float) -> Service:
        return Service({"kind": "constant", "value": value}, value, value**2)

    @staticmethod
    def exponential(mean: float) -> Service:
        return Service({"kind": "exponential", "mean": mean}, mean, 2.0 * mean**2)

    @staticmethod
    def lognormal(median: float, sigma: float) -> Service:
        mu = math.log(median)
        return Service(
            {"kind": "lognormal", "median": median, "sigma": sigma},
            math.exp(mu + sigma**2 / 2),
            math.exp(2 * mu + 2 * sigma**2),
        )


@dataclass(frozen=True)
class ClassSpec:
    """One priority class: its priority (larger = more urgent), load and service."""

    priority: int
    load: float
    service: Service

    @property
    def rate_h(self) -> float:
        return self.load / self.service.mean


# --------------------------------------------------------------------------- oracles


def priority_waits(classes: list[ClassSpec]) -> list[float]:
    """Non-preemptive priority, classes from most to least urgent: W_k (hours)."""
    w0 = sum(c.rate_h * c.service.second_moment / 2 for c in classes)
    out, sigma = [], 0.0
    for c in classes:
        before, sigma = sigma, sigma + c.load
        out.append(w0 / ((1 - before) * (1 - sigma)))
    return out


def preemptive_sojourns(classes: list[ClassSpec]) -> list[float]:
    """Preemptive-resume priority, most to least urgent: T_k (hours)."""
    out, sigma, r = [], 0.0, 0.0
    for c in classes:
        before, sigma = sigma, sigma + c.load
        r += c.rate_h * c.service.second_moment / 2
        out.append(c.service.mean / (1 - before) + r / ((1 - before) * (1 - sigma)))
    return out


def sjf_band_waits(rate_h: float, mean: float, bands: list[tuple[float, float]]) -> list[float]:
    """Non-preemptive SJF, exponential sizes of ``mean``: mean wait of sizes in each band."""
    dist = stats.expon(scale=mean)
    w0 = rate_h * 2 * mean**2 / 2

    def rho(x: float) -> float:
        # lambda * int_0^x t f(t) dt for the exponential, in closed form.
        return rate_h * mean * (1 - math.exp(-x / mean) * (1 + x / mean))

    out = []
    for a, b in bands:
        num, _ = integrate.quad(
            lambda x: w0 / (1 - rho(x)) ** 2 * dist.pdf(x), a, b, epsabs=0, epsrel=1e-10
        )
        out.append(num / (dist.cdf(b) - dist.cdf(a)))
    return out


def t_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """Two-sided Student-t interval for the mean of independent replications."""
    n = len(values)
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * float(np.std(values, ddof=1)) / math.sqrt(n)
    return float(np.mean(values)) - half, float(np.mean(values)) + half


def test_oracles_reduce_to_known_cases():
    """One class: both priority formulas give M/G/1 (Pollaczek-Khinchine); SJF over all
    sizes at vanishing load tends to W0."""
    one = [ClassSpec(0, 0.6, Service.exponential(1.0))]
    pk_wait = 0.6 / (1 - 0.6)  # rho E[S] (1 + C^2) / (2 (1 - rho)), C = 1
    assert priority_waits(one) == pytest.approx([pk_wait], rel=1e-12)
    assert preemptive_sojourns(one) == pytest.approx([pk_wait + 1.0], rel=1e-12)
    w0 = 1e-6 * 1.0
    assert sjf_band_waits(1e-6, 1.0, [(0.0, np.inf)]) == pytest.approx([w0], rel=1e-5)


# --------------------------------------------------------------------------- cases


def mg1_scenario(sim, policy: str, classes: list[ClassSpec], *, horizon_days: float, **extra):  # type: ignore[no-untyped-def]
    """One 1-card server; one job class per ``classes`` entry, 1-card jobs, exact estimates."""
    job_classes = [
        {
            "name": f"class{k}",
            "arrival": {"rate_per_day": c.rate_h * 24.0},
            "gang_size": {"kind": "constant", "value": 1},
            "work": {"unit": "ref_hours", "distribution": c.service.spec},
            "estimate": {"factor_min": 1.0, "factor_max": 1.0},
            "priority": c.priority,
            **extra,
        }
        for k, c in enumerate(classes)
    ]
    return sim.scenario(
        name="mg1",
        seed=SEED,
        horizon_days=horizon_days,
        warmup_days=0,
        centres=[
            {
                "name": "c1",
                "pools": [
                    sim.pool(servers=1, cards_per_server=1, servers_per_pod=1, phases=[(0, 1)])
                ],
            }
        ],
        workload={"classes": job_classes},
        policy={"name": policy},
        output={"timeseries_step_h": horizon_days * 24.0},
    )


def measured(jobs: pd.DataFrame, warmup_h: float, until_h: float) -> pd.DataFrame:
    """Jobs submitted in [warmup_h, until_h)."""
    return jobs[(jobs["submit_h"] >= warmup_h) & (jobs["submit_h"] < until_h)]


def check_inside(name: str, expected: list[float], estimates: np.ndarray, labels: list[str]):  # type: ignore[no-untyped-def]
    """Each formula value inside its Bonferroni-corrected Student-t interval."""
    confidence = 1 - (1 - FAMILY_CONFIDENCE) / len(expected)
    for k, value in enumerate(expected):
        lo, hi = t_interval(estimates[:, k], confidence)
        assert lo <= value <= hi, (
            f"{name}, {labels[k]}: formula {value:.4f} h outside the {confidence:.2%} "
            f"interval [{lo:.4f}, {hi:.4f}] h of {len(estimates)} replications "
            f"(mean {estimates[:, k].mean():.4f} h)"
        )


# Most urgent first. Three service laws so that the test covers the "G" of M/G/1.
CLASSES = [
    ClassSpec(2, 0.15, Service.constant(0.5)),
    ClassSpec(1, 0.25, Service.exponential(1.0)),
    ClassSpec(0, 0.30, Service.lognormal(1.0, 0.5)),
]
RHO = sum(c.load for c in CLASSES)
RELAX_H = 1 / (1 - math.sqrt(RHO)) ** 2  # about 36 h at rho = 0.7


@dataclass(frozen=True)
class Study:
    horizon_days: float
    replications: int


FAST = Study(horizon_days=800, replications=10)
SLOW = Study(horizon_days=4000, replications=30)
STUDIES = [pytest.param(FAST, id="fast"), pytest.param(SLOW, id="slow", marks=pytest.mark.slow)]
WARMUP_H = 20 * RELAX_H
MARGIN_H = 20 * RELAX_H


def replicate(
    sim, policy: str, classes: list[ClassSpec], study: Study, **extra
) -> list[pd.DataFrame]:  # type: ignore[no-untyped-def]
    scenario = mg1_scenario(sim, policy, classes, horizon_days=study.horizon_days, **extra)
    until = scenario.horizon_h - MARGIN_H
    return [
        measured(run(scenario, replication=r).jobs, WARMUP_H, until)
        for r in range(study.replications)
    ]


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("study", STUDIES)
def test_nonpreemptive_priority_matches_kleinrock(sim, study: Study):  # type: ignore[no-untyped-def]
    """Oracle: W_k = W0 / ((1 - sigma_{k-1})(1 - sigma_k)) per class (module docstring).

    Tolerance: each class's formula inside the 99.67 % (Bonferroni for 3 classes)
    Student-t interval of the per-replication class mean waits.
    """
    runs = replicate(sim, "priority", CLASSES, study)
    estimates = []
    for jobs in runs:
        assert jobs["start_h"].notna().all(), "a measured job never started"
        means = jobs.groupby("priority")["wait_h"].mean()
        estimates.append([means[c.priority] for c in CLASSES])
    labels = [f"priority {c.priority}" for c in CLASSES]
    check_inside("priority", priority_waits(CLASSES), np.array(estimates), labels)


@pytest.mark.parametrize("study", STUDIES)
@pytest.mark.parametrize("policy", ["sjf", "sjf_backfill"])
def test_sjf_matches_the_continuous_priority_formula(sim, policy: str, study: Study):  # type: ignore[no-untyped-def]
    """Oracle: mean wait of jobs with sizes in three bands (shortest third, middle third,
    longest third of Exp(1)), from W(x) = W0 / (1 - rho(x))^2 at load 0.7.

    Tolerance: each band's formula inside the 99.67 % Student-t interval of the
    per-replication band means.
    """
    rate_h = 0.7
    edges = list(stats.expon.ppf([0.0, 1 / 3, 2 / 3]))
    bands = [(edges[0], edges[1]), (edges[1], edges[2]), (edges[2], np.inf)]
    classes = [ClassSpec(0, rate_h, Service.exponential(1.0))]
    runs = replicate(sim, policy, classes, study)
    estimates = []
    for jobs in runs:
        assert jobs["start_h"].notna().all(), "a measured job never started"
        size = jobs["work_ref_card_h"]
        estimates.append([jobs.loc[(size >= a) & (size < b), "wait_h"].mean() for a, b in bands])
    labels = ["shortest third", "middle third", "longest third"]
    expected = sjf_band_waits(rate_h, 1.0, bands)
    check_inside(policy, expected, np.array(estimates), labels)


@pytest.mark.parametrize("study", STUDIES)
def test_preemptive_resume_priority_matches_kleinrock(sim, study: Study):  # type: ignore[no-untyped-def]
    """Oracle: T_k = E[S_k] / (1 - sigma_{k-1}) + R_k / ((1 - sigma_{k-1})(1 - sigma_k)),
    mean time from submit to end per class, with checkpoints every 1e-7 h and no restart
    overhead (preemptive resume).

    Tolerance: each class's formula inside the 99.67 % Student-t interval of the
    per-replication class mean sojourn times. Also exact: the most urgent class is never
    stopped, and work redone per preemption is below the checkpoint interval.
    """
    runs = replicate(
        sim,
        "priority_preemptive",
        CLASSES,
        study,
        checkpoint_interval_h=CHECKPOINT_H,
        restart_overhead_h=0.0,
    )
    estimates = []
    for jobs in runs:
        assert jobs["end_h"].notna().all(), "a measured job never finished"
        top = jobs[jobs["priority"] == CLASSES[0].priority]
        assert (top["preemptions"] == 0).all()
        stopped = jobs[jobs["preemptions"] > 0]
        assert len(stopped) > 0, "no preemption happened; the case tests nothing"
        assert (
            stopped["lost_work_ref_card_h"] <= stopped["preemptions"] * CHECKPOINT_H * (1 + 1e-6)
        ).all()
        sojourn = jobs["end_h"] - jobs["submit_h"]
        means = sojourn.groupby(jobs["priority"]).mean()
        estimates.append([means[c.priority] for c in CLASSES])
    labels = [f"priority {c.priority}" for c in CLASSES]
    check_inside("priority_preemptive", preemptive_sojourns(CLASSES), np.array(estimates), labels)
