"""Policy contract and registries: policies decide, the engine enforces.

A queue policy is a frozen dataclass whose fields are its parameters, registered under a
name with :func:`register_policy`. At every scheduling pass the engine calls
``policy.decide(view)``, a generator of :class:`Start` decisions. The engine checks and
applies each decision before asking for the next, so the :class:`SchedulerView` always
shows the fleet as it is after the decisions already made. A policy never touches the
SimPy environment, never yields SimPy events and does no I/O.

A dispatch rule (``register_dispatch``) chooses among the pools where a job could start;
queue policies call it through ``view.choose_pool(job)``.

A user's own policy is a Python file that imports :func:`register_policy` and decorates a
dataclass; the scenario names the file in ``policy.module``. An installed package
registers its policies through entry points (:mod:`simulator.policies.plugins`), which
the registry loads the first time it is used.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, TypeVar

from simulator.errors import PolicyError

if TYPE_CHECKING:
    from simulator.job import TrainingJob
    from simulator.policies.view import SchedulerView


class Start(NamedTuple):
    """Decision: start ``job`` now on pool index ``pool``."""

    job: TrainingJob
    pool: int


class Preempt(NamedTuple):
    """Decision: stop running ``job`` now and put it back in the queue.

    The job keeps the work up to its last checkpoint (its class's
    ``checkpoint_interval_h``), pays its ``restart_overhead_h`` when it next starts, and
    waits ahead of jobs that never started, in the order they were stopped.
    """

    job: TrainingJob


Decision = Start | Preempt


class QueuePolicy:
    """Base class of queue policies (subclass as a frozen dataclass and register it).

    Class attributes:
        needs_estimated_ends: the engine keeps, per pool, the running jobs ordered by
            their user-estimated end (``view.running_by_estimated_end``); backfilling
            policies need it, others save its cost.
        starts_lone_arrivals: a promise that, when a job arrives and nobody else is
            queued, the policy would start it at once on ``view.choose_pool``'s pool
            whenever that finds one, and that it keeps no state about the jobs it
            starts (nothing but ``view.memo``). The engine then starts such a job
            without a scheduling pass, and empties ``view.memo`` and ``view.ended``.
    """

    name: ClassVar[str] = ""
    needs_estimated_ends: ClassVar[bool] = False
    starts_lone_arrivals: ClassVar[bool] = False

    def decide(self, view: SchedulerView) -> Iterator[Start | Preempt]:
        raise NotImplementedError

    def next_pass_h(self, view: SchedulerView) -> float | None:
        """When (hours) the policy wants a scheduling pass even if nothing happens.

        Called after every pass by policies that override it. Passes also run on every
        arrival, job end and capacity change; a timed pass helps decisions that depend
        on elapsed time alone (a victim reaching a minimum run time, a job crossing a
        service threshold, a wait passing a spill-over limit). None: no timed pass.
        """
        return None


class DispatchRule:
    """Base class of dispatch rules: choose one pool among candidates.

    ``choose`` defines the rule. ``pick`` finds the startable pools and applies it; a rule
    may override ``pick`` with a faster equivalent (it must return what ``choose`` would).
    """

    name: ClassVar[str] = ""

    def choose(self, job: TrainingJob, candidates: list[int], view: SchedulerView) -> int:
        raise NotImplementedError

    def pick(self, job: TrainingJob, view: SchedulerView) -> int | None:
        options = view.start_options(job)
        if not options:
            return None
        return options[0] if len(options) == 1 else self.choose(job, options, view)


_POLICIES: dict[str, type[QueuePolicy]] = {}
_DISPATCH: dict[str, type[DispatchRule]] = {}

P = TypeVar("P", bound=type)


def register_policy(name: str) -> Callable[[P], P]:
    """Class decorator: register a queue policy under ``name``.

    Raises:
        PolicyError: when the name is taken or the class is not a dataclass policy.
    """
    return _registrar(_POLICIES, name, QueuePolicy, "policy")


def register_dispatch(name: str) -> Callable[[P], P]:
    """Class decorator: register a dispatch rule under ``name``."""
    return _registrar(_DISPATCH, name, DispatchRule, "dispatch rule")


def _registrar(registry: dict[str, Any], name: str, base: type, what: str) -> Callable[[P], P]:
    def wrap(cls: P) -> P:
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise PolicyError(f"{what} '{name}' must subclass {base.__name__}")
        if not dataclasses.is_dataclass(cls):
            raise PolicyError(f"{what} '{name}' must be a dataclass (its fields are its params)")
        existing = registry.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise PolicyError(
                f"{what} name '{name}' is already registered by {existing.__module__}."
                f"{existing.__qualname__}"
            )
        cls.name = name  # type: ignore[attr-defined]
        registry[name] = cls
        return cls

    return wrap


def known_policies() -> list[str]:
    _load_builtins()
    return sorted(_POLICIES)


def known_dispatch_rules() -> list[str]:
    _load_builtins()
    return sorted(_DISPATCH)


def make_policy(name: str, params: dict[str, Any], module: str | None = None) -> QueuePolicy:
    """Build a registered policy with checked parameters.

    Args:
        name: the registered name.
        params: keyword parameters; each must be a field of the policy's dataclass.
        module: optional path of a Python file that registers the policy.
    """
    _load_builtins()
    if module is not None:
        load_policy_module(module)
    policy: QueuePolicy = _build(_POLICIES, name, params, "policy", known_policies)
    return policy


def make_dispatch(name: str, params: dict[str, Any]) -> DispatchRule:
    """Build a registered dispatch rule with checked parameters."""
    _load_builtins()
    rule: DispatchRule = _build(_DISPATCH, name, params, "dispatch rule", known_dispatch_rules)
    return rule


def _build(
    registry: dict[str, Any],
    name: str,
    params: dict[str, Any],
    what: str,
    known: Callable[[], list[str]],
) -> Any:
    cls = registry.get(name)
    if cls is None:
        raise PolicyError(
            f"unknown {what} '{name}'; known: {', '.join(known())}",
            key="name",
            value=name,
            has_value=True,
        )
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(params) - set(fields))
    if unknown:
        allowed = ", ".join(f"{n} ({f.type})" for n, f in fields.items()) or "none"
        raise PolicyError(
            f"{what} '{name}' has no parameter {unknown}; parameters: {allowed}",
            key=f"params.{unknown[0]}",
        )
    try:
        obj = cls(**params)
    except (TypeError, ValueError) as exc:
        raise PolicyError(
            f"{what} '{name}': bad parameters {params}: {exc}", key="params"
        ) from None
    for n, f in fields.items():
        value = getattr(obj, n)
        expected = f.type if isinstance(f.type, type) else _BUILTIN_TYPES.get(str(f.type))
        if expected is not None and not _type_ok(value, expected):
            raise PolicyError(
                f"{what} '{name}': parameter '{n}' must be {expected.__name__}, got {value!r}",
                key=f"params.{n}",
                value=value,
                has_value=True,
            )
    return obj


_BUILTIN_TYPES: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool}


def _type_ok(value: Any, expected: type) -> bool:
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def load_policy_module(path: str | Path) -> None:
    """Import a user's policy file so that its ``@register_policy`` runs."""
    path = Path(path)
    if not path.exists():
        raise PolicyError(
            f"policy module {path} does not exist", key="module", value=str(path), has_value=True
        )
    mod_name = f"lingang_user_policy_{abs(hash(str(path.resolve())))}"
    if mod_name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise PolicyError(
            f"policy module {path} cannot be imported (not a Python file?)", key="module"
        )
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: report any failure with its file
        del sys.modules[mod_name]
        raise PolicyError(f"policy module {path} failed to import: {exc!r}", key="module") from exc


_entry_points_loaded = False  # whether the installed packages' policies are registered


def _load_builtins() -> None:
    """Register the built-in policies and, once per process, those of installed packages
    (the entry points of ``simulator.policies.plugins.ENTRY_POINT_GROUP``).

    Raises:
        PolicyError: an entry point failed to import (the next call tries again).
    """
    global _entry_points_loaded
    # Importing the modules runs their @register_* decorators.
    from simulator.policies import (  # noqa: F401
        conservative_backfill,
        dispatch,
        easy_backfill,
        fair_share,
        fifo,
        las,
        plugins,
        priority,
        quota,
        sjf,
    )

    if not _entry_points_loaded:
        _entry_points_loaded = True  # set first: a package's module may ask the registry
        try:
            plugins.load_entry_point_policies()
        except BaseException:
            _entry_points_loaded = False
            raise
