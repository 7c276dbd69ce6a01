"""Policies from installed packages: entry points in the group ``lingang_sim.policies``.

A package registers its policies by naming them in its ``pyproject.toml``::

    [project.entry-points."lingang_sim.policies"]
    smallest_first = "my_policies.smallest_first:SmallestFirst"

Loading an entry point imports its module, which runs the module's
``@register_policy`` (or ``@register_dispatch``) decorators. An entry point may also
name a policy class that is not decorated: it is then registered under the entry
point's name. Either way, the policy is then available by name in any scenario, with no
``policy.module`` needed.

The registry loads the entry points once per process, the first time it is asked for a
policy or dispatch rule (``make_policy``, ``known_policies``, ...), right after the
built-in ones; an entry point that fails to import makes that request raise
:class:`~simulator.errors.PolicyError` naming it, and the next request tries again.
"""

from __future__ import annotations

import importlib.metadata
from importlib.metadata import EntryPoint

from simulator.errors import PolicyError
from simulator.policies.base import (
    _DISPATCH,
    _POLICIES,
    DispatchRule,
    QueuePolicy,
    register_dispatch,
    register_policy,
)

ENTRY_POINT_GROUP = "lingang_sim.policies"


def entry_points(group: str) -> list[EntryPoint]:
    """The installed entry points of ``group`` (read from the package metadata)."""
    return list(importlib.metadata.entry_points(group=group))


def load_entry_point_policies(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Import every entry point of ``group`` so that its policies are registered.

    Args:
        group: the entry-point group to load.

    Returns:
        The names of the entry points loaded, in the order found.

    Raises:
        PolicyError: an entry point fails to import, or names something that is neither
            a module nor a policy or dispatch-rule class; the message names the entry
            point and its target.
    """
    loaded = []
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        _load(ep)
        loaded.append(ep.name)
    return loaded


def _load(ep: EntryPoint) -> None:
    where = f"entry point '{ep.name} = {ep.value}' (group {ep.group})"
    try:
        target = ep.load()
    except Exception as exc:  # a package's code: report any failure with its entry point
        raise PolicyError(f"{where} failed to import: {exc!r}") from exc
    # A class its module already registered keeps its name; others take the entry's.
    if isinstance(target, type) and issubclass(target, QueuePolicy):
        if _POLICIES.get(target.name) is not target:
            register_policy(ep.name)(target)
    elif isinstance(target, type) and issubclass(target, DispatchRule):
        if _DISPATCH.get(target.name) is not target:
            register_dispatch(ep.name)(target)
    elif not hasattr(target, "__file__"):
        raise PolicyError(
            f"{where} names {target!r}, which is neither a module nor a policy or "
            f"dispatch-rule class"
        )
