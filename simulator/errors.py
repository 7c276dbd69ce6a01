"""Exceptions that lingang-sim raises on bad input or impossible decisions.

Every error names what a user needs to fix it: the file, the key path, the offending
value and what is allowed. The CLI turns these into a one-paragraph message and a
non-zero exit status; the Python API lets them propagate.
"""

from __future__ import annotations

from typing import Any


class LingangSimError(Exception):
    """Base class of every error lingang-sim raises on purpose."""


class ScenarioError(LingangSimError):
    """A scenario file or override is invalid.

    Args:
        message: what is wrong and what is allowed.
        file: the scenario file (or ``"--set"`` for a command-line override).
        key_path: dotted key path inside the scenario, e.g. ``centres[0].pue``.
        value: the offending value, if there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        key_path: str | None = None,
        value: Any = None,
        has_value: bool = False,
    ) -> None:
        self.file = file
        self.key_path = key_path
        self.value = value
        self.has_value = has_value
        self.reason = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.key_path:
            where.append(f"key '{self.key_path}'")
        head = ": ".join(where)
        value = f" (value: {self.value!r})" if self.has_value else ""
        return f"{head}{value}: {self.reason}" if head else f"{self.reason}{value}"


class ScenarioErrors(ScenarioError):
    """Several problems found in one scenario file, reported together."""

    def __init__(self, errors: list[ScenarioError]) -> None:
        self.errors = errors
        lines = "\n".join(f"  - {e}" for e in errors)
        LingangSimError.__init__(self, f"{len(errors)} problem(s) in the scenario:\n{lines}")
        self.file = errors[0].file if errors else None
        self.key_path = errors[0].key_path if errors else None


class PolicyError(LingangSimError):
    """A policy is unknown, misconfigured, or returned an impossible decision.

    Args:
        message: what is wrong and what is allowed.
        key: for a misconfigured policy or dispatch rule, where in its scenario section
            (``name``, ``params`` or ``params.<name>``), so that the scenario loader can
            report the full key path with the file.
        value: the offending value, if there is one.
    """

    key: str | None = None
    value: Any = None
    has_value: bool = False

    def __init__(
        self, message: str, *, key: str | None = None, value: Any = None, has_value: bool = False
    ) -> None:
        super().__init__(message)
        if key is not None:
            self.key = key
        if has_value:
            self.value, self.has_value = value, True


class ScenarioPolicyError(ScenarioError, PolicyError):
    """A scenario names an unknown policy or dispatch rule, or gives it bad parameters:
    a scenario error (file, key path, value) that is also a :class:`PolicyError`."""


class OutputError(LingangSimError):
    """An output folder cannot be written (exists without ``--force``, not a results folder)."""


class TraceError(LingangSimError):
    """A job trace cannot be read; names the file and line."""
