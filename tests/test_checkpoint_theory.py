"""Checkpoint/restart against theory: the closed forms, and the engine against them.

Part 1 checks :mod:`simulator.checkpointing` against oracles that do not use it:

* ``expected_piece_h`` against a Monte Carlo of the renewal process written in numpy
  (a piece of ``x`` hours; a failure at rate ``lambda`` costs the time so far plus a
  downtime ``D`` and a retry of ``R + x`` hours), and ``expected_run_h`` against a Monte
  Carlo of the engine's segment layout itself (restart, then pieces of ``T`` compute
  plus a ``C`` write, the last piece writing none; a failure keeps the completed
  checkpoints). Tolerance: the closed form lies in the two-sided 99 % interval of the
  Monte Carlo mean (normal quantile; 200,000 draws).
* ``optimal_interval`` against a brute-force minimum of the cost on a fine log grid,
  and Young's and Daly's intervals against it when ``C / M`` is small: Young's relative
  error is first order, ``(2/3) sqrt(C / 2M)`` = 0.471 sqrt(C/M) (accepted in
  0.40-0.55 sqrt(C/M)), Daly's is of second order (accepted below ``(C/M)^2 / 5`` plus
  the optimiser's tolerance of 2e-6).
* ``checkpoints_in`` edge cases: exact multiples in floating point, shorter jobs, no
  interval.

Part 2 is the validation of the engine. Oracle: ``expected_run_h(W, T, C, R, lambda)``,
the exact expectation (not the Young/Daly approximation) of the wall time of a job of
``W`` hours of computation with checkpoint interval ``T``, write ``C``, restart ``R`` and
interruptions at rate ``lambda``, downtime 0. Construction: one run of many identical
independent jobs (1,024 reference cards each, so ``rate_per_card_h = lambda / 1024``)
submitted at fixed gaps into a pool of many job-sized slots, with hot spares and a
0.01-hour repair so that every interrupted job restarts at once on a spare. The premise
is checked, not assumed: every job finished, none waited, every interruption restarted on
a spare (``spare_restarts == interruptions``), and the card-hours add up (useful = busy -
lost, so goodput = total work / total busy card-hours). The run time of a job is
``end_h - start_h``. Tolerance: ``expected_run_h`` lies in the two-sided 99 % Student-t
interval of the mean run time over the jobs of the run (2,000 jobs per setting in CI,
40,000 in the ``slow`` study). A correct engine fails each such check with probability
about 1 %; a failure calls for the ``slow`` study, never for another seed.

The optimum: intervals ``T* x 2^(k/2)``, k = -2..2 (``T*`` = ``optimal_interval``),
each a run of 2,000 jobs with the same seed; the grid point with the smallest simulated
mean must be ``T*`` or a neighbour (within a factor sqrt 2), and the simulated mean at
``T*`` must exceed the best grid mean by less than the 99 % interval half-width of their
difference (normal quantile, variances added). The ``slow`` study uses ``2^(k/4)``,
k = -4..4, and 20,000 jobs per point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from simulator import run
from simulator.checkpointing import (
    checkpoints_in,
    daly_interval,
    expected_piece_h,
    expected_run_h,
    optimal_interval,
    young_interval,
)

CONFIDENCE = 0.99
Z = float(stats.norm.ppf(0.5 + CONFIDENCE / 2))
MC_DRAWS = 200_000
SEED = 20250101


# --------------------------------------------------------------------------- part 1: oracles


def mc_piece(
    x: float, rate: float, restart: float, downtime: float, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Wall times of ``n`` pieces of ``x`` hours: the first attempt runs ``x``, every
    retry ``restart + x``; a failure before the attempt ends costs ``downtime`` more."""
    total = np.zeros(n)
    length = np.full(n, x)
    active = np.arange(n)
    while active.size:
        fail = rng.exponential(1.0 / rate, active.size)
        span = length[active]
        ok = fail >= span
        total[active] += np.where(ok, span, fail + downtime)
        length[active] = restart + x
        active = active[~ok]
    return total


def mc_job(
    compute: float,
    interval: float | None,
    write: float,
    restart: float,
    rate: float,
    downtime: float,
    n: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Wall times of ``n`` jobs laid out as the engine does, segment by segment.

    A segment starts with ``restart`` hours (none for the first), then computes what is
    left in pieces of ``interval`` hours each followed by a ``write``, the last piece
    writing none. A failure at time ``f`` into the segment keeps every checkpoint whose
    write ended by ``f``.
    """
    done = np.zeros(n)  # hours of computation kept
    total = np.zeros(n)
    overhead = np.zeros(n)
    active = np.arange(n)
    while active.size:
        left = compute - done[active]
        if interval:
            writes = np.maximum(np.ceil(left / interval * (1 - 1e-12)) - 1, 0)
        else:
            writes = np.zeros(active.size)
        duration = overhead[active] + left + writes * write
        fail = rng.exponential(1.0 / rate, active.size)
        ok = fail >= duration
        total[active] += np.where(ok, duration, fail + downtime)
        if interval:
            into = np.maximum(fail - overhead[active], 0.0)
            kept = np.minimum(np.floor(into / (interval + write)), writes)
            done[active] += np.where(ok, 0.0, kept * interval)
        overhead[active] = restart
        active = active[~ok]
    return total


def assert_in_interval(samples: np.ndarray, expected: float, what: str) -> None:
    mean = float(samples.mean())
    half = Z * float(samples.std(ddof=1)) / math.sqrt(samples.size)
    assert abs(mean - expected) <= half, (
        f"{what}: closed form {expected:.5f} outside the {CONFIDENCE:.0%} interval "
        f"{mean:.5f} +- {half:.5f} of {samples.size} draws"
    )


@pytest.mark.parametrize(
    ("x", "rate", "restart", "downtime"),
    [(1.0, 0.5, 0.0, 0.0), (2.0, 0.3, 0.25, 0.0), (0.5, 1.0, 0.1, 0.4), (3.0, 0.2, 0.5, 1.0)],
)
def test_expected_piece_matches_monte_carlo(x, rate, restart, downtime) -> None:
    rng = np.random.default_rng(SEED)
    samples = mc_piece(x, rate, restart, downtime, MC_DRAWS, rng)
    assert_in_interval(
        samples, expected_piece_h(x, rate, restart, downtime), f"piece x={x} rate={rate}"
    )


@pytest.mark.parametrize(
    ("compute", "interval", "write", "restart", "rate", "downtime"),
    [
        (10.0, 1.0, 0.1, 0.2, 0.2, 0.0),  # interval divides the work
        (10.0, 3.0, 0.2, 0.5, 0.1, 0.0),  # last piece of 1 h
        (10.0, 0.7, 0.05, 0.1, 0.5, 0.5),  # with downtime
        (6.0, None, 0.0, 0.3, 0.1, 0.0),  # no checkpoints: start over
    ],
)
def test_expected_run_matches_monte_carlo_of_the_layout(
    compute, interval, write, restart, rate, downtime
) -> None:
    rng = np.random.default_rng(SEED + 1)
    samples = mc_job(compute, interval, write, restart, rate, downtime, MC_DRAWS, rng)
    expected = expected_run_h(compute, interval, write, restart, rate, downtime)
    assert_in_interval(samples, expected, f"job W={compute} T={interval}")


def test_expected_run_without_failures_is_compute_plus_writes() -> None:
    assert expected_run_h(10.0, 3.0, 0.2, 0.5, 0.0) == pytest.approx(10.0 + 3 * 0.2)
    assert expected_run_h(10.0, 2.5, 0.2, 0.5, 0.0) == pytest.approx(10.0 + 3 * 0.2)
    assert expected_run_h(10.0, None, 0.2, 0.5, 0.0) == 10.0
    # No checkpoints: one piece of the whole job.
    assert expected_run_h(8.0, None, 0.0, 0.3, 0.1, 0.2) == expected_piece_h(8.0, 0.1, 0.3, 0.2)


def _smooth_cost(tau: np.ndarray, write: float, restart: float, rate: float, down: float):
    """Expected wall time per hour of computation with pieces of ``tau`` (numpy)."""
    return (1.0 / rate + down) * np.exp(rate * restart) * np.expm1(rate * (tau + write)) / tau


@pytest.mark.parametrize(
    ("write", "restart", "rate", "downtime"),
    [(0.05, 0.28, 0.49, 0.0), (0.1, 0.0, 0.2, 0.0), (0.5, 1.0, 0.05, 2.0), (0.01, 0.1, 2.0, 0.0)],
)
def test_optimal_interval_is_the_brute_force_minimum(write, restart, rate, downtime) -> None:
    best = optimal_interval(1e6, write, restart, rate, downtime)
    young = young_interval(write, 1.0 / rate)
    taus = young * np.exp(np.linspace(-3.0, 3.0, 600_001))  # steps of 1e-5 relative
    grid = taus[np.argmin(_smooth_cost(taus, write, restart, rate, downtime))]
    assert best == pytest.approx(grid, rel=2e-5)
    # The optimum depends on neither the restart cost nor the downtime nor the job length.
    assert optimal_interval(50.0, write, 0.0, rate) == pytest.approx(best, rel=1e-5)
    # For a long job the exact layout gains nothing over the smooth optimum.
    w = 1000.0
    exact = [
        expected_run_h(w, t, write, restart, rate, downtime)
        for t in grid * np.exp(np.linspace(-0.3, 0.3, 601))
    ]
    assert expected_run_h(w, best, write, restart, rate, downtime) <= min(exact) * (1 + 1e-3)


@pytest.mark.parametrize("ratio", [1e-4, 1e-3, 1e-2])
def test_young_and_daly_approach_the_optimum_for_small_write_cost(ratio: float) -> None:
    mtti = 3.0
    write = ratio * mtti
    best = optimal_interval(1e6, write, 0.0, 1.0 / mtti)
    young_error = young_interval(write, mtti) / best - 1.0
    daly_error = daly_interval(write, mtti) / best - 1.0
    assert 0.40 * math.sqrt(ratio) <= young_error <= 0.55 * math.sqrt(ratio)
    assert abs(daly_error) <= ratio**2 / 5 + 2e-6


def test_interval_edge_cases() -> None:
    assert daly_interval(0.0, 5.0) == 0.0
    assert daly_interval(12.0, 5.0) == 5.0  # C >= 2M: checkpoint once per MTTI
    assert young_interval(0.1, 5.0) == pytest.approx(1.0)
    assert optimal_interval(40.0, 0.1, 0.2, 0.0) == 40.0  # no failures: never checkpoint
    assert optimal_interval(40.0, 0.0, 0.2, 0.3) == 40.0  # free writes: "no loss"
    assert expected_piece_h(2.5, 0.0, 1.0) == 2.5


@pytest.mark.parametrize(
    ("compute", "interval", "writes"),
    [
        (0.5, 1.0, 0),  # shorter than one interval
        (1.0, 1.0, 0),  # exactly one interval: the only piece writes nothing
        (1.0 + 1e-9, 1.0, 1),
        (3.0, 1.0, 2),
        (3.5, 1.0, 3),
        (0.9, 0.3, 2),  # 0.9 / 0.3 = 3.0000000000000004 in floating point
        (10.0, 3.0, 3),
        (10.0, 2.5, 3),
        (1e6, 0.1, 9_999_999),
        (10.0, 0.0, 0),  # no interval, no checkpoint
    ],
)
def test_checkpoints_in(compute: float, interval: float, writes: int) -> None:
    assert checkpoints_in(compute, interval) == writes


def test_checkpoints_in_leaves_a_last_piece_of_at_most_one_interval() -> None:
    for interval in (0.1, 0.3, 0.7, 1.0 / 3.0, 2.9):
        for k in range(1, 60):
            compute = k * interval
            assert checkpoints_in(compute, interval) == k - 1, (compute, interval)
            for c in (compute * (1 - 1e-9), compute * (1 + 1e-9)):
                writes = checkpoints_in(c, interval)
                last = c - writes * interval
                assert 0.0 < last <= interval * (1 + 1e-9), (c, interval, writes)


# --------------------------------------------------------------------------- part 2: engine

CARDS = 1024
REPAIR_H = 0.01
SPARE_FRACTION = 0.02


@dataclass(frozen=True)
class Setting:
    """One job shape: compute ``work_h`` on reference cards, interval, write, restart, and
    ``rate`` interruptions per hour for the whole job."""

    work_h: float
    interval: float | str | None
    write: float
    restart: float
    rate: float

    @property
    def interval_h(self) -> float | None:
        if self.interval == "young_daly":
            return daly_interval(self.write, 1.0 / self.rate)
        return None if self.interval is None else float(self.interval)

    @property
    def expected_h(self) -> float:
        return expected_run_h(self.work_h, self.interval_h, self.write, self.restart, self.rate)

    def __str__(self) -> str:
        return f"W={self.work_h} T={self.interval} C={self.write} R={self.restart} rate={self.rate}"


def identical_jobs(sim: SimpleNamespace, s: Setting, n_jobs: int, seed: int = SEED):
    """Run ``n_jobs`` identical jobs that never queue (see the module docstring); return
    the per-job table and the summary after checking the premise."""
    gap = s.expected_h / 4.0  # about four jobs running at a time
    slots = 24  # job-sized slots: the 25th concurrent job would wait (checked below)
    servers = math.ceil(slots * CARDS / 8 / (1.0 - SPARE_FRACTION)) + 1
    resilience: dict[str, object] = {
        "checkpoint_write_h": s.write,
        "restart_overhead_h": s.restart,
    }
    if s.interval is not None:
        resilience["checkpoint_interval_h"] = s.interval
    scenario = sim.scenario(
        seed=seed,
        horizon_days=(n_jobs * gap + 60 * s.expected_h) / 24.0,
        centres=[{"name": "c1", "pools": [sim.pool(servers=servers, servers_per_pod=128)]}],
        workload={"classes": [sim.job_class(gang_sizes=(CARDS,), **resilience)]},
        failures={
            "rate_per_card_h": s.rate / CARDS,
            "repair_h": {"kind": "constant", "value": REPAIR_H},
            "hot_spare_fraction": SPARE_FRACTION,
            "idle_failures": False,
        },
    )
    jobs = [sim.job(i * gap, CARDS, s.work_h) for i in range(n_jobs)]
    result = sim.run_jobs(scenario, jobs, check_invariants=False).result
    table, summary = result.jobs, result.summary
    # The premise: every job ran to the end without waiting, restarting on hot spares.
    assert (table["state"] == "done").all(), f"{s}: some jobs did not finish"
    assert (table["wait_h"] == 0.0).all(), f"{s}: some jobs waited"
    interruptions = int(table["failures"].sum())
    assert interruptions > 0
    assert summary["interruptions"] == interruptions == int(table["preemptions"].sum())
    assert summary["spare_restarts"] == interruptions, f"{s}: a job restarted off a spare"
    # Card-hours add up: busy = useful + lost, useful = the work.
    busy = float(table["run_h"].sum()) * CARDS
    assert summary["goodput"] == pytest.approx(n_jobs * s.work_h * CARDS / busy, rel=1e-9)
    return table, summary


def assert_run_time(table, s: Setting) -> None:
    run_h = table["run_h"].to_numpy()
    n = run_h.size
    mean = float(run_h.mean())
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * run_h.std(ddof=1) / math.sqrt(n)
    assert abs(mean - s.expected_h) <= half, (
        f"{s}: expected_run_h {s.expected_h:.4f} h outside the {CONFIDENCE:.0%} t-interval "
        f"{mean:.4f} +- {half:.4f} h of {n} jobs"
    )


SETTINGS = [
    pytest.param(Setting(10.0, 1.0, 0.1, 0.2, 0.2), id="T1-mtti5h"),
    pytest.param(Setting(10.0, 0.5, 0.1, 0.2, 0.5), id="T0.5-mtti2h"),
    pytest.param(Setting(10.0, 3.0, 0.2, 0.5, 0.1), id="T3-last-piece-1h"),
    pytest.param(Setting(10.0, None, 0.0, 0.2, 0.05), id="no-checkpoints"),
    pytest.param(Setting(10.0, "young_daly", 0.1, 0.25, 0.4), id="young-daly"),
]
SLOW_SETTINGS = [
    pytest.param(Setting(10.0, 0.3, 0.05, 0.3, 1.0), id="T0.3-mtti1h"),
    pytest.param(Setting(10.0, 2.0, 0.2, 0.0, 0.25), id="no-restart-cost"),
    pytest.param(Setting(10.0, 1.0, 0.0, 0.5, 0.3), id="free-writes"),
]


@pytest.mark.parametrize("setting", SETTINGS)
def test_engine_run_time_matches_expected_run_h(sim, setting: Setting) -> None:
    table, _ = identical_jobs(sim, setting, 2_000)
    assert_run_time(table, setting)


@pytest.mark.slow
@pytest.mark.parametrize("setting", SETTINGS + SLOW_SETTINGS)
def test_engine_run_time_matches_expected_run_h_slow(sim, setting: Setting) -> None:
    table, _ = identical_jobs(sim, setting, 40_000, seed=SEED + 7)
    assert_run_time(table, setting)


def _optimum_study(sim, steps: list[float], n_jobs: int) -> None:
    work, write, restart, rate = 10.0, 0.1, 0.2, 0.5
    best = optimal_interval(work, write, restart, rate)
    means, sems = [], []
    for factor in steps:
        s = Setting(work, best * factor, write, restart, rate)
        run_h = identical_jobs(sim, s, n_jobs)[0]["run_h"].to_numpy()
        means.append(float(run_h.mean()))
        sems.append(float(run_h.std(ddof=1)) / math.sqrt(run_h.size))
    centre = steps.index(1.0)
    lowest = int(np.argmin(means))
    assert abs(lowest - centre) <= 1, (
        f"simulated optimum at {best * steps[lowest]:.3f} h, analytic {best:.3f} h; "
        f"means {np.round(means, 3).tolist()}"
    )
    margin = Z * math.hypot(sems[centre], sems[lowest])
    assert means[centre] - means[lowest] <= margin, (means[centre], means[lowest], margin)


def test_simulated_optimum_interval_is_the_analytic_one(sim) -> None:
    _optimum_study(sim, [2.0 ** (k / 2) for k in range(-2, 3)], 2_000)


@pytest.mark.slow
def test_simulated_optimum_interval_is_the_analytic_one_slow(sim) -> None:
    _optimum_study(sim, [2.0 ** (k / 4) for k in range(-4, 5)], 20_000)


def test_campaign_failure_free_time_uses_the_young_daly_layout(sim) -> None:
    """``campaign_days_failure_free``: the first start plus the computation and the
    checkpoint writes at Daly's interval for the campaign's own failure rate."""
    rate_per_card = 5e-4
    scenario = sim.scenario(
        horizon_days=30,
        centres=[{"name": "c1", "pools": [sim.pool(servers=40)]}],
        workload={
            "classes": [],
            "campaigns": [
                {
                    "name": "big",
                    "submit": sim.day(0),
                    "flop": 2.0e21,
                    "cards": 256,
                    "card_types": ["A100"],
                    "checkpoint_interval_h": "young_daly",
                    "checkpoint_write_h": 0.1,
                    "restart_overhead_h": 0.2,
                }
            ],
        },
        failures={
            "rate_per_card_h": rate_per_card,
            "repair_h": {"kind": "constant", "value": 1.0},
            "hot_spare_fraction": 0.1,
        },
    )
    result = run(scenario, check_invariants=True)
    compute_h = 2.0e21 / (256 * 312e12 * 0.40 * 3600)
    interval = daly_interval(0.1, 1.0 / (256 * rate_per_card))
    ideal_h = compute_h + checkpoints_in(compute_h, interval) * 0.1
    assert result.summary["campaign_days_failure_free[name=big]"] == pytest.approx(ideal_h / 24)
    assert result.summary["campaign_days[name=big]"] >= ideal_h / 24 * (1 - 1e-12)


def test_one_server_job_restarts_on_a_hot_spare(sim) -> None:
    """A job of exactly one whole server holds whole servers: with spares in the pool
    an interruption should restart it at once on one, as for larger jobs."""
    scenario = sim.scenario(
        horizon_days=5,
        centres=[{"name": "c1", "pools": [sim.pool(servers=8)]}],
        workload={"classes": [sim.job_class(checkpoint_interval_h=1.0)]},
        failures={
            "rate_per_card_h": 0.05,
            "repair_h": {"kind": "constant", "value": 0.01},
            "hot_spare_fraction": 0.5,
            "idle_failures": False,
        },
    )
    jobs = [sim.job(10.0 * i, 8, 5.0) for i in range(10)]
    summary = sim.run_jobs(scenario, jobs).result.summary
    assert summary["interruptions"] > 0
    assert summary["spare_restarts"] == summary["interruptions"]
