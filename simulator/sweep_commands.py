"""The ``sweep`` and ``plan`` commands of ``lingang-sim`` (registered on the main group).

``sweep SWEEP.yaml`` runs every cell of a sweep file that its folder does not hold yet
and writes the sweep's tables, summary and figures (see :mod:`simulator.sweep`); the
exit status is 0 when every cell is done, 1 when some failed (rerun to retry them), and
2 on bad input. ``plan SCENARIO --target ... --vary ... --range LO:HI`` finds the
smallest (or largest) value meeting a target (see :mod:`simulator.plan`).

Both take the same executor switch: local processes by default (``--workers``), a Dask
``LocalCluster`` with ``--executor dask-local``, or an existing Dask scheduler with
``--scheduler tcp://host:8786`` (or the ``DASK_SCHEDULER_ADDRESS`` environment variable).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from simulator.executors import DEFAULT_CONNECT_TIMEOUT_S, EXECUTOR_KINDS, Executor, make_executor


class CellsFailed(click.ClickException):
    """Some cells failed; the sweep's outputs hold the others (exit status 1)."""

    exit_code = 1


class NoAnswer(click.ClickException):
    """A plan found no value in its range meeting the target (exit status 1)."""

    exit_code = 1


def _console(quiet: bool) -> Console:
    return Console(stderr=True, quiet=quiet)


def executor_options(fn: Any) -> Any:
    """The executor switch shared by ``sweep`` and ``plan``."""
    options = [
        click.option(
            "--executor",
            type=click.Choice(EXECUTOR_KINDS),
            default=None,
            help="Where runs go: local processes (default), a Dask LocalCluster "
            "(dask-local) or an existing Dask scheduler (dask; implied by --scheduler).",
        ),
        click.option(
            "--workers",
            type=click.IntRange(min=0),
            default=0,
            show_default=True,
            help="Local processes or LocalCluster workers (0: one per core; 1: serial in "
            "this process); the workers of an existing scheduler are its own.",
        ),
        click.option(
            "--scheduler",
            envvar="DASK_SCHEDULER_ADDRESS",
            metavar="ADDRESS",
            help="Dask scheduler address, e.g. tcp://host:8786 [env: DASK_SCHEDULER_ADDRESS].",
        ),
        click.option(
            "--connect-timeout",
            type=click.FloatRange(min=0.1),
            default=DEFAULT_CONNECT_TIMEOUT_S,
            show_default=True,
            help="Seconds to try reaching the Dask scheduler.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def build_executor(
    executor: str | None, workers: int, scheduler: str | None, connect_timeout: float
) -> Executor:
    """Resolve the executor switch (``--scheduler`` implies ``dask``).

    An address from the environment is used only when no other executor is asked for.
    """
    ctx = click.get_current_context(silent=True)
    from_env = (
        ctx is not None and ctx.get_parameter_source("scheduler") == ParameterSource.ENVIRONMENT
    )
    if executor is None:
        executor = "dask" if scheduler else "local"
    elif executor != "dask" and scheduler:
        if not from_env:
            raise click.UsageError(f"--scheduler needs --executor dask, not {executor}")
        scheduler = None
    return make_executor(
        executor,
        workers=workers,
        address=scheduler,
        connect_timeout_s=connect_timeout,
    )


set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY.PATH=VALUE",
    help="Override a base scenario value (repeatable), e.g. --set horizon_days=90.",
)


EXAMPLES_SWEEP = """
\b
Examples:
  lingang-sim sweep scenarios/sweeps/toy-policy-sweep.yaml
  lingang-sim sweep my-sweep.yaml --replications 10 --out results/my-sweep
  lingang-sim sweep my-sweep.yaml --executor dask-local --workers 4
  lingang-sim sweep my-sweep.yaml --scheduler tcp://10.0.0.5:8786
\b
Rerunning the same command resumes: finished cells are kept, the rest run.
"""


@click.command(epilog=EXAMPLES_SWEEP)
@click.argument("sweep_file", type=click.Path(dir_okay=False, path_type=Path))
@set_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Sweep folder (default: results/sweep-<name>); an existing one is resumed.",
)
@click.option("--replications", type=click.IntRange(min=1), help="Override the sweep's count.")
@executor_options
@click.option("--no-figures", is_flag=True, help="Skip the figures.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary on the terminal.")
def sweep(
    sweep_file: Path,
    overrides: tuple[str, ...],
    out: Path | None,
    replications: int | None,
    executor: str | None,
    workers: int,
    scheduler: str | None,
    connect_timeout: float,
    no_figures: bool,
    quiet: bool,
) -> None:
    """Run SWEEP_FILE: a base scenario under factor values x replications.

    Each finished cell is stored at once; a rerun skips them. Writes results.parquet and
    results.csv (tidy: factors, replication, metric, value), summary.csv (mean and 95%
    interval per variant), sweep.json and figures/ into the sweep folder.
    """
    from simulator.sweep import default_out_dir, load_sweep, run_sweep

    console = _console(quiet)
    spec = load_sweep(sweep_file, overrides, replications=replications)
    out = out or default_out_dir(spec)
    ex = build_executor(executor, workers, scheduler, connect_timeout)
    console.print(
        f"[bold]{escape(spec.name)}[/]: {len(spec.variants)} variant(s) x "
        f"{spec.replications} replication(s) of {escape(spec.base.name)} "
        f"({spec.spec.mode} of {', '.join(escape(k) for k in spec.factor_keys)})"
    )
    progress = _progress(console)
    state: dict[str, Any] = {}

    def on_start(todo: int, total: int) -> None:
        if todo < total:
            console.print(f"resuming {out}: {total - todo} of {total} cells already done")
        console.print(f"running {todo} cell(s) on {ex.describe()}")
        state["task"] = progress.add_task("cells", total=todo)
        progress.refresh()

    def on_cell(task: Any, status: str) -> None:
        progress.advance(state["task"])
        progress.refresh()
        if status == "failed":
            console.print(
                f"[red]cell failed[/]: {escape(str(task.factors))} replication "
                f"{task.replication} (see {out}/cells/{task.cell_id}.error.json)"
            )

    with progress:
        outcome = run_sweep(
            spec,
            out,
            ex,
            on_start=on_start,
            on_cell=on_cell,
            command="lingang-sim " + " ".join(sys.argv[1:]),
            figures=not no_figures,
        )
    if not quiet:
        _print_sweep(console, spec, outcome)
    if outcome.failed:
        raise CellsFailed(
            f"{len(outcome.failed)} of {outcome.total} cells failed (errors in {out}/cells/"
            f"*.error.json and {out}/sweep.json); rerun the same command to retry them"
        )


def _progress(console: Console) -> Progress:
    # Redrawn after each cell rather than by a refresh thread, so that local worker
    # processes can be forked from a single-threaded driver (see simulator.executors).
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        auto_refresh=False,
        disable=console.quiet or not console.is_terminal,
    )


def _print_sweep(console: Console, spec: Any, outcome: Any) -> None:
    from simulator.sweep import figure_metrics, short_key

    summary = outcome.summary
    metrics = figure_metrics(spec, summary["metric"].unique()) if len(summary) else []
    if metrics:
        table = Table(title=f"{spec.name}: mean [95% CI] across replications")
        for key in spec.factor_keys:
            table.add_column(escape(short_key(key)))
        for metric in metrics:
            table.add_column(escape(metric), justify="right")
        for variant in spec.variants:
            rows = summary[summary["variant"] == variant.index].set_index("metric")
            cells = []
            for metric in metrics:
                if metric not in rows.index:
                    cells.append("")
                    continue
                r = rows.loc[metric]
                text = f"{r['mean']:.4g}"
                if r["n"] >= 2 and r["ci_low"] == r["ci_low"]:
                    text += f" [{r['ci_low']:.3g}, {r['ci_high']:.3g}]"
                cells.append(text)
            table.add_row(*[escape(str(variant.factors[k])) for k in spec.factor_keys], *cells)
        console.print(table)
    console.print(
        f"{outcome.total} cells: {outcome.reused} reused, {outcome.ran} run"
        + (f" ({outcome.corrupt} damaged file(s) rerun)" if outcome.corrupt else "")
        + (f", [red]{len(outcome.failed)} failed[/]" if outcome.failed else "")
        + f"; results in [bold]{escape(str(outcome.out_dir))}[/]"
    )


EXAMPLES_PLAN = """
\b
Examples:
  lingang-sim plan scenarios/lingang-baseline.yaml \\
      --target "p95_wait_h[size>=1024] <= 24" \\
      --vary centres.ct-lingang-phase2.pools.cm384-910c.phases[0].servers \\
      --range 100:2000
  lingang-sim plan scenarios/lingang-baseline.yaml --find largest \\
      --target "wait_h_p95[year=2027] <= 12" \\
      --vary centres.ct-lingang-phase2.pools.cm384-910c.phases[0].date \\
      --range 2026-01-01:2028-01-01
\b
Target: <metric> <op> <number>, op one of <=, <, >=, >; metric a summary key
(wait_h_p95, wait_h_p95[size=>1024], utilisation[year=2027], ...) or an alias
(p95_wait_h[size>=1024], mean_wait_h, ...).
"""


@click.command(epilog=EXAMPLES_PLAN)
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--target", required=True, help='E.g. "p95_wait_h[size>=1024] <= 24".')
@click.option("--vary", required=True, metavar="KEY.PATH", help="The scenario key to vary.")
@click.option(
    "--range", "value_range", required=True, metavar="LO:HI", help="Numbers or ISO dates."
)
@click.option(
    "--find",
    type=click.Choice(["smallest", "largest"]),
    default="smallest",
    show_default=True,
    help="smallest: the target holds above the answer (e.g. servers); largest: below it "
    "(e.g. the latest phase date).",
)
@click.option("--integer", is_flag=True, help="Search integers (implied for integer keys).")
@click.option(
    "--replications",
    type=click.IntRange(min=2),
    help="Replications at first at each value (default: the scenario's, at least 2).",
)
@click.option(
    "--max-replications",
    type=click.IntRange(min=2),
    help="Cap when a value's interval straddles the threshold (default: 4x, at least 10).",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0, min_open=True),
    help="Real values: stop when the bracket is this narrow (default: range/100).",
)
@set_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Store runs (resumable) and write plan.json, evaluations.csv and plan.png here.",
)
@executor_options
@click.option("-q", "--quiet", is_flag=True, help="Only the answer on the terminal.")
def plan(
    scenario: Path,
    target: str,
    vary: str,
    value_range: str,
    find: str,
    integer: bool,
    replications: int | None,
    max_replications: int | None,
    tolerance: float | None,
    overrides: tuple[str, ...],
    out: Path | None,
    executor: str | None,
    workers: int,
    scheduler: str | None,
    connect_timeout: float,
    quiet: bool,
) -> None:
    """Find the smallest (or largest) value of a SCENARIO key that meets a target.

    Every value runs the same replications (common random numbers); a value counts as
    meeting or failing the target only when its 95% confidence interval lies on one side
    of the threshold, with replications added up to a cap while it does not.
    """
    from simulator.plan import goal_seek, parse_target

    console = _console(quiet)
    goal = parse_target(target)
    ex = build_executor(executor, workers, scheduler, connect_timeout)
    console.print(
        f"goal-seek: the {find} {escape(vary)} in {escape(value_range)} with "
        f"{escape(str(goal))}; runs on {ex.describe()}"
    )

    def on_eval(ev: Any) -> None:
        console.print(
            f"  {ev.value!s:>10}: n={len(ev.values):<3d} mean {ev.mean:.4g} "
            f"[{ev.ci_low:.4g}, {ev.ci_high:.4g}] -> {ev.decision}",
            highlight=False,
        )

    result = goal_seek(
        scenario,
        goal,
        vary,
        value_range,
        ex,
        overrides=list(overrides),
        find=find,  # type: ignore[arg-type]
        integer=integer,
        replications=replications,
        max_replications=max_replications,
        tolerance=tolerance,
        out_dir=out,
        on_eval=on_eval,
    )
    low, high = result.bracket()
    if result.answer is None:
        click.echo(f"no answer: {result.message}")
    else:
        click.echo(f"answer: {vary} = {high}")
        if not result.exact:
            edge = low if low is not None else "the range's end"
            click.echo(
                f"  uncertainty: the crossing lies between {edge} and {high}; the values "
                f"between could not be decided by their confidence intervals"
            )
    click.echo(
        f"  {result.message}\n  {result.runs} runs ({result.reused} reused) at "
        f"{len(result.evaluations)} values in {result.wall_s:.1f} s"
    )
    if out is not None:
        click.echo(f"  written to {out}")
    if result.answer is None:
        raise NoAnswer(f"no value of {vary} in {value_range} was shown to meet {goal}")
