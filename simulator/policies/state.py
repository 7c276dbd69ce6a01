"""What stateful policies remember between the scheduling passes of one run.

A policy object may serve several runs (``run(scenario, policy=...)``), so a policy keeps
its memory in a :class:`RunState` (made by a ``functools.cached_property`` of the frozen
dataclass, so it is neither a parameter nor compared), never in globals or class
attributes; the state starts afresh whenever the policy is shown another run's
:class:`SchedulerView`, and a pickled copy of the policy starts empty. Everything kept
here is derived from what the view shows and from the policy's own decisions:

* :class:`SortedOrder`: the queued jobs ordered by a key fixed while a job waits (its
  estimate, priority class, service queue, submit time). It follows ``view.new_arrivals``
  and the policy's own starts and preemptions in O(log n) per change, so a pass reads the
  first jobs of the order without scanning the queue. If its count ever disagrees with
  the view's queue (a job requeued by something other than the policy), it rebuilds
  itself from the view.
* :class:`RunningJobs`: the jobs the policy started that still run, by pool. A job's end
  is found at the first pass after it: the pool's busy cards then differ from the cards
  of the jobs the policy has running there, and only such pools are compared with
  ``view.running_ids()``.
* :func:`tenant_keyed`: parameters keyed by tenant name (``weights``, ``quotas``,
  ``homes``), checked once when the policy is built.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sortedcontainers import SortedList

if TYPE_CHECKING:
    from simulator.job import TrainingJob
    from simulator.policies.view import SchedulerView

T = TypeVar("T")


class RunState(Generic[T]):
    """A per-run memory made by ``factory``; fresh for each run's view.

    Example:
        >>> state = RunState(dict)
        >>> class View: ...
        >>> first, second = View(), View()
        >>> state.of(first)["x"] = 1
        >>> state.of(first), state.of(second)
        ({'x': 1}, {})
    """

    __slots__ = ("_factory", "_view", "_data")

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._view: weakref.ref[Any] | None = None
        self._data: T | None = None

    def of(self, view: SchedulerView) -> T:
        """The memory of the run that ``view`` belongs to (made on first use)."""
        ref = self._view
        if ref is None or ref() is not view or self._data is None:
            self._data = self._factory()
            self._view = weakref.ref(view)
        return self._data

    def __getstate__(self) -> Callable[[], T]:
        return self._factory  # a copy starts afresh: memory belongs to one run

    def __setstate__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._view = None
        self._data = None

    def __repr__(self) -> str:
        return "RunState()"


class SortedOrder:
    """Queued jobs in ascending ``key(job)`` order, ties broken by job id (submit order).

    The key must not change while a job waits. A job's place is looked up in O(log n).
    """

    __slots__ = ("key", "_keys", "_jobs", "_sorted")

    def __init__(self, key: Callable[[TrainingJob], tuple[Any, ...]]) -> None:
        self.key = key
        self._keys: dict[int, tuple[Any, ...]] = {}
        self._jobs: dict[int, TrainingJob] = {}
        self._sorted: SortedList = SortedList()

    def __len__(self) -> int:
        return len(self._keys)

    def sync(self, view: SchedulerView) -> None:
        """Take in the jobs that arrived since the last pass (call at each pass start)."""
        keys = self._keys
        for job in view.new_arrivals:
            if job.id not in keys and view.is_queued(job):
                self.add(job)
        if len(keys) != view.queue_length():
            self.rebuild(view)

    def rebuild(self, view: SchedulerView) -> None:
        """Forget everything and take the view's whole queue (O(n log n); rare)."""
        self._keys.clear()
        self._jobs.clear()
        self._sorted.clear()
        for job in view.waiting(view.queue_length()):
            self.add(job)

    def add(self, job: TrainingJob) -> None:
        key = (*self.key(job), job.id)
        self._keys[job.id] = key
        self._jobs[job.id] = job
        self._sorted.add(key)

    def discard(self, job: TrainingJob) -> None:
        key = self._keys.pop(job.id, None)
        if key is not None:
            del self._jobs[job.id]
            self._sorted.remove(key)

    def job_at(self, i: int) -> TrainingJob | None:
        """The job at position ``i`` of the order, or None past its end."""
        if i >= len(self._sorted):
            return None
        return self._jobs[self._sorted[i][-1]]

    def window(self, start: int, stop: int) -> list[TrainingJob]:
        """The jobs at positions ``start`` to ``stop - 1`` (a copy)."""
        jobs = self._jobs
        return [jobs[k[-1]] for k in self._sorted.islice(start, stop)]

    def sort_key(self, job: TrainingJob) -> tuple[Any, ...]:
        """The key a queued job is ordered by (``key(job)`` then its id)."""
        return self._keys[job.id]

    def rank(self, job: TrainingJob) -> int:
        """The position of a queued job in the order."""
        return int(self._sorted.bisect_left(self._keys[job.id]))

    def signature(self) -> Hashable:
        """Changes when the relative order of waiting jobs may have changed (never)."""
        return None


class RunningJobs:
    """The jobs a policy started that still run, by pool, and their cards per tenant."""

    __slots__ = ("by_pool", "pool_cards", "tenant_cards")

    def __init__(self) -> None:
        self.by_pool: list[dict[int, TrainingJob]] = []
        self.pool_cards: list[int] = []
        self.tenant_cards: dict[int, int] = {}

    def __len__(self) -> int:
        return sum(len(jobs) for jobs in self.by_pool)

    def add(self, job: TrainingJob) -> None:
        """Record a job the policy has just started (``job.pool`` is set)."""
        p = job.pool
        while p >= len(self.by_pool):
            self.by_pool.append({})
            self.pool_cards.append(0)
        self.by_pool[p][job.id] = job
        self.pool_cards[p] += job.cards
        self.tenant_cards[job.tenant] = self.tenant_cards.get(job.tenant, 0) + job.cards

    def remove(self, job: TrainingJob, pool: int) -> None:
        """Forget a job that ended or that the policy stopped, which ran on ``pool``."""
        del self.by_pool[pool][job.id]
        self.pool_cards[pool] -= job.cards
        self.tenant_cards[job.tenant] -= job.cards

    def sync(self, view: SchedulerView) -> list[TrainingJob]:
        """Forget and return the jobs that ended since the last pass (by job id).

        Busy cards of a pool change only when a job starts (the policy's decision), is
        stopped (likewise) or ends, so a pool whose busy cards equal the cards of the
        policy's jobs there has no ended job; only other pools are compared with the
        view's running set.
        """
        ended: list[TrainingJob] = []
        if not view.capacity_freed:
            return ended
        pools = view.pools
        running = view.running_ids()
        for p, jobs in enumerate(self.by_pool):
            if pools[p].online_cards - pools[p].free_cards == self.pool_cards[p]:
                continue
            for job_id in sorted(jobs.keys() - running):
                job = jobs[job_id]
                self.remove(job, p)
                ended.append(job)
        return ended


def tenant_keyed(
    values: Mapping[Any, Any] | None, what: str, check: Callable[[Any], bool], allowed: str
) -> dict[str, Any]:
    """A tenant-keyed parameter with its keys as text, checked value by value.

    Keys are tenant names (or tenant indices, written as numbers or text, for runs whose
    engine does not name tenants).

    Raises:
        ValueError: the mapping is not a mapping or a value fails ``check``.
    """
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ValueError(f"{what} must map tenant names to values, got {values!r}")
    out: dict[str, Any] = {}
    for key, value in values.items():
        if not check(value):
            raise ValueError(f"{what}[{key!r}] must be {allowed}, got {value!r}")
        out[str(key)] = value
    return out


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
