"""Statistics across replications: confidence intervals and paired differences.

Replications are independent (separate random streams), so a metric's replication
means are i.i.d. and a Student-t interval applies. Two scenarios run with the same seed
and replication index share their arrivals (common random numbers); their per-
replication difference is then far less noisy than either, and its t-interval is the
honest measure of "did this change matter".

A metric's interval is intersected with the values the metric can take
(:func:`simulator.metrics.metric_range`: utilisation in [0, 1], waits from 0, ...): its
true mean lies there, so the coverage is unchanged and no bound is impossible (a wait
that is zero in four replications of five and 92 h in the fifth has the t-interval
[-33, 70] h; it is reported as [0, 70] h). Paired differences are not clipped.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as sps

from simulator.metrics import metric_range

LEVEL = 0.95


def t_interval(
    values: np.ndarray | list[float], level: float = LEVEL
) -> tuple[float, float, float, float, int]:
    """Mean, standard error and a two-sided Student-t interval of i.i.d. values.

    NaN values are dropped; with fewer than two values the interval is (NaN, NaN).

    >>> mean, sem, low, high, n = t_interval([1.0, 2.0, 3.0])
    >>> (mean, n), round(low, 3), round(high, 3)
    ((2.0, 3), -0.484, 4.484)
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan, 0
    mean = float(x.mean())
    if n < 2:
        return mean, math.nan, math.nan, math.nan, n
    sem = float(x.std(ddof=1) / math.sqrt(n))
    half = float(sps.t.ppf(0.5 + level / 2, n - 1)) * sem
    return mean, sem, mean - half, mean + half, n


def intervals(summaries: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """Per scenario and metric: mean, sem, ci_low, ci_high (within the metric's range), n.

    Args:
        summaries: long table with columns scenario, replication, metric, value.
    """
    rows = []
    for (scenario, metric), g in summaries.groupby(["scenario", "metric"], sort=False):
        mean, sem, low, high, n = t_interval(g["value"].to_numpy(), level)
        if n >= 2:
            least, most = metric_range(str(metric))
            low, high = max(low, least), min(high, most)
        rows.append((scenario, metric, mean, sem, low, high, n))
    return pd.DataFrame(
        rows, columns=["scenario", "metric", "mean", "sem", "ci_low", "ci_high", "n"]
    )


def paired_differences(
    summaries: pd.DataFrame, baseline: str, level: float = LEVEL
) -> pd.DataFrame:
    """Per scenario other than ``baseline`` and metric: mean paired difference and interval.

    The difference of replication r is ``value(scenario, r) - value(baseline, r)``.
    """
    wide = summaries.pivot_table(
        index=["metric", "replication"], columns="scenario", values="value", dropna=False
    )
    rows = []
    for scenario in summaries["scenario"].unique():
        if scenario == baseline:
            continue
        diff = (wide[scenario] - wide[baseline]).groupby(level="metric", sort=False)
        for metric, d in diff:
            mean, sem, low, high, n = t_interval(d.to_numpy(), level)
            rows.append((scenario, baseline, metric, mean, sem, low, high, n))
    return pd.DataFrame(
        rows,
        columns=[
            "scenario",
            "baseline",
            "metric",
            "diff_mean",
            "diff_sem",
            "diff_ci_low",
            "diff_ci_high",
            "n",
        ],
    )
