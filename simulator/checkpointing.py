"""Checkpoint/restart arithmetic: intervals, segment layout and closed-form expectations.

The engine's model of a run segment (hours of wall time from the segment's start):

* first ``restart_h`` of restart overhead (zero for the job's first segment);
* then compute in pieces of ``interval_h``, each followed by a blocking checkpoint write
  of ``write_h``; the last piece (what is left of the job) writes no checkpoint.

A failure at any moment (during a restart, computation or write) loses the work since
the last *completed* checkpoint. With failures a Poisson process of rate ``rate_per_h``
(a job of ``n`` cards: ``n`` times the per-card rate) and ``downtime_h`` between a
failure and the restart, a piece of ``x`` hours (computation plus its write) started
afresh takes on average (Daly 2006, eq. 9 with exact exponentials)::

    E[x] = (1 / rate + downtime) * exp(rate * restart) * (exp(rate * x) - 1)

and the whole job the sum over its pieces (:func:`expected_run_h`). The interval that
minimises it is found numerically (:func:`optimal_interval`); :func:`young_interval`
(Young 1974) and :func:`daly_interval` (Daly 2006, higher order) are the usual
approximations, the latter used by ``checkpoint_interval_h: young_daly``.
"""

from __future__ import annotations

import math

from scipy.optimize import minimize_scalar


def young_interval(write_h: float, mtti_h: float) -> float:
    """Young's first-order optimum sqrt(2 C M): checkpoint write C, mean time to interrupt M."""
    return math.sqrt(2.0 * write_h * mtti_h)


def daly_interval(write_h: float, mtti_h: float) -> float:
    """Daly's higher-order optimum of the compute time between checkpoints (hours).

    ``sqrt(2CM) [1 + sqrt(C/2M)/3 + (C/2M)/9] - C`` for ``C < 2M``, else ``M``. A zero
    write cost gives zero (checkpoint continuously); callers treat that as "no loss".
    """
    if write_h <= 0.0:
        return 0.0
    if write_h >= 2.0 * mtti_h:
        return mtti_h
    r = write_h / (2.0 * mtti_h)
    return math.sqrt(2.0 * write_h * mtti_h) * (1.0 + math.sqrt(r) / 3.0 + r / 9.0) - write_h


def checkpoints_in(compute_h: float, interval_h: float) -> int:
    """Checkpoint writes while computing ``compute_h`` hours: one after each full interval
    except the last piece (a job that ends needs no checkpoint)."""
    if interval_h <= 0.0 or compute_h <= interval_h:
        return 0
    return math.ceil(compute_h / interval_h * (1.0 - 1e-12)) - 1


def expected_piece_h(
    x_h: float, rate_per_h: float, restart_h: float, downtime_h: float = 0.0
) -> float:
    """Expected wall time to complete a piece of ``x_h`` hours started afresh."""
    if rate_per_h <= 0.0:
        return x_h
    return (
        (1.0 / rate_per_h + downtime_h)
        * math.exp(rate_per_h * restart_h)
        * math.expm1(rate_per_h * x_h)
    )


def expected_run_h(
    compute_h: float,
    interval_h: float | None,
    write_h: float,
    restart_h: float,
    rate_per_h: float,
    downtime_h: float = 0.0,
) -> float:
    """Expected wall time of a job of ``compute_h`` hours of computation, as the engine
    lays it out (checkpoints after each full interval except the last piece)."""
    if not interval_h:
        return expected_piece_h(compute_h, rate_per_h, restart_h, downtime_h)
    full = checkpoints_in(compute_h, interval_h)
    last = compute_h - full * interval_h
    piece = expected_piece_h(interval_h + write_h, rate_per_h, restart_h, downtime_h)
    return full * piece + expected_piece_h(last, rate_per_h, restart_h, downtime_h)


def optimal_interval(
    compute_h: float,
    write_h: float,
    restart_h: float,
    rate_per_h: float,
    downtime_h: float = 0.0,
) -> float:
    """The checkpoint interval (hours of compute) minimising the expected run time.

    Minimises the smooth form ``compute / tau * E[tau + write]`` (every piece the same
    length), whose optimum does not depend on where the last piece ends.
    """
    if rate_per_h <= 0.0 or write_h <= 0.0:
        return compute_h

    def cost(log_tau: float) -> float:
        tau = math.exp(log_tau)
        return compute_h / tau * expected_piece_h(tau + write_h, rate_per_h, restart_h, downtime_h)

    guess = daly_interval(write_h, 1.0 / rate_per_h)
    lo, hi = math.log(guess / 50.0), math.log(min(guess * 50.0, max(compute_h, guess) * 2))
    res = minimize_scalar(cost, bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
    return float(math.exp(res.x))
