"""Compare simulated waits with the waits a trace recorded: statistics, diagnostics, figure.

Everything here works on plain arrays (hours) or on the per-job table of a replay
(:attr:`simulator.traces.replay_scenario.ReplayRun.jobs`, columns ``submit_h``,
``run_h``, ``cards``, ``sim_wait_h``, ``recorded_wait_h``), so it serves any replay.

Definitions (the same for the simulated and the recorded schedule of the same jobs):

* **wait** = start - submit, hours; jobs without a start (never started in the
  simulation, or no recorded start in the trace) are left out and counted.
* **mean / median / p95 / p99**: exact sample statistics (``numpy.quantile``, linear
  interpolation), not the simulator's binned histograms.
* **bounded slowdown** = max(1, (wait + run) / max(run, 10 s)), as in
  :mod:`simulator.metrics`, over jobs with a wait.
* **utilisation** = busy card-hours inside [t0, t1] / (capacity x (t1 - t0)); by
  default t0 is the first submit and t1 the last end of the schedule, so the two
  schedules are measured over their own makespans.
* **fit while waiting**: the share of the waiting job-hours during which the machine
  had at least the job's cards free (sampled on a grid); a scheduler that never idles
  needed processors scores near 0 (EASY scores a little above 0, because a job that
  fits may still wait rather than delay the head's reservation). A recorded share far
  above the simulated one means the real machine had fewer usable processors than its
  nominal size, or rules (reservations, limits, priorities) the simulation lacks.

:func:`plot_wait_comparison` draws both ECDFs on a log axis and returns the axes
(Okabe-Ito colours, no pyplot state, as in :mod:`simulator.plotting`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, PercentFormatter

from simulator.plotting import (
    LABEL_SIZE,
    LEGEND_SIZE,
    NOTE_SIZE,
    OKABE_ITO,
    TICK_SIZE,
    TITLE_SIZE,
    format_hours,
)

BSLD_THRESHOLD_H = 10.0 / 3600.0
#: Statistics of :func:`wait_statistics`, in table order.
WAIT_STATISTICS = ("jobs", "mean", "median", "p95", "p99")
#: Left edge of the ECDF's log axis, hours (3.6 s); shorter waits are drawn there.
ECDF_FLOOR_H = 1e-3
SIM_COLOUR = OKABE_ITO[3]  # vermillion
RECORDED_COLOUR = OKABE_ITO[0]  # blue


def _finite(values: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    return a[np.isfinite(a)]


def wait_statistics(waits_h: Sequence[float] | np.ndarray | pd.Series) -> dict[str, float]:
    """Count, mean, median, p95 and p99 of waits in hours (NaNs left out).

    Returns:
        ``{"jobs": n, "mean": ..., "median": ..., "p95": ..., "p99": ...}``; the
        statistics are NaN when no wait is given.
    """
    w = _finite(waits_h)
    if not w.size:
        return {"jobs": 0.0, "mean": np.nan, "median": np.nan, "p95": np.nan, "p99": np.nan}
    median, p95, p99 = np.quantile(w, [0.5, 0.95, 0.99])
    return {
        "jobs": float(w.size),
        "mean": float(w.mean()),
        "median": float(median),
        "p95": float(p95),
        "p99": float(p99),
    }


def compare_waits(
    sim_waits_h: Sequence[float] | np.ndarray | pd.Series,
    recorded_waits_h: Sequence[float] | np.ndarray | pd.Series,
) -> pd.DataFrame:
    """Table of wait statistics, simulated beside recorded.

    Returns:
        Index :data:`WAIT_STATISTICS`; columns ``simulated_h``, ``recorded_h`` (hours;
        the ``jobs`` row is a count) and ``ratio`` (simulated / recorded).
    """
    sim = wait_statistics(sim_waits_h)
    rec = wait_statistics(recorded_waits_h)
    frame = pd.DataFrame(
        {
            "simulated_h": [sim[k] for k in WAIT_STATISTICS],
            "recorded_h": [rec[k] for k in WAIT_STATISTICS],
        },
        index=pd.Index(WAIT_STATISTICS, name="statistic"),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["ratio"] = frame["simulated_h"] / frame["recorded_h"]
    return frame


def bounded_slowdown(
    wait_h: Sequence[float] | np.ndarray | pd.Series,
    run_h: Sequence[float] | np.ndarray | pd.Series,
    threshold_h: float = BSLD_THRESHOLD_H,
) -> np.ndarray:
    """Per-job bounded slowdown max(1, (wait + run) / max(run, threshold)); NaN wait -> NaN."""
    w = np.asarray(wait_h, dtype=float)
    r = np.asarray(run_h, dtype=float)
    return np.maximum(1.0, (w + r) / np.maximum(r, threshold_h))


def utilisation(
    start_h: Sequence[float] | np.ndarray | pd.Series,
    end_h: Sequence[float] | np.ndarray | pd.Series,
    cards: Sequence[float] | np.ndarray | pd.Series,
    capacity: float,
    t0: float,
    t1: float | None = None,
) -> float:
    """Busy card-hours inside [t0, t1] over capacity x (t1 - t0).

    Args:
        start_h, end_h, cards: the schedule (jobs without a start are ignored).
        capacity: cards in the machine.
        t0: start of the measured interval (e.g. the first submit).
        t1: its end; default the last end of the schedule.
    """
    s = np.asarray(start_h, dtype=float)
    e = np.asarray(end_h, dtype=float)
    c = np.asarray(cards, dtype=float)
    ok = np.isfinite(s) & np.isfinite(e)
    s, e, c = s[ok], e[ok], c[ok]
    if t1 is None:
        t1 = float(e.max()) if e.size else t0
    if t1 <= t0 or capacity <= 0:
        return float("nan")
    busy = np.clip(np.minimum(e, t1) - np.maximum(s, t0), 0.0, None) * c
    return float(busy.sum() / (capacity * (t1 - t0)))


def busy_cards(
    start_h: np.ndarray, end_h: np.ndarray, cards: np.ndarray, grid_h: np.ndarray
) -> np.ndarray:
    """Cards busy at each grid time (a job is busy over [start, end))."""
    s = np.asarray(start_h, dtype=float)
    e = np.asarray(end_h, dtype=float)
    c = np.asarray(cards, dtype=float)
    ok = np.isfinite(s) & np.isfinite(e) & (e > s)
    s, e, c = s[ok], e[ok], c[ok]
    diff = np.zeros(len(grid_h) + 1)
    np.add.at(diff, np.searchsorted(grid_h, s, side="left"), c)
    np.add.at(diff, np.searchsorted(grid_h, e, side="left"), -c)
    return np.cumsum(diff)[:-1]


def fit_while_waiting(
    submit_h: np.ndarray,
    start_h: np.ndarray,
    run_h: np.ndarray,
    cards: np.ndarray,
    capacity: int,
    step_h: float = 1.0 / 12.0,
) -> float:
    """Share of waiting job-hours during which the job's cards were free on the machine.

    The schedule is sampled every ``step_h`` hours (default 5 minutes); a waiting job
    counts at each sample between its submit and its start.

    Returns:
        The share in [0, 1]; NaN when no job waited as long as one step.
    """
    submit = np.asarray(submit_h, dtype=float)
    start = np.asarray(start_h, dtype=float)
    run = np.asarray(run_h, dtype=float)
    c = np.asarray(cards, dtype=float)
    ok = np.isfinite(start) & np.isfinite(submit)
    submit, start, run, c = submit[ok], start[ok], run[ok], c[ok]
    if not submit.size:
        return float("nan")
    t0 = float(submit.min())
    grid = np.arange(t0, float(np.max(start + run)) + step_h, step_h)
    free = capacity - busy_cards(start, start + run, c, grid)
    lo = np.searchsorted(grid, submit, side="left")
    hi = np.searchsorted(grid, start, side="left")
    waiting = hi > lo
    if not waiting.any():
        return float("nan")
    total = 0
    fits = 0
    # Count, per job, the samples in [lo, hi) where free >= its cards, by card size.
    for size in np.unique(c[waiting]):
        sel = waiting & (c == size)
        ok_free = np.concatenate(([0], np.cumsum(free >= size)))
        fits += int(np.sum(ok_free[hi[sel]] - ok_free[lo[sel]]))
        total += int(np.sum(hi[sel] - lo[sel]))
    return fits / total if total else float("nan")


def comparison_table(jobs: pd.DataFrame, capacity: int) -> pd.DataFrame:
    """Simulated and recorded wait statistics, bounded slowdown and utilisation.

    Args:
        jobs: a replay's per-job table (``submit_h``, ``run_h``, ``cards``,
            ``sim_wait_h``, ``recorded_wait_h``).
        capacity: cards in the machine.

    Returns:
        Index: ``jobs``, ``mean_wait_h``, ``median_wait_h``, ``p95_wait_h``,
        ``p99_wait_h``, ``mean_bsld``, ``utilisation``; columns ``simulated``,
        ``recorded`` (NaN where the trace records no waits) and ``ratio``.
    """
    submit = jobs["submit_h"].to_numpy(dtype=float)
    run = jobs["run_h"].to_numpy(dtype=float)
    cards = jobs["cards"].to_numpy(dtype=float)
    rows: dict[str, list[float]] = {}
    t0 = float(submit.min()) if submit.size else 0.0
    for label, column in (("simulated", "sim_wait_h"), ("recorded", "recorded_wait_h")):
        wait = jobs[column].to_numpy(dtype=float)
        stats = wait_statistics(wait)
        started = np.isfinite(wait)
        start = submit + wait
        bsld = bounded_slowdown(wait[started], run[started])
        rows[label] = [
            stats["jobs"],
            stats["mean"],
            stats["median"],
            stats["p95"],
            stats["p99"],
            float(bsld.mean()) if bsld.size else float("nan"),
            utilisation(start, start + run, cards, capacity, t0) if started.any() else np.nan,
        ]
    index = pd.Index(
        [
            "jobs",
            "mean_wait_h",
            "median_wait_h",
            "p95_wait_h",
            "p99_wait_h",
            "mean_bsld",
            "utilisation",
        ],
        name="statistic",
    )
    frame = pd.DataFrame(rows, index=index)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["ratio"] = frame["simulated"] / frame["recorded"]
    return frame


def _ecdf_curve(w: np.ndarray, left: float, right: float) -> tuple[np.ndarray, np.ndarray]:
    w = np.sort(w)
    n = w.size
    below = int(np.sum(w < left))
    pos = w[w >= left]
    y = (below + np.arange(1, pos.size + 1)) / n
    xs = np.concatenate(([left], pos, [right]))
    ys = np.concatenate(([below / n], y, [y[-1] if y.size else below / n]))
    return xs, ys


def plot_wait_comparison(
    sim_waits_h: Sequence[float] | np.ndarray | pd.Series,
    recorded_waits_h: Sequence[float] | np.ndarray | pd.Series,
    ax: Axes | None = None,
    *,
    where: str | None = None,
    sim_label: str = "simulated",
    recorded_label: str = "recorded",
) -> Axes:
    """ECDFs of simulated and recorded waits on a log time axis.

    Waits shorter than :data:`ECDF_FLOOR_H` (3.6 s), zero waits included, cannot sit on
    a log axis: each curve starts at the left edge at its share of such waits, which the
    legend gives with the count, mean, median and p95. The median and p95 are marked on
    each curve (circle, triangle). NaN waits (never started, or not recorded) are left
    out.

    Args:
        sim_waits_h: simulated waits, hours.
        recorded_waits_h: recorded waits of the same jobs, hours.
        ax: axes to draw on; a new figure (constrained layout) when ``None``.
        where: trace and setting named in the title, e.g. ``"KTH SP2, EASY"``.
        sim_label: legend name of the simulated curve.
        recorded_label: legend name of the recorded curve.

    Returns:
        The axes.
    """
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(8.0, 4.8), layout="constrained").add_subplot()
    what = "Job waits, simulated vs recorded (ECDF)"
    title = what if not where else f"{what} — {where}"
    if len(title) > 64 and where:
        title = f"{what}\n{where}"
    ax.set_title(title, fontsize=TITLE_SIZE, loc="left")
    ax.set_xlabel("Wait from submission to start (hours, log scale)", fontsize=LABEL_SIZE)
    ax.set_ylabel("Share of jobs waiting at most x", fontsize=LABEL_SIZE)
    ax.tick_params(labelsize=TICK_SIZE)
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.set_axisbelow(True)
    series = [
        (recorded_label, _finite(recorded_waits_h), RECORDED_COLOUR, "-"),
        (sim_label, _finite(sim_waits_h), SIM_COLOUR, "--"),
    ]
    series = [s for s in series if s[1].size]
    if not series:
        ax.text(0.5, 0.5, "no waits to show", transform=ax.transAxes, ha="center", va="center")
        return ax
    left = ECDF_FLOOR_H
    right = max(float(max(s[1].max() for s in series)) * 1.5, left * 10)
    handles: list[Line2D] = []
    for label, w, colour, style in series:
        xs, ys = _ecdf_curve(w, left, right)
        (line,) = ax.plot(xs, ys, drawstyle="steps-post", color=colour, lw=1.8, ls=style)
        p50, p95 = np.quantile(w, [0.5, 0.95])
        for q, p, marker in ((0.5, p50, "o"), (0.95, p95, "^")):
            ax.plot([max(p, left)], [q], marker=marker, color=colour, ms=7, mec="white", mew=0.8)
        line.set_label(
            f"{label}: n={w.size:,}, under 3.6 s {np.mean(w < left):.0%}, "
            f"mean {format_hours(float(w.mean()))}, p50 {format_hours(float(p50))}, "
            f"p95 {format_hours(float(p95))}"
        )
        handles.append(line)
    handles.append(Line2D([], [], color="0.4", marker="o", ls="none", label="median"))
    handles.append(Line2D([], [], color="0.4", marker="^", ls="none", label="p95"))
    ax.set_xscale("log")
    ax.set_xlim(left, right)
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.legend(
        handles=handles,
        loc="lower right",
        fontsize=LEGEND_SIZE,
        framealpha=0.9,
        title="Waits under 3.6 s are drawn at the left edge.",
        title_fontsize=NOTE_SIZE,
        alignment="left",
    )
    return ax
