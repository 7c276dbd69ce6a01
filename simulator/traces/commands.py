"""The ``lingang-sim traces`` commands: ``import`` to Parquet, ``inspect`` and ``replay`` a trace.

``traces import FILE [--format F] [--out OUT.parquet] [--on-bad error|skip] [--force]``
reads a trace into the normalised job table (:mod:`simulator.traces.schema`) and writes
it as Parquet, with the table's ``attrs`` (format, header, skipped counts ...) in the
file's metadata. The file is written under a temporary name in the destination folder
and then renamed, so a reader never sees a half-written file; an existing file is
replaced only with ``--force``. The default output is ``<trace name>.parquet`` in the
current folder.

``traces inspect FILE [--format F] [--capacity CARDS]`` prints counts, time span, job
sizes, durations, offered load and recorded waits (:mod:`simulator.traces.inspect`) as
tables. FILE may be a trace or a Parquet file written by ``import``.

``traces replay FILE [--format F] [--policy P] [--capacity CARDS] [--start-day D]
[--span-days D] [--on-bad error|skip] [--estimates trace|exact] [--too-large
error|skip|clamp] [--arrival-scale X] [--size-scale X] [--out DIR] [--force]`` replays
the trace on one machine of CARDS cards (default the header's ``MaxProcs``) under the
queue policy P (:func:`simulator.traces.replay_scenario.replay_scenario`) and prints the
simulated against the recorded waits (mean, median, p95, p99), mean bounded slowdown and
utilisation (:mod:`simulator.traces.validation`). With ``--out`` it writes
``DIR/waits.csv`` (one row per job, simulated and recorded wait), ``DIR/comparison.csv``
(the printed table) and ``DIR/wait-ecdf.png`` (both ECDFs); each file is written under a
temporary name and renamed, and existing files are replaced only with ``--force``.

Errors are :class:`simulator.errors.LingangSimError` subclasses (``TraceError``, and
``OutputError`` for an existing output without ``--force``); they propagate to the main
CLI, which prints the message and exits with status 2.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

import click
import pandas as pd
from rich.console import Console
from rich.table import Table

from simulator.errors import OutputError
from simulator.traces import FORMATS, read_trace
from simulator.traces.inspect import summarise
from simulator.traces.schema import ON_BAD_CHOICES, OnBad

_TRACE_SUFFIXES = (".gz", ".swf", ".csv", ".txt", ".log")


def default_output(trace: Path) -> Path:
    """``<trace name without .gz/.swf/.csv>.parquet`` in the current folder."""
    name = trace.name
    for _ in range(2):
        for suffix in _TRACE_SUFFIXES:
            name = name.removesuffix(suffix)
    return Path.cwd() / f"{name or 'trace'}.parquet"


def write_table(frame: pd.DataFrame, out: Path, *, force: bool = False) -> Path:
    """Write a normalised table to Parquet atomically.

    The table goes to a temporary file in the destination folder, which is then renamed
    over ``out`` (``os.replace``), so ``out`` is either the old file or the complete new
    one.

    Args:
        frame: the table (its ``attrs`` are stored in the Parquet metadata).
        out: the destination file.
        force: replace an existing ``out``.

    Returns:
        The destination path.

    Raises:
        OutputError: ``out`` exists and ``force`` is False, or its folder does not exist.
    """
    if out.exists() and not force:
        raise OutputError(f"{out}: the file exists; pass --force to replace it")
    if out.is_dir():
        raise OutputError(f"{out}: is a folder; give a file name ending in .parquet")
    if not out.parent.is_dir():
        raise OutputError(f"{out}: the folder {out.parent} does not exist")
    tmp = out.parent / f".{out.name}.{os.getpid()}.tmp"
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


def _counts_table(title: str, attrs: Mapping[Any, Any]) -> Table | None:
    """Rows dropped or repaired, by reason; None when there are none."""
    table = Table(title=title, title_justify="left")
    table.add_column("kind")
    table.add_column("reason")
    table.add_column("rows", justify="right")
    for kind in ("skipped", "filtered", "clamped"):
        for reason, count in sorted(attrs.get(kind, {}).items()):
            table.add_row(kind, reason, f"{count:,}")
    if attrs.get("reordered"):
        table.add_row(
            "reordered", "submit time earlier than a row above (sorted)", f"{attrs['reordered']:,}"
        )
    return table if table.row_count else None


def _dur(seconds: float | None) -> str:
    """Seconds with a readable unit: ``5,400 s (1.5 h)``."""
    if seconds is None:
        return "-"
    if abs(seconds) >= 86400:
        extra = f" ({seconds / 86400:.1f} d)"
    elif abs(seconds) >= 3600:
        extra = f" ({seconds / 3600:.1f} h)"
    elif abs(seconds) >= 60:
        extra = f" ({seconds / 60:.1f} min)"
    else:
        extra = ""
    return f"{seconds:,.0f} s{extra}"


def _n(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


@click.group(name="traces")
def traces() -> None:
    """Read public job traces (SWF, Helios, Philly, ITP, openb), inspect and replay them."""


@traces.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", *FORMATS]),
    default="auto",
    show_default=True,
    help="Trace format; 'auto' recognises it from the content.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Parquet file to write [default: <trace name>.parquet in the current folder].",
)
@click.option(
    "--on-bad",
    type=click.Choice(ON_BAD_CHOICES),
    default="error",
    show_default=True,
    help="Bad rows: 'error' stops at the first one; 'skip' drops and counts them.",
)
@click.option(
    "--gpu-only/--all-jobs",
    default=True,
    show_default=True,
    help="Helios/openb: keep only jobs with GPUs (CPU jobs are counted as filtered).",
)
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def import_trace(
    file: Path, fmt: str, out: Path | None, on_bad: str, gpu_only: bool, force: bool
) -> None:
    """Read the trace FILE into the normalised job table and write it as Parquet."""
    out_path = out if out is not None else default_output(file)
    if out_path.exists() and not force:
        raise OutputError(f"{out_path}: the file exists; pass --force to replace it")
    if not out_path.parent.is_dir():
        raise OutputError(f"{out_path}: the folder {out_path.parent} does not exist")
    frame = read_trace(file, fmt, on_bad=cast(OnBad, on_bad), gpu_only=gpu_only)
    write_table(frame, out_path, force=force)
    attrs = frame.attrs
    console = Console()
    skipped = sum(attrs["skipped"].values())
    console.print(
        f"Imported [bold]{len(frame):,}[/bold] jobs from {file} (format {attrs['format']}) "
        f"to {out_path}; {attrs['rows_read']:,} rows read, {skipped:,} skipped, "
        f"{sum(attrs['filtered'].values()):,} filtered, {attrs['reordered']:,} reordered."
    )
    table = _counts_table("Rows skipped, filtered, clamped or reordered", attrs)
    if table is not None:
        console.print(table)


@traces.command("inspect")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", *FORMATS, "parquet"]),
    default="auto",
    show_default=True,
    help="Trace format; 'auto' recognises it (Parquet files from 'import' included).",
)
@click.option(
    "--capacity",
    type=click.IntRange(min=1),
    default=None,
    help="Cards in the machine, for the offered load [default: the trace's MaxProcs].",
)
@click.option(
    "--on-bad",
    type=click.Choice(ON_BAD_CHOICES),
    default="error",
    show_default=True,
    help="Bad rows: 'error' stops at the first one; 'skip' drops and counts them.",
)
@click.option(
    "--gpu-only/--all-jobs",
    default=True,
    show_default=True,
    help="Helios/openb: keep only jobs with GPUs.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def inspect_command(
    file: Path,
    fmt: str,
    capacity: int | None,
    on_bad: str,
    gpu_only: bool,
    as_json: bool,
) -> None:
    """Print summary statistics of the trace (or imported Parquet table) FILE."""
    frame = read_trace(file, fmt, on_bad=cast(OnBad, on_bad), gpu_only=gpu_only)
    summary = summarise(frame, capacity)
    console = Console()
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return

    time = summary["time"]
    overview = Table(title=f"Trace {file}", title_justify="left", show_header=False)
    overview.add_column("item")
    overview.add_column("value")
    overview.add_row("format", str(summary["format"]))
    overview.add_row("jobs", f"{summary['jobs']:,}")
    if summary["rows_read"] is not None:
        overview.add_row("rows read", f"{summary['rows_read']:,}")
    overview.add_row("epoch (time 0)", str(time["epoch"]))
    overview.add_row("first submit", _dur(time["first_submit_s"]))
    overview.add_row("last submit", _dur(time["last_submit_s"]))
    overview.add_row("span (first to last submit)", _dur(time["span_s"]))
    overview.add_row("last recorded end", _dur(time["last_end_s"]))
    overview.add_row("card-hours", _n(summary["card_hours"]))
    cap = summary["capacity"]
    if cap["cards"]:
        overview.add_row("capacity (cards)", f"{cap['cards']:,} ({cap['source']})")
        overview.add_row("offered load", _n(summary["offered_load"], 3))
    else:
        overview.add_row("offered load", "- (no capacity: pass --capacity)")
    overview.add_row("users / tenants", f"{summary['users']:,} / {summary['tenants']:,}")
    overview.add_row("status", ", ".join(f"{k} {v:,}" for k, v in summary["status"].items() if v))
    est = summary["estimate"]
    overview.add_row(
        "estimates",
        f"{est['jobs']:,} jobs; median estimate/run {_n(est['median_estimate_over_run'], 2)}",
    )
    console.print(overview)

    counts = _counts_table("Rows skipped, filtered, clamped or reordered", frame.attrs)
    if counts is not None:
        console.print(counts)

    c = summary["cards"]
    sizes = Table(
        title=(
            f"Job size (cards): mean {_n(c['mean'], 2)}, p50 {_n(c['p50'])}, "
            f"p90 {_n(c['p90'])}, p99 {_n(c['p99'])}, max {_n(c['max'])}"
        ),
        title_justify="left",
    )
    for name in ("size", "jobs", "share of jobs", "card-hours", "share of card-hours"):
        sizes.add_column(name, justify="left" if name == "size" else "right")
    for row in summary["size_classes"]:
        sizes.add_row(
            row["size"],
            f"{row['jobs']:,}",
            "-" if row["job_share"] is None else f"{row['job_share']:.1%}",
            _n(row["card_hours"]),
            "-" if row["card_hour_share"] is None else f"{row['card_hour_share']:.1%}",
        )
    console.print(sizes)

    durations = Table(title="Durations and recorded waits", title_justify="left")
    durations.add_column("statistic")
    durations.add_column("run time", justify="right")
    durations.add_column("recorded wait", justify="right")
    run = summary["run_s"]
    wait = summary["wait_s"] or {}
    for key in ("mean", "p10", "p50", "p90", "p95", "p99", "max"):
        if key in run or key in wait:
            durations.add_row(key, _dur(run.get(key)), _dur(wait.get(key)))
    console.print(durations)
    if summary["wait_s"] is None:
        console.print("Recorded waits: not in this trace.")
    else:
        console.print(f"Recorded waits: {summary['wait_s']['jobs']:,} jobs with a recorded start.")


REPLAY_FILES = ("waits.csv", "comparison.csv", "wait-ecdf.png")

_ROW_LABELS = {
    "jobs": ("jobs with a wait", "{:,.0f}"),
    "mean_wait_h": ("mean wait", "h"),
    "median_wait_h": ("median wait", "h"),
    "p95_wait_h": ("p95 wait", "h"),
    "p99_wait_h": ("p99 wait", "h"),
    "mean_bsld": ("mean bounded slowdown", "{:,.1f}"),
    "utilisation": ("utilisation (first submit to last end)", "{:.1%}"),
}


def _cell(value: float, unit: str) -> str:
    if not math.isfinite(value):
        return "-"
    if unit == "h":
        return _dur(value * 3600.0)
    return unit.format(value)


def _replace_file(out: Path, write: Callable[[Path], None]) -> None:
    """Write ``out`` through a temporary file in its folder, then rename it."""
    tmp = out.parent / f".{out.name}.{os.getpid()}.tmp{out.suffix}"
    try:
        write(tmp)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@traces.command("replay")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", *FORMATS, "parquet"]),
    default="auto",
    show_default=True,
    help="Trace format; 'auto' recognises it from the content.",
)
@click.option(
    "--policy",
    default="easy_backfill",
    show_default=True,
    help="Queue policy (see 'lingang-sim policies'), e.g. easy_backfill or fifo.",
)
@click.option(
    "--capacity",
    type=click.IntRange(min=1),
    default=None,
    help="Cards (processors or GPUs) in the machine [default: the trace's MaxProcs].",
)
@click.option(
    "--start-day",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Window start, days after the trace's first submit.",
)
@click.option(
    "--span-days",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Window length in days [default: to the last submit].",
)
@click.option(
    "--on-bad",
    type=click.Choice(ON_BAD_CHOICES),
    default="error",
    show_default=True,
    help="Bad rows: 'error' stops at the first one; 'skip' drops and counts them.",
)
@click.option(
    "--estimates",
    type=click.Choice(["trace", "exact"]),
    default="trace",
    show_default=True,
    help="Run-time estimates the scheduler sees: the users' requests, or exact run times.",
)
@click.option(
    "--too-large",
    type=click.Choice(["error", "skip", "clamp"]),
    default="error",
    show_default=True,
    help="Jobs larger than the machine: stop, leave them out, or shrink them to fit.",
)
@click.option(
    "--arrival-scale",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Arrival-rate multiplier (submit gaps are divided by it).",
)
@click.option(
    "--size-scale",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Job-size multiplier (rounded up to whole cards).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for waits.csv, comparison.csv and wait-ecdf.png.",
)
@click.option("--force", is_flag=True, help="Replace existing files in OUT.")
def replay_command(
    file: Path,
    fmt: str,
    policy: str,
    capacity: int | None,
    start_day: float,
    span_days: float | None,
    on_bad: str,
    estimates: str,
    too_large: str,
    arrival_scale: float,
    size_scale: float,
    out: Path | None,
    force: bool,
) -> None:
    """Replay the trace FILE on its machine and compare simulated with recorded waits."""
    from simulator.traces import validation
    from simulator.traces.replay_scenario import replay_scenario, run_replay

    if out is not None and not force:
        existing = [name for name in REPLAY_FILES if (out / name).exists()]
        if existing:
            raise OutputError(
                f"{out}: {', '.join(existing)} exist(s); pass --force to replace them"
            )
    scenario = replay_scenario(
        file,
        format=fmt,
        policy=policy,
        capacity=capacity,
        start_day=start_day,
        span_days=span_days,
        on_bad=cast(Any, on_bad),
        estimates=cast(Any, estimates),
        too_large=cast(Any, too_large),
        arrival_scale=arrival_scale,
        size_scale=size_scale,
    )
    run = run_replay(scenario)
    jobs = run.jobs
    comparison = validation.comparison_table(jobs, run.capacity)
    console = Console()
    counts = run.counts
    adjusted = ", ".join(
        f"{k.replace('_', ' ')} {v:,}" for k, v in counts.items() if k.startswith("too_large")
    )
    console.print(
        f"Replayed [bold]{len(jobs):,}[/bold] jobs of {file} on {run.capacity:,} cards "
        f"under {policy} ({estimates} estimates) in {run.wall_s:.1f} s; "
        f"horizon {scenario.horizon_days:,.1f} days" + (f"; {adjusted}" if adjusted else "") + "."
    )
    if run.unfinished:
        console.print(
            f"[bold]Warning:[/bold] {run.unfinished:,} jobs had not finished at the horizon; "
            f"their waits are missing or cut short."
        )
    if arrival_scale != 1.0:
        console.print(
            "Note: with --arrival-scale the recorded waits belong to the original arrivals."
        )
    table = Table(title="Simulated vs recorded", title_justify="left")
    table.add_column("statistic")
    table.add_column("simulated", justify="right")
    table.add_column("recorded", justify="right")
    table.add_column("simulated / recorded", justify="right")
    numbers = comparison[["simulated", "recorded", "ratio"]].to_numpy(dtype=float)
    rows = list(comparison.index)
    for key, (label, unit) in _ROW_LABELS.items():
        sim_value, recorded_value, ratio = (float(x) for x in numbers[rows.index(key)])
        table.add_row(
            label,
            _cell(sim_value, unit),
            _cell(recorded_value, unit),
            f"{ratio:.2f}" if math.isfinite(ratio) else "-",
        )
    console.print(table)
    if not jobs["recorded_wait_h"].notna().any():
        console.print("Recorded waits: not in this trace.")
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    _replace_file(out / "waits.csv", lambda p: jobs.to_csv(p, index=False))
    _replace_file(out / "comparison.csv", lambda p: comparison.to_csv(p))
    ax = validation.plot_wait_comparison(
        jobs["sim_wait_h"],
        jobs["recorded_wait_h"],
        where=f"{file.name}, {policy}, {run.capacity:,} cards",
    )
    figure = ax.get_figure(root=True)
    assert figure is not None
    _replace_file(out / "wait-ecdf.png", lambda p: figure.savefig(p, dpi=120, format="png"))
    console.print(f"Wrote {', '.join(str(out / n) for n in REPLAY_FILES)}.")


def _attach_fit() -> None:
    from simulator.traces.fit_commands import add_fit_command

    add_fit_command(traces)


_attach_fit()
