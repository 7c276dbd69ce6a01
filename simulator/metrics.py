"""Every metric of a run, each defined once, computed from the engine's raw records.

Definitions (hours throughout; "after warm-up" means jobs submitted, or time bins
starting, at or after ``warmup_days``):

* **utilisation** = busy card-hours / online card-hours, over time bins after warm-up;
  broken down by ``centre``, ``card_type`` and calendar ``year``.
* **queue time** ``wait_h`` = first start - submit, over jobs submitted after warm-up
  that started before the horizon; mean (exact) and p50/p95/p99 (from log-binned
  histograms, exact to 0.5 %), overall, by gang-size ``size`` class and by submit
  ``year``.
* **job completion time** ``jct_h`` = end - submit, over finished jobs.
* **bounded slowdown** ``bsld`` = max(1, (wait + run) / max(run, 10 s)), over finished
  jobs.
* **backlog** = queued card demand (cards of waiting jobs), time-averaged after warm-up.
* **fragmentation** = free cards that no queued job's shape can use under the placement
  rules (:mod:`simulator.fragmentation`), sampled once per time bin at its middle;
  ``fragmented_cards_mean`` averages the samples after warm-up over the whole fleet.
* **jobs still waiting at the horizon**: submitted, never started.
* **Little's law**: ``little_L`` is the time-average number of queued jobs measured by
  the engine while it ran; ``little_lambda_W`` = (sum over jobs of min(start, H) -
  submit) / H from the records; the two must agree in every run.
* **out of service**: cards in repair, in maintenance and kept as hot spares per pool
  and bin (``repair_cards``, ``maintenance_cards``, ``spare_cards``); ``idle_cards`` =
  online - busy - repair - maintenance (spares are idle). Means after warm-up in the
  summary (``repair_cards_mean`` ...).
* **goodput** = useful card-hours / busy card-hours, where lost = busy - useful is split
  by cause: ``rework`` (computation since the last checkpoint, redone after a stop),
  ``restart`` (restart overhead) and ``checkpoint`` (checkpoint writes); overall, by
  ``centre`` and by gang-size ``size`` class, over the whole run. ``interruptions`` counts
  stops caused by failures; ``interruptions_per_job`` divides by the jobs that started.
* **campaigns**: ``campaign_days`` is submit to finish; ``campaign_days_failure_free`` is
  the same first start plus the campaign's computation and checkpoint writes with no
  interruption (the time to train had nothing failed).
* **energy** = (busy cards + idle cards x idle fraction) x power per card x PUE x
  hours (cards in repair or maintenance draw nothing), in MWh, where power per card is
  the all-in figure when the card type gives one (server, network and storage share)
  and the board power otherwise; **cost** = energy x price per kWh.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from simulator.engine import RawRun
from simulator.fleet import Pool
from simulator.recorder import (
    STATE_DONE,
    STATE_NAMES,
    STATE_QUEUED,
    STATE_RUNNING,
    Chunk,
    add_intervals,
    hist_edges,
    hist_quantile,
)
from simulator.reliability import CAUSES
from simulator.scenario.schema import SIZE_CLASSES, Scenario
from simulator.workload import class_names, tenant_names

QUANTILES = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))

# The values each summary metric can take (by the name before any "[...]"): fractions
# in [0, 1], bounded slowdown from 1, everything else counts, hours, energy or money.
_FRACTIONS = ("utilisation", "goodput")
_FROM_ONE = ("bsld_mean",)
_NON_NEGATIVE = (
    "backlog_cards_mean", "backlog_jobs_mean", "busy_card_h", "campaign_days",
    "campaign_days_failure_free", "energy_cost_cny", "energy_mwh", "fragmented_cards_mean",
    "idle_failures", "interruptions", "interruptions_per_job", "jct_h_mean", "jct_h_p50",
    "jct_h_p95", "jct_h_p99", "jobs_finished", "jobs_measured", "jobs_running_at_horizon",
    "jobs_started", "jobs_submitted", "jobs_waiting_at_horizon", "little_L",
    "little_lambda_W", "lost_card_h", "lost_work_ref_card_h", "maintenance_cards_mean",
    "online_card_h", "preemptions", "repair_cards_mean", "spare_cards_mean",
    "spare_restarts", "wait_h_mean", "wait_h_p50", "wait_h_p95", "wait_h_p99",
)  # fmt: skip


def metric_range(metric: str) -> tuple[float, float]:
    """The values summary metric ``metric`` (e.g. ``wait_h_p95[size=1]``) can take;
    (-inf, inf) for a name this module does not define."""
    base = metric.split("[", 1)[0]
    if base in _FRACTIONS:
        return 0.0, 1.0
    if base in _FROM_ONE:
        return 1.0, math.inf
    if base in _NON_NEGATIVE:
        return 0.0, math.inf
    return -math.inf, math.inf


def bin_dates(scenario: Scenario, starts_h: np.ndarray) -> pd.DatetimeIndex:
    base = pd.Timestamp(scenario.start)
    return base + pd.to_timedelta(starts_h, unit="h")


def utilisation_table(raw: RawRun) -> pd.DataFrame:
    """Busy and online card-hours per pool and time bin (see :mod:`simulator.results`)."""
    rec = raw.recorder
    sc = raw.scenario
    n, step = rec.n_bins, rec.step_h
    online = np.zeros((len(raw.pools), n + 1))
    if raw.capacity_events:
        ev = raw.capacity_events
        add_intervals(
            step,
            n,
            online,
            np.array([e.pool for e in ev]),
            np.array([e.time_h for e in ev]),
            np.full(len(ev), rec.horizon_h),
            np.array([float(e.delta_cards) for e in ev]),
        )
    starts = np.arange(n) * step
    ends = np.minimum(starts + step, rec.horizon_h)
    width = ends - starts
    dates = bin_dates(sc, starts)
    frames = []
    repair, maintenance, spare = (rec.out_of_service[k] for k in range(3))
    for pool in raw.pools:
        busy = rec.busy[pool.index, :n]
        on = online[pool.index, :n]
        out = repair[pool.index, :n] + maintenance[pool.index, :n]
        with np.errstate(invalid="ignore", divide="ignore"):
            util = np.where(on > 0, busy / on, np.nan)
        frames.append(
            pd.DataFrame(
                {
                    "bin_start_h": starts,
                    "bin_end_h": ends,
                    "date": dates,
                    "centre": pool.centre,
                    "pool": pool.name,
                    "card_type": pool.card_type,
                    "online_cards": on / width,
                    "busy_cards": busy / width,
                    "busy_card_h": busy,
                    "online_card_h": on,
                    "utilisation": util,
                    "idle_cards": (on - busy - out) / width,
                    "repair_cards": repair[pool.index, :n] / width,
                    "maintenance_cards": maintenance[pool.index, :n] / width,
                    "spare_cards": spare[pool.index, :n] / width,
                    "out_of_service_card_h": out,
                    "fragmented_cards": rec.fragmented[pool.index, :n],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def backlog_table(raw: RawRun) -> pd.DataFrame:
    rec = raw.recorder
    n, step = rec.n_bins, rec.step_h
    starts = np.arange(n) * step
    ends = np.minimum(starts + step, rec.horizon_h)
    width = ends - starts
    return pd.DataFrame(
        {
            "bin_start_h": starts,
            "bin_end_h": ends,
            "date": bin_dates(raw.scenario, starts),
            "queued_jobs": rec.queued_jobs[:n] / width,
            "queued_cards": rec.queued_cards[:n] / width,
        }
    )


def capacity_table(raw: RawRun) -> pd.DataFrame:
    rows = [
        {
            "time_h": e.time_h,
            "centre": raw.pools[e.pool].centre,
            "pool": raw.pools[e.pool].name,
            "card_type": raw.pools[e.pool].card_type,
            "delta_cards": e.delta_cards,
            "online_cards": e.online_cards,
            "label": e.label,
        }
        for e in raw.capacity_events
    ]
    df = pd.DataFrame(
        rows,
        columns=["time_h", "centre", "pool", "card_type", "delta_cards", "online_cards", "label"],
    )
    df.insert(1, "date", bin_dates(raw.scenario, df["time_h"].to_numpy(dtype=float)))
    return df


def jobs_table(raw: RawRun) -> pd.DataFrame | None:
    """The per-job table, or None when job records were not kept in memory."""
    cols = raw.recorder.job_columns()
    if cols is None:
        return None
    return jobs_frame(cols, raw.scenario, raw.pools)


def jobs_frame(cols: Chunk, sc: Scenario, pools: list[Pool]) -> pd.DataFrame:
    """Per-job rows (see :mod:`simulator.results`) from a chunk of recorder columns."""
    streams = class_names(sc)
    campaign_names = [c.name for c in sc.workload.campaigns]
    jc = cols["job_class"].astype(np.int64)
    pool_idx = cols["pool"].astype(np.int64)
    centre_of = np.array([p.centre for p in pools] + [""], dtype=object)
    pool_of = np.array([p.name for p in pools] + [""], dtype=object)
    type_of = np.array([p.card_type for p in pools] + [""], dtype=object)
    names = np.array(streams + campaign_names[::-1], dtype=object)
    # Campaign k is stored as -1 - k: counted from the end, it indexes the reversed names.
    class_label = names[np.where(jc >= 0, jc, len(names) + jc)]
    campaign = np.where(jc < 0, class_label, "")
    tenants = np.array(tenant_names(sc), dtype=object)
    cards = cols["cards"].astype(np.int64)
    size_edges = np.array([lo for _, lo, _ in SIZE_CLASSES])
    size_labels = np.array([label for label, _, _ in SIZE_CLASSES], dtype=object)
    df = pd.DataFrame(
        {
            "job_id": cols["job_id"].astype(np.int64),
            "job_class": class_label,
            "tenant": tenants[cols["tenant"].astype(np.int64)],
            "priority": cols["priority"].astype(np.int64),
            "cards": cards,
            "size_class": size_labels[np.searchsorted(size_edges, cards, side="right") - 1],
            "submit_h": cols["submit_h"],
            "start_h": cols["start_h"],
            "end_h": cols["end_h"],
            "wait_h": cols["start_h"] - cols["submit_h"],
            "run_h": cols["end_h"] - cols["start_h"],
            "centre": centre_of[pool_idx],
            "pool": pool_of[pool_idx],
            "card_type": type_of[pool_idx],
            "work_ref_card_h": cols["work_ref_card_h"],
            "estimate_h": cols["estimate_h"],
            "state": np.array(STATE_NAMES, dtype=object)[cols["state"].astype(np.int64)],
            "last_start_h": cols["last_start_h"],
            "preemptions": cols["preemptions"].astype(np.int64),
            "failures": cols["failures"].astype(np.int64),
            "lost_work_ref_card_h": cols["lost_work_ref_card_h"],
            "campaign": campaign,
        }
    )
    return df.sort_values("job_id", kind="stable").reset_index(drop=True)


def wait_histogram_table(raw: RawRun) -> pd.DataFrame:
    """Waits of started jobs submitted after warm-up, binned: the non-empty bins.

    Columns: size_class (a SIZE_CLASSES label or "all"), year (calendar year, or 0 for
    all years), wait_low_h, wait_high_h (bin edges; the first bin is [0, 0.36 s)) and
    count. Available whether or not per-job records are kept.
    """
    rec = raw.recorder
    sizes = [label for label, _, _ in SIZE_CLASSES] + ["all"]
    years = [raw.scenario.start.year + i for i in range(rec.n_years)] + [0]
    si, yi, b = np.nonzero(rec.wait_hist)
    low, high = hist_edges(b)
    return pd.DataFrame(
        {
            "size_class": np.array(sizes, dtype=object)[si],
            "year": np.array(years, dtype=np.int64)[yi],
            "wait_low_h": low,
            "wait_high_h": high,
            "count": rec.wait_hist[si, yi, b],
        }
    )


def energy_table(raw: RawRun, utilisation: pd.DataFrame) -> pd.DataFrame:
    """Energy (MWh) and cost per centre and calendar year."""
    sc = raw.scenario
    power_w = {c.name: c.power_w for c in sc.card_types}
    idle = {c.name: c.idle_power_fraction for c in sc.card_types}
    pue = {c.name: c.pue for c in sc.centres}
    u = utilisation
    idle_card_h = u["online_card_h"] - u["busy_card_h"] - u["out_of_service_card_h"]
    watts = u["card_type"].map(power_w)
    it_wh = (u["busy_card_h"] + idle_card_h * u["card_type"].map(idle)) * watts
    frame = pd.DataFrame(
        {
            "centre": u["centre"],
            "year": u["date"].dt.year,
            "energy_mwh": it_wh * u["centre"].map(pue) / 1e6,
        }
    )
    out = frame.groupby(["centre", "year"], as_index=False).agg(energy_mwh=("energy_mwh", "sum"))
    out["cost_cny"] = out["energy_mwh"] * 1000.0 * sc.energy.price_cny_per_kwh
    return out


def summary(raw: RawRun, utilisation: pd.DataFrame, energy: pd.DataFrame) -> dict[str, float]:
    """The run's headline metrics as a flat dict (keys like ``wait_h_p95[size=1]``)."""
    sc = raw.scenario
    rec = raw.recorder
    out: dict[str, float] = {}
    # Utilisation after warm-up.
    u = utilisation[utilisation["bin_start_h"] >= sc.warmup_h]
    out["utilisation"] = _ratio(u["busy_card_h"].sum(), u["online_card_h"].sum())
    for key, col in (("centre", "centre"), ("card_type", "card_type")):
        for name, g in u.groupby(col, sort=False):
            out[f"utilisation[{key}={name}]"] = _ratio(
                g["busy_card_h"].sum(), g["online_card_h"].sum()
            )
    for year, g in u.groupby(u["date"].dt.year):
        out[f"utilisation[year={year}]"] = _ratio(g["busy_card_h"].sum(), g["online_card_h"].sum())
    out["busy_card_h"] = float(u["busy_card_h"].sum())
    out["online_card_h"] = float(u["online_card_h"].sum())
    # Waits, completion times, slowdowns.
    n_size, n_years = len(SIZE_CLASSES), rec.n_years
    years = [sc.start.year + i for i in range(n_years)]
    size_keys = [(label, i) for i, (label, _, _) in enumerate(SIZE_CLASSES)]

    def put(prefix: str, hist: np.ndarray, total: np.ndarray, count: np.ndarray) -> None:
        def one(suffix: str, si: int, yi: int, quantiles: bool = True) -> None:
            n = int(count[si, yi])
            out[f"{prefix}_mean{suffix}"] = float(total[si, yi] / n) if n else float("nan")
            if quantiles:
                for name, q in QUANTILES:
                    out[f"{prefix}_{name}{suffix}"] = hist_quantile(hist[si, yi], q)

        one("", n_size, n_years)
        for label, si in size_keys:
            one(f"[size={label}]", si, n_years)
        for yi, year in enumerate(years):
            one(f"[year={year}]", n_size, yi)
            for label, si in size_keys:
                one(f"[size={label},year={year}]", si, yi)

    put("wait_h", rec.wait_hist, rec.wait_sum, rec.wait_n)
    put("jct_h", rec.jct_hist, rec.jct_sum, rec.done_n)
    n_done = rec.done_n[n_size, n_years]
    out["bsld_mean"] = float(rec.bsld_sum[n_size, n_years] / n_done) if n_done else float("nan")
    for label, si in size_keys:
        n = rec.done_n[si, n_years]
        out[f"bsld_mean[size={label}]"] = (
            float(rec.bsld_sum[si, n_years] / n) if n else float("nan")
        )
    # Backlog after warm-up.
    n_bins = rec.n_bins
    starts = np.arange(n_bins) * rec.step_h
    after = starts >= sc.warmup_h
    span = float(np.sum(np.minimum(starts[after] + rec.step_h, rec.horizon_h) - starts[after]))
    out["backlog_cards_mean"] = (
        float(rec.queued_cards[:n_bins][after].sum() / span) if span else float("nan")
    )
    after_bins = np.arange(n_bins) * rec.step_h >= sc.warmup_h
    out["fragmented_cards_mean"] = (
        float(rec.fragmented[:, :n_bins][:, after_bins].sum(axis=0).mean())
        if after_bins.any()
        else float("nan")
    )
    out["backlog_jobs_mean"] = (
        float(rec.queued_jobs[:n_bins][after].sum() / span) if span else float("nan")
    )
    # Counts (all jobs, warm-up included).
    state_counts = _state_counts(raw)
    out["jobs_submitted"] = float(raw.jobs_submitted)
    out["jobs_measured"] = float(rec.submitted_n[n_size, n_years])
    out["jobs_finished"] = float(state_counts[STATE_DONE])
    out["jobs_running_at_horizon"] = float(state_counts[STATE_RUNNING])
    out["jobs_waiting_at_horizon"] = float(state_counts[STATE_QUEUED])
    out["jobs_started"] = out["jobs_finished"] + out["jobs_running_at_horizon"]
    out["preemptions"] = float(rec.preemptions)
    out["lost_work_ref_card_h"] = rec.lost_work
    # Little's law over the whole run.
    out["little_L"] = raw.queue_area_job_h / rec.horizon_h
    out["little_lambda_W"] = rec.truncated_wait_sum / rec.horizon_h
    # Energy.
    out["energy_mwh"] = float(energy["energy_mwh"].sum())
    out["energy_cost_cny"] = float(energy["cost_cny"].sum())
    for centre, g in energy.groupby("centre", sort=False):
        out[f"energy_mwh[centre={centre!s}]"] = float(g["energy_mwh"].sum())
    for year, g in energy.groupby("year"):
        out[f"energy_mwh[year={year!s}]"] = float(g["energy_mwh"].sum())
    # Campaigns: time to train (submit to finish), days; and had nothing failed.
    for name, (submit, end, ideal) in raw.extra.get("campaigns", {}).items():
        out[f"campaign_days[name={name}]"] = (end - submit) / 24.0
        out[f"campaign_days_failure_free[name={name}]"] = (ideal - submit) / 24.0
    out.update(reliability_summary(raw, utilisation))
    return out


def reliability_summary(raw: RawRun, utilisation: pd.DataFrame) -> dict[str, float]:
    """Goodput, lost card-hours by cause, interruptions and out-of-service cards."""
    rec = raw.recorder
    rel = raw.extra.get("reliability")
    out: dict[str, float] = {}
    u = utilisation[utilisation["bin_start_h"] >= raw.scenario.warmup_h]
    width = float((u["bin_end_h"] - u["bin_start_h"]).groupby(u["pool"]).sum().max() or 0.0)
    for col in ("repair_cards", "maintenance_cards", "spare_cards"):
        card_h = (u[col] * (u["bin_end_h"] - u["bin_start_h"])).sum()
        out[f"{col}_mean"] = float(card_h / width) if width else float("nan")
    if rel is None:
        return out
    lost = rel.lost  # (pool, size class, cause)
    busy = rec.busy_by_size  # (pool, size class)
    out["goodput"] = _ratio(busy.sum() - lost.sum(), busy.sum())
    for k, cause in enumerate(CAUSES):
        out[f"lost_card_h[cause={cause}]"] = float(lost[:, :, k].sum())
    centres = sorted({p.centre for p in raw.pools}, key=[p.centre for p in raw.pools].index)
    for centre in centres:
        idx = [p.index for p in raw.pools if p.centre == centre]
        out[f"goodput[centre={centre}]"] = _ratio(
            busy[idx].sum() - lost[idx].sum(), busy[idx].sum()
        )
    for si, (label, _, _) in enumerate(SIZE_CLASSES):
        out[f"goodput[size={label}]"] = _ratio(
            busy[:, si].sum() - lost[:, si].sum(), busy[:, si].sum()
        )
        out[f"interruptions_per_job[size={label}]"] = _ratio(
            rec.failures_by_size[si], rec.started_by_size[si]
        )
    out["interruptions"] = float(rel.failures)
    out["interruptions_per_job"] = _ratio(rec.failures_by_size[-1], rec.started_by_size[-1])
    out["idle_failures"] = float(rel.idle_failure_count)
    out["spare_restarts"] = float(rel.spare_restarts)
    return out


def _state_counts(raw: RawRun) -> dict[int, int]:
    return dict(raw.extra.get("state_counts", {STATE_DONE: 0, STATE_RUNNING: 0, STATE_QUEUED: 0}))


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 else float("nan")
