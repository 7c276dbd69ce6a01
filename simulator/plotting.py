"""Figures drawn from result tables: tables in, a matplotlib ``Axes`` out.

Every function takes the pandas tables described in :mod:`simulator.results` (optionally
with a ``replication`` column, as written to a results folder), keyword options and an
optional ``ax``. When ``ax`` is ``None`` a new :class:`matplotlib.figure.Figure` with
constrained layout is created, so no pyplot state is touched and the functions work with
any backend, Agg included. Each function sets a title saying what is shown (and where,
through the ``where`` option), axis labels with units, and returns the axes it drew on;
saving, showing and captioning are left to the caller (see :func:`add_caption`).

Colours follow the Okabe-Ito palette (:data:`OKABE_ITO`), which stays distinguishable
for the common forms of colour blindness; heatmaps use ``cividis``.

Uncertainty is drawn honestly: where a table holds several replications, lines show the
mean over replications and a shaded band the range (minimum to maximum) over them, which
is labelled as such and never as a confidence interval; the forest plot draws the
confidence intervals that the statistics module computed.
"""

from __future__ import annotations

import datetime as dt
import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine, TightLayoutEngine
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter, PercentFormatter
from matplotlib.typing import LineStyleType

from simulator.scenario.schema import SIZE_CLASSES, size_class

__all__ = [
    "OKABE_ITO",
    "add_caption",
    "caption_text",
    "format_hours",
    "format_metric_value",
    "metric_label",
    "metric_unit",
    "plot_backlog",
    "plot_campaign_timeline",
    "plot_energy_by_centre_year",
    "plot_forest",
    "plot_p95_wait_by_quarter",
    "plot_utilisation_heatmap",
    "plot_utilisation_over_time",
    "plot_wait_ecdf_by_size",
    "plot_wait_ecdf_from_histogram",
    "size_label",
    "split_metric",
]

#: Okabe-Ito colours, ordered for lines on white (yellow late, black last).
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#56B4E9",  # sky blue
    "#CC79A7",  # reddish purple
    "#F0E442",  # yellow
    "#000000",  # black
)
_LINESTYLES: tuple[LineStyleType, ...] = ("-", "--", "-.", ":")

TITLE_SIZE = 13
LABEL_SIZE = 11
TICK_SIZE = 10
LEGEND_SIZE = 9
NOTE_SIZE = 8.5
DEFAULT_FIGSIZE = (9.0, 4.8)

_SIZE_ORDER = [label for label, _, _ in SIZE_CLASSES]
_HOURS_PER_DAY = 24.0


# --------------------------------------------------------------------------- helpers


def _colour(i: int) -> str:
    return OKABE_ITO[i % len(OKABE_ITO)]


def _linestyle(i: int) -> LineStyleType:
    return _LINESTYLES[(i // len(OKABE_ITO)) % len(_LINESTYLES)]


def _new_axes(ax: Axes | None, figsize: tuple[float, float] = DEFAULT_FIGSIZE) -> Axes:
    if ax is not None:
        return ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig.add_subplot()


def _title(what: str, where: str | None) -> str:
    return f"{what} — {where}" if where else what


def _decorate(
    ax: Axes,
    title: str,
    xlabel: str,
    ylabel: str,
    *,
    grid: Literal["both", "x", "y", "none"] = "both",
) -> None:
    ax.set_title(title, fontsize=TITLE_SIZE, loc="left")
    ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    ax.tick_params(labelsize=TICK_SIZE)
    if grid != "none":
        ax.grid(True, axis=grid, alpha=0.3, linewidth=0.6)
        ax.set_axisbelow(True)


def _no_data(ax: Axes, message: str) -> None:
    ax.text(
        0.5,
        0.5,
        message,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=LABEL_SIZE,
        color="0.35",
    )


def _side_note(ax: Axes, lines: list[str]) -> None:
    """Notes outside the axes on the right, under a legend placed there."""
    ax.text(
        1.01,
        0.0,
        "\n".join(lines),
        transform=ax.transAxes,
        ha="left",
        va="bottom",
        fontsize=NOTE_SIZE,
        color="0.3",
    )


def _n_replications(table: pd.DataFrame) -> int:
    if "replication" in table.columns and len(table):
        return int(table["replication"].nunique())
    return 1


def _first_replication(table: pd.DataFrame) -> tuple[pd.DataFrame, int | None]:
    """Rows of the lowest replication index (and that index), or the table as is."""
    if "replication" in table.columns and len(table):
        first = int(table["replication"].min())
        return table[table["replication"] == first], first
    return table, None


def _with_size_class(jobs: pd.DataFrame) -> pd.DataFrame:
    if "size_class" in jobs.columns:
        return jobs
    out = jobs.copy()
    out["size_class"] = [size_class(int(c)) for c in out["cards"]]
    return out


def size_label(label: str) -> str:
    """How a gang-size class reads in text: ``"1 card"``, ``"2-8 cards"``."""
    return "1 card" if label == "1" else f"{label} cards"


def _date_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _scenario_start(table: pd.DataFrame, hours_column: str) -> pd.Timestamp | None:
    """The scenario start implied by a table's ``date`` and hours-since-start columns."""
    if not len(table) or "date" not in table.columns or hours_column not in table.columns:
        return None
    row = table.iloc[0]
    return pd.Timestamp(row["date"]) - pd.to_timedelta(float(row[hours_column]), unit="h")


def _shade_warmup(ax: Axes, start: pd.Timestamp | None, warmup_h: float) -> Patch | None:
    if start is None or warmup_h <= 0:
        return None
    end = start + pd.to_timedelta(warmup_h, unit="h")
    ax.axvspan(
        start,  # type: ignore[arg-type]
        end,  # type: ignore[arg-type]
        zorder=0,
        facecolor="none",
        edgecolor="0.75",
        hatch="///",
        linewidth=0,
    )
    return Patch(
        facecolor="none",
        edgecolor="0.75",
        hatch="///",
        linewidth=0,
        label=f"warm-up ({warmup_h / _HOURS_PER_DAY:g} days)",
    )


def _mean_and_range(
    table: pd.DataFrame, index: str, value: str
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Mean, minimum and maximum of ``value`` over replications at each ``index``."""
    if "replication" in table.columns:
        wide = table.pivot_table(index=index, columns="replication", values=value, aggfunc="mean")
        return wide.mean(axis=1), wide.min(axis=1), wide.max(axis=1)
    series = table.groupby(index)[value].mean()
    return series, series, series


def format_hours(hours: float) -> str:
    """A duration in hours, to about three significant figures.

    >>> format_hours(0.0), format_hours(0.4213), format_hours(37.26), format_hours(1234.5)
    ('0 h', '0.42 h', '37.3 h', '1,234 h')
    """
    if hours is None or not math.isfinite(hours):
        return "n/a"
    if hours == 0:
        return "0 h"
    size = abs(hours)
    if size < 0.01:
        return "<0.01 h" if hours > 0 else ">-0.01 h"
    if size < 10:
        return f"{hours:.2f} h"
    if size < 100:
        return f"{hours:.1f} h"
    return f"{hours:,.0f} h"


# --------------------------------------------------------------------------- metric names

_METRIC_BASES: dict[str, tuple[str, str]] = {
    "utilisation": ("Utilisation (busy / online card-hours)", "%"),
    "busy_card_h": ("Busy card-hours", "card-h"),
    "online_card_h": ("Online card-hours", "card-h"),
    "wait_h_mean": ("Wait, mean", "h"),
    "wait_h_p50": ("Wait, median (p50)", "h"),
    "wait_h_p95": ("Wait, 95th percentile", "h"),
    "wait_h_p99": ("Wait, 99th percentile", "h"),
    "jct_h_mean": ("Job completion time (submit to end), mean", "h"),
    "jct_h_p50": ("Job completion time (submit to end), median", "h"),
    "jct_h_p95": ("Job completion time (submit to end), p95", "h"),
    "jct_h_p99": ("Job completion time (submit to end), p99", "h"),
    "bsld_mean": ("Bounded slowdown, mean", ""),
    "backlog_cards_mean": ("Queued card demand, time average", "cards"),
    "backlog_jobs_mean": ("Queued jobs, time average", "jobs"),
    "jobs_submitted": ("Jobs submitted", "jobs"),
    "jobs_measured": ("Jobs submitted after the warm-up", "jobs"),
    "jobs_started": ("Jobs started", "jobs"),
    "jobs_finished": ("Jobs finished", "jobs"),
    "jobs_running_at_horizon": ("Jobs still running at the horizon", "jobs"),
    "jobs_waiting_at_horizon": ("Jobs still waiting at the horizon", "jobs"),
    "little_L": ("Little's law: time-average queue length", "jobs"),
    "little_lambda_W": ("Little's law: arrival rate x mean wait", "jobs"),
    "energy_mwh": ("Energy use", "MWh"),
    "energy_cost_cny": ("Electricity cost", "CNY"),
    "campaign_days": ("Campaign time to train (submit to end)", "d"),
}


def split_metric(metric: str) -> tuple[str, dict[str, str]]:
    """A summary key's base name and its qualifiers.

    >>> split_metric("wait_h_p95[size=>1024,year=2027]")
    ('wait_h_p95', {'size': '>1024', 'year': '2027'})
    >>> split_metric("utilisation")
    ('utilisation', {})
    """
    if metric.endswith("]") and "[" in metric:
        base, inside = metric[:-1].split("[", 1)
        qualifiers = {}
        for part in inside.split(","):
            key, _, value = part.partition("=")
            qualifiers[key.strip()] = value.strip()
        return base, qualifiers
    return metric, {}


def metric_unit(metric: str) -> str:
    """The display unit of a summary metric (``"%"``, ``"h"``, ``"d"``, ``"MWh"``, ...).

    Utilisation is stored as a fraction and displayed in percent; an empty string means
    a dimensionless ratio.

    >>> metric_unit("wait_h_p95[size=>1024]"), metric_unit("utilisation[year=2026]")
    ('h', '%')
    """
    base, _ = split_metric(metric)
    if base in _METRIC_BASES:
        return _METRIC_BASES[base][1]
    if base.startswith("utilisation"):
        return "%"
    if "_h_" in base or base.endswith("_h"):
        return "h"
    if base.startswith("jobs_"):
        return "jobs"
    return ""


def metric_label(metric: str) -> str:
    """A plain-words label for a summary metric key.

    >>> metric_label("wait_h_p95[size=>1024,year=2027]")
    'Wait, 95th percentile — jobs of >1024 cards, submitted in 2027'
    >>> metric_label("utilisation[centre=alpha]")
    'Utilisation (busy / online card-hours) — centre alpha'
    """
    base, qualifiers = split_metric(metric)
    label = _METRIC_BASES.get(base, (base, ""))[0]
    if not qualifiers:
        return label
    parts = []
    for key, value in qualifiers.items():
        if key == "size":
            parts.append(f"jobs of {size_label(value)}")
        elif key == "year":
            parts.append(
                f"submitted in {value}" if base.startswith(_JOB_METRICS) else f"year {value}"
            )
        elif key == "name":
            parts.append(value)
        else:
            parts.append(f"{key.replace('_', ' ')} {value}")
    return f"{label} — {', '.join(parts)}"


_JOB_METRICS = ("wait_h", "jct_h", "bsld")


def format_metric_value(metric: str, value: float | None, *, difference: bool = False) -> str:
    """A metric value in its display unit; differences of utilisation are percentage points.

    >>> format_metric_value("utilisation", 0.7123), format_metric_value("wait_h_p95", 3.456)
    ('71.2 %', '3.46 h')
    >>> format_metric_value("utilisation", 0.012, difference=True)
    '+1.2 pp'
    >>> format_metric_value("energy_cost_cny", 614972.7)
    '614,973 CNY'
    >>> format_metric_value("campaign_days[name=flagship]", 33.49)
    '33.5 d'
    """
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    value = float(value)
    unit = metric_unit(metric)
    sign = "+" if difference and value > 0 else ""
    if unit == "%":
        return f"{sign}{100 * value:.1f} {'pp' if difference else '%'}"
    if unit == "h":
        return f"{sign}{format_hours(value)}"
    if unit in ("jobs", "cards", "card-h", "CNY"):
        text = (
            f"{value:,.0f}"
            if abs(value - round(value)) < 1e-9 or abs(value) >= 100
            else (f"{value:,.1f}")
        )
        return f"{sign}{text} {unit}"
    if unit in ("d", "MWh"):
        text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.1f}"
        return f"{sign}{text} {unit}"
    return f"{sign}{value:.3g}"


# --------------------------------------------------------------------------- captions


def caption_text(
    scenario: str,
    replications: int,
    *,
    level: float | None = 0.95,
    note: str = "",
) -> str:
    """The standard caption line: scenario, replications and interval level.

    Args:
        scenario: the scenario name.
        replications: how many independent replications the figure summarises.
        level: the confidence level of drawn intervals, or ``None`` when the figure draws
            no confidence interval.
        note: anything else the reader needs (e.g. what a shaded band means).

    >>> caption_text("toy", 3, level=0.95)
    'Scenario toy · 3 replications · intervals: 95% confidence (Student t)'
    """
    parts = [
        f"Scenario {scenario}",
        f"{replications} replication{'s' if replications != 1 else ''}",
    ]
    if level is not None:
        parts.append(f"intervals: {level:.0%} confidence (Student t)")
    if note:
        parts.append(note)
    return " · ".join(parts)


def add_caption(fig: Figure, text: str, *, fontsize: float = 9.0) -> Text:
    """Write a caption line under a figure's axes and make room for it.

    With a constrained or tight layout engine the layout rectangle is shrunk at the
    bottom so the caption never overlaps the axes; with no layout engine the caption is
    placed at the bottom edge and the caller is responsible for the space.

    Args:
        fig: the figure.
        text: the caption, e.g. from :func:`caption_text`.
        fontsize: caption font size in points.

    Returns:
        The caption's :class:`~matplotlib.text.Text` artist.
    """
    lines = text.count("\n") + 1
    height_in = (lines * fontsize * 1.35 + 8) / 72
    bottom = min(0.3, height_in / fig.get_figheight())
    engine = fig.get_layout_engine()
    if isinstance(engine, (ConstrainedLayoutEngine, TightLayoutEngine)):
        engine.set(rect=(0.0, bottom, 1.0, 1.0 - bottom))
    return fig.text(
        0.01, 0.01, text, ha="left", va="bottom", fontsize=fontsize, color="0.25", wrap=True
    )


# --------------------------------------------------------------------------- utilisation


_GROUP_KEYS: dict[str, list[str]] = {
    "centre": ["centre"],
    "pool": ["centre", "pool"],
    "card_type": ["card_type"],
    "fleet": [],
}


#: Runs up to this many days keep their own time bins; longer ones are averaged by week.
_NATIVE_BINS_UP_TO_DAYS = 120.0
#: Runs longer than this many days are averaged by calendar month instead of by week.
_WEEKLY_UP_TO_DAYS = 2 * 365.0
#: Build-out markers listed one a line up to this many; more are run together.
_KEY_ONE_PER_LINE = 10
#: At most this many lines of build-out key under the axes (the rest are counted).
_KEY_MAX_LINES = 14
_KEY_SIZE = NOTE_SIZE - 0.5
#: Line styles of the groups, cycled after the colours; the whole fleet is black dashed.
_GROUP_LINESTYLES: tuple[LineStyleType, ...] = ("-", "-.", ":", (0, (5, 1)))


def _bin_hours(utilisation: pd.DataFrame) -> float:
    """The width of the table's time bins in hours (one day when it cannot be told)."""
    if {"bin_start_h", "bin_end_h"} <= set(utilisation.columns) and len(utilisation):
        width = float((utilisation["bin_end_h"] - utilisation["bin_start_h"]).median())
        if math.isfinite(width) and width > 0:
            return width
    return _HOURS_PER_DAY


def _bin_name(hours: float) -> str:
    names = {1.0: "hourly", _HOURS_PER_DAY: "daily", 7 * _HOURS_PER_DAY: "weekly"}
    return names.get(hours, f"{hours:g}-hour")


def _smoothing(utilisation: pd.DataFrame) -> tuple[str | None, str]:
    """The calendar period lines are averaged over (``None``: the table's bins), named.

    Runs up to :data:`_NATIVE_BINS_UP_TO_DAYS` keep their bins; longer runs are averaged
    by week, and runs longer than :data:`_WEEKLY_UP_TO_DAYS` by calendar month, unless
    the bins are that long already.
    """
    bin_h = _bin_hours(utilisation)
    dates = pd.to_datetime(utilisation["date"])
    span_days = (dates.max() - dates.min()) / pd.Timedelta(days=1) + bin_h / _HOURS_PER_DAY
    if span_days > _WEEKLY_UP_TO_DAYS and bin_h < 28 * _HOURS_PER_DAY:
        return "M", "monthly"
    if span_days > _NATIVE_BINS_UP_TO_DAYS and bin_h < 7 * _HOURS_PER_DAY:
        return "W", "weekly"
    return None, _bin_name(bin_h)


def _period_midpoints(utilisation: pd.DataFrame, period: str) -> pd.Series:
    """For each row, the middle of its calendar period, clipped to the span of the data."""
    dates = pd.to_datetime(utilisation["date"])
    first = dates.min()
    end = dates.max() + pd.to_timedelta(_bin_hours(utilisation), unit="h")
    periods = dates.dt.to_period(period)
    start = periods.dt.start_time
    start = start.where(start > first, first)
    stop = periods.dt.end_time.dt.ceil("D")
    stop = stop.where(stop < end, end)
    return start + (stop - start) / 2


def _utilisation_by(
    utilisation: pd.DataFrame, keys: list[str], period: str | None = None
) -> pd.DataFrame:
    """Ratio of summed busy to summed online card-hours per replication, date and group.

    With a ``period`` (``"W"``, ``"M"``) the bins are pooled by calendar period and
    ``date`` becomes the middle of the period (within the span of the data).
    """
    if period is not None:
        utilisation = utilisation.assign(date=_period_midpoints(utilisation, period))
    rep = ["replication"] if "replication" in utilisation.columns else []
    grouped = utilisation.groupby(rep + ["date", *keys], as_index=False, sort=True)[
        ["busy_card_h", "online_card_h"]
    ].sum()
    online = grouped["online_card_h"].where(grouped["online_card_h"] > 0)
    grouped["utilisation"] = grouped["busy_card_h"] / online
    if keys:
        grouped["group"] = grouped[keys].astype(str).agg("/".join, axis=1)
    else:
        grouped["group"] = "fleet"
    return grouped


def _group_style(i: int, black_reserved: bool) -> tuple[str, LineStyleType]:
    """Colour and line style of group ``i``; black is left to the whole-fleet line."""
    palette = OKABE_ITO[:-1] if black_reserved else OKABE_ITO
    n = len(palette)
    return palette[i % n], _GROUP_LINESTYLES[(i // n) % len(_GROUP_LINESTYLES)]


def plot_utilisation_over_time(
    utilisation: pd.DataFrame,
    capacity: pd.DataFrame | None = None,
    *,
    by: Literal["centre", "pool", "card_type", "fleet"] = "centre",
    warmup_h: float = 0.0,
    where: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Utilisation over time, one line per centre (or pool, card type, or fleet).

    Utilisation is busy card-hours / online card-hours summed over the group's pools.
    Runs of up to about four months show the table's own bins; longer runs show weekly
    means, and runs of more than two years monthly means (busy over online card-hours
    of the period), as the axis labels say. With several replications the line is their
    mean and the band their range. With ``by`` other than ``"fleet"`` and more than one
    group, the fleet-wide line is drawn on top in heavier black dashes (black is then
    not used for a group). Build-out phases from ``capacity`` (rows with positive
    ``delta_cards`` after the first bin) are marked by dotted vertical lines,
    retirements by dash-dotted ones, each with a number at the top of the axes; the
    numbered list under the axes gives the date, pool, card change and label.

    Args:
        utilisation: the ``utilisation`` table.
        capacity: the ``capacity`` table, or ``None`` for no phase markers.
        by: grouping of the lines.
        warmup_h: length of the warm-up, shaded (hours since the scenario start).
        where: place or scenario named in the title.
        ax: axes to draw on; a new figure when ``None``.

    Returns:
        The axes.
    """
    if by not in _GROUP_KEYS:
        raise ValueError(f"by must be one of {sorted(_GROUP_KEYS)}, got {by!r}")
    changes = _capacity_changes(utilisation, capacity)
    root = ax.get_figure(root=True) if ax is not None else None
    key = _capacity_key(changes, width_in=(12.0 if root is None else root.get_figwidth()) - 1)
    height = 4.8 + (len(key) * _KEY_SIZE * 1.3 + 6) / 72 if key else 4.8
    ax = _new_axes(ax, (12.0, height))
    what = "Utilisation over time" + ("" if by == "fleet" else f" by {by.replace('_', ' ')}")
    _decorate(ax, _title(what, where), "Date", "Utilisation (% of online card-hours)")
    if utilisation.empty:
        _no_data(ax, "no utilisation records")
        return ax

    period, period_name = _smoothing(utilisation)
    if period is None:
        ax.set_ylabel(f"Utilisation, {period_name} (% of online card-hours)")
    else:
        ax.set_ylabel(f"Utilisation, {period_name} mean (% of online card-hours)")
        bins = _bin_name(_bin_hours(utilisation))
        ax.set_xlabel(f"Date (lines: {period_name} means of the {bins} bins)")
    n_rep = _n_replications(utilisation)
    handles: list[Line2D | Patch] = []
    warm = _shade_warmup(ax, _scenario_start(utilisation, "bin_start_h"), warmup_h)
    if warm is not None:
        handles.append(warm)

    table = _utilisation_by(utilisation, _GROUP_KEYS[by], period)
    groups = list(dict.fromkeys(table["group"]))
    with_fleet = by != "fleet" and len(groups) > 1
    for i, group in enumerate(groups):
        rows = table[table["group"] == group]
        mean, low, high = _mean_and_range(rows, "date", "utilisation")
        colour, style = _group_style(i, with_fleet)
        (line,) = ax.plot(
            mean.index, mean.to_numpy(), color=colour, linestyle=style, lw=1.4, label=group
        )
        handles.append(line)
        if n_rep > 1:
            ax.fill_between(
                mean.index, low.to_numpy(), high.to_numpy(), color=colour, alpha=0.15, lw=0
            )
    if with_fleet:
        fleet = _utilisation_by(utilisation, [], period)
        mean, _, _ = _mean_and_range(fleet, "date", "utilisation")
        (line,) = ax.plot(mean.index, mean.to_numpy(), color="black", lw=2.6, ls="--", zorder=4)
        line.set_label("whole fleet")
        handles.append(line)
    if n_rep > 1:
        handles.append(Patch(color="0.6", alpha=0.35, label=f"range over {n_rep} replications"))

    ax.set_ylim(0, 1.05)
    if changes:
        handles.extend(_mark_capacity_changes(ax, changes, key))
        ax.set_ylim(0, 1.1)
    ax.set_yticks(np.linspace(0.0, 1.0, 6))
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    _date_axis(ax)
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=LEGEND_SIZE,
        frameon=False,
    )
    return ax


class _Change(NamedTuple):
    """Capacity changes of one sign on one date, as marked and listed in the figure."""

    number: int
    date: pd.Timestamp
    sign: int
    text: str


def _capacity_changes(utilisation: pd.DataFrame, capacity: pd.DataFrame | None) -> list[_Change]:
    """Capacity changes after the first bin and before the end of the data, numbered.

    One entry per date and sign of the change, in date order (build-outs before
    retirements), with the pools, their card changes and labels as text.
    """
    if capacity is None or capacity.empty or utilisation.empty:
        return []
    capacity, _ = _first_replication(capacity)
    dates = pd.to_datetime(utilisation["date"])
    first = dates.min()
    end = dates.max() + pd.to_timedelta(_bin_hours(utilisation), unit="h")
    rows = capacity.assign(date=pd.to_datetime(capacity["date"]))
    rows = rows[(rows["date"] > first) & (rows["date"] < end) & (rows["delta_cards"] != 0)]
    rows = rows.assign(sign=np.sign(rows["delta_cards"]).astype(int))
    grouped: dict[tuple[pd.Timestamp, int], list[str]] = {}
    rows = rows.sort_values(["date", "sign"], ascending=[True, False], kind="stable")
    labels = rows["label"] if "label" in rows.columns else pd.Series("", index=rows.index)
    columns = [rows[name] for name in ("date", "sign", "centre", "pool", "delta_cards")]
    for date, sign, centre, pool, delta, label in zip(*columns, labels, strict=True):
        text = f"{centre}/{pool} {int(delta):+,}"
        label = str(label or "")
        grouped.setdefault((pd.Timestamp(date), int(sign)), []).append(
            f"{text} ({label})" if label else text
        )
    return [
        _Change(number, date, sign, "; ".join(parts))
        for number, ((date, sign), parts) in enumerate(grouped.items(), start=1)
    ]


def _capacity_key(changes: list[_Change], width_in: float) -> list[str]:
    """Lines of the numbered list of capacity changes written under the axes."""
    if not changes:
        return []
    width = max(60, int(width_in * 72 / (_KEY_SIZE * 0.6)))
    # no line break between an entry's number and its date (textwrap keeps U+00A0)
    entries = [
        f"({change.number})\u00a0{change.date:%Y-%m-%d}: {change.text}" for change in changes
    ]
    title = "Capacity changes marked above:"
    if len(entries) <= _KEY_ONE_PER_LINE:
        lines = [title]
        for entry in entries:
            lines.extend(textwrap.wrap(entry, width, subsequent_indent="      "))
    else:
        lines = textwrap.wrap(f"{title} " + "  ·  ".join(entries), width)
    if len(lines) > _KEY_MAX_LINES:
        left = len(lines) - _KEY_MAX_LINES + 1
        lines = [*lines[: _KEY_MAX_LINES - 1], f"… ({left} more lines: see the capacity table)"]
    return lines


def _mark_capacity_changes(ax: Axes, changes: list[_Change], key: list[str]) -> list[Line2D]:
    """Numbered vertical lines at the capacity changes, and their list under the axes."""
    styles: dict[int, tuple[LineStyleType, str]] = {
        1: (":", "build-out phase"),
        -1: ("-.", "retirement"),
    }
    ax.autoscale_view()
    left, right = ax.get_xlim()
    for change in changes:
        at = float(mdates.date2num(change.date))
        left, right = min(left, at), max(right, at)
    span = max(right - left, 1e-9)
    # Numbers that would touch their neighbour step down a row.
    last_at_level: list[float] = []
    for change in changes:
        style = styles[change.sign][0]
        at = float(mdates.date2num(change.date))
        ax.axvline(at, color="0.3", linestyle=style, lw=1.0, zorder=1)
        x = (at - left) / span
        gap = 0.012 * (1 + len(str(change.number)))
        level = next(
            (k for k, last in enumerate(last_at_level) if x - last >= gap), len(last_at_level)
        )
        if level == len(last_at_level):
            last_at_level.append(x)
        last_at_level[level] = x
        ax.text(
            at,
            0.97 - 0.065 * (level % 4),
            str(change.number),
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="center",
            fontsize=_KEY_SIZE,
            color="0.15",
            zorder=6,
            bbox={"boxstyle": "circle,pad=0.2", "fc": "white", "ec": "0.3", "lw": 0.8},
        )
    ax.annotate(
        "\n".join(key),
        xy=(0.0, 0.0),
        xycoords=("axes fraction", ax.xaxis.label),
        xytext=(0.0, -4.0),
        textcoords="offset points",
        ha="left",
        va="top",
        fontsize=_KEY_SIZE,
        color="0.25",
        annotation_clip=False,
    )
    signs = sorted({change.sign for change in changes}, reverse=True)
    return [
        Line2D([], [], color="0.3", linestyle=styles[s][0], lw=1.0, label=styles[s][1])
        for s in signs
    ]


def plot_utilisation_heatmap(
    utilisation: pd.DataFrame,
    ax: Axes | None = None,
    *,
    where: str | None = None,
    annotate: bool | None = None,
) -> Axes:
    """Monthly utilisation, centres by month, as a heatmap.

    Each cell is busy card-hours / online card-hours of the centre in the month, pooled
    over replications. Months with no card online are grey.

    Args:
        utilisation: the ``utilisation`` table.
        ax: axes to draw on; a new figure when ``None``.
        where: place or scenario named in the title.
        annotate: write the percentage into each cell; by default when there are at most
            24 months.

    Returns:
        The axes (the colour bar is attached to its figure).
    """
    n_centres = utilisation["centre"].nunique() if len(utilisation) else 1
    ax = _new_axes(ax, (10.0, 2.2 + 0.45 * n_centres))
    _decorate(
        ax,
        _title("Monthly utilisation by centre", where),
        "Month",
        "Centre",
        grid="none",
    )
    if utilisation.empty:
        _no_data(ax, "no utilisation records")
        return ax
    table = utilisation.assign(month=pd.to_datetime(utilisation["date"]).dt.to_period("M"))
    sums = table.groupby(["centre", "month"])[["busy_card_h", "online_card_h"]].sum()
    ratio = sums["busy_card_h"] / sums["online_card_h"].where(sums["online_card_h"] > 0)
    grid = ratio.unstack("month")
    centres = list(dict.fromkeys(utilisation["centre"]))
    grid = grid.reindex(centres)
    values = np.ma.masked_invalid(grid.to_numpy(dtype=float))
    cmap = colormaps["cividis"].with_extremes(bad="#d9d9d9")
    image = ax.imshow(values, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto", interpolation="none")
    months = [str(m) for m in grid.columns]
    step = max(1, math.ceil(len(months) / 18))
    ax.set_xticks(range(0, len(months), step), months[::step], rotation=45, ha="right")
    ax.set_yticks(range(len(centres)), centres)
    if annotate is None:
        annotate = len(months) <= 24
    if annotate:
        for (r, c), v in np.ndenumerate(grid.to_numpy(dtype=float)):
            if math.isfinite(v):
                ax.text(
                    c,
                    r,
                    f"{100 * v:.0f}%",
                    ha="center",
                    va="center",
                    fontsize=TICK_SIZE,
                    color="white" if v < 0.45 else "black",
                )
    bar = ax.figure.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label("Utilisation (%)", fontsize=LABEL_SIZE - 1)
    bar.ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    bar.ax.tick_params(labelsize=TICK_SIZE - 1)
    return ax


# --------------------------------------------------------------------------- waits


def _ecdf_curve(
    ax: Axes, xs: np.ndarray, ys: np.ndarray, p50: float, p95: float, colour: str
) -> Line2D:
    """One ECDF step curve with its p50 (circle) and p95 (triangle) marked."""
    (line,) = ax.plot(xs, ys, drawstyle="steps-post", color=colour, lw=1.6)
    for q, p, marker in ((0.5, p50, "o"), (0.95, p95, "^")):
        if p > 0:
            ax.plot([p], [q], marker=marker, color=colour, ms=7, mec="white", mew=0.8)
    return line


def _finish_ecdf_axes(ax: Axes, handles: list[Line2D], left: float, right: float) -> None:
    """Log x axis, percent y axis, p50/p95 guide lines and marker legend entries."""
    handles.append(Line2D([], [], color="0.4", marker="o", ls="none", label="p50 (median)"))
    handles.append(Line2D([], [], color="0.4", marker="^", ls="none", label="p95"))
    ax.set_xscale("log")
    ax.set_xlim(left, right)
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    for q in (0.5, 0.95):
        ax.axhline(q, color="0.6", lw=0.6, ls=":")


def plot_wait_ecdf_by_size(
    jobs: pd.DataFrame,
    ax: Axes | None = None,
    *,
    warmup_h: float = 0.0,
    where: str | None = None,
) -> Axes:
    """Empirical CDF of the wait (start - submit) per gang-size class, log x axis.

    Only started jobs have a wait; jobs still queued at the horizon are counted in a note
    under the curves. Zero waits cannot sit on a log axis: each curve starts at the left
    edge at its share of zero waits, and that share is given in the legend. The p50 and
    p95 of each class are marked on its curve (a circle and a triangle) and written in
    the legend. Several replications are pooled.

    Args:
        jobs: the ``jobs`` table.
        ax: axes to draw on; a new figure when ``None``.
        warmup_h: jobs submitted before this time (hours) are left out.
        where: place or scenario named in the title.

    Returns:
        The axes.
    """
    ax = _new_axes(ax, (10.0, 5.0))
    title = _title("Wait-time distribution by job size (ECDF)", where)
    xlabel = "Wait from submission to start (h, log scale)"
    _decorate(ax, title, xlabel, "Share of jobs waiting at most x")
    jobs = _with_size_class(jobs[jobs["submit_h"] >= warmup_h]) if len(jobs) else jobs
    started = jobs[jobs["wait_h"].notna()] if len(jobs) else jobs
    if started.empty:
        _no_data(ax, "no started jobs")
        return ax

    waits = started["wait_h"].to_numpy(dtype=float)
    positive = waits[waits > 0]
    if positive.size == 0:
        ax.set_xlabel("Wait from submission to start (h)", fontsize=LABEL_SIZE)
        _no_data(ax, f"all {waits.size:,} started jobs started without waiting")
        return ax
    left = max(float(positive.min()) / 1.5, 1e-3)
    right = float(positive.max()) * 1.5

    handles: list[Line2D] = []
    for i, label in enumerate(c for c in _SIZE_ORDER if c in set(started["size_class"])):
        w = np.sort(started.loc[started["size_class"] == label, "wait_h"].to_numpy(dtype=float))
        n = w.size
        n_zero = int((w <= 0).sum())
        pos = w[w > 0]
        y = (n_zero + np.arange(1, pos.size + 1)) / n
        xs = np.concatenate(([left], pos, [right]))
        ys = np.concatenate(([n_zero / n], y, [y[-1] if y.size else n_zero / n]))
        colour = _colour(i)
        p50, p95 = np.quantile(w, [0.5, 0.95])
        line = _ecdf_curve(ax, xs, ys, float(p50), float(p95), colour)
        line.set_label(
            f"{size_label(label)}: n={n:,}, zero wait {n_zero / n:.0%}, "
            f"p50 {format_hours(p50)}, p95 {format_hours(p95)}"
        )
        handles.append(line)

    _finish_ecdf_axes(ax, handles, left, right)
    queued = int(jobs["wait_h"].isna().sum())
    notes = ["Each curve starts at the left edge at its share of zero waits."]
    if queued:
        notes.append(
            f"{queued:,} job{'s' if queued != 1 else ''} still queued at the horizon not included."
        )
    if _n_replications(jobs) > 1:
        notes.append(f"{_n_replications(jobs)} replications pooled.")
    ax.legend(
        handles=handles,
        loc="best",
        fontsize=LEGEND_SIZE,
        framealpha=0.9,
        title="\n".join(notes),
        title_fontsize=NOTE_SIZE,
        alignment="left",
    )
    return ax


def plot_wait_ecdf_from_histogram(
    histogram: pd.DataFrame,
    ax: Axes | None = None,
    *,
    where: str | None = None,
) -> Axes:
    """Cumulative share of waits per gang-size class from binned waits, log x axis.

    The same figure as :func:`plot_wait_ecdf_by_size`, drawn from the ``wait_histogram``
    table (all years), so it exists even when per-job records were not kept. Each curve
    is evaluated at bin upper edges (bins are 1 % wide); the first bin holds waits under
    0.36 s, shown as the curve's starting height. Several replications are pooled.

    Args:
        histogram: the ``wait_histogram`` table.
        ax: axes to draw on; a new figure when ``None``.
        where: place or scenario named in the title.

    Returns:
        The axes.
    """
    ax = _new_axes(ax, (10.0, 5.0))
    title = _title("Wait-time distribution by job size (binned ECDF)", where)
    _decorate(
        ax, title, "Wait from submission to start (h, log scale)", "Share of jobs waiting at most x"
    )
    h = histogram[(histogram["year"] == 0) & (histogram["size_class"] != "all")]
    if h.empty:
        _no_data(ax, "no started jobs")
        return ax
    binned = h.groupby(["size_class", "wait_low_h", "wait_high_h"], as_index=False)["count"].sum()
    positive = binned[binned["wait_low_h"] > 0]
    if positive.empty:
        _no_data(ax, "every started job started within 0.36 s")
        return ax
    left = max(float(positive["wait_low_h"].min()) / 1.5, 1e-3)
    right = float(positive["wait_high_h"].max()) * 1.5
    handles: list[Line2D] = []
    present = set(binned["size_class"])
    for i, label in enumerate(c for c in _SIZE_ORDER if c in present):
        g = binned[binned["size_class"] == label].sort_values("wait_low_h")
        counts = g["count"].to_numpy(dtype=float)
        n = counts.sum()
        cum = np.cumsum(counts) / n
        zero = float(cum[0]) if g["wait_low_h"].iloc[0] == 0 else 0.0
        pos = g["wait_low_h"].to_numpy() > 0
        xs = np.concatenate(([left], g["wait_high_h"].to_numpy()[pos], [right]))
        ys = np.concatenate(([zero], cum[pos], [1.0]))
        colour = _colour(i)
        p50, p95 = (
            float(g["wait_high_h"].to_numpy()[np.searchsorted(cum, q - 1e-12)])
            if cum[0] < q
            else 0.0
            for q in (0.5, 0.95)
        )
        line = _ecdf_curve(ax, xs, ys, float(p50), float(p95), colour)
        line.set_label(
            f"{size_label(label)}: n={int(n):,}, under 0.36 s {zero:.0%}, "
            f"p50 {format_hours(p50)}, p95 {format_hours(p95)}"
        )
        handles.append(line)
    _finish_ecdf_axes(ax, handles, left, right)
    ax.legend(
        handles=handles,
        loc="lower right",
        fontsize=LEGEND_SIZE,
        framealpha=0.9,
        title="Each curve starts at its share of waits under 0.36 s.",
        title_fontsize=NOTE_SIZE,
        alignment="left",
    )
    return ax


def plot_p95_wait_by_quarter(
    jobs: pd.DataFrame,
    start_date: dt.date | str | pd.Timestamp,
    ax: Axes | None = None,
    *,
    min_jobs: int = 20,
    warmup_h: float = 0.0,
    where: str | None = None,
) -> Axes:
    """The 95th-percentile wait per calendar quarter of submission and size class.

    Jobs are assigned to the quarter of their submission date (``start_date`` plus
    ``submit_h``); only started jobs count, so late quarters, where long waits may still
    be running at the horizon, understate the tail. A quarter and class with fewer than
    ``min_jobs`` started jobs is left out rather than drawn from too few jobs. The y axis
    is symmetric-log (linear below 1 h) so that zero and large waits both show.

    Args:
        jobs: the ``jobs`` table.
        start_date: the scenario start (hour 0).
        ax: axes to draw on; a new figure when ``None``.
        min_jobs: fewest started jobs for a point to be drawn.
        warmup_h: jobs submitted before this time (hours) are left out.
        where: place or scenario named in the title.

    Returns:
        The axes.
    """
    ax = _new_axes(ax)
    title = _title("95th-percentile wait by quarter of submission", where)
    _decorate(ax, title, "Quarter of submission", "p95 wait (h, symmetric log)")
    jobs = jobs[(jobs["submit_h"] >= warmup_h) & jobs["wait_h"].notna()] if len(jobs) else jobs
    if jobs.empty:
        _no_data(ax, "no started jobs")
        return ax
    jobs = _with_size_class(jobs)
    submitted = pd.Timestamp(start_date) + pd.to_timedelta(jobs["submit_h"], unit="h")
    jobs = jobs.assign(quarter=submitted.dt.to_period("Q"))
    quarters = sorted(jobs["quarter"].unique())
    position = {q: i for i, q in enumerate(quarters)}

    def p95_series(rows: pd.DataFrame) -> tuple[list[int], list[float]]:
        grouped = rows.groupby("quarter")["wait_h"]
        stats = pd.DataFrame({"n": grouped.size(), "p95": grouped.quantile(0.95)})
        stats = stats[stats["n"] >= min_jobs]
        return [position[q] for q in stats.index], stats["p95"].tolist()

    drawn = 0
    for i, label in enumerate(c for c in _SIZE_ORDER if c in set(jobs["size_class"])):
        x, y = p95_series(jobs[jobs["size_class"] == label])
        if x:
            ax.plot(x, y, marker="o", color=_colour(i), lw=1.6, label=size_label(label))
            drawn += 1
    x, y = p95_series(jobs)
    if x:
        ax.plot(x, y, marker="s", color="black", lw=1.2, ls="--", label="all sizes")
        drawn += 1
    ax.set_yscale("symlog", linthresh=1.0, linscale=0.6)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    step = max(1, math.ceil(len(quarters) / 16))
    ax.set_xticks(range(0, len(quarters), step), [str(q) for q in quarters][::step])
    ax.set_xlim(-0.5, len(quarters) - 0.5)
    if drawn:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=LEGEND_SIZE, frameon=False)
    else:
        _no_data(ax, f"no quarter has {min_jobs} or more started jobs of one size class")
    _side_note(
        ax,
        [
            f"A point needs ≥ {min_jobs}",
            "started jobs.",
            "Jobs still queued at",
            "the horizon are not",
            "counted.",
        ],
    )
    return ax


# --------------------------------------------------------------------------- backlog


_BACKLOG_LABELS = {
    "queued_cards": ("Backlog: cards requested by waiting jobs", "Queued card demand (cards)"),
    "queued_jobs": ("Backlog: jobs waiting", "Queued jobs (jobs)"),
}


def plot_backlog(
    backlog: pd.DataFrame,
    ax: Axes | None = None,
    *,
    column: Literal["queued_cards", "queued_jobs"] = "queued_cards",
    warmup_h: float = 0.0,
    where: str | None = None,
) -> Axes:
    """The fleet's backlog over time: mean queued card demand (or jobs) per bin.

    Args:
        backlog: the ``backlog`` table.
        ax: axes to draw on; a new figure when ``None``.
        column: ``"queued_cards"`` (the card demand of waiting jobs) or ``"queued_jobs"``.
        warmup_h: length of the warm-up, shaded (hours since the scenario start).
        where: place or scenario named in the title.

    Returns:
        The axes.
    """
    if column not in _BACKLOG_LABELS:
        raise ValueError(f"column must be one of {sorted(_BACKLOG_LABELS)}, got {column!r}")
    ax = _new_axes(ax)
    what, ylabel = _BACKLOG_LABELS[column]
    _decorate(ax, _title(what, where), "Date", ylabel)
    if backlog.empty:
        _no_data(ax, "no backlog records")
        return ax
    handles: list[Line2D | Patch] = []
    warm = _shade_warmup(ax, _scenario_start(backlog, "bin_start_h"), warmup_h)
    if warm is not None:
        handles.append(warm)
    mean, low, high = _mean_and_range(backlog, "date", column)
    n_rep = _n_replications(backlog)
    (line,) = ax.plot(mean.index, mean.to_numpy(), color=OKABE_ITO[0], lw=1.6)
    line.set_label("mean over replications" if n_rep > 1 else "one replication")
    handles.append(line)
    if n_rep > 1:
        ax.fill_between(mean.index, low.to_numpy(), high.to_numpy(), color=OKABE_ITO[0], alpha=0.2)
        handles.append(
            Patch(color=OKABE_ITO[0], alpha=0.2, label=f"range over {n_rep} replications")
        )
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    _date_axis(ax)
    ax.legend(handles=handles, loc="upper left", fontsize=LEGEND_SIZE, framealpha=0.9)
    return ax


# --------------------------------------------------------------------------- comparisons


def plot_forest(
    paired: pd.DataFrame,
    metric_order: Sequence[str] | None = None,
    ax: Axes | None = None,
    *,
    scale: Literal["auto", "per_metric", "raw"] = "auto",
    level: float = 0.95,
    where: str | None = None,
) -> Axes:
    """Paired differences (scenario - baseline) with confidence-interval whiskers.

    One row per metric and scenario; a vertical line marks zero (no difference). A
    filled marker means the interval excludes zero, an open one that it does not. Metrics
    have different units, so with more than one metric (``scale="auto"``) each metric's
    rows are divided by that metric's largest absolute bound and the actual values are
    written at the right of each row; with one metric (or ``scale="raw"``) the x axis is
    in the metric's own unit.

    Args:
        paired: the ``paired`` table (scenario, baseline, metric, diff_mean, diff_ci_low,
            diff_ci_high, n).
        metric_order: metrics to show, top to bottom; by default all, in table order.
        ax: axes to draw on; a new figure when ``None``.
        scale: ``"auto"``, ``"per_metric"`` or ``"raw"`` (see above).
        level: the confidence level of the intervals, for the labels.
        where: place or scenario named in the title.

    Returns:
        The axes.
    """
    metrics = (
        list(metric_order) if metric_order is not None else list(dict.fromkeys(paired["metric"]))
    )
    rows = paired[paired["metric"].isin(metrics)] if len(paired) else paired
    height = min(12.0, 1.6 + 0.42 * max(len(rows), 1))
    ax = _new_axes(ax, (10.0, height))
    if scale == "auto":
        scale = "raw" if len(metrics) == 1 else "per_metric"
    baselines = sorted(set(rows["baseline"])) if len(rows) else []
    against = f" vs {baselines[0]}" if len(baselines) == 1 else " vs baseline"
    title = _title(f"Paired differences{against} ({level:.0%} CI)", where)
    if scale == "raw" and len(metrics) == 1:
        unit = metric_unit(metrics[0])
        unit = "pp" if unit == "%" else unit
        xlabel = f"Difference in {metric_label(metrics[0])} ({unit or 'ratio'})"
    else:
        xlabel = "Difference, scaled per metric to its largest |bound| (values at right)"
    _decorate(ax, title, xlabel, "Metric", grid="x")
    if rows.empty:
        _no_data(ax, "no paired differences")
        return ax

    scenarios = list(dict.fromkeys(rows["scenario"]))
    factor = 100.0
    y = 0.0
    ticks: list[float] = []
    tick_labels: list[str] = []
    for metric in metrics:
        block = rows[rows["metric"] == metric]
        if block.empty:
            continue
        display = factor if metric_unit(metric) == "%" else 1.0
        if scale == "per_metric":
            bounds = block[["diff_mean", "diff_ci_low", "diff_ci_high"]].abs().to_numpy(float)
            largest = float(np.nanmax(bounds)) if np.isfinite(bounds).any() else 0.0
            divisor = largest if largest > 0 else 1.0
        else:
            divisor = 1.0 / display
        for _, row in block.iterrows():
            i = scenarios.index(row["scenario"])
            mean, low, high = (row["diff_mean"], row["diff_ci_low"], row["diff_ci_high"])
            x, lo, hi = mean / divisor, low / divisor, high / divisor
            excludes_zero = bool(np.isfinite([low, high]).all() and (low > 0 or high < 0))
            colour = _colour(i)
            if np.isfinite([lo, hi]).all():
                ax.plot([lo, hi], [y, y], color=colour, lw=2.0, solid_capstyle="butt")
                ax.plot([lo, hi], [y, y], ls="none", marker="|", color=colour, ms=10)
            ax.plot(
                [x],
                [y],
                marker="o",
                ms=7,
                color=colour,
                mfc=colour if excludes_zero else "white",
                mew=1.6,
            )
            value = format_metric_value(metric, mean, difference=True)
            interval = (
                f"[{format_metric_value(metric, low, difference=True)}, "
                f"{format_metric_value(metric, high, difference=True)}]"
            )
            ax.text(
                1.01,
                y,
                f"{value} {interval}, n={int(row['n'])}",
                transform=ax.get_yaxis_transform(),
                va="center",
                ha="left",
                fontsize=NOTE_SIZE,
                color="0.2",
            )
            ticks.append(y)
            label = metric_label(metric)
            tick_labels.append(label if len(scenarios) == 1 else f"{label}\n{row['scenario']}")
            y += 1
        y += 0.5  # a gap between metrics
    ax.axvline(0.0, color="0.2", lw=1.0)
    ax.set_yticks(ticks, tick_labels, fontsize=TICK_SIZE - 1)
    ax.set_ylim(y - 0.5, -1.8)  # the band above the first row holds the legend
    if scale == "per_metric":
        ax.set_xlim(-1.15, 1.15)
    handles: list[Line2D] = [
        Line2D([], [], color=_colour(i), lw=2.0, marker="o", label=s)
        for i, s in enumerate(scenarios)
    ]
    handles.append(
        Line2D([], [], color="0.3", marker="o", mfc="0.3", ls="none", label="CI excludes 0")
    )
    handles.append(
        Line2D([], [], color="0.3", marker="o", mfc="white", ls="none", label="CI includes 0")
    )
    ax.legend(
        handles=handles,
        loc="upper center",
        ncols=min(len(handles), 4),
        fontsize=LEGEND_SIZE,
        framealpha=0.95,
    )
    return ax


# --------------------------------------------------------------------------- energy


def plot_energy_by_centre_year(
    energy: pd.DataFrame,
    ax: Axes | None = None,
    *,
    where: str | None = None,
) -> Axes:
    """Energy use per centre and calendar year as grouped bars, cost written on each bar.

    With several replications the bars show the mean over replications.

    Args:
        energy: a table with columns centre, year, energy_mwh, cost_cny (and optionally
            replication).
        ax: axes to draw on; a new figure when ``None``.
        where: place or scenario named in the title.

    Returns:
        The axes.
    """
    ax = _new_axes(ax)
    _decorate(ax, _title("Energy use by centre and year", where), "Year", "Energy (MWh)", grid="y")
    if energy.empty:
        _no_data(ax, "no energy records")
        return ax
    per_rep = energy.groupby(
        (["replication"] if "replication" in energy.columns else []) + ["centre", "year"],
        as_index=False,
    )[["energy_mwh", "cost_cny"]].sum()
    means = per_rep.groupby(["centre", "year"], as_index=False)[["energy_mwh", "cost_cny"]].mean()
    centres = list(dict.fromkeys(energy["centre"]))
    years = sorted(means["year"].unique())
    width = 0.8 / len(centres)
    for i, centre in enumerate(centres):
        rows = means[means["centre"] == centre].set_index("year").reindex(years)
        xs = np.arange(len(years)) - 0.4 + width * (i + 0.5)
        bars = ax.bar(
            xs,
            rows["energy_mwh"].fillna(0).to_numpy(),
            width=width * 0.92,
            color=_colour(i),
            label=centre,
        )
        cost_labels = [
            f"¥{c / 1e6:,.1f}M" if math.isfinite(c) else "" for c in rows["cost_cny"].to_numpy()
        ]
        ax.bar_label(bars, cost_labels, fontsize=NOTE_SIZE - 0.5, padding=2, color="0.25")
    ax.set_xticks(range(len(years)), [str(y) for y in years])
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.margins(y=0.12)
    notes = ["Bar labels:", "electricity cost,", "million CNY."]
    if _n_replications(energy) > 1:
        notes += [f"Mean of {_n_replications(energy)}", "replications."]
    _side_note(ax, notes)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=LEGEND_SIZE, frameon=False)
    return ax


# --------------------------------------------------------------------------- campaigns


def plot_campaign_timeline(
    jobs: pd.DataFrame,
    top: int = 10,
    ax: Axes | None = None,
    *,
    start_date: dt.date | str | pd.Timestamp | None = None,
    horizon_h: float | None = None,
    where: str | None = None,
) -> Axes:
    """Queued and running time of the campaigns and, to fill ``top`` rows, the largest jobs.

    For each job a light bar runs from submission to start (queued) and a dark bar from
    start to end (running). A job still queued or running at the horizon has its bar cut
    at the horizon and ends in an arrow. Campaign rows come first (by submission), then
    the largest other jobs (by cards, then work). When the table holds several
    replications, only the lowest-numbered one is drawn.

    Args:
        jobs: the ``jobs`` table.
        top: the number of rows.
        ax: axes to draw on; a new figure when ``None``.
        start_date: the scenario start; when given the x axis is dated, otherwise it is
            in days since the start.
        horizon_h: the horizon (hours) where unfinished bars stop; by default the latest
            time in the table.
        where: place or scenario named in the title.

    Returns:
        The axes.
    """
    chosen = _timeline_rows(jobs, top)
    ax = _new_axes(ax, (10.0, min(10.0, 1.8 + 0.45 * max(len(chosen), 1))))
    title = "Campaigns and largest jobs"
    if _n_replications(jobs) > 1:
        title += f", replication {int(jobs['replication'].min())}"
    dated = start_date is not None
    xlabel = "Date" if dated else "Time since scenario start (days)"
    _decorate(ax, _title(title, where), xlabel, "Job", grid="x")
    if chosen.empty:
        _no_data(ax, "no jobs")
        return ax

    times = chosen[["submit_h", "start_h", "end_h"]].to_numpy(dtype=float)
    horizon = float(horizon_h) if horizon_h is not None else float(np.nanmax(times))
    origin = float(mdates.date2num(pd.Timestamp(start_date))) if start_date is not None else 0.0

    def x(hours: float) -> float:
        return origin + hours / _HOURS_PER_DAY

    queued_colour, running_colour = "#9BCBEB", OKABE_ITO[0]
    labels: list[str] = []
    for y, (_, row) in enumerate(chosen.iterrows()):
        submit, start, end = float(row["submit_h"]), float(row["start_h"]), float(row["end_h"])
        started = math.isfinite(start)
        queue_end = start if started else horizon
        ax.barh(
            y,
            (queue_end - submit) / _HOURS_PER_DAY,
            left=x(submit),
            color=queued_colour,
            height=0.6,
            edgecolor="none",
        )
        finished = math.isfinite(end)
        if started:
            run_end = end if finished else horizon
            ax.barh(
                y,
                (run_end - start) / _HOURS_PER_DAY,
                left=x(start),
                color=running_colour,
                height=0.6,
                edgecolor="none",
            )
        last = queue_end if not started else (end if finished else horizon)
        if not (started and finished):
            ax.plot([x(last)], [y], marker=">", color="0.2", ms=7)
        waited = _duration(queue_end - submit)
        if not started:
            note = f"still queued, waited ≥ {waited}"
        elif not finished:
            note = f"waited {waited}, still running after {_duration(horizon - start)}"
        else:
            note = f"waited {waited}, ran {_duration(end - start)}"
        ax.annotate(
            note,
            (x(last), y),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=NOTE_SIZE,
            color="0.2",
        )
        campaign = str(row.get("campaign", "") or "")
        cards = f"{int(row['cards']):,} cards"
        place = str(row.get("centre", "") or "")
        place = f", {place}" if place else ""
        if campaign:
            labels.append(f"{campaign} ({cards}{place})")
        else:
            labels.append(f"job {row['job_id']} {row.get('job_class', '')} ({cards}{place})")
    ax.set_yticks(range(len(labels)), labels, fontsize=TICK_SIZE - 1)
    ax.set_ylim(len(labels) - 0.5, -1.6)  # the band above the first row holds the legend
    ax.margins(x=0.02)
    ax.axvline(x(horizon), color="0.3", lw=1.0, ls="--")
    left, right = ax.get_xlim()
    ax.set_xlim(right=right + 0.4 * (right - left))  # room for the notes
    if dated:
        ax.xaxis_date()
        _date_axis(ax)
    ax.legend(
        handles=[
            Patch(color=queued_colour, label="queued (submit → start)"),
            Patch(color=running_colour, label="running (start → end)"),
            Line2D([], [], marker=">", color="0.2", ls="none", label="cut at the horizon"),
            Line2D([], [], color="0.3", lw=1.0, ls="--", label="horizon"),
        ],
        loc="upper center",
        ncols=4,
        fontsize=LEGEND_SIZE,
        framealpha=0.95,
    )
    return ax


def _duration(hours: float) -> str:
    """A duration in hours below two days, in days above."""
    if hours < 2 * _HOURS_PER_DAY:
        return format_hours(hours)
    return f"{hours / _HOURS_PER_DAY:,.1f} d"


def _timeline_rows(jobs: pd.DataFrame, top: int) -> pd.DataFrame:
    if jobs.empty or top <= 0:
        return jobs.iloc[0:0]
    jobs, _ = _first_replication(jobs)
    if "campaign" in jobs.columns:
        is_campaign = jobs["campaign"].fillna("").astype(str) != ""
    else:
        is_campaign = pd.Series(False, index=jobs.index)
    campaigns = jobs[is_campaign].sort_values("submit_h").head(top)
    order = ["cards", "work_ref_card_h"] if "work_ref_card_h" in jobs.columns else ["cards"]
    others = jobs[~is_campaign].sort_values(order, ascending=False).head(top - len(campaigns))
    return pd.concat([campaigns, others.sort_values("submit_h")])


# --------------------------------------------------------------------------- failures

# Labels and units of the reliability metrics (simulator.metrics.reliability_summary).
_METRIC_BASES.update(
    {
        "goodput": ("Goodput (useful / busy card-hours)", "%"),
        "lost_card_h": ("Lost card-hours", "card-h"),
        "interruptions": ("Interruptions by failures", "jobs"),
        "interruptions_per_job": ("Interruptions per started job", ""),
        "idle_failures": ("Failures of idle cards", ""),
        "spare_restarts": ("Restarts on a hot spare", ""),
        "repair_cards_mean": ("Cards in repair, time average", "cards"),
        "maintenance_cards_mean": ("Cards in maintenance, time average", "cards"),
        "spare_cards_mean": ("Cards kept as hot spares, time average", "cards"),
        "campaign_days_failure_free": ("Campaign time to train had nothing failed", "d"),
    }
)

#: Causes of lost card-hours, in the order :mod:`simulator.reliability` counts them.
LOSS_CAUSES: tuple[tuple[str, str], ...] = (
    ("rework", "rework\n(since the last\ncheckpoint)"),
    ("restart", "restart\noverhead"),
    ("checkpoint", "checkpoint\nwrites"),
)


def _metric_stats(summary: Mapping[str, Any], key: str) -> tuple[float, float, float]:
    """Mean and interval ends of a metric from a flat summary (``RunResult.summary``) or
    from ``summary.json`` (``{"metrics": {key: {"mean", "ci_low", "ci_high"}}}``); NaN
    when absent (interval ends NaN when the summary holds no interval)."""
    metrics = summary.get("metrics", summary)
    entry = metrics.get(key) if isinstance(metrics, Mapping) else None
    nan = float("nan")
    if isinstance(entry, Mapping):

        def number(name: str) -> float:
            value = entry.get(name)
            return float(value) if isinstance(value, (int, float)) else nan

        return number("mean"), number("ci_low"), number("ci_high")
    if isinstance(entry, (int, float)):
        return float(entry), nan, nan
    return nan, nan, nan


def run_has_failures(summary: Mapping[str, Any]) -> bool:
    """Whether a run's summary records any interruption, lost card-hour or card out of
    service (failures, repairs, checkpoint costs or maintenance)."""
    keys = ["interruptions", "idle_failures", "repair_cards_mean", "maintenance_cards_mean"]
    keys += [f"lost_card_h[cause={cause}]" for cause, _ in LOSS_CAUSES]
    values = [_metric_stats(summary, key)[0] for key in keys]
    return any(math.isfinite(v) and v > 0 for v in values)


def plot_failures(
    summary: Mapping[str, Any],
    utilisation: pd.DataFrame | None = None,
    *,
    warmup_h: float = 0.0,
    where: str | None = None,
) -> Axes:
    """Lost card-hours by cause, and cards in repair and maintenance over time per centre.

    Left: the card-hours that running jobs lost to each cause (``lost_card_h[cause=..]``:
    computation redone after a stop, restart overhead, checkpoint writes), with the
    summary's confidence intervals as whiskers when it has them, each bar labelled with
    its share of the busy card-hours; the title gives the goodput (useful / busy
    card-hours). Right (when ``utilisation`` is given): cards in repair (solid) and in
    maintenance (dashed) per centre and time bin, the mean over replications with their
    range as a band. A run without failures, checkpoint costs or maintenance says so.

    Args:
        summary: a run's summary, flat (``RunResult.summary``) or as in ``summary.json``
            (``{"metrics": {key: {"mean", "ci_low", "ci_high", ...}}}``).
        utilisation: the ``utilisation`` table (with ``repair_cards`` and
            ``maintenance_cards``), or ``None`` for the left panel alone.
        warmup_h: length of the warm-up, shaded on the right panel (hours).
        where: place or scenario named in the titles.

    Returns:
        The left axes (its figure holds both panels).
    """
    panels = utilisation is not None
    fig = Figure(figsize=(12.0, 4.8) if panels else (7.0, 4.8), layout="constrained")
    if panels:
        ax, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.0, 1.7]})
    else:
        ax, right = fig.add_subplot(), None
    fig.suptitle(
        _title("Failures, repairs and lost card-hours", where),
        x=0.01,
        ha="left",
        fontsize=TITLE_SIZE,
    )
    goodput, g_low, g_high = _metric_stats(summary, "goodput")
    what = "Lost card-hours by cause"
    if math.isfinite(goodput):
        what += f"\ngoodput {100 * goodput:.1f} %"
        if math.isfinite(g_low) and math.isfinite(g_high) and g_high > g_low:
            what += f" ({100 * g_low:.1f}-{100 * g_high:.1f})"
    _decorate(ax, what, "Cause", "Lost card-hours", grid="y")
    ax.title.set_fontsize(TITLE_SIZE - 2)
    stats = [_metric_stats(summary, f"lost_card_h[cause={c}]") for c, _ in LOSS_CAUSES]
    means = np.array([s[0] for s in stats], dtype=float)
    if not run_has_failures(summary):
        _no_data(ax, "no failures, checkpoint costs\nor maintenance in this run")
        ax.set_xticks([])
        ax.set_yticks([])
        if right is not None:
            right.set_axis_off()
        return ax
    values = np.nan_to_num(means)
    lows = np.array([s[1] for s in stats], dtype=float)
    highs = np.array([s[2] for s in stats], dtype=float)
    err = np.vstack(
        [
            np.where(np.isfinite(lows), np.clip(values - lows, 0, None), 0.0),
            np.where(np.isfinite(highs), np.clip(highs - values, 0, None), 0.0),
        ]
    )
    x = np.arange(len(LOSS_CAUSES))
    bars = ax.bar(
        x,
        values,
        width=0.65,
        yerr=err if np.any(err > 0) else None,
        capsize=4,
        color=[_colour(i) for i in (3, 1, 0)],
    )
    lost = float(values.sum())
    busy = lost / (1.0 - goodput) if math.isfinite(goodput) and goodput < 1.0 else math.nan
    if math.isfinite(busy) and busy > 0:
        labels = [f"{100 * v / busy:.1f} % of busy" for v in values]
        ax.bar_label(bars, labels, fontsize=NOTE_SIZE, padding=3, color="0.25")
    ax.set_xticks(x, [label for _, label in LOSS_CAUSES], fontsize=TICK_SIZE - 1)
    ax.yaxis.set_major_formatter(FuncFormatter(_card_hours))
    notes = []
    if np.any(err > 0):
        level = summary.get("interval_level")
        level_text = f"{level:.0%} " if isinstance(level, float) and 0 < level < 1 else ""
        notes.append(f"whiskers: {level_text}CI across replications")
    interruptions = _metric_stats(summary, "interruptions")[0]
    if math.isfinite(interruptions):
        notes.append(f"{interruptions:,.0f} interruptions by failures")
    spares = _metric_stats(summary, "spare_restarts")[0]
    if math.isfinite(spares) and math.isfinite(interruptions) and interruptions > 0:
        notes.append(f"{spares / interruptions:.0%} restarted on a hot spare")
    metrics = summary.get("metrics", summary)
    centres = sorted(k for k in metrics if isinstance(k, str) and k.startswith("goodput[centre="))
    if len(centres) > 1:
        # The centres that lose most (lowest goodput), at most three.
        by_centre = [(_metric_stats(summary, key)[0], key) for key in centres]
        worst = sorted((v, k) for v, k in by_centre if math.isfinite(v))[:3]
        for value, key in worst:
            notes.append(f"goodput {split_metric(key)[1]['centre']}: {100 * value:.1f} %")
    # Head room above the tallest bar for its label and the notes.
    ax.set_ylim(0, max(float(np.max(values + err[1])), 1.0) * (1.3 + 0.11 * len(notes)))
    if notes:
        ax.text(
            0.02,
            0.98,
            "\n".join(notes),
            transform=ax.transAxes,
            ha="left",
            va="top",
            fontsize=NOTE_SIZE,
            color="0.3",
        )
    if right is not None and utilisation is not None:
        _plot_out_of_service(right, utilisation, warmup_h=warmup_h)
    return ax


def _card_hours(value: float, _pos: object = None) -> str:
    size = abs(value)
    if size >= 1e9:
        return f"{value / 1e9:g} G"
    if size >= 1e6:
        return f"{value / 1e6:g} M"
    if size >= 1e3:
        return f"{value / 1e3:g} k"
    return f"{value:g}"


def _plot_out_of_service(ax: Axes, utilisation: pd.DataFrame, *, warmup_h: float) -> None:
    """Cards in repair (solid) and maintenance (dashed) per centre and time bin."""
    _decorate(ax, "Cards in repair and maintenance, by centre", "Date", "Cards (bin mean)")
    ax.title.set_fontsize(TITLE_SIZE - 2)
    kinds = [
        (c, label, style)
        for c, label, style in (
            ("repair_cards", "in repair", "-"),
            ("maintenance_cards", "in maintenance", "--"),
        )
        if c in utilisation.columns
    ]
    if utilisation.empty or not kinds:
        _no_data(ax, "no repair or maintenance records")
        return
    rep = ["replication"] if "replication" in utilisation.columns else []
    columns = [c for c, _, _ in kinds]
    by_centre = utilisation.groupby(rep + ["date", "centre"], as_index=False, sort=True)[
        columns
    ].sum()
    n_rep = _n_replications(utilisation)
    handles: list[Line2D | Patch] = []
    warm = _shade_warmup(ax, _scenario_start(utilisation, "bin_start_h"), warmup_h)
    if warm is not None:
        handles.append(warm)
    centres = list(dict.fromkeys(utilisation["centre"]))
    for i, centre in enumerate(centres):
        rows = by_centre[by_centre["centre"] == centre]
        for column, label, style in kinds:
            if not (rows[column] > 0).any():
                continue
            mean, low, high = _mean_and_range(rows, "date", column)
            (line,) = ax.plot(
                mean.index,
                mean.to_numpy(),
                color=_colour(i),
                linestyle=style,
                lw=1.4,
                label=f"{centre}: {label}",
            )
            handles.append(line)
            if n_rep > 1:
                ax.fill_between(
                    mean.index, low.to_numpy(), high.to_numpy(), color=_colour(i), alpha=0.18
                )
    if not any(isinstance(h, Line2D) for h in handles):
        _no_data(ax, "no card was in repair or maintenance")
        return
    if n_rep > 1:
        handles.append(Patch(color="0.6", alpha=0.35, label=f"range over {n_rep} replications"))
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    _date_axis(ax)
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=LEGEND_SIZE,
        frameon=False,
    )


__all__ += ["LOSS_CAUSES", "plot_failures", "run_has_failures"]
