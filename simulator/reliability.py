"""Failures, repairs, hot spares and maintenance: the random draws and the bookkeeping.

The engine wires the events; this module holds what they need:

* per-pool failure rates per card-hour (``failures.rate_per_card_h`` x the card type's
  ``failure_rate_factor``), and buffered draws from the run's own streams (job
  interruptions, idle-card failures and repair times never disturb the workload's
  streams, so a scenario with failures keeps the arrivals of one without);
* levels of cards in repair, in maintenance and kept as spares per pool, turned into
  time intervals for the recorder whenever they change;
* lost card-hours by pool, gang-size class and cause (``rework``: computation since the
  last checkpoint, redone; ``restart``: restart overhead; ``checkpoint``: checkpoint
  writes), from which goodput follows;
* the maintenance windows expanded into (start, end, pool, servers, mode) instances.

Cost: a running job draws one exponential per run segment (the time to its next
interruption, from its size); idle failures are one Poisson stream per pool at the
pool's largest capacity, thinned by the share of idle cards. Nothing is per card.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from simulator.fleet import Pool
from simulator.recorder import Recorder
from simulator.scenario.schema import SIZE_CLASSES, Scenario
from simulator.workload import sample, stream

CAUSES = ("rework", "restart", "checkpoint")
REWORK, RESTART, CHECKPOINT = 0, 1, 2
LEVELS = ("repair", "maintenance", "spare")
_SIZE_LOWS = [lo for _, lo, _ in SIZE_CLASSES]
_BUFFER = 4096


def size_index(cards: int) -> int:
    """Index of a gang size in :data:`~simulator.scenario.schema.SIZE_CLASSES`."""
    return bisect.bisect_right(_SIZE_LOWS, cards) - 1


@dataclass(frozen=True)
class WindowInstance:
    """One occurrence of a maintenance window on one pool."""

    name: str
    start_h: float
    end_h: float
    pool: int
    fraction: float
    preempt: bool


class Reliability:
    """Draws and bookkeeping for one replication (see the module docstring)."""

    def __init__(
        self, scenario: Scenario, pools: list[Pool], replication: int, recorder: Recorder
    ) -> None:
        self.pools = pools
        self.recorder = recorder
        spec = scenario.failures
        self.enabled = spec is not None
        factor = {c.name: c.failure_rate_factor for c in scenario.card_types}
        self.card_rate = [
            spec.rate_per_card_h * factor[p.card_type] if spec is not None else 0.0 for p in pools
        ]
        self.idle_failures = spec is not None and spec.idle_failures
        self.repair_dist = spec.repair_h if spec is not None else None
        seed = scenario.seed
        self._rng_jobs = stream(seed, replication, "failures", "jobs")
        self._rng_idle = stream(seed, replication, "failures", "idle")
        self._rng_repair = stream(seed, replication, "repairs")
        self._exp: list[float] = []
        self._uni: list[float] = []
        self._repair: list[float] = []
        # Lost card-hours by (pool, size class, cause).
        self.lost = np.zeros((len(pools), len(SIZE_CLASSES), len(CAUSES)))
        self.failures = 0  # job interruptions caused by failures
        self.idle_failure_count = 0
        self.spare_restarts = 0
        # Current level and since when, per pool and level kind.
        self._level = [[0, 0, 0] for _ in pools]
        self._since = [[0.0, 0.0, 0.0] for _ in pools]
        self.windows = expand_windows(scenario, pools)

    # ------------------------------------------------------------------ draws

    def draw_exp(self) -> float:
        """A standard exponential (mean 1) from the job-interruption stream."""
        if not self._exp:
            self._exp = self._rng_jobs.standard_exponential(_BUFFER).tolist()
        return self._exp.pop()

    def draw_uniform(self) -> float:
        """A uniform in [0, 1) from the idle-failure stream."""
        if not self._uni:
            self._uni = self._rng_idle.random(_BUFFER).tolist()
        return self._uni.pop()

    def draw_idle_gap(self) -> float:
        """A standard exponential from the idle-failure stream."""
        return -math.log1p(-self.draw_uniform())

    def draw_repair_h(self) -> float:
        """A repair time in hours."""
        if not self._repair:
            assert self.repair_dist is not None
            self._repair = sample(self.repair_dist, self._rng_repair, _BUFFER).tolist()
        return self._repair.pop()

    # ------------------------------------------------------------------ bookkeeping

    def add_loss(self, pool: int, cards: int, cause: int, hours: float) -> None:
        if hours > 0.0:
            self.lost[pool, size_index(cards), cause] += hours * cards

    def note_levels(self, pool: Pool, now: float) -> None:
        """Record the intervals of any level of ``pool`` that changed since last noted."""
        levels = self._level[pool.index]
        since = self._since[pool.index]
        for kind, value in enumerate((pool.repair_cards, pool.maintenance_cards, pool.spare_cards)):
            if value != levels[kind]:
                if levels[kind]:
                    self.recorder.outage(pool.index, kind, levels[kind], since[kind], now)
                levels[kind] = value
                since[kind] = now

    def close(self, now: float) -> None:
        """Record the open level intervals up to ``now`` (the horizon)."""
        for p, levels in enumerate(self._level):
            for kind, value in enumerate(levels):
                if value:
                    self.recorder.outage(p, kind, value, self._since[p][kind], now)


def expand_windows(scenario: Scenario, pools: list[Pool]) -> list[WindowInstance]:
    """Every occurrence of every maintenance window before the horizon, by start time."""
    out: list[WindowInstance] = []
    horizon = scenario.horizon_h
    for w in scenario.maintenance:
        targets = [
            p.index for p in pools if p.centre == w.centre and (w.pool is None or p.name == w.pool)
        ]
        start = scenario.hours_since_start(w.start)
        until = horizon if w.until is None else min(horizon, scenario.hours_since_start(w.until))
        period = w.every_days * 24.0 if w.every_days is not None else math.inf
        while start < until:
            for p in targets:
                out.append(
                    WindowInstance(
                        w.name, start, start + w.duration_h, p, w.fraction, w.mode == "preempt"
                    )
                )
            start += period
    out.sort(key=lambda i: (i.start_h, i.pool))
    return out
