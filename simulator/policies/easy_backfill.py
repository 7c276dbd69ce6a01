"""EASY backfilling (Lifka 1995; Mu'alem and Feitelson 2001).

Jobs start in submit order while they can. When the head job cannot start, it gets a
reservation on the pool where it could start earliest: the *shadow time*, when enough
running jobs will have ended (by their user estimates) to free its cards, and the
*extra* cards that will still be free then. A later job may start now ("backfill") if it
fits now and either ends (by its estimate) before the shadow time or uses no more than
the extra cards, so it cannot delay the head job; on other pools it is not constrained.

The shadow time counts cards, not server shapes: a reservation assumes the head's cards
can be placed once enough cards are free. Backfill scans at most ``lookahead`` queued
jobs per pass, so a pass costs O(lookahead) whatever the queue length; a candidate
whose cards fit no pool now, or only the reserved pool while it would delay the head,
is dismissed in O(1) (:func:`~simulator.policies.ordering.backfill_candidates`, shared
with the policies built on EASY). A pass that follows only arrivals, with the same head,
examines only the new arrivals.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from simulator.policies.base import QueuePolicy, Start, register_policy
from simulator.policies.ordering import backfill_candidates, shadow_time

if TYPE_CHECKING:
    from simulator.job import TrainingJob
    from simulator.policies.view import SchedulerView

__all__ = ["EasyBackfill", "shadow_time"]


@register_policy("easy_backfill")
@dataclass(frozen=True)
class EasyBackfill(QueuePolicy):
    """EASY backfill with a bounded look-ahead.

    Attributes:
        lookahead: queued jobs examined per pass (the head included).
    """

    lookahead: int = 1000
    needs_estimated_ends = True
    starts_lone_arrivals = True

    def __post_init__(self) -> None:
        if self.lookahead < 1:
            raise ValueError(f"lookahead must be >= 1, got {self.lookahead}")

    def decide(self, view: SchedulerView) -> Iterator[Start]:
        started_head = False
        while True:
            head = view.head()
            if head is None:
                return
            pool = view.choose_pool(head)
            if pool is None:
                break
            started_head = True
            yield Start(head, pool)

        reservation = view.memo.get("easy")
        if reservation is None or reservation[0] != head.id or started_head:
            reservation = self._reserve(view, head)
            candidates = view.waiting(self.lookahead)[1:]
        else:
            # Only arrivals since the last pass: older jobs were already examined.
            fresh = [j for j in view.new_arrivals if view.is_queued(j)]
            first_fresh = view.queue_length() - len(fresh)
            candidates = fresh[: max(0, self.lookahead - first_fresh)]
        _, res_pool, shadow, extra = reservation
        extra = yield from backfill_candidates(view, candidates, res_pool, shadow, extra)
        view.memo["easy"] = (head.id, res_pool, shadow, extra)

    @staticmethod
    def _reserve(view: SchedulerView, head: TrainingJob) -> tuple[int, int, float, int]:
        best = (head.id, head.eligible[0], math.inf, 0)
        for p in head.eligible:
            shadow, extra = shadow_time(view, head, p)
            if shadow < best[2]:
                best = (head.id, p, shadow, extra)
        return best
