"""Fitting workload classes to traces: parameter recovery, schema validity, errors, CLI.

Recovery tests draw a synthetic table from known distributions with a fixed seed and
check the fit within four standard errors, a bound that a correct estimator misses with
probability below 1e-4 per parameter (normal approximation), so the tests are neither
flaky nor loose:

* log-median: the MLE of mu is the mean of n normal log values, standard error
  sigma / sqrt(n);
* sigma: the MLE's large-sample standard error is sigma / sqrt(2 n);
* gang-size shares: a binomial proportion, standard error sqrt(p (1 - p) / n);
* profile values: a Poisson count c in a bin has relative standard error 1 / sqrt(c).
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from scipy.special import ndtri

from simulator.errors import OutputError, TraceError
from simulator.scenario.loader import validate_mapping
from simulator.scenario.schema import JobClass, LognormalDistribution
from simulator.traces import TRACE_COLUMNS
from simulator.traces.fit import (
    arrival_profiles,
    block_yaml,
    class_work_per_day,
    combine_tables,
    distribution_mean,
    fit_job_class,
    fit_report,
    ks_distance,
    size_table,
    trace_clock,
    trim_window,
)
from simulator.traces.fit_commands import add_fit_command
from simulator.workload import sample

DATA = Path(__file__).parent / "data"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

MEDIAN_H = 0.5
SIGMA = 1.5
SIZES = {1: 0.6, 2: 0.1, 4: 0.1, 8: 0.2}
N = 20_000
SPAN_DAYS = 100.0


def make_table(
    submit_s: np.ndarray,
    cards: np.ndarray,
    run_s: np.ndarray,
    *,
    estimate_s: np.ndarray | None = None,
    **attrs: Any,
) -> pd.DataFrame:
    """A normalised job table (sorted by submit) with the given columns and attrs."""
    n = len(submit_s)
    order = np.argsort(submit_s, kind="stable")
    frame = pd.DataFrame(
        {
            "job_id": [str(i) for i in range(n)],
            "submit_s": np.asarray(submit_s, dtype=float)[order],
            "cards": np.asarray(cards, dtype=np.int64)[order],
            "run_s": np.asarray(run_s, dtype=float)[order],
            "estimate_s": (
                np.full(n, np.nan) if estimate_s is None else np.asarray(estimate_s)[order]
            ),
            "user": [""] * n,
            "tenant": [""] * n,
            "status": ["unknown"] * n,
            "recorded_start_s": np.full(n, np.nan),
            "source_line": np.arange(2, n + 2, dtype=np.int64),
        },
        columns=list(TRACE_COLUMNS),
    )
    meta: dict[Hashable, Any] = {"format": "itp", "file": "synthetic.csv", "time_format": "seconds"}
    meta.update(attrs)
    frame.attrs = meta
    return frame


@pytest.fixture(scope="module")
def synthetic() -> pd.DataFrame:
    rng = np.random.default_rng(20250101)
    submit = rng.uniform(0, SPAN_DAYS * 86400, N)
    cards = rng.choice(list(SIZES), size=N, p=list(SIZES.values()))
    run_h = np.exp(math.log(MEDIAN_H) + SIGMA * rng.standard_normal(N))
    return make_table(submit, cards, run_h * 3600)


def minimal_scenario(block: dict[str, Any]) -> dict[str, Any]:
    """A small valid scenario mapping whose only job class is ``block``."""
    return {
        "schema_version": 1,
        "name": "fit-test",
        "start": "2025-01-01",
        "horizon_days": 10,
        "reference_card": "A100",
        "card_types": [{"name": "A100", "bf16_tflops": 312, "memory_gb": 80, "board_power_w": 400}],
        "centres": [
            {
                "name": "c1",
                "pools": [
                    {
                        "name": "p1",
                        "card_type": "A100",
                        "phases": [{"date": "2025-01-01", "servers": 16}],
                    }
                ],
            }
        ],
        "workload": {"classes": [block]},
    }


# --------------------------------------------------------------------------- recovery


def test_fit_recovers_lognormal_sizes_and_rate(synthetic: pd.DataFrame) -> None:
    block = fit_job_class(synthetic, name="synthetic")
    dist = block["work"]["distribution"]
    assert block["work"]["unit"] == "ref_hours"
    assert dist["kind"] == "lognormal"
    # 4 standard errors of the log-mean (sigma / sqrt(n)) and of sigma (sigma / sqrt(2n)).
    assert abs(math.log(dist["median"] / MEDIAN_H)) < 4 * SIGMA / math.sqrt(N)
    assert abs(dist["sigma"] - SIGMA) < 4 * SIGMA / math.sqrt(2 * N)
    assert dist["min"] <= dist["max"]
    gang = block["gang_size"]
    assert gang["kind"] == "table"
    assert gang["values"] == list(SIZES)
    shares = np.asarray(gang["weights"]) / 100.0
    for share, p in zip(shares, SIZES.values(), strict=True):
        assert abs(share - p) < 4 * math.sqrt(p * (1 - p) / N)
    # n jobs over the span from first to last submit, which is 100 days up to O(1/n).
    assert block["arrival"]["rate_per_day"] == pytest.approx(N / SPAN_DAYS, rel=0.01)
    # Relative times: no profiles; no estimates in the trace: no estimate block.
    assert "daily_profile" not in block["arrival"]
    assert "estimate" not in block


def test_fit_report_quality_numbers(synthetic: pd.DataFrame) -> None:
    block = fit_job_class(synthetic, name="synthetic")
    report = fit_report(synthetic, block, capacity_cards=1000)
    work = report["work"]
    # Lilliefors: with fitted parameters the KS distance is below 1.36/sqrt(n) (= 0.0096)
    # at 95%; 0.02 leaves room while catching a wrong CDF.
    assert work["ks_distance"] < 0.02
    assert work["se_log_mean"] == pytest.approx(SIGMA / math.sqrt(N), rel=0.05)
    assert report["arrival"]["jobs_per_card_day"] == pytest.approx(N / SPAN_DAYS / 1000, rel=0.01)
    assert report["gang_size"]["mean_block"] == pytest.approx(
        report["gang_size"]["mean_trace"], rel=1e-3
    )  # shares rounded to 4 digits
    # Independent size and run time: the class reproduces the offered card-hours within
    # the sampling error of a heavy-tailed mean (exp(sigma^2)-1 = 8.5 -> ~2% per 20k jobs).
    assert report["load"]["ratio"] == pytest.approx(1.0, abs=0.1)
    assert report["trace"]["capacity_source"] == "given"
    assert report["notes"]


def test_fit_block_validates_in_a_scenario(synthetic: pd.DataFrame) -> None:
    block = fit_job_class(synthetic, name="evaluation", max_cards=4)
    scenario = validate_mapping(minimal_scenario(block))
    (job_class,) = scenario.workload.classes
    assert job_class.name == "evaluation"
    assert max(job_class.gang_size.values) <= 4  # type: ignore[union-attr]
    report = fit_report(synthetic, block, max_cards=4)
    text = block_yaml(block, report, command="lingang-sim traces fit synthetic.csv")
    assert text.startswith("# Workload class 'evaluation'")
    assert yaml.safe_load(text) == block
    assert class_work_per_day(job_class) > 0


def test_daily_and_weekly_profiles_are_recovered() -> None:
    rng = np.random.default_rng(7)
    daily = np.array([0.5] * 8 + [1.5] * 8 + [1.0] * 8)  # mean 1
    weekly = np.array([1.2] * 5 + [0.5] * 2)  # mean 1, Monday first
    days = 70  # ten whole weeks from Monday 2024-01-01
    t = rng.uniform(0, days * 86400, 160_000)
    hour = (t // 3600).astype(int) % 24
    weekday = (t // 86400).astype(int) % 7
    keep = rng.uniform(0, daily.max() * weekly.max(), t.size) < daily[hour] * weekly[weekday]
    t = t[keep]
    table = make_table(
        t,
        np.ones(t.size),
        np.full(t.size, 60.0) * rng.uniform(1, 2, t.size),
        format="philly",
        time_format="datetime",
        epoch="2024-01-01T00:00:00",
    )
    block = fit_job_class(table, name="clocked", span_days=days)
    # Smallest expected bin count ~ 0.5 x n/24 = 2,000 (relative SE 2.2%); largest value
    # 1.5: 4 SE ~ 0.14 at worst for the daily bins, ~0.06 for the weekly ones.
    assert np.allclose(block["arrival"]["daily_profile"], daily, atol=0.14)
    assert np.allclose(block["arrival"]["weekly_profile"], weekly, atol=0.06)
    report = fit_report(table, block, span_days=days)
    assert report["arrival"]["daily_profile_max_abs_diff"] < 0.01
    assert "time zone is not stated" in report["arrival"]["clock"]


def test_profiles_account_for_partial_windows() -> None:
    # One job per hour over 36 hours starting at noon: every hour has the same rate, even
    # though hours 12-23 occur twice and 0-11 once.
    t = 12 * 3600 + np.arange(36) * 3600.0 + 1800.0
    daily, _ = arrival_profiles(t, window=(12 * 3600.0, 48 * 3600.0))
    assert daily == [1.0] * 24


def test_swf_clock_uses_the_site_time_zone() -> None:
    table = make_table(
        np.array([0.0, 3600.0]),
        np.array([1, 1]),
        np.array([10.0, 20.0]),
        format="swf",
        header={"UnixStartTime": 0, "TimeZoneString": "Asia/Shanghai"},
    )
    clock = trace_clock(table)
    assert clock.zone == "Asia/Shanghai"
    assert clock.local_s is not None
    assert clock.local_s.tolist() == [8 * 3600.0, 9 * 3600.0]
    assert (
        trace_clock(make_table(*table[["submit_s", "cards", "run_s"]].T.to_numpy())).local_s is None
    )


def test_estimate_factors_become_bounds() -> None:
    rng = np.random.default_rng(3)
    n = 2000
    run = np.exp(rng.normal(7, 1, n))
    factor = rng.uniform(1.5, 4.0, n)
    table = make_table(rng.uniform(0, 86400 * 10, n), np.ones(n), run, estimate_s=run * factor)
    block = fit_job_class(table, name="estimated")
    # The 10% and 90% quantiles of U(1.5, 4) are 1.75 and 3.75; SE of a sample quantile
    # sqrt(q (1-q) / n) / density = 0.0067 / 0.4 = 0.017.
    assert block["estimate"]["factor_min"] == pytest.approx(1.75, abs=0.07)
    assert block["estimate"]["factor_max"] == pytest.approx(3.75, abs=0.07)


# --------------------------------------------------------------------------- pieces


def test_size_table_merges_rare_sizes_to_the_nearest_kept() -> None:
    cards = np.array([1] * 50 + [2] * 30 + [3] * 1 + [64] * 19)
    values, weights, moved = size_table(cards, max_sizes=3)
    assert values == [1, 2, 64]  # the largest size is kept
    assert weights == [50.0, 31.0, 19.0]
    assert moved == {3: 2}  # log2(3) is nearer log2(2) than log2(64)
    values, weights, moved = size_table(cards, max_sizes=12, min_share=0.05)
    assert values == [1, 2, 64]
    assert moved == {3: 2}


def test_ks_distance_of_the_quantile_sample_is_half_a_step() -> None:
    n = 400
    dist = LognormalDistribution(kind="lognormal", median=2.0, sigma=0.8)
    x = np.exp(math.log(2.0) + 0.8 * ndtri((np.arange(1, n + 1) - 0.5) / n))
    assert ks_distance(x, dist) == pytest.approx(0.5 / n, rel=1e-6)


def test_clipped_lognormal_mean_matches_the_sampler() -> None:
    dist = LognormalDistribution(kind="lognormal", median=1.0, sigma=1.5, min=0.1, max=20.0)
    draws = sample(dist, np.random.default_rng(11), 400_000)
    se = draws.std() / math.sqrt(draws.size)
    assert abs(distribution_mean(dist) - draws.mean()) < 4 * se


def test_combine_and_trim_keep_a_shared_window() -> None:
    a = make_table(np.array([0.0, 86400.0]), np.array([1, 1]), np.array([60.0, 60.0]))
    b = make_table(np.array([43200.0, 3 * 86400.0]), np.array([8, 8]), np.array([60.0, 60.0]))
    b.attrs["file"] = "other.csv"
    both = combine_tables([a, b])
    assert both["submit_s"].tolist() == [0.0, 43200.0, 86400.0, 3 * 86400.0]
    assert both.attrs["files"] == ["synthetic.csv", "other.csv"]
    window = trim_window(both, start_day=0.25, span_days=1.0)
    assert window["submit_s"].tolist() == [43200.0, 86400.0]
    with pytest.raises(TraceError, match="no job submitted in the window"):
        trim_window(both, start_day=1.5, span_days=0.5)


# --------------------------------------------------------------------------- errors


def test_too_few_jobs_raise_with_the_reason(synthetic: pd.DataFrame) -> None:
    small = synthetic.iloc[:10].copy()
    small.attrs = synthetic.attrs
    with pytest.raises(TraceError, match=r"too few jobs to fit: 10 .* at least 30"):
        fit_job_class(small, name="small")


def test_no_positive_run_time_raises() -> None:
    table = make_table(np.arange(50.0) * 600, np.ones(50), np.zeros(50))
    with pytest.raises(TraceError, match="no job has a positive run time"):
        fit_job_class(table, name="zero")


def test_no_spread_raises() -> None:
    table = make_table(np.arange(50.0) * 600, np.ones(50), np.full(50, 300.0))
    with pytest.raises(TraceError, match="no spread in run time"):
        fit_job_class(table, name="constant")


def test_empty_or_impossible_selection_raises(synthetic: pd.DataFrame) -> None:
    with pytest.raises(TraceError, match="no job in this card range"):
        fit_job_class(synthetic, name="big", min_cards=64)
    with pytest.raises(TraceError, match="exceeds max_cards"):
        fit_job_class(synthetic, name="bad", min_cards=8, max_cards=2)


def test_report_rejects_an_invalid_block(synthetic: pd.DataFrame) -> None:
    with pytest.raises(TraceError, match="not a valid job class"):
        fit_report(synthetic, {"name": "x"})


# --------------------------------------------------------------------------- CLI


@pytest.fixture()
def cli() -> click.Group:
    @click.group()
    def group() -> None:
        """A throwaway group for the fit command."""

    add_fit_command(group)
    return group


def test_cli_writes_block_report_and_figure(cli: click.Group, tmp_path: Path) -> None:
    out, report, figure = tmp_path / "block.yaml", tmp_path / "fit.json", tmp_path / "fit.png"
    args = [
        "fit", str(DATA / "philly-pollux.head300.csv.gz"), "--format", "philly",
        "--name", "evaluation", "--max-cards", "8", "--capacity", "2490",
        "--out", str(out), "--report", str(report), "--figure", str(figure),
    ]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "# trace: " in text and "philly-pollux.head300.csv.gz" in text
    assert "Kolmogorov-Smirnov distance" in text
    assert "jobs per card per day (capacity 2,490 cards, given)" in text
    block = yaml.safe_load(text)
    validate_mapping(minimal_scenario(block))
    stats = json.loads(report.read_text(encoding="utf-8"))
    assert stats["block"] == block
    assert 0 <= stats["report"]["work"]["ks_distance"] <= 1
    assert figure.read_bytes()[:8] == PNG_MAGIC
    # Outputs are not replaced without --force.
    again = CliRunner().invoke(cli, args)
    assert isinstance(again.exception, OutputError)
    rerun = [*args[: args.index("--figure")], "--force"]
    assert CliRunner().invoke(cli, rerun).exit_code == 0


def test_cli_prints_the_block_of_a_trace_without_clock(cli: click.Group) -> None:
    args = ["fit", str(DATA / "itp-2021-cluster10.csv.gz"), "--format", "itp", "--name", "itp"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "no clock time" in result.stdout
    JobClass.model_validate(yaml.safe_load(result.stdout))


def test_cli_reports_a_fit_that_cannot_be_made(cli: click.Group) -> None:
    args = [
        "fit", str(DATA / "philly-pollux.head300.csv.gz"), "--format", "philly",
        "--name", "pretraining", "--min-cards", "64",
    ]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0
    assert isinstance(result.exception, TraceError)
    assert "no job in this card range" in str(result.exception)
