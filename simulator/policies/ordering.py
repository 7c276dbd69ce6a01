"""Passes shared by the policies that order the queue their own way.

A policy keeps its queued jobs in an *order* (a :class:`~simulator.policies.state.
SortedOrder` or anything with the same ``job_at``/``window``/``rank``/``discard``/
``signature`` methods) and runs one of two passes over it:

* :func:`strict_pass`: start jobs in order while the first one can start; the first job
  that cannot start blocks every later one (head-of-line blocking on the policy's order).
* :func:`backfill_pass`: EASY backfilling on the policy's order. Jobs start in order
  while they can; the first *admitted* job that cannot start (the head) gets a
  reservation exactly as in :mod:`simulator.policies.easy_backfill` (shadow time and
  extra cards on the pool where it could start earliest, by running jobs' estimates),
  and the following jobs of the order may start if they cannot delay it. An ``admit``
  test (a tenant quota, say) lets a job be passed over without blocking others.

Bounded work: a backfill pass examines at most ``lookahead`` jobs that do not start
(passed over, the head and backfill candidates). When only arrivals happened since the
previous pass (``view.capacity_freed`` is False) and the order's signature is unchanged,
jobs examined before still cannot start, so only the new arrivals that rank within the
look-ahead are examined: behind an unchanged head, as in EASY's fast path, or, when the
previous pass found no head (every job it examined started or was passed over by
``admit``, which can only stay False while no job ends), wherever they rank.

Shortcuts (``simulator.policies.state.FAST_PATHS``; they change no decision, which the
tests check against the plain passes): the head is searched for in windows of the order
fetched a few jobs at a time rather than one position at a time, and backfilling
dismisses a candidate in O(1) when its cards fit no pool now (cached per set of pools
and gang size until the next start) or fit only the reserved pool and it would delay
the head.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Hashable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from simulator.policies import state
from simulator.policies.base import Start

if TYPE_CHECKING:
    from simulator.fleet import Pool
    from simulator.job import TrainingJob
    from simulator.policies.view import SchedulerView


class JobOrder(Protocol):
    """What the passes need of a policy's order of queued jobs."""

    def job_at(self, i: int) -> TrainingJob | None: ...

    def window(self, start: int, stop: int) -> list[TrainingJob]: ...

    def rank(self, job: TrainingJob) -> int: ...

    def discard(self, job: TrainingJob) -> None: ...

    def signature(self) -> Hashable: ...


def strict_pass(
    view: SchedulerView,
    order: JobOrder,
    on_start: Callable[[TrainingJob], None] | None = None,
) -> Iterator[Start]:
    """Start jobs in ``order`` until the first one that cannot start now.

    Work: the jobs started plus one, whatever the queue length.
    """
    while True:
        job = order.job_at(0)
        if job is None:
            return
        pool = view.choose_pool(job)
        if pool is None:
            return
        order.discard(job)
        yield Start(job, pool)
        if on_start is not None:
            on_start(job)


def shadow_time(view: SchedulerView, job: TrainingJob, pool: int) -> tuple[float, int]:
    """When ``job`` could start on ``pool`` by running jobs' estimates, and the spare cards.

    Returns:
        (shadow time in hours, extra cards free at that time beyond the job's need);
        (inf, 0) when the pool's online cards can never hold the job.
    """
    p = view.pools[pool]
    need = job.cards
    if need > p.online_cards:
        return math.inf, 0
    available = p.free_cards
    now = view.now
    if available >= need:
        # Enough cards but not in a usable shape: the next release is the best guess.
        for end, _, _ in view.running_by_estimated_end(pool):
            return max(end, now), available - need
        return now, available - need
    for end, _, cards in view.running_by_estimated_end(pool):
        available += cards
        if available >= need:
            return max(end, now), available - need
    return math.inf, 0


def reserve(view: SchedulerView, job: TrainingJob) -> tuple[int, float, int]:
    """The pool where ``job`` could start earliest, its shadow time and extra cards."""
    best = (job.eligible[0], math.inf, 0)
    for p in job.eligible:
        shadow, extra = shadow_time(view, job, p)
        if shadow < best[1]:
            best = (p, shadow, extra)
    return best


def backfill_pass(
    view: SchedulerView,
    order: JobOrder,
    lookahead: int,
    memo_key: str,
    *,
    admit: Callable[[TrainingJob], bool] | None = None,
    on_start: Callable[[TrainingJob], None] | None = None,
    backfill: bool = True,
) -> Iterator[Start]:
    """EASY backfilling over ``order`` (see the module docstring).

    Args:
        view: the scheduler view.
        order: the policy's order of queued jobs; started jobs are discarded from it.
        lookahead: jobs that do not start examined per pass, at most.
        memo_key: where the reservation is kept in ``view.memo``.
        admit: jobs for which it returns False are passed over (they neither start nor
            block); it is asked again after every start.
        on_start: called with each job after its start was applied.
        backfill: False makes the pass strict on admitted jobs: it stops at the head.
    """
    memo = view.memo.get(memo_key)
    signature = order.signature()
    if memo is not None and not view.capacity_freed and memo[0] == signature:
        if memo[1] is None:
            # The last pass found no head: every job it examined was passed over or
            # started. With only arrivals since, those jobs are still passed over (their
            # tenants hold no fewer cards), so only the new arrivals can start or block.
            yield from _fresh_without_head(
                view, order, lookahead, memo_key, signature, admit, on_start, backfill
            )
            return
        _, reserved, position, res_pool, shadow, extra = memo
        if order.job_at(position) is reserved:
            fresh = [j for j in view.new_arrivals if view.is_queued(j)]
            ranked = sorted((order.rank(j), j.id, j) for j in fresh)
            candidates = [j for r, _, j in ranked if position < r < lookahead]
            if backfill and candidates:
                yield from _backfill(
                    view, order, candidates, res_pool, shadow, extra, admit, on_start, memo_key
                )
            return

    fast = state.FAST_PATHS
    position = 0  # jobs before it were passed over (not admitted)
    head: TrainingJob | None = None
    chunk = 8
    while head is None:
        if position >= lookahead:
            break
        # The jobs from ``position`` on, fetched a few at a time, more each time (the
        # plain pass fetches one at a time); a start removes its job, so the next job of
        # the batch is then the job at ``position``.
        batch: Sequence[TrainingJob | None]
        if fast:
            batch = order.window(position, min(lookahead, position + chunk))
            chunk *= 4
        else:
            batch = [order.job_at(position)]
        if not batch or batch[0] is None:
            break
        for job in batch:
            assert job is not None
            if admit is not None and not admit(job):
                position += 1
                continue
            pool = view.choose_pool(job)
            if pool is None:
                head = job
                break
            order.discard(job)
            yield Start(job, pool)
            if on_start is not None:
                on_start(job)
    if head is None:
        # Every examined job started or was passed over.
        if fast:
            view.memo[memo_key] = (signature, None)
        else:
            view.memo.pop(memo_key, None)
        return
    res_pool, shadow, extra = reserve(view, head)
    view.memo[memo_key] = (signature, head, position, res_pool, shadow, extra)
    if not backfill:
        return
    candidates = window_candidates(view, order, position + 1, lookahead, res_pool)
    yield from _backfill(
        view, order, candidates, res_pool, shadow, extra, admit, on_start, memo_key
    )


def _fresh_without_head(
    view: SchedulerView,
    order: JobOrder,
    lookahead: int,
    memo_key: str,
    signature: Hashable,
    admit: Callable[[TrainingJob], bool] | None,
    on_start: Callable[[TrainingJob], None] | None,
    backfill: bool,
) -> Iterator[Start]:
    """The pass of :func:`backfill_pass` after a pass that found no head, when only jobs
    arrived since: it examines the new arrivals only, where the full pass would reach
    them (a job is reached while fewer than ``lookahead`` jobs before it were passed
    over; the jobs that start do not count)."""
    fresh = [j for j in view.new_arrivals if view.is_queued(j)]
    ranked = sorted((order.rank(j), j.id, j) for j in fresh)
    started = 0  # of the new arrivals ranked before the job: the only jobs that start
    for rank, _, job in ranked:
        position = rank - started  # jobs passed over before it
        if position >= lookahead:
            break
        if admit is not None and not admit(job):
            continue
        pool = view.choose_pool(job)
        if pool is None:
            # The head: reserve and backfill exactly as the full pass does.
            res_pool, shadow, extra = reserve(view, job)
            view.memo[memo_key] = (signature, job, position, res_pool, shadow, extra)
            if backfill:
                candidates = window_candidates(view, order, position + 1, lookahead, res_pool)
                yield from _backfill(
                    view, order, candidates, res_pool, shadow, extra, admit, on_start, memo_key
                )
            return
        order.discard(job)
        yield Start(job, pool)
        if on_start is not None:
            on_start(job)
        started += 1


def window_candidates(
    view: SchedulerView, order: JobOrder, start: int, stop: int, res_pool: int
) -> list[TrainingJob]:
    """The backfill candidates: the jobs at positions ``start`` to ``stop - 1`` of the
    order, without (when the order keeps its jobs by shape) the jobs whose cards fit no
    pool now, which :func:`backfill_candidates` would pass over anyway."""
    shape_window = getattr(order, "shape_window", None) if state.FAST_PATHS else None
    if shape_window is not None:
        pools = view.pools

        def may_fit(eligible: tuple[int, ...], cards: int) -> bool:
            return _where_fits(pools, eligible, cards, res_pool) > 0

        jobs: list[TrainingJob] | None = shape_window(start, stop, may_fit)
        if jobs is not None:
            return jobs
    return order.window(start, stop)


def _backfill(
    view: SchedulerView,
    order: JobOrder,
    candidates: list[TrainingJob],
    res_pool: int,
    shadow: float,
    extra: int,
    admit: Callable[[TrainingJob], bool] | None,
    on_start: Callable[[TrainingJob], None] | None,
    memo_key: str,
) -> Iterator[Start]:
    """Start the candidates that cannot delay the reserved head; keep the extra cards."""
    extra = yield from backfill_candidates(
        view, candidates, res_pool, shadow, extra, admit, order.discard, on_start
    )
    memo = view.memo.get(memo_key)
    if memo is not None:
        view.memo[memo_key] = (*memo[:5], extra)


def backfill_candidates(
    view: SchedulerView,
    candidates: list[TrainingJob],
    res_pool: int,
    shadow: float,
    extra: int,
    admit: Callable[[TrainingJob], bool] | None = None,
    discard: Callable[[TrainingJob], None] | None = None,
    on_start: Callable[[TrainingJob], None] | None = None,
) -> Generator[Start, None, int]:
    """EASY's backfill step: start, in order, each candidate that can start now without
    delaying the head reserved on ``res_pool`` at ``shadow`` with ``extra`` spare cards.

    A candidate starts on a pool other than the reserved one if it fits there now (the
    dispatch rule chooses among several), else on the reserved pool if it fits there
    now and either ends by its estimate before the shadow time or uses no more than the
    extra cards (which it then takes). ``discard`` is called before each start is
    yielded, ``on_start`` after it was applied.

    Returns:
        The extra cards left.
    """
    if not state.FAST_PATHS:
        return (
            yield from _backfill_candidates_plain(
                view, candidates, res_pool, shadow, extra, admit, discard, on_start
            )
        )
    now = view.now
    pools = view.pools
    res_speed = pools[res_pool].speed
    most_free = max((p.free_cards for p in pools), default=0)
    # Where a job of given pools and cards fits now, cached until the next start (free
    # cards only shrink during a pass): 2 on a pool other than the reserved one, 1 on
    # the reserved pool only, 0 nowhere.
    where: dict[tuple[tuple[int, ...], int], int] = {}
    for job in candidates:
        cards = job.cards
        if cards > most_free:
            if most_free == 0:
                break
            continue
        key = (job.eligible, cards)
        fits = where.get(key)
        if fits is None:
            fits = where[key] = _where_fits(pools, job.eligible, cards, res_pool)
        if fits != 2:
            # Only the reserved pool may take it: it must fit there and not delay the head.
            if fits == 0:
                continue
            if cards > extra and now + job.remaining_estimate_on(res_speed) > shadow:
                continue  # (``view.estimated_runtime``, without a call)
        # The exact test, as in the plain pass.
        if admit is not None and not admit(job):
            continue
        chosen, extra = _backfill_pool(view, job, res_pool, shadow, extra)
        if chosen < 0:
            continue
        if discard is not None:
            discard(job)
        yield Start(job, chosen)
        if on_start is not None:
            on_start(job)
        most_free = max(p.free_cards for p in pools)
        where.clear()
    return extra


def _backfill_pool(
    view: SchedulerView, job: TrainingJob, res_pool: int, shadow: float, extra: int
) -> tuple[int, int]:
    """The pool a backfill candidate starts on now, and the reservation's extra cards
    left; pool -1 when it cannot start without delaying the head job.

    Any pool but the reserved one takes it freely (the dispatch rule chooses); on the
    reserved pool it must end (by its estimate) before the shadow time or use only the
    extra cards.
    """
    options = view.start_options(job)
    if not options:
        return -1, extra
    free_options = [p for p in options if p != res_pool]
    if free_options:
        if len(free_options) == 1:
            return free_options[0], extra
        return view.dispatch.choose(job, free_options, view), extra
    if view.now + view.estimated_runtime(job, res_pool) <= shadow:
        return res_pool, extra
    if job.cards <= extra:
        return res_pool, extra - job.cards
    return -1, extra


def _where_fits(pools: list[Pool], eligible: tuple[int, ...], cards: int, res_pool: int) -> int:
    """2 if ``cards`` fit now on one of ``eligible`` other than ``res_pool``, else 1 if
    they fit on ``res_pool`` (when eligible), else 0."""
    on_res = False
    for p in eligible:
        if pools[p].can_fit(cards):
            if p != res_pool:
                return 2
            on_res = True
    return 1 if on_res else 0


def _backfill_candidates_plain(
    view: SchedulerView,
    candidates: list[TrainingJob],
    res_pool: int,
    shadow: float,
    extra: int,
    admit: Callable[[TrainingJob], bool] | None,
    discard: Callable[[TrainingJob], None] | None,
    on_start: Callable[[TrainingJob], None] | None,
) -> Generator[Start, None, int]:
    """:func:`backfill_candidates` without its shortcuts (the reference it must match)."""
    # Free cards only shrink during a pass, so no job larger than this can start.
    most_free = max((p.free_cards for p in view.pools), default=0)
    for job in candidates:
        if job.cards > most_free:
            continue
        if admit is not None and not admit(job):
            continue
        chosen, extra = _backfill_pool(view, job, res_pool, shadow, extra)
        if chosen < 0:
            continue
        if discard is not None:
            discard(job)
        yield Start(job, chosen)
        if on_start is not None:
            on_start(job)
        most_free = max(p.free_cards for p in view.pools)
    return extra
