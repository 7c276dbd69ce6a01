"""Scheduling policies: queue order and backfilling, dispatch across pools, the registry.

Built-in queue policies: ``fifo``, ``easy_backfill``. Built-in dispatch rules:
``earliest_start``, ``fastest_card``. Write your own with :func:`register_policy`.
"""

from simulator.policies.base import (
    DispatchRule,
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
    "DispatchRule",
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
