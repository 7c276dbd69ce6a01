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
previous pass (``view.capacity_freed`` is False) and the head and the order's signature
are unchanged, jobs examined before still cannot start, so only the new arrivals that
rank within the look-ahead are examined, as in EASY's fast path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterator
from typing import TYPE_CHECKING, Protocol

from simulator.policies.base import Start
from simulator.policies.easy_backfill import shadow_time

if TYPE_CHECKING:
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
        _, head, position, res_pool, shadow, extra = memo
        if order.job_at(position) is head:
            fresh = [j for j in view.new_arrivals if view.is_queued(j)]
            ranked = sorted((order.rank(j), j.id, j) for j in fresh)
            candidates = [j for r, _, j in ranked if position < r < lookahead]
            if backfill and candidates:
                yield from _backfill(
                    view, order, candidates, res_pool, shadow, extra, admit, on_start, memo_key
                )
            return

    position = 0  # jobs before it were passed over (not admitted)
    while True:
        if position >= lookahead:
            view.memo.pop(memo_key, None)
            return
        job = order.job_at(position)
        if job is None:
            view.memo.pop(memo_key, None)
            return
        if admit is not None and not admit(job):
            position += 1
            continue
        pool = view.choose_pool(job)
        if pool is None:
            break
        order.discard(job)
        yield Start(job, pool)
        if on_start is not None:
            on_start(job)
    head = job
    res_pool, shadow, extra = reserve(view, head)
    view.memo[memo_key] = (signature, head, position, res_pool, shadow, extra)
    if not backfill:
        return
    candidates = order.window(position + 1, lookahead)
    yield from _backfill(
        view, order, candidates, res_pool, shadow, extra, admit, on_start, memo_key
    )


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
    now = view.now
    # Free cards only shrink during a pass, so no job larger than this can start.
    most_free = max((p.free_cards for p in view.pools), default=0)
    for job in candidates:
        if job.cards > most_free:
            continue
        if admit is not None and not admit(job):
            continue
        options = view.start_options(job)
        if not options:
            continue
        free_options = [p for p in options if p != res_pool]
        if free_options:
            chosen = (
                free_options[0]
                if len(free_options) == 1
                else view.dispatch.choose(job, free_options, view)
            )
        elif now + view.estimated_runtime(job, res_pool) <= shadow:
            chosen = res_pool
        elif job.cards <= extra:
            extra -= job.cards
            chosen = res_pool
        else:
            continue
        order.discard(job)
        yield Start(job, chosen)
        if on_start is not None:
            on_start(job)
    memo = view.memo.get(memo_key)
    if memo is not None:
        view.memo[memo_key] = (*memo[:5], extra)
