"""Fair share between tenants with decaying usage (the Slurm fair-share factor).

Tenants: a tenant is its name (``view.tenant_name``): tenant indices that carry the same
name, a tenant that submits to several job classes, share one usage, one weight and one
place in the order.

Usage: each tenant's usage U is the card-hours its running jobs consumed, decayed with a
half-life ``half_life_h``: a card-hour consumed ``a`` hours ago counts ``2^(-a / h)``.
It is kept exactly between passes: over an interval in which a tenant runs n cards its
usage becomes ``U 2^(-dt/h) + n h / ln 2 (1 - 2^(-dt/h))``; a job that ended during the
interval is found at the next pass and its cards are taken off from its end time on.

Factor: with ``u`` the tenant's share of the total usage of all tenants and ``s`` its
share of the weights of the tenants seen so far (``weights``, by tenant name, or by
tenant index for an integer key; 1 for a tenant not listed), the fair-share factor is
``F = 2^(-u / s)``: 1 for a tenant that used nothing, 1/2 for one that used exactly its
share, towards 0 for heavy users. With no usage at all every tenant has F = 1.

Order: tenants by descending F (ties: the tenant whose first queued job was submitted
first), each tenant's jobs in submit order; so all queued jobs of the tenant furthest
below its share come first. Scheduling is EASY backfilling on that order
(:func:`~simulator.policies.ordering.backfill_pass`): the first job that cannot start is
reserved, later ones start if they cannot delay it. The order is recomputed at every
pass (factors change as usage decays), at a cost of O(tenants); a pass that only saw
arrivals, with the same tenant order and head as the previous one, examines only the new
arrivals within the look-ahead. When the engine names no tenants, a tenant's name is its
index written as text (``"0"``, ``"1"``, ...).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from sortedcontainers import SortedList

from simulator.policies.base import QueuePolicy, Start, register_policy
from simulator.policies.ordering import backfill_pass
from simulator.policies.state import (
    RunningJobs,
    RunState,
    TenantIds,
    TenantKeyed,
    is_number,
    tenant_keyed,
)

if TYPE_CHECKING:
    from simulator.job import TrainingJob
    from simulator.policies.view import SchedulerView

LN2 = math.log(2.0)


class TenantOrder:
    """Queued jobs grouped by tenant (submit order inside), tenants in a given order.

    A job's tenant is ``tenant_id(job.tenant)``.
    """

    def __init__(self, tenant_id: TenantIds) -> None:
        self.tenant_id = tenant_id
        self.queues: dict[int, SortedList] = {}  # tenant -> (submit, id) ascending
        self.jobs: dict[int, TrainingJob] = {}
        self.tenants: list[int] = []  # tenants with queued jobs, in scheduling order

    def __len__(self) -> int:
        return len(self.jobs)

    def sync(self, view: SchedulerView) -> None:
        """Take in new arrivals and jobs that went back to the queue without the policy
        stopping them; rebuild from the view if the counts disagree."""
        for job in view.new_arrivals:
            if view.is_queued(job):
                self.add(job)
        for job in view.ended:
            if view.is_queued(job):
                self.add(job)
        if len(self.jobs) != view.queue_length():
            self.queues.clear()
            self.jobs.clear()
            for job in view.waiting(view.queue_length()):
                self.add(job)

    def add(self, job: TrainingJob) -> None:
        if job.id in self.jobs:
            return
        tenant = self.tenant_id(job.tenant)
        queue = self.queues.get(tenant)
        if queue is None:
            queue = self.queues[tenant] = SortedList()
        queue.add((job.submit, job.id))
        self.jobs[job.id] = job

    def discard(self, job: TrainingJob) -> None:
        if self.jobs.pop(job.id, None) is not None:
            self.queues[self.tenant_id(job.tenant)].remove((job.submit, job.id))

    def arrange(self, factor: dict[int, float]) -> None:
        """Order the tenants with queued jobs by descending factor, then by first job."""
        self.tenants = sorted(
            (t for t, q in self.queues.items() if q),
            key=lambda t: (-factor.get(t, 1.0), self.queues[t][0]),
        )

    def job_at(self, i: int) -> TrainingJob | None:
        for t in self.tenants:
            queue = self.queues[t]
            if i < len(queue):
                return self.jobs[queue[i][1]]
            i -= len(queue)
        return None

    def window(self, start: int, stop: int) -> list[TrainingJob]:
        out: list[TrainingJob] = []
        jobs = self.jobs
        for t in self.tenants:
            if stop <= 0:
                break
            queue = self.queues[t]
            n = len(queue)
            if start < n:
                out.extend(jobs[k[1]] for k in queue.islice(max(start, 0), min(stop, n)))
            start -= n
            stop -= n
        return out

    def rank(self, job: TrainingJob) -> int:
        before = 0
        tenant = self.tenant_id(job.tenant)
        for t in self.tenants:
            queue = self.queues[t]
            if t == tenant:
                return before + int(queue.bisect_left((job.submit, job.id)))
            before += len(queue)
        return before

    def signature(self) -> Hashable:
        return tuple(self.tenants)


class _FairShareRun:
    """One run's memory: usage per tenant, running jobs, the tenant order."""

    def __init__(self) -> None:
        self.tenant_id = TenantIds()  # tenant index -> tenant (first index of its name)
        self.usage: dict[int, float] = {}  # tenant -> decayed card-hours, as of ``since``
        self.since = 0.0
        self.running = RunningJobs(self.tenant_id)
        self.order = TenantOrder(self.tenant_id)
        self.weight: dict[int, float] = {}  # tenants seen so far -> weight


@register_policy("fair_share")
@dataclass(frozen=True)
class FairShare(QueuePolicy):
    """Tenants furthest below their weighted share first (Slurm fair-share factor).

    Attributes:
        half_life_h: half-life of past usage, hours.
        weights: tenant name (or tenant index, an integer) -> share weight (> 0);
            tenants not listed weigh 1.
        lookahead: queued jobs that do not start examined per pass (the head included).
    """

    half_life_h: float = 168.0
    weights: dict[str | int, float] | None = None
    lookahead: int = 1000
    needs_estimated_ends = True

    def __post_init__(self) -> None:
        if not (is_number(self.half_life_h) and self.half_life_h > 0):
            raise ValueError(f"half_life_h must be > 0, got {self.half_life_h!r}")
        _ = self._weights  # check the weights when the policy is built
        if self.lookahead < 1:
            raise ValueError(f"lookahead must be >= 1, got {self.lookahead}")

    @cached_property
    def _weights(self) -> TenantKeyed:
        """The weights by tenant name or index, checked."""
        return tenant_keyed(
            self.weights, "weights", lambda w: is_number(w) and w > 0, "a number > 0"
        )

    @cached_property
    def _state(self) -> RunState[_FairShareRun]:
        """This policy's memory of the run it is serving (not a parameter)."""
        return RunState(_FairShareRun)

    def decide(self, view: SchedulerView) -> Iterator[Start]:
        run = self._state.of(view)
        run.tenant_id.sync(view)
        run.order.sync(view)
        for job in view.new_arrivals:
            tenant = run.tenant_id(job.tenant)
            if tenant not in run.weight:
                run.weight[tenant] = float(self._weights.get(view, tenant, 1.0))
        self._update_usage(view, run)
        run.order.arrange(self.factors(run))
        return backfill_pass(
            view, run.order, self.lookahead, "fair_share", on_start=run.running.add
        )

    def _update_usage(self, view: SchedulerView, run: _FairShareRun) -> None:
        """Bring every tenant's decayed usage to ``view.now`` (exactly; see the module)."""
        now = view.now
        h = self.half_life_h
        dt = now - run.since
        if dt > 0:
            decay = 2.0 ** (-dt / h)
            gain = h / LN2 * (1.0 - decay)
            usage = run.usage
            for tenant, cards in run.running.tenant_cards.items():
                usage[tenant] = usage.get(tenant, 0.0) * decay + cards * gain
            for tenant in usage.keys() - run.running.tenant_cards.keys():
                usage[tenant] *= decay
        for job in run.running.sync(view):
            # Counted as running until now; it stopped at job.end.
            over = job.cards * h / LN2 * (1.0 - 2.0 ** (-(now - job.end) / h))
            tenant = run.tenant_id(job.tenant)
            run.usage[tenant] = max(0.0, run.usage.get(tenant, 0.0) - over)
        run.since = now

    def factors(self, run: _FairShareRun) -> dict[int, float]:
        """F = 2^(-usage share / weight share) for every tenant seen so far."""
        total_usage = sum(run.usage.values())
        total_weight = sum(run.weight.values())
        if total_usage <= 0:
            return {t: 1.0 for t in run.weight}
        out: dict[int, float] = {}
        for tenant, weight in run.weight.items():
            share = weight / total_weight
            out[tenant] = 2.0 ** (-(run.usage.get(tenant, 0.0) / total_usage) / share)
        return out
