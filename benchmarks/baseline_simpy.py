"""A plain SimPy model of one FIFO pool of cards: the yardstick for the engine's speed.

The model is written the way SimPy's documentation writes such models: one process per
job, and the pool is a ``simpy.Container`` holding the free cards. A job process asks for
its cards, holds them for its run time and puts them back. ``Container.get`` requests are
served in the order they were made, and the container stops at the first request that
does not fit, so the queue is FIFO with head-of-line blocking, like the engine's ``fifo``
policy. The container counts cards only: there are no servers or pods, so a job starts
as soon as enough cards are free anywhere (the engine also needs the cards in a usable
shape, which can make it start some jobs later).

The issue's other reference points come in the same module, each timed the same way:
:func:`scheduler_loop`, bare SimPy with one arrival process and a callback on each job's
end timeout that starts whoever now fits; :func:`heapq_loop`, the same without SimPy (a
``heapq`` of job ends merged with the sorted arrivals); these three start every job at
the same time and differ only in what an event costs. :func:`placed_heapq_loop` is
``heapq_loop`` placing jobs with the engine's own pools, which is the engine's model
(it starts every job when the engine's ``fifo`` policy does) with nothing but the event
loop and the placement; :func:`recorded_heapq_loop` adds the engine's job objects and
per-job records. ``tests/test_benchmark_baselines.py`` checks these claims. Each loop
is written out whole on purpose, the record row as the engine writes it included:
sharing code between them would put calls into the lighter loops and change what
they measure.

Inputs are numpy columns generated beforehand (the benchmark takes them from the
engine's own job source, so both see the same jobs); only the event loop and the
conversion of the columns to Python lists are timed (wall clock and process CPU time).

Run alone: ``python benchmarks/baseline_simpy.py --cards 330000 --load 0.95 --jobs 100000``
(``--model loop``, ``heapq``, ``placed`` or ``recorded`` for the others).
"""

from __future__ import annotations

import argparse
import math
import time
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from heapq import heappop, heappush
from typing import Any

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


CARDS_PER_SERVER = 8  # the benchmark's servers and pods (as in bench_engine)
SERVERS_PER_POD = 32

# ------------------------------------------------------------------ the models
# Each takes the jobs as Python lists and returns every job's start time (nan if it
# never started before the horizon) and the number of events scheduled.

Model = Callable[[list[float], list[int], list[float], int, float], tuple[list[float], int]]


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


def process_per_job(
    submit: list[float], cards: list[int], runtime: list[float], total_cards: int, horizon: float
) -> tuple[list[float], int]:
    """The benchmark's baseline: one process per job, the free cards a ``Container``."""
    env = simpy.Environment()
    pool = simpy.Container(env, capacity=total_cards, init=total_cards)
    start = [math.nan] * len(submit)
    env.process(_arrivals(env, pool, submit, cards, runtime, start))
    env.run(until=horizon)
    return start, next(env._eid)  # SimPy numbers every scheduled event


def scheduler_loop(
    submit: list[float], cards: list[int], runtime: list[float], total_cards: int, horizon: float
) -> tuple[list[float], int]:
    """Bare SimPy: one arrival process; each start schedules a timeout whose callback
    returns the cards and starts, in submit order, every waiting job that now fits."""
    env = simpy.Environment()
    start = [math.nan] * len(submit)
    waiting: deque[int] = deque()
    free = total_cards

    def start_fitting() -> None:
        nonlocal free
        while waiting and cards[waiting[0]] <= free:
            i = waiting.popleft()
            free -= cards[i]
            start[i] = env.now
            env.timeout(runtime[i], i).callbacks.append(job_ended)

    def job_ended(event: Any) -> None:
        nonlocal free
        free += cards[event.value]
        start_fitting()

    def arrivals() -> Generator[simpy.Event, Any, None]:
        for i, t in enumerate(submit):
            if t > env.now:
                yield env.timeout(t - env.now)
            waiting.append(i)
            start_fitting()

    env.process(arrivals())
    env.run(until=horizon)
    return start, next(env._eid)


def heapq_loop(
    submit: list[float], cards: list[int], runtime: list[float], total_cards: int, horizon: float
) -> tuple[list[float], int]:
    """No SimPy: a heap of (end time, job) merged with the sorted arrivals."""
    n = len(submit)
    start = [math.nan] * n
    waiting: deque[int] = deque()
    ends: list[tuple[float, int]] = []
    free = total_cards
    arrived = events = 0
    while True:
        at = submit[arrived] if arrived < n else math.inf
        if ends and ends[0][0] < at:
            now, i = heappop(ends)
            if now >= horizon:
                break
            free += cards[i]
        elif at < horizon:
            now = at
            waiting.append(arrived)
            arrived += 1
        else:
            break
        events += 1
        while waiting and cards[waiting[0]] <= free:
            i = waiting.popleft()
            free -= cards[i]
            start[i] = now
            heappush(ends, (now + runtime[i], i))
    return start, events


def _engine_pool(total_cards: int) -> Any:
    """One of the engine's pools of ``total_cards`` cards, default placement rules."""
    from simulator.fleet import Pool

    pool = Pool(
        index=0,
        centre="centre-0",
        centre_index=0,
        name="pool-0",
        card_type="REF",
        cards_per_server=CARDS_PER_SERVER,
        servers_per_pod=SERVERS_PER_POD,
        speed=1.0,
    )
    pool.add_servers(total_cards // CARDS_PER_SERVER)
    return pool


def placed_heapq_loop(
    submit: list[float], cards: list[int], runtime: list[float], total_cards: int, horizon: float
) -> tuple[list[float], int]:
    """:func:`heapq_loop` placing each job with the engine's own :class:`~simulator.fleet.Pool`
    (servers of 8 cards, pods of 32, the default placement rules) instead of counting
    cards: a different model from the other three (a job needs its cards in a usable
    shape), the same as the engine's ``fifo`` policy on one pool. Nothing else of the
    engine takes part (no job objects, policy, records or statistics)."""
    pool = _engine_pool(total_cards)
    can_fit, allocate, release = pool.can_fit, pool.allocate, pool.release
    n = len(submit)
    start = [math.nan] * n
    waiting: deque[int] = deque()
    ends: list[tuple[float, int, Any]] = []
    arrived = events = 0
    while True:
        at = submit[arrived] if arrived < n else math.inf
        if ends and ends[0][0] < at:
            now, _, placement = heappop(ends)
            if now >= horizon:
                break
            release(placement)
        elif at < horizon:
            now = at
            waiting.append(arrived)
            arrived += 1
        else:
            break
        events += 1
        while waiting and can_fit(cards[waiting[0]]):
            i = waiting.popleft()
            start[i] = now
            heappush(ends, (now + runtime[i], i, allocate(cards[i])))
    return start, events


def recorded_heapq_loop(
    submit: list[float], cards: list[int], runtime: list[float], total_cards: int, horizon: float
) -> tuple[list[float], int]:
    """:func:`placed_heapq_loop` with the engine's job objects and per-job records: each
    job is a :class:`~simulator.job.TrainingJob`, and each finished job appends the
    engine's record row, turned into the recorder's column dtype every 8,192 rows (the
    engine's chunk), with the engine's garbage-collector setting. Still no policy,
    checks, statistics or arrival stream: what the engine's per-job data costs on top of
    the placement."""
    import gc

    from simulator.engine import GC_YOUNG_THRESHOLD
    from simulator.job import TrainingJob
    from simulator.recorder import RECORD_DTYPE, STATE_DONE

    pool = _engine_pool(total_cards)
    can_fit, allocate, release = pool.can_fit, pool.allocate, pool.release
    n = len(submit)
    start = [math.nan] * n
    waiting: deque[Any] = deque()
    ends: list[tuple[float, int, Any]] = []
    rows: list[tuple[Any, ...]] = []
    chunks = []
    eligible = (0,)
    arrived = events = 0
    threshold = gc.get_threshold()
    gc.set_threshold(max(threshold[0], GC_YOUNG_THRESHOLD), *threshold[1:])
    try:
        while True:
            at = submit[arrived] if arrived < n else math.inf
            if ends and ends[0][0] < at:
                now, _, job = heappop(ends)
                if now >= horizon:
                    break
                release(job.placement)
                job.placement = None
                job.end = now
                rows.append(
                    (
                        job.id,
                        job.job_class,
                        job.tenant,
                        job.priority,
                        job.cards,
                        job.pool,
                        STATE_DONE,
                        job.submit,
                        job.start,
                        job.end,
                        job.work,
                        job.work * job.estimate_factor / job.cards,
                        job.run_start,
                        job.stops,
                        job.failures,
                        job.lost_work,
                    )
                )
                if len(rows) >= 8192:
                    chunks.append(np.array(rows, dtype=RECORD_DTYPE))
                    rows.clear()
            elif at < horizon:
                now = at
                c = cards[arrived]
                waiting.append(
                    TrainingJob(arrived, 0, 0, 0, c, now, runtime[arrived] * c, 2.0, eligible)
                )
                arrived += 1
            else:
                break
            events += 1
            while waiting and can_fit(waiting[0].cards):
                job = waiting.popleft()
                start[job.id] = job.start = job.run_start = now
                job.pool = 0
                job.placement = allocate(job.cards)
                heappush(ends, (now + job.remaining / job.cards, job.id, job))
        chunks.append(np.array(rows, dtype=RECORD_DTYPE))
    finally:
        gc.set_threshold(*threshold)
    return start, events


MODELS: dict[str, Model] = {
    "process": process_per_job,
    "loop": scheduler_loop,
    "heapq": heapq_loop,
    "placed": placed_heapq_loop,
    "recorded": recorded_heapq_loop,
}


def run(
    submit_h: np.ndarray,
    cards: np.ndarray,
    runtime_h: np.ndarray,
    total_cards: int,
    horizon_h: float,
    measure_from_h: float = 0.0,
    model: str = "process",
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
        model: ``process`` (one SimPy process per job, the benchmark's baseline),
            ``loop`` (bare SimPy with callbacks), ``heapq`` (no SimPy), ``placed``
            (``heapq`` with the engine's placement) or ``recorded`` (``placed`` with the
            engine's job objects and records).
    """
    simulate = MODELS[model]
    wall = time.perf_counter()
    cpu = time.process_time()
    start, events = simulate(
        submit_h.tolist(), cards.tolist(), runtime_h.tolist(), total_cards, horizon_h
    )
    wall_s = time.perf_counter() - wall
    cpu_s = time.process_time() - cpu

    begin = np.asarray(start, dtype=float)
    started = ~np.isnan(begin)
    end = begin + runtime_h
    lo = np.maximum(begin[started], measure_from_h)
    hi = np.minimum(end[started], horizon_h)
    busy = float(np.sum(np.maximum(hi - lo, 0.0) * cards[started]))
    window = total_cards * (horizon_h - measure_from_h)
    return BaselineRun(
        jobs=len(start),
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
    parser.add_argument("--model", choices=list(MODELS), default="process")
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
        args.model,
    )
    print(
        f"{case.name} ({args.model}): {r.jobs} jobs, {r.wall_s:.2f} s wall, {r.cpu_s:.2f} s CPU, "
        f"{r.jobs / r.cpu_s:,.0f} jobs/s, {r.events / r.cpu_s:,.0f} events/s (CPU time), "
        f"started {r.started}, finished {r.finished}, utilisation {r.utilisation:.3f}"
    )


if __name__ == "__main__":
    main()
