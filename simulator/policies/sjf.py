"""Shortest job first, by the user's run-time estimate.

Order: ascending estimated remaining run time on reference cards (``work x
estimate_factor / cards`` for a job that never ran, plus any restart overhead owed),
ties in submit order. The policy sees only the estimate, never the true run time, so a
user who overestimates waits longer. Pools of faster cards scale every job's run time by
the same factor, so the order does not depend on the pool.

* ``sjf``: non-preemptive and strict: jobs start in that order, and the first job that
  cannot start blocks every later one (head-of-line blocking on the SJF order).
* ``sjf_backfill``: the same order with EASY backfilling: the first job that cannot start
  gets a reservation and later jobs start if they cannot delay it
  (:func:`~simulator.policies.ordering.backfill_pass`).

The order is kept incrementally (O(log n) per arrival), so a pass never scans the queue:
``sjf`` examines the jobs it starts plus one; ``sjf_backfill`` at most ``lookahead`` jobs
that do not start.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from simulator.policies.base import QueuePolicy, Start, register_policy
from simulator.policies.ordering import backfill_pass, strict_pass
from simulator.policies.state import GroupedOrder, RunState, SortedOrder

if TYPE_CHECKING:
    from simulator.job import TrainingJob
    from simulator.policies.view import SchedulerView


def estimate_key(job: TrainingJob) -> tuple[Any, ...]:
    """SJF key: estimated remaining hours on reference cards, then submit time."""
    return (job.remaining_estimate_on(1.0), job.submit)


def _sjf_order() -> SortedOrder:
    return SortedOrder(estimate_key)


def _sjf_grouped_order() -> GroupedOrder:
    return GroupedOrder(estimate_key)


@register_policy("sjf")
@dataclass(frozen=True)
class ShortestJobFirst(QueuePolicy):
    """Strict shortest-job-first by user estimate, non-preemptive, no backfill."""

    @cached_property
    def _state(self) -> RunState[SortedOrder]:
        """This policy's memory of the run it is serving (not a parameter)."""
        return RunState(_sjf_order)

    def decide(self, view: SchedulerView) -> Iterator[Start]:
        order = self._state.of(view)
        order.sync(view)
        return strict_pass(view, order)


@register_policy("sjf_backfill")
@dataclass(frozen=True)
class ShortestJobFirstBackfill(QueuePolicy):
    """Shortest-job-first by user estimate with EASY backfilling.

    Attributes:
        lookahead: queued jobs that do not start examined per pass (the head included).
    """

    lookahead: int = 1000
    needs_estimated_ends = True

    def __post_init__(self) -> None:
        if self.lookahead < 1:
            raise ValueError(f"lookahead must be >= 1, got {self.lookahead}")

    @cached_property
    def _state(self) -> RunState[GroupedOrder]:
        """This policy's memory of the run it is serving (not a parameter)."""
        return RunState(_sjf_grouped_order)

    def decide(self, view: SchedulerView) -> Iterator[Start]:
        order = self._state.of(view)
        order.sync(view)
        return backfill_pass(view, order, self.lookahead, "sjf_backfill")
