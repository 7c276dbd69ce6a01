"""Sweeps: a base scenario under every combination of factor values, replicated.

A sweep file (YAML, schema :class:`SweepSpec`) names a base scenario (relative to the
sweep file), optional overrides applied to it (``set``), factors (key paths, each with a
list of values) combined as a full grid (``mode: grid``) or element by element
(``mode: zip``), and a replication count::

    schema_version: 1
    name: toy-policy-sweep
    scenario: ../toy-two-centres.yaml
    set: {horizon_days: 30}
    mode: grid
    factors:
      policy.name: [fifo, easy_backfill]
      workload.classes.evaluation.arrival.rate_per_day:
        values: [200, 400, 600]
        label: evaluation arrivals (jobs/day)
    replications: 4

Cells and keys. A *variant* is the base scenario with one combination of factor values
applied; a *cell* is one replication of one variant. A cell's identity is
``<digest of the resolved variant scenario>-r<replication>``: it depends on the factor
values, the base scenario, the overrides and the lingang-sim version, and on nothing
about execution order. Its
random streams come from the scenario's seed and the replication index (as in
:func:`simulator.run.run`), so every variant sees the same arrivals in replication r
(common random numbers) and a cell gives identical results serially, in local processes
or on Dask.

Running (:func:`run_sweep`). Each finished cell is stored at once and atomically in
``<out>/cells/`` (see :mod:`simulator.cellstore`); a rerun of the same sweep reuses the
stored cells and runs only the missing, failed or corrupt ones. A cell that raises is
recorded in a cell error file and does not stop the others. When the cells are done the
sweep folder gets, each file written atomically:

* ``results.parquet`` / ``results.csv``: the tidy table, one row per factor values x
  replication x metric (columns: one per factor key path, ``variant``, ``replication``,
  ``metric``, ``value``);
* ``summary.csv``: per variant and metric, mean, standard error and 95 % Student-t
  interval across replications (:func:`simulator.stats.intervals`), with the factor
  columns; ``paired.csv``: each variant's paired difference against variant 0;
* ``variants.csv``: variant index, digest, label and factor values;
* ``sweep.yaml`` (the sweep as run) and ``sweep.json`` (counts, failures, settings);
* ``figures/<metric>--vs--<factor>.png``: each main metric against each factor.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import logging
import math
import os
import re
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from simulator import __version__
from simulator.cellstore import (
    CellRecord,
    CellStore,
    atomic_write_bytes,
    atomic_write_text,
    canonical_json,
    clean_float,
    digest,
    lock_folder,
)
from simulator.errors import ScenarioError, ScenarioErrors
from simulator.executors import Executor, WorkerLost
from simulator.results import RunResult
from simulator.run import run
from simulator.scenario.loader import (
    dump_scenario,
    load_scenario,
    parse_overrides,
    scenario_to_dict,
)
from simulator.scenario.schema import Scenario

log = logging.getLogger(__name__)

SWEEP_SCHEMA_VERSION: Literal[1] = 1
#: Metrics drawn against each factor unless the sweep file names its own.
DEFAULT_METRICS = ("utilisation", "wait_h_mean", "wait_h_p95", "backlog_cards_mean")
#: Confidence level of the intervals (as :data:`simulator.stats.LEVEL`; that module, and
#: scipy with it, is imported only where intervals are computed, not in workers).
LEVEL = 0.95
#: Columns of the tidy table besides the factor columns.
TABLE_COLUMNS = ("variant", "replication", "metric", "value")


# --------------------------------------------------------------------------- sweep file


class Factor(BaseModel):
    """One factor: the values a scenario key takes, and an optional axis label."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    values: list[Any] = Field(min_length=1, description="The values, in plotting order.")
    label: str = Field("", description="Axis label with units (default: the key path).")


class SweepSpec(BaseModel):
    """A sweep file, validated (frozen, unknown keys rejected)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = SWEEP_SCHEMA_VERSION
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    scenario: str = Field(min_length=1, description="Base scenario, relative to this file.")
    set: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of the base scenario (key path: value)."
    )
    mode: Literal["grid", "zip"] = "grid"
    factors: dict[str, Factor] = Field(min_length=1)
    replications: int | None = Field(
        None, gt=0, description="Replications per variant (default: the scenario's)."
    )
    metrics: list[str] = Field(
        default_factory=lambda: list(DEFAULT_METRICS),
        description="Metrics drawn against each factor (summary keys or aliases).",
    )

    @field_validator("factors", mode="before")
    @classmethod
    def _bare_lists(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {"values": v} if isinstance(v, list) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SweepSpec:
        for key, factor in self.factors.items():
            seen: set[str] = set()
            for v in factor.values:
                text = canonical_json(jsonable(v))
                if text in seen:
                    raise ValueError(f"factor '{key}' lists the value {v!r} twice")
                seen.add(text)
            if key in self.set:
                raise ValueError(f"'{key}' is both in 'set' and a factor; keep one")
        if self.mode == "zip":
            lengths = {k: len(f.values) for k, f in self.factors.items()}
            if len(set(lengths.values())) > 1:
                raise ValueError(
                    f"mode 'zip' pairs the factors' values one to one, so the lists must "
                    f"have equal lengths; got {lengths}"
                )
        return self


def jsonable(value: Any) -> Any:
    """A factor value as plain JSON data (dates and datetimes as ISO strings)."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def short_key(key_path: str) -> str:
    """The last segment of a key path, for compact labels.

    >>> short_key("workload.classes.evaluation.arrival.rate_per_day")
    'rate_per_day'
    >>> short_key("centres.alpha.pools.gpu.phases[0].servers")
    'servers'
    """
    return re.split(r"[.\]\[]+", key_path.strip(".]"))[-1]


def parse_set_options(items: Iterable[str]) -> list[tuple[str, Any]]:
    """``key.path=value`` strings as (key path, value) pairs (see the scenario loader)."""
    return parse_overrides(items)


# --------------------------------------------------------------------------- cells


@dataclass(frozen=True)
class Variant:
    """The base scenario with one combination of factor values applied."""

    index: int
    factors: dict[str, Any]
    scenario: Scenario
    digest: str

    @property
    def label(self) -> str:
        return ", ".join(f"{short_key(k)}={_text(v)}" for k, v in self.factors.items())


@dataclass(frozen=True)
class CellTask:
    """Everything a worker needs to run one cell (picklable)."""

    cell_id: str
    variant: int
    factors: dict[str, Any]
    replication: int
    scenario: Scenario


@dataclass(frozen=True)
class CellRun:
    """A worker's result: the run's summary and metadata."""

    summary: dict[str, float]
    meta: dict[str, Any]


@dataclass(frozen=True)
class CellFailure:
    """A worker's report that the cell raised."""

    error_type: str
    message: str
    traceback: str
    meta: dict[str, Any]


def scenario_digest(scenario: Scenario) -> str:
    """16 hex digits identifying a resolved scenario (all of its fields) and the
    lingang-sim version that runs it, so that an upgrade never reuses older cells."""
    return digest({"scenario": scenario_to_dict(scenario), "version": __version__})[:16]


def cell_id_of(variant_digest: str, replication: int) -> str:
    """The cell id ``<variant digest>-r<replication, 4 digits>``."""
    return f"{variant_digest}-r{replication:04d}"


def _simulate(scenario: Scenario, replication: int) -> RunResult:
    return run(scenario, replication, keep_jobs=False)


def execute_cell(task: CellTask) -> CellRun | CellFailure:
    """Run one cell (in a worker); errors come back as a :class:`CellFailure`."""
    started = time.perf_counter()
    meta: dict[str, Any] = {
        "version": __version__,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    try:
        result = _simulate(task.scenario, task.replication)
    except Exception as exc:
        meta["wall_s"] = time.perf_counter() - started
        return CellFailure(type(exc).__name__, str(exc), traceback.format_exc(), meta)
    meta.update(
        wall_s=time.perf_counter() - started,
        events=int(result.meta.get("events", 0)),
        jobs=int(result.meta.get("jobs", 0)),
    )
    return CellRun({k: float(v) for k, v in result.summary.items()}, meta)


def record_of(task: CellTask, outcome: CellRun, scenario_yaml: str | None = None) -> CellRecord:
    """The stored record of a finished cell (``scenario_yaml``: its scenario, if dumped)."""
    return CellRecord(
        cell_id=task.cell_id,
        variant=task.cell_id.rsplit("-r", 1)[0],
        factors=task.factors,
        replication=task.replication,
        seed=task.scenario.seed,
        scenario_yaml=scenario_yaml if scenario_yaml is not None else dump_scenario(task.scenario),
        summary={k: clean_float(v) for k, v in outcome.summary.items()},
        meta=outcome.meta,
    )


def error_of(task: CellTask, outcome: CellFailure | BaseException) -> dict[str, Any]:
    """The content of a cell error file."""
    if isinstance(outcome, CellFailure):
        kind, message, tb, meta = (
            outcome.error_type,
            outcome.message,
            outcome.traceback,
            outcome.meta,
        )
    else:
        kind, message, tb, meta = type(outcome).__name__, str(outcome), "", {}
    return {
        "error_type": kind,
        "message": message,
        "traceback": tb,
        "factors": task.factors,
        "replication": task.replication,
        "seed": task.scenario.seed,
        "scenario_yaml": dump_scenario(task.scenario),
        "meta": meta,
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


CellCallback = Callable[[CellTask, str], None]


@dataclass
class CellsReport:
    """What :func:`run_cells` did: records of finished cells and errors of failed ones."""

    records: dict[str, CellRecord] = field(default_factory=dict)
    errors: dict[str, dict[str, Any]] = field(default_factory=dict)


def run_cells(
    tasks: Sequence[CellTask],
    executor: Executor,
    store: CellStore | None = None,
    *,
    on_cell: CellCallback | None = None,
) -> CellsReport:
    """Run ``tasks`` on ``executor``, storing each outcome in ``store`` as it arrives.

    Args:
        tasks: the cells to run (none of them should be done already).
        executor: where to run them (entered by the caller).
        store: where to put each record or error at once (``None``: keep in memory only).
        on_cell: called with the task and ``"done"`` or ``"failed"`` after storing.
    """
    report = CellsReport()
    dumped: dict[str, str] = {}  # variant digest -> scenario YAML, dumped once per variant
    for task, outcome in executor.run(execute_cell, tasks):
        if isinstance(outcome, CellRun):
            variant = task.cell_id.rsplit("-r", 1)[0]
            if variant not in dumped:
                dumped[variant] = dump_scenario(task.scenario)
            record = record_of(task, outcome, dumped[variant])
            if store is not None:
                store.write(record)
            report.records[task.cell_id] = record
            status = "done"
        else:
            if not isinstance(outcome, (CellFailure, WorkerLost, BaseException)):
                outcome = CellFailure(
                    "TypeError", f"unexpected worker result {type(outcome).__name__}", "", {}
                )
            error = error_of(task, outcome)
            if store is not None:
                store.write_error(task.cell_id, error)
            report.errors[task.cell_id] = error
            log.warning(
                "cell %s (%s, replication %d) failed: %s: %s",
                task.cell_id,
                task.factors,
                task.replication,
                error["error_type"],
                error["message"],
            )
            status = "failed"
        if on_cell is not None:
            on_cell(task, status)
    return report


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class Sweep:
    """A loaded sweep: its spec, its variants and its replication count."""

    spec: SweepSpec
    path: Path
    base_path: Path
    base: Scenario
    variants: list[Variant]
    replications: int
    overrides: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def factor_keys(self) -> list[str]:
        return list(self.spec.factors)

    def factor_label(self, key: str) -> str:
        return self.spec.factors[key].label or key

    def cells(self) -> list[CellTask]:
        """Every cell, replication-major (replication 0 of every variant first).

        Variants that resolve to the same scenario share their cells.
        """
        out: dict[str, CellTask] = {}
        for r in range(self.replications):
            for v in self.variants:
                cid = cell_id_of(v.digest, r)
                if cid not in out:
                    out[cid] = CellTask(cid, v.index, v.factors, r, v.scenario)
        return list(out.values())


def load_sweep(
    path: str | Path,
    overrides: Sequence[str] = (),
    *,
    replications: int | None = None,
) -> Sweep:
    """Read and check a sweep file and resolve every variant's scenario.

    Args:
        path: the sweep YAML file.
        overrides: ``key.path=value`` overrides of the base scenario (command line).
        replications: replications per variant (default: the file's, else the scenario's).

    Raises:
        ScenarioError: a bad sweep file, or a factor, override or value that does not
            apply to the base scenario (naming the file, key path, value and what exists).
    """
    path = Path(path)
    spec = _read_spec(path)
    base_path = Path(spec.scenario)
    if not base_path.is_absolute():
        base_path = path.parent / base_path
    if not base_path.exists():
        raise ScenarioError(
            f"the base scenario {base_path} does not exist (paths are relative to the sweep file)",
            file=str(path),
            key_path="scenario",
            value=spec.scenario,
            has_value=True,
        )
    cli = dict(parse_set_options(overrides))
    for key in cli:
        if key in spec.factors:
            raise ScenarioError(
                "this key is a factor of the sweep; a --set override would be replaced by "
                "each factor value",
                file="--set",
                key_path=key,
            )
    for key, value in spec.set.items():
        _try_load(base_path, {key: value}, path, f"set.{key}", value, "override")
    base_overrides = {**spec.set, **cli}
    try:
        base = load_scenario(base_path, base_overrides or None)
    except ScenarioError as exc:
        if exc.file == "--set" or exc.key_path in cli:
            raise
        raise ScenarioError(
            f"the base scenario with the overrides is invalid: {_reason(exc)}",
            file=str(path),
            key_path="set",
        ) from None
    for key, factor in spec.factors.items():
        for value in factor.values:
            _try_load(
                base_path,
                {**base_overrides, key: value},
                path,
                f"factors.{key}",
                value,
                "factor",
            )
    variants = []
    for index, combo in enumerate(_combinations(spec)):
        ov = {**base_overrides, **combo}
        try:
            scenario = load_scenario(base_path, ov)
        except ScenarioError as exc:
            raise ScenarioError(
                f"the factor values {_show(combo)} together make an invalid scenario: "
                f"{_reason(exc)}",
                file=str(path),
                key_path="factors",
            ) from None
        variants.append(
            Variant(
                index,
                {k: jsonable(v) for k, v in combo.items()},
                scenario,
                scenario_digest(scenario),
            )
        )
    n = replications or spec.replications or base.replications
    return Sweep(spec, path, base_path, base, variants, n, tuple(overrides))


def _read_spec(path: Path) -> SweepSpec:
    if not path.exists():
        raise ScenarioError("sweep file not found", file=str(path))
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ScenarioError(f"malformed YAML{where}: {exc}", file=str(path)) from None
    if not isinstance(raw, dict):
        raise ScenarioError("a sweep file must be a YAML mapping", file=str(path))
    try:
        return SweepSpec.model_validate(raw)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = f"unknown key; allowed keys: {', '.join(_allowed(err['loc']))}"
            elif err["type"] == "missing":
                msg = "required key is missing"
            elif err["type"] == "too_short" and err["loc"][-1] in ("values", "factors"):
                msg = (
                    "needs at least one value"
                    if err["loc"][-1] == "values"
                    else ("a sweep needs at least one factor")
                )
            value = err.get("input")
            has_value = err["type"] not in ("missing",) and not isinstance(value, dict)
            errors.append(
                ScenarioError(
                    msg, file=str(path), key_path=loc or "<top>", value=value, has_value=has_value
                )
            )
        raise (errors[0] if len(errors) == 1 else ScenarioErrors(errors)) from None


def _allowed(loc: tuple[Any, ...]) -> list[str]:
    if len(loc) >= 3 and loc[0] == "factors":
        return list(Factor.model_fields)
    return list(SweepSpec.model_fields)


def _try_load(
    base_path: Path,
    overrides: dict[str, Any],
    sweep_path: Path,
    key_path: str,
    value: Any,
    what: str,
) -> None:
    try:
        load_scenario(base_path, overrides)
    except ScenarioError as exc:
        raise ScenarioError(
            f"this {what} does not apply to the base scenario {base_path}: {_reason(exc)}",
            file=str(sweep_path),
            key_path=key_path,
            value=jsonable(value),
            has_value=True,
        ) from None


def _reason(exc: ScenarioError) -> str:
    if isinstance(exc, ScenarioErrors):
        return "; ".join(str(e) for e in exc.errors)
    where = f"key '{exc.key_path}': " if exc.key_path and exc.file != "--set" else ""
    return where + getattr(exc, "reason", str(exc))


def _combinations(spec: SweepSpec) -> list[dict[str, Any]]:
    keys = list(spec.factors)
    lists = [spec.factors[k].values for k in keys]
    combos = itertools.product(*lists) if spec.mode == "grid" else zip(*lists, strict=True)
    return [dict(zip(keys, c, strict=True)) for c in combos]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else canonical_json(jsonable(value))


def _show(combo: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_text(jsonable(v))}" for k, v in combo.items())


# --------------------------------------------------------------------------- running


@dataclass
class SweepOutcome:
    """What a sweep run did and where its results are."""

    out_dir: Path
    total: int
    reused: int
    ran: int
    corrupt: int
    failed: dict[str, dict[str, Any]]
    table: pd.DataFrame
    summary: pd.DataFrame
    figures: list[Path] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.failed


def default_out_dir(sweep: Sweep) -> Path:
    """``results/sweep-<name>``."""
    return Path("results") / f"sweep-{sweep.name}"


def run_sweep(
    sweep: Sweep,
    out_dir: Path | None,
    executor: Executor,
    *,
    on_start: Callable[[int, int], None] | None = None,
    on_cell: CellCallback | None = None,
    command: str = "",
    figures: bool = True,
) -> SweepOutcome:
    """Run the sweep's unfinished cells and write its tables, summary and figures.

    Args:
        sweep: from :func:`load_sweep`.
        out_dir: the sweep folder (default ``results/sweep-<name>``); reused cells are
            read from ``<out_dir>/cells``.
        executor: where cells run (entered here).
        on_start: called with (cells to run, cells in total) before any cell runs.
        on_cell: called after each cell is stored, with its task and status.
        command: the command line, recorded in ``sweep.json``.
        figures: draw the figures (PNG).

    Raises:
        CellStoreError: another process is writing to ``out_dir``.
    """
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir(sweep)
    tasks = sweep.cells()
    with lock_folder(out_dir):
        store = CellStore(out_dir / "cells")
        store.remove_temporaries()
        scan = store.scan([t.cell_id for t in tasks])
        by_id = {t.cell_id: t for t in tasks}
        todo = [by_id[c] for c in by_id if c not in scan.done]
        if on_start is not None:
            on_start(len(todo), len(tasks))
        started = time.perf_counter()
        if todo:
            with executor:
                report = run_cells(todo, executor, store, on_cell=on_cell)
        else:
            report = CellsReport()
        wall_s = time.perf_counter() - started
        records = {**scan.done, **report.records}
        table = sweep_table(sweep, records)
        summary = cell_summary(sweep, table)
        outcome = SweepOutcome(
            out_dir=out_dir,
            total=len(tasks),
            reused=len(scan.done),
            ran=len(todo),
            corrupt=len(scan.corrupt),
            failed=report.errors,
            table=table,
            summary=summary,
        )
        write_outputs(sweep, outcome, executor, command=command, wall_s=wall_s)
        if figures and len(table):
            outcome.figures = write_figures(sweep, summary, out_dir)
    return outcome


# --------------------------------------------------------------------------- tables


def _column(values: list[Any]) -> list[Any]:
    """Factor values as one Parquet-friendly column: numbers, booleans or strings."""
    if all(isinstance(v, bool) for v in values):
        return values
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return values
    return [_text(v) for v in values]


def sweep_table(sweep: Sweep, records: dict[str, CellRecord]) -> pd.DataFrame:
    """The tidy table: factor columns, variant, replication, metric, value.

    Rows follow the sweep's variant order, then replication, then metric name; cells
    not in ``records`` (failed ones) are left out.
    """
    keys = sweep.factor_keys
    factor_cols: dict[str, list[Any]] = {k: [] for k in keys}
    variant_col, rep_col, metric_col, value_col = [], [], [], []
    for v in sweep.variants:
        for r in range(sweep.replications):
            record = records.get(cell_id_of(v.digest, r))
            if record is None:
                continue
            summary = record.summary_values()
            for metric in sorted(summary):
                for k in keys:
                    factor_cols[k].append(v.factors[k])
                variant_col.append(v.index)
                rep_col.append(r)
                metric_col.append(metric)
                value_col.append(summary[metric])
    data: dict[str, Any] = {k: _column(vals) for k, vals in factor_cols.items()}
    data.update(variant=variant_col, replication=rep_col, metric=metric_col, value=value_col)
    table = pd.DataFrame(data)
    table["variant"] = table["variant"].astype("int64")
    table["replication"] = table["replication"].astype("int64")
    table["metric"] = table["metric"].astype(str)
    table["value"] = table["value"].astype("float64")
    return table


def cell_summary(sweep: Sweep, table: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """Per variant and metric: factor values, mean, sem, 95 % interval and n."""
    from simulator.stats import intervals

    cols = [*sweep.factor_keys, "variant", "metric", "mean", "sem", "ci_low", "ci_high", "n"]
    if table.empty:
        return pd.DataFrame(columns=cols)
    iv = intervals(table.rename(columns={"variant": "scenario"}), level)
    iv = iv.rename(columns={"scenario": "variant"})
    factors = variants_table(sweep).drop(columns=["digest", "label"])
    out = factors.merge(iv, on="variant", how="inner")
    return out[cols].sort_values(["variant", "metric"], kind="stable").reset_index(drop=True)


def variants_table(sweep: Sweep) -> pd.DataFrame:
    """One row per variant: index, digest, label and factor values."""
    data: dict[str, Any] = {
        k: _column([v.factors[k] for v in sweep.variants]) for k in sweep.factor_keys
    }
    data["variant"] = [v.index for v in sweep.variants]
    data["digest"] = [v.digest for v in sweep.variants]
    data["label"] = [v.label for v in sweep.variants]
    return pd.DataFrame(data)


def paired_table(sweep: Sweep, table: pd.DataFrame) -> pd.DataFrame | None:
    """Each variant's paired difference against variant 0 (common random numbers)."""
    from simulator.stats import paired_differences

    if sweep.replications < 2 or len(sweep.variants) < 2 or table.empty:
        return None
    if 0 not in set(table["variant"]):
        return None
    long = table.rename(columns={"variant": "scenario"})[
        ["scenario", "replication", "metric", "value"]
    ]
    paired = paired_differences(long, 0)  # type: ignore[arg-type]  # variants are ints
    return paired.rename(columns={"scenario": "variant", "baseline": "baseline_variant"})


def write_outputs(
    sweep: Sweep,
    outcome: SweepOutcome,
    executor: Executor,
    *,
    command: str = "",
    wall_s: float = math.nan,
) -> None:
    """Write the tables, the summary and the manifest of a sweep folder, each atomically."""
    out = outcome.out_dir
    table = outcome.table
    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    atomic_write_bytes(out / "results.parquet", buf.getvalue())
    atomic_write_text(out / "results.csv", table.to_csv(index=False))
    atomic_write_text(out / "summary.csv", outcome.summary.to_csv(index=False))
    atomic_write_text(out / "variants.csv", variants_table(sweep).to_csv(index=False))
    paired = paired_table(sweep, table)
    if paired is not None:
        atomic_write_text(out / "paired.csv", paired.to_csv(index=False))
    spec = sweep.spec.model_dump(mode="json")
    atomic_write_text(out / "sweep.yaml", yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    manifest = {
        "schema_version": SWEEP_SCHEMA_VERSION,
        "sweep": sweep.name,
        "sweep_file": str(sweep.path),
        "base_scenario": str(sweep.base_path),
        "base_scenario_name": sweep.base.name,
        "overrides": list(sweep.overrides),
        "mode": sweep.spec.mode,
        "factors": {k: [f.label or k, jsonable(f.values)] for k, f in sweep.spec.factors.items()},
        "variants": len(sweep.variants),
        "replications": sweep.replications,
        "seed": sweep.base.seed,
        "interval_level": LEVEL,
        "cells": {
            "total": outcome.total,
            "reused": outcome.reused,
            "ran": outcome.ran,
            "corrupt_rerun": outcome.corrupt,
            "failed": len(outcome.failed),
            "done": outcome.total - len(outcome.failed),
        },
        "complete": outcome.complete,
        "failed_cells": [
            {
                "cell_id": cid,
                "factors": err["factors"],
                "replication": err["replication"],
                "error": f"{err['error_type']}: {err['message']}",
                "error_file": f"cells/{cid}.error.json",
            }
            for cid, err in sorted(outcome.failed.items())
        ],
        "executor": executor.describe(),
        "wall_s": clean_float(round(wall_s, 3)) if math.isfinite(wall_s) else None,
        "version": __version__,
        "python": sys.version.split()[0],
        "command": command,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_text(out / "sweep.json", json.dumps(manifest, indent=2, allow_nan=False))


# --------------------------------------------------------------------------- figures


def figure_metrics(sweep: Sweep, available: Iterable[str]) -> list[str]:
    """The sweep's figure metrics as summary keys present in the results."""
    from simulator.plan import canonical_metric

    known = set(available)
    out = []
    for name in sweep.spec.metrics:
        key = canonical_metric(name)
        if key in known:
            out.append(key)
        else:
            log.warning("sweep metric %r (%s) is not in the results; no figure drawn", name, key)
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("_")


def _axis_values(values: list[Any]) -> tuple[str, list[Any]]:
    """How to place factor values on an axis: ``number``, ``date`` or ``category``."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "number", [float(v) for v in values]
    try:
        dates = [dt.date.fromisoformat(v) for v in values]
    except (TypeError, ValueError):
        return "category", [_text(v) for v in values]
    return "date", dates


def error_bars(mean: Any, low: Any, high: Any) -> list[list[float]]:
    """Matplotlib ``yerr`` (below, above) from means and interval ends; NaN ends give 0."""
    below = [
        max(0.0, m - lo) if math.isfinite(lo) else 0.0 for m, lo in zip(mean, low, strict=True)
    ]
    above = [
        max(0.0, hi - m) if math.isfinite(hi) else 0.0 for m, hi in zip(mean, high, strict=True)
    ]
    return [below, above]


def sweep_figures(sweep: Sweep, summary: pd.DataFrame) -> dict[str, Any]:
    """Each figure metric against each factor: mean with 95 % interval bars.

    Lines join the variants that share the other factors' values (grid mode; one line
    per combination), or all variants (zip mode, or one factor). Returns
    ``{file stem: Figure}``.
    """
    from matplotlib.figure import Figure

    from simulator import plotting

    figures: dict[str, Any] = {}
    if summary.empty:
        return figures
    metrics = figure_metrics(sweep, summary["metric"].unique())
    keys = sweep.factor_keys
    reps = sweep.replications
    level = LEVEL if reps >= 2 else None
    note = (
        "points: mean over replications; bars: 95% CI across replications"
        if reps >= 2
        else "points: one replication (no interval)"
    )
    caption = plotting.caption_text(
        f"{sweep.base.name} (sweep {sweep.name}, common random numbers)",
        reps,
        level=level,
        note=note,
    )
    for metric in metrics:
        rows = summary[summary["metric"] == metric]
        unit = plotting.metric_unit(metric)
        scale = 100.0 if unit == "%" else 1.0
        for key in keys:
            others = [k for k in keys if k != key] if sweep.spec.mode == "grid" else []
            kind, _ = _axis_values(list(sweep.spec.factors[key].values))
            fig = Figure(figsize=(8.0, 4.8), layout="constrained")
            ax = fig.add_subplot()
            groups = list(rows.groupby(others, sort=False)) if others else [((), rows)]
            for i, (group_key, g) in enumerate(groups):
                xs_kind, xs = _axis_values(list(g[key]))
                if xs_kind == "category":
                    # Side by side around each category, so that intervals do not overlap.
                    dodge = 0.08 * (i - (len(groups) - 1) / 2)
                    order = [_text(v) for v in sweep.spec.factors[key].values]
                    xs = [order.index(x) + dodge for x in xs]
                mean = g["mean"].to_numpy(dtype=float) * scale
                low = g["ci_low"].to_numpy(dtype=float) * scale
                high = g["ci_high"].to_numpy(dtype=float) * scale
                err = error_bars(mean, low, high)
                gk = group_key if isinstance(group_key, tuple) else (group_key,)
                label = ", ".join(_text(v) for v in gk)
                ax.errorbar(
                    xs,
                    mean,
                    yerr=err,
                    marker="o",
                    capsize=3,
                    color=plotting.OKABE_ITO[i % len(plotting.OKABE_ITO)],
                    linestyle=("-", "--", "-.", ":")[(i // len(plotting.OKABE_ITO)) % 4],
                    label=label or None,
                )
            if kind == "category":
                names = [_text(v) for v in sweep.spec.factors[key].values]
                ax.set_xticks(range(len(names)), names)
            unit_text = f" ({unit})" if unit else ""
            ax.set_xlabel(sweep.factor_label(key), fontsize=plotting.LABEL_SIZE)
            ax.set_ylabel(
                f"{plotting.metric_label(metric)}{unit_text}", fontsize=plotting.LABEL_SIZE
            )
            ax.set_title(
                f"{plotting.metric_label(metric)} vs {sweep.factor_label(key)} — sweep "
                f"{sweep.name}",
                fontsize=plotting.TITLE_SIZE - 1,
                loc="left",
            )
            ax.grid(alpha=0.3)
            if others:
                ax.legend(
                    fontsize=plotting.LEGEND_SIZE,
                    title=", ".join(sweep.factor_label(k) for k in others),
                    title_fontsize=plotting.LEGEND_SIZE,
                )
            if kind == "date":
                fig.autofmt_xdate()
            plotting.add_caption(fig, caption)
            figures[f"{_slug(metric)}--vs--{_slug(key)}"] = fig
    return figures


def write_figures(sweep: Sweep, summary: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Draw :func:`sweep_figures` and save each as ``figures/<stem>.png``, atomically."""
    folder = Path(out_dir) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, fig in sweep_figures(sweep, summary).items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=150)
        path = folder / f"{stem}.png"
        atomic_write_bytes(path, buf.getvalue())
        paths.append(path)
    return paths
