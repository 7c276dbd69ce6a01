"""Confidence intervals across replications: Student t, within each metric's range."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from simulator.metrics import metric_range
from simulator.stats import intervals, paired_differences, t_interval


def _long(metric: str, values: list[float], scenario: str = "s") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "scenario": scenario,
            "replication": range(len(values)),
            "metric": metric,
            "value": values,
        }
    )


def test_t_interval_is_student_t():
    # mean 2, sd 1, n 3: half width t(0.975, 2) x 1 / sqrt(3) = 4.3027 / 1.7321 = 2.4841
    mean, sem, low, high, n = t_interval([1.0, 2.0, 3.0])
    assert (mean, n) == (2.0, 3)
    assert sem == pytest.approx(1 / math.sqrt(3))
    assert (low, high) == pytest.approx((2 - 2.4841, 2 + 2.4841), abs=1e-4)


@pytest.mark.parametrize(
    ("metric", "values", "expected"),
    [
        # zero in four replications, 92.4 h in one: t-interval [-32.8, 69.8] -> [0, 69.8]
        ("wait_h_p95[size=1,year=2025]", [0.0, 0.0, 92.4, 0.0, 0.1], (0.0, None)),
        # a fraction near 1: the upper bound stops at 1
        ("utilisation", [0.99, 0.5, 0.98], (None, 1.0)),
        ("goodput[centre=a]", [0.99, 0.9, 0.999], (None, 1.0)),
        # bounded slowdown is at least 1
        ("bsld_mean", [1.0, 1.0, 9.0], (1.0, None)),
    ],
)
def test_intervals_stay_within_the_metric_range(metric, values, expected):
    """Oracle: the plain t-interval intersected with the metric's range (the true mean
    is inside the range, so the intersection covers it exactly as often)."""
    _, _, low, high, _ = t_interval(values)
    row = intervals(_long(metric, values)).iloc[0]
    want_low = expected[0] if expected[0] is not None else low
    want_high = expected[1] if expected[1] is not None else high
    assert expected[0] is None or low < expected[0]  # the plain interval did cross
    assert expected[1] is None or high > expected[1]
    assert row["ci_low"] == pytest.approx(want_low)
    assert row["ci_high"] == pytest.approx(want_high)


def test_intervals_inside_the_range_are_unchanged():
    values = [10.0, 12.0, 11.0, 13.0]
    _, _, low, high, _ = t_interval(values)
    row = intervals(_long("wait_h_mean", values)).iloc[0]
    assert (row["ci_low"], row["ci_high"]) == (low, high)


def test_unknown_metrics_and_differences_are_not_clipped():
    assert metric_range("some_new_metric[x=1]") == (-math.inf, math.inf)
    row = intervals(_long("some_new_metric", [-5.0, 1.0, 2.0])).iloc[0]
    assert row["ci_low"] < -5
    base = _long("wait_h_mean", [5.0, 1.0, 3.0], "a")
    other = _long("wait_h_mean", [1.0, 2.0, 1.0], "b")
    diff = paired_differences(pd.concat([base, other]), "a")
    assert float(diff["diff_ci_low"].min()) < 0  # a difference may be negative


def test_every_summary_metric_has_a_declared_range():
    """A metric added to the summary must be given its range in ``metrics.metric_range``
    (otherwise its intervals are silently left uncut)."""
    from simulator import load_scenario, run

    scenario = load_scenario(
        Path(__file__).resolve().parents[1] / "scenarios" / "toy-two-centres.yaml",
        [
            "horizon_days=4",
            "warmup_days=1",
            "failures={rate_per_card_h: 0.001, repair_h: {kind: constant, value: 5}}",
        ],
    )
    summary = run(scenario).summary
    unknown = sorted({k.split("[")[0] for k in summary if metric_range(k) == (-math.inf, math.inf)})
    assert not unknown, unknown
