"""Built-in dispatch rules: which centre and pool a startable job goes to.

A job never spans centres or pools; the rule only picks among pools where the job can
start now (``candidates``), so every rule here starts a job at the earliest possible
time and differs in how it breaks the tie.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from simulator.policies.base import DispatchRule, register_dispatch

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
        pools = view.pools
        best = candidates[0]
        best_free = pools[best].free_cards / pools[best].online_cards
        for p in candidates[1:]:
            free = pools[p].free_cards / pools[p].online_cards
            if free > best_free:
                best, best_free = p, free
        return best

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
