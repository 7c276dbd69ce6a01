"""Synthetic job streams: arrivals, gang sizes, work, estimates, tenants and campaigns.

A :class:`JobSource` turns a scenario's workload into batches of jobs, one batch per
week of simulated time, each a :class:`JobBatch` of numpy columns sorted by submit time.
Generation is vectorised and lazy, so memory does not grow with the horizon.

Arrivals of each class are a non-homogeneous Poisson process, sampled by thinning:

    rate(t) = rate_per_day / 24 * growth_per_year ** (t / 8766) * daily[h(t)] * weekly[d(t)]

with t in hours since the start, h the hour of day, d the day of the week, and both
profiles normalised to mean 1.

Randomness: each class draws from its own streams (arrivals, sizes, work, estimates,
tenants), keyed by the root seed, the replication, the purpose and a stable hash of the
class name. Two scenarios that share a class therefore share its arrivals (common random
numbers), whatever else differs.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from simulator.replay import ReplayJobs, replay_jobs
from simulator.scenario.schema import (
    ConstantDistribution,
    Distribution,
    ExponentialDistribution,
    JobClass,
    LognormalDistribution,
    Scenario,
    TableDistribution,
)

HOURS_PER_YEAR = 8766.0  # 365.25 days
CHUNK_H = 168.0  # one week of arrivals per batch

_PURPOSES = {
    "arrivals": 1,
    "sizes": 2,
    "work": 3,
    "estimates": 4,
    "tenants": 5,
    "failures": 6,
    "repairs": 7,
}


def stream(seed: int, replication: int, purpose: str, key: str = "") -> np.random.Generator:
    """An independent generator for one purpose of one replication.

    The stream depends only on (seed, replication, purpose, key), never on the order in
    which streams are created, so results are identical in one process or many.
    """
    tag = zlib.crc32(key.encode("utf-8")) if key else 0
    ss = np.random.SeedSequence(entropy=seed, spawn_key=(replication, _PURPOSES[purpose], tag))
    return np.random.Generator(np.random.PCG64(ss))


@dataclass
class JobBatch:
    """Jobs submitted in one chunk of time, sorted by submit time (columns of equal length).

    ``work`` is in reference-card-hours; ``estimate_factor`` multiplies the true run time
    to give the user's estimate; ``job_class`` indexes the scenario's classes (campaigns
    use ``-1 - campaign index``).
    """

    submit_h: np.ndarray
    job_class: np.ndarray
    cards: np.ndarray
    work: np.ndarray
    estimate_factor: np.ndarray
    tenant: np.ndarray
    priority: np.ndarray

    def __len__(self) -> int:
        return len(self.submit_h)


class ClassStream:
    """Sampler of one job class's arrivals and attributes."""

    def __init__(
        self,
        job_class: JobClass,
        index: int,
        scenario: Scenario,
        replication: int,
        tenant_offset: int,
        ref_flop_per_card_h: float,
    ) -> None:
        self.job_class = job_class
        self.index = index
        self.tenant_offset = tenant_offset
        seed = scenario.seed
        key = job_class.name
        self.rng_arrivals = stream(seed, replication, "arrivals", key)
        self.rng_sizes = stream(seed, replication, "sizes", key)
        self.rng_work = stream(seed, replication, "work", key)
        self.rng_estimates = stream(seed, replication, "estimates", key)
        self.rng_tenants = stream(seed, replication, "tenants", key)
        arrival = job_class.arrival
        self.base_rate_h = arrival.rate_per_day / 24.0
        self.log_growth_h = np.log(arrival.growth_per_year) / HOURS_PER_YEAR
        self.log_work_growth_h = float(np.log(job_class.work.growth_per_year) / HOURS_PER_YEAR)
        self.daily = _normalised(arrival.daily_profile, 24)
        self.weekly = _normalised(arrival.weekly_profile, 7)
        self.profile_max = float(self.daily.max() * self.weekly.max())
        self.start_weekday = scenario.start.weekday()
        self.ref_flop_per_card_h = ref_flop_per_card_h
        w = job_class.tenants.weights or [1.0] * len(job_class.tenants.names)
        self.tenant_p = np.asarray(w, dtype=float) / float(np.sum(w))

    def rate_h(self, t: np.ndarray) -> np.ndarray:
        """Arrival rate per hour at times ``t`` (hours since start)."""
        hour = np.floor(t).astype(np.int64)
        day = (hour // 24 + self.start_weekday) % 7
        return (
            self.base_rate_h
            * np.exp(self.log_growth_h * t)
            * self.daily[hour % 24]
            * self.weekly[day]
        )

    def arrivals(self, t0: float, t1: float) -> np.ndarray:
        """Sorted arrival times in [t0, t1), by thinning a bounding Poisson process."""
        growth_max = np.exp(self.log_growth_h * (t1 if self.log_growth_h > 0 else t0))
        lam_max = self.base_rate_h * growth_max * self.profile_max
        n = self.rng_arrivals.poisson(lam_max * (t1 - t0))
        t = np.sort(self.rng_arrivals.uniform(t0, t1, n))
        if self.profile_max == 1.0 and self.log_growth_h == 0.0:
            return t
        keep = self.rng_arrivals.uniform(0.0, lam_max, n) < self.rate_h(t)
        return t[keep]

    def attributes(self, t: np.ndarray) -> tuple[np.ndarray, ...]:
        """Cards, work (reference-card-hours), estimate factors and tenants of jobs at t."""
        n = len(t)
        jc = self.job_class
        cards = np.maximum(1, np.rint(sample(jc.gang_size, self.rng_sizes, n))).astype(np.int64)
        values = sample(jc.work.distribution, self.rng_work, n)
        if jc.work.unit == "ref_hours":
            work = values * cards
        elif jc.work.unit == "card_hours":
            work = values
        else:
            work = values / self.ref_flop_per_card_h
        if self.log_work_growth_h:
            work = work * np.exp(self.log_work_growth_h * t)
        est = jc.estimate
        factors = (
            np.full(n, est.factor_min)
            if est.factor_max == est.factor_min
            else self.rng_estimates.uniform(est.factor_min, est.factor_max, n)
        )
        if len(self.tenant_p) == 1:
            tenants = np.full(n, self.tenant_offset, dtype=np.int64)
        else:
            tenants = self.tenant_offset + self.rng_tenants.choice(
                len(self.tenant_p), size=n, p=self.tenant_p
            )
        return cards, work, factors, tenants


def sample(dist: Distribution, rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw ``n`` values of a schema distribution."""
    if isinstance(dist, TableDistribution):
        p = np.asarray(dist.weights, dtype=float)
        return np.asarray(dist.values, dtype=float)[rng.choice(len(p), size=n, p=p / p.sum())]
    if isinstance(dist, LognormalDistribution):
        x = np.exp(np.log(dist.median) + dist.sigma * rng.standard_normal(n))
        if dist.min is not None or dist.max is not None:
            x = np.clip(x, dist.min, dist.max)
        return x
    if isinstance(dist, ExponentialDistribution):
        return rng.exponential(dist.mean, n)
    if isinstance(dist, ConstantDistribution):
        return np.full(n, dist.value, dtype=float)
    raise TypeError(f"unknown distribution {dist!r}")


def max_value(dist: Distribution) -> float:
    """The largest value a distribution can produce (inf when unbounded)."""
    if isinstance(dist, TableDistribution):
        return dist.max
    if isinstance(dist, LognormalDistribution):
        return float("inf") if dist.max is None else dist.max
    if isinstance(dist, ConstantDistribution):
        return dist.value
    return float("inf")


def _normalised(profile: list[float] | None, n: int) -> np.ndarray:
    if profile is None:
        return np.ones(n)
    p = np.asarray(profile, dtype=float)
    return p / p.mean()


def tenant_names(scenario: Scenario) -> list[str]:
    """All tenants of a scenario in a stable order: classes, campaigns, trace users."""
    from simulator.replay import trace_tenant_names

    names: list[str] = []
    for jc in scenario.workload.classes:
        names.extend(jc.tenants.names)
    names.extend(c.tenant for c in scenario.workload.campaigns)
    names.extend(trace_tenant_names(scenario))
    return names


def class_names(scenario: Scenario) -> list[str]:
    """Names of the job streams by their class index: the classes, then the trace."""
    names = [c.name for c in scenario.workload.classes]
    if scenario.workload.trace is not None:
        names.append(scenario.workload.trace.name)
    return names


class JobSource:
    """The scenario's synthetic jobs, week by week, for one replication."""

    def __init__(
        self, scenario: Scenario, replication: int, trace_max_cards: int | None = None
    ) -> None:
        """Args:
        scenario: the scenario.
        replication: selects the random streams.
        trace_max_cards: the largest pool trace jobs may use (needed with a trace).
        """
        self.scenario = scenario
        ref = scenario.card_type(scenario.reference_card)
        self.ref_flop_per_card_h = ref.effective_tflops * 1e12 * 3600.0
        self.streams: list[ClassStream] = []
        offset = 0
        for i, jc in enumerate(scenario.workload.classes):
            self.streams.append(
                ClassStream(jc, i, scenario, replication, offset, self.ref_flop_per_card_h)
            )
            offset += len(jc.tenants.names)
        self.campaign_tenant_offset = offset
        self.replay: ReplayJobs | None = None
        if scenario.workload.trace is not None:
            if trace_max_cards is None:
                raise ValueError("a trace workload needs trace_max_cards")
            self.replay = replay_jobs(scenario, trace_max_cards)
            self.trace_class = len(scenario.workload.classes)
            self.trace_tenant_offset = offset + len(scenario.workload.campaigns)

    def campaign_batch(self) -> JobBatch:
        """The scenario's campaigns as one batch (work from FLOP at the card type's MFU)."""
        sc = self.scenario
        rows = []
        for k, c in enumerate(sc.workload.campaigns):
            card = sc.card_type(c.card_types[0])
            # Work in reference-card-hours such that the run time on the first allowed
            # card type is flop / (cards * tflops * mfu), with the campaign's MFU if given.
            mfu_ratio = card.mfu / c.mfu if c.mfu is not None else 1.0
            work = c.flop / self.ref_flop_per_card_h * mfu_ratio
            rows.append(
                (
                    sc.hours_since_start(c.submit),
                    -1 - k,
                    c.cards,
                    work,
                    c.estimate_factor,
                    self.campaign_tenant_offset + k,
                    c.priority,
                )
            )
        rows.sort(key=lambda r: r[0])
        cols = list(zip(*rows, strict=True)) if rows else [()] * 7
        return JobBatch(
            submit_h=np.asarray(cols[0], dtype=float),
            job_class=np.asarray(cols[1], dtype=np.int64),
            cards=np.asarray(cols[2], dtype=np.int64),
            work=np.asarray(cols[3], dtype=float),
            estimate_factor=np.asarray(cols[4], dtype=float),
            tenant=np.asarray(cols[5], dtype=np.int64),
            priority=np.asarray(cols[6], dtype=np.int64),
        )

    def batches(self, horizon_h: float) -> Iterator[JobBatch]:
        """Class jobs (and campaigns) submitted before the horizon, one week per batch."""
        campaigns = self.campaign_batch()
        t0 = 0.0
        while t0 < horizon_h:
            t1 = min(t0 + CHUNK_H, horizon_h)
            parts = [self._class_batch(s, t0, t1) for s in self.streams]
            in_chunk = (campaigns.submit_h >= t0) & (campaigns.submit_h < t1)
            if in_chunk.any():
                parts.append(_select(campaigns, in_chunk))
            if self.replay is not None:
                parts.append(self._trace_batch(t0, t1))
            batch = _concat_sorted(parts)
            if len(batch):
                yield batch
            t0 = t1

    def _trace_batch(self, t0: float, t1: float) -> JobBatch:
        r = self.replay
        assert r is not None
        lo, hi = np.searchsorted(r.submit_h, [t0, t1], side="left")
        n = int(hi - lo)
        trace = self.scenario.workload.trace
        assert trace is not None
        return JobBatch(
            submit_h=r.submit_h[lo:hi],
            job_class=np.full(n, self.trace_class, dtype=np.int64),
            cards=r.cards[lo:hi],
            work=r.work[lo:hi],
            estimate_factor=r.estimate_factor[lo:hi],
            tenant=r.tenant[lo:hi] + self.trace_tenant_offset,
            priority=np.full(n, trace.priority, dtype=np.int64),
        )

    def _class_batch(self, s: ClassStream, t0: float, t1: float) -> JobBatch:
        t = s.arrivals(t0, t1)
        n = len(t)
        cards, work, factors, tenants = s.attributes(t)
        return JobBatch(
            submit_h=t,
            job_class=np.full(n, s.index, dtype=np.int64),
            cards=cards,
            work=work,
            estimate_factor=factors,
            tenant=tenants,
            priority=np.full(n, s.job_class.priority, dtype=np.int64),
        )


def _select(b: JobBatch, mask: np.ndarray) -> JobBatch:
    return JobBatch(*(getattr(b, f)[mask] for f in JobBatch.__dataclass_fields__))


def _concat_sorted(parts: list[JobBatch]) -> JobBatch:
    fields = list(JobBatch.__dataclass_fields__)
    parts = [p for p in parts if len(p)]
    if not parts:
        return JobBatch(*(np.zeros(0) for _ in fields))
    if len(parts) == 1:
        return parts[0]
    cols = {f: np.concatenate([getattr(p, f) for p in parts]) for f in fields}
    order = np.argsort(cols["submit_h"], kind="stable")
    return JobBatch(**{f: c[order] for f, c in cols.items()})
