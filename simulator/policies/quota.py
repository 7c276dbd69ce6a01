"""Hard per-tenant card quotas on top of FIFO with EASY backfilling.

Admission: a job may start only if its tenant's running cards plus its own cards stay
within the tenant's quota (``quotas`` by tenant name, or by tenant index for an integer
key, else ``default_quota``; no quota when both are absent). Running cards count every
pool and centre together, and every job class: a tenant is its name, so tenant indices
that carry the same name share one quota. A job that
is not admitted is passed over: it neither starts nor blocks later jobs, and it is
admitted again as soon as its tenant's jobs end. A job larger than its tenant's quota
never starts.

Order and backfilling: admitted jobs in submit order; the first admitted job that cannot
start gets an EASY reservation and later admitted jobs start if they cannot delay it
(:func:`~simulator.policies.ordering.backfill_pass`). With ``backfill: false`` the first
admitted job that cannot start blocks the later ones instead.

A pass examines at most ``lookahead`` jobs that do not start (passed over, the head and
backfill candidates). Tenant names come from ``view.tenant_name``; when the engine names
no tenants a tenant's name is its index written as text (``"0"``, ``"1"``, ...).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from simulator.policies import state
from simulator.policies.base import QueuePolicy, Start, register_policy
from simulator.policies.ordering import backfill_pass
from simulator.policies.state import (
    GroupedOrder,
    RunningJobs,
    RunState,
    TenantIds,
    TenantKeyed,
    tenant_keyed,
)

if TYPE_CHECKING:
    from simulator.job import TrainingJob
    from simulator.policies.view import SchedulerView


def _submit_key(job: TrainingJob) -> tuple[Any, ...]:
    return (job.submit,)


class _QuotaRun:
    def __init__(self) -> None:
        self.tenant_id = TenantIds()  # tenant index -> tenant (first index of its name)
        self.order = GroupedOrder(_submit_key)
        self.running = RunningJobs(self.tenant_id)
        self.quota: dict[int, int | None] = {}  # tenant -> quota (None: unlimited)


def _is_cards(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@register_policy("quota")
@dataclass(frozen=True)
class TenantQuota(QueuePolicy):
    """FIFO with EASY backfill, where a tenant never holds more cards than its quota.

    Attributes:
        quotas: tenant name (or tenant index, an integer) -> most cards its running jobs
            may hold together (>= 0).
        default_quota: the quota of tenants not in ``quotas`` (None: unlimited).
        lookahead: queued jobs that do not start examined per pass.
        backfill: EASY backfilling among admitted jobs (False: strict FIFO among them).
    """

    quotas: dict[str | int, int] | None = None
    default_quota: int | None = None
    lookahead: int = 1000
    backfill: bool = True
    needs_estimated_ends = True

    def __post_init__(self) -> None:
        _ = self._quotas  # check the quotas when the policy is built
        if self.default_quota is not None and not _is_cards(self.default_quota):
            raise ValueError(
                f"default_quota must be a whole number of cards >= 0 or null, "
                f"got {self.default_quota!r}"
            )
        if self.lookahead < 1:
            raise ValueError(f"lookahead must be >= 1, got {self.lookahead}")

    @cached_property
    def _quotas(self) -> TenantKeyed:
        """The quotas by tenant name or index, checked."""
        return tenant_keyed(self.quotas, "quotas", _is_cards, "a whole number of cards >= 0")

    @cached_property
    def _state(self) -> RunState[_QuotaRun]:
        """This policy's memory of the run it is serving (not a parameter)."""
        return RunState(_QuotaRun)

    def decide(self, view: SchedulerView) -> Iterator[Start]:
        run = self._state.of(view)
        run.tenant_id.sync(view)
        run.order.sync(view)
        run.running.sync(view)
        quota = run.quota
        held = run.running.tenant_cards
        tenant_id = run.tenant_id

        def limit_of(tenant: int) -> int | None:
            if tenant in quota:
                return quota[tenant]
            limit = quota[tenant] = self._quotas.get(view, tenant, self.default_quota)
            return limit

        def admit(job: TrainingJob) -> bool:
            tenant = tenant_id(job.tenant)
            limit = limit_of(tenant)
            return limit is None or held.get(tenant, 0) + job.cards <= limit

        if not state.FAST_PATHS:
            return backfill_pass(
                view,
                run.order,
                self.lookahead,
                "quota",
                admit=admit,
                on_start=run.running.add,
                backfill=self.backfill,
            )

        # Shortcut: the cards each tenant index may still start, until the next start.
        room: dict[int, float] = {}

        def admit_fast(job: TrainingJob) -> bool:
            cards = room.get(job.tenant)
            if cards is None:
                tenant = tenant_id(job.tenant)
                limit = limit_of(tenant)
                cards = room[job.tenant] = (
                    math.inf if limit is None else limit - held.get(tenant, 0)
                )
            return job.cards <= cards

        def started(job: TrainingJob) -> None:
            run.running.add(job)
            room.clear()

        return backfill_pass(
            view,
            run.order,
            self.lookahead,
            "quota",
            admit=admit_fast,
            on_start=started,
            backfill=self.backfill,
        )
