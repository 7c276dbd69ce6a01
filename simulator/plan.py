"""Capacity planning by goal-seek: the smallest (or largest) value of a key meeting a target.

Target grammar: ``<metric> <op> <number>`` with ``op`` one of ``<=``, ``<``, ``>=``,
``>``. The metric is a summary key of a run (see :mod:`simulator.metrics`), such as
``wait_h_p95``, ``wait_h_p95[size=>1024]`` or ``utilisation[year=2027]``, or a friendlier
alias: the statistic may come first (``p95_wait_h`` for ``wait_h_p95``; also ``p50``,
``p99``, ``mean``, and ``median`` for ``p50``) and the largest gang-size class may be
written ``size>=1024`` or ``size>1024`` (the class of jobs of more than 1,024 cards,
``size=>1024``).

Search (:func:`goal_seek`). The varied key takes values in ``[lo, hi]``: integers
(``--integer``, or when the key holds an integer), calendar dates (when the bounds are
ISO dates; searched in whole days) or real numbers (searched to a tolerance). The target
is assumed monotone in the value: met for every value above the answer when the
*smallest* value is sought (more servers, shorter waits), below it when the *largest*
is sought (a later phase date, longer waits).

At each evaluated value the scenario runs replications 0, 1, ... with the same seed, so
every value sees the same arrivals (common random numbers) and differences between
values are not blurred by sampling noise. A value is decided only when the Student-t
confidence interval of the metric's mean across replications lies wholly on one side of
the threshold (*meets* or *fails*); while undecided, replications are doubled up to a
cap, after which the value stays *undecided*. Two bisections then find the extreme value
shown to meet the target and the nearest value shown to fail it; the answer is the
former and the values between them form the *uncertainty bracket*, where the target's
crossing lies but the interval could not decide. Evaluations are cached, so the second
bisection mostly reuses the first's runs.

With an output folder every run is stored as a cell (see :mod:`simulator.cellstore`),
so an interrupted plan resumes without rerunning finished replications.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from simulator.cellstore import (
    CellStore,
    atomic_write_bytes,
    atomic_write_text,
    clean_float,
    lock_folder,
)
from simulator.errors import LingangSimError, ScenarioError
from simulator.executors import Executor
from simulator.scenario.loader import load_scenario, scenario_to_dict
from simulator.scenario.schema import SIZE_CLASSES, Scenario
from simulator.stats import LEVEL, t_interval
from simulator.sweep import (
    CellTask,
    cell_id_of,
    error_bars,
    parse_set_options,
    run_cells,
    scenario_digest,
    short_key,
)

Op = Literal["<=", "<", ">=", ">"]
Decision = Literal["meets", "fails", "undecided"]
Find = Literal["smallest", "largest"]

_STATS = ("p50", "p95", "p99", "mean")
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_TARGET = re.compile(
    rf"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_]*(?:\s*\[[^\]]*\])?)\s*(?P<op><=|>=|<|>)\s*"
    rf"(?P<number>{_NUMBER})\s*$"
)
_METRIC = re.compile(r"^(?P<base>[A-Za-z_][A-Za-z0-9_]*)(?:\[(?P<qualifiers>[^\]]*)\])?$")
_QUALIFIER = re.compile(r"^(?P<key>[A-Za-z_]+)\s*(?P<op>>=|<=|==|=|>|<)\s*(?P<value>.+)$")
_EXAMPLE = "'p95_wait_h[size>=1024] <= 24'"


class PlanError(LingangSimError):
    """A plan cannot run: bad target, range or key, or a metric the runs do not give."""


# --------------------------------------------------------------------------- targets


def canonical_metric(name: str) -> str:
    """The summary key an alias stands for (unknown names are returned tidied).

    >>> canonical_metric("p95_wait_h[size>=1024]")
    'wait_h_p95[size=>1024]'
    >>> canonical_metric("mean_wait_h"), canonical_metric("utilisation[year=2027]")
    ('wait_h_mean', 'utilisation[year=2027]')

    Raises:
        PlanError: the name is not ``base`` or ``base[key=value,...]``, or a size
            qualifier names no size class.
    """
    text = re.sub(r"\s+", "", name)
    m = _METRIC.match(text)
    if m is None:
        raise PlanError(
            f"cannot read the metric {name!r}: expected a summary key like 'wait_h_p95' or "
            f"'wait_h_p95[size=>1024]' (or an alias like 'p95_wait_h[size>=1024]')"
        )
    base = m.group("base")
    for stat in (*_STATS, "median"):
        prefix = f"{stat}_"
        if base.startswith(prefix) and len(base) > len(prefix):
            base = f"{base[len(prefix) :]}_{'p50' if stat == 'median' else stat}"
            break
    qualifiers = m.group("qualifiers")
    if qualifiers is None:
        return base
    parts = [_qualifier(q, name) for q in qualifiers.split(",") if q]
    return f"{base}[{','.join(parts)}]"


def _qualifier(text: str, name: str) -> str:
    m = _QUALIFIER.match(text)
    if m is None:
        raise PlanError(f"cannot read the qualifier {text!r} of metric {name!r}; use key=value")
    key, op, value = m.group("key"), m.group("op"), m.group("value")
    if op in ("=", "=="):
        return f"{key}={value}"
    labels = [label for label, _, _ in SIZE_CLASSES]
    if key == "size" and op in (">", ">=") and value.isdigit():
        n = int(value)
        for label, lo, _ in SIZE_CLASSES:
            # The open class '>M' holds jobs of M+1 cards or more; '>=M' names it too.
            if label.startswith(">") and (lo - 1 == n or (op == ">=" and lo - 1 in (n, n - 1))):
                return f"size={label}"
    raise PlanError(
        f"the qualifier {text!r} of metric {name!r} names no class; qualifiers are "
        f"key=value, and size classes are {', '.join(labels)} (write 'size>=1024' or "
        f"'size=>1024' for jobs of more than 1,024 cards)"
    )


@dataclass(frozen=True)
class Target:
    """``metric op threshold``, e.g. ``wait_h_p95[size=>1024] <= 24``."""

    metric: str
    op: Op
    threshold: float
    text: str

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"

    def holds(self, value: float) -> bool:
        """Whether a single value meets the target."""
        return {
            "<=": value <= self.threshold,
            "<": value < self.threshold,
            ">=": value >= self.threshold,
            ">": value > self.threshold,
        }[self.op]

    def decide(self, ci_low: float, ci_high: float) -> Decision:
        """``meets`` / ``fails`` when the whole interval is on one side, else ``undecided``."""
        if not (math.isfinite(ci_low) and math.isfinite(ci_high)):
            return "undecided"
        if self.holds(ci_low) and self.holds(ci_high):
            return "meets"
        if not self.holds(ci_low) and not self.holds(ci_high):
            return "fails"
        return "undecided"


def parse_target(text: str) -> Target:
    """Parse ``<metric> <op> <number>``.

    >>> t = parse_target("p95_wait_h[size>=1024] <= 24")
    >>> t.metric, t.op, t.threshold
    ('wait_h_p95[size=>1024]', '<=', 24.0)

    Raises:
        PlanError: the text does not parse (the message shows the grammar).
    """
    m = _TARGET.match(text)
    if m is None:
        raise PlanError(
            f"cannot parse the target {text!r}: expected '<metric> <op> <number>' with op one "
            f"of <=, <, >=, >, e.g. {_EXAMPLE}"
        )
    op: Op = m.group("op")  # type: ignore[assignment]  # the pattern allows only these
    return Target(canonical_metric(m.group("metric")), op, float(m.group("number")), text)


def known_metrics_text(keys: list[str]) -> str:
    """Known summary keys with at most one qualifier, for error messages."""
    simple = [k for k in keys if k.count("=") <= 1]
    more = len(keys) - len(simple)
    text = ", ".join(simple)
    if more:
        text += f" (and {more} keys combining qualifiers, like 'wait_h_p95[size=1,year=...]')"
    return text


# --------------------------------------------------------------------------- the varied key


Kind = Literal["integer", "date", "real"]


@dataclass(frozen=True)
class Varied:
    """The key being varied: its path, kind and range (as search coordinates)."""

    key: str
    kind: Kind
    lo: float
    hi: float
    origin: dt.date | None = None  # day 0 of date coordinates

    def value(self, u: float) -> Any:
        """The scenario value at search coordinate ``u``."""
        if self.kind == "integer":
            return int(u)
        if self.kind == "date":
            assert self.origin is not None
            return self.origin + dt.timedelta(days=int(u))
        return float(u)

    def show(self, u: float | None) -> str:
        if u is None:
            return "n/a"
        v = self.value(u)
        return v.isoformat() if isinstance(v, dt.date) else f"{v:g}"

    def plain(self, u: float | None) -> Any:
        """A JSON value of coordinate ``u``."""
        if u is None:
            return None
        v = self.value(u)
        return v.isoformat() if isinstance(v, dt.date) else v


def _lookup(data: Any, key_path: str) -> Any:
    """The value at a key path of a plain scenario mapping (names or indices for lists)."""
    node = data
    for m in re.finditer(r"([^.\[\]]+)|\[(\d+)\]", key_path):
        part: str | int = m.group(1) if m.group(1) is not None else int(m.group(2))
        if isinstance(node, list):
            if isinstance(part, int) or part.isdigit():
                idx = int(part)
                node = node[idx] if 0 <= idx < len(node) else None
            else:
                node = next(
                    (e for e in node if isinstance(e, dict) and e.get("name") == part), None
                )
        elif isinstance(node, dict):
            node = node.get(str(part))
        else:
            return None
        if node is None:
            return None
    return node


def parse_range(base: Scenario, key: str, text: str, *, integer: bool) -> Varied:
    """Read ``LO:HI`` for ``key`` and decide the kind of search.

    Raises:
        PlanError: malformed range, LO >= HI, or a non-integer bound with ``integer``.
    """
    lo_text, sep, hi_text = text.partition(":")
    if not sep or not lo_text.strip() or not hi_text.strip():
        raise PlanError(
            f"--range must look like LO:HI (e.g. 8:64 or 2026-01-01:2028-01-01), got {text!r}"
        )
    lo_text, hi_text = lo_text.strip(), hi_text.strip()
    current = _lookup(scenario_to_dict(base), key)
    lo_d: dt.date | None
    hi_d: dt.date | None
    try:
        lo_d, hi_d = dt.date.fromisoformat(lo_text), dt.date.fromisoformat(hi_text)
    except ValueError:
        lo_d = hi_d = None
    if lo_d is not None and hi_d is not None:
        if lo_d >= hi_d:
            raise PlanError(f"--range {text}: the first date must be before the second")
        return Varied(key, "date", 0.0, float((hi_d - lo_d).days), lo_d)
    try:
        lo, hi = float(lo_text), float(hi_text)
    except ValueError:
        raise PlanError(
            f"--range {text}: bounds must be numbers or ISO dates (YYYY-MM-DD)"
        ) from None
    if lo >= hi:
        raise PlanError(f"--range {text}: LO must be below HI")
    is_int = integer or (isinstance(current, int) and not isinstance(current, bool))
    if is_int:
        if lo != int(lo) or hi != int(hi):
            raise PlanError(
                f"--range {text}: '{key}' takes integers, so LO and HI must be integers"
            )
        return Varied(key, "integer", float(int(lo)), float(int(hi)))
    return Varied(key, "real", lo, hi)


# --------------------------------------------------------------------------- evaluations


@dataclass
class Evaluation:
    """What is known at one value: per-replication metric values and the decision.

    ``u`` is the search coordinate (days since the range start for dates) and ``value``
    the key's value there (JSON form).
    """

    u: float
    value: Any = None
    values: list[float] = field(default_factory=list)
    decision: Decision = "undecided"
    mean: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan


@dataclass
class PlanResult:
    """The outcome of a goal-seek.

    ``answer`` is the extreme value shown (by its confidence interval) to meet the
    target, or ``None`` when no value in the range was; ``nearest_fail`` is the nearest
    value shown to fail. Between them lies the uncertainty bracket.
    """

    target: Target
    varied: Varied
    find: Find
    answer: float | None
    nearest_fail: float | None
    evaluations: list[Evaluation]
    runs: int
    reused: int
    wall_s: float
    message: str
    scenario_name: str = ""
    step: float = 1.0
    level: float = LEVEL

    @property
    def exact(self) -> bool:
        """Whether the answer and the nearest failing value are neighbours on the grid
        (for real values: closer than the tolerance)."""
        if self.answer is None or self.nearest_fail is None:
            return False
        return abs(self.answer - self.nearest_fail) <= self.step * (1 + 1e-9)

    def bracket(self) -> tuple[Any, Any]:
        """The uncertainty bracket as (nearest failing value, answer), in key values."""
        return self.varied.plain(self.nearest_fail), self.varied.plain(self.answer)

    def table(self) -> pd.DataFrame:
        """One row per evaluated value, in key order."""
        rows = [
            {
                "value": self.varied.plain(e.u),
                "replications": len(e.values),
                "mean": e.mean,
                "ci_low": e.ci_low,
                "ci_high": e.ci_high,
                "decision": e.decision,
            }
            for e in sorted(self.evaluations, key=lambda e: e.u)
        ]
        return pd.DataFrame(
            rows, columns=["value", "replications", "mean", "ci_low", "ci_high", "decision"]
        )

    def document(self) -> dict[str, Any]:
        """A JSON-ready account of the plan."""
        low, high = self.bracket()
        return {
            "target": self.target.text,
            "metric": self.target.metric,
            "op": self.target.op,
            "threshold": self.target.threshold,
            "vary": self.varied.key,
            "kind": self.varied.kind,
            "range": [self.varied.plain(self.varied.lo), self.varied.plain(self.varied.hi)],
            "find": self.find,
            "answer": self.varied.plain(self.answer),
            "nearest_fail": low,
            "bracket": [low, high],
            "exact": self.exact,
            "interval_level": self.level,
            "runs": self.runs,
            "reused_runs": self.reused,
            "values_evaluated": len(self.evaluations),
            "scenario_name": self.scenario_name,
            "wall_s": round(self.wall_s, 3),
            "message": self.message,
            "evaluations": [
                {k: clean_float(v) for k, v in row.items()}
                for row in self.table().to_dict(orient="records")
            ],
        }


class _Evaluator:
    """Runs and caches replications of the scenario at search coordinates."""

    def __init__(
        self,
        scenario_path: Path,
        overrides: dict[str, Any],
        varied: Varied,
        target: Target,
        executor: Executor,
        store: CellStore | None,
        replications: int,
        max_replications: int,
        level: float,
        on_eval: Callable[[Evaluation], None] | None,
    ) -> None:
        self.scenario_path = scenario_path
        self.overrides = overrides
        self.varied = varied
        self.target = target
        self.executor = executor
        self.store = store
        self.n0 = replications
        self.cap = max_replications
        self.level = level
        self.on_eval = on_eval
        self.cache: dict[float, Evaluation] = {}
        self.scenarios: dict[float, Scenario] = {}
        self.records: dict[float, dict[int, dict[str, float]]] = {}
        self.runs = 0
        self.reused = 0
        self.metric_checked = False

    def scenario(self, u: float) -> Scenario:
        if u not in self.scenarios:
            value = self.varied.value(u)
            try:
                self.scenarios[u] = load_scenario(
                    self.scenario_path, {**self.overrides, self.varied.key: value}
                )
            except ScenarioError as exc:
                reason = getattr(exc, "reason", str(exc))
                raise ScenarioError(
                    f"--vary {self.varied.key}={self.varied.show(u)} does not apply to the "
                    f"scenario: {reason}",
                    file=str(self.scenario_path),
                    key_path=self.varied.key,
                    value=self.varied.plain(u),
                    has_value=True,
                ) from None
        return self.scenarios[u]

    def _values(self, u: float, n: int) -> list[float]:
        """The metric in replications 0..n-1 at ``u``: from memory, the store, or runs."""
        scenario = self.scenario(u)
        variant = scenario_digest(scenario)
        factors = {self.varied.key: self.varied.plain(u)}
        known = self.records.setdefault(u, {})
        todo = []
        for r in range(n):
            if r in known:
                continue
            cid = cell_id_of(variant, r)
            record = self.store.scan([cid]).done.get(cid) if self.store is not None else None
            if record is not None:
                known[r] = record.summary_values()
                self.reused += 1
            else:
                todo.append(CellTask(cid, 0, factors, r, scenario))
        report = run_cells(todo, self.executor, self.store)
        self.runs += len(todo)
        if report.errors:
            cid, err = next(iter(report.errors.items()))
            raise PlanError(
                f"a run at {self.varied.key}={self.varied.show(u)} failed ({cid}): "
                f"{err['error_type']}: {err['message']}"
            )
        for record in report.records.values():
            known[record.replication] = record.summary_values()
        if not self.metric_checked:
            first = known[0]
            if self.target.metric not in first:
                raise PlanError(
                    f"unknown metric '{self.target.metric}' in target {self.target.text!r}; "
                    f"known metrics: {known_metrics_text(list(first))}"
                )
            self.metric_checked = True
        return [known[r][self.target.metric] for r in range(n)]

    def decide(self, u: float) -> Decision:
        ev = self.cache.get(u)
        if ev is None:
            ev = self.cache[u] = Evaluation(u, self.varied.plain(u))
        n = max(len(ev.values), self.n0)
        before = len(ev.values)
        while True:
            if len(ev.values) < n:
                ev.values = self._values(u, n)
                ev.mean, _, ev.ci_low, ev.ci_high, k = t_interval(ev.values, self.level)
                if k == 0:
                    raise PlanError(
                        f"the metric {self.target.metric} has no value at {self.varied.key}="
                        f"{self.varied.show(u)} in any replication (no jobs measured?)"
                    )
                ev.decision = self.target.decide(ev.ci_low, ev.ci_high)
            if ev.decision != "undecided" or n >= self.cap:
                break
            n = min(self.cap, 2 * n)
        if self.on_eval is not None and len(ev.values) != before:
            self.on_eval(ev)
        return ev.decision


def goal_seek(
    scenario_path: str | Path,
    target: Target | str,
    vary: str,
    value_range: str,
    executor: Executor,
    *,
    overrides: list[str] | tuple[str, ...] = (),
    find: Find = "smallest",
    integer: bool = False,
    replications: int | None = None,
    max_replications: int | None = None,
    tolerance: float | None = None,
    level: float = LEVEL,
    out_dir: Path | None = None,
    on_eval: Callable[[Evaluation], None] | None = None,
) -> PlanResult:
    """Find the smallest (or largest) value of ``vary`` in ``value_range`` meeting ``target``.

    Args:
        scenario_path: the scenario file.
        target: a :class:`Target` or its text (``"p95_wait_h[size>=1024] <= 24"``).
        vary: key path of the varied value (names or indices for list elements).
        value_range: ``"LO:HI"`` (numbers or ISO dates).
        executor: where runs go (entered here).
        overrides: ``key.path=value`` overrides applied before the varied value.
        find: ``smallest`` (target met above the answer) or ``largest`` (met below it).
        integer: search integers only (implied when the key holds an integer).
        replications: replications at first at each value (default: the scenario's,
            at least 2).
        max_replications: cap when undecided (default: 4 x the first count, at least 10).
        tolerance: for real values, stop when the bracket is this narrow (default:
            a hundredth of the range).
        level: confidence level of the intervals.
        out_dir: store every run as a cell here (resumable) and write ``plan.json``,
            ``evaluations.csv`` and ``plan.png``.
        on_eval: called with a value's :class:`Evaluation` each time it gets new runs.

    Raises:
        PlanError: bad target, range or metric; a run that fails.
        ScenarioError: the key path does not exist or a value is invalid for it.
    """
    scenario_path = Path(scenario_path)
    if isinstance(target, str):
        target = parse_target(target)
    if find not in ("smallest", "largest"):
        raise PlanError(f"--find must be 'smallest' or 'largest', got {find!r}")
    sets = dict(parse_set_options(overrides))
    if vary in sets:
        raise PlanError(f"'{vary}' is both varied and set with --set; keep one")
    base = load_scenario(scenario_path, sets or None)
    if _lookup(scenario_to_dict(base), vary) is None:
        # Absent from the resolved scenario, or an optional value left unset: an override
        # tells the two apart (a missing path fails before any value is checked).
        try:
            load_scenario(scenario_path, {**sets, vary: None})
        except ScenarioError as exc:
            reason = getattr(exc, "reason", str(exc))
            raise ScenarioError(
                f"--vary names a key the scenario does not have: {reason}",
                file=str(scenario_path),
                key_path=vary,
            ) from None
    varied = parse_range(base, vary, value_range, integer=integer)
    n0 = max(2, replications or base.replications)
    cap = max(n0, max_replications or max(10, 4 * n0))
    tol = tolerance if tolerance is not None else (varied.hi - varied.lo) / 100.0
    step = 1.0 if varied.kind in ("integer", "date") else tol
    if step <= 0:
        raise PlanError(f"--tolerance must be positive, got {tolerance}")
    started = time.perf_counter()

    def run_search(store: CellStore | None) -> PlanResult:
        ev = _Evaluator(
            scenario_path, sets, varied, target, executor, store, n0, cap, level, on_eval
        )
        # Both ends must make valid scenarios before anything runs.
        ev.scenario(varied.lo)
        ev.scenario(varied.hi)
        with executor:
            answer, fail, message = _search(ev, varied, find, step)
        return PlanResult(
            target,
            varied,
            find,
            answer,
            fail,
            list(ev.cache.values()),
            ev.runs,
            ev.reused,
            time.perf_counter() - started,
            message,
            base.name,
            step,
            level,
        )

    if out_dir is None:
        return run_search(None)
    out_dir = Path(out_dir)
    with lock_folder(out_dir):
        store = CellStore(out_dir / "cells")
        store.remove_temporaries()
        result = run_search(store)
        write_plan(result, out_dir, scenario_path)
    return result


def _search(
    ev: _Evaluator, varied: Varied, find: Find, step: float
) -> tuple[float | None, float | None, str]:
    """Two bisections; returns (answer, nearest failing value, message) in coordinates.

    Coordinates are mirrored for ``largest`` so that the target is met above the
    answer in both cases.
    """
    sign = 1.0 if find == "smallest" else -1.0
    lo, hi = sorted((sign * varied.lo, sign * varied.hi))

    def decide(t: float) -> Decision:
        return ev.decide(sign * t)

    def mid(a: float, b: float) -> float:
        m = (a + b) / 2.0
        return math.floor(m) if varied.kind != "real" else m

    end_good = decide(hi)  # the end where the target is easiest to meet
    if end_good != "meets":
        what = "not met" if end_good == "fails" else "not shown to be met"
        return (
            None,
            (sign * hi if end_good == "fails" else None),
            (
                f"the target is {what} even at {varied.key}={varied.show(sign * hi)}, the "
                f"{'top' if find == 'smallest' else 'bottom'} of the range; widen --range"
                + ("" if end_good == "fails" else " or raise --max-replications")
            ),
        )
    end_bad = decide(lo)
    if end_bad == "meets":
        return (
            sign * lo,
            None,
            (
                f"the target is already met at {varied.key}={varied.show(sign * lo)}, the "
                f"{'bottom' if find == 'smallest' else 'top'} of the range; the true answer "
                f"may lie beyond it"
            ),
        )
    # Smallest coordinate shown to meet: invariant decide(b) == meets, a not shown to meet.
    a, b = lo, hi
    while b - a > step:
        m = mid(a, b)
        if m <= a or m >= b:
            break
        if decide(m) == "meets":
            b = m
        else:
            a = m
    answer = b
    fail: float | None = None
    if end_bad == "fails":
        # Largest coordinate shown to fail: invariant decide(a) == fails.
        a, c = lo, answer
        while c - a > step:
            m = mid(a, c)
            if m <= a or m >= c:
                break
            if decide(m) == "fails":
                a = m
            else:
                c = m
        fail = a
    answer_v, fail_v = sign * answer, (None if fail is None else sign * fail)
    if fail is None:
        message = (
            f"{varied.key}={varied.show(answer_v)} is the {find} value shown to meet the target; "
            f"no value in the range was shown to fail it"
        )
    elif abs(answer - fail) <= (step if varied.kind != "real" else step * 1.0000001):
        message = (
            f"{varied.key}={varied.show(answer_v)} meets the target and "
            f"{varied.show(fail_v)} fails it (both decided by their confidence intervals)"
        )
    else:
        message = (
            f"{varied.key}={varied.show(answer_v)} is the {find} value shown to meet the target; "
            f"between {varied.show(fail_v)} (shown to fail) and it the intervals could not "
            f"decide"
        )
    return answer_v, fail_v, message


# --------------------------------------------------------------------------- output


def write_plan(result: PlanResult, out_dir: Path, scenario_path: Path) -> list[Path]:
    """Write ``plan.json``, ``evaluations.csv`` and ``plan.png`` into ``out_dir``, atomically."""
    out_dir = Path(out_dir)
    doc = {"scenario": str(scenario_path), **result.document()}
    atomic_write_text(
        out_dir / "plan.json", json.dumps(doc, indent=2, allow_nan=False, default=str)
    )
    atomic_write_text(out_dir / "evaluations.csv", result.table().to_csv(index=False))
    fig = plan_figure(result)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150)
    atomic_write_bytes(out_dir / "plan.png", buf.getvalue())
    return [out_dir / "plan.json", out_dir / "evaluations.csv", out_dir / "plan.png"]


def plan_figure(result: PlanResult) -> Any:
    """The metric's mean and interval at each evaluated value, the threshold and answer."""
    from matplotlib.figure import Figure

    from simulator import plotting

    table = result.table()
    unit = plotting.metric_unit(result.target.metric)
    scale = 100.0 if unit == "%" else 1.0
    fig = Figure(figsize=(8.0, 4.8), layout="constrained")
    ax = fig.add_subplot()
    xs = [result.varied.value(e.u) for e in sorted(result.evaluations, key=lambda e: e.u)]
    colours = {"meets": plotting.OKABE_ITO[2], "fails": plotting.OKABE_ITO[3], "undecided": "0.5"}
    for decision, colour in colours.items():
        sel = table["decision"] == decision
        if not sel.any():
            continue
        x = [xs[i] for i in range(len(xs)) if sel.iloc[i]]
        mean = table.loc[sel, "mean"].to_numpy(dtype=float) * scale
        low = table.loc[sel, "ci_low"].to_numpy(dtype=float) * scale
        high = table.loc[sel, "ci_high"].to_numpy(dtype=float) * scale
        err = error_bars(mean, low, high)
        ax.errorbar(x, mean, yerr=err, fmt="o", capsize=3, color=colour, label=decision)
    ax.axhline(result.target.threshold * scale, color="0.2", linestyle="--", label="threshold")
    if result.answer is not None:
        ax.axvline(
            result.varied.value(result.answer),
            color=plotting.OKABE_ITO[0],
            linestyle=":",
            label=f"answer {result.varied.show(result.answer)}",
        )
    unit_text = f" ({unit})" if unit else ""
    ax.set_xlabel(result.varied.key, fontsize=plotting.LABEL_SIZE)
    ax.set_ylabel(
        f"{plotting.metric_label(result.target.metric)}{unit_text}", fontsize=plotting.LABEL_SIZE
    )
    ax.set_title(
        f"Goal-seek: {result.find} {short_key(result.varied.key)} with {result.target}",
        fontsize=plotting.TITLE_SIZE - 1,
        loc="left",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=plotting.LEGEND_SIZE)
    if result.varied.kind == "date":
        fig.autofmt_xdate()
    plotting.add_caption(
        fig,
        plotting.caption_text(
            result.scenario_name or "?",
            max((len(e.values) for e in result.evaluations), default=0),
            level=result.level,
            note=f"up to that many replications per value (common random numbers); "
            f"{result.runs} runs",
        ),
    )
    return fig
