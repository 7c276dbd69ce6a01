"""Compact per-job records and the streaming accumulators derived from them.

The engine appends one record per job when it ends (or at the horizon); pending
records are turned into compact typed numpy columns (65 bytes a job) every
``chunk_size`` records. Every ``chunk_size`` records the chunk is
folded, vectorised, into bounded accumulators:

* busy card-hours per pool and time bin (exact interval overlap, not sampling), and per
  pool and gang-size class;
* cards in repair, in maintenance and kept as hot spares per pool and time bin (from the
  intervals the engine reports with :meth:`Recorder.outage`);
* queued jobs and queued cards per time bin (backlog);
* log-binned histograms of wait, job completion time and bounded slowdown by gang-size
  class and submit year, with exact sums and counts beside them.

The chunk is then kept (``job_records="memory"``), handed to a sink (for example a
Parquet writer supplied by the caller), or dropped, so memory stays bounded whatever the
number of jobs. The recorder never writes files itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from simulator.scenario.schema import SIZE_CLASSES

# Histogram bins for durations in hours: bin 0 holds values below HIST_MIN_H (reported as
# 0); then geometric bins of ratio HIST_RATIO up to HIST_MAX_H; the last bin is overflow.
HIST_MIN_H = 1e-4  # 0.36 s
HIST_MAX_H = 1e6
HIST_RATIO = 1.01  # percentiles are exact to within half a bin: 0.5 % relative
N_GEO = math.ceil(math.log(HIST_MAX_H / HIST_MIN_H) / math.log(HIST_RATIO))
N_BINS = N_GEO + 2
_LOG_MIN = math.log(HIST_MIN_H)
_LOG_RATIO = math.log(HIST_RATIO)

BSLD_THRESHOLD_H = 10.0 / 3600.0  # 10 s, the usual bounded-slowdown threshold

STATE_DONE, STATE_RUNNING, STATE_QUEUED = 0, 1, 2
STATE_NAMES = ("done", "running", "queued")

_SIZE_EDGES = np.array([lo for _, lo, _ in SIZE_CLASSES] + [2**62], dtype=np.int64)

#: Record columns and their compact storage types (65 bytes a job).
DTYPES: dict[str, type] = {
    "job_id": np.int64,
    "job_class": np.int16,
    "tenant": np.int16,
    "priority": np.int32,
    "cards": np.int32,
    "pool": np.int16,
    "state": np.int8,
    "submit_h": np.float64,
    "start_h": np.float64,
    "end_h": np.float64,
    "work_ref_card_h": np.float64,
    "estimate_h": np.float64,
    "last_start_h": np.float64,
    "preemptions": np.int32,  # a long campaign can be interrupted 10^5 times and more
    "failures": np.int32,
    "lost_work_ref_card_h": np.float64,
}
COLUMNS = tuple(DTYPES)
RECORD_DTYPE = np.dtype(list(DTYPES.items()))

Chunk = dict[str, np.ndarray]


def hist_bin(x: np.ndarray) -> np.ndarray:
    """Histogram bin index of each duration in hours."""
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.floor((np.log(np.maximum(x, HIST_MIN_H)) - _LOG_MIN) / _LOG_RATIO).astype(np.int64)
    b = np.clip(b + 1, 1, N_BINS - 1)
    b[x < HIST_MIN_H] = 0
    return b


def hist_value(b: np.ndarray | int) -> np.ndarray:
    """Representative value (geometric bin centre; 0 for bin 0) of histogram bins."""
    b = np.asarray(b)
    centre = np.exp(_LOG_MIN + (b - 1 + 0.5) * _LOG_RATIO)
    return np.where(b == 0, 0.0, centre)


def hist_edges(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper edges (hours) of histogram bins; bin 0 is [0, HIST_MIN_H)."""
    b = np.asarray(b)
    low = np.where(b == 0, 0.0, HIST_MIN_H * np.exp((b - 1) * _LOG_RATIO))
    high = HIST_MIN_H * np.exp(b * _LOG_RATIO)
    return low, high


def hist_quantile(counts: np.ndarray, q: float) -> float:
    """The ``q`` quantile (inverted-CDF convention) of a binned sample; NaN if empty."""
    n = int(counts.sum())
    if n == 0:
        return float("nan")
    rank = max(1, math.ceil(q * n))
    b = int(np.searchsorted(np.cumsum(counts), rank))
    return float(hist_value(b))


def add_intervals(
    step_h: float,
    n_bins: int,
    acc: np.ndarray,
    row: np.ndarray,
    t0: np.ndarray,
    t1: np.ndarray,
    weight: np.ndarray,
) -> None:
    """Add ``weight x overlap([t0, t1), bin)`` hours to ``acc[row, bin]`` for every bin.

    Bins are ``[b * step_h, (b + 1) * step_h)``; ``acc`` has ``n_bins + 1`` columns, the
    last catching time at or after the horizon. Exact and vectorised: a difference array
    of weights per bin, then corrections for the partial first and last bins.
    """
    keep = t1 > t0
    if not keep.all():
        row, t0, t1, weight = row[keep], t0[keep], t1[keep], weight[keep]
    if not len(t0):
        return
    b0 = np.minimum((t0 // step_h).astype(np.int64), n_bins)
    b1 = np.minimum((t1 // step_h).astype(np.int64), n_bins)
    diff = np.zeros_like(acc)
    np.add.at(diff, (row, b0), weight)
    np.add.at(diff, (row, b1), -weight)
    full = np.cumsum(diff, axis=1) * step_h
    np.add.at(full, (row, b0), -weight * (t0 - b0 * step_h))
    np.add.at(full, (row, b1), weight * (t1 - b1 * step_h))
    acc += full


class Recorder:
    """Collects job records in compact columns and folds them into accumulators.

    Args:
        n_pools: number of pools (for the busy-time accumulator).
        horizon_h: run length; running jobs count busy, queued jobs queued, up to it.
        step_h: width of the time bins.
        warmup_h: jobs submitted before it are left out of the wait statistics.
        start_year: calendar year of hour 0; ``year_of_hour`` maps hours to year index.
        keep: whether folded chunks are kept for the per-job table.
        sink: called with each folded chunk (e.g. to stream it to disk).
    """

    def __init__(
        self,
        *,
        n_pools: int,
        horizon_h: float,
        step_h: float,
        warmup_h: float,
        year_starts_h: list[float],
        keep: bool,
        sink: Callable[[Chunk], None] | None = None,
        chunk_size: int = 8192,
    ) -> None:
        self.rows: list[tuple[Any, ...]] = []  # pending records, at most chunk_size
        self.segments: list[tuple[int, int, float, float]] = []  # stopped run segments
        self.requeued: list[tuple[int, float, float]] = []  # waits after a stop
        self.horizon_h = horizon_h
        self.step_h = step_h
        self.n_bins = max(1, math.ceil(horizon_h / step_h - 1e-9))
        self.warmup_h = warmup_h
        self.year_starts_h = np.asarray(year_starts_h, dtype=float)
        self.n_years = len(year_starts_h)
        self.keep = keep
        self.sink = sink
        self.chunk_size = chunk_size
        self.kept: list[Chunk] = []
        self.n_recorded = 0
        n_size = len(SIZE_CLASSES)
        # Index n_size / n_years in these arrays means "all sizes" / "all years".
        self.busy = np.zeros((n_pools, self.n_bins + 1))
        self.fragmented = np.zeros((n_pools, self.n_bins + 1))  # one sample per bin
        # Card-hours in repair / maintenance / kept as spares, per pool and bin.
        self.out_of_service = np.zeros((3, n_pools, self.n_bins + 1))
        self.outages: list[tuple[int, int, int, float, float]] = []
        self.busy_by_size = np.zeros((n_pools, len(SIZE_CLASSES)))
        self.failures_by_size = np.zeros(len(SIZE_CLASSES) + 1, dtype=np.int64)
        self.started_by_size = np.zeros(len(SIZE_CLASSES) + 1, dtype=np.int64)
        self.queued_jobs = np.zeros(self.n_bins + 1)
        self.queued_cards = np.zeros(self.n_bins + 1)
        self.wait_hist = np.zeros((n_size + 1, self.n_years + 1, N_BINS), dtype=np.int64)
        self.jct_hist = np.zeros((n_size + 1, self.n_years + 1, N_BINS), dtype=np.int64)
        shape = (n_size + 1, self.n_years + 1)
        self.wait_sum = np.zeros(shape)
        self.wait_n = np.zeros(shape, dtype=np.int64)
        self.jct_sum = np.zeros(shape)
        self.bsld_sum = np.zeros(shape)
        self.done_n = np.zeros(shape, dtype=np.int64)
        self.submitted_n = np.zeros(shape, dtype=np.int64)
        self.truncated_wait_sum = 0.0  # sum over all jobs of min(start, H) - submit
        self.preemptions = 0
        self.lost_work = 0.0  # reference-card-hours redone after preemptions
        self.busy_card_h_total = 0.0

    def segment(self, pool: int, cards: int, start: float, end: float) -> None:
        """A run segment that ended early (preemption): busy time, not a job record."""
        self.segments.append((pool, cards, start, end))

    def outage(self, pool: int, kind: int, cards: int, start: float, end: float) -> None:
        """``cards`` of ``pool`` were out of service over [start, end): kind 0 repair,
        1 maintenance, 2 hot spare."""
        self.outages.append((pool, kind, cards, start, end))

    def fragmentation(self, pool: int, time_h: float, cards: int) -> None:
        """A sample of fragmented cards in a pool (zero samples need not be recorded)."""
        b = min(int(time_h // self.step_h), self.n_bins)
        self.fragmented[pool, b] = cards

    def requeued_wait(self, cards: int, start: float, end: float) -> None:
        """Time a stopped job waited again before restarting (or until the horizon)."""
        self.requeued.append((cards, start, end))

    def record(self, row: tuple[Any, ...]) -> None:
        """Append one job's record, its values in the order of ``COLUMNS``.

        Use NaN for a start or end that did not happen.
        """
        self.rows.append(row)
        if len(self.rows) >= self.chunk_size:
            self.flush()

    def flush(self) -> None:
        """Fold the pending records into the accumulators and keep, sink or drop them."""
        if not self.rows:
            if self.segments or self.requeued or self.outages:
                self._fold({n: np.zeros(0, dtype=t) for n, t in DTYPES.items()})
            return
        records = np.array(self.rows, dtype=RECORD_DTYPE)
        self.rows.clear()  # in place: the engine appends to this list directly
        chunk = {name: records[name] for name in COLUMNS}
        self._fold(chunk)
        self.n_recorded += len(chunk["job_id"])
        if self.sink is not None:
            self.sink(chunk)
        if self.keep:
            self.kept.append(chunk)

    # ------------------------------------------------------------------ folding

    def _fold(self, c: Chunk) -> None:
        H = self.horizon_h
        submit, start, end, cards = c["submit_h"], c["start_h"], c["end_h"], c["cards"]
        started = ~np.isnan(start)
        begin = np.where(started, start, H)
        finish = np.where(np.isnan(end), H, end)
        cards_f = cards.astype(float)
        # Busy card-hours per pool and bin: the last run segment of each job that runs or
        # ran (earlier, stopped segments come from ``segment``), queued ones have none.
        s = started & (c["state"] != STATE_QUEUED)
        seg_start = c["last_start_h"][s]
        self._add_busy(c["pool"][s].astype(np.int64), cards_f[s], seg_start, finish[s])
        if self.segments:
            pools, seg_cards, t0, t1 = (np.array(x) for x in zip(*self.segments, strict=True))
            self.segments = []
            self._add_busy(pools.astype(np.int64), seg_cards.astype(float), t0, t1)
        if self.outages:
            o_pool, o_kind, o_cards, o0, o1 = (np.array(x) for x in zip(*self.outages, strict=True))
            self.outages = []
            for kind in range(3):
                k = o_kind == kind
                add_intervals(
                    self.step_h,
                    self.n_bins,
                    self.out_of_service[kind],
                    o_pool[k].astype(np.int64),
                    o0[k].astype(float),
                    o1[k].astype(float),
                    o_cards[k].astype(float),
                )
        if self.requeued:
            w_cards, w0, w1 = (np.array(x, dtype=float) for x in zip(*self.requeued, strict=True))
            self.requeued = []
            self._add_queued(w_cards, w0, w1)
        # Backlog: a job is queued over [submit, start) (or to the horizon).
        self._add_queued(cards_f, submit, begin)
        self.preemptions += int(np.sum(c["preemptions"]))
        size_all = np.searchsorted(_SIZE_EDGES, cards, side="right") - 1
        failures = c["failures"].astype(np.int64)
        np.add.at(self.failures_by_size, size_all, failures)
        np.add.at(self.started_by_size, size_all[started], 1)
        self.failures_by_size[-1] += int(failures.sum())
        self.started_by_size[-1] += int(started.sum())
        self.lost_work += float(np.sum(c["lost_work_ref_card_h"]))
        # Statistics by size class and submit year, after warm-up.
        measured = submit >= self.warmup_h
        size = np.searchsorted(_SIZE_EDGES, cards, side="right") - 1
        year = np.searchsorted(self.year_starts_h, submit, side="right") - 1
        for idx in self._breakdowns(size, year, measured):
            np.add.at(self.submitted_n, idx, 1)
        w = measured & started
        wait = start[w] - submit[w]
        wb = hist_bin(wait)
        for idx in self._breakdowns(size, year, w):
            np.add.at(self.wait_hist, (*idx, wb), 1)
            np.add.at(self.wait_sum, idx, wait)
            np.add.at(self.wait_n, idx, 1)
        d = measured & (c["state"] == STATE_DONE)
        jct = end[d] - submit[d]
        run = end[d] - start[d]
        bsld = np.maximum(1.0, jct / np.maximum(run, BSLD_THRESHOLD_H))
        jb = hist_bin(jct)
        for idx in self._breakdowns(size, year, d):
            np.add.at(self.jct_hist, (*idx, jb), 1)
            np.add.at(self.jct_sum, idx, jct)
            np.add.at(self.bsld_sum, idx, bsld)
            np.add.at(self.done_n, idx, 1)

    def _add_queued(self, cards: np.ndarray, start: np.ndarray, end: np.ndarray) -> None:
        """Waiting intervals: backlog per bin and the sum used by Little's law."""
        zero = np.zeros(len(start), dtype=np.int64)
        jobs_q = self.queued_jobs[None, :]
        add_intervals(self.step_h, self.n_bins, jobs_q, zero, start, end, np.ones(len(start)))
        cards_q = self.queued_cards[None, :]
        add_intervals(self.step_h, self.n_bins, cards_q, zero, start, end, cards)
        self.truncated_wait_sum += float(np.sum(end - start))

    def _add_busy(
        self, pool: np.ndarray, cards: np.ndarray, start: np.ndarray, end: np.ndarray
    ) -> None:
        add_intervals(self.step_h, self.n_bins, self.busy, pool, start, end, cards)
        card_h = (end - start) * cards
        self.busy_card_h_total += float(np.sum(card_h))
        size = np.searchsorted(_SIZE_EDGES, cards, side="right") - 1
        np.add.at(self.busy_by_size, (pool, size), card_h)

    def _breakdowns(
        self, size: np.ndarray, year: np.ndarray, mask: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """(size, year) index pairs for the selected jobs, with "all" rows and columns."""
        s, y = size[mask], year[mask]
        all_s = np.full(len(s), len(SIZE_CLASSES))
        all_y = np.full(len(s), self.n_years)
        return [(s, y), (s, all_y), (all_s, y), (all_s, all_y)]

    # ------------------------------------------------------------------ output

    def job_columns(self) -> Chunk | None:
        """All kept records as one set of numpy columns (None when records are off)."""
        if not self.keep:
            return None
        if not self.kept:
            return {n: np.zeros(0, dtype=t) for n, t in DTYPES.items()}
        if len(self.kept) == 1:
            return self.kept[0]
        return {n: np.concatenate([k[n] for k in self.kept]) for n in COLUMNS}
