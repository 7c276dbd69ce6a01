"""Discretised two-dimensional least attained service (Tiresias, Gu et al., NSDI 2019).

A job's *attained service* is cards x hours it has run, summed over all its run segments
(restart overhead included, lost work included: the cards were held). The thresholds
``thresholds_card_h`` (ascending) split attained service into queues: queue 0 holds jobs
below the first threshold, queue k those with at least ``thresholds_card_h[k-1]``. The
policy needs no run-time estimate.

Order: lower queues first; within a queue, submit order (FIFO). A pass examines the
first ``lookahead`` queued jobs in that order and starts each one that can start now
(greedy: a job that cannot start is passed over, it does not block later ones; there are
no reservations). With ``preemptive`` (the default), a job that cannot start stops
running jobs of strictly higher queues on one of its pools until it fits: highest queue
first, within a queue the job that entered it last first; on the pool where the victims
come from the highest queue, then free the fewest cards. Cards freed by preemption that
the preempting job did not need are offered to the queue again in the same pass (a
second sweep that starts but does not preempt).

Demotion: a running job crosses a threshold at a time known when it starts (its
attained service grows at ``cards`` card-hours per hour). Crossings are applied at
scheduling passes (an arrival, a job end, a capacity change), so by default a job that
crossed a threshold keeps its old queue, and cannot be preempted as a member of the new
one, until the next pass. With ``timed_demotion`` (and ``preemptive``) the policy asks
the engine for a pass at the next crossing whenever a job waits
(``QueuePolicy.next_pass_h``), so a waiting job of a lower queue stops the demoted job
the moment it crosses, as a scheduler that re-evaluates queues continuously would.

State (per run, derived from the view and the policy's own decisions): attained service
of the jobs that were stopped (by the policy, or by a failure: found in ``view.ended``
back in the queue), the running jobs by pool and queue, and a heap of upcoming threshold
crossings.

Work: a pass examines at most ``lookahead`` jobs; a job that fits nowhere and has too
few cards of higher-queue jobs to take is dismissed in O(1) (with the shortcuts of
``simulator.policies.state.FAST_PATHS``: one comparison with the most cards a job of its
queue and pools could start or preempt with, kept until the next start). A pass that follows only
arrivals (no capacity freed, no demotion, no job started above queue 0 since the last
full pass) examines only the new jobs within the look-ahead: the others were examined
and could neither start nor preempt, and nothing has improved for them since.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property, partial
from itertools import chain
from typing import TYPE_CHECKING, Any

from simulator.policies import state
from simulator.policies.base import Preempt, QueuePolicy, Start, register_policy
from simulator.policies.state import RunningJobs, RunState, SortedOrder, is_number

if TYPE_CHECKING:
    from simulator.job import TrainingJob
    from simulator.policies.view import SchedulerView


class _LasRun:
    """One run's memory of the LAS policy."""

    def __init__(self, thresholds: tuple[float, ...] = ()) -> None:
        self.thresholds = thresholds
        self.attained: dict[int, float] = {}  # card-hours of finished segments, by job id
        self.order = SortedOrder(self.queued_key)
        self.running = RunningJobs()
        self.level: dict[int, int] = {}  # queue of each running job
        # Per pool: queue -> running jobs in that queue, in the order they entered it.
        self.by_level: list[dict[int, dict[int, TrainingJob]]] = []
        self.level_cards: list[list[int]] = []  # per pool: running cards by queue
        self.crossings: list[tuple[float, int, float, TrainingJob]] = []
        # When the policy started each running job's segment. A job restarted in place
        # on a hot spare after a failure keeps its cards without a new start by the
        # policy (its ``run_start`` moves on): its service still counts from this time.
        self.since: dict[int, float] = {}
        # Whether a job started above queue 0 since the last full pass: it may be a
        # victim that a job examined in that pass lacked.
        self.new_victims = False

    def queue_of(self, attained: float) -> int:
        return bisect_right(self.thresholds, attained)

    def queued_key(self, job: TrainingJob) -> tuple[Any, ...]:
        return (self.queue_of(self.attained.get(job.id, 0.0)), job.submit)

    # ------------------------------------------------------------------ running set

    def started(self, job: TrainingJob) -> None:
        """Record a job the policy has just started (``job.pool`` and ``run_start`` set)."""
        self.running.add(job)
        while job.pool >= len(self.by_level):
            self.by_level.append({})
            self.level_cards.append([0] * (len(self.thresholds) + 1))
        attained = self.attained.get(job.id, 0.0)
        level = self.queue_of(attained)
        self.new_victims |= level > 0
        self.since[job.id] = job.run_start
        self._enter(job, level, attained, job.run_start)

    def _leave(self, job: TrainingJob, pool: int) -> int:
        """Take a running job out of its queue's running set; return that queue."""
        level = self.level.pop(job.id)
        jobs = self.by_level[pool][level]
        del jobs[job.id]
        if not jobs:
            del self.by_level[pool][level]
        self.level_cards[pool][level] -= job.cards
        return level

    def _service(self, job: TrainingJob, now: float, level: int) -> float:
        """Attained service of a running job at ``now`` in queue ``level``: its earlier
        segments plus this one, and at least the threshold that put it in ``level``
        (its crossing time was computed to reach it; summing the hours back can round
        a hair below it, which must not send the job back to a lower queue)."""
        service = self.attained.get(job.id, 0.0) + job.cards * (now - self.since[job.id])
        return max(service, self.thresholds[level - 1]) if level else service

    def ended(self, job: TrainingJob) -> None:
        self._leave(job, job.pool)
        self.since.pop(job.id, None)
        self.attained.pop(job.id, None)

    def requeued(self, job: TrainingJob) -> None:
        """Forget a job that something other than the policy stopped (``job.end``: when),
        adding its segment to its attained service."""
        level = self._leave(job, job.pool)
        self.attained[job.id] = self._service(job, job.end, level)
        del self.since[job.id]

    def stopped(self, job: TrainingJob, pool: int, now: float) -> None:
        """Forget a job the policy stopped, adding its segment to its attained service."""
        self.running.remove(job, pool)
        level = self._leave(job, pool)
        self.attained[job.id] = self._service(job, now, level)
        del self.since[job.id]

    def demote(self, view: SchedulerView) -> int:
        """Move running jobs whose attained service crossed a threshold to their queue;
        return how many moved."""
        now = view.now
        crossings = self.crossings
        moved = 0
        while crossings and crossings[0][0] <= now:
            _, _, run_start, job = heapq.heappop(crossings)
            if job.id not in self.level or self.since.get(job.id) != run_start:
                continue  # ended or stopped since
            if not view.is_running(job):
                continue  # ended; forgotten at the next sync
            # Due: the job has reached the next threshold, whatever the rounding of
            # its summed hours says (else its next crossing would fall due at once,
            # forever).
            attained = self._service(job, now, self._leave(job, job.pool) + 1)
            self._enter(job, self.queue_of(attained), attained, now)
            moved += 1
        return moved

    def next_crossing(self) -> float | None:
        """When the next running job crosses a threshold (entries of jobs stopped or
        ended since are dropped; one that ended since the last pass may still answer,
        which costs a pass that finds nothing to do)."""
        crossings = self.crossings
        while crossings:
            _, _, run_start, job = crossings[0]
            if job.id in self.level and self.since.get(job.id) == run_start:
                return crossings[0][0]
            heapq.heappop(crossings)
        return None

    def _enter(self, job: TrainingJob, level: int, attained: float, now: float) -> None:
        """Put a running job with ``attained`` card-hours at ``now`` in queue ``level``."""
        p = job.pool
        self.level[job.id] = level
        self.by_level[p].setdefault(level, {})[job.id] = job
        self.level_cards[p][level] += job.cards
        if level < len(self.thresholds):
            cross = now + (self.thresholds[level] - attained) / job.cards
            heapq.heappush(self.crossings, (cross, job.id, self.since[job.id], job))

    def victims(self, pool: int, above: int) -> Iterator[TrainingJob]:
        """Running jobs of ``pool`` in queues > ``above``: highest queue first, latest
        entrant first."""
        if pool >= len(self.by_level):
            return
        levels = self.by_level[pool]
        for level in sorted(levels, reverse=True):
            if level <= above:
                return
            jobs = levels.get(level)
            yield from reversed(list(jobs.values()) if jobs else [])

    def cards_above(self, pool: int, above: int) -> int:
        """Cards of the running jobs of ``pool`` in queues above ``above``."""
        if pool >= len(self.level_cards):
            return 0
        return sum(self.level_cards[pool][above + 1 :])

    def bounds(self, view: SchedulerView, level: int, pools: tuple[int, ...]) -> tuple[int, int]:
        """For a job of queue ``level`` on ``pools``: the most cards of running jobs in
        higher queues on one pool, and the most such cards plus free cards."""
        victims = [self.cards_above(p, level) for p in pools]
        return max(victims), max(
            view.pools[p].free_cards + v for p, v in zip(pools, victims, strict=True)
        )


def _check_thresholds(values: Any) -> tuple[float, ...]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"thresholds_card_h must be a list of numbers, got {values!r}")
    out = tuple(values)
    if not all(is_number(v) and v > 0 for v in out):
        raise ValueError(f"thresholds_card_h must hold positive numbers, got {list(out)}")
    if any(b <= a for a, b in zip(out, out[1:], strict=False)):
        raise ValueError(f"thresholds_card_h must increase strictly, got {list(out)}")
    return tuple(float(v) for v in out)


@register_policy("las")
@dataclass(frozen=True)
class LeastAttainedService(QueuePolicy):
    """Discretised 2D least attained service (Tiresias): lower queues first, preemptive.

    Attributes:
        thresholds_card_h: attained service (cards x hours run) at which a job moves to
            the next queue, ascending; n thresholds make n + 1 queues.
        lookahead: queued jobs examined per pass, in queue order.
        preemptive: whether a waiting job may stop running jobs of higher queues.
        timed_demotion: demote a running job when it crosses a threshold, by a pass
            at that time while a job waits, instead of at the next pass that happens.
    """

    thresholds_card_h: tuple[float, ...] = (100.0, 10_000.0)
    lookahead: int = 1000
    preemptive: bool = True
    timed_demotion: bool = False

    def __post_init__(self) -> None:
        thresholds = _check_thresholds(self.thresholds_card_h)
        object.__setattr__(self, "thresholds_card_h", thresholds)
        if self.lookahead < 1:
            raise ValueError(f"lookahead must be >= 1, got {self.lookahead}")

    @cached_property
    def _state(self) -> RunState[_LasRun]:
        """This policy's memory of the run it is serving (not a parameter)."""
        return RunState(partial(_LasRun, self.thresholds_card_h))

    def next_pass_h(self, view: SchedulerView) -> float | None:
        """The next threshold crossing of a running job, while a job waits (only with
        ``timed_demotion``: demotion matters to a waiting job that may preempt)."""
        if not (self.timed_demotion and self.preemptive) or view.head() is None:
            return None
        return self._state.of(view).next_crossing()

    def decide(self, view: SchedulerView) -> Iterator[Start | Preempt]:
        run = self._state.of(view)
        order = run.order
        for job in run.running.sync(view):
            if view.is_queued(job):
                run.requeued(job)  # stopped by something else (a failure), back in the queue
            else:
                run.ended(job)
        order.sync(view)  # after ``requeued``: a requeued job's queue counts its segment
        moved = run.demote(view)
        if not (view.capacity_freed or moved or run.new_victims) and view.memo.get("las"):
            # Only arrivals since a full pass: the jobs examined then still cannot start
            # (free cards only shrank, no victim appeared); examine the new ones.
            fresh = [j for j in view.new_arrivals if view.is_queued(j)]
            ranked = sorted((order.rank(j), j.id, j) for j in fresh)
            candidates = [(order.sort_key(j), j) for r, _, j in ranked if r < self.lookahead]
        else:
            candidates = order.window_items(0, self.lookahead)
            run.new_victims = False
        view.memo["las"] = True
        # Per (queue, pools): the most cards of running jobs in higher queues on one of
        # the pools, and that plus the pool's free cards; recomputed after each change.
        bounds: dict[tuple[int, tuple[int, ...]], tuple[int, int]] = {}
        most_free = max(p.free_cards for p in view.pools)
        # Shortcut: for the queue of the current job (the window is in queue order), per
        # set of pools, the most cards a job may have and still start or preempt; a
        # larger job would do neither. Emptied with ``bounds``.
        fast = state.FAST_PATHS
        limits: dict[tuple[int, ...], int] = {}
        limits_level = -1
        preempted = False
        for key_of_job, job in candidates:
            level = key_of_job[0]
            if fast:
                if level != limits_level:
                    limits.clear()
                    limits_level = level
                limit = limits.get(job.eligible)
                if limit is None:
                    limit = limits[job.eligible] = self._limit(view, run, level, job.eligible)
                if job.cards > limit:
                    continue
            pool = view.choose_pool(job) if job.cards <= most_free else None
            if pool is None:
                if not self.preemptive:
                    continue
                key = (level, job.eligible)
                bound = bounds.get(key)
                if bound is None:
                    bound = bounds[key] = run.bounds(view, level, job.eligible)
                if bound[0] == 0 or job.cards > bound[1]:
                    continue  # no victim, or not enough cards even with all of them
                plan = self._plan(view, run, job)
                if plan is None:
                    continue
                pool, chosen = plan
                # The chosen victims free enough cards; further ones only fix the shape.
                for victim in chain(chosen, run.victims(pool, level)):
                    if view.can_start(job, pool):
                        break
                    if not view.is_running(victim):
                        continue
                    yield Preempt(victim)
                    run.stopped(victim, pool, view.now)
                    order.add(victim)
                    preempted = True
                if not view.can_start(job, pool):
                    most_free = max(p.free_cards for p in view.pools)
                    bounds.clear()
                    limits.clear()
                    continue
            order.discard(job)
            yield Start(job, pool)
            run.started(job)
            most_free = max(p.free_cards for p in view.pools)
            bounds.clear()
            limits.clear()
        if preempted:
            # Cards the preempting jobs did not need: offered in order, without preempting.
            most_free = max(p.free_cards for p in view.pools)
            for job in order.window(0, self.lookahead):
                if job.cards > most_free:
                    continue
                pool = view.choose_pool(job)
                if pool is not None:
                    order.discard(job)
                    yield Start(job, pool)
                    run.started(job)
                    most_free = max(p.free_cards for p in view.pools)

    def _limit(
        self, view: SchedulerView, run: _LasRun, level: int, eligible: tuple[int, ...]
    ) -> int:
        """The most cards a job of queue ``level`` on ``eligible`` pools may have and
        still start now (free cards on one pool) or preempt (free and victims' cards on
        one pool, when it has victims): a larger job can do neither."""
        fits = max([view.pools[p].free_cards for p in eligible])
        if self.preemptive:
            victims, with_free = run.bounds(view, level, eligible)
            if victims > 0:
                return max(fits, with_free)
        return fits

    @staticmethod
    def _plan(
        view: SchedulerView, run: _LasRun, job: TrainingJob
    ) -> tuple[int, list[TrainingJob]] | None:
        """The pool to clear for ``job`` and the victims that free enough cards there."""
        level = run.queue_of(run.attained.get(job.id, 0.0))
        best: tuple[tuple[int, int, int], int, list[TrainingJob]] | None = None
        for p in job.eligible:
            pool = view.pools[p]
            if job.cards > pool.online_cards:
                continue
            if pool.free_cards + run.cards_above(p, level) < job.cards:
                continue
            need = max(job.cards - pool.free_cards, 1)
            freed, lowest = 0, 0
            chosen: list[TrainingJob] = []
            for victim in run.victims(p, level):
                chosen.append(victim)
                freed += victim.cards
                lowest = run.level[victim.id]
                if freed >= need:
                    break
            if freed < need:
                continue
            cost = (-lowest, freed, p)
            if best is None or cost < best[0]:
                best = (cost, p, chosen)
        return None if best is None else (best[1], best[2])
