"""Summary statistics of a normalised job table (what ``lingang-sim traces inspect`` prints).

:func:`summarise` takes a table from :func:`simulator.traces.read_trace` and returns a
JSON-serialisable dict:

* ``jobs``, ``rows_read`` and the ``skipped``, ``filtered``, ``clamped`` and ``reordered``
  counts from the table's ``attrs``;
* ``time``: first and last submit (s, the table's epoch), ``span_s`` = last submit - first
  submit (the arrival window), ``last_end_s`` = latest recorded end (recorded start +
  run, else submit + run), and ``epoch``;
* ``cards``: mean, min, quantiles (p50, p90, p99) and max of the cards per job;
  ``size_classes``: jobs and card-hours per size class 1, 2-8, 9-64, 65-1024, >1024
  (and 0 when CPU-only jobs were kept);
* ``run_s``: mean, p10, p50, p90, p99 and max of the run time (s); ``card_hours``;
* ``capacity`` and ``offered_load`` = sum(cards x run_s) / (capacity x span_s), when a
  capacity is given or the trace states one (SWF ``MaxProcs``); otherwise None;
* ``wait_s``: recorded wait (recorded start - submit): jobs with a recorded start, mean,
  p50, p95 and max, or None when the trace records no start;
* ``status`` counts, distinct ``users`` and ``tenants``, and ``estimate`` (jobs with an
  estimate, median of estimate / run over jobs with run > 0).
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pandas as pd

from simulator.errors import TraceError
from simulator.traces.schema import DEFAULT_CHUNK_ROWS, STATUSES, OnBad, validate_table

#: Size classes in cards: label, smallest, largest (inclusive).
SIZE_CLASSES: tuple[tuple[str, float, float], ...] = (
    ("1", 1, 1),
    ("2-8", 2, 8),
    ("9-64", 9, 64),
    ("65-1024", 65, 1024),
    (">1024", 1025, math.inf),
)


def _num(value: Any) -> float | None:
    """A float for JSON, or None for NaN/missing."""
    if value is None:
        return None
    v = float(value)
    return None if math.isnan(v) else v


def _quantiles(values: np.ndarray, probs: dict[str, float]) -> dict[str, float | None]:
    if len(values) == 0:
        return {k: None for k in ("mean", *probs, "max")}
    out: dict[str, float | None] = {"mean": _num(values.mean())}
    qs = np.quantile(values, list(probs.values()))
    out.update({k: _num(q) for k, q in zip(probs, qs, strict=True)})
    out["max"] = _num(values.max())
    return out


def summarise(frame: pd.DataFrame, capacity: int | None = None) -> dict[str, Any]:
    """Summary statistics of a normalised job table.

    Args:
        frame: a table from :func:`simulator.traces.read_trace` (or read back from Parquet).
        capacity: cards in the machine, for the offered load; defaults to
            ``attrs["capacity"]`` (SWF ``MaxProcs``) when the trace states one.

    Returns:
        A JSON-serialisable dict (keys described in the module docstring).

    Raises:
        TraceError: the table lacks the normalised columns or the capacity is not positive.
    """
    validate_table(frame, str(frame.attrs.get("file", "table")))
    attrs = frame.attrs
    submit = frame["submit_s"].to_numpy(dtype=np.float64)
    run = frame["run_s"].to_numpy(dtype=np.float64)
    cards = frame["cards"].to_numpy(dtype=np.float64)
    start = frame["recorded_start_s"].to_numpy(dtype=np.float64)
    n = len(frame)

    card_seconds = cards * run
    total_card_s = float(card_seconds.sum())
    first = float(submit.min()) if n else math.nan
    last = float(submit.max()) if n else math.nan
    span = last - first if n else math.nan
    ends = np.where(np.isnan(start), submit, start) + run
    last_end = float(ends.max()) if n else math.nan

    classes: list[dict[str, Any]] = []
    bounds = list(SIZE_CLASSES)
    if n and (cards == 0).any():
        bounds.insert(0, ("0", 0, 0))
    for label, lo, hi in bounds:
        mask = (cards >= lo) & (cards <= hi)
        jobs = int(mask.sum())
        ch = float(card_seconds[mask].sum()) / 3600.0
        classes.append(
            {
                "size": label,
                "jobs": jobs,
                "job_share": jobs / n if n else None,
                "card_hours": ch,
                "card_hour_share": ch * 3600.0 / total_card_s if total_card_s else None,
            }
        )

    source: str | None
    if capacity is not None:
        if capacity <= 0:
            raise TraceError(f"capacity must be a positive number of cards, not {capacity}")
        source = "given"
    else:
        capacity = attrs.get("capacity")
        source = attrs.get("capacity_source") if capacity else None
    load = None
    if capacity and n and span > 0:
        load = total_card_s / (float(capacity) * span)

    has_start = ~np.isnan(start)
    waits = (start - submit)[has_start]
    wait = None
    if has_start.any():
        wait = {"jobs": int(has_start.sum()), **_quantiles(waits, {"p50": 0.5, "p95": 0.95})}

    estimate = frame["estimate_s"].to_numpy(dtype=np.float64)
    has_est = ~np.isnan(estimate)
    ratio_mask = has_est & (run > 0)
    status_counts = frame["status"].value_counts()

    return {
        "file": attrs.get("file"),
        "format": attrs.get("format"),
        "jobs": n,
        "rows_read": attrs.get("rows_read"),
        "skipped": dict(attrs.get("skipped", {})),
        "filtered": dict(attrs.get("filtered", {})),
        "clamped": dict(attrs.get("clamped", {})),
        "reordered": attrs.get("reordered", 0),
        "time": {
            "epoch": attrs.get("epoch"),
            "first_submit_s": _num(first),
            "last_submit_s": _num(last),
            "span_s": _num(span),
            "span_days": _num(span / 86400.0),
            "last_end_s": _num(last_end),
        },
        "cards": {
            "min": _num(cards.min()) if n else None,
            **_quantiles(cards, {"p50": 0.5, "p90": 0.9, "p99": 0.99}),
        },
        "size_classes": classes,
        "run_s": _quantiles(run, {"p10": 0.1, "p50": 0.5, "p90": 0.9, "p99": 0.99}),
        "card_hours": total_card_s / 3600.0,
        "capacity": {"cards": int(capacity) if capacity else None, "source": source},
        "offered_load": load,
        "wait_s": wait,
        "status": {s: int(status_counts.get(s, 0)) for s in STATUSES},
        "users": int(frame["user"].loc[frame["user"] != ""].nunique()),
        "tenants": int(frame["tenant"].loc[frame["tenant"] != ""].nunique()),
        "estimate": {
            "jobs": int(has_est.sum()),
            "median_estimate_over_run": _num(
                np.median(estimate[ratio_mask] / run[ratio_mask]) if ratio_mask.any() else None
            ),
        },
    }


def inspect_trace(
    source: str | os.PathLike[str] | pd.DataFrame,
    format: str = "auto",
    *,
    capacity: int | None = None,
    on_bad: OnBad = "error",
    gpu_only: bool = True,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> dict[str, Any]:
    """Read a trace (or take a table) and return its summary statistics.

    Args:
        source: a trace file, a Parquet file written by ``traces import``, or a table.
        format: the trace format or ``"auto"`` (ignored for a table).
        capacity: cards in the machine, for the offered load (default: from the trace).
        on_bad: bad-row policy, as in :func:`simulator.traces.read_trace`.
        gpu_only: drop CPU-only jobs of GPU traces, as in ``read_trace``.
        chunk_rows: lines parsed per block.

    Returns:
        The dict of :func:`summarise`.

    Raises:
        TraceError: the trace cannot be read.
    """
    if isinstance(source, pd.DataFrame):
        frame = source
    else:
        from simulator.traces import read_trace

        frame = read_trace(source, format, on_bad=on_bad, gpu_only=gpu_only, chunk_rows=chunk_rows)
    return summarise(frame, capacity)
