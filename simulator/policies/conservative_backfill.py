"""Conservative backfilling (Mu'alem and Feitelson 2001): a reservation for every job.

Each pass builds, per pool, an *availability profile*: free cards as a step function of
time, from the pool's free cards now and the running jobs' user-estimated ends (a job
past its estimate counts as ending now). Then the first ``lookahead`` queued jobs, in
queue order (stopped jobs first, then submit order), are placed one by one at their
earliest feasible time: the earliest profile step from which the job's cards stay free
for its estimated run time on that pool, on whichever eligible pool gives the earliest
time. The job's cards are then taken out of that pool's profile over its reservation,
so a later job can never delay an earlier one's reservation. A job starts now only if
its reservation is now and its cards can be placed now (if several pools allow that,
the dispatch rule chooses); otherwise it keeps its reservation and waits.

Like EASY, the profile counts cards, not server shapes: a reservation in the future
assumes the cards can be placed once enough are free; a job that fits the profile now
but not the servers' shape is reserved at the next step. A job larger than a pool's
online cards gets no reservation there. Capacity that a build-out phase will add later
is not foreseen.

Work: a pass places jobs in order only while a later job could still start now, since
the reservations of later jobs cannot change what starts now. It stops when fewer free,
unreserved cards remain now than any remaining job needs, or (tested every few
placements) when no remaining group of jobs with the same cards and pools fits its
shortest estimate from now on any pool where its cards can be placed now. The jobs not
placed keep their place in the window and are placed by a later pass that needs them.
Each placement is O(profile steps) vectorised work, so a pass that follows freed
capacity (a job end, new capacity; it rebuilds the profiles) costs O(jobs placed x
(running jobs + lookahead)), with at most ``lookahead`` jobs placed; a pass that only
saw arrivals keeps the profiles (in ``view.memo``) and places jobs only up to a new
arrival that fits now. With thousands of running jobs and a deep queue this is far
slower than EASY (see ``benchmarks/bench_policies.py``); a smaller ``lookahead`` bounds
it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING

import numpy as np

from simulator.policies import state
from simulator.policies.base import QueuePolicy, Start, register_policy

if TYPE_CHECKING:
    from simulator.job import TrainingJob
    from simulator.policies.view import SchedulerView

MEMO_KEY = "conservative"


class Profile:
    """Free cards of one pool from ``times[i]`` until ``times[i + 1]`` (the last step
    lasts for ever), after the reservations made so far.

    The steps live in the first ``n`` entries of two numpy arrays with spare room, so a
    reservation inserts a step by shifting a slice instead of reallocating.
    """

    __slots__ = ("_times", "_free", "n")

    def __init__(self, times: list[float], free: list[int]) -> None:
        room = 2 * len(times) + 16
        self._times = np.empty(room, dtype=float)
        self._free = np.empty(room, dtype=np.int64)
        self.n = len(times)
        self._times[: self.n] = times
        self._free[: self.n] = free

    @property
    def times(self) -> np.ndarray:
        return self._times[: self.n]

    @property
    def free(self) -> np.ndarray:
        return self._free[: self.n]

    @classmethod
    def of_pool(cls, view: SchedulerView, pool: int) -> Profile:
        """The profile of ``pool`` now, from its running jobs' estimated ends."""
        now = view.now
        times = [now]
        free = [view.pools[pool].free_cards]
        for end, _, cards in view.running_by_estimated_end(pool):
            if end <= now:
                free[0] += cards
            elif end == times[-1]:
                free[-1] += cards
            else:
                times.append(end)
                free.append(free[-1] + cards)
        return cls(times, free)

    def rebase(self, now: float) -> None:
        """Drop the steps that ended before ``now`` (the profile was built earlier)."""
        i = int(np.searchsorted(self.times, now, side="right")) - 1
        if i > 0:
            n = self.n
            self._times[: n - i] = self._times[i:n].copy()
            self._free[: n - i] = self._free[i:n].copy()
            self.n = n - i
        self._times[0] = now

    def first_with(self, cards: int, from_now: bool) -> float:
        """The first step time with ``cards`` free (a lower bound of :meth:`earliest`)."""
        free = self._free[: self.n]
        ok = free >= cards
        if not from_now:
            ok[0] = False
        i = int(ok.argmax())
        return float(self._times[i]) if ok[i] else np.inf

    def earliest(self, cards: int, duration_h: float, from_now: bool) -> int:
        """Index of the first step from which ``cards`` stay free for ``duration_h``.

        Args:
            cards: cards needed.
            duration_h: how long they are needed (> 0).
            from_now: whether the first step (now) may be used.

        Returns:
            the step index, or -1 when no step fits.
        """
        n = self.n
        times = self._times[:n]
        short = self._free[:n] < cards
        # When, at or after each step, the first step short of cards begins (or never);
        # at a short step that is the step itself, so it never fits.
        limit = np.where(short, times, np.inf)
        backwards = limit[::-1]
        np.minimum.accumulate(backwards, out=backwards)
        fits = times + duration_h <= limit
        fits[short] = False
        if not from_now:
            fits[0] = False
        first = int(fits.argmax())
        return first if fits[first] else -1

    def take(self, i: int, cards: int, duration_h: float) -> None:
        """Reserve ``cards`` from step ``i`` for ``duration_h`` hours."""
        n = self.n
        times = self._times
        end = times[i] + duration_h
        k = int(times[:n].searchsorted(end))
        if k >= n or times[k] != end:
            if n == len(times):
                self._times = times = np.concatenate((times, np.empty(n, dtype=float)))
                self._free = np.concatenate((self._free, np.empty(n, dtype=np.int64)))
            free = self._free
            times[k + 1 : n + 1] = times[k:n].copy()
            free[k + 1 : n + 1] = free[k:n].copy()
            times[k] = end
            free[k] = free[k - 1]
            self.n = n + 1
        self._free[i:k] -= cards


class _Plan:
    """The reservations of one stretch of passes (kept in ``view.memo``).

    The first ``placed`` queued jobs hold reservations in ``profiles``; ``pending`` are
    the following jobs of the look-ahead window, in queue order, not placed yet.
    """

    __slots__ = ("profiles", "placed", "pending")

    def __init__(self) -> None:
        self.profiles: dict[int, Profile] = {}
        self.placed = 0
        self.pending: list[TrainingJob] = []


class _StartBound:
    """Tells, during a pass, when no job from some position on can start now.

    A job can start now only if its cards are free on an eligible pool from now for its
    estimate, given the reservations made so far, and more reservations only take
    cards away. Per group of jobs with the same cards and pools it keeps the shortest
    estimate from each position on (on speed-1 cards, without restart overhead: a lower
    bound), so the test costs O(groups x pools), not O(jobs).
    """

    EVERY = 8  # placements between two tests

    def __init__(self, jobs: list[TrainingJob]) -> None:
        keys: dict[tuple[int, tuple[int, ...]], int] = {}
        group = np.empty(len(jobs), dtype=np.int64)
        base = np.empty(len(jobs), dtype=float)
        for i, job in enumerate(jobs):
            group[i] = keys.setdefault((job.cards, job.eligible), len(keys))
            base[i] = job.remaining * job.estimate_factor / job.cards
        self.groups = list(keys)
        # Shortest estimate of each group from each position on (inf past the last);
        # shaved by a relative 1e-12 so that rounding never makes it exceed the estimate.
        self.shortest = np.full((len(keys), len(jobs) + 1), np.inf)
        for g in range(len(keys)):
            column = np.where(group == g, base * (1 - 1e-12), np.inf)
            self.shortest[g, :-1] = np.minimum.accumulate(column[::-1])[::-1]

    def none_can_start(self, k: int, view: SchedulerView, profiles: dict[int, Profile]) -> bool:
        """Whether no job at position ``k`` or later can start now."""
        now = view.now
        pools = view.pools
        fast = state.FAST_PATHS
        lowest: dict[int, np.ndarray] = {}  # per pool: fewest free cards up to each step
        for g, (cards, eligible) in enumerate(self.groups):
            shortest = self.shortest[g, k]
            if shortest == np.inf:
                continue
            for p in eligible:
                pool = pools[p]
                # A job starts now only where its cards can be placed now.
                if not pool.can_fit(cards) if fast else cards > pool.free_cards:
                    continue
                profile = profiles.get(p)
                if profile is None:
                    return False  # nothing reserved there yet
                floor = lowest.get(p)
                if floor is None:
                    floor = lowest[p] = -np.minimum.accumulate(profile._free[: profile.n])
                i = int(floor.searchsorted(-cards, side="right"))
                until = profile._times[i] if i < profile.n else np.inf
                if now + shortest / pool.speed <= until:
                    return False
        return True


def _last_fitting(view: SchedulerView, pending: list[TrainingJob], fresh: list[TrainingJob]) -> int:
    """Index in ``pending`` of the last of ``fresh`` (its tail) whose cards fit a pool now."""
    pools = view.pools
    most_free = max((p.free_cards for p in pools), default=0)
    first = len(pending) - len(fresh)
    for i in range(len(pending) - 1, first - 1, -1):
        job = pending[i]
        if job.cards <= most_free and any(pools[p].can_fit(job.cards) for p in job.eligible):
            return i
    return -1


@register_policy("conservative_backfill")
@dataclass(frozen=True)
class ConservativeBackfill(QueuePolicy):
    """Conservative backfilling: every queued job in the look-ahead holds a reservation.

    Attributes:
        lookahead: queued jobs placed in the profiles per pass, in queue order.
    """

    lookahead: int = 1000
    needs_estimated_ends = True

    def __post_init__(self) -> None:
        if self.lookahead < 1:
            raise ValueError(f"lookahead must be >= 1, got {self.lookahead}")

    def decide(self, view: SchedulerView) -> Iterator[Start]:
        plan: _Plan | None = view.memo.get(MEMO_KEY)
        if plan is None or view.capacity_freed:
            plan = view.memo[MEMO_KEY] = _Plan()
            plan.pending = view.waiting(self.lookahead)
            candidates = plan.pending
        else:
            for profile in plan.profiles.values():
                profile.rebase(view.now)
            fresh = [j for j in view.new_arrivals if view.is_queued(j)]
            before = view.queue_length() - len(fresh)
            # New jobs join the window only behind jobs that were all considered.
            if plan.placed + len(plan.pending) == before:
                candidates = fresh[: max(0, self.lookahead - before)]
            else:
                candidates = []
            plan.pending.extend(candidates)
        # Only a job that fits now can start now, and later jobs' reservations cannot
        # affect it: place jobs up to the last such one. (The others did not fit when
        # last checked, and free cards have only shrunk since.)
        last = _last_fitting(view, plan.pending, candidates)
        if last < 0:
            return
        jobs = plan.pending[: last + 1]
        # Fewest cards among the jobs from each position on: once no pool has that many
        # cards free now and unreserved, no later job can start in this pass.
        fewest = list(accumulate(reversed([job.cards for job in jobs]), min))[::-1]
        pools = view.pools
        profiles = plan.profiles
        bound: _StartBound | None = None
        placed = 0
        # Free, unreserved cards now on the roomiest pool. Only a start changes it: a
        # reservation in the future leaves the profile's first step alone, and a profile
        # made during the pass starts with at least the pool's free cards.
        room = -1
        fast = state.FAST_PATHS
        for k, job in enumerate(jobs):
            pool = self._place(view, profiles, job)
            placed += 1
            if pool is None:
                plan.placed += 1
            else:
                yield Start(job, pool)
                room = -1
            if k + 1 == len(jobs):
                break
            if room < 0 or not fast:
                room = max(
                    min(p.free_cards, int(profiles[i]._free[0])) if i in profiles else p.free_cards
                    for i, p in enumerate(pools)
                )
            if room < fewest[k + 1]:
                break
            if (k + 1) % _StartBound.EVERY == 0:
                bound = bound or _StartBound(jobs)
                if bound.none_can_start(k + 1, view, profiles):
                    break
        del plan.pending[:placed]

    @staticmethod
    def _place(view: SchedulerView, profiles: dict[int, Profile], job: TrainingJob) -> int | None:
        """Reserve ``job`` at its earliest time; the pool to start it on now, or None."""
        cards = job.cards
        pools = view.pools
        options: list[tuple[float, int, bool]] = []  # (no earlier than, pool, from now)
        for p in job.eligible:
            pool = pools[p]
            if cards > pool.online_cards:
                continue
            profile = profiles.get(p)
            if profile is None:
                profile = profiles[p] = Profile.of_pool(view, p)
            from_now = pool.can_fit(cards)
            options.append(
                (profile.first_with(cards, from_now), p, from_now)
                if len(job.eligible) > 1
                else (view.now, p, from_now)
            )
        options.sort()
        startable: list[int] = []
        best_t, best_p, best_i = np.inf, -1, -1
        for bound, p, from_now in options:
            if bound > best_t:
                break  # no pool from here on can start the job earlier
            profile = profiles[p]
            i = profile.earliest(cards, job.remaining_estimate_on(pools[p].speed), from_now)
            if i == 0:
                startable.append(p)
            elif i > 0:
                t = profile._times[i]
                if t < best_t or (t == best_t and p < best_p):  # ties: first listed pool
                    best_t, best_p, best_i = t, p, i
        startable.sort()
        if startable:
            p = startable[0] if len(startable) == 1 else view.dispatch.choose(job, startable, view)
            profiles[p].take(0, cards, job.remaining_estimate_on(pools[p].speed))
            return p
        if best_p >= 0:
            profiles[best_p].take(best_i, cards, job.remaining_estimate_on(pools[best_p].speed))
        return None
