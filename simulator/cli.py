"""The ``lingang-sim`` command line.

Commands: ``run`` (simulate a scenario into a results folder), ``compare`` (scenarios or
policies on the same arrivals), ``sweep`` (factors x replications, resumable, local or
Dask), ``plan`` (goal-seek the smallest or largest value meeting a target), ``validate``
(check a scenario without running it), ``report`` (rebuild a folder's HTML report),
``policies`` (list registered policies and dispatch rules) and ``traces`` (import,
inspect, fit and replay job traces). Errors on bad input print one clear message and exit
with status 2.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from simulator import __version__
from simulator.errors import LingangSimError
from simulator.results import RunResult
from simulator.scenario import Scenario, load_scenario

EXAMPLES_RUN = """
\b
Examples:
  lingang-sim run scenarios/lingang-baseline.yaml
  lingang-sim run scenarios/toy-two-centres.yaml --replications 5 --out results/toy
  lingang-sim run my.yaml --set policy.name=fifo --set horizon_days=90 --force
"""


def _console(quiet: bool) -> Console:
    return Console(stderr=True, quiet=quiet)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lingang-sim")
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
def cli(verbose: bool) -> None:
    """Compute-capacity planning simulator for Lingang's AI compute centres."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)


set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY.PATH=VALUE",
    help="Override a scenario value (repeatable), e.g. --set policy.name=fifo.",
)


@cli.command(epilog=EXAMPLES_RUN)
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@set_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Results folder (default: results/<scenario name>).",
)
@click.option("--replications", type=click.IntRange(min=1), help="Override the scenario's count.")
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Local processes for replications (0: one per core).",
)
@click.option("--force", is_flag=True, help="Replace an existing results folder.")
@click.option("--csv", is_flag=True, help="Also write CSV copies of the tables.")
@click.option("--no-report", is_flag=True, help="Skip figures and the HTML report.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary on the terminal.")
def run(
    scenario: Path,
    overrides: tuple[str, ...],
    out: Path | None,
    replications: int | None,
    workers: int,
    force: bool,
    csv: bool,
    no_report: bool,
    quiet: bool,
) -> None:
    """Simulate SCENARIO and write a results folder (summary, tables, figures, report)."""
    from simulator.experiment import run_experiment
    from simulator.output import ResultsFolder

    console = _console(quiet)
    sc = load_scenario(scenario, list(overrides))
    out = out or Path("results") / sc.name
    n = replications or sc.replications
    workers = min(n, workers or os.cpu_count() or 1)
    console.print(
        f"[bold]{sc.name}[/]: {sc.start} + {sc.horizon_days:g} days, {n} replication(s), "
        f"policy {sc.policy.name}, {workers} worker(s)"
    )
    with ResultsFolder(out, force=force) as folder, _progress(console) as progress:
        tracker = _RunTracker(progress, [sc], n)

        def done(result: RunResult) -> None:
            tracker.finished(result)
            logging.getLogger(__name__).info(
                "replication %d: %d jobs in %.1f s",
                result.replication,
                result.meta["jobs"],
                result.meta["wall_s"],
            )

        experiment = run_experiment(
            sc,
            n,
            workers=workers,
            on_done=done,
            jobs_dir=folder.jobs_dir,
            on_progress=tracker.update if not progress.disable else None,
        )
        command = "lingang-sim " + " ".join(sys.argv[1:])
        extra = None if no_report else _figures_and_report(sc)
        folder.write(sc, experiment, command=command, csv=csv, extra=extra)
    if not quiet:
        _print_headline(console, sc, experiment.intervals)
        console.print(f"results written to [bold]{out}[/]")


def _figures_and_report(sc: Scenario) -> Any:
    def extra(folder: Path) -> None:
        from simulator.figures import write_figures
        from simulator.report import write_report

        write_report(folder, figures=write_figures(folder, sc))

    return extra


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[date]}"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=console.quiet or not console.is_terminal,
    )


class _RunTracker:
    """One progress bar per run, showing the simulated date reached."""

    def __init__(self, progress: Progress, scenarios: list[Scenario], replications: int) -> None:
        self.progress = progress
        self.start = {s.name: (s.start, s.horizon_days) for s in scenarios}
        self.tasks = {
            (s.name, r): progress.add_task(
                escape(f"{s.name} r{r}" if len(scenarios) > 1 else f"replication {r}"),
                total=1.0,
                date="waiting",
            )
            for s in scenarios
            for r in range(replications)
        }

    def update(self, scenario: str, replication: int, fraction: float) -> None:
        import datetime as dt

        start, days = self.start[scenario]
        date = start + dt.timedelta(days=fraction * days)
        self.progress.update(
            self.tasks[(scenario, replication)], completed=fraction, date=f"at {date}"
        )

    def finished(self, result: RunResult) -> None:
        task = self.tasks[(result.scenario.name, result.replication)]
        self.progress.update(task, completed=1.0, date="done")


def _print_headline(console: Console, sc: Scenario, intervals: Any) -> None:
    rows = intervals[intervals["scenario"] == sc.name].set_index("metric")
    table = Table(title=f"{sc.name}: headline metrics (mean and 95% CI across replications)")
    table.add_column("metric")
    table.add_column("mean", justify="right")
    table.add_column("95% CI", justify="right")
    wanted = [
        "utilisation",
        "wait_h_mean",
        "wait_h_p50",
        "wait_h_p95",
        "wait_h_p95[size=1]",
        "wait_h_p95[size=>1024]",
        "jct_h_mean",
        "bsld_mean",
        "backlog_cards_mean",
        "jobs_submitted",
        "jobs_waiting_at_horizon",
        "energy_mwh",
    ]
    wanted += [m for m in rows.index if m.startswith("utilisation[year=")]
    wanted += [m for m in rows.index if m.startswith("campaign_days")]
    for metric in wanted:
        if metric not in rows.index:
            continue
        r = rows.loc[metric]
        has_ci = r["n"] >= 2 and r["ci_low"] == r["ci_low"]
        ci = f"[{r['ci_low']:.4g}, {r['ci_high']:.4g}]" if has_ci else ""
        table.add_row(escape(metric), f"{r['mean']:.4g}", ci)
    Console(quiet=console.quiet).print(table)


EXAMPLES_COMPARE = """
\b
Examples:
  lingang-sim compare scenarios/lingang-baseline.yaml scenarios/phase2-delayed.yaml
  lingang-sim compare scenarios/toy-two-centres.yaml --policies fifo,easy_backfill
  lingang-sim compare a.yaml b.yaml --replications 10 --set horizon_days=365
"""


@cli.command(epilog=EXAMPLES_COMPARE)
@click.argument(
    "scenarios", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@click.option("--policies", help="Comma-separated policies to compare on one scenario.")
@set_option
@click.option(
    "--replications",
    type=click.IntRange(min=2),
    help="Replications per scenario (default: the first scenario's, at least 2).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Local processes (0: one per core).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Comparison folder (default: results/compare-<first>).",
)
@click.option("--force", is_flag=True, help="Replace an existing comparison folder.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or table on the terminal.")
def compare(
    scenarios: tuple[Path, ...],
    policies: str | None,
    overrides: tuple[str, ...],
    replications: int | None,
    workers: int,
    out: Path | None,
    force: bool,
    quiet: bool,
) -> None:
    """Run SCENARIOS (or one scenario under several --policies) on the same arrivals.

    Reports each metric's mean with a 95% confidence interval and the paired difference
    against the first scenario (common random numbers), writes comparison.csv,
    summaries.parquet and figures to the comparison folder.
    """
    from simulator.compare import (
        comparison_table,
        default_metrics,
        policy_variants,
        with_common_seed,
    )
    from simulator.experiment import run_experiment
    from simulator.output import ResultsFolder

    console = _console(quiet)
    loaded = [load_scenario(p, list(overrides)) for p in scenarios]
    if policies:
        if len(loaded) != 1:
            raise click.UsageError("--policies compares policies on exactly one scenario")
        loaded = policy_variants(loaded[0], [p.strip() for p in policies.split(",") if p.strip()])
    if len(loaded) < 2:
        raise click.UsageError("give at least two scenarios, or one scenario and --policies")
    loaded = with_common_seed(loaded)
    names = [s.name for s in loaded]
    if len(set(names)) != len(names):
        raise click.UsageError(f"scenario names must differ to be compared: {names}")
    n = replications or max(2, loaded[0].replications)
    out = out or Path("results") / f"compare-{names[0]}"
    workers = min(n * len(loaded), workers or os.cpu_count() or 1)
    console.print(
        f"comparing {', '.join(names)}: {n} replications each, seed {loaded[0].seed}, "
        f"{workers} worker(s)"
    )
    with ResultsFolder(out, force=force) as folder, _progress(console) as progress:
        tracker = _RunTracker(progress, loaded, n)
        experiment = run_experiment(
            loaded,
            n,
            workers=workers,
            keep_runs=False,
            on_done=tracker.finished,
            on_progress=tracker.update if not progress.disable else None,
        )
        metrics = default_metrics(experiment)
        table = comparison_table(experiment, metrics)
        table.to_csv(folder.tmp / "comparison.csv", index=False)
        experiment.summaries.to_parquet(folder.tmp / "summaries.parquet", index=False)
        comparison_table(experiment).to_csv(folder.tmp / "comparison_all_metrics.csv", index=False)
        for sc in loaded:
            (folder.tmp / "scenarios").mkdir(exist_ok=True)
            from simulator.scenario import dump_scenario

            (folder.tmp / "scenarios" / f"{sc.name}.yaml").write_text(
                dump_scenario(sc), encoding="utf-8"
            )
        _comparison_figures(folder.tmp, experiment, names, n)
    if not quiet:
        _print_comparison(table, names)
        console.print(f"comparison written to [bold]{out}[/]")


def _comparison_figures(folder: Path, experiment: Any, names: list[str], n: int) -> None:
    from simulator.figures import comparison_figures

    comparison_figures(folder, experiment, names, n)


def _print_comparison(table: Any, names: list[str]) -> None:
    out = Table(title="mean [95% CI]; difference vs " + names[0] + " [95% CI, paired]")
    out.add_column("metric")
    for name in names:
        out.add_column(escape(name), justify="right")

    def cell(row: Any, first: bool) -> str:
        if row is None:
            return ""
        text = f"{row['mean']:.4g}"
        if row["n"] >= 2 and row["ci_low"] == row["ci_low"]:
            text += f" [{row['ci_low']:.3g}, {row['ci_high']:.3g}]"
        if not first and row["diff_mean"] == row["diff_mean"]:
            low, high = row["diff_ci_low"], row["diff_ci_high"]
            text += f"\nΔ {row['diff_mean']:+.3g} [{low:+.3g}, {high:+.3g}]"
        return text

    for metric, g in table.groupby("metric", sort=False):
        rows = {r["scenario"]: r for _, r in g.iterrows()}
        out.add_row(escape(metric), *[cell(rows.get(n), i == 0) for i, n in enumerate(names)])
    Console().print(out)


@cli.command()
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@set_option
def validate(scenario: Path, overrides: tuple[str, ...]) -> None:
    """Check SCENARIO (and overrides) without running it; print what it describes."""
    from simulator.engine import build_pools, eligible_pools

    sc = load_scenario(scenario, list(overrides))  # builds the policy and dispatch rule too
    pools = build_pools(sc)
    eligible_pools(sc, pools)
    console = Console()
    console.print(f"[green]ok[/]: {scenario} is a valid scenario '{sc.name}'")
    table = Table(title="Cards online by centre at each year end (build-out phases)")
    table.add_column("centre")
    years = list(range(sc.start.year, sc.end_date.year + 1))
    for y in years:
        table.add_column(str(y), justify="right")
    import datetime as dt

    for centre in sc.centres:
        cells = []
        for y in years:
            end = dt.date(y, 12, 31)
            cards = sum(
                ph.servers * p.cards_per_server
                for p in centre.pools
                for ph in p.phases
                if ph.date <= end
            ) - sum(
                rt.servers * p.cards_per_server
                for p in centre.pools
                for rt in p.retirements
                if rt.date <= end
            )
            cells.append(f"{cards:,}")
        table.add_row(centre.name, *cells)
    console.print(table)
    console.print(
        f"workload: {len(sc.workload.classes)} job classes, {len(sc.workload.campaigns)} "
        f"campaigns; policy {sc.policy.name}; dispatch {sc.dispatch.name}; "
        f"{sc.replications} replication(s); seed {sc.seed}"
    )


@cli.command()
@click.argument("results_dir", type=click.Path(file_okay=False, path_type=Path))
def report(results_dir: Path) -> None:
    """Rebuild the figures and HTML report of a results folder."""
    from simulator.figures import write_figures
    from simulator.output import read_summary
    from simulator.report import write_report

    read_summary(results_dir)
    path = write_report(results_dir, figures=write_figures(results_dir))
    click.echo(f"report written to {path}")


@cli.command()
def policies() -> None:
    """List the registered queue policies and dispatch rules with their parameters."""
    import dataclasses

    from simulator.policies.base import _DISPATCH, _POLICIES, known_policies

    known_policies()
    for title, registry in (("queue policies", _POLICIES), ("dispatch rules", _DISPATCH)):
        click.echo(f"{title}:")
        for name in sorted(registry):
            cls = registry[name]
            params = ", ".join(
                f"{f.name}={f.default!r}"
                for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            )
            doc = (cls.__doc__ or "").strip().splitlines()[0]
            click.echo(f"  {name}({params}): {doc}")


def _attach_command_groups() -> None:
    from simulator.sweep_commands import plan, sweep
    from simulator.traces.commands import traces

    for command in (traces, sweep, plan):
        cli.add_command(command)


_attach_command_groups()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning lingang-sim errors into a message and exit 2."""
    try:
        cli.main(args=argv, prog_name="lingang-sim", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except LingangSimError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted; nothing half-written was left behind", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
