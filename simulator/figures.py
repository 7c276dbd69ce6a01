"""Figure files of a results or comparison folder: PNG and SVG in ``figures/``.

``write_figures`` draws every figure the folder's tables allow (the catalogue in
:mod:`simulator.plotting`, chosen by :func:`simulator.report.make_report_figures`), adds
the caption line (scenario, replications, interval level) and saves each as
``figures/<name>.png`` and ``.svg``. ``comparison_figures`` does the same for a
comparison: the forest plot of paired differences and the waits by size class per
scenario.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from simulator import plotting
from simulator.compare import HEADLINE_METRICS
from simulator.results import ExperimentResult
from simulator.scenario.schema import SIZE_CLASSES, Scenario

FORMATS = ("png", "svg")
DPI = 150


def save_figures(folder: Path, figures: Mapping[str, Figure]) -> list[Path]:
    """Save each figure as ``folder/figures/<name>.{png,svg}``; return the paths."""
    out = Path(folder) / "figures"
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures.items():
        for fmt in FORMATS:
            path = out / f"{name}.{fmt}"
            fig.savefig(path, dpi=DPI, format=fmt)
            paths.append(path)
    return paths


def write_figures(folder: Path, scenario: Scenario | None = None) -> dict[str, Figure]:
    """Draw and save the figures of a results folder, with their caption lines."""
    from simulator.report import make_report_figures, read_results_folder

    summary, read_scenario, tables = read_results_folder(folder)
    scenario = scenario or read_scenario
    figures = make_report_figures(summary, scenario, tables)
    # Run figures draw means and ranges over replications, not intervals: say so.
    n = int(summary.get("replications", 1))
    text = plotting.caption_text(
        scenario.name,
        n,
        level=None,
        note="bands: range over replications" if n > 1 else "",
    )
    for fig in figures.values():
        plotting.add_caption(fig, text)
    save_figures(folder, figures)
    return figures


def comparison_figures(
    folder: Path, experiment: ExperimentResult, names: list[str], replications: int
) -> dict[str, Figure]:
    """Forest plot of paired differences and p95 waits by size class per scenario."""
    figures: dict[str, Figure] = {}
    where = f"{names[0]} vs {', '.join(names[1:])}"
    text = plotting.caption_text(" / ".join(names), replications, level=0.95)
    if experiment.paired is not None and len(experiment.paired):
        paired = experiment.paired[experiment.paired["metric"].isin(HEADLINE_METRICS)]
        paired.to_parquet(Path(folder) / "paired.parquet", index=False)
        ax = plotting.plot_forest(paired, metric_order=list(HEADLINE_METRICS), where=where)
        figures["forest"] = _figure_of(ax)
    ax = _waits_by_size(experiment.intervals, names, where)
    figures["wait_by_size"] = _figure_of(ax)
    for fig in figures.values():
        plotting.add_caption(fig, text)
    save_figures(folder, figures)
    return figures


def _figure_of(ax: Axes) -> Figure:
    fig = ax.get_figure(root=True)
    assert isinstance(fig, Figure)
    return fig


def _waits_by_size(intervals: pd.DataFrame, names: list[str], where: str) -> Axes:
    """Grouped bars of mean and p95 wait by size class per scenario, with CI whiskers."""
    fig = Figure(figsize=(10, 4.8), layout="constrained")
    axes = fig.subplots(1, 2, sharey=False)
    sizes = [label for label, _, _ in SIZE_CLASSES]
    x = np.arange(len(sizes))
    width = 0.8 / len(names)
    for ax, stat in zip(axes, ("mean", "p95"), strict=True):
        for i, name in enumerate(names):
            rows = intervals[intervals["scenario"] == name].set_index("metric")
            keys = [f"wait_h_{stat}[size={s}]" for s in sizes]
            mean = np.array([rows["mean"].get(k, np.nan) for k in keys], dtype=float)
            low = np.array([rows["ci_low"].get(k, np.nan) for k in keys], dtype=float)
            high = np.array([rows["ci_high"].get(k, np.nan) for k in keys], dtype=float)
            err = np.vstack([np.clip(mean - low, 0, None), np.clip(high - mean, 0, None)])
            err = np.nan_to_num(err)
            ax.bar(
                x + (i - (len(names) - 1) / 2) * width,
                mean,
                width,
                yerr=err,
                capsize=3,
                label=name,
                color=plotting.OKABE_ITO[i % len(plotting.OKABE_ITO)],
            )
        ax.set_xticks(x, [plotting.size_label(s) for s in sizes])
        ax.set_xlabel("gang size (cards)")
        ax.set_ylabel(f"{stat} wait (hours)")
        ax.set_title(f"{stat} wait by gang size: {where}", fontsize=plotting.TITLE_SIZE - 2)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=plotting.LEGEND_SIZE)
    return axes[0]
