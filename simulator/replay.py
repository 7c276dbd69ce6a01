"""Trace replay: recorded jobs as a job source, in the same batches as generated ones.

A scenario's ``workload.trace`` names a trace file (any format of
:mod:`simulator.traces`). Its jobs inside the window are converted once per process
(cached) into columns the engine consumes: submit hours since the window start (divided
by ``arrival_scale``), cards (times ``cards_per_unit`` and ``size_scale``, rounded up),
work such that the recorded run time is the run time on the trace's card type, and the
user's estimate as a factor of the run time (``estimates: trace``; exact otherwise).

Jobs larger than every pool they may use follow ``too_large``: ``error`` (names the
trace line), ``skip`` or ``clamp`` to the largest pool, counted in :class:`ReplayJobs`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simulator.errors import TraceError
from simulator.scenario.schema import Scenario, TraceReplay

HOURS = 3600.0


@dataclass
class ReplayJobs:
    """The window's jobs as sorted columns, and what was adjusted on the way."""

    submit_h: np.ndarray
    cards: np.ndarray
    work: np.ndarray
    estimate_factor: np.ndarray
    tenant: np.ndarray  # index into tenant_names
    tenant_names: list[str]
    source_line: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)


@functools.lru_cache(maxsize=4)
def _read(file: str, format: str, on_bad: str) -> pd.DataFrame:
    from simulator.traces import read_trace

    return read_trace(file, format, on_bad=on_bad)  # type: ignore[arg-type]


def trace_speed(scenario: Scenario, trace: TraceReplay) -> float:
    """Relative speed of the card type on which the trace's run times were recorded."""
    ref = scenario.card_type(scenario.reference_card)
    card = scenario.card_type(trace.card_types[0]) if trace.card_types else ref
    return card.effective_tflops / ref.effective_tflops


def replay_jobs(scenario: Scenario, max_cards: int) -> ReplayJobs:
    """Convert the scenario's trace window into job columns.

    Args:
        scenario: a scenario with ``workload.trace`` set.
        max_cards: the largest pool the trace jobs may use (for ``too_large``).
    """
    trace = scenario.workload.trace
    assert trace is not None
    table = _read(trace.file, trace.format, trace.on_bad)
    counts: dict[str, int] = {"read": len(table)}
    submit_s = table["submit_s"].to_numpy(dtype=float)
    origin = float(np.min(submit_s)) if len(submit_s) else 0.0
    start = origin + trace.start_day * 86400.0
    span_s = (
        trace.span_days * 86400.0
        if trace.span_days is not None
        else scenario.horizon_h * HOURS * trace.arrival_scale
    )
    window = (submit_s >= start) & (submit_s < start + span_s)
    t = table[window]
    counts["in_window"] = int(window.sum())
    submit_h = (t["submit_s"].to_numpy(dtype=float) - start) / HOURS / trace.arrival_scale
    units = t["cards"].to_numpy(dtype=float) * trace.cards_per_unit * trace.size_scale
    cards = np.maximum(1, np.ceil(units - 1e-9)).astype(np.int64)
    lines = t["source_line"].to_numpy(dtype=np.int64)
    too_big = cards > max_cards
    if too_big.any():
        first = int(np.argmax(too_big))
        if trace.too_large == "error":
            raise TraceError(
                f"{trace.file}, line {lines[first]}: a job of {cards[first]} cards is larger "
                f"than any pool it may use ({max_cards} cards); set workload.trace.too_large "
                f"to 'skip' or 'clamp', or give the pool more servers "
                f"({int(too_big.sum())} such jobs)"
            )
        counts[f"too_large_{trace.too_large}"] = int(too_big.sum())
        if trace.too_large == "clamp":
            cards = np.minimum(cards, max_cards)
    keep = ~too_big if trace.too_large == "skip" else np.ones(len(cards), dtype=bool)
    run_h = t["run_s"].to_numpy(dtype=float) / HOURS
    speed = trace_speed(scenario, trace)
    work = run_h * cards * speed
    estimate = t["estimate_s"].to_numpy(dtype=float) / HOURS
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(
            (trace.estimates == "trace") & np.isfinite(estimate) & (run_h > 0),
            estimate / run_h,
            1.0,
        )
    counts["estimate_below_run"] = int(np.sum(factor < 1.0))
    names = trace_tenant_names(scenario)
    if trace.tenant_from == "none":
        tenant = np.zeros(len(t), dtype=np.int64)
    else:
        labels = _tenant_labels(t, trace)
        categories = [n.split(":", 1)[1] for n in names]
        tenant = pd.Categorical(labels, categories=categories).codes.astype(np.int64)
    order = np.argsort(submit_h[keep], kind="stable")
    counts["replayed"] = int(keep.sum())
    return ReplayJobs(
        submit_h=submit_h[keep][order],
        cards=cards[keep][order],
        work=work[keep][order],
        estimate_factor=factor[keep][order],
        tenant=tenant[keep][order],
        tenant_names=names,
        source_line=lines[keep][order],
        counts=counts,
    )


def trace_capacity(table: pd.DataFrame) -> int | None:
    """The machine size a trace's header gives (SWF MaxProcs or MaxNodes), if any."""
    header = table.attrs.get("header", {}) or {}
    for key in ("MaxProcs", "MaxNodes"):
        value = header.get(key)
        try:
            n = int(str(value).split()[0])
        except (TypeError, ValueError, IndexError):
            continue
        if n > 0:
            return n
    return None


def trace_tenant_names(scenario: Scenario) -> list[str]:
    """Tenant names of the trace jobs (read from the cached trace)."""
    trace = scenario.workload.trace
    if trace is None:
        return []
    if trace.tenant_from == "none":
        return [trace.name]
    table = _read(trace.file, trace.format, trace.on_bad)
    return [f"{trace.name}:{u}" for u in sorted(set(_tenant_labels(table, trace)))]


def _tenant_labels(table: pd.DataFrame, trace: TraceReplay) -> pd.Series:
    labels = table["user" if trace.tenant_from == "user" else "tenant"].astype(str)
    return labels.where(labels != "", "unknown")
