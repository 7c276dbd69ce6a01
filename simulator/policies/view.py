"""The read-only view of queue and fleet that a policy sees during a scheduling pass.

The engine owns one :class:`SchedulerView` per run and keeps it current; policies read
it and call its helpers, and return :class:`~simulator.policies.base.Start` decisions.
Policies must not modify the pools or the queue themselves.

Incremental passes: ``capacity_freed`` is False when, since the previous pass, jobs
have only arrived (no job ended and no capacity came online). A policy whose decisions
depend only on the queue order and the free capacity may then consider only
``new_arrivals``. ``memo`` is a dict that survives between passes and that the engine
empties whenever capacity is freed or added; policies may cache there what they derive
from the running set (for example a backfill reservation).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, KeysView
from itertools import chain, islice
from typing import TYPE_CHECKING, Any

from sortedcontainers import SortedList

if TYPE_CHECKING:
    from simulator.fleet import Pool
    from simulator.job import TrainingJob
    from simulator.policies.base import DispatchRule


class EstimatedEnds:
    """The running jobs of one pool as (estimated end, job id, cards), sorted when read.

    A job's key waits in a plain dict until the order is next read, so a job that starts
    and ends while nobody asks (a pool whose queue is empty) never touches the sorted
    list; a read merges the waiting keys first. Reads see exactly the sorted keys.
    """

    __slots__ = ("_sorted", "_pending", "add")

    def __init__(self) -> None:
        self._sorted: SortedList = SortedList()
        self._pending: set[tuple[float, int, int]] = set()
        # Adding a key is the set's own ``add`` (a call into C, no Python frame).
        self.add: Callable[[tuple[float, int, int]], None] = self._pending.add

    def remove(self, key: tuple[float, int, int]) -> None:
        pending = self._pending
        if key in pending:
            pending.remove(key)
        else:
            self._sorted.remove(key)

    def ordered(self) -> SortedList:
        """All keys, ascending."""
        if self._pending:
            self._sorted.update(self._pending)
            self._pending.clear()
        return self._sorted

    def __len__(self) -> int:
        return len(self._sorted) + len(self._pending)


class SchedulerView:
    """What a policy may look at: the time, the queue in submit order and the pools."""

    #: Tenant names by tenant index (``job.tenant``), when the engine provides them.
    tenant_names: tuple[str, ...] = ()

    def __init__(
        self,
        pools: list[Pool],
        queue: dict[int, TrainingJob],
        dispatch: DispatchRule,
        keep_estimated_ends: bool,
        requeued: dict[int, TrainingJob] | None = None,
        running: dict[int, TrainingJob] | None = None,
    ) -> None:
        self.now = 0.0
        self.pools = pools
        self._queue = queue
        self._requeued = requeued if requeued is not None else {}
        self._running = running if running is not None else {}
        self.dispatch = dispatch
        self.new_arrivals: list[TrainingJob] = []
        # Jobs that stopped running since the previous pass (ended, preempted or
        # interrupted), in the order they stopped.
        self.ended: list[TrainingJob] = []
        self.capacity_freed = True
        self.memo: dict[str, Any] = {}
        # Per pool: (estimated end, job id, cards) of running jobs, ascending.
        self.running_ends: list[EstimatedEnds] | None = (
            [EstimatedEnds() for _ in pools] if keep_estimated_ends else None
        )

    # ------------------------------------------------------------------ queue

    def head(self) -> TrainingJob | None:
        """The first job in queue order (see :meth:`waiting`), or None."""
        if self._requeued:
            return next(iter(self._requeued.values()))
        return next(iter(self._queue.values()), None)

    def queue_length(self) -> int:
        return len(self._queue) + len(self._requeued)

    def waiting(self, limit: int) -> list[TrainingJob]:
        """Up to ``limit`` queued jobs in queue order (a copy, safe to iterate).

        Queue order: jobs that were stopped after starting (in the order they were
        stopped), then jobs that never started, in submit order.
        """
        if self._requeued:
            return list(islice(chain(self._requeued.values(), self._queue.values()), limit))
        return list(islice(self._queue.values(), limit))

    def is_queued(self, job: TrainingJob) -> bool:
        return job.id in self._queue or job.id in self._requeued

    def running_jobs(self) -> list[TrainingJob]:
        """The running jobs (a copy), in the order they started."""
        return list(self._running.values())

    def is_running(self, job: TrainingJob) -> bool:
        """Whether ``job`` is running now."""
        return self._running.get(job.id) is job

    def running_ids(self) -> KeysView[int]:
        """Ids of the running jobs: a live, read-only view (do not keep it across passes)."""
        return self._running.keys()

    def tenant_name(self, tenant: int) -> str:
        """The name of tenant index ``tenant``, or the index as text when names are unknown."""
        names = self.tenant_names
        return names[tenant] if 0 <= tenant < len(names) else str(tenant)

    # ------------------------------------------------------------------ fleet

    def can_start(self, job: TrainingJob, pool: int) -> bool:
        """Whether ``job`` may use ``pool`` and its cards can be placed there now."""
        return pool in job.eligible and self.pools[pool].can_fit(job.cards)

    def start_options(self, job: TrainingJob) -> list[int]:
        """Pools where ``job`` could start now."""
        cards = job.cards
        pools = self.pools
        return [p for p in job.eligible if pools[p].can_fit(cards)]

    def choose_pool(self, job: TrainingJob) -> int | None:
        """The dispatch rule's pool among those where ``job`` could start now, or None."""
        eligible = job.eligible
        if len(eligible) == 1:
            p = eligible[0]
            return p if self.pools[p].can_fit(job.cards) else None
        return self.dispatch.pick(job, self)

    def estimated_runtime(self, job: TrainingJob, pool: int) -> float:
        """The user's estimate of the time ``job`` still needs on ``pool`` (hours)."""
        return job.remaining_estimate_on(self.pools[pool].speed)

    def running_by_estimated_end(self, pool: int) -> Iterable[tuple[float, int, int]]:
        """Running jobs of ``pool`` as (estimated end, job id, cards), earliest first.

        Only available to policies with ``needs_estimated_ends = True``.
        """
        if self.running_ends is None:
            raise RuntimeError("this policy did not declare needs_estimated_ends = True")
        return self.running_ends[pool].ordered()
