"""Regenerate every number and figure of ``docs/validation-traces.md``.

Replays real HPC logs (KTH SP2, HPC2N Seth, SDSC Blue Horizon) and the two
Lublin-Feitelson synthetic workloads with :func:`simulator.traces.replay_scenario`, and
compares the simulated waits with the recorded ones; then tries the explanations the
document discusses (fewer usable processors, exact estimates, KTH's synchronisation
points, HPC2N's whole-node allocation, SDSC's interactive queue) and measures each.

Usage::

    .venv/bin/python scripts/validate_traces.py                  # everything (~6 min)
    .venv/bin/python scripts/validate_traces.py --only kth lublin
    .venv/bin/python scripts/validate_traces.py --traces DIR --figures docs/figures \\
        --json /tmp/validation-traces.json

It prints Markdown tables (the document's numbers) and writes the figures as PNG to
``--figures`` (default ``docs/figures``). The trace folder defaults to
``<repository>/../shared/traces``; when it is absent the script says so and exits 0.

Two queue policies used only here are registered under names starting with
``validation_``: EASY with site rules (``validation_easy_rules``: no job runs, by its
estimate, across KTH's weekday synchronisation points, and no job starts during the
outages found in the recorded schedule), and the backfilling of RLScheduler's simulator
(``validation_shadow_only``: a job may jump the queue only if, by its estimate, it ends
before the head's reservation; no "extra processors" rule).
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import json
import math
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from simulator.policies.base import QueuePolicy, Start, register_policy  # noqa: E402
from simulator.policies.easy_backfill import shadow_time  # noqa: E402
from simulator.replay import _read  # noqa: E402
from simulator.traces import validation as v  # noqa: E402
from simulator.traces.replay_scenario import ReplayRun, replay_scenario, run_replay  # noqa: E402

if TYPE_CHECKING:
    from simulator.job import TrainingJob
    from simulator.policies.view import SchedulerView

DEFAULT_TRACES = REPO.parent / "shared" / "traces"
KTH = "pwa-swf/KTH-SP2-1996-2.1-cln.swf.gz"
HPC2N = "pwa-swf/HPC2N-2002-2.1-cln.swf.gz"
SDSC_BLUE = "pwa-swf/SDSC-BLUE-2000-4.2-cln.swf.gz"
LUBLIN = {
    "Lublin-1": "lublin-synthetic/lublin_256.swf.gz",
    "Lublin-2": "lublin-synthetic/lublin_256_new2.swf.gz",
}
KTH_TZ = "Europe/Stockholm"
KTH_SYNC_END = "1997-06-06"  # the archive: synchronisation points removed on June 6, 1997
RL_SEQUENCES = 10
RL_LENGTH = 1024
RL_SEED = 1
DPI = 100
SWF_FIELDS = (
    "job", "submit", "wait", "run", "procs", "cpu", "mem", "req_procs", "req_time",
    "req_mem", "status", "user", "group", "exe", "queue", "partition", "preceding", "think",
)  # fmt: skip


# --------------------------------------------------------------------------- policies


def _easy_pass(
    view: SchedulerView,
    lookahead: int,
    allowed: Callable[[TrainingJob, float], bool],
    use_extra: bool,
) -> Iterator[Start]:
    """One EASY pass on pool 0 over jobs that ``allowed`` admits now (no memo)."""
    now = view.now
    head = None
    shadow, extra = math.inf, 0
    for job in view.waiting(lookahead):
        if not allowed(job, now):
            continue
        if head is None:
            if view.can_start(job, 0):
                yield Start(job, 0)
                continue
            head = job
            shadow, extra = shadow_time(view, job, 0)
            continue
        if not view.can_start(job, 0):
            continue
        if now + view.estimated_runtime(job, 0) <= shadow:
            yield Start(job, 0)
        elif use_extra and job.cards <= extra:
            extra -= job.cards
            yield Start(job, 0)


@register_policy("validation_easy_rules")
@dataclass(frozen=True)
class EasyWithSiteRules(QueuePolicy):
    """EASY with two site rules: synchronisation points and outages.

    A job may start only if, by its estimate, it ends before the next synchronisation
    point (KTH, weekdays until 6 June 1997), and no job starts inside an outage (a
    recorded interval with no job running while jobs waited). Jobs barred now are
    passed over; the first admissible job that cannot start gets the reservation.

    Attributes:
        sync_h: synchronisation instants, hours since the window start, ascending.
        outages_h: outage intervals as flattened (start, end) pairs, ascending.
        lookahead: queued jobs examined per pass.
    """

    sync_h: tuple[float, ...] = ()
    outages_h: tuple[float, ...] = ()
    lookahead: int = 100_000
    needs_estimated_ends = True

    def decide(self, view: SchedulerView) -> Iterator[Start]:
        sync = self.sync_h
        starts = self.outages_h[0::2]
        ends = self.outages_h[1::2]
        now = view.now
        k = bisect.bisect_right(starts, now) - 1
        if k >= 0 and now < ends[k]:
            return iter(())

        def allowed(job: TrainingJob, now: float) -> bool:
            i = bisect.bisect_right(sync, now + 1e-9)
            return i >= len(sync) or now + view.estimated_runtime(job, 0) <= sync[i] + 1e-9

        return _easy_pass(view, self.lookahead, allowed, use_extra=True)


@register_policy("validation_shadow_only")
@dataclass(frozen=True)
class ShadowOnlyBackfill(QueuePolicy):
    """Backfill only jobs that end, by their estimate, before the head's shadow time."""

    lookahead: int = 100_000
    needs_estimated_ends = True

    def decide(self, view: SchedulerView) -> Iterator[Start]:
        return _easy_pass(view, self.lookahead, lambda job, now: True, use_extra=False)


# --------------------------------------------------------------------------- helpers


def read_swf_fields(path: Path) -> pd.DataFrame:
    """All 18 SWF fields by name, one row per job line (for queue and user analyses)."""
    frame = pd.read_csv(path, sep=r"\s+", comment=";", header=None, names=list(SWF_FIELDS))
    return frame


def filtered_swf(src: Path, dst: Path, keep: Callable[[list[str]], bool]) -> Path:
    """Copy an SWF file with its header and only the job lines ``keep`` accepts."""
    with (
        gzip.open(src, "rt", encoding="utf-8") as fin,
        gzip.open(dst, "wt", encoding="utf-8") as out,
    ):
        for line in fin:
            if line.startswith(";") or not line.strip() or keep(line.split()):
                out.write(line)
    return dst


def swf_slice(src: Path, dst: Path, first: int, count: int) -> Path:
    """Copy an SWF file with its header and job lines ``first .. first + count - 1``."""
    with (
        gzip.open(src, "rt", encoding="utf-8") as fin,
        gzip.open(dst, "wt", encoding="utf-8") as out,
    ):
        k = 0
        for line in fin:
            if line.startswith(";") or not line.strip():
                out.write(line)
                continue
            if first <= k < first + count:
                out.write(line)
            k += 1
            if k >= first + count:
                break
    return dst


def replay(path: Path, *, policy_obj: QueuePolicy | None = None, **kwargs: Any) -> ReplayRun:
    return run_replay(replay_scenario(path, **kwargs), policy=policy_obj)


def sim_row(run: ReplayRun, label: str) -> dict[str, Any]:
    """One line of a results table: the simulated statistics of a run."""
    j = run.jobs
    table = v.comparison_table(j, run.capacity)
    fww = v.fit_while_waiting(
        j["submit_h"], j["submit_h"] + j["sim_wait_h"], j["run_h"], j["cards"], run.capacity
    )
    return {
        "setting": label,
        "jobs": int(table.loc["jobs", "simulated"]),
        "mean_wait_h": table.loc["mean_wait_h", "simulated"],
        "median_wait_h": table.loc["median_wait_h", "simulated"],
        "p95_wait_h": table.loc["p95_wait_h", "simulated"],
        "p99_wait_h": table.loc["p99_wait_h", "simulated"],
        "mean_bsld": table.loc["mean_bsld", "simulated"],
        "utilisation": table.loc["utilisation", "simulated"],
        "fit_while_waiting": fww,
        "unfinished": run.unfinished,
        "clamped": run.counts.get("too_large_clamp", 0),
        "wall_s": run.wall_s,
    }


def recorded_row(run: ReplayRun, label: str = "recorded") -> dict[str, Any]:
    j = run.jobs
    table = v.comparison_table(j, run.capacity)
    rec_start = j["submit_h"] + j["recorded_wait_h"]
    fww = v.fit_while_waiting(j["submit_h"], rec_start, j["run_h"], j["cards"], run.capacity)
    return {
        "setting": label,
        "jobs": int(table.loc["jobs", "recorded"]),
        "mean_wait_h": table.loc["mean_wait_h", "recorded"],
        "median_wait_h": table.loc["median_wait_h", "recorded"],
        "p95_wait_h": table.loc["p95_wait_h", "recorded"],
        "p99_wait_h": table.loc["p99_wait_h", "recorded"],
        "mean_bsld": table.loc["mean_bsld", "recorded"],
        "utilisation": table.loc["utilisation", "recorded"],
        "fit_while_waiting": fww,
    }


def recorded_busy(run: ReplayRun) -> dict[str, float]:
    """Busy processors in the recorded schedule, sampled every 5 minutes."""
    j = run.jobs
    start = (j["submit_h"] + j["recorded_wait_h"]).to_numpy(dtype=float)
    ok = np.isfinite(start)
    end = start + j["run_h"].to_numpy(dtype=float)
    grid = np.arange(0.0, float(np.nanmax(end)), 1.0 / 12.0)
    busy = v.busy_cards(start[ok], end[ok], j["cards"].to_numpy()[ok], grid)
    return {
        "max": float(busy.max()),
        "p99": float(np.quantile(busy, 0.99)),
        "mean": float(busy.mean()),
        "share_of_time_full": float(np.mean(busy >= run.capacity)),
    }


def recorded_outages(run: ReplayRun, min_h: float = 1.0) -> tuple[float, ...]:
    """Outages in the recorded schedule: intervals of at least ``min_h`` hours in which no
    job ran while at least one waited (5-minute samples), as flattened (start, end)."""
    j = run.jobs
    start = (j["submit_h"] + j["recorded_wait_h"]).to_numpy(dtype=float)
    ok = np.isfinite(start)
    submit = j["submit_h"].to_numpy(dtype=float)[ok]
    start = start[ok]
    end = start + j["run_h"].to_numpy(dtype=float)[ok]
    step = 1.0 / 12.0
    grid = np.arange(0.0, float(end.max()) + step, step)
    busy = v.busy_cards(start, end, j["cards"].to_numpy()[ok], grid)
    waiting = v.busy_cards(submit, start, np.ones(len(start)), grid)
    dead = np.concatenate(([False], (busy == 0) & (waiting > 0), [False]))
    edges = np.flatnonzero(np.diff(dead.astype(np.int8)))
    pairs = []
    for a, b in zip(edges[0::2], edges[1::2], strict=True):
        if (b - a) * step >= min_h:
            pairs += [float(grid[a]), float(grid[a] + (b - a) * step)]
    return tuple(pairs)


def outage_summary(outages: tuple[float, ...]) -> dict[str, float]:
    lengths = np.diff(np.asarray(outages).reshape(-1, 2), axis=1).ravel()
    return {
        "episodes": int(lengths.size),
        "hours": float(lengths.sum()),
        "longest_h": float(lengths.max()) if lengths.size else 0.0,
    }


def markdown(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """A Markdown table of dict rows (numbers to 2-3 significant decimals)."""
    if not rows:
        return ""
    columns = columns or list(rows[0])

    def fmt(x: Any) -> str:
        if x is None:
            return "-"
        if isinstance(x, (float, np.floating)):
            if not math.isfinite(x):
                return "-"
            if abs(x) >= 100:
                return f"{x:,.0f}"
            if abs(x) >= 10:
                return f"{x:.1f}"
            return f"{x:.3g}" if abs(x) < 1 else f"{x:.2f}"
        if isinstance(x, (int, np.integer)):
            return f"{x:,}"
        return str(x)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


WAIT_COLUMNS = [
    "setting",
    "mean_wait_h",
    "median_wait_h",
    "p95_wait_h",
    "p99_wait_h",
    "mean_bsld",
    "utilisation",
    "fit_while_waiting",
]


def save(ax: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ax.figure.savefig(path, dpi=DPI)
    print(f"figure: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")


def ecdf_figure(run: ReplayRun, where: str, path: Path, sim_label: str = "simulated") -> None:
    ax = v.plot_wait_comparison(
        run.jobs["sim_wait_h"], run.jobs["recorded_wait_h"], where=where, sim_label=sim_label
    )
    save(ax, path)


# --------------------------------------------------------------------------- KTH


def kth_sync_instants(table: pd.DataFrame, hours: tuple[int, int]) -> tuple[float, ...]:
    """Weekday ``hours`` (local time) before June 6, 1997, as hours since the window start."""
    origin = table.attrs["header"]["UnixStartTime"] + float(table["submit_s"].min())
    days = pd.date_range("1996-09-01", KTH_SYNC_END, freq="D", tz=KTH_TZ, inclusive="left")
    days = days[days.day_of_week < 5]
    instants = [(d + pd.Timedelta(hours=h)).timestamp() for d in days for h in hours]
    return tuple(sorted((t - origin) / 3600.0 for t in instants))


def kth_crossings(table: pd.DataFrame) -> dict[int, int]:
    """Recorded jobs running across each weekday hh:00 before June 6, 1997 (summed)."""
    u0 = table.attrs["header"]["UnixStartTime"]
    start = (u0 + table["recorded_start_s"]).to_numpy(dtype=float)
    end = start + table["run_s"].to_numpy(dtype=float)
    days = pd.date_range("1996-09-01", KTH_SYNC_END, freq="D", tz=KTH_TZ, inclusive="left")
    days = days[days.day_of_week < 5]
    out = {}
    for h in range(24):
        inst = np.array([(d + pd.Timedelta(hours=h)).timestamp() for d in days])
        lo = np.searchsorted(inst, start, side="right")
        hi = np.searchsorted(inst, end, side="left")
        out[h] = int(np.maximum(0, hi - lo).sum())
    return out


def kth_split(run: ReplayRun, table: pd.DataFrame) -> dict[str, float]:
    """Mean simulated and recorded waits for jobs submitted before and after June 6, 1997."""
    u0 = table.attrs["header"]["UnixStartTime"] + float(table["submit_s"].min())
    cut = (pd.Timestamp(KTH_SYNC_END, tz=KTH_TZ).timestamp() - u0) / 3600.0
    j = run.jobs
    before = j["submit_h"] < cut
    return {
        "sim_before": float(j.loc[before, "sim_wait_h"].mean()),
        "sim_after": float(j.loc[~before, "sim_wait_h"].mean()),
        "rec_before": float(j.loc[before, "recorded_wait_h"].mean()),
        "rec_after": float(j.loc[~before, "recorded_wait_h"].mean()),
        "jobs_before": int(before.sum()),
        "jobs_after": int((~before).sum()),
    }


def capacity_figure(
    rows: list[dict[str, Any]],
    recorded: dict[str, Any],
    where: str,
    path: Path,
    extra: tuple[str, dict[str, Any]] | None = None,
) -> None:
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    from simulator.plotting import LABEL_SIZE, LEGEND_SIZE, OKABE_ITO, TITLE_SIZE

    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    caps = [r["capacity"] for r in rows]
    for i, (key, label) in enumerate((("mean_wait_h", "mean"), ("p95_wait_h", "p95"))):
        colour = OKABE_ITO[3 if i == 0 else 1]
        ax.plot(caps, [r[key] for r in rows], marker="o", color=colour, label=f"simulated {label}")
        ax.axhline(recorded[key], color=colour, ls="--", lw=1.2, label=f"recorded {label}")
        if extra is not None:
            ax.plot(
                [extra[1]["capacity"]],
                [extra[1][key]],
                marker="*",
                ms=13,
                ls="none",
                color=colour,
                mec="black",
                mew=0.6,
                label=f"{extra[0]} {label}",
            )
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax.yaxis.set_minor_formatter(
        FuncFormatter(lambda y, _: f"{y:g}" if y in (2, 3, 5, 20, 30, 50) else "")
    )
    ax.set_title(f"Simulated wait vs usable processors — {where}", fontsize=TITLE_SIZE, loc="left")
    ax.set_xlabel("Processors in the simulated machine", fontsize=LABEL_SIZE)
    ax.set_ylabel("Wait (hours, log scale)", fontsize=LABEL_SIZE)
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.legend(fontsize=LEGEND_SIZE)
    save(ax, path)


def study_kth(traces: Path, figures: Path) -> dict[str, Any]:
    path = traces / KTH
    table = _read(str(path.resolve()), "auto", "error")
    print("\n## KTH SP2 (100 processors, EASY)\n")
    base = replay(path)
    rows = [recorded_row(base), sim_row(base, "EASY, trace estimates, 100 procs")]
    rows.append(sim_row(replay(path, estimates="exact"), "EASY, exact estimates, 100 procs"))
    rows.append(sim_row(replay(path, policy="fifo"), "FCFS, 100 procs"))
    sweep = [dict(rows[1], capacity=100)]
    for cap in (95, 90, 85, 80):
        run = replay(path, capacity=cap, too_large="clamp")
        row = sim_row(run, f"EASY, trace estimates, {cap} procs")
        rows.append(row)
        sweep.append(dict(row, capacity=cap))
    sync_runs = {}
    for hours in ((8, 17), (7, 16)):
        pol = EasyWithSiteRules(sync_h=kth_sync_instants(table, hours))
        run = replay(path, policy_obj=pol)
        sync_runs[hours] = run
        label = f"EASY + no job across weekday {hours[0]:02d}:00/{hours[1]:02d}:00 until 6 Jun 1997"
        rows.append(sim_row(run, label))
    control = replay(path, policy_obj=EasyWithSiteRules())
    differ = int((control.jobs["sim_start_h"] != base.jobs["sim_start_h"]).sum())
    outages = recorded_outages(base)
    rules = EasyWithSiteRules(outages_h=outages)
    rows.append(sim_row(replay(path, policy_obj=rules), "EASY + recorded outages"))
    rules = EasyWithSiteRules(sync_h=kth_sync_instants(table, (8, 17)), outages_h=outages)
    rows.append(sim_row(replay(path, policy_obj=rules), "EASY + sync points 08:00/17:00 + outages"))
    print(markdown(rows, WAIT_COLUMNS + ["clamped"]))
    busy = recorded_busy(base)
    print(f"\nrecorded busy processors (5-min samples): {busy}")
    print(f"recorded outages (>= 1 h, nothing running, jobs waiting): {outage_summary(outages)}")
    print(f"control: validation_easy_rules without rules vs easy_backfill: {differ} starts differ")
    crossings = kth_crossings(table)
    print(f"recorded jobs running across weekday hh:00 before 6 Jun 1997: {crossings}")
    split = {
        "EASY": kth_split(base, table),
        "EASY + sync 08/17": kth_split(sync_runs[(8, 17)], table),
    }
    print(f"mean waits before/after 6 Jun 1997: {json.dumps(split, indent=1)}")
    ecdf_figure(base, "KTH SP2, EASY, 100 procs", figures / "kth-sp2-easy-waits.png")
    ecdf_figure(
        sync_runs[(8, 17)],
        "KTH SP2, EASY + synchronisation points",
        figures / "kth-sp2-easy-syncpoints-waits.png",
        sim_label="simulated with sync points",
    )
    sync_row = dict(sim_row(sync_runs[(8, 17)], "sync"), capacity=100)
    capacity_figure(
        sweep,
        rows[0],
        "KTH SP2, EASY",
        figures / "kth-sp2-capacity-sweep.png",
        extra=("EASY + sync points,", sync_row),
    )
    return {
        "rows": rows,
        "recorded_busy": busy,
        "outages": outage_summary(outages),
        "control_starts_differ": differ,
        "crossings": crossings,
        "split": split,
    }


# --------------------------------------------------------------------------- HPC2N


def study_hpc2n(traces: Path, figures: Path) -> dict[str, Any]:
    path = traces / HPC2N
    print("\n## HPC2N Seth (240 processors, Maui)\n")
    base = replay(path)
    rows = [recorded_row(base), sim_row(base, "EASY, trace estimates, 240 procs")]
    rows.append(sim_row(replay(path, estimates="exact"), "EASY, exact estimates, 240 procs"))
    rows.append(sim_row(replay(path, policy="fifo"), "FCFS, 240 procs"))
    for cap in (220, 200, 180):
        rows.append(sim_row(replay(path, capacity=cap, too_large="clamp"), f"EASY, {cap} procs"))
    rows.append(
        sim_row(replay(path, capacity=120, size_scale=0.5), "EASY, 120 whole dual-CPU nodes")
    )
    outages = recorded_outages(base)
    rules = EasyWithSiteRules(outages_h=outages)
    rows.append(sim_row(replay(path, policy_obj=rules), "EASY + recorded outages, 240 procs"))
    print(markdown(rows, WAIT_COLUMNS + ["clamped"]))
    busy = recorded_busy(base)
    print(f"\nrecorded busy processors (5-min samples): {busy}")
    print(f"recorded outages (>= 1 h, nothing running, jobs waiting): {outage_summary(outages)}")
    rec_start = (j0 := base.jobs)["submit_h"] + j0["recorded_wait_h"]
    grid = np.arange(0.0, float((rec_start + j0["run_h"]).max()), 1.0 / 12.0)
    rec_busy = v.busy_cards(rec_start, rec_start + j0["run_h"], j0["cards"], grid)
    rec_wait = v.busy_cards(j0["submit_h"], rec_start, np.ones(len(j0)), grid)
    half_idle = float(np.sum((rec_busy <= 120) & (rec_wait >= 5)) / 12.0)
    print(
        f"recorded hours with at most half the processors busy and >= 5 jobs waiting: "
        f"{half_idle:,.0f} of {grid[-1]:,.0f}"
    )
    j = base.jobs
    by_user = j.groupby("user")["recorded_wait_h"].sum().sort_values(ascending=False)
    share = (by_user / by_user.sum()).head(5)
    print(f"share of recorded waiting job-hours, top users: {share.round(3).to_dict()}")
    top = str(by_user.index[0])
    fields = read_swf_fields(path)
    mine = fields[fields["user"].astype(str) == top]
    top_info = {
        "user": top,
        "jobs": len(mine),
        "median_procs": float(mine["procs"].median()),
        "median_run_h": float(mine["run"].median() / 3600),
        "median_requested_h": float(mine["req_time"].median() / 3600),
        "recorded_mean_wait_h": float(j.loc[j["user"] == top, "recorded_wait_h"].mean()),
        "sim_mean_wait_h": float(j.loc[j["user"] == top, "sim_wait_h"].mean()),
    }
    others = j["user"] != top
    top_info["others_recorded_mean_wait_h"] = float(j.loc[others, "recorded_wait_h"].mean())
    top_info["others_sim_mean_wait_h"] = float(j.loc[others, "sim_wait_h"].mean())
    print(f"user with most waiting: {top_info}")
    u0 = _read(str(path.resolve()), "auto", "error").attrs["header"]["UnixStartTime"]
    first = float(_read(str(path.resolve()), "auto", "error")["submit_s"].min())
    year = pd.to_datetime(u0 + first + j["submit_h"] * 3600.0, unit="s").dt.year
    yearly = j.groupby(year).agg(
        jobs=("job_id", "size"), sim=("sim_wait_h", "mean"), recorded=("recorded_wait_h", "mean")
    )
    print(f"mean waits by submit year:\n{yearly.round(2).to_string()}")
    ecdf_figure(base, "HPC2N Seth, EASY, 240 procs", figures / "hpc2n-easy-waits.png")
    return {
        "rows": rows,
        "recorded_busy": busy,
        "outages": outage_summary(outages),
        "half_idle_hours": half_idle,
        "top_users_share": share.to_dict(),
        "top_user": top_info,
        "yearly": yearly.reset_index().to_dict("records"),
    }


# --------------------------------------------------------------------------- SDSC Blue


def study_sdsc_blue(traces: Path, figures: Path, tmp: Path) -> dict[str, Any]:
    path = traces / SDSC_BLUE
    print("\n## SDSC Blue Horizon (1,152 processors in 144 8-way nodes)\n")
    base = replay(path, on_bad="skip")
    rows = [recorded_row(base), sim_row(base, "EASY, trace estimates, 1152 procs")]
    fields = read_swf_fields(path)
    inter = fields[(fields["queue"] == 0) & (fields["run"] >= 0) & (fields["wait"] >= 0)]
    start = (inter["submit"] + inter["wait"]).to_numpy(dtype=float) / 3600
    end = start + inter["run"].to_numpy(dtype=float) / 3600
    grid = np.arange(start.min(), end.max(), 1.0 / 12.0)
    busy = v.busy_cards(start, end, inter["procs"].clip(lower=0).to_numpy(), grid)
    inter_busy = {"max": float(busy.max()), "p99": float(np.quantile(busy, 0.99))}
    print(f"interactive queue (0): {len(inter):,} jobs; busy processors {inter_busy}")
    batch = filtered_swf(path, tmp / "sdsc-blue-batch.swf.gz", lambda f: f[14] != "0")
    run = replay(batch, on_bad="skip")
    rows.append(sim_row(run, "EASY, batch queues only (queue 0 left out), 1152 procs"))
    rows.append(recorded_row(run, "recorded, batch queues only"))
    reserved = int(math.ceil(inter_busy["p99"] / 8.0) * 8)
    run_r = replay(batch, on_bad="skip", capacity=1152 - reserved, too_large="clamp")
    rows.append(
        sim_row(
            run_r, f"EASY, batch queues only, {1152 - reserved} procs ({reserved} kept for queue 0)"
        )
    )
    outages = recorded_outages(run)
    rules = EasyWithSiteRules(outages_h=outages)
    run_o = replay(
        batch, on_bad="skip", capacity=1152 - reserved, too_large="clamp", policy_obj=rules
    )
    rows.append(sim_row(run_o, f"same, {1152 - reserved} procs + recorded outages"))
    print(f"recorded outages of the batch queues: {outage_summary(outages)}")
    print(markdown(rows, WAIT_COLUMNS + ["clamped"]))
    j = base.jobs
    lines = _read(str(path.resolve()), "auto", "skip")
    q = lines.set_index("source_line")["tenant"].reindex(j["source_line"]).to_numpy()
    names = {"0": "interactive", "1": "express", "2": "high", "3": "normal", "4": "low"}
    per_queue = (
        j.assign(queue=[names.get(str(x), "other") for x in q])
        .groupby("queue")
        .agg(
            jobs=("job_id", "size"),
            sim=("sim_wait_h", "mean"),
            recorded=("recorded_wait_h", "mean"),
        )
    )
    print(
        f"\nmean waits by queue (all queues replayed together):\n{per_queue.round(2).to_string()}"
    )
    ecdf_figure(base, "SDSC Blue Horizon, EASY, 1152 procs", figures / "sdsc-blue-easy-waits.png")
    return {
        "rows": rows,
        "interactive_busy": inter_busy,
        "reserved": reserved,
        "outages": outage_summary(outages),
        "per_queue": per_queue.reset_index().to_dict("records"),
        "recorded_busy": recorded_busy(base),
    }


# --------------------------------------------------------------------------- Lublin


RLSCHEDULER_README = {
    # DIR-LAB/deep-batch-scheduler README.md, commit 2222226108ba0ac9e05721470c1d482a0dfd79b6,
    # "Results of Scheduling Towards average bounded slowdown" and "... resource utilization",
    # FCFS column, without and with backfilling.
    "Lublin-1": {
        "bsld_fcfs": 7273.77,
        "bsld_backfill": 235.82,
        "util_fcfs": 0.657,
        "util_backfill": 0.868,
    },
    "Lublin-2": {
        "bsld_fcfs": 7842.47,
        "bsld_backfill": 247.61,
        "util_fcfs": 0.404,
        "util_backfill": 0.587,
    },
}


def rl_utilisation(run: ReplayRun) -> float:
    """RLScheduler's utilisation: processor-seconds / (last start - first submit) x capacity."""
    j = run.jobs
    start = j["submit_h"] + j["sim_wait_h"]
    span = float(start.max() - j["submit_h"].min())
    return float((j["run_h"] * j["cards"]).sum() / (span * run.capacity)) if span > 0 else math.nan


def study_lublin(traces: Path, tmp: Path) -> dict[str, Any]:
    print("\n## Lublin-Feitelson synthetic workloads (256 nodes, exact estimates)\n")
    out: dict[str, Any] = {}
    policies: list[tuple[str, str, QueuePolicy | None]] = [
        ("FCFS", "fifo", None),
        ("EASY", "easy_backfill", None),
        ("backfill, shadow only", "easy_backfill", ShadowOnlyBackfill()),
    ]
    for name, rel in LUBLIN.items():
        path = traces / rel
        rows = []
        for label, pol, obj in policies:
            run = replay(path, policy=pol, policy_obj=obj, estimates="exact")
            t = v.comparison_table(run.jobs, run.capacity)
            rows.append(
                {
                    "setting": f"{name}, whole trace, {label}",
                    "jobs": int(t.loc["jobs", "simulated"]),
                    "mean_bsld": t.loc["mean_bsld", "simulated"],
                    "mean_wait_h": t.loc["mean_wait_h", "simulated"],
                    "utilisation": t.loc["utilisation", "simulated"],
                    "rl_utilisation": rl_utilisation(run),
                }
            )
        n = len(_read(str(path.resolve()), "auto", "error"))
        rng = np.random.default_rng(RL_SEED)
        starts = rng.integers(RL_LENGTH, n - RL_LENGTH - 1, size=RL_SEQUENCES)
        for label, pol, obj in policies:
            bsld, util, rl_util = [], [], []
            for k, first in enumerate(starts):
                piece = swf_slice(path, tmp / f"{name}-{k}.swf.gz", int(first), RL_LENGTH)
                run = replay(piece, policy=pol, policy_obj=obj, estimates="exact")
                t = v.comparison_table(run.jobs, run.capacity)
                bsld.append(float(t.loc["mean_bsld", "simulated"]))
                util.append(float(t.loc["utilisation", "simulated"]))
                rl_util.append(rl_utilisation(run))
            rows.append(
                {
                    "setting": f"{name}, {RL_SEQUENCES} x {RL_LENGTH} jobs, {label}",
                    "jobs": RL_SEQUENCES * RL_LENGTH,
                    "mean_bsld": float(np.mean(bsld)),
                    "bsld_range": f"{min(bsld):.1f} .. {max(bsld):.1f}",
                    "utilisation": float(np.mean(util)),
                    "rl_utilisation": float(np.mean(rl_util)),
                }
            )
        print(f"sequence starts ({name}, numpy default_rng({RL_SEED})): {starts.tolist()}")
        print(
            markdown(
                rows,
                [
                    "setting",
                    "jobs",
                    "mean_bsld",
                    "bsld_range",
                    "mean_wait_h",
                    "utilisation",
                    "rl_utilisation",
                ],
            )
        )
        print(f"RLScheduler README (FCFS column): {RLSCHEDULER_README[name]}\n")
        out[name] = {
            "rows": rows,
            "starts": starts.tolist(),
            "rlscheduler": RLSCHEDULER_README[name],
        }
    return out


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", type=Path, default=DEFAULT_TRACES)
    parser.add_argument("--figures", type=Path, default=REPO / "docs" / "figures")
    parser.add_argument("--json", type=Path, default=None, help="Also write the numbers here.")
    parser.add_argument(
        "--only", nargs="*", choices=["kth", "hpc2n", "sdsc-blue", "lublin"], default=None
    )
    args = parser.parse_args(argv)
    if not args.traces.is_dir():
        print(f"trace folder {args.traces} is absent; nothing to validate")
        return 0
    only = set(args.only or ["kth", "hpc2n", "sdsc-blue", "lublin"])
    started = time.perf_counter()
    print(
        f"# validate_traces: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{platform.machine()} {platform.processor() or ''}, Python {platform.python_version()}"
    )
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if "kth" in only:
            results["kth"] = study_kth(args.traces, args.figures)
        if "hpc2n" in only:
            results["hpc2n"] = study_hpc2n(args.traces, args.figures)
        if "sdsc-blue" in only:
            results["sdsc_blue"] = study_sdsc_blue(args.traces, args.figures, tmp)
        if "lublin" in only:
            results["lublin"] = study_lublin(args.traces, tmp)
    print(f"\ntotal wall time {time.perf_counter() - started:.0f} s")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
