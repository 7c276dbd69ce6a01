"""The ``lingang-sim traces fit`` command: fit a scenario job class to one or more traces.

``traces fit TRACE... --name NAME [--format F] [--min-cards N] [--max-cards N]
[--capacity CARDS] [--start-day D] [--span-days D] [--max-sizes K] [--on-bad error|skip]
[--out block.yaml] [--report report.json] [--figure fit.png] [--force]``

reads the traces (several files of one format are stacked, e.g. the ITP clusters; see
:func:`simulator.traces.fit.combine_tables`), optionally keeps a window of it, fits a job
class to the jobs of the card range (:func:`simulator.traces.fit.fit_job_class`) and
prints the class as YAML, with a header comment naming the traces and the fit statistics
(:func:`simulator.traces.fit.block_yaml`), or writes it to ``--out``. ``--report`` writes
the fit report as JSON; ``--figure`` draws the fitted against the empirical distributions
(:func:`simulator.traces.fit.plot_fit`) to a PNG, SVG or PDF file.

Existing output files are replaced only with ``--force``. Errors are
:class:`simulator.errors.LingangSimError` subclasses (``TraceError`` when the fit cannot
be made, ``OutputError`` for outputs); they propagate to the main CLI, which prints the
message and exits with status 2.

:func:`add_fit_command` adds the command to a click group (the ``traces`` group of the
main CLI, or any group in tests).
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import cast

import click

from simulator.errors import OutputError
from simulator.traces import FORMATS, read_trace
from simulator.traces.fit import (
    DEFAULT_MAX_SIZES,
    block_yaml,
    combine_tables,
    fit_job_class,
    fit_report,
    plot_fit,
    trim_window,
)
from simulator.traces.schema import ON_BAD_CHOICES, OnBad

FIGURE_DPI = 100
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


def _check_output(path: Path | None, force: bool) -> None:
    """Refuse an existing file without ``force``, a folder, or a missing parent folder."""
    if path is None:
        return
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name")
    if path.exists() and not force:
        raise OutputError(f"{path}: the file exists; pass --force to replace it")
    if not path.parent.is_dir():
        raise OutputError(f"{path}: the folder {path.parent} does not exist")


def _write_text(path: Path, text: str) -> None:
    """Write text through a temporary file in the same folder, then rename it."""
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@click.command("fit")
@click.argument("traces", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="Name of the job class (e.g. fine-tuning).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", *FORMATS, "parquet"]),
    default="auto",
    show_default=True,
    help="Trace format; 'auto' recognises it from the content.",
)
@click.option("--min-cards", type=click.IntRange(min=1), default=None, help="Smallest gang size.")
@click.option("--max-cards", type=click.IntRange(min=1), default=None, help="Largest gang size.")
@click.option(
    "--capacity",
    type=click.IntRange(min=1),
    default=None,
    help="Cards of the traced machine, for jobs per card per day [default: the trace's].",
)
@click.option(
    "--start-day",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Fit only jobs submitted from this many days after the first submit.",
)
@click.option(
    "--span-days",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Length of the window in days [default: to the last submit].",
)
@click.option(
    "--max-sizes",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_SIZES,
    show_default=True,
    help="Most gang sizes in the fitted table (rarer sizes join the nearest kept one).",
)
@click.option(
    "--on-bad",
    type=click.Choice(ON_BAD_CHOICES),
    default="error",
    show_default=True,
    help="Bad rows: 'error' stops at the first one; 'skip' drops and counts them.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the YAML block here instead of printing it.",
)
@click.option(
    "--report",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the fit report (all statistics) as JSON.",
)
@click.option(
    "--figure",
    type=click.Path(path_type=Path),
    default=None,
    help="Draw fitted vs empirical distributions to this image (.png, .svg, .pdf).",
)
@click.option("--force", is_flag=True, help="Replace output files that exist.")
def fit_command(
    traces: tuple[Path, ...],
    name: str,
    fmt: str,
    min_cards: int | None,
    max_cards: int | None,
    capacity: int | None,
    start_day: float,
    span_days: float | None,
    max_sizes: int,
    on_bad: str,
    out: Path | None,
    report: Path | None,
    figure: Path | None,
    force: bool,
) -> None:
    """Fit a scenario job class to the jobs of TRACE(s) and print it as YAML."""
    for path in (out, report, figure):
        _check_output(path, force)
    if figure is not None and figure.suffix.lower() not in FIGURE_SUFFIXES:
        raise OutputError(f"{figure}: the figure must end in one of {', '.join(FIGURE_SUFFIXES)}")
    tables = [read_trace(t, fmt, on_bad=cast(OnBad, on_bad)) for t in traces]
    table = combine_tables(tables)
    if start_day > 0 or span_days is not None:
        table = trim_window(table, start_day, span_days)
    block = fit_job_class(
        table,
        name=name,
        min_cards=min_cards,
        max_cards=max_cards,
        span_days=span_days,
        capacity_cards=capacity,
        max_sizes=max_sizes,
    )
    stats = fit_report(
        table,
        block,
        min_cards=min_cards,
        max_cards=max_cards,
        span_days=span_days,
        capacity_cards=capacity,
    )
    command = _command_line(
        traces, name, fmt, min_cards, max_cards, capacity, start_day, span_days, max_sizes, on_bad
    )
    text = block_yaml(block, stats, command=command)
    if out is None:
        click.echo(text, nl=False)
    else:
        _write_text(out, text)
        click.echo(f"Wrote the class '{name}' to {out}", err=True)
    if report is not None:
        _write_text(report, json.dumps({"block": block, "report": stats}, indent=2) + "\n")
        click.echo(f"Wrote the fit report to {report}", err=True)
    if figure is not None:
        fig = plot_fit(table, block, min_cards=min_cards, max_cards=max_cards, span_days=span_days)
        fig.savefig(figure, dpi=FIGURE_DPI)
        click.echo(f"Wrote the figure to {figure}", err=True)


def _command_line(
    traces: tuple[Path, ...],
    name: str,
    fmt: str,
    min_cards: int | None,
    max_cards: int | None,
    capacity: int | None,
    start_day: float,
    span_days: float | None,
    max_sizes: int,
    on_bad: str,
) -> str:
    """The fit's command line, rebuilt from its parameters (outputs left out)."""
    args = ["lingang-sim", "traces", "fit", *(str(t) for t in traces), "--name", name]
    if fmt != "auto":
        args += ["--format", fmt]
    for option, value in (
        ("--min-cards", min_cards),
        ("--max-cards", max_cards),
        ("--capacity", capacity),
        ("--start-day", start_day or None),
        ("--span-days", span_days),
    ):
        if value is not None:
            args += [option, f"{value:.10g}"]
    if max_sizes != DEFAULT_MAX_SIZES:
        args += ["--max-sizes", str(max_sizes)]
    if on_bad != "error":
        args += ["--on-bad", on_bad]
    return shlex.join(args)


def add_fit_command(group: click.Group) -> click.Command:
    """Add the ``fit`` command to a click group and return it.

    Args:
        group: the group, e.g. ``simulator.traces.commands.traces``.
    """
    group.add_command(fit_command)
    return fit_command


if __name__ == "__main__":
    fit_command(prog_name="lingang-sim traces fit")
