"""The self-contained HTML report of a results folder.

:func:`write_report` reads a results folder and writes ``report.html`` into it, atomically
(a temporary file in the same folder, then :func:`os.replace`). The folder holds:

* ``summary.json``: ``{"schema_version": 1, "scenario", "replications", "seed",
  "metrics": {metric: {"mean", "ci_low", "ci_high", "n"}}, "per_replication": [...],
  "meta": {"version", "command", "created"}}``;
* ``scenario.yaml``: the resolved scenario;
* ``utilisation.parquet``, ``backlog.parquet``, ``capacity.parquet``, each with a
  ``replication`` column, and optionally ``energy.parquet`` (centre, year, energy_mwh,
  cost_cny) and ``paired.parquet`` (a comparison's paired differences);
* the per-job rows in ``jobs/r<replication>.parquet`` (or one ``jobs.parquet``), absent
  when job records were not kept. Only the columns the report uses are read, and only
  the first replication when all together exceed :data:`MAX_JOB_ROWS` rows.

A folder without ``summary.json``, or whose summary has another ``schema_version``, is
not a results folder and raises :class:`~simulator.errors.OutputError`.

:func:`render_report_html` builds the page from data already in memory, so it can be
tested without files. The page is one file: CSS inline, figures embedded as base64 PNG,
no script and no external address of any kind. It reads on a laptop screen and prints to
A4. Its sections: the scenario in plain words (fleet by centre and year computed from the
build-out phases, workload, policy, assumptions), the headline answers, every summary
metric with its confidence interval, every figure with a caption, the data behind it, and
a reproducibility footer (version, seed, command).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
from matplotlib.figure import Figure

from simulator import plotting
from simulator.errors import LingangSimError, OutputError
from simulator.scenario import load_scenario
from simulator.scenario.schema import (
    SIZE_CLASSES,
    ConstantDistribution,
    ExponentialDistribution,
    LognormalDistribution,
    Scenario,
    TableDistribution,
)

__all__ = [
    "INTERVAL_LEVEL",
    "REPORT_FILE",
    "SUMMARY_SCHEMA_VERSION",
    "fleet_by_centre_year",
    "make_report_figures",
    "read_results_folder",
    "render_report_html",
    "write_report",
]

REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.json"
SCENARIO_FILE = "scenario.yaml"
SUMMARY_SCHEMA_VERSION = 1
#: The confidence level assumed when ``summary.json`` states no ``interval_level``.
INTERVAL_LEVEL = 0.95
#: Tables a results folder may hold, as ``<name>.parquet`` (jobs also as ``jobs/r<n>.parquet``).
TABLE_NAMES = (
    "jobs",
    "utilisation",
    "backlog",
    "capacity",
    "energy",
    "paired",
    "wait_histogram",
)
#: Columns of the per-job table that the report reads.
JOB_COLUMNS = (
    "replication",
    "job_id",
    "job_class",
    "cards",
    "size_class",
    "submit_h",
    "start_h",
    "end_h",
    "wait_h",
    "centre",
    "state",
    "campaign",
    "work_ref_card_h",
)
#: Above this many job rows over all replications, only the first replication is read.
MAX_JOB_ROWS = 2_000_000
_HOURS_PER_YEAR = 8766.0
_FIGURE_DPI = 150


# --------------------------------------------------------------------------- reading


def _not_a_results_folder(folder: Path, found: str) -> OutputError:
    return OutputError(
        f"{folder} is not a lingang-sim results folder: expected {SUMMARY_FILE} with "
        f'"schema_version": {SUMMARY_SCHEMA_VERSION} (as written by `lingang-sim run --out`), '
        f"but {found}"
    )


def _read_summary(folder: Path) -> dict[str, Any]:
    if not folder.is_dir():
        raise _not_a_results_folder(folder, "the folder does not exist")
    path = folder / SUMMARY_FILE
    if not path.is_file():
        raise _not_a_results_folder(folder, f"there is no {SUMMARY_FILE}")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _not_a_results_folder(folder, f"{SUMMARY_FILE} cannot be read ({exc})") from None
    if not isinstance(summary, dict):
        raise _not_a_results_folder(folder, f"{SUMMARY_FILE} is not a JSON object")
    version = summary.get("schema_version")
    if version != SUMMARY_SCHEMA_VERSION:
        found = "it has none" if version is None else f"it has {version!r}"
        raise _not_a_results_folder(folder, f"{SUMMARY_FILE}'s schema_version: {found}")
    if not isinstance(summary.get("metrics"), dict):
        raise _not_a_results_folder(folder, f'{SUMMARY_FILE} has no "metrics" object')
    return summary


def read_results_folder(
    results_dir: str | Path,
) -> tuple[dict[str, Any], Scenario, dict[str, pd.DataFrame]]:
    """Read the summary, the resolved scenario and the tables of a results folder.

    Args:
        results_dir: the folder.

    Returns:
        The summary (as in ``summary.json``), the scenario, and the tables present, keyed
        by name (a subset of :data:`TABLE_NAMES`).

    Raises:
        OutputError: when the folder is not a results folder (no ``summary.json``, another
            ``schema_version``, no readable ``scenario.yaml``) or a table cannot be read.
    """
    folder = Path(results_dir)
    summary = _read_summary(folder)
    scenario_path = folder / SCENARIO_FILE
    if not scenario_path.is_file():
        raise _not_a_results_folder(folder, f"there is no {SCENARIO_FILE}")
    try:
        scenario = load_scenario(scenario_path)
    except LingangSimError as exc:
        raise OutputError(f"{scenario_path}: the resolved scenario is not valid: {exc}") from None
    tables: dict[str, pd.DataFrame] = {}
    for name in TABLE_NAMES:
        path = folder / f"{name}.parquet"
        if name == "jobs":
            jobs = _read_jobs(folder)
            if jobs is not None:
                tables[name] = jobs
        elif path.is_file():
            tables[name] = _read_parquet(path, name)
    return summary, scenario, tables


def _read_parquet(path: Path, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    try:
        return pd.read_parquet(path, columns=columns)
    except Exception as exc:  # pyarrow raises several unrelated types
        raise OutputError(f"{path}: cannot read the {name} table ({exc})") from None


def _replication_of(path: Path) -> int:
    digits = path.stem[1:]
    return int(digits) if digits.isdigit() else 0


def _read_jobs(folder: Path) -> pd.DataFrame | None:
    """The per-job rows the report needs, from ``jobs/r<n>.parquet`` (or ``jobs.parquet``).

    Only the columns the figures and tables use are read. When all replications together
    exceed :data:`MAX_JOB_ROWS`, only the lowest-numbered replication is read, and the
    frame's ``attrs["subset"]`` says so.
    """
    files = sorted((folder / "jobs").glob("r*.parquet"), key=_replication_of)
    if not files and (folder / "jobs.parquet").is_file():
        files = [folder / "jobs.parquet"]
    if not files:
        return None
    try:
        metadata = [pq.ParquetFile(f) for f in files]
    except Exception as exc:  # pyarrow raises several unrelated types
        raise OutputError(f"{folder / 'jobs'}: cannot read the per-job tables ({exc})") from None
    total = sum(m.metadata.num_rows for m in metadata)
    subset = ""
    if total > MAX_JOB_ROWS and len(files) > 1:
        subset = (
            f"replication {_replication_of(files[0])} only: the {len(files)} replications "
            f"hold {total:,} job rows"
        )
        files, metadata = files[:1], metadata[:1]
    frames = []
    for path, meta in zip(files, metadata, strict=True):
        names = set(meta.schema_arrow.names)
        frames.append(_read_parquet(path, "jobs", [c for c in JOB_COLUMNS if c in names]))
    jobs = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if subset:
        jobs.attrs["subset"] = subset
    return jobs


def write_report(
    results_dir: str | Path,
    *,
    title: str | None = None,
    figures: Mapping[str, Figure] | None = None,
) -> Path:
    """Write ``report.html`` into a results folder.

    Args:
        results_dir: the results folder.
        title: the page title; by default "lingang-sim report: <scenario>".
        figures: figures already drawn from this folder (drawn here when not given).

    Returns:
        The path of the report.

    Raises:
        OutputError: when the folder is not a results folder or cannot be written.
    """
    folder = Path(results_dir)
    summary, scenario, tables = read_results_folder(folder)
    if figures is None:
        figures = make_report_figures(summary, scenario, tables)
    page = render_report_html(summary, scenario, tables, dict(figures), title=title)
    target = folder / REPORT_FILE
    _write_atomically(target, page)
    return target


def _write_atomically(target: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``target``, then rename it over ``target``."""
    try:
        fd, temp_name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
        )
    except OSError as exc:
        raise OutputError(f"{target.parent}: cannot write the report ({exc})") from None
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        temp.chmod(0o644)  # mkstemp makes it private; a report is meant to be shared
        os.replace(temp, target)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise OutputError(f"{target}: cannot write the report ({exc})") from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- figures

#: Figure keys, in report order, with their captions (what is shown and how to read it).
FIGURE_CAPTIONS: dict[str, str] = {
    "utilisation_over_time": (
        "Utilisation (busy card-hours / online card-hours) per time bin (weekly or monthly "
        "means for longer runs, as the axis says), by centre, with the whole fleet dashed. "
        "Numbered dotted lines mark build-out phases, listed under the axes; the hatched "
        "span is the warm-up, excluded from the summary metrics."
    ),
    "utilisation_heatmap": (
        "Utilisation per centre and calendar month, pooled over replications; grey cells "
        "had no card online."
    ),
    "wait_ecdf_by_size": (
        "Share of jobs that waited at most a given time, per gang-size class, for jobs "
        "submitted after the warm-up. The x axis is logarithmic, so zero waits are shown "
        "as the height at which each curve starts (their share is in the legend)."
    ),
    "p95_wait_by_quarter": (
        "95th-percentile wait by calendar quarter of submission and gang-size class. Jobs "
        "still queued at the horizon are not counted, so the last quarter understates the "
        "tail."
    ),
    "backlog": "Card demand of the jobs waiting in the queue, fleet-wide, per time bin.",
    "energy_by_centre_year": (
        "Energy use per centre and calendar year; bar labels give the electricity cost."
    ),
    "campaign_timeline": (
        "Time queued (light) and running (dark) of the campaigns and the largest jobs, "
        "in one replication."
    ),
    "forest": (
        "Paired differences against the baseline (common random numbers) with their "
        "confidence intervals; a filled marker means the interval excludes zero."
    ),
}

#: Figures drawn only when the run has them to show (not listed as missing otherwise):
#: ``failures`` when the scenario has failures or maintenance windows.
CONDITIONAL_FIGURE_CAPTIONS: dict[str, str] = {
    "failures": (
        "Left: card-hours that running jobs lost to each cause (computation since the last "
        "checkpoint redone after a stop, restart overhead, checkpoint writes), with each "
        "cause's share of the busy card-hours; the title gives the goodput (useful / busy "
        "card-hours). Right: cards in repair (solid) and in maintenance (dashed) per centre "
        "and time bin, mean over replications with their range shaded."
    ),
}

_BAND_NOTE = "shaded band: range (min to max) over replications, not a confidence interval"
_FIGURE_INTERVALS: dict[str, str | None] = {
    "utilisation_over_time": _BAND_NOTE,
    "backlog": _BAND_NOTE,
    "forest": "whiskers: {level} confidence intervals (Student t)",
    "failures": "whiskers: {level} confidence intervals (Student t)",
}


def make_report_figures(
    summary: Mapping[str, Any], scenario: Scenario, tables: Mapping[str, pd.DataFrame]
) -> dict[str, Figure]:
    """Draw every figure the tables allow, keyed as in :data:`FIGURE_CAPTIONS`.

    A figure whose table is absent or empty is left out (the report says so). The
    ``failures`` figure (:data:`CONDITIONAL_FIGURE_CAPTIONS`) comes last, and only when
    the scenario has failures or maintenance windows.

    Args:
        summary: the summary (for the scenario name and the interval level).
        scenario: the resolved scenario.
        tables: the tables of the results folder.

    Returns:
        The figures, in report order.
    """
    where = str(summary.get("scenario") or scenario.name)

    def present(name: str) -> pd.DataFrame | None:
        table = tables.get(name)
        return table if table is not None and not table.empty else None

    utilisation = present("utilisation")
    jobs = present("jobs")
    backlog = present("backlog")
    energy = present("energy")
    paired = present("paired")
    drawers: dict[str, Callable[[], Any]] = {}
    if utilisation is not None:
        drawers["utilisation_over_time"] = lambda: plotting.plot_utilisation_over_time(
            utilisation, present("capacity"), warmup_h=scenario.warmup_h, where=where
        )
        drawers["utilisation_heatmap"] = lambda: plotting.plot_utilisation_heatmap(
            utilisation, where=where
        )
    histogram = present("wait_histogram")
    if jobs is not None:
        drawers["wait_ecdf_by_size"] = lambda: plotting.plot_wait_ecdf_by_size(
            jobs, warmup_h=scenario.warmup_h, where=where
        )
        drawers["p95_wait_by_quarter"] = lambda: plotting.plot_p95_wait_by_quarter(
            jobs, scenario.start, warmup_h=scenario.warmup_h, where=where
        )
    elif histogram is not None:
        drawers["wait_ecdf_by_size"] = lambda: plotting.plot_wait_ecdf_from_histogram(
            histogram, where=where
        )
    if backlog is not None:
        drawers["backlog"] = lambda: plotting.plot_backlog(
            backlog, warmup_h=scenario.warmup_h, where=where
        )
    if energy is not None:
        drawers["energy_by_centre_year"] = lambda: plotting.plot_energy_by_centre_year(
            energy, where=where
        )
    if jobs is not None:
        drawers["campaign_timeline"] = lambda: plotting.plot_campaign_timeline(
            jobs, start_date=scenario.start, horizon_h=scenario.horizon_h, where=where
        )
    if paired is not None:
        drawers["forest"] = lambda: plotting.plot_forest(
            paired, level=_interval_level(summary), where=where
        )
    figures = {key: drawers[key]().figure for key in FIGURE_CAPTIONS if key in drawers}
    if scenario.failures is not None or scenario.maintenance:
        figures["failures"] = plotting.plot_failures(
            summary, utilisation, warmup_h=scenario.warmup_h, where=where
        ).figure
    return figures


def _figure_png_base64(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_FIGURE_DPI, metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# --------------------------------------------------------------------------- scenario in words


def fleet_by_centre_year(scenario: Scenario) -> pd.DataFrame:
    """Cards online per centre, pool and year, computed from the build-out phases.

    A year's value is the cards online at its end (31 December), or at the horizon for
    the last year; phases and retirements dated on or after the horizon never happen.

    Args:
        scenario: the scenario.

    Returns:
        A table with columns centre, pool, card_type, year, as_of (date), cards and
        peak_pflops (cards x the card type's peak BF16 TFLOPS / 1000).
    """
    end = scenario.end_date
    rows = []
    for year in range(scenario.start.year, end.year + 1):
        year_end = dt.date(year, 12, 31)
        as_of = min(year_end, end - dt.timedelta(days=1)) if year == end.year else year_end
        if as_of < scenario.start:
            continue
        for centre in scenario.centres:
            for pool in centre.pools:
                servers = sum(p.servers for p in pool.phases if p.date <= as_of and p.date < end)
                servers -= sum(
                    r.servers for r in pool.retirements if r.date <= as_of and r.date < end
                )
                cards = max(servers, 0) * pool.cards_per_server
                tflops = scenario.card_type(pool.card_type).bf16_tflops
                rows.append(
                    {
                        "centre": centre.name,
                        "pool": pool.name,
                        "card_type": pool.card_type,
                        "year": year,
                        "as_of": as_of,
                        "cards": cards,
                        "peak_pflops": cards * tflops / 1000.0,
                    }
                )
    return pd.DataFrame(
        rows, columns=["centre", "pool", "card_type", "year", "as_of", "cards", "peak_pflops"]
    )


def _describe_distribution(dist: Any, unit: str = "") -> str:
    suffix = f" {unit}" if unit else ""
    if isinstance(dist, TableDistribution):
        values = [v for v, w in zip(dist.values, dist.weights, strict=True) if w > 0]
        shown = ", ".join(f"{v:g}" for v in values[:8]) + (", …" if len(values) > 8 else "")
        return f"one of {shown}{suffix} (mean {dist.mean:.3g})"
    if isinstance(dist, LognormalDistribution):
        text = f"lognormal, median {dist.median:g}{suffix}, σ {dist.sigma:g}"
        bounds = []
        if dist.min is not None:
            bounds.append(f"min {dist.min:g}")
        if dist.max is not None:
            bounds.append(f"max {dist.max:g}")
        return text + (f" ({', '.join(bounds)})" if bounds else "")
    if isinstance(dist, ExponentialDistribution):
        return f"exponential, mean {dist.mean:g}{suffix}"
    if isinstance(dist, ConstantDistribution):
        return f"always {dist.value:g}{suffix}"
    return str(dist)


_WORK_UNITS = {
    "ref_hours": ("run time on reference cards", "h"),
    "card_hours": ("total reference-card-hours", "card-h"),
    "flop": ("total compute", "FLOP"),
}


def _campaign_ideal_days(scenario: Scenario, campaign: Any, card_type: str) -> float:
    card = scenario.card_type(card_type)
    mfu = campaign.mfu if campaign.mfu is not None else card.mfu
    flop_per_s = campaign.cards * card.bf16_tflops * 1e12 * mfu
    return campaign.flop / flop_per_s / 86400.0


# --------------------------------------------------------------------------- HTML helpers


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(
    header: Iterable[str],
    rows: Iterable[Iterable[Any]],
    *,
    table_id: str,
    caption: str | None = None,
    numeric_from: int = 1,
    numeric_until: int | None = None,
    escape: bool = True,
) -> str:
    """An HTML table; columns ``numeric_from`` to ``numeric_until`` (exclusive) are numbers."""
    header = list(header)
    last = len(header) if numeric_until is None else numeric_until
    parts = [f'<table id="{_e(table_id)}">']
    if caption:
        parts.append(f"<caption>{_e(caption)}</caption>")
    cells = "".join(
        f"<th{' class=num' if numeric_from <= i < last else ''}>{_e(h)}</th>"
        for i, h in enumerate(header)
    )
    parts.append(f"<thead><tr>{cells}</tr></thead><tbody>")
    for row in rows:
        tds = []
        for i, cell in enumerate(row):
            text = _e(cell) if escape else str(cell)
            tds.append(f"<td{' class=num' if numeric_from <= i < last else ''}>{text}</td>")
        parts.append(f"<tr>{''.join(tds)}</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _interval_text(metric: str, entry: Mapping[str, Any] | None, *, with_unit: bool = True) -> str:
    """``mean [low, high]`` in the metric's unit, or why there is no interval.

    The unit is written once, after the mean, or not at all when ``with_unit`` is false
    (a table column that names it).
    """
    if not entry or not _is_number(entry.get("mean")):
        return "n/a"
    unit = plotting.metric_unit(metric)

    def value(x: float) -> str:
        text = plotting.format_metric_value(metric, x)
        return text[: -len(unit) - 1] if unit and text.endswith(f" {unit}") else text

    mean = (
        plotting.format_metric_value(metric, entry["mean"]) if with_unit else value(entry["mean"])
    )
    low: Any = entry.get("ci_low")
    high: Any = entry.get("ci_high")
    if _is_number(low) and _is_number(high):
        return f"{mean} [{value(low)}, {value(high)}]"
    n = entry.get("n")
    reason = "one replication" if n == 1 else "not computed"
    return f"{mean} (no interval: {reason})"


def _interval_level(summary: Mapping[str, Any]) -> float:
    """The confidence level the summary states, or the experiment's standard level."""
    level: Any = summary.get("interval_level")
    return float(level) if _is_number(level) and 0 < level < 1 else INTERVAL_LEVEL


def _level_text(summary: Mapping[str, Any]) -> str:
    return f"{_interval_level(summary):.0%}"


def _replications(summary: Mapping[str, Any], scenario: Scenario) -> int:
    n: Any = summary.get("replications")
    return int(n) if _is_number(n) else scenario.replications


# --------------------------------------------------------------------------- sections


def _section_scenario(summary: Mapping[str, Any], scenario: Scenario) -> str:
    n = _replications(summary, scenario)
    fleet = fleet_by_centre_year(scenario)
    total_now = int(fleet[fleet["year"] == fleet["year"].max()]["cards"].sum()) if len(fleet) else 0
    classes = scenario.workload.classes
    campaigns = scenario.workload.campaigns
    start_rate = sum(c.arrival.rate_per_day for c in classes)
    end_rate = sum(
        c.arrival.rate_per_day * c.arrival.growth_per_year ** (scenario.horizon_h / _HOURS_PER_YEAR)
        for c in classes
    )
    growth = (
        f", rising to about {end_rate:,.0f} per day by the horizon"
        if end_rate > start_rate * 1.005
        else ""
    )
    intro = (
        f"<p>{len(scenario.centres)} compute centre{'s' if len(scenario.centres) != 1 else ''} "
        f"({_e(', '.join(c.name for c in scenario.centres))}) with "
        f"{total_now:,} accelerator cards online at the horizon, of "
        f"{len({p.card_type for c in scenario.centres for p in c.pools})} card type(s), are "
        f"simulated from {scenario.start.isoformat()} for {scenario.horizon_days:g} days "
        f"(to {scenario.end_date.isoformat()}). The first {scenario.warmup_days:g} days are a "
        f"warm-up, left out of the statistics. {len(classes)} job class"
        f"{'es' if len(classes) != 1 else ''} submit about {start_rate:,.4g} jobs per day at "
        f"the start{growth}; {len(campaigns)} named training campaign"
        f"{'s' if len(campaigns) != 1 else ''} {'are' if len(campaigns) != 1 else 'is'} "
        f"submitted on {'fixed dates' if len(campaigns) != 1 else 'a fixed date'}. The "
        f"results come from {n} replication{'s' if n != 1 else ''} with independent random "
        f"streams "
        f"from root seed {scenario.seed}.</p>"
    )
    parts = ['<section id="scenario"><h2>1. The scenario in plain words</h2>', intro]
    if scenario.description:
        parts.insert(1, f'<p class="lede">{_e(scenario.description)}</p>')

    # Fleet by centre and year.
    years = sorted(fleet["year"].unique()) if len(fleet) else []
    as_of = {int(y): fleet.loc[fleet["year"] == y, "as_of"].iloc[0] for y in years}
    header = ["Centre / pool (card type)"] + [
        f"{y}"
        if as_of[int(y)].month == 12 and as_of[int(y)].day == 31
        else f"{y} (to {as_of[int(y)]})"
        for y in years
    ]
    rows: list[list[Any]] = []
    for (centre, pool, card), block in fleet.groupby(["centre", "pool", "card_type"], sort=False):
        by_year = block.set_index("year")["cards"]
        rows.append([f"{centre} / {pool} ({card})"] + [f"{int(by_year[y]):,}" for y in years])
    totals = fleet.groupby("year")[["cards", "peak_pflops"]].sum()
    rows.append(["Total cards"] + [f"{int(totals.loc[y, 'cards']):,}" for y in years])
    rows.append(
        ["Total peak BF16 PFLOPS"] + [f"{totals.loc[y, 'peak_pflops']:,.0f}" for y in years]
    )
    parts.append("<h3>Fleet by centre and year</h3>")
    parts.append(
        _table(
            header,
            rows,
            table_id="tbl-fleet",
            caption="Cards online at the end of each year (or at the horizon), from the "
            "build-out phases and retirements.",
        )
    )
    phase_rows = []
    for centre in scenario.centres:
        for pool in centre.pools:
            events = [(p.date, p.servers, p.label, +1) for p in pool.phases] + [
                (r.date, r.servers, r.label, -1) for r in pool.retirements
            ]
            for date, servers, label, sign in sorted(events, key=lambda e: e[0]):
                after = " (after the horizon: not simulated)" if date >= scenario.end_date else ""
                phase_rows.append(
                    [
                        date.isoformat(),
                        f"{centre.name} / {pool.name}",
                        pool.card_type,
                        f"{sign * servers * pool.cards_per_server:+,}",
                        f"{(label or ('build-out' if sign > 0 else 'retirement'))}{after}",
                    ]
                )
    phase_rows.sort(key=lambda r: r[0])
    parts.append(
        _table(
            ["Date", "Centre / pool", "Card type", "Cards", "Phase"],
            phase_rows,
            table_id="tbl-phases",
            caption="Build-out phases and retirements.",
            numeric_from=3,
            numeric_until=4,
        )
    )
    centre_rows = [
        [
            c.name,
            c.operator or "—",
            f"{c.pue:g}",
            "none" if c.power_cap_mw is None else f"{c.power_cap_mw:g} MW",
            ", ".join(
                f"{p.name}: {p.card_type}, {p.cards_per_server} cards/server, "
                f"{p.servers_per_pod} servers/pod"
                for p in c.pools
            ),
        ]
        for c in scenario.centres
    ]
    parts.append(
        _table(
            ["Centre", "Operator", "PUE", "Power cap", "Pools"],
            centre_rows,
            table_id="tbl-centres",
            caption="Centres.",
            numeric_from=2,
            numeric_until=4,
        )
    )
    card_rows = [
        [
            c.name + (" (reference)" if c.name == scenario.reference_card else ""),
            f"{c.bf16_tflops:g}",
            f"{c.mfu:.0%}",
            f"{c.memory_gb:g}",
            f"{c.board_power_w:g}",
            f"{c.idle_power_fraction:.0%}",
            "yes" if c.domestic else "no",
        ]
        for c in scenario.card_types
    ]
    parts.append(
        _table(
            [
                "Card type",
                "Peak BF16 TFLOPS",
                "MFU",
                "Memory (GB)",
                "Board power (W)",
                "Idle draw",
                "Domestic",
            ],
            card_rows,
            table_id="tbl-card-types",
            caption="Card types.",
        )
    )

    # Workload.
    parts.append("<h3>Workload</h3>")
    class_rows = []
    for c in classes:
        what, unit = _WORK_UNITS[c.work.unit]
        growth_text = (
            f"×{c.arrival.growth_per_year:g} per year" if c.arrival.growth_per_year != 1 else "none"
        )
        profiles = [
            name
            for name, profile in (
                ("daily", c.arrival.daily_profile),
                ("weekly", c.arrival.weekly_profile),
            )
            if profile is not None
        ]
        class_rows.append(
            [
                c.name,
                f"{c.arrival.rate_per_day:,.4g}"
                + (f" ({' and '.join(profiles)} profile)" if profiles else ""),
                growth_text,
                _describe_distribution(c.gang_size, "cards"),
                f"{what}: {_describe_distribution(c.work.distribution, unit)}",
                ", ".join(c.card_types) or "any",
                f"{c.priority}",
                ", ".join(c.tenants.names),
            ]
        )
    if class_rows:
        parts.append(
            _table(
                [
                    "Class",
                    "Jobs per day at start",
                    "Growth",
                    "Gang size",
                    "Work",
                    "Card types",
                    "Priority",
                    "Tenants",
                ],
                class_rows,
                table_id="tbl-workload",
                caption="Job classes (Poisson arrivals).",
                numeric_from=99,
            )
        )
    if campaigns:
        campaign_rows = [
            [
                k.name,
                k.submit.isoformat(),
                f"{k.flop:.3g}",
                f"{k.cards:,}",
                ", ".join(k.card_types),
                "; ".join(
                    f"{t}: {_campaign_ideal_days(scenario, k, t):,.1f} d" for t in k.card_types
                ),
                k.tenant,
                f"{k.priority}",
            ]
            for k in campaigns
        ]
        parts.append(
            _table(
                [
                    "Campaign",
                    "Submitted",
                    "FLOP",
                    "Cards",
                    "Card types",
                    "Ideal run time",
                    "Tenant",
                    "Priority",
                ],
                campaign_rows,
                table_id="tbl-campaigns",
                caption="Training campaigns. Ideal run time = FLOP / (cards × peak TFLOPS × "
                "MFU): no waiting, no failures, no restarts.",
                numeric_from=99,
            )
        )

    # Policy.
    def params(spec: Any) -> str:
        if not spec.params:
            return ""
        return " (" + ", ".join(f"{k} = {v}" for k, v in spec.params.items()) + ")"

    module = (
        f", registered by the user's file {_e(scenario.policy.module)}"
        if scenario.policy.module
        else ""
    )
    parts.append("<h3>Policy</h3>")
    parts.append(
        "<p>Queue policy <b>"
        + _e(scenario.policy.name)
        + "</b>"
        + _e(params(scenario.policy))
        + module
        + "; dispatch across centres by <b>"
        + _e(scenario.dispatch.name)
        + "</b>"
        + _e(params(scenario.dispatch))
        + "; jobs of at most one server placed by <b>"
        + _e(scenario.placement.small_jobs.replace("_", " "))
        + "</b>, larger jobs' pod locality <b>"
        + _e(scenario.placement.pod_locality)
        + "</b>.</p>"
    )

    # Assumptions.
    estimate_ranges = sorted({(c.estimate.factor_min, c.estimate.factor_max) for c in classes})
    estimates = "; ".join(f"×{lo:g} to ×{hi:g}" for lo, hi in estimate_ranges) or "n/a"
    assumptions = [
        "Time runs in hours from the start date; a build-out phase adds its servers at "
        "midnight of its date.",
        f"Run times scale with peak BF16 TFLOPS × MFU relative to the reference card "
        f"{_e(scenario.reference_card)}.",
        f"Users' run-time estimates are the true run time times a factor drawn uniformly "
        f"({_e(estimates)}); backfilling sees only the estimate.",
        f"The first {scenario.warmup_days:g} days are a warm-up, left out of the summary metrics.",
        f"Time series are recorded in bins of {scenario.output.timeseries_step_h:g} h.",
        f"Electricity costs {scenario.energy.price_cny_per_kwh:g} CNY per kWh; facility "
        f"energy is IT energy × PUE.",
        f"Confidence intervals are {_level_text(summary)} Student t intervals over independent "
        f"replications.",
    ]
    parts.append("<h3>Assumptions</h3><ul>")
    parts.extend(f"<li>{a}</li>" for a in assumptions)
    parts.append("</ul></section>")
    return "".join(parts)


def _campaign_outcomes(jobs: pd.DataFrame | None) -> list[list[str]]:
    """Per campaign, waiting and running time from the jobs table (days)."""
    rows: list[list[str]] = []
    if jobs is None or "campaign" not in jobs.columns:
        return rows
    campaign_jobs = jobs[jobs["campaign"].fillna("").astype(str) != ""]
    for name, block in campaign_jobs.groupby("campaign", sort=False):
        n = len(block)
        started = block[block["start_h"].notna()]
        done = block[block["end_h"].notna()]

        def spread(values: pd.Series) -> str:
            if values.empty:
                return "—"
            if len(values) == 1 or values.min() == values.max():
                return f"{values.iloc[0]:,.1f} d"
            return f"{values.mean():,.1f} d (range {values.min():,.1f}–{values.max():,.1f})"

        rows.append(
            [
                str(name),
                f"{len(done)} of {n}",
                spread((started["start_h"] - started["submit_h"]) / 24.0),
                spread((done["end_h"] - done["start_h"]) / 24.0),
                spread((done["end_h"] - done["submit_h"]) / 24.0),
            ]
        )
    return rows


class _Metrics:
    """The summary's metrics, found by base name and qualifiers in any order."""

    def __init__(self, metrics: Mapping[str, Any]) -> None:
        self.entries = {k: v for k, v in metrics.items() if isinstance(v, Mapping)}
        self._keys: dict[tuple[str, frozenset[tuple[str, str]]], str] = {}
        for key in self.entries:
            base, qualifiers = plotting.split_metric(key)
            self._keys[(base, frozenset(qualifiers.items()))] = key

    def key(self, base: str, **qualifiers: Any) -> str | None:
        wanted = frozenset((k, str(v)) for k, v in qualifiers.items())
        return self._keys.get((base, wanted))

    def text(self, base: str, *, unit: bool = True, **qualifiers: Any) -> str:
        """``mean [low, high]``, or "—" when the metric is absent or has no value."""
        key = self.key(base, **qualifiers)
        if key is None or not _is_number(self.entries[key].get("mean")):
            return "—"
        return _interval_text(key, self.entries[key], with_unit=unit)

    def values(self, qualifier: str, base_prefix: str = "") -> list[str]:
        """Distinct values of a qualifier, in first-seen order."""
        seen: dict[str, None] = {}
        for key in self.entries:
            base, qualifiers = plotting.split_metric(key)
            if base.startswith(base_prefix) and qualifier in qualifiers:
                seen.setdefault(qualifiers[qualifier])
        return list(seen)

    def sizes(self, base_prefix: str) -> list[str]:
        """Size classes with at least one valued metric under ``base_prefix``."""
        present = set()
        for key, entry in self.entries.items():
            base, qualifiers = plotting.split_metric(key)
            if base.startswith(base_prefix) and _is_number(entry.get("mean")):
                present.add(qualifiers.get("size"))
        return [label for label, _, _ in SIZE_CLASSES if label in present]


def _small_n_note(n: int) -> str:
    if n >= 5:
        return ""
    if n <= 1:
        return (
            " With one replication there is no interval: run more replications before "
            "drawing conclusions."
        )
    return f" With only {n} replications the intervals are wide; run more for decisions."


def _section_answers(
    summary: Mapping[str, Any], scenario: Scenario, tables: Mapping[str, pd.DataFrame]
) -> str:
    metrics = _Metrics(summary.get("metrics") or {})
    n = _replications(summary, scenario)
    rows: list[list[str]] = []

    def answer(question: str, base: str, missing: str, **qualifiers: Any) -> None:
        text = metrics.text(base, **qualifiers)
        rows.append([question, missing if text == "—" else text])

    answer("Fleet utilisation after the warm-up", "utilisation", "not in the summary")
    for year in sorted(metrics.values("year", "utilisation")):
        answer(f"Fleet utilisation in {year}", "utilisation", "—", year=year)
    for centre in scenario.centres:
        if metrics.key("utilisation", centre=centre.name):
            answer(f"Utilisation of {centre.name}", "utilisation", "—", centre=centre.name)
    answer("p95 wait, all jobs", "wait_h_p95", "not in the summary")
    for label, _, high in SIZE_CLASSES:
        if high <= 8:
            answer(
                f"p95 wait, jobs of {plotting.size_label(label)}",
                "wait_h_p95",
                "no such job started",
                size=label,
            )
    answer(
        "p95 wait, jobs of >1024 cards",
        "wait_h_p95",
        "no job of more than 1,024 cards started after the warm-up",
        size=">1024",
    )
    for campaign in scenario.workload.campaigns:
        key = metrics.key("campaign_days", name=campaign.name)
        if key is None:
            rows.append(
                [f"Time to train {campaign.name} (submit → end)", "did not finish by the horizon"]
            )
            continue
        text = metrics.text("campaign_days", name=campaign.name)
        finished: Any = metrics.entries[key].get("n")
        if _is_number(finished) and finished < n:
            text += f" (finished in {int(finished)} of {n} replications)"
        rows.append([f"Time to train {campaign.name} (submit → end)", text])
    answer("Energy use (facility, whole horizon)", "energy_mwh", "not in the summary")
    answer("Electricity cost (whole horizon)", "energy_cost_cny", "not in the summary")
    answer("Jobs still waiting at the horizon", "jobs_waiting_at_horizon", "not in the summary")
    parts = [
        '<section id="answers"><h2>2. Headline answers</h2>',
        f"<p>Means over {n} replication{'s' if n != 1 else ''}, with {_level_text(summary)} "
        f"confidence intervals in brackets.{_small_n_note(n)}</p>",
        _table(["Question", "Answer"], rows, table_id="tbl-answers", numeric_from=1),
    ]
    years = sorted(metrics.values("year", "utilisation"))
    if years:
        by_year = [
            [
                year,
                metrics.text("utilisation", year=year),
                metrics.text("wait_h_p95", size="1", year=year),
                metrics.text("wait_h_p95", size=">1024", year=year),
                metrics.text("energy_mwh", year=year),
            ]
            for year in years
        ]
        parts.append(
            _table(
                ["Year", "Utilisation", "p95 wait, 1 card", "p95 wait, >1024 cards", "Energy"],
                by_year,
                table_id="tbl-answers-by-year",
                numeric_from=1,
                caption="The headline by calendar year (waits of jobs submitted that year "
                "after the warm-up; — where no such job started).",
            )
        )
    if scenario.workload.campaigns:
        outcome = _campaign_outcomes(tables.get("jobs"))
        if outcome:
            parts.append(
                _table(
                    ["Campaign", "Finished runs", "Waiting", "Running", "Submit → end"],
                    outcome,
                    table_id="tbl-campaign-outcomes",
                    caption="Campaigns in the jobs table: mean and range over the "
                    "replications it records.",
                )
            )
        else:
            parts.append(
                "<p class=fine>Campaign waiting and running times: not available "
                "(per-job records were not kept).</p>"
            )
    parts.append("</section>")
    return "".join(parts)


_QUANTILE_COLUMNS = (("mean", "Mean"), ("p50", "p50"), ("p95", "p95"), ("p99", "p99"))
_COUNT_METRICS = (
    "backlog_cards_mean",
    "backlog_jobs_mean",
    "jobs_submitted",
    "jobs_measured",
    "jobs_started",
    "jobs_finished",
    "jobs_running_at_horizon",
    "jobs_waiting_at_horizon",
    "little_L",
    "little_lambda_W",
    "busy_card_h",
    "online_card_h",
)


def _section_metrics(summary: Mapping[str, Any]) -> str:
    metrics = _Metrics(summary.get("metrics") or {})
    level = _level_text(summary)
    parts = [
        '<section id="metrics"><h2>3. Metrics with confidence intervals</h2>',
        f"<p>Each cell is the mean over replications and, in brackets, its {level} "
        "confidence interval (Student t). Waits and completion times count jobs submitted "
        "after the warm-up; every metric, with its key and replication count, is listed "
        'in <a href="#data">the data section</a>.</p>',
    ]
    if not metrics.entries:
        parts.append("<p>The summary holds no metrics.</p></section>")
        return "".join(parts)

    # Utilisation.
    rows = []
    if metrics.key("utilisation"):
        rows.append(["Whole fleet", metrics.text("utilisation")])
    for qualifier, heading in (("centre", "Centre"), ("card_type", "Card type"), ("year", "Year")):
        values = metrics.values(qualifier, "utilisation")
        for value in sorted(values) if qualifier == "year" else values:
            scope: dict[str, Any] = {qualifier: value}
            rows.append([f"{heading} {value}", metrics.text("utilisation", **scope)])
    if rows:
        parts.append("<h3>Utilisation (busy / online card-hours, after the warm-up)</h3>")
        parts.append(
            _table(["Scope", f"Utilisation [{level} CI]"], rows, table_id="tbl-metrics-utilisation")
        )

    # Waits and completion times by size.
    for prefix, heading, table_id in (
        ("wait_h", "Wait from submission to start (h) by job size", "tbl-metrics-wait"),
        ("jct_h", "Job completion time, submission to end (h), by job size", "tbl-metrics-jct"),
    ):
        if not any(metrics.key(f"{prefix}_{q}") for q, _ in _QUANTILE_COLUMNS):
            continue
        with_bsld = prefix == "jct_h" and metrics.key("bsld_mean") is not None
        header = ["Jobs"] + [f"{h} (h)" for _, h in _QUANTILE_COLUMNS]
        header += ["Bounded slowdown, mean"] if with_bsld else []
        rows = []
        for label in [None, *metrics.sizes(prefix)]:
            size: dict[str, Any] = {} if label is None else {"size": label}
            row = ["All sizes" if label is None else plotting.size_label(label)]
            row += [metrics.text(f"{prefix}_{q}", unit=False, **size) for q, _ in _QUANTILE_COLUMNS]
            row += [metrics.text("bsld_mean", **size)] if with_bsld else []
            rows.append(row)
        parts.append(f"<h3>{_e(heading)}</h3>")
        parts.append(_table(header, rows, table_id=table_id))

    # Waits by year, and the p95 wait by size and year.
    years = sorted(metrics.values("year", "wait_h"))
    if len(years) > 1:
        rows = [
            [year]
            + [metrics.text(f"wait_h_{q}", unit=False, year=year) for q, _ in _QUANTILE_COLUMNS]
            for year in years
        ]
        parts.append("<h3>Wait (h) by year of submission</h3>")
        parts.append(
            _table(
                ["Year"] + [f"{h} (h)" for _, h in _QUANTILE_COLUMNS],
                rows,
                table_id="tbl-metrics-wait-year",
            )
        )
        rows = [
            [plotting.size_label(label)]
            + [metrics.text("wait_h_p95", unit=False, size=label, year=year) for year in years]
            for label in metrics.sizes("wait_h")
        ]
        parts.append("<h3>95th-percentile wait (h) by job size and year of submission</h3>")
        parts.append(_table(["Jobs", *years], rows, table_id="tbl-metrics-wait-size-year"))

    # Energy.
    rows = []
    if metrics.key("energy_mwh") or metrics.key("energy_cost_cny"):
        rows.append(
            [
                "Whole fleet",
                metrics.text("energy_mwh", unit=False),
                metrics.text("energy_cost_cny", unit=False),
            ]
        )
    for qualifier, heading in (("centre", "Centre"), ("year", "Year")):
        for value in metrics.values(qualifier, "energy"):
            rows.append(
                [
                    f"{heading} {value}",
                    metrics.text("energy_mwh", unit=False, **{qualifier: value}),
                    metrics.text("energy_cost_cny", unit=False, **{qualifier: value}),
                ]
            )
    if rows:
        parts.append("<h3>Energy and cost (facility, including PUE)</h3>")
        parts.append(
            _table(["Scope", "Energy (MWh)", "Cost (CNY)"], rows, table_id="tbl-metrics-energy")
        )

    # Campaigns.
    names = metrics.values("name", "campaign_days")
    if names:
        rows = [[name, metrics.text("campaign_days", unit=False, name=name)] for name in names]
        parts.append("<h3>Campaigns</h3>")
        parts.append(
            _table(
                ["Campaign", "Time to train, submission to end (d)"],
                rows,
                table_id="tbl-metrics-campaigns",
            )
        )

    # Backlog, counts and checks.
    rows = [
        [plotting.metric_label(base), metrics.text(base)]
        for base in _COUNT_METRICS
        if metrics.key(base) is not None
    ]
    if rows:
        parts.append("<h3>Backlog, job counts and checks</h3>")
        parts.append(_table(["Metric", f"Mean [{level} CI]"], rows, table_id="tbl-metrics-counts"))
    parts.append("</section>")
    return "".join(parts)


def _metric_order(metric: str) -> tuple[str, int, str]:
    base, qualifiers = plotting.split_metric(metric)
    sizes = [label for label, _, _ in SIZE_CLASSES]
    size = qualifiers.get("size")
    return (base, sizes.index(size) + 1 if size in sizes else 0, metric)


def _all_metrics_table(summary: Mapping[str, Any]) -> str:
    metrics = _Metrics(summary.get("metrics") or {})
    rows = [
        [
            plotting.metric_label(key),
            key,
            _interval_text(key, metrics.entries[key]),
            str(metrics.entries[key].get("n", "")),
        ]
        for key in sorted(metrics.entries, key=_metric_order)
    ]
    if not rows:
        return ""
    return "<h3>Every summary metric</h3>" + _table(
        ["Metric", "Key", f"Mean [{_level_text(summary)} CI]", "n"],
        rows,
        table_id="tbl-all-metrics",
        numeric_from=2,
    )


def _section_figures(
    summary: Mapping[str, Any], scenario: Scenario, figures: Mapping[str, Figure]
) -> str:
    n = _replications(summary, scenario)
    name = str(summary.get("scenario") or scenario.name)
    parts = ['<section id="figures"><h2>4. Figures</h2>']
    missing = [key for key in FIGURE_CAPTIONS if key not in figures and key != "forest"]
    for number, (key, figure) in enumerate(figures.items(), start=1):
        interval = _FIGURE_INTERVALS.get(key)
        level = None
        note = ""
        if interval is not None and "{level}" in interval:
            level = _interval_level(summary)
        elif interval is not None:
            note = interval
        caption_line = plotting.caption_text(name, n, level=level, note=note)
        what = FIGURE_CAPTIONS.get(key) or CONDITIONAL_FIGURE_CAPTIONS.get(
            key, key.replace("_", " ").capitalize() + "."
        )
        title = figure.axes[0].get_title(loc="left") if figure.axes else key
        parts.append(
            f'<figure id="fig-{_e(key)}"><img alt="{_e(title)}" '
            f'src="data:image/png;base64,{_figure_png_base64(figure)}">'
            f"<figcaption><b>Figure {number}.</b> {_e(what)} "
            f'<span class="fine">{_e(caption_line)}.</span></figcaption></figure>'
        )
    if missing:
        parts.append(
            "<p class=fine>Not drawn, for lack of the table they need: "
            + _e(", ".join(k.replace("_", " ") for k in missing))
            + ".</p>"
        )
    parts.append("</section>")
    return "".join(parts)


_PER_REPLICATION_COLUMNS = (
    "utilisation",
    "wait_h_mean",
    "wait_h_p95",
    "wait_h_p95[size=1]",
    "wait_h_p95[size=>1024]",
    "jct_h_mean",
    "jobs_finished",
    "jobs_waiting_at_horizon",
    "energy_mwh",
)


def _section_data(summary: Mapping[str, Any], tables: Mapping[str, pd.DataFrame]) -> str:
    parts = ['<section id="data"><h2>5. Data</h2>', _all_metrics_table(summary)]
    per_rep = summary.get("per_replication") or []
    if per_rep:
        columns = [c for c in _PER_REPLICATION_COLUMNS if any(c in r for r in per_rep)]
        rows = []
        for i, record in enumerate(per_rep):
            rows.append(
                [str(record.get("replication", i))]
                + [plotting.format_metric_value(c, record.get(c)) for c in columns]
            )
        parts.append(
            _table(
                ["Replication", *columns],
                rows,
                table_id="tbl-per-replication",
                caption="Headline metrics of each replication.",
            )
        )
    inventory = []
    for name, table in tables.items():
        reps = table["replication"].nunique() if "replication" in table.columns else 1
        subset = table.attrs.get("subset")
        inventory.append(
            [
                name + (f" ({subset})" if subset else ""),
                f"{len(table):,}",
                f"{reps}",
                ", ".join(str(c) for c in table.columns),
            ]
        )
    parts.append(
        _table(
            ["Table", "Rows", "Replications", "Columns"],
            inventory,
            table_id="tbl-data-files",
            caption="Tables read for this report (of the per-job table, only the columns "
            "the report uses).",
            numeric_from=1,
        )
        if inventory
        else "<p>No tables.</p>"
    )
    parts.append("</section>")
    return "".join(parts)


def _footer(summary: Mapping[str, Any], scenario: Scenario) -> str:
    meta: Mapping[str, Any] = summary.get("meta") or {}
    items = [
        ("lingang-sim version", meta.get("version", "unknown")),
        ("Scenario", summary.get("scenario", scenario.name)),
        ("Root seed", summary.get("seed", scenario.seed)),
        ("Replications", _replications(summary, scenario)),
        ("Command", meta.get("command", "unknown")),
        ("Results created", meta.get("created", "unknown")),
        ("Summary schema version", summary.get("schema_version", "")),
    ]
    rows = "".join(f"<dt>{_e(k)}</dt><dd><code>{_e(v)}</code></dd>" for k, v in items)
    return (
        '<footer id="reproduce"><h2>Reproducibility</h2>'
        "<p>Running the same command with the same version and seed gives the same "
        "results, bit for bit.</p>"
        f"<dl>{rows}</dl></footer>"
    )


_CSS = """
:root { --ink: #1b1b1b; --muted: #555; --rule: #d0d0d0; --band: #f4f6f8; --accent: #0072B2; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Helvetica Neue",
  Arial, sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 1.5rem 1.25rem 3rem; }
h1 { font-size: 1.7rem; margin: 0 0 .25rem; }
h2 { font-size: 1.3rem; margin: 2.2rem 0 .6rem; padding-bottom: .2rem;
  border-bottom: 2px solid var(--accent); }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
p.lede { font-size: 1.05rem; color: var(--muted); }
.meta, .fine { color: var(--muted); font-size: .88rem; }
nav ol { columns: 2; margin: .5rem 0 0; padding-left: 1.2rem; }
nav a, nav a:visited { color: var(--accent); text-decoration: none; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; width: auto;
  max-width: 100%; }
caption { caption-side: top; text-align: left; color: var(--muted); font-size: .85rem;
  padding-bottom: .25rem; }
th, td { border-bottom: 1px solid var(--rule); padding: .28rem .6rem; text-align: left;
  vertical-align: top; }
thead th { background: var(--band); border-bottom: 2px solid var(--rule); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:last-child td { border-bottom: 2px solid var(--rule); }
.scroll { overflow-x: auto; }
figure { margin: 1.2rem 0 1.8rem; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { font-size: .9rem; margin-top: .35rem; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
  font-size: .85rem; }
footer { border-top: 1px solid var(--rule); margin-top: 2.5rem; }
footer dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
footer dt { color: var(--muted); }
footer dd { margin: 0; word-break: break-word; }
@media print {
  @page { size: A4; margin: 14mm 12mm; }
  html { font-size: 10pt; }
  body { font-size: 10pt; }
  .scroll { overflow: visible; }
  main { max-width: none; padding: 0; }
  nav { display: none; }
  h2 { page-break-after: avoid; break-after: avoid; }
  h3 { page-break-after: avoid; break-after: avoid; }
  figure, table, tr, dl { page-break-inside: avoid; break-inside: avoid; }
  figure img { max-width: 100%; }
  table { font-size: 8.5pt; }
  a { color: inherit; text-decoration: none; }
}
"""


def render_report_html(
    summary: Mapping[str, Any],
    scenario: Scenario,
    tables: Mapping[str, pd.DataFrame],
    figures: Mapping[str, Figure],
    *,
    title: str | None = None,
) -> str:
    """The report as one self-contained HTML document.

    Args:
        summary: the summary, as in ``summary.json``.
        scenario: the resolved scenario.
        tables: the result tables by name (``jobs``, ``utilisation``, ...); ``jobs``, when
            present, gives the campaigns' time to train.
        figures: the figures by key (see :data:`FIGURE_CAPTIONS`), embedded as PNG in
            the given order.
        title: the page title; by default "lingang-sim report: <scenario>".
        figures: figures already drawn from this folder (drawn here when not given).

    Returns:
        The HTML text.
    """
    name = str(summary.get("scenario") or scenario.name)
    page_title = title or f"lingang-sim report: {name}"
    meta: Mapping[str, Any] = summary.get("meta") or {}
    n = _replications(summary, scenario)
    header = (
        f"<header><h1>{_e(page_title)}</h1>"
        f'<p class="meta">Scenario <b>{_e(name)}</b> · {scenario.start.isoformat()} to '
        f"{scenario.end_date.isoformat()} · {_e(n)} replication{'s' if n != 1 else ''} · "
        f"seed {_e(summary.get('seed', scenario.seed))} · created "
        f"{_e(meta.get('created', 'unknown'))}</p></header>"
    )
    nav = (
        "<nav><ol>"
        '<li><a href="#scenario">The scenario in plain words</a></li>'
        '<li><a href="#answers">Headline answers</a></li>'
        '<li><a href="#metrics">Metrics with confidence intervals</a></li>'
        '<li><a href="#figures">Figures</a></li>'
        '<li><a href="#data">Data</a></li>'
        '<li><a href="#reproduce">Reproducibility</a></li>'
        "</ol></nav>"
    )
    body = "".join(
        [
            header,
            nav,
            _section_scenario(summary, scenario),
            _section_answers(summary, scenario, tables),
            _section_metrics(summary),
            _section_figures(summary, scenario, figures),
            _section_data(summary, tables),
            _footer(summary, scenario),
        ]
    )
    body = body.replace("<table ", '<div class="scroll"><table ').replace(
        "</table>", "</table></div>"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(page_title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )
