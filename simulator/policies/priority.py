"""Strict priority classes, without and with preemption.

Order: descending ``job.priority`` (a larger number is more urgent), then submit time:
FIFO within a class. A job that was stopped keeps its submit time, so it resumes ahead
of jobs of its class submitted after it.

* ``priority``: non-preemptive and strict: jobs start in that order and the first that
  cannot start blocks every later one.
* ``priority_preemptive``: as ``priority``, but when the first job in order cannot start
  it stops running jobs of strictly lower priority until it fits: on the pool where the
  fewest and least important jobs have to go (the lowest highest-priority among them,
  then the fewest cards), taking victims lowest priority first and, within a priority,
  most recently started first. Victims must have run at least ``min_run_h`` in their
  current segment. Cards are counted first; if the freed cards are not in a usable shape,
  further victims of the same pool are stopped until the job fits or none is left. The
  engine charges each victim (work since its last checkpoint is lost, restart overhead)
  and requeues it. If no set of victims can make room, the job blocks as in
  ``priority``.

Preemption is decided at scheduling passes (an arrival, a job end, a capacity change)
and, while the first job in order is blocked, at the moment the next lower-priority job
reaches ``min_run_h`` (a timed pass, :meth:`PreemptivePriority.next_pass_h`).

Work per pass: the jobs started, plus for the first blocked job the victims examined on
its eligible pools (lower-priority jobs only, lowest first, stopping once enough cards
are found).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from itertools import chain
from typing import TYPE_CHECKING, Any

from simulator.policies.base import Preempt, QueuePolicy, Start, register_policy
from simulator.policies.ordering import strict_pass
from simulator.policies.state import RunningJobs, RunState, SortedOrder

if TYPE_CHECKING:
    from simulator.job import TrainingJob
    from simulator.policies.view import SchedulerView


def priority_key(job: TrainingJob) -> tuple[Any, ...]:
    """Priority order: higher priority first, then submit time."""
    return (-job.priority, job.submit)


def _priority_order() -> SortedOrder:
    return SortedOrder(priority_key)


@register_policy("priority")
@dataclass(frozen=True)
class StrictPriority(QueuePolicy):
    """Strict priority classes (higher ``priority`` first), FIFO within a class."""

    @cached_property
    def _state(self) -> RunState[SortedOrder]:
        """This policy's memory of the run it is serving (not a parameter)."""
        return RunState(_priority_order)

    def decide(self, view: SchedulerView) -> Iterator[Start]:
        order = self._state.of(view)
        order.sync(view)
        return strict_pass(view, order)


class _PreemptiveRun:
    """One run's memory: the order, the running jobs and, per pool, jobs by priority."""

    def __init__(self) -> None:
        self.order = SortedOrder(priority_key)
        self.running = RunningJobs()
        # Per pool: priority -> running jobs of that priority, in start order.
        self.by_priority: list[dict[int, dict[int, TrainingJob]]] = []

    def started(self, job: TrainingJob) -> None:
        self.running.add(job)
        while job.pool >= len(self.by_priority):
            self.by_priority.append({})
        self.by_priority[job.pool].setdefault(job.priority, {})[job.id] = job

    def stopped(self, job: TrainingJob, pool: int) -> None:
        """Forget a running job (ended, or stopped by the policy)."""
        classes = self.by_priority[pool]
        jobs = classes[job.priority]
        del jobs[job.id]
        if not jobs:
            del classes[job.priority]

    def victims(self, pool: int, below: int, now: float, min_run_h: float) -> Iterator[TrainingJob]:
        """Running jobs of ``pool`` with priority < ``below`` that may be stopped now,
        lowest priority first, most recently started first."""
        if pool >= len(self.by_priority):
            return
        classes = self.by_priority[pool]
        for priority in sorted(classes):
            if priority >= below:
                return
            jobs = classes.get(priority)
            for job in reversed(list(jobs.values()) if jobs else []):
                if now - job.run_start >= min_run_h:
                    yield job


@register_policy("priority_preemptive")
@dataclass(frozen=True)
class PreemptivePriority(QueuePolicy):
    """Strict priority classes; a blocked job stops strictly lower-priority jobs to fit.

    Attributes:
        min_run_h: hours a job must have run in its current segment before it may be
            stopped (0: at once).
    """

    min_run_h: float = 0.0

    def __post_init__(self) -> None:
        if not self.min_run_h >= 0:
            raise ValueError(f"min_run_h must be >= 0, got {self.min_run_h}")

    @cached_property
    def _state(self) -> RunState[_PreemptiveRun]:
        """This policy's memory of the run it is serving (not a parameter)."""
        return RunState(_PreemptiveRun)

    def decide(self, view: SchedulerView) -> Iterator[Start | Preempt]:
        run = self._state.of(view)
        order = run.order
        order.sync(view)
        for job in run.running.sync(view):
            run.stopped(job, job.pool)
        while True:
            yield from strict_pass(view, order, run.started)
            head = order.job_at(0)
            if head is None:
                return
            plan = self._plan(view, run, head)
            if plan is None:
                return
            pool, chosen = plan
            # The chosen victims free enough cards; further ones only fix the shape.
            more = run.victims(pool, head.priority, view.now, self.min_run_h)
            for victim in chain(chosen, more):
                yield Preempt(victim)
                run.running.remove(victim, pool)
                run.stopped(victim, pool)
                order.add(victim)
                if view.can_start(head, pool):
                    break
            if not view.can_start(head, pool):
                return
            order.discard(head)
            yield Start(head, pool)
            run.started(head)

    def next_pass_h(self, view: SchedulerView) -> float | None:
        """When the next running job of lower priority than the blocked first job reaches
        ``min_run_h`` (and may become a victim); None when nothing waits for that."""
        if self.min_run_h <= 0:
            return None
        run = self._state.of(view)
        head = run.order.job_at(0)
        if head is None:
            return None
        now = view.now
        soonest: float | None = None
        for p in head.eligible:
            if p >= len(run.by_priority):
                continue
            for priority, jobs in run.by_priority[p].items():
                if priority >= head.priority:
                    continue
                for job in jobs.values():
                    due = job.run_start + self.min_run_h
                    if due > now and (soonest is None or due < soonest):
                        soonest = due
        return soonest

    def _plan(
        self, view: SchedulerView, run: _PreemptiveRun, job: TrainingJob
    ) -> tuple[int, list[TrainingJob]] | None:
        """The pool to clear for ``job`` and the victims that free enough cards there."""
        now = view.now
        best: tuple[tuple[int, int, int], int, list[TrainingJob]] | None = None
        for p in job.eligible:
            pool = view.pools[p]
            if job.cards > pool.online_cards:
                continue
            need = max(job.cards - pool.free_cards, 1)
            freed, worst = 0, None
            chosen: list[TrainingJob] = []
            for victim in run.victims(p, job.priority, now, self.min_run_h):
                chosen.append(victim)
                freed += victim.cards
                worst = victim.priority
                if freed >= need:
                    break
            if freed < need or worst is None:
                continue
            cost = (worst, freed, p)
            if best is None or cost < best[0]:
                best = (cost, p, chosen)
        if best is None:
            return None
        return best[1], best[2]
