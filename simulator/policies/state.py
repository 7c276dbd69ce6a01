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
  first jobs of the order without scanning the queue. A job that went back to the queue
  without the policy stopping it (a failure) is taken from ``view.ended``. If its count
  ever disagrees with the view's queue anyway, it rebuilds itself from the view.
* :class:`RunningJobs`: the jobs the policy started that still run, by pool. A job that
  stopped running (finished, preempted or interrupted) is forgotten at the first pass
  after it, from ``view.ended``; the policy's own preemptions are forgotten at once.
* :class:`TenantIds` and :class:`TenantKeyed`: who a tenant is and the parameters keyed
  by tenant (``weights``, ``quotas``, ``homes``). A tenant is its name: tenant indices
  that carry the same name (the same tenant submitting several job classes) are one
  tenant. A parameter's key is a tenant name; an integer key is a tenant index.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sortedcontainers import SortedList

if TYPE_CHECKING:
    from simulator.job import TrainingJob
    from simulator.policies.view import SchedulerView

T = TypeVar("T")

#: Whether the policies take their shortcuts. A shortcut never changes a decision: it
#: only skips work whose outcome is known (``False`` runs the plain passes, which the
#: tests and ``benchmarks/bench_policies.py --plain`` compare against).
FAST_PATHS = True


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
        """Take in the jobs that arrived since the last pass and the jobs that went back
        to the queue without the policy stopping them (call at each pass start)."""
        keys = self._keys
        for job in view.new_arrivals:
            if job.id not in keys and view.is_queued(job):
                self.add(job)
        for job in view.ended:
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

    def window_items(self, start: int, stop: int) -> list[tuple[tuple[Any, ...], TrainingJob]]:
        """(sort key, job) of the jobs at positions ``start`` to ``stop - 1`` (a copy)."""
        jobs = self._jobs
        return [(k, jobs[k[-1]]) for k in self._sorted.islice(start, stop)]

    def sort_key(self, job: TrainingJob) -> tuple[Any, ...]:
        """The key a queued job is ordered by (``key(job)`` then its id)."""
        return self._keys[job.id]

    def rank(self, job: TrainingJob) -> int:
        """The position of a queued job in the order."""
        return int(self._sorted.bisect_left(self._keys[job.id]))

    def signature(self) -> Hashable:
        """Changes when the relative order of waiting jobs may have changed (never)."""
        return None


Shape = tuple[tuple[int, ...], int]  # (pools a job may use, its cards)


class GroupedOrder(SortedOrder):
    """A :class:`SortedOrder` that also keeps its jobs by shape (the pools they may use
    and their cards), so that a pass can take, from a window of the order, only the jobs
    of the shapes that could start (:meth:`shape_window`) instead of every job."""

    __slots__ = ("_shapes",)

    def __init__(self, key: Callable[[TrainingJob], tuple[Any, ...]]) -> None:
        super().__init__(key)
        self._shapes: dict[Shape, SortedList] = {}  # shape -> sort keys of its jobs

    def rebuild(self, view: SchedulerView) -> None:
        self._shapes.clear()
        super().rebuild(view)

    def add(self, job: TrainingJob) -> None:
        super().add(job)
        shape = (job.eligible, job.cards)
        keys = self._shapes.get(shape)
        if keys is None:
            keys = self._shapes[shape] = SortedList()
        keys.add(self._keys[job.id])

    def discard(self, job: TrainingJob) -> None:
        key = self._keys.get(job.id)
        super().discard(job)
        if key is not None:
            shape = (job.eligible, job.cards)
            keys = self._shapes[shape]
            keys.remove(key)
            if not keys:
                del self._shapes[shape]

    def shape_window(
        self, start: int, stop: int, want: Callable[[tuple[int, ...], int], bool]
    ) -> list[TrainingJob] | None:
        """The jobs at positions ``start`` to ``stop - 1`` whose shape ``want`` accepts,
        in order; None when the order holds so many shapes that asking each costs more
        than the window (the caller then takes :meth:`window`). Work: O(shapes x log n
        + jobs returned)."""
        sorted_keys = self._sorted
        n = len(sorted_keys)
        stop = min(stop, n)
        if start >= stop:
            return []
        if len(self._shapes) > max(16, (stop - start) // 8):
            return None
        low = sorted_keys[start]
        high = sorted_keys[stop] if stop < n else None
        picked: list[tuple[Any, ...]] = []
        for (eligible, cards), keys in self._shapes.items():
            if want(eligible, cards):
                picked.extend(keys.irange(low, high, inclusive=(True, False)))
        picked.sort()
        jobs = self._jobs
        return [jobs[k[-1]] for k in picked]


class RunningJobs:
    """The jobs a policy started that still run, by pool, and their cards per tenant.

    Cards per tenant are keyed by ``tenant_id(job.tenant)`` (the tenant index itself
    when no ``tenant_id`` is given), so tenant indices of the same name add up.
    """

    __slots__ = ("by_pool", "pool_cards", "tenant_cards", "pool_of", "tenant_id")

    def __init__(self, tenant_id: Callable[[int], int] | None = None) -> None:
        self.by_pool: list[dict[int, TrainingJob]] = []
        self.pool_cards: list[int] = []
        self.tenant_cards: dict[int, int] = {}
        self.pool_of: dict[int, int] = {}  # job id -> the pool it runs on
        self.tenant_id = tenant_id

    def __len__(self) -> int:
        return len(self.pool_of)

    def _tenant(self, job: TrainingJob) -> int:
        return job.tenant if self.tenant_id is None else self.tenant_id(job.tenant)

    def add(self, job: TrainingJob) -> None:
        """Record a job the policy has just started (``job.pool`` is set)."""
        p = job.pool
        while p >= len(self.by_pool):
            self.by_pool.append({})
            self.pool_cards.append(0)
        self.by_pool[p][job.id] = job
        self.pool_of[job.id] = p
        self.pool_cards[p] += job.cards
        tenant = self._tenant(job)
        self.tenant_cards[tenant] = self.tenant_cards.get(tenant, 0) + job.cards

    def remove(self, job: TrainingJob, pool: int) -> None:
        """Forget a job that ended or that the policy stopped, which ran on ``pool``."""
        del self.by_pool[pool][job.id]
        del self.pool_of[job.id]
        self.pool_cards[pool] -= job.cards
        self.tenant_cards[self._tenant(job)] -= job.cards

    def sync(self, view: SchedulerView) -> list[TrainingJob]:
        """Forget and return the policy's jobs that stopped running since the last pass.

        They are the jobs of ``view.ended`` (finished, preempted or interrupted, in the
        order they stopped) that the policy started and has not forgotten yet; a job the
        policy stopped itself was forgotten when it did. Work: O(jobs ended).
        """
        ended: list[TrainingJob] = []
        pool_of = self.pool_of
        for job in view.ended:
            p = pool_of.get(job.id)
            if p is not None and self.by_pool[p].get(job.id) is job:
                self.remove(job, p)
                ended.append(job)
        return ended


class TenantIds:
    """Who a tenant is: tenant index -> the first tenant index with the same name.

    The engine numbers tenants per job class (and campaign, and trace), so a tenant that
    submits to two classes has two indices with one name; policies count it as one
    tenant. Without names (``view.tenant_names`` empty) every index is its own tenant.
    Call :meth:`sync` at each pass start; a lookup is then one dict access.
    """

    __slots__ = ("_ids", "_names")

    def __init__(self) -> None:
        self._ids: dict[int, int] = {}
        self._names: Sequence[str] = ()

    def sync(self, view: SchedulerView) -> None:
        if view.tenant_names is not self._names:
            self._names = view.tenant_names
            self._ids.clear()

    def __call__(self, tenant: int) -> int:
        tid = self._ids.get(tenant)
        if tid is None:
            names = self._names
            tid = list(names).index(names[tenant]) if 0 <= tenant < len(names) else tenant
            self._ids[tenant] = tid
        return tid


class TenantKeyed:
    """A parameter keyed by tenant: text keys are tenant names, integer keys tenant indices.

    An integer key stands for the tenant with that index, that is for its name, so it
    also applies to the other indices of the same name. :meth:`get` looks a tenant up by
    its name (``view.tenant_name``: its index as text when the engine names no tenants),
    then among the integer keys; a name key wins over an index key of the same tenant.

    Example:
        >>> weights = TenantKeyed({"team-a": 2.0, 3: 5.0})
        >>> class View:
        ...     tenant_names = ("team-a", "team-b", "team-a", "team-c", "team-c")
        ...     def tenant_name(self, t): return self.tenant_names[t]
        >>> [weights.get(View(), t, 1.0) for t in range(5)]
        [2.0, 1.0, 2.0, 5.0, 5.0]
    """

    __slots__ = ("by_name", "by_index")

    def __init__(self, values: Mapping[Any, Any]) -> None:
        self.by_name: dict[str, Any] = {}
        self.by_index: dict[int, Any] = {}
        for key, value in values.items():
            if isinstance(key, int) and not isinstance(key, bool):
                self.by_index[key] = value
            else:
                self.by_name[str(key)] = value

    def __bool__(self) -> bool:
        return bool(self.by_name or self.by_index)

    def __repr__(self) -> str:
        return f"TenantKeyed({self.by_name!r}, {self.by_index!r})"

    def get(self, view: SchedulerView, tenant: int, default: Any = None) -> Any:
        """The value for tenant index ``tenant``: by its name, else by an index of that
        name (O(integer keys); policies look each tenant up once per run)."""
        name = view.tenant_name(tenant)
        if name in self.by_name:
            return self.by_name[name]
        if tenant in self.by_index:
            return self.by_index[tenant]
        for index, value in self.by_index.items():
            if view.tenant_name(index) == name:
                return value
        return default


def tenant_keyed(
    values: Mapping[Any, Any] | None, what: str, check: Callable[[Any], bool], allowed: str
) -> TenantKeyed:
    """A tenant-keyed parameter, checked value by value.

    Keys are tenant names (text); an integer key is a tenant index (``job.tenant``: the
    tenants of the scenario's classes, campaigns and trace, numbered in that order).
    When the engine names no tenants, a tenant's name is its index as text (``"0"``).

    Raises:
        ValueError: the mapping is not a mapping, a key is neither text nor an integer
            >= 0, or a value fails ``check``.
    """
    if values is None:
        return TenantKeyed({})
    if not isinstance(values, Mapping):
        raise ValueError(f"{what} must map tenant names to values, got {values!r}")
    for key, value in values.items():
        if (
            isinstance(key, bool)
            or not isinstance(key, (str, int))
            or (isinstance(key, int) and key < 0)
        ):
            raise ValueError(
                f"{what} keys must be tenant names or tenant indices (integers >= 0), got {key!r}"
            )
        if not check(value):
            raise ValueError(f"{what}[{key!r}] must be {allowed}, got {value!r}")
    return TenantKeyed(values)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
