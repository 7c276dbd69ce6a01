"""Fit a scenario workload class to a job trace, and measure how well a class matches one.

:func:`fit_job_class` takes a normalised job table (:func:`simulator.traces.read_trace`)
and returns a plain dict that validates as a scenario
:class:`~simulator.scenario.schema.JobClass` (``workload.classes[i]``):

* **Selection**: jobs with ``min_cards <= cards <= max_cards`` (default: every job with at
  least one card) stand for the class. The observation window is that of the **whole**
  table (first to last submit, or ``span_days``), so a rare size class gets its true rate.
* **arrival**: ``rate_per_day`` = selected jobs / window days. ``daily_profile`` (24 values,
  hour of day) and ``weekly_profile`` (7 values, Monday first) are arrival counts divided
  by the time the window spends in each hour or weekday, normalised to mean 1, fitted
  only when the trace has clock time (:func:`trace_clock`) and enough jobs. Jobs per card
  per day (rate / capacity) is reported by :func:`fit_report`, since the schema has no
  field for it.
* **gang_size**: a ``table`` of the observed sizes with their job shares in percent. At
  most ``max_sizes`` sizes are kept (the most frequent, each with at least ``min_share``
  of the jobs); the jobs of other sizes are moved to the nearest kept size on a log scale.
* **work**: ``unit: ref_hours``, a ``lognormal`` fitted by maximum likelihood to the run
  times in hours of the jobs with a positive run time: ``median = exp(mean(log x))``,
  ``sigma = std(log x)`` (the MLE, divisor n), clipped to the observed minimum and
  maximum. A trace run time is thereby read as hours on the scenario's reference card.
* **estimate** (only when at least ``min_jobs`` jobs have an estimate): ``factor_min`` and
  ``factor_max`` are the ``estimate_quantiles`` of estimate / run, raised to at least 1
  (the simulator draws the factor uniformly between them and needs factors >= 1).

A fit that cannot be made raises :class:`~simulator.errors.TraceError` saying why: no
job in the selection, fewer than ``min_jobs`` jobs with a positive run time, no positive
run time at all, identical run times (no spread for a lognormal), or a window that is
not longer than zero.

:func:`fit_report` compares any class block (fitted or hand-set) with the jobs of a
table: arrival rate and jobs per card per day, the profiles, mean gang size, the
Kolmogorov-Smirnov distance between the block's run-time CDF and the empirical one,
quantiles and means of run time, and the offered card-hours per day. :func:`block_yaml`
renders a block with the report as a header comment; :func:`plot_fit` draws the fitted
and empirical distributions on a new matplotlib ``Figure`` (no pyplot state).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import yaml
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter
from pydantic import ValidationError
from scipy.special import ndtr

from simulator.errors import TraceError
from simulator.plotting import LABEL_SIZE, LEGEND_SIZE, NOTE_SIZE, OKABE_ITO, TICK_SIZE
from simulator.scenario.schema import (
    ConstantDistribution,
    Distribution,
    ExponentialDistribution,
    JobClass,
    LognormalDistribution,
    TableDistribution,
)
from simulator.traces.schema import validate_table

__all__ = [
    "MIN_JOBS",
    "ClockTimes",
    "LognormalFit",
    "arrival_profiles",
    "block_yaml",
    "class_work_per_day",
    "combine_tables",
    "distribution_cdf",
    "distribution_mean",
    "estimate_factors",
    "fit_job_class",
    "fit_lognormal",
    "fit_report",
    "ks_distance",
    "plot_fit",
    "select_jobs",
    "size_table",
    "trace_clock",
    "trim_window",
    "window_days",
]

SECONDS_PER_DAY = 86400.0
SECONDS_PER_HOUR = 3600.0
#: Fewest jobs with a positive run time for a fit: the log-mean's standard error is then
#: at most sigma / sqrt(30) = 0.18 sigma.
MIN_JOBS = 30
#: Fewest selected jobs for arrival profiles (about 20 per hour of day).
MIN_PROFILE_JOBS = 500
DEFAULT_MAX_SIZES = 12
DEFAULT_MIN_SHARE = 0.001
DEFAULT_ESTIMATE_QUANTILES = (0.1, 0.9)
#: Quantiles of run time compared by :func:`fit_report`.
RUN_QUANTILES: dict[str, float] = {"p10": 0.1, "p50": 0.5, "p90": 0.9, "p99": 0.99}
#: 1970-01-01 was a Thursday: weekday (Monday = 0) = (days since 1970 + 3) mod 7.
_EPOCH_WEEKDAY = 3

TRACE_COLOUR = OKABE_ITO[0]  # blue: what the trace recorded
FIT_COLOUR = OKABE_ITO[3]  # vermillion: what the block generates


# --------------------------------------------------------------------------- helpers


def _sig(value: float, digits: int = 4) -> float:
    """``value`` rounded to ``digits`` significant digits (a plain float, for YAML)."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    return float(f"{value:.{digits}g}")


def _sig_down(value: float, digits: int = 4) -> float:
    """Largest number of ``digits`` significant digits not above ``value`` (> 0)."""
    scale = 10.0 ** (math.floor(math.log10(value)) - digits + 1)
    return float(f"{math.floor(value / scale) * scale:.{digits}g}")


def _sig_up(value: float, digits: int = 4) -> float:
    """Smallest number of ``digits`` significant digits not below ``value`` (> 0)."""
    scale = 10.0 ** (math.floor(math.log10(value)) - digits + 1)
    return float(f"{math.ceil(value / scale) * scale:.{digits}g}")


def _num(value: Any) -> float | None:
    """A float for JSON/YAML, or None for NaN and missing values."""
    if value is None:
        return None
    v = float(value)
    return None if math.isnan(v) else v


def _source_name(table: pd.DataFrame) -> str:
    files = table.attrs.get("files") or [table.attrs.get("file", "table")]
    return files_label([str(f) for f in files])


def files_label(files: Sequence[str]) -> str:
    """Trace file names for messages: one path, or a folder and the names in it."""
    if len(files) == 1:
        return files[0]
    folders = {f.rsplit("/", 1)[0] if "/" in f else "." for f in files}
    if len(folders) == 1:
        names = [f.rsplit("/", 1)[-1] for f in files]
        return f"{len(files)} files in {folders.pop()}/: {', '.join(names)}"
    return ", ".join(files)


# --------------------------------------------------------------------------- tables


def combine_tables(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Stack several normalised tables of one format into one (e.g. the ITP clusters).

    Tables with calendar times (``time_format == "datetime"``) are moved to the earliest
    epoch, and SWF tables to the earliest ``UnixStartTime``; tables with relative times
    are assumed to share their origin (true of the ITP clusters, whose times count from
    one start of collection). ``attrs`` keeps the first table's metadata, with ``files``
    listing every file and ``capacity`` the sum of the capacities when all are known.

    Raises:
        TraceError: no tables, or tables of different formats.
    """
    if not tables:
        raise TraceError("no trace tables to combine")
    if len(tables) == 1:
        return tables[0]
    formats = {t.attrs.get("format") for t in tables}
    if len(formats) > 1:
        raise TraceError(
            "cannot fit one class to traces of different formats "
            f"({', '.join(sorted(str(f) for f in formats))}); their clocks differ"
        )
    shifts = [0.0] * len(tables)
    first = tables[0].attrs
    starts = [_unix_start(t) for t in tables]
    if first.get("time_format") == "datetime":
        epochs = [pd.Timestamp(t.attrs["epoch"]) for t in tables if t.attrs.get("epoch")]
        origin = min(epochs)
        shifts = [
            (pd.Timestamp(t.attrs["epoch"]) - origin) / pd.Timedelta(seconds=1)
            if t.attrs.get("epoch")
            else 0.0
            for t in tables
        ]
        epoch: Any = origin.isoformat()
    else:
        if all(s is not None for s in starts):
            origin_s = min(s for s in starts if s is not None)
            shifts = [float(s - origin_s) for s in starts if s is not None]
        epoch = first.get("epoch")
    parts = []
    for table, shift in zip(tables, shifts, strict=True):
        part = table.copy()
        part["submit_s"] = part["submit_s"] + shift
        part["recorded_start_s"] = part["recorded_start_s"] + shift
        parts.append(part)
    combined = pd.concat(parts, ignore_index=True).sort_values("submit_s", kind="stable")
    combined = combined.reset_index(drop=True)
    capacities = [t.attrs.get("capacity") for t in tables]
    known = [int(c) for c in capacities if c]
    capacity = sum(known) if len(known) == len(capacities) else None
    attrs = dict(first)
    if first.get("format") == "swf" and all(s is not None for s in starts):
        header = dict(first.get("header") or {})
        header["UnixStartTime"] = min(s for s in starts if s is not None)
        attrs["header"] = header
    attrs.update(
        {
            "files": [str(t.attrs.get("file", "table")) for t in tables],
            "file": None,
            "epoch": epoch,
            "jobs": len(combined),
            "capacity": capacity,
            "capacity_source": "sum of the files' capacities" if capacity else None,
        }
    )
    combined.attrs = attrs
    return combined


def _unix_start(table: pd.DataFrame) -> int | None:
    header = table.attrs.get("header") or {}
    start = header.get("UnixStartTime") if isinstance(header, dict) else None
    return start if isinstance(start, int) else None


def select_jobs(
    table: pd.DataFrame, min_cards: int | None = None, max_cards: int | None = None
) -> pd.DataFrame:
    """The jobs with ``min_cards <= cards <= max_cards`` (and at least one card).

    Raises:
        TraceError: ``min_cards`` exceeds ``max_cards``, or a bound is below 1.
    """
    lo = 1 if min_cards is None else int(min_cards)
    if lo < 1 or (max_cards is not None and max_cards < 1):
        raise TraceError(f"card bounds must be >= 1 (min_cards={min_cards}, max={max_cards})")
    if max_cards is not None and lo > max_cards:
        raise TraceError(f"min_cards ({lo}) exceeds max_cards ({max_cards}); no job can match")
    cards = table["cards"].to_numpy()
    mask = cards >= lo
    if max_cards is not None:
        mask &= cards <= max_cards
    return table.loc[mask]


def trim_window(
    table: pd.DataFrame, start_day: float = 0.0, span_days: float | None = None
) -> pd.DataFrame:
    """The jobs submitted in a window of the trace (as ``TraceReplay``'s window).

    Args:
        table: a normalised table.
        start_day: window start, days after the table's first submit.
        span_days: window length in days (default: to the last submit).

    Returns:
        The jobs with ``first + start_day <= submit < first + start_day + span_days``
        (days in seconds), with the table's ``attrs`` and ``attrs["window"]`` recording
        the window.

    Raises:
        TraceError: a negative start, a span not above zero, or no job in the window.
    """
    if start_day < 0 or (span_days is not None and not span_days > 0):
        raise TraceError(
            f"the window needs start_day >= 0 and span_days > 0 (got {start_day}, {span_days})"
        )
    if table.empty:
        raise TraceError(f"{_source_name(table)}: the table has no jobs")
    submit = table["submit_s"].to_numpy(dtype=np.float64)
    t0 = float(submit.min()) + start_day * SECONDS_PER_DAY
    mask = submit >= t0
    if span_days is not None:
        mask &= submit < t0 + span_days * SECONDS_PER_DAY
    out = table.loc[mask].reset_index(drop=True)
    out.attrs = {
        **table.attrs,
        "window": {"start_day": start_day, "span_days": span_days, "start_s": t0},
    }
    if out.empty:
        raise TraceError(
            f"{_source_name(table)}: no job submitted in the window of {span_days} days "
            f"starting {start_day} days after the first submit"
        )
    return out


def window_days(table: pd.DataFrame, span_days: float | None = None) -> float:
    """The observation window in days: ``span_days``, else first to last submit.

    Raises:
        TraceError: the window is not longer than zero.
    """
    if span_days is not None:
        if not span_days > 0:
            raise TraceError(f"span_days must be > 0, not {span_days}")
        return float(span_days)
    if len(table) < 2:
        raise TraceError(
            f"{_source_name(table)}: {len(table)} job(s) give no time span; pass span_days"
        )
    submit = table["submit_s"].to_numpy(dtype=np.float64)
    span = (float(submit.max()) - float(submit.min())) / SECONDS_PER_DAY
    if span <= 0:
        raise TraceError(
            f"{_source_name(table)}: every job has the same submit time; pass span_days"
        )
    return span


# --------------------------------------------------------------------------- clock


@dataclass(frozen=True)
class ClockTimes:
    """Submit times as local wall-clock time, when a trace has them.

    Attributes:
        local_s: seconds since 1970-01-01 00:00 of the trace's wall clock (naive), one per
            job of the table; None when the trace has only relative times.
        zone: the time zone, when known (SWF ``TimeZoneString``); None otherwise.
        note: how the clock was found, and what is unknown about it.
    """

    local_s: np.ndarray | None
    zone: str | None
    note: str


def trace_clock(table: pd.DataFrame) -> ClockTimes:
    """Local wall-clock submit times of a table, from its ``attrs``.

    * Calendar traces (``time_format == "datetime"``: Philly, Helios) count from
      ``attrs["epoch"]``, a naive midnight; their time zone is not stated in the trace.
    * SWF with ``UnixStartTime`` in the header: UTC instants, converted to the header's
      ``TimeZoneString`` zone (daylight saving included), else left in UTC.
    * Anything else (ITP, openb, SWF without a start time) has no clock.
    """
    attrs = table.attrs
    submit = table["submit_s"].to_numpy(dtype=np.float64)
    if attrs.get("time_format") == "datetime" and attrs.get("epoch"):
        base = (pd.Timestamp(attrs["epoch"]) - pd.Timestamp("1970-01-01")) / pd.Timedelta(seconds=1)
        return ClockTimes(
            submit + float(base),
            None,
            "naive timestamps as recorded; the time zone is not stated in the trace, so the "
            "profiles are in the trace's own wall-clock time",
        )
    start = _unix_start(table) if attrs.get("format") == "swf" else None
    if start is not None:
        header = attrs.get("header") or {}
        zone_name = header.get("TimeZoneString") if isinstance(header, dict) else None
        utc = pd.to_datetime(submit + start, unit="s", utc=True)
        if isinstance(zone_name, str) and zone_name:
            try:
                local = utc.tz_convert(ZoneInfo(zone_name)).tz_localize(None)
            except (ZoneInfoNotFoundError, ValueError):
                local = None
            if local is not None:
                seconds = (local - pd.Timestamp("1970-01-01")) / pd.Timedelta(seconds=1)
                return ClockTimes(
                    np.asarray(seconds, dtype=np.float64),
                    zone_name,
                    f"UnixStartTime + submit, in the site time zone {zone_name}",
                )
        naive = utc.tz_localize(None)
        seconds = (naive - pd.Timestamp("1970-01-01")) / pd.Timedelta(seconds=1)
        return ClockTimes(
            np.asarray(seconds, dtype=np.float64),
            "UTC",
            "UnixStartTime + submit in UTC; the site time zone is unknown",
        )
    return ClockTimes(
        None,
        None,
        "no clock time: submit times count from the trace start, so no daily or weekly "
        "profile is fitted",
    )


def arrival_profiles(
    local_s: np.ndarray,
    weights: np.ndarray | None = None,
    window: tuple[float, float] | None = None,
) -> tuple[list[float], list[float]]:
    """Mean-normalised arrival rates by hour of day and by weekday.

    Each count is divided by the time the observation window spends in that hour of day
    (or weekday), so a window of partial days or weeks does not bias the profile.

    Args:
        local_s: wall-clock times, seconds since 1970-01-01 (naive).
        weights: counts per time (e.g. jobs per 10-minute bin); one per job by default.
        window: ``(start, end)`` of the observation window in the same seconds; by
            default the first and last time.

    Returns:
        ``(daily, weekly)``: 24 rates (hour 0 first) and 7 rates (Monday first), each with
        mean 1 over the hours or weekdays that the window covers (0 where uncovered).

    Raises:
        TraceError: no times, or a window not longer than zero.
    """
    t = np.asarray(local_s, dtype=np.float64)
    if t.size == 0:
        raise TraceError("no submit times to build arrival profiles from")
    w = np.ones_like(t) if weights is None else np.asarray(weights, dtype=np.float64)
    t0, t1 = (float(t.min()), float(t.max())) if window is None else window
    if not t1 > t0:
        raise TraceError("the observation window is not longer than zero")
    hour_index = np.floor(t / SECONDS_PER_HOUR).astype(np.int64)
    counts_h = np.bincount(hour_index % 24, weights=w, minlength=24)
    day_index = np.floor(t / SECONDS_PER_DAY).astype(np.int64)
    counts_d = np.bincount((day_index + _EPOCH_WEEKDAY) % 7, weights=w, minlength=7)

    first_h = math.floor(t0 / SECONDS_PER_HOUR)
    last_h = math.floor(t1 / SECONDS_PER_HOUR)
    hours = np.arange(first_h, last_h + 1, dtype=np.int64)
    starts = hours * SECONDS_PER_HOUR
    covered = np.clip(np.minimum(starts + SECONDS_PER_HOUR, t1) - np.maximum(starts, t0), 0, None)
    exposure_h = np.bincount(hours % 24, weights=covered, minlength=24)
    weekday = ((hours // 24) + _EPOCH_WEEKDAY) % 7
    exposure_d = np.bincount(weekday, weights=covered, minlength=7)

    def normalised(counts: np.ndarray, exposure: np.ndarray) -> list[float]:
        seen = exposure > 0
        rate = np.zeros_like(counts)
        rate[seen] = counts[seen] / exposure[seen]
        mean = rate[seen].mean() if seen.any() else 0.0
        if mean <= 0:
            return [1.0] * len(counts)
        return [round(float(r / mean), 3) for r in rate]

    return normalised(counts_h, exposure_h), normalised(counts_d, exposure_d)


def daily_counts(submit_s: np.ndarray, first_s: float, last_s: float) -> np.ndarray:
    """Jobs submitted in each whole day of the window (days counted from ``first_s``)."""
    days = int(math.floor((last_s - first_s) / SECONDS_PER_DAY))
    if days < 1:
        return np.zeros(0)
    index = np.floor((np.asarray(submit_s) - first_s) / SECONDS_PER_DAY).astype(np.int64)
    index = index[(index >= 0) & (index < days)]
    return np.bincount(index, minlength=days).astype(np.float64)


# --------------------------------------------------------------------------- sizes


def size_table(
    cards: np.ndarray,
    max_sizes: int = DEFAULT_MAX_SIZES,
    min_share: float = DEFAULT_MIN_SHARE,
) -> tuple[list[int], list[float], dict[int, int]]:
    """A short table of gang sizes and their job shares.

    Sizes with at least ``min_share`` of the jobs are eligible (the most frequent size
    always is). The largest eligible size is kept, since it bounds the gangs a scheduler
    must place, with the most frequent others, ``max_sizes`` in all. The jobs of any
    other size are moved to the kept size nearest on a log scale (the larger one on a
    tie), so the table has the kept sizes with the shares of the jobs moved onto them.

    Returns:
        ``(values, weights, moved)``: kept sizes in increasing order, their shares in
        percent (4 significant digits), and ``{dropped size: kept size}``.

    Raises:
        TraceError: no jobs, or ``max_sizes`` below 1.
    """
    c = np.asarray(cards, dtype=np.int64)
    if c.size == 0:
        raise TraceError("no jobs to build a gang-size table from")
    if max_sizes < 1:
        raise TraceError(f"max_sizes must be >= 1, not {max_sizes}")
    sizes, counts = np.unique(c, return_counts=True)
    order = np.lexsort((-sizes, -counts))  # most frequent first, larger size on a tie
    share = counts / c.size
    eligible = [int(sizes[i]) for i in order if share[i] >= min_share]
    if not eligible:
        eligible = [int(sizes[order[0]])]
    kept = eligible[:max_sizes]
    largest = max(eligible)
    if largest not in kept:
        kept = [*kept[: max_sizes - 1], largest]
    kept.sort()
    log_kept = np.log2(np.asarray(kept, dtype=float))
    moved: dict[int, int] = {}
    totals = dict.fromkeys(kept, 0)
    for size, count in zip(sizes.tolist(), counts.tolist(), strict=True):
        if size in totals:
            totals[size] += count
            continue
        distance = np.abs(log_kept - math.log2(size))
        nearest = np.flatnonzero(distance <= distance.min() + 1e-12)
        target = kept[int(nearest.max())]
        moved[size] = target
        totals[target] += count
    weights = [_sig(100.0 * totals[k] / c.size) for k in kept]
    return kept, weights, moved


# --------------------------------------------------------------------------- run time


@dataclass(frozen=True)
class LognormalFit:
    """Maximum-likelihood lognormal fit of positive values.

    Attributes:
        log_mean: mean of log x (the MLE of mu); median = exp(log_mean).
        log_sd: standard deviation of log x with divisor n (the MLE of sigma).
        n: values fitted.
        minimum: smallest value; maximum: largest value.
    """

    log_mean: float
    log_sd: float
    n: int
    minimum: float
    maximum: float

    @property
    def median(self) -> float:
        return math.exp(self.log_mean)

    @property
    def se_log_mean(self) -> float:
        """Standard error of the log-mean: sigma / sqrt(n)."""
        return self.log_sd / math.sqrt(self.n)

    @property
    def se_log_sd(self) -> float:
        """Large-sample standard error of the log-sd: sigma / sqrt(2 n)."""
        return self.log_sd / math.sqrt(2.0 * self.n)


def fit_lognormal(values: np.ndarray, *, min_jobs: int = MIN_JOBS, what: str = "") -> LognormalFit:
    """Fit a lognormal by maximum likelihood to the positive ``values``.

    Args:
        values: samples; values <= 0 and NaN are left out.
        min_jobs: fewest positive values needed.
        what: names the sample in error messages.

    Raises:
        TraceError: fewer than ``min_jobs`` positive values, none at all, or no spread.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    positive = x[x > 0]
    label = f"{what}: " if what else ""
    if positive.size == 0:
        raise TraceError(
            f"{label}no job has a positive run time ({x.size} job(s), all with run time "
            "<= 0); a lognormal needs positive values"
        )
    if positive.size < min_jobs:
        raise TraceError(
            f"{label}too few jobs to fit: {positive.size} with a positive run time, at least "
            f"{min_jobs} needed; widen the card range or combine traces"
        )
    logs = np.log(positive)
    sd = float(logs.std())
    if not sd > 1e-12:
        raise TraceError(
            f"{label}no spread in run time: all {positive.size} jobs ran "
            f"{float(positive[0]):g}; a lognormal cannot be fitted (use a constant)"
        )
    return LognormalFit(
        float(logs.mean()), sd, int(positive.size), float(positive.min()), float(positive.max())
    )


def _lognormal_parts(dist: LognormalDistribution) -> tuple[float, float, float, float]:
    lo = dist.min if dist.min is not None else 0.0
    hi = dist.max if dist.max is not None else math.inf
    return math.log(dist.median), dist.sigma, lo, hi


def distribution_cdf(dist: Distribution, x: np.ndarray, *, left: bool = False) -> np.ndarray:
    """CDF of a schema distribution at ``x`` (lognormal clipped to its bounds).

    Args:
        dist: a table, lognormal (clipped to ``[min, max]`` as sampled), exponential or
            constant distribution.
        x: points.
        left: the left limit P(X < x) instead of P(X <= x) (differs at atoms).
    """
    x = np.asarray(x, dtype=np.float64)
    if isinstance(dist, LognormalDistribution):
        mu, sigma, lo, hi = _lognormal_parts(dist)
        with np.errstate(divide="ignore"):
            z = (np.log(np.maximum(x, 1e-300)) - mu) / sigma if sigma > 0 else None
        base = ndtr(z) if z is not None else (x >= dist.median).astype(float)
        out = np.where(x < lo, 0.0, np.where(x >= hi, 1.0, base))
        if left:
            inside = np.where(x <= lo, 0.0, base)
            out = np.where(x > hi, 1.0, inside)
        return np.asarray(out, dtype=np.float64)
    if isinstance(dist, TableDistribution):
        v = np.asarray(dist.values, dtype=float)
        p = np.asarray(dist.weights, dtype=float) / float(np.sum(dist.weights))
        cmp = v[None, :] < x[:, None] if left else v[None, :] <= x[:, None]
        return np.asarray((cmp * p[None, :]).sum(axis=1), dtype=np.float64)
    if isinstance(dist, ExponentialDistribution):
        return np.asarray(1.0 - np.exp(-np.maximum(x, 0.0) / dist.mean), dtype=np.float64)
    if isinstance(dist, ConstantDistribution):
        return (x > dist.value if left else x >= dist.value).astype(np.float64)
    raise TypeError(f"unknown distribution {dist!r}")


def distribution_mean(dist: Distribution) -> float:
    """Mean of a schema distribution as sampled (a lognormal after clipping)."""
    if isinstance(dist, LognormalDistribution):
        mu, sigma, lo, hi = _lognormal_parts(dist)
        if sigma == 0:
            return float(min(max(dist.median, lo), hi))
        a = (math.log(lo) - mu) / sigma if lo > 0 else -math.inf
        b = (math.log(hi) - mu) / sigma if math.isfinite(hi) else math.inf
        body = math.exp(mu + sigma**2 / 2) * float(ndtr(b - sigma) - ndtr(a - sigma))
        return lo * float(ndtr(a)) + body + (hi * float(1 - ndtr(b)) if math.isfinite(hi) else 0)
    if isinstance(dist, (TableDistribution, ConstantDistribution, ExponentialDistribution)):
        return float(dist.mean)
    raise TypeError(f"unknown distribution {dist!r}")


def distribution_quantile(dist: Distribution, q: float) -> float:
    """The q-quantile of a lognormal (clipped) or table distribution; NaN otherwise."""
    if isinstance(dist, LognormalDistribution):
        mu, sigma, lo, hi = _lognormal_parts(dist)
        from scipy.special import ndtri

        value = math.exp(mu + sigma * float(ndtri(q)))
        return float(min(max(value, lo), hi))
    if isinstance(dist, TableDistribution):
        order = np.argsort(dist.values)
        v = np.asarray(dist.values, dtype=float)[order]
        p = np.cumsum(np.asarray(dist.weights, dtype=float)[order])
        return float(v[np.searchsorted(p / p[-1], q)])
    if isinstance(dist, ConstantDistribution):
        return dist.value
    if isinstance(dist, ExponentialDistribution):
        return -dist.mean * math.log(1 - q)
    return math.nan


def ks_distance(sample: np.ndarray, dist: Distribution) -> float:
    """Kolmogorov-Smirnov distance sup |F_n - F| between a sample and a distribution.

    Both the ECDF and the model CDF may jump (ties in the sample, atoms of a clipped
    lognormal at its bounds), so the supremum is taken over the right values and the
    left limits at every distinct sample value.
    """
    x = np.sort(np.asarray(sample, dtype=np.float64))
    if x.size == 0:
        return math.nan
    values, counts = np.unique(x, return_counts=True)
    right = np.cumsum(counts) / x.size
    left = right - counts / x.size
    d_right = np.abs(distribution_cdf(dist, values) - right)
    d_left = np.abs(distribution_cdf(dist, values, left=True) - left)
    return float(max(d_right.max(), d_left.max()))


# --------------------------------------------------------------------------- estimates


def estimate_factors(selected: pd.DataFrame) -> np.ndarray:
    """estimate / run of the jobs with a positive estimate and run time."""
    est = selected["estimate_s"].to_numpy(dtype=np.float64)
    run = selected["run_s"].to_numpy(dtype=np.float64)
    ok = np.isfinite(est) & (est > 0) & (run > 0)
    return np.asarray(est[ok] / run[ok], dtype=np.float64)


# --------------------------------------------------------------------------- fit


def fit_job_class(
    table: pd.DataFrame,
    *,
    name: str,
    min_cards: int | None = None,
    max_cards: int | None = None,
    span_days: float | None = None,
    capacity_cards: int | None = None,
    max_sizes: int = DEFAULT_MAX_SIZES,
    min_share: float = DEFAULT_MIN_SHARE,
    estimate_quantiles: tuple[float, float] = DEFAULT_ESTIMATE_QUANTILES,
    min_jobs: int = MIN_JOBS,
    min_profile_jobs: int = MIN_PROFILE_JOBS,
) -> dict[str, Any]:
    """Fit a scenario job class to the jobs of a trace (contract in the module docstring).

    Args:
        table: a normalised job table (:func:`simulator.traces.read_trace`).
        name: the class name.
        min_cards: smallest gang size of the class (default 1).
        max_cards: largest gang size of the class (default: no limit).
        span_days: observation window in days (default: first to last submit of the
            whole table).
        capacity_cards: cards of the traced machine; only checked here (jobs per card per
            day is in :func:`fit_report`).
        max_sizes: most gang sizes in the table.
        min_share: smallest job share of a kept gang size.
        estimate_quantiles: quantiles of estimate / run giving factor_min and factor_max.
        min_jobs: fewest jobs with a positive run time (and with an estimate, for the
            estimate block).
        min_profile_jobs: fewest selected jobs for daily and weekly profiles.

    Returns:
        A plain dict that validates as a :class:`~simulator.scenario.schema.JobClass`.

    Raises:
        TraceError: the fit cannot be made (the message says why).
    """
    validate_table(table, _source_name(table))
    if capacity_cards is not None and capacity_cards <= 0:
        raise TraceError(f"capacity must be a positive number of cards, not {capacity_cards}")
    window = window_days(table, span_days)
    selected = select_jobs(table, min_cards, max_cards)
    where = _selection_label(table, min_cards, max_cards)
    if selected.empty:
        raise TraceError(f"{where}: no job in this card range; nothing to fit")
    run_h = selected["run_s"].to_numpy(dtype=np.float64) / SECONDS_PER_HOUR
    fit = fit_lognormal(run_h, min_jobs=min_jobs, what=where)

    arrival: dict[str, Any] = {"rate_per_day": _sig(len(selected) / window)}
    clock = trace_clock(table)
    if clock.local_s is not None and len(selected) >= min_profile_jobs:
        t0, t1 = _clock_window(table, clock, span_days)
        mask = _selection_mask(table, min_cards, max_cards)
        daily, weekly = arrival_profiles(clock.local_s[mask], window=(t0, t1))
        arrival["daily_profile"] = daily
        if t1 - t0 >= 14 * SECONDS_PER_DAY:
            arrival["weekly_profile"] = weekly

    values, weights, _ = size_table(selected["cards"].to_numpy(), max_sizes, min_share)
    block: dict[str, Any] = {
        "name": name,
        "arrival": arrival,
        "gang_size": {"kind": "table", "values": values, "weights": weights},
        "work": {
            "unit": "ref_hours",
            "distribution": {
                "kind": "lognormal",
                "median": _sig(fit.median),
                "sigma": round(fit.log_sd, 4),
                "min": _sig_down(fit.minimum),
                "max": _sig_up(fit.maximum),
            },
        },
    }
    factors = estimate_factors(selected)
    if factors.size >= min_jobs:
        q_lo, q_hi = np.quantile(factors, estimate_quantiles)
        factor_min = max(1.0, round(float(q_lo), 2))
        block["estimate"] = {
            "factor_min": factor_min,
            "factor_max": max(factor_min, round(float(q_hi), 2)),
        }
    try:
        JobClass.model_validate(block)
    except ValidationError as exc:  # a bug here, not a bad trace; say what failed
        raise TraceError(f"{where}: the fitted block is not a valid job class: {exc}") from exc
    return block


def _selection_mask(
    table: pd.DataFrame, min_cards: int | None, max_cards: int | None
) -> np.ndarray:
    cards = table["cards"].to_numpy()
    mask = cards >= (1 if min_cards is None else min_cards)
    if max_cards is not None:
        mask &= cards <= max_cards
    return np.asarray(mask)


def _selection_label(table: pd.DataFrame, min_cards: int | None, max_cards: int | None) -> str:
    lo = 1 if min_cards is None else min_cards
    hi = "" if max_cards is None else str(max_cards)
    return f"{_source_name(table)} (cards {lo}..{hi or 'max'})"


def _clock_window(
    table: pd.DataFrame, clock: ClockTimes, span_days: float | None
) -> tuple[float, float]:
    """Observation window in local seconds: first submit to last (or + span_days)."""
    assert clock.local_s is not None
    t0 = float(clock.local_s.min())
    t1 = float(clock.local_s.max())
    if span_days is not None:
        t1 = t0 + span_days * SECONDS_PER_DAY
    return t0, t1


# --------------------------------------------------------------------------- report


def fit_report(
    table: pd.DataFrame,
    block: dict[str, Any] | JobClass,
    *,
    min_cards: int | None = None,
    max_cards: int | None = None,
    span_days: float | None = None,
    capacity_cards: int | None = None,
) -> dict[str, Any]:
    """How well a class block matches the jobs of a table (pass the fit's selection).

    The block may be fitted or hand-set. Run-time comparisons need ``unit: ref_hours``;
    other units are noted and skipped.

    Args:
        table: the whole normalised table (the window comes from all of it).
        block: a job-class mapping or :class:`JobClass`.
        min_cards: smallest gang size of the jobs the class stands for.
        max_cards: largest gang size.
        span_days: observation window in days (default: first to last submit).
        capacity_cards: cards of the traced machine (default: the trace's, if stated).

    Returns:
        A JSON-serialisable dict: ``trace``, ``selection``, ``arrival``, ``gang_size``,
        ``work``, ``load``, ``estimate`` and ``notes`` (keys below each are documented in
        ``docs/workload-calibration.md``).

    Raises:
        TraceError: the block is not a valid job class, or the selection is empty.
    """
    try:
        job_class = block if isinstance(block, JobClass) else JobClass.model_validate(block)
    except ValidationError as exc:
        raise TraceError(f"the block is not a valid job class: {exc}") from exc
    validate_table(table, _source_name(table))
    window = window_days(table, span_days)
    mask = _selection_mask(table, min_cards, max_cards)
    selected = select_jobs(table, min_cards, max_cards)
    where = _selection_label(table, min_cards, max_cards)
    if selected.empty:
        raise TraceError(f"{where}: no job in this card range")
    notes: list[str] = []

    capacity = capacity_cards
    capacity_source: str | None = "given" if capacity_cards else None
    if capacity is None and table.attrs.get("capacity"):
        capacity = int(table.attrs["capacity"])
        capacity_source = str(table.attrs.get("capacity_source") or "trace")

    all_card_s = float((table["cards"] * table["run_s"]).sum())
    cards = selected["cards"].to_numpy(dtype=np.float64)
    run_s = selected["run_s"].to_numpy(dtype=np.float64)
    card_s = float((cards * run_s).sum())
    n = len(selected)
    rate = n / window

    clock = trace_clock(table)
    arrival: dict[str, Any] = {
        "jobs_per_day_trace": rate,
        "jobs_per_day_block": job_class.arrival.rate_per_day,
        "rate_ratio": job_class.arrival.rate_per_day / rate,
        "jobs_per_card_day": rate / capacity if capacity else None,
        "clock": clock.note,
        "daily_count_dispersion": None,
        "daily_profile_trace": None,
        "weekly_profile_trace": None,
        "daily_profile_max_abs_diff": None,
        "weekly_profile_max_abs_diff": None,
    }
    submit = table["submit_s"].to_numpy(dtype=np.float64)
    per_day = daily_counts(
        selected["submit_s"].to_numpy(), float(submit.min()), float(submit.min()) + window * 86400
    )
    if per_day.size >= 2 and per_day.mean() > 0:
        arrival["daily_count_dispersion"] = float(per_day.var(ddof=1) / per_day.mean())
    if clock.local_s is not None:
        t0, t1 = _clock_window(table, clock, span_days)
        daily, weekly = arrival_profiles(clock.local_s[mask], window=(t0, t1))
        arrival["daily_profile_trace"] = daily
        arrival["weekly_profile_trace"] = weekly if t1 - t0 >= 14 * SECONDS_PER_DAY else None
        for key, trace_profile, block_profile in (
            ("daily", daily, job_class.arrival.daily_profile),
            ("weekly", arrival["weekly_profile_trace"], job_class.arrival.weekly_profile),
        ):
            if trace_profile is None:
                continue
            model = np.ones(len(trace_profile))
            if block_profile is not None:
                model = np.asarray(block_profile, dtype=float)
                model = model / model.mean()
            diff = np.abs(model - np.asarray(trace_profile))
            arrival[f"{key}_profile_max_abs_diff"] = float(diff.max())
    else:
        notes.append(clock.note)

    sizes = job_class.gang_size
    size_mean_block = distribution_mean(sizes)
    gang: dict[str, Any] = {
        "mean_trace": float(cards.mean()),
        "mean_block": size_mean_block,
        "max_trace": int(cards.max()),
        "max_block": _num(distribution_quantile(sizes, 1.0)),
        "distinct_sizes_trace": int(np.unique(cards).size),
        "ks_distance": ks_distance(cards, sizes),
    }

    work: dict[str, Any] = {"unit": job_class.work.unit}
    load: dict[str, Any] = {
        "card_hours_per_day_trace": card_s / SECONDS_PER_HOUR / window,
        "card_hours_per_day_block": None,
        "ratio": None,
        "offered_load_trace": card_s / (capacity * window * SECONDS_PER_DAY) if capacity else None,
        "card_hour_share_of_trace": card_s / all_card_s if all_card_s > 0 else None,
    }
    if job_class.work.unit == "ref_hours":
        dist = job_class.work.distribution
        run_h = run_s / SECONDS_PER_HOUR
        positive = run_h[run_h > 0]
        mean_block_h = distribution_mean(dist)
        work.update(
            {
                "jobs": int(positive.size),
                "zero_run_jobs": int((run_h <= 0).sum()),
                "ks_distance": ks_distance(positive, dist) if positive.size else None,
                "quantiles_h": {
                    k: {
                        "trace": float(np.quantile(positive, q)) if positive.size else None,
                        "block": _num(distribution_quantile(dist, q)),
                    }
                    for k, q in RUN_QUANTILES.items()
                },
                "mean_h_trace": float(run_h.mean()),
                "mean_h_block": mean_block_h,
                "mean_ratio": mean_block_h / float(run_h.mean()) if run_h.mean() > 0 else None,
                "card_weighted_mean_h_trace": card_s / SECONDS_PER_HOUR / float(cards.sum()),
            }
        )
        if positive.size >= 2:
            logs = np.log(positive)
            work["log_mean_trace"] = float(logs.mean())
            work["log_sd_trace"] = float(logs.std())
            work["se_log_mean"] = float(logs.std() / math.sqrt(positive.size))
            work["se_log_sd"] = float(logs.std() / math.sqrt(2 * positive.size))
        block_card_h = job_class.arrival.rate_per_day * size_mean_block * mean_block_h
        load["card_hours_per_day_block"] = block_card_h
        if load["card_hours_per_day_trace"] > 0:
            load["ratio"] = block_card_h / load["card_hours_per_day_trace"]
        if positive.size >= 2 and cards.std() > 0:
            corr = np.corrcoef(np.log(cards[run_h > 0]), np.log(positive))[0, 1]
            work["log_size_log_run_correlation"] = float(corr)
            if abs(corr) > 0.2:
                notes.append(
                    f"gang size and run time are correlated (r = {corr:.2f} between their "
                    "logs); the class draws them independently, so the offered load "
                    "differs from the trace's"
                )
    else:
        notes.append(
            f"work unit {job_class.work.unit}: run times are not compared (needs ref_hours)"
        )

    factors = estimate_factors(selected)
    estimate: dict[str, Any] | None = None
    if factors.size:
        qs = np.quantile(factors, [0.1, 0.25, 0.5, 0.75, 0.9])
        estimate = {
            "jobs": int(factors.size),
            "quantiles": dict(
                zip(("p10", "p25", "p50", "p75", "p90"), map(float, qs), strict=True)
            ),
            "share_below_1": float((factors < 1).mean()),
            "factor_min_block": job_class.estimate.factor_min,
            "factor_max_block": job_class.estimate.factor_max,
        }
        if estimate["share_below_1"] > 0:
            notes.append(
                f"{estimate['share_below_1']:.1%} of the jobs ran longer than their estimate; "
                "the simulator's factors are >= 1"
            )
    else:
        notes.append("the trace has no run-time estimates")

    return {
        "trace": {
            "files": table.attrs.get("files") or [table.attrs.get("file")],
            "format": table.attrs.get("format"),
            "jobs": len(table),
            "window_days": window,
            "capacity_cards": capacity,
            "capacity_source": capacity_source,
        },
        "selection": {
            "min_cards": 1 if min_cards is None else min_cards,
            "max_cards": max_cards,
            "jobs": n,
            "job_share": n / len(table),
        },
        "arrival": arrival,
        "gang_size": gang,
        "work": work,
        "load": load,
        "estimate": estimate,
        "notes": notes,
    }


def class_work_per_day(job_class: JobClass, ref_flop_per_card_h: float | None = None) -> float:
    """Mean reference-card-hours a class submits per day at the scenario start.

    ``rate_per_day x work per job``, with work per job = mean gang size x mean sampled
    value (``ref_hours``, gang size and run time independent as sampled), the mean value
    (``card_hours``), or mean FLOP / ``ref_flop_per_card_h`` (``flop``). Profiles have
    mean 1 and growth is 1 at the start, so they do not enter.

    Raises:
        ValueError: a ``flop`` class without ``ref_flop_per_card_h``.
    """
    value = distribution_mean(job_class.work.distribution)
    if job_class.work.unit == "ref_hours":
        per_job = value * distribution_mean(job_class.gang_size)
    elif job_class.work.unit == "card_hours":
        per_job = value
    else:
        if not ref_flop_per_card_h:
            raise ValueError("a flop work unit needs the reference card's FLOP per card-hour")
        per_job = value / ref_flop_per_card_h
    return job_class.arrival.rate_per_day * per_job


# --------------------------------------------------------------------------- YAML


def block_yaml(block: dict[str, Any], report: dict[str, Any], *, command: str = "") -> str:
    """The block as YAML, preceded by comment lines naming the trace and the fit quality.

    Args:
        block: the job-class mapping.
        report: :func:`fit_report` of the block on the table it was fitted to.
        command: the command line that produced it, quoted in the header.
    """
    t, s, a, g, w, ld = (
        report[k] for k in ("trace", "selection", "arrival", "gang_size", "work", "load")
    )
    hi = s["max_cards"] if s["max_cards"] is not None else "max"
    lines = [f"Workload class '{block['name']}' fitted by simulator.traces.fit"]
    if command:
        lines.append(f"command: {command}")
    lines += [
        f"trace: {files_label([str(f) for f in t['files']])} (format {t['format']}, "
        f"{t['jobs']:,} jobs over {t['window_days']:.1f} days)",
        f"selection: cards {s['min_cards']}..{hi}: {s['jobs']:,} jobs "
        f"({s['job_share']:.1%} of the jobs, "
        + (
            f"{ld['card_hour_share_of_trace']:.1%} of the card-hours)"
            if ld["card_hour_share_of_trace"] is not None
            else "no card-hours)"
        ),
        f"arrivals: {a['jobs_per_day_trace']:,.2f} jobs/day; "
        + (
            f"{a['jobs_per_card_day']:.4f} jobs per card per day "
            f"(capacity {t['capacity_cards']:,} cards, {t['capacity_source']})"
            if a["jobs_per_card_day"] is not None
            else "jobs per card per day unknown (no capacity; pass --capacity)"
        ),
        f"clock: {a['clock']}",
    ]
    if a["daily_count_dispersion"] is not None:
        lines.append(
            f"jobs per day: variance/mean {a['daily_count_dispersion']:.1f} "
            "(1 for Poisson arrivals at a constant rate)"
        )
    lines.append(
        f"gang size: mean {g['mean_trace']:.3g} cards in the trace, {g['mean_block']:.3g} in "
        f"the table; max {g['max_trace']:,} / {g['max_block']:,.0f}; "
        f"{g['distinct_sizes_trace']} distinct size(s)"
    )
    if "ks_distance" in w and w["ks_distance"] is not None:
        q = w["quantiles_h"]
        lines += [
            f"run time: lognormal MLE on {w['jobs']:,} jobs with run > 0 ({w['zero_run_jobs']:,} "
            f"with run 0 left out): log-mean {w['log_mean_trace']:.3f} +/- "
            f"{w['se_log_mean']:.3f}, log-sd {w['log_sd_trace']:.3f} +/- {w['se_log_sd']:.3f} "
            "(log hours, standard errors)",
            f"  Kolmogorov-Smirnov distance fitted vs empirical CDF: {w['ks_distance']:.3f}",
            "  quantiles (h) trace / fit: "
            + ", ".join(f"{k} {v['trace']:.3g} / {v['block']:.3g}" for k, v in q.items()),
            f"  mean (h) trace {w['mean_h_trace']:.3g} / fit {w['mean_h_block']:.3g} "
            f"(ratio {w['mean_ratio']:.2f})",
        ]
    if ld["ratio"] is not None:
        lines.append(
            f"load: card-hours per day trace {ld['card_hours_per_day_trace']:,.0f} / class "
            f"{ld['card_hours_per_day_block']:,.0f} (ratio {ld['ratio']:.2f})"
            + (
                f"; offered load on the traced machine {ld['offered_load_trace']:.3f}"
                if ld["offered_load_trace"] is not None
                else ""
            )
        )
    est = report.get("estimate")
    if est:
        qe = est["quantiles"]
        lines.append(
            f"estimates: {est['jobs']:,} jobs; estimate/run p10 {qe['p10']:.2f}, p50 "
            f"{qe['p50']:.2f}, p90 {qe['p90']:.2f}; {est['share_below_1']:.1%} below 1"
        )
    lines += [f"note: {note}" for note in report.get("notes", []) if note != a["clock"]]
    header = "".join(f"# {line}\n" for line in lines)
    body = yaml.safe_dump(_plain(block), sort_keys=False, default_flow_style=None, width=96)
    return header + body


def _plain(value: Any) -> Any:
    """Numpy scalars and containers as plain Python values (for YAML)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


# --------------------------------------------------------------------------- figure


def _hours_label(hours: float, _pos: float | None = None) -> str:
    seconds = hours * SECONDS_PER_HOUR
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < SECONDS_PER_HOUR:
        return f"{seconds / 60:.0f} min"
    if hours < 48:
        return f"{hours:.0f} h"
    return f"{hours / 24:.0f} d"


def _style(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=LABEL_SIZE, loc="left")
    ax.set_xlabel(xlabel, fontsize=LABEL_SIZE - 1)
    ax.set_ylabel(ylabel, fontsize=LABEL_SIZE - 1)
    ax.tick_params(labelsize=TICK_SIZE - 1)
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.set_axisbelow(True)


def _message(ax: Axes, text: str) -> None:
    ax.text(
        0.5,
        0.5,
        text,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=NOTE_SIZE,
        color="0.35",
        wrap=True,
    )


def plot_fit(
    table: pd.DataFrame,
    block: dict[str, Any] | JobClass,
    *,
    min_cards: int | None = None,
    max_cards: int | None = None,
    span_days: float | None = None,
    title: str | None = None,
) -> Figure:
    """Fitted against empirical distributions, on a new ``Figure`` (2 x 2 panels).

    Panels: job shares by gang size (trace bars beside the block's table); run-time ECDF
    on a log axis with the block's CDF; arrivals by hour of day (trace rates beside the
    block's daily profile, or a note when the trace has no clock); jobs submitted per
    day over the window with the block's rate.

    Args:
        table: the whole normalised table.
        block: a job-class mapping or :class:`JobClass`.
        min_cards: smallest gang size of the selection.
        max_cards: largest gang size.
        span_days: observation window in days (default: first to last submit).
        title: the figure title (default names the class and the trace).

    Raises:
        TraceError: the block is invalid or the selection is empty.
    """
    try:
        job_class = block if isinstance(block, JobClass) else JobClass.model_validate(block)
    except ValidationError as exc:
        raise TraceError(f"the block is not a valid job class: {exc}") from exc
    window = window_days(table, span_days)
    mask = _selection_mask(table, min_cards, max_cards)
    selected = table.loc[mask]
    if selected.empty:
        raise TraceError(f"{_selection_label(table, min_cards, max_cards)}: no job to plot")
    fig = Figure(figsize=(10.0, 7.0), layout="constrained")
    axes = fig.subplots(2, 2)
    files = table.attrs.get("files") or [table.attrs.get("file") or "table"]
    trace_name = ", ".join(str(f).rsplit("/", 1)[-1] for f in files)
    if len(trace_name) > 60:
        trace_name = f"{len(files)} files, {str(files[0]).rsplit('/', 1)[-1]} ..."
    lo = 1 if min_cards is None else min_cards
    hi = "" if max_cards is None else f"-{max_cards}"
    fig.suptitle(
        title
        or f"Class '{job_class.name}' fitted to {trace_name} (cards {lo}{hi or '+'}, "
        f"{len(selected):,} jobs)",
        fontsize=LABEL_SIZE + 1,
    )
    _plot_sizes(axes[0, 0], selected["cards"].to_numpy(), job_class)
    _plot_run_time(axes[0, 1], selected["run_s"].to_numpy(dtype=np.float64), job_class)
    _plot_hours(axes[1, 0], table, mask, job_class, span_days)
    _plot_days(axes[1, 1], table, selected, job_class, window)
    return fig


def _plot_sizes(ax: Axes, cards: np.ndarray, job_class: JobClass) -> None:
    sizes, counts = np.unique(cards, return_counts=True)
    dist = job_class.gang_size
    block_sizes: dict[float, float] = {}
    if isinstance(dist, TableDistribution):
        total = float(sum(dist.weights))
        for v, w in zip(dist.values, dist.weights, strict=True):
            block_sizes[float(v)] = block_sizes.get(float(v), 0.0) + w / total
    every = sorted({float(s) for s in sizes} | set(block_sizes))
    if len(every) > 24:
        every = sorted(
            set(block_sizes)
            | {float(s) for s in sizes[np.argsort(-counts)[: 24 - len(block_sizes)]]}
        )
    x = np.arange(len(every))
    trace_share = {float(s): c / cards.size for s, c in zip(sizes, counts, strict=True)}
    ax.bar(
        x - 0.2, [trace_share.get(v, 0.0) for v in every], 0.4, color=TRACE_COLOUR, label="trace"
    )
    if block_sizes:
        ax.bar(
            x + 0.2,
            [block_sizes.get(v, 0.0) for v in every],
            0.4,
            color=FIT_COLOUR,
            label="class table",
        )
    else:
        _message(ax, f"class gang size is {dist.kind}, not a table")
    ax.set_xticks(x, [f"{v:g}" for v in every], rotation=45 if len(every) > 10 else 0)
    ax.set_yscale("log")
    smallest = min([c / cards.size for c in counts] + [v for v in block_sizes.values() if v > 0])
    ax.set_ylim(smallest / 2, 1.5)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
    _style(ax, "Gang size", "cards per job", "share of jobs (log scale)")
    ax.legend(fontsize=LEGEND_SIZE, frameon=False)


def _plot_run_time(ax: Axes, run_s: np.ndarray, job_class: JobClass) -> None:
    run_h = np.sort(run_s[run_s > 0] / SECONDS_PER_HOUR)
    if run_h.size == 0:
        _message(ax, "no job with a positive run time")
        return
    y = np.arange(1, run_h.size + 1) / run_h.size
    ax.step(run_h, y, where="post", color=TRACE_COLOUR, linewidth=1.6, label="trace (ECDF)")
    dist = job_class.work.distribution
    if job_class.work.unit == "ref_hours":
        grid = np.geomspace(run_h[0] / 2, run_h[-1] * 2, 400)
        ax.plot(
            grid,
            distribution_cdf(dist, grid),
            color=FIT_COLOUR,
            linewidth=1.6,
            linestyle="--",
            label=f"class ({dist.kind})",
        )
        d = ks_distance(run_h, dist)
        extra = ""
        if isinstance(dist, LognormalDistribution):
            extra = f"\nmedian {_hours_label(dist.median)}, sigma {dist.sigma:.2f}"
        ax.text(
            0.02,
            0.97,
            f"KS distance {d:.3f}, n = {run_h.size:,}{extra}",
            transform=ax.transAxes,
            va="top",
            fontsize=NOTE_SIZE,
        )
    else:
        _message(ax, f"work unit {job_class.work.unit}: no run-time CDF")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(_hours_label))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, 1.02)
    _style(
        ax,
        "Run time",
        "run time (log scale; class in reference-card hours)",
        "share of jobs at or below",
    )
    ax.legend(fontsize=LEGEND_SIZE, frameon=False, loc="lower right")


def _plot_hours(
    ax: Axes, table: pd.DataFrame, mask: np.ndarray, job_class: JobClass, span: float | None
) -> None:
    clock = trace_clock(table)
    hours = np.arange(24)
    profile = job_class.arrival.daily_profile
    if clock.local_s is None:
        _message(ax, "the trace has no clock time:\nno arrivals by hour of day")
    else:
        t0, t1 = _clock_window(table, clock, span)
        daily, _ = arrival_profiles(clock.local_s[mask], window=(t0, t1))
        ax.bar(hours, daily, 0.8, color=TRACE_COLOUR, label="trace", alpha=0.85)
        zone = clock.zone or "time zone unknown"
        ax.text(0.02, 0.97, zone, transform=ax.transAxes, va="top", fontsize=NOTE_SIZE)
    if profile is not None:
        p = np.asarray(profile, dtype=float)
        ax.plot(
            hours,
            p / p.mean(),
            color=FIT_COLOUR,
            marker="o",
            markersize=3,
            linewidth=1.4,
            label="class daily profile",
        )
    else:
        ax.axhline(1.0, color=FIT_COLOUR, linestyle="--", linewidth=1.4, label="class (flat)")
    ax.set_xticks(range(0, 24, 3))
    ax.set_xlim(-0.7, 23.7)
    _style(
        ax, "Arrivals by hour of day", "hour of day (local wall clock)", "arrival rate / mean rate"
    )
    ax.legend(fontsize=LEGEND_SIZE, frameon=False, loc="upper right")


def _plot_days(
    ax: Axes, table: pd.DataFrame, selected: pd.DataFrame, job_class: JobClass, window: float
) -> None:
    first = float(table["submit_s"].min())
    counts = daily_counts(selected["submit_s"].to_numpy(), first, first + window * SECONDS_PER_DAY)
    if counts.size == 0:
        _message(ax, "window shorter than one day")
    else:
        ax.plot(
            np.arange(counts.size) + 0.5,
            counts,
            color=TRACE_COLOUR,
            linewidth=1.0,
            drawstyle="steps-mid",
            label="trace",
        )
    ax.axhline(
        job_class.arrival.rate_per_day,
        color=FIT_COLOUR,
        linestyle="--",
        linewidth=1.4,
        label=f"class rate {job_class.arrival.rate_per_day:,.4g}/day",
    )
    ax.set_ylim(bottom=0)
    _style(ax, "Jobs submitted per day", "days since the first submit of the trace", "jobs per day")
    ax.legend(fontsize=LEGEND_SIZE, frameon=False, loc="upper right")
