"""Built-in dispatch rules: which centre and pool a startable job goes to.

A job never spans centres or pools; the rule only picks among pools where the job can
start now (``candidates``), so every rule here starts a job at the earliest possible
time and differs in how it breaks the tie, except ``home_centre``, which may decline to
start a job away from its tenant's home centre.

* ``earliest_start`` (alias ``least_loaded``): the lowest busy fraction.
* ``fastest_card``: the fastest cards; ties to the pool listed first.
* ``card_affinity``: the fastest cards; ties to the lowest busy fraction.
* ``home_centre``: the tenant's home centre until the job has waited ``spill_after_h``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from simulator.errors import PolicyError
from simulator.policies.base import DispatchRule, register_dispatch
from simulator.policies.state import RunState, TenantKeyed, is_number, tenant_keyed

if TYPE_CHECKING:
    from simulator.job import TrainingJob
    from simulator.policies.view import SchedulerView


@register_dispatch("earliest_start")
@dataclass(frozen=True)
class EarliestStart(DispatchRule):
    """Start where the job can start now; among those, the least loaded pool.

    Load is the busy fraction of the pool's online cards; ties go to the pool listed
    first in the scenario.
    """

    def choose(self, job: TrainingJob, candidates: list[int], view: SchedulerView) -> int:
        return _least_loaded(candidates, view)

    def pick(self, job: TrainingJob, view: SchedulerView) -> int | None:
        # The least-loaded eligible pool is the answer whenever the job fits there, which
        # is the common case; only otherwise filter the startable pools first.
        pools = view.pools
        best, best_free = -1, -1.0
        for p in job.eligible:
            pool = pools[p]
            if pool.online_cards:
                free = pool.free_cards / pool.online_cards
                if free > best_free:
                    best, best_free = p, free
        if best < 0:
            return None
        if pools[best].can_fit(job.cards):
            return best
        return DispatchRule.pick(self, job, view)


@register_dispatch("fastest_card")
@dataclass(frozen=True)
class FastestCard(DispatchRule):
    """Among pools where the job can start now, the one whose cards run it fastest."""

    def choose(self, job: TrainingJob, candidates: list[int], view: SchedulerView) -> int:
        pools = view.pools
        return max(candidates, key=lambda p: (pools[p].speed, -p))


@register_dispatch("least_loaded")
@dataclass(frozen=True)
class LeastLoaded(EarliestStart):
    """Among pools where the job can start now, the lowest busy fraction of online cards.

    The same rule as ``earliest_start`` under a name that says how it breaks the tie:
    every rule here starts a job only where it can start now, so "earliest start" and
    "least loaded" choose alike. Ties go to the pool listed first.
    """


@register_dispatch("card_affinity")
@dataclass(frozen=True)
class CardAffinity(DispatchRule):
    """The pool whose cards run the job fastest; among equally fast ones, the least loaded.

    Differs from ``fastest_card`` only in its tie-break: pools of the same speed (the same
    card type in several centres) share the load instead of filling the first listed.
    """

    def choose(self, job: TrainingJob, candidates: list[int], view: SchedulerView) -> int:
        pools = view.pools

        def rank(p: int) -> tuple[float, float, int]:
            pool = pools[p]
            return (pool.speed, pool.free_cards / pool.online_cards, -p)

        return max(candidates, key=rank)


class _HomeRun:
    """One run's memory: each tenant's home pools (None: the tenant has no home)."""

    def __init__(self) -> None:
        self.home: dict[int, frozenset[int] | None] = {}


@register_dispatch("home_centre")
@dataclass(frozen=True)
class HomeCentre(DispatchRule):
    """Each tenant's jobs start in its home centre until they have waited ``spill_after_h``.

    A job whose tenant has a home starts only on that centre's pools until ``now -
    submit >= spill_after_h``; after that it may start anywhere, still preferring home.
    Among the allowed pools the least loaded wins (as ``earliest_start``). Tenants not in
    ``homes`` start anywhere. A job never spans centres.

    The restriction holds wherever a policy asks the rule through ``view.choose_pool``:
    FIFO, the jobs that start in order in EASY, SJF, priority, fair-share and quota
    passes, LAS starts. Where a policy picks among several pools itself (backfilled jobs
    in EASY and the policies built on it, conservative backfilling, the pool a
    preempting job clears) it calls ``choose`` or decides alone, and this rule can then
    only prefer home. A job that passes ``spill_after_h`` while waiting may spill at the
    next scheduling pass (an arrival, an end, a capacity change), not at that instant.

    Tenant names come from ``view.tenant_name``; when the engine names no tenants a
    tenant's name is its index written as text (``"0"``, ``"1"``, ...).

    Attributes:
        homes: tenant name (or tenant index, an integer) -> home centre name.
        spill_after_h: hours a job waits before it may start outside its home centre.
    """

    homes: dict[str | int, str] | None = None
    spill_after_h: float = 24.0

    def __post_init__(self) -> None:
        _ = self._homes  # check the homes when the policy is built
        if not (is_number(self.spill_after_h) and self.spill_after_h >= 0):
            raise ValueError(f"spill_after_h must be >= 0, got {self.spill_after_h!r}")

    @cached_property
    def _homes(self) -> TenantKeyed:
        """Home centre by tenant name or index, checked."""
        return tenant_keyed(
            self.homes, "homes", lambda c: isinstance(c, str) and bool(c), "a centre name"
        )

    @cached_property
    def _state(self) -> RunState[_HomeRun]:
        """This rule's memory of the run it is serving (not a parameter)."""
        return RunState(_HomeRun)

    def home_pools(self, job: TrainingJob, view: SchedulerView) -> frozenset[int] | None:
        """The pools of the job's home centre, or None when its tenant has no home."""
        run = self._state.of(view)
        tenant = job.tenant
        if tenant not in run.home:
            centre = self._homes.get(view, tenant)
            if centre is None:
                run.home[tenant] = None
            else:
                pools = frozenset(p.index for p in view.pools if p.centre == centre)
                if not pools:
                    centres = sorted({p.centre for p in view.pools})
                    raise PolicyError(
                        f"dispatch rule 'home_centre': tenant "
                        f"'{view.tenant_name(tenant)}' has home centre '{centre}', which is "
                        f"not a centre of this scenario (centres: {', '.join(centres)})"
                    )
                run.home[tenant] = pools
        return run.home[tenant]

    def choose(self, job: TrainingJob, candidates: list[int], view: SchedulerView) -> int:
        home = self.home_pools(job, view)
        at_home = [p for p in candidates if home is not None and p in home]
        return _least_loaded(at_home or candidates, view)

    def pick(self, job: TrainingJob, view: SchedulerView) -> int | None:
        options = view.start_options(job)
        if not options:
            return None
        home = self.home_pools(job, view)
        if home is None:
            return _least_loaded(options, view)
        at_home = [p for p in options if p in home]
        if at_home:
            return _least_loaded(at_home, view)
        if view.now - job.submit >= self.spill_after_h:
            return _least_loaded(options, view)
        return None


def _least_loaded(candidates: list[int], view: SchedulerView) -> int:
    """The candidate with the largest free fraction of online cards (first on ties)."""
    pools = view.pools
    best = candidates[0]
    best_free = pools[best].free_cards / pools[best].online_cards
    for p in candidates[1:]:
        free = pools[p].free_cards / pools[p].online_cards
        if free > best_free:
            best, best_free = p, free
    return best
