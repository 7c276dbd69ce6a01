"""Tests of trace replay on its own machine: the scenario builder, the pairing of simulated
with recorded jobs, the ``traces replay`` command and the wait comparison.

Small data only: the KTH SP2 slice in ``tests/data`` (provenance in
``tests/data/README.md``) and tiny SWF files written in ``tmp_path``. The validation test
on the whole KTH SP2 log skips when the shared trace folder is absent.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from matplotlib.axes import Axes

from simulator.cli import cli
from simulator.errors import OutputError, TraceError
from simulator.traces import read_trace
from simulator.traces.replay_scenario import (
    JOB_COLUMNS,
    ReplayRun,
    replay_scenario,
    run_replay,
)
from simulator.traces.validation import (
    bounded_slowdown,
    compare_waits,
    comparison_table,
    fit_while_waiting,
    plot_wait_comparison,
    utilisation,
    wait_statistics,
)

DATA = Path(__file__).resolve().parent / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "traces"
KTH_SLICE = DATA / "kth-sp2-1996-2.1-cln.head200.swf.gz"
KTH_FULL = SHARED / "pwa-swf" / "KTH-SP2-1996-2.1-cln.swf.gz"
H = 3600

# A 4-processor machine and six jobs whose EASY schedule is worked out by hand in
# test_easy_schedule_by_hand: (submit s, run s, processors, requested s, recorded wait s).
TINY_JOBS = [
    (0, 4 * H, 2, 4 * H, 0),
    (0, 1 * H, 1, 2 * H, 0),
    (1800, 1 * H, 3, 1 * H, 12600),
    (2700, 3 * H, 1, 3 * H, 0),
    (5400, 3 * H, 1, 3 * H, 0),
    (7200, 1 * H, 1, 2 * H, 9000),
]


def swf(path: Path, jobs: list[tuple[int, int, int, int, int]], max_procs: int = 4) -> Path:
    """Write an SWF file: header with MaxProcs, one 18-field line per job."""
    lines = ["; Version: 2.2", "; UnixStartTime: 0", f"; MaxProcs: {max_procs}", ";"]
    for k, (submit, run, procs, req, wait) in enumerate(jobs, start=1):
        fields = [k, submit, wait, run, procs, -1, -1, procs, req, -1, 1, k % 3 + 1, 1]
        fields += [-1, 1, 1, -1, -1]
        lines.append(" ".join(str(f) for f in fields))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def kth_slice_run() -> ReplayRun:
    return run_replay(replay_scenario(KTH_SLICE))


# --------------------------------------------------------------------------- scenario


def test_scenario_is_one_machine_without_shape_constraints() -> None:
    sc = replay_scenario(KTH_SLICE, policy="fifo")
    assert len(sc.centres) == 1 and len(sc.centres[0].pools) == 1
    pool = sc.centres[0].pools[0]
    assert pool.max_cards == 100  # the header's MaxProcs
    assert pool.cards_per_server == 1 and pool.servers_per_pod == 100
    assert pool.card_type == sc.reference_card
    assert sc.placement.pod_locality == "ignore"
    assert sc.output.job_records == "memory"
    assert sc.policy.name == "fifo"
    trace = sc.workload.trace
    assert trace is not None and Path(trace.file).is_absolute()
    assert not sc.workload.classes and not sc.workload.campaigns
    # The horizon covers the submits and a drain of at least 30 days.
    table = read_trace(KTH_SLICE)
    span_days = float(table["submit_s"].max() - table["submit_s"].min()) / 86400
    assert sc.horizon_days >= span_days + 30


def test_easy_defaults_to_scanning_the_whole_queue() -> None:
    sc = replay_scenario(KTH_SLICE)
    assert sc.policy.name == "easy_backfill"
    assert sc.policy.params["lookahead"] >= 100_000


def test_capacity_is_required_without_a_header(tmp_path: Path) -> None:
    path = tmp_path / "t.swf"
    path.write_text("1 0 0 3600 2 -1 -1 2 3600 -1 1 1 1 -1 1 1 -1 -1\n")
    with pytest.raises(TraceError, match="capacity"):
        replay_scenario(path)
    assert replay_scenario(path, capacity=8).centres[0].pools[0].max_cards == 8


def test_empty_window_is_an_error() -> None:
    with pytest.raises(TraceError, match="no job was submitted in the window"):
        replay_scenario(KTH_SLICE, start_day=400)


# --------------------------------------------------------------------------- pairing


def test_kth_slice_jobs_match_one_to_one(kth_slice_run: ReplayRun) -> None:
    table = read_trace(KTH_SLICE)
    jobs = kth_slice_run.jobs
    assert list(jobs.columns) == list(JOB_COLUMNS)
    assert len(jobs) == len(table) == 200
    assert kth_slice_run.unfinished == 0
    assert jobs["trace_job_id"].tolist() == table["job_id"].astype(str).tolist()
    assert jobs["source_line"].tolist() == table["source_line"].tolist()
    assert jobs["cards"].tolist() == table["cards"].tolist()
    np.testing.assert_allclose(jobs["run_h"], table["run_s"] / H, rtol=0, atol=1e-9)
    origin = float(table["submit_s"].min())
    np.testing.assert_allclose(jobs["submit_h"], (table["submit_s"] - origin) / H, atol=1e-9)
    recorded = (table["recorded_start_s"] - table["submit_s"]) / H
    np.testing.assert_allclose(jobs["recorded_wait_h"], recorded, atol=1e-12)
    np.testing.assert_allclose(jobs["estimate_h"], table["estimate_s"] / H, rtol=1e-12)
    assert (jobs["sim_wait_h"] >= 0).all()
    assert kth_slice_run.capacity == 100


def test_easy_schedule_by_hand(tmp_path: Path) -> None:
    """EASY on 4 processors, times in hours (estimates given after each job).

    J1 (2 procs, 4 h, est 4) and J2 (1, 1 h, est 2) start at 0. J3 (3 procs) arrives at
    0.5 with 1 free: head; by estimates 2 procs are free at 2 and 4 at 4, so its shadow
    time is 4 with 1 extra. J4 (1, 3 h, est 3) at 0.75 ends by 3.75 <= 4: backfilled.
    J2 ends at 1 (before its estimate). J5 (1, 3 h) at 1.5 would end at 4.5 > 4 but
    uses no more than the 1 extra: backfilled, extra now 0. J6 (1, 1 h, est 2) at 2
    finds no free processor. At 3.75 J4 ends: 1 free, but J6 would end (by estimate) at
    5.75 > 4 and the extra is 0. At 4 J1 ends: J3 starts (3 procs). At 4.5 J5 ends: J6
    starts. Starts: 0, 0, 4, 0.75, 1.5, 4.5.
    """
    path = swf(tmp_path / "tiny.swf", TINY_JOBS)
    run = run_replay(replay_scenario(path))
    starts = run.jobs["sim_start_h"].tolist()
    assert starts == [0.0, 0.0, 4.0, 0.75, 1.5, 4.5]
    assert run.jobs["sim_end_h"].tolist() == [4.0, 1.0, 5.0, 3.75, 4.5, 5.5]
    # The recorded waits in the file are this schedule's waits.
    assert run.jobs["sim_wait_h"].tolist() == run.jobs["recorded_wait_h"].tolist()


def test_fifo_schedule_by_hand(tmp_path: Path) -> None:
    """FCFS: J3 (3 procs) waits for J1's end at 4 and leaves 1 processor, which J4 takes;
    J5 and J6 wait behind J4 until J3 ends at 5."""
    path = swf(tmp_path / "tiny.swf", TINY_JOBS)
    run = run_replay(replay_scenario(path, policy="fifo"))
    assert run.jobs["sim_start_h"].tolist() == [0.0, 0.0, 4.0, 4.0, 5.0, 5.0]


def test_exact_estimates_change_the_backfill(tmp_path: Path) -> None:
    """Two processors. A (1 proc, 1 h, requested 10 h) starts at 0; B (2 procs, 1 h) at
    0.25 is the head. With A's request its shadow time is 10, so C (1 proc, 2 h, at 0.5)
    backfills at once and B waits for C's end at 2.5. With exact estimates B's shadow time
    is 1, C would delay it and waits: B starts at 1, C at 2 after B."""
    jobs = [(0, H, 1, 10 * H, 0), (900, H, 2, H, 0), (1800, 2 * H, 1, 2 * H, 0)]
    path = swf(tmp_path / "estimates.swf", jobs, max_procs=2)
    trace = run_replay(replay_scenario(path))
    assert trace.jobs["sim_start_h"].tolist() == [0.0, 2.5, 0.5]
    exact = run_replay(replay_scenario(path, estimates="exact"))
    assert exact.jobs["estimate_h"].tolist() == exact.jobs["run_h"].tolist()
    assert exact.jobs["sim_start_h"].tolist() == [0.0, 1.0, 2.0]


# --------------------------------------------------------------------------- too large


def test_too_large_error_skip_clamp(tmp_path: Path) -> None:
    jobs = [*TINY_JOBS, (9000, H, 8, H, 0)]  # 8 processors on a 4-processor machine
    path = swf(tmp_path / "big.swf", jobs)
    with pytest.raises(TraceError, match=r"line 11: a job of 8 cards"):
        run_replay(replay_scenario(path))
    skipped = run_replay(replay_scenario(path, too_large="skip"))
    assert len(skipped.jobs) == 6
    assert skipped.counts["too_large_skip"] == 1
    assert skipped.jobs["cards"].max() == 3
    clamped = run_replay(replay_scenario(path, too_large="clamp"))
    assert len(clamped.jobs) == 7
    assert clamped.counts["too_large_clamp"] == 1
    assert clamped.jobs["cards"].iloc[-1] == 4
    assert clamped.jobs["run_h"].iloc[-1] == pytest.approx(1.0, abs=1e-12)


# --------------------------------------------------------------------------- window, scales


def test_window_selection() -> None:
    table = read_trace(KTH_SLICE)
    origin = float(table["submit_s"].min())
    run = run_replay(replay_scenario(KTH_SLICE, start_day=1.0, span_days=2.0))
    inside = table[(table["submit_s"] >= origin + 86400) & (table["submit_s"] < origin + 3 * 86400)]
    assert 0 < len(run.jobs) == len(inside) < len(table)
    assert run.jobs["trace_job_id"].tolist() == inside["job_id"].astype(str).tolist()
    expected = (inside["submit_s"] - origin - 86400) / H
    np.testing.assert_allclose(run.jobs["submit_h"], expected, atol=1e-9)
    assert run.counts["in_window"] == len(inside)
    assert run.scenario.horizon_days >= 2.0 + 30


def test_arrival_scale_divides_submit_gaps() -> None:
    base = run_replay(replay_scenario(KTH_SLICE))
    fast = run_replay(replay_scenario(KTH_SLICE, arrival_scale=2.0))
    assert len(fast.jobs) == len(base.jobs)
    np.testing.assert_allclose(fast.jobs["submit_h"], base.jobs["submit_h"] / 2.0, atol=1e-9)
    np.testing.assert_allclose(fast.jobs["run_h"], base.jobs["run_h"], atol=1e-9)
    assert fast.scenario.horizon_days < base.scenario.horizon_days


def test_size_scale_rounds_up_and_keeps_run_times() -> None:
    table = read_trace(KTH_SLICE)
    run = run_replay(replay_scenario(KTH_SLICE, size_scale=0.5, capacity=50))
    assert run.jobs["cards"].tolist() == np.ceil(table["cards"] * 0.5).astype(int).tolist()
    np.testing.assert_allclose(run.jobs["run_h"], table["run_s"] / H, atol=1e-9)
    assert run.capacity == 50


# --------------------------------------------------------------------------- comparison


def test_wait_statistics_and_comparison() -> None:
    stats = wait_statistics([0.0, 1.0, 2.0, 3.0, float("nan")])
    assert stats["jobs"] == 4 and stats["mean"] == 1.5 and stats["median"] == 1.5
    assert math.isnan(wait_statistics([])["mean"])
    table = compare_waits([1.0, 3.0], [2.0, 2.0])
    assert table.loc["mean", "ratio"] == 1.0
    assert table.loc["jobs", "simulated_h"] == 2
    bsld = bounded_slowdown([0.0, 1.0, 0.0], [2.0, 1.0, 0.0])
    assert bsld.tolist() == [1.0, 2.0, 1.0]
    # One card busy over [0, 2) of [0, 4) on a 2-card machine: 25 %.
    assert utilisation([0.0], [2.0], [1], 2, 0.0, 4.0) == 0.25


def test_fit_while_waiting() -> None:
    # Two 2-card jobs on 2 cards: the second waits while the first runs -> never fits.
    assert fit_while_waiting([0, 0], [0, 1], [1, 1], [2, 2], 2) == 0.0
    # The same waits on a 4-card machine: the second job always fitted while it waited.
    assert fit_while_waiting([0, 0], [0, 1], [1, 1], [2, 2], 4) == 1.0


def test_comparison_table_of_a_replay(tmp_path: Path) -> None:
    run = run_replay(replay_scenario(swf(tmp_path / "tiny.swf", TINY_JOBS)))
    table = comparison_table(run.jobs, run.capacity)
    assert (table["simulated"] == table["recorded"]).all()
    assert table.loc["mean_wait_h", "simulated"] == pytest.approx(1.0)  # (3.5 + 2.5) / 6
    busy = 4 * 2 + 1 + 3 + 3 + 3 + 1  # card-hours
    assert table.loc["utilisation", "simulated"] == pytest.approx(busy / (4 * 5.5))


def test_plot_wait_comparison() -> None:
    ax = plot_wait_comparison([0.0, 0.5, 2.0], [0.01, 1.0, 3.0], where="tiny machine")
    assert isinstance(ax, Axes)
    assert "tiny machine" in ax.get_title(loc="left")
    assert ax.get_xscale() == "log"
    assert "hours" in ax.get_xlabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("simulated") for t in labels)
    assert any(t.startswith("recorded") for t in labels)
    empty = plot_wait_comparison([], [float("nan")])
    assert isinstance(empty, Axes)


# --------------------------------------------------------------------------- command


def test_cli_replay_on_the_slice(tmp_path: Path) -> None:
    out = tmp_path / "replay"
    runner = CliRunner()
    result = runner.invoke(cli, ["traces", "replay", str(KTH_SLICE), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Replayed 200 jobs" in text
    for label in ("mean wait", "median wait", "p95 wait", "bounded", "utilisation"):
        assert label in text
    waits = pd.read_csv(out / "waits.csv")
    assert len(waits) == 200
    assert {"sim_wait_h", "recorded_wait_h", "trace_job_id"} <= set(waits.columns)
    comparison = pd.read_csv(out / "comparison.csv", index_col=0)
    assert {"simulated", "recorded"} <= set(comparison.columns)
    assert (out / "wait-ecdf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = runner.invoke(cli, ["traces", "replay", str(KTH_SLICE), "--out", str(out)])
    assert isinstance(again.exception, OutputError)
    forced = runner.invoke(
        cli,
        ["traces", "replay", str(KTH_SLICE), "--out", str(out), "--force", "--policy", "fifo"],
    )
    assert forced.exit_code == 0, forced.output
    assert "under fifo" in " ".join(forced.output.split())


def test_cli_replay_options(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["traces", "replay", str(KTH_SLICE), "--estimates", "exact", "--start-day", "1"]
    result = runner.invoke(cli, [*args, "--span-days", "2", "--capacity", "120"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "on 120 cards" in text and "(exact estimates)" in text
    bad = runner.invoke(cli, ["traces", "replay", str(KTH_SLICE), "--capacity", "10"])
    assert isinstance(bad.exception, TraceError)


# --------------------------------------------------------------------------- validation


@pytest.mark.skipif(not KTH_FULL.exists(), reason=f"shared trace folder absent ({KTH_FULL})")
def test_kth_sp2_mean_wait_within_factor_of_recorded() -> None:
    """Full KTH SP2 log (27,992 jobs, 100 processors) under EASY with the users' estimates.

    Tolerance: the simulated mean wait must lie between 1/3 of the recorded mean and the
    recorded mean. Why: the simulation reproduces EASY on all 100 processors but not the
    site's documented constraints, which can only delay jobs: until 6 June 1997 no job
    could run across the weekday synchronisation points, and processors were set aside
    for interactive and course use (Parallel Workloads Archive notes for this log). The
    study in docs/validation-traces.md measures 1.82 h against 4.26 h recorded (0.43),
    and 4.36 h once the synchronisation points are modelled; a simulated mean above the
    recorded one, or below a third of it, would mean a replay error (wrong run times,
    sizes, estimates or capacity), not a missing site rule.
    """
    run = run_replay(replay_scenario(KTH_FULL))
    assert len(run.jobs) == 27_992 and run.unfinished == 0
    sim = run.jobs["sim_wait_h"].mean()
    recorded = run.jobs["recorded_wait_h"].mean()
    assert recorded / 3 <= sim <= recorded, (sim, recorded)
