"""Scheduling policies: queue order and backfilling, dispatch across pools, the registry.

A policy is a frozen dataclass subclassing :class:`QueuePolicy`, registered with
:func:`register_policy`; its ``decide(view)`` reads the :class:`SchedulerView` and yields
:class:`Start` and :class:`Preempt` decisions. Dispatch rules subclass
:class:`DispatchRule` and register with :func:`register_dispatch`. ``known_policies()``
lists the built-in policies, those of ``policy.module`` files loaded so far and those of
installed packages (entry points of the group ``lingang_sim.policies``, see
:mod:`simulator.policies.plugins`). See ``docs/policies.md``.
"""

from simulator.policies.base import (
    Decision,
    DispatchRule,
    Preempt,
    QueuePolicy,
    Start,
    known_dispatch_rules,
    known_policies,
    load_policy_module,
    make_dispatch,
    make_policy,
    register_dispatch,
    register_policy,
)
from simulator.policies.view import SchedulerView

__all__ = [
    "Decision",
    "DispatchRule",
    "Preempt",
    "QueuePolicy",
    "SchedulerView",
    "Start",
    "known_dispatch_rules",
    "known_policies",
    "load_policy_module",
    "make_dispatch",
    "make_policy",
    "register_dispatch",
    "register_policy",
]
