"""Smallest gang first, with a bounded look-ahead: an example of an engineer's own policy.

Each scheduling pass looks at the first ``lookahead`` queued jobs (in queue order), sorts
them by gang size (cards), smallest first, and starts every one that can start now. A job
that cannot start is passed over, so small jobs never wait behind a big one; the price is
that a big job may wait for a long time while small ones keep arriving (there is no
reservation to protect it).

Name it in a scenario, with the file path relative to the scenario file::

    policy: {name: smallest_first, module: ../examples/policies/smallest_first.py,
             params: {lookahead: 200}}

See ``docs/policies.md`` for the contract this file follows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from simulator.policies import QueuePolicy, SchedulerView, Start, register_policy


@register_policy("smallest_first")
@dataclass(frozen=True)
class SmallestFirst(QueuePolicy):
    """Smallest gang first among the first ``lookahead`` queued jobs; no reservations.

    Attributes:
        lookahead: queued jobs examined per pass, in queue order.
    """

    lookahead: int = 100

    def __post_init__(self) -> None:
        # A ValueError here becomes a PolicyError naming the policy and its parameters.
        if self.lookahead < 1:
            raise ValueError(f"lookahead must be >= 1, got {self.lookahead}")

    def decide(self, view: SchedulerView) -> Iterator[Start]:
        window = view.waiting(self.lookahead)  # a copy: safe while jobs start
        window.sort(key=lambda job: job.cards)  # stable: equal sizes keep queue order
        for job in window:
            # Free cards only shrink during a pass: once no pool has room for this job,
            # no later (larger) job fits either.
            if job.cards > max(pool.free_cards for pool in view.pools):
                return
            pool = view.choose_pool(job)  # the dispatch rule's pool, or None
            if pool is not None:
                yield Start(job, pool)
