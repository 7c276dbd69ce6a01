"""First-in, first-out with head-of-line blocking.

Jobs start strictly in submit order: when the longest-waiting job cannot start, no
later job starts either, even if it would fit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from simulator.policies.base import QueuePolicy, Start, register_policy

if TYPE_CHECKING:
    from simulator.policies.view import SchedulerView


@register_policy("fifo")
@dataclass(frozen=True)
class Fifo(QueuePolicy):
    """Start queued jobs in submit order until the first one that cannot start."""

    starts_lone_arrivals = True

    def decide(self, view: SchedulerView) -> Iterator[Start]:
        while True:
            head = view.head()
            if head is None:
                return
            pool = view.choose_pool(head)
            if pool is None:
                return
            yield Start(head, pool)
