"""A plain SimPy model of one FIFO pool of cards: the yardstick for the engine's speed.

The model is written the way SimPy's documentation writes such models: one process per
job, and the pool is a ``simpy.Container`` holding the free cards. A job process asks for
its cards, holds them for its run time and puts them back. ``Container.get`` requests are
served in the order they were made, and the container stops at the first request that
does not fit, so the queue is FIFO with head-of-line blocking, like the engine's ``fifo``
policy. The container counts cards only: there are no servers or pods, so a job starts
as soon as enough cards are free anywhere (the engine also needs the cards in a usable
shape, which can make it start some jobs later).

Inputs are numpy columns generated beforehand (the benchmark takes them from the
engine's own job source, so both see the same jobs); only ``env.run`` and the
conversion of the columns to Python lists are timed (wall clock and process CPU time).

Run alone: ``python benchmarks/baseline_simpy.py --cards 330000 --load 0.95 --jobs 100000``.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass

import numpy as np
import simpy


@dataclass
class BaselineRun:
    """Outcome of one baseline run (times in hours, wall time in seconds)."""

    jobs: int
    started: int
    finished: int
    events: int
    wall_s: float
    cpu_s: float
    utilisation: float


def _job(env, pool, cards, runtime, index, start):  # type: ignore[no-untyped-def]
    yield pool.get(cards)
    start[index] = env.now
    yield env.timeout(runtime)
    yield pool.put(cards)


def _arrivals(env, pool, submit, cards, runtime, start):  # type: ignore[no-untyped-def]
    for i, (t, n, d) in enumerate(zip(submit, cards, runtime, strict=True)):
        if t > env.now:
            yield env.timeout(t - env.now)
        env.process(_job(env, pool, n, d, i, start))


def run(
    submit_h: np.ndarray,
    cards: np.ndarray,
    runtime_h: np.ndarray,
    total_cards: int,
    horizon_h: float,
    measure_from_h: float = 0.0,
) -> BaselineRun:
    """Simulate the jobs on a pool of ``total_cards`` cards up to ``horizon_h``.

    Args:
        submit_h: submit times, sorted ascending.
        cards: gang size of each job.
        runtime_h: run time of each job once started.
        total_cards: size of the pool.
        horizon_h: end of the simulation.
        measure_from_h: utilisation is busy card-hours over ``[measure_from_h, horizon_h)``
            divided by the card-hours in that window.
    """
    wall = time.perf_counter()
    cpu = time.process_time()
    env = simpy.Environment()
    pool = simpy.Container(env, capacity=total_cards, init=total_cards)
    n = len(submit_h)
    start = [math.nan] * n
    env.process(_arrivals(env, pool, submit_h.tolist(), cards.tolist(), runtime_h.tolist(), start))
    env.run(until=horizon_h)
    wall_s = time.perf_counter() - wall
    cpu_s = time.process_time() - cpu
    events = next(env._eid)  # SimPy numbers every scheduled event

    begin = np.asarray(start, dtype=float)
    started = ~np.isnan(begin)
    end = begin + runtime_h
    lo = np.maximum(begin[started], measure_from_h)
    hi = np.minimum(end[started], horizon_h)
    busy = float(np.sum(np.maximum(hi - lo, 0.0) * cards[started]))
    window = total_cards * (horizon_h - measure_from_h)
    return BaselineRun(
        jobs=n,
        started=int(started.sum()),
        finished=int(np.sum(end[started] <= horizon_h)),
        events=events,
        wall_s=wall_s,
        cpu_s=cpu_s,
        utilisation=busy / window if window > 0 else math.nan,
    )


def main() -> None:
    from bench_engine import Case, fifo_columns

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=330_000)
    parser.add_argument("--load", type=float, default=0.95)
    parser.add_argument("--jobs", type=int, default=100_000)
    args = parser.parse_args()
    case = Case("fifo", args.cards, args.load, args.jobs)
    cols = fifo_columns(case)
    r = run(
        cols["submit_h"],
        cols["cards"],
        cols["runtime_h"],
        args.cards,
        cols["horizon_h"],
        cols["measure_from_h"],
    )
    print(
        f"{case.name}: {r.jobs} jobs, {r.wall_s:.2f} s wall, {r.cpu_s:.2f} s CPU, "
        f"{r.jobs / r.cpu_s:,.0f} jobs/s, {r.events / r.cpu_s:,.0f} events/s (CPU time), "
        f"started {r.started}, finished {r.finished}, utilisation {r.utilisation:.3f}"
    )


if __name__ == "__main__":
    main()
