"""The simulation engine: one SimPy environment per run, event-driven, no time stepping.

Phases of a run: *build* (pools from the scenario, job source, policy, recorder),
*run* (SimPy processes for arrivals and build-out, one timeout per running job), and
*collect* (records of unfinished jobs at the horizon). The engine returns a
:class:`RawRun` of data; it never writes files or draws.

Scheduling: a pass runs when a job arrives, a job ends or capacity changes. The queue
policy decides (:class:`~simulator.policies.base.Start` decisions) and the engine checks
every decision (the job is queued, may use the pool, and fits there now) before applying
it; an impossible decision raises :class:`PolicyError` naming the policy and decision.

Interruptions (:mod:`simulator.reliability`): a job's run segment is laid out as restart
overhead, then computation with blocking checkpoint writes (:mod:`simulator.checkpointing`);
with failures on, the segment draws the time to its next interruption from its size and
ends either finished or interrupted. A stop (policy preemption, failure, maintenance)
keeps the work up to the last completed checkpoint and charges the rest as lost
card-hours by cause. Failed servers go into repair; the job restarts at once on a hot
spare when its pool has one, otherwise it requeues ahead of never-started jobs.

Cost: each job costs two entries in SimPy's event queue (its arrival, merged in from the
sorted arrival stream, and its end) and O(1) bookkeeping; no object or process exists
per card or per server. Failures add one draw per run segment, an
event per interruption or repair, and one thinned Poisson stream per pool.
"""

from __future__ import annotations

import datetime as dt
import gc
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from heapq import heappop, heappush
from typing import Any

import simpy
from simpy.core import NORMAL

from simulator.checkpointing import checkpoints_in, daly_interval
from simulator.errors import PolicyError, ScenarioError
from simulator.fleet import Placement, Pool
from simulator.fragmentation import fleet_fragmentation
from simulator.job import QUEUED, RUNNING, TrainingJob
from simulator.policies.base import Preempt, QueuePolicy, Start, make_dispatch, make_policy
from simulator.policies.view import SchedulerView
from simulator.recorder import STATE_DONE, STATE_QUEUED, STATE_RUNNING, Chunk, Recorder
from simulator.reliability import CHECKPOINT, RESTART, REWORK, Reliability, WindowInstance
from simulator.scenario.schema import Scenario
from simulator.workload import JobSource, max_value, tenant_names

PROGRESS_EVERY_H = 168.0
GC_YOUNG_THRESHOLD = 100_000  # allocations between collections of the youngest generation


class _Due:
    """A timeout scheduled by :meth:`Engine._timeout`: what SimPy's event loop needs of a
    triggered event (its callbacks, value and outcome), without the generic machinery."""

    __slots__ = ("callbacks", "_value")
    _ok = True
    callbacks: list[Callable[[Any], None]] | None
    _value: Any


FRAGMENTATION_LOOKAHEAD = 10_000  # queued jobs whose shapes count for fragmentation


@dataclass
class CapacityEvent:
    time_h: float
    pool: int
    delta_cards: int
    online_cards: int
    label: str


@dataclass
class RawRun:
    """What the engine hands back: the recorder, the pools and the capacity history."""

    scenario: Scenario
    replication: int
    pools: list[Pool]
    recorder: Recorder
    capacity_events: list[CapacityEvent]
    queue_area_job_h: float
    jobs_submitted: int
    events: int
    wall_s: float
    extra: dict[str, Any] = field(default_factory=dict)


def build_pools(scenario: Scenario) -> list[Pool]:
    """One :class:`Pool` per scenario pool, in scenario order, with no servers yet."""
    ref = scenario.card_type(scenario.reference_card).effective_tflops
    failures = scenario.failures
    default_spares = failures.hot_spare_fraction if failures is not None else 0.0
    pools: list[Pool] = []
    for ci, centre in enumerate(scenario.centres):
        for spec in centre.pools:
            card = scenario.card_type(spec.card_type)
            pools.append(
                Pool(
                    index=len(pools),
                    centre=centre.name,
                    centre_index=ci,
                    name=spec.name,
                    card_type=spec.card_type,
                    cards_per_server=spec.cards_per_server,
                    servers_per_pod=spec.servers_per_pod,
                    speed=card.effective_tflops / ref,
                    small_jobs=scenario.placement.small_jobs,
                    pod_locality=scenario.placement.pod_locality,
                    max_cards=spec.max_cards,
                )
            )
            fraction = spec.hot_spare_fraction
            pools[-1].spare_fraction = default_spares if fraction is None else fraction
    return pools


def eligible_pools(
    scenario: Scenario, pools: list[Pool]
) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """Pools each job class and each campaign may use, checked against their gang sizes.

    Raises:
        ScenarioError: a class or campaign whose jobs could never run anywhere.
    """

    def pools_for(types: list[str]) -> tuple[int, ...]:
        return tuple(p.index for p in pools if not types or p.card_type in types)

    def check(
        where: str,
        name: str,
        ids: tuple[int, ...],
        biggest: float,
        types: list[str],
        size_key: str = "gang_size",
    ) -> None:
        if not ids:
            raise ScenarioError(
                f"{name}: no pool has card types {types}, so its jobs can never run",
                key_path=f"{where}.card_types",
            )
        room = max(pools[i].max_usable_cards for i in ids)
        if biggest > room:
            what = "unbounded" if math.isinf(biggest) else f"{biggest:g} cards"
            raise ScenarioError(
                f"{name}: gang size can reach {what}, but the largest pool it may use "
                f"({', '.join(pools[i].centre + '/' + pools[i].name for i in ids)}) never has "
                f"more than {room} cards for jobs (hot spares excluded), so such jobs could "
                f"never run; lower the gang size (or set gang_size.max) or allow more card "
                f"types",
                key_path=f"{where}.{size_key}",
            )

    classes: list[tuple[int, ...]] = []
    for i, jc in enumerate(scenario.workload.classes):
        ids = pools_for(jc.card_types)
        check(
            f"workload.classes[{i}]",
            f"job class '{jc.name}'",
            ids,
            max_value(jc.gang_size),
            jc.card_types,
        )
        classes.append(ids)
    trace = scenario.workload.trace
    if trace is not None:
        ids = pools_for(trace.card_types)
        check("workload.trace", f"trace '{trace.name}'", ids, 0, trace.card_types)
        classes.append(ids)
    campaigns = []
    for k, c in enumerate(scenario.workload.campaigns):
        ids = pools_for(c.card_types)
        where = f"workload.campaigns[{k}]"
        check(where, f"campaign '{c.name}'", ids, c.cards, c.card_types, "cards")
        campaigns.append(ids)
    return classes, campaigns


def _trace_counts(source: object) -> dict[str, int]:
    replay = getattr(source, "replay", None)
    return dict(replay.counts) if replay is not None else {}


def year_starts_h(scenario: Scenario) -> list[float]:
    """Hours since start of each calendar year's first hour in the run (first = 0)."""
    starts = [0.0]
    year = scenario.start.year + 1
    while (h := scenario.hours_since_start(dt.date(year, 1, 1))) < scenario.horizon_h:
        starts.append(h)
        year += 1
    return starts


class Engine:
    """One replication of one scenario.

    Args:
        scenario: the validated scenario.
        replication: replication index (selects the random streams).
        policy: a queue policy (default: built from ``scenario.policy``).
        check_invariants: check pool bookkeeping after every start and end (slow; tests).
        job_sink: receives each chunk of job records (see :class:`Recorder`).
        keep_jobs: keep the per-job records in memory (default: ``output.job_records``
            is ``"memory"``).
        progress: called with the simulated hour about every simulated week.
    """

    def __init__(
        self,
        scenario: Scenario,
        replication: int = 0,
        *,
        policy: QueuePolicy | None = None,
        check_invariants: bool = False,
        job_sink: Callable[[Chunk], None] | None = None,
        keep_jobs: bool | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.progress = progress
        self.replication = replication
        self.env = simpy.Environment()
        self.pools = build_pools(scenario)
        self.class_pools, self.campaign_pools = eligible_pools(scenario, self.pools)
        self.policy = policy or make_policy(
            scenario.policy.name, scenario.policy.params, scenario.policy.module
        )
        dispatch = make_dispatch(scenario.dispatch.name, scenario.dispatch.params)
        # OrderedDict, not dict: a dict used as a FIFO keeps the holes of deleted head
        # entries, so finding its first entry costs O(jobs removed since its last resize).
        self.queue: OrderedDict[int, TrainingJob] = OrderedDict()  # never started
        self.requeued: OrderedDict[int, TrainingJob] = OrderedDict()  # stopped, ahead of queue
        self.running: dict[int, TrainingJob] = {}
        self.view = SchedulerView(
            self.pools,
            self.queue,
            dispatch,
            self.policy.needs_estimated_ends,
            requeued=self.requeued,
            running=self.running,
        )
        self.view.tenant_names = tuple(tenant_names(scenario))
        wl = scenario.workload

        def resilience(c: Any) -> tuple[float, float, float]:
            interval = c.checkpoint_interval_h
            spec = -1.0 if interval == "young_daly" else float(interval or 0.0)
            return (spec, c.checkpoint_write_h, c.restart_overhead_h)

        # (interval spec, write h, restart h) by class index (campaign k at -1 - k).
        resume = [resilience(c) for c in wl.classes]
        if wl.trace is not None:
            resume.append((0.0, 0.0, 0.0))
        resume += [resilience(c) for c in wl.campaigns][::-1]
        self.resume = resume if any(any(r) for r in resume) else None
        self.failures_on = scenario.failures is not None
        # The plain segment layout (run time plus overhead) holds unless jobs checkpoint,
        # pay restarts, or fail.
        self.resilient = self.resume is not None or self.failures_on
        self.lone_start = getattr(self.policy, "starts_lone_arrivals", False)
        # Policies that override ``next_pass_h`` get a pass at the time they ask for.
        self.timed_passes = type(self.policy).next_pass_h is not QueuePolicy.next_pass_h
        self._wake_at: float | None = None
        self.running_ends = self.view.running_ends
        self.check_invariants = check_invariants
        self.horizon_h = scenario.horizon_h
        out = scenario.output
        self.recorder = Recorder(
            n_pools=len(self.pools),
            horizon_h=self.horizon_h,
            step_h=out.timeseries_step_h,
            warmup_h=scenario.warmup_h,
            year_starts_h=year_starts_h(scenario),
            keep=out.job_records == "memory" if keep_jobs is None else keep_jobs,
            sink=job_sink,
        )
        self._record_rows = self.recorder.rows
        trace_pools = self.class_pools[-1] if scenario.workload.trace is not None else ()
        self.source = JobSource(
            scenario,
            replication,
            trace_max_cards=max((self.pools[i].max_usable_cards for i in trace_pools), default=0),
        )
        self.capacity_events: list[CapacityEvent] = []
        for pool in self.pools:
            pool.on_capacity_change = self._log_capacity
            pool.on_hold_filled = self._note_levels
        self._queue_area = 0.0
        self._queue_since = 0.0
        self.state_counts = [0, 0, 0]
        self.campaign_times: dict[str, tuple[float, float, float]] = {}
        self.reliability = Reliability(scenario, self.pools, replication, self.recorder)
        self.card_rate = self.reliability.card_rate

    # ------------------------------------------------------------------ run

    def run(self) -> RawRun:
        """Simulate to the horizon and return the raw records."""
        wall = time.perf_counter()
        env = self.env
        env.process(self._build_out())
        if self.progress is not None:
            env.process(self._report_progress(self.progress))
        env.process(self._sample_fragmentation())
        rel = self.reliability
        if rel.idle_failures:
            for pool in self.pools:
                if self.card_rate[pool.index] > 0 and pool.max_cards > 0:
                    env.process(self._idle_failures(pool))
        if rel.windows:
            env.process(self._maintenance(rel.windows))
        self._batches = self._arrival_batches()
        self._rows: Iterator[tuple[Any, ...]] = iter(())
        self._next_id = 0
        self._next_arrival()
        # Objects made before the run (modules, the scenario, pools) are set aside from
        # garbage collection while it runs; the run itself makes no lasting reference
        # cycles (jobs are freed by reference counting), so the youngest generation is
        # collected every GC_YOUNG_THRESHOLD allocations instead of every 700.
        threshold = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(max(threshold[0], GC_YOUNG_THRESHOLD), *threshold[1:])
        try:
            self._run_until(self.horizon_h)
        finally:
            gc.set_threshold(*threshold)
            gc.unfreeze()
        self._collect()
        return RawRun(
            scenario=self.scenario,
            replication=self.replication,
            pools=self.pools,
            recorder=self.recorder,
            capacity_events=self.capacity_events,
            queue_area_job_h=self._queue_area,
            jobs_submitted=self.recorder.n_recorded,
            events=next(env._eid),  # SimPy numbers every scheduled event
            wall_s=time.perf_counter() - wall,
            extra={
                "state_counts": dict(enumerate(self.state_counts)),
                "campaigns": self.campaign_times,
                "reliability": self.reliability,
                "trace": _trace_counts(self.source),
            },
        )

    def _build_out(self) -> Generator[simpy.Event, Any, None]:
        sc = self.scenario
        changes = []
        for pool, spec in zip(self.pools, (p for c in sc.centres for p in c.pools), strict=True):
            for ph in spec.phases:
                changes.append((sc.hours_since_start(ph.date), 0, pool, ph.servers, ph.label))
            for rt in spec.retirements:
                changes.append((sc.hours_since_start(rt.date), 1, pool, rt.servers, rt.label))
        changes.sort(key=lambda c: (c[0], c[1], c[2].index))
        for t, kind, pool, servers, label in changes:
            if t >= self.horizon_h:
                break
            if t > self.env.now:
                yield self.env.timeout(t - self.env.now)
            if kind == 0:
                pool.add_servers(servers, label)
                if pool.spare_fraction:
                    pool.fill_spares()
                    self.reliability.note_levels(pool, self.env._now)
            else:
                pool.retire_servers(servers, label)
            self._capacity_changed()

    def _report_progress(
        self, progress: Callable[[float], None]
    ) -> Generator[simpy.Event, Any, None]:
        while True:
            progress(self.env.now)
            yield self.env.timeout(PROGRESS_EVERY_H)

    def _sample_fragmentation(self) -> Generator[simpy.Event, Any, None]:
        """Once per time bin, at its middle: free cards no queued job's shape can use."""
        step = self.recorder.step_h
        yield self.env.timeout(step / 2)
        while True:
            if self.queue or self.requeued:
                waiting = self.view.waiting(FRAGMENTATION_LOOKAHEAD)
                for pool, cards in zip(
                    self.pools, fleet_fragmentation(self.pools, waiting), strict=True
                ):
                    if cards:
                        self.recorder.fragmentation(pool.index, self.env.now, cards)
            yield self.env.timeout(step)

    def _arrival_batches(self) -> Iterator[Iterator[tuple[Any, ...]]]:
        for batch in self.source.batches(self.horizon_h):
            yield zip(
                batch.submit_h.tolist(),
                batch.job_class.tolist(),
                batch.cards.tolist(),
                batch.work.tolist(),
                batch.estimate_factor.tolist(),
                batch.tenant.tolist(),
                batch.priority.tolist(),
                strict=True,
            )

    def _next_arrival(self) -> None:
        """Line up the next job's arrival: its time and a SimPy sequence number, so that
        :meth:`_run_until` merges it with the event queue exactly where SimPy would have
        put a timeout scheduled now (no event object and no process per job)."""
        row = next(self._rows, None)
        while row is None:  # this batch is used up: take the next one
            rows = next(self._batches, None)
            if rows is None:
                self._arrival_at = math.inf
                return
            self._rows = rows
            row = next(rows, None)
        self._pending = row
        env = self.env
        self._arrival_at = row[0] if row[0] > env._now else env._now
        self._arrival_eid = next(env._eid)

    def _timeout(self, delay: float, value: Any, callback: Callable[[Any], None]) -> _Due:
        """A SimPy timeout of ``delay`` hours with one callback, built in one step.

        Equivalent to ``env.timeout(delay, value)`` plus ``callbacks.append``, without
        the generic constructor chain (two timeouts a job make this a hot path).
        """
        event = _Due()
        event.callbacks = [callback]
        event._value = value
        env = self.env
        queue: list[Any] = env._queue
        heappush(queue, (env._now + delay, NORMAL, next(env._eid), event))
        return event

    def _end_after(self, job: TrainingJob, delay: float, failing: bool = False) -> None:
        """Schedule the end of ``job``'s run segment (or its interruption, ``failing``)
        in ``delay`` hours: the job itself goes into SimPy's event queue, under a fresh
        sequence number that it remembers, so a stopped segment's entry is recognised
        as stale when it comes up."""
        env = self.env
        eid = next(env._eid)
        job.end_eid = eid
        job.failing = failing
        queue: list[Any] = env._queue
        heappush(queue, (env._now + delay, NORMAL, eid, job))

    def _run_until(self, horizon: float) -> None:
        """``env.run(until=horizon)``, with SimPy's ``step`` inlined.

        Pops events in SimPy's order (time, priority, sequence), runs their callbacks
        and re-raises the failure of a process, exactly as ``Environment.step`` does
        (a job's segment end, see :meth:`_end_after`, is handled directly);
        events at or after the horizon stay unprocessed, as with ``until``. Job
        arrivals come from the sorted arrival stream, merged in by (time, priority,
        sequence) as if each were a timeout scheduled when the previous one arrived.
        """
        env = self.env
        queue: list[Any] = env._queue
        arrive = self._arrive
        while True:
            at = self._arrival_at
            if queue:
                top = queue[0]
                t = top[0]
                if t < at or (t == at and (top[1], top[2]) < (NORMAL, self._arrival_eid)):
                    if t >= horizon:
                        break
                    event: Any
                    env._now, _, eid, event = heappop(queue)
                    if event.__class__ is TrainingJob:  # a run segment's end
                        if event.end_eid == eid:
                            (self._fail if event.failing else self._finish)(event)
                        continue
                    callbacks, event.callbacks = event.callbacks, None
                    for callback in callbacks:
                        callback(event)
                    if not event._ok and not hasattr(event, "_defused"):
                        exc = type(event._value)(*event._value.args)
                        exc.__cause__ = event._value
                        raise exc
                    continue
            if at >= horizon:
                break
            env._now = at
            arrive()
        env._now = horizon

    def _arrive(self) -> None:
        _, jc, cards, work, factor, tenant, priority = self._pending
        # The clock, not the sampled time: now + (t - now) can round below t.
        submit = self.env._now
        eligible = self.class_pools[jc] if jc >= 0 else self.campaign_pools[-1 - jc]
        job = TrainingJob(
            self._next_id, jc, tenant, priority, cards, submit, work, factor, eligible
        )
        if self.resume is not None:
            job.interval_spec, job.write_h, job.restart_h = self.resume[jc]
        self._next_id += 1
        queue = self.queue
        now = submit
        if self.lone_start and not queue and not self.requeued:
            # Nobody waits, and the policy starts a lone arrival wherever the dispatch
            # rule puts it (``QueuePolicy.starts_lone_arrivals``): skip the pass.
            view = self.view
            view.now = now
            p = view.choose_pool(job)
            if p is not None:
                if view.ended:
                    view.ended.clear()
                if view.memo:
                    view.memo.clear()
                self._launch(job, p, now)
                self._next_arrival()
                return
        self._queue_area += (len(queue) + len(self.requeued)) * (now - self._queue_since)
        self._queue_since = now
        queue[job.id] = job
        self.view.new_arrivals.append(job)
        self._schedule()
        self._next_arrival()

    # ------------------------------------------------------------------ scheduling

    def _capacity_changed(self) -> None:
        view = self.view
        view.capacity_freed = True
        view.memo.clear()
        self._schedule()

    def _schedule(self) -> None:
        view = self.view
        view.now = self.env._now
        for decision in self.policy.decide(view):
            if isinstance(decision, Start):
                self._start(decision)
            elif isinstance(decision, Preempt):
                self._preempt(decision)
            else:
                raise PolicyError(
                    f"policy '{self.policy.name}' returned {decision!r}; a decision is "
                    f"Start(job, pool) or Preempt(job)"
                )
        view.new_arrivals.clear()
        view.ended.clear()
        view.capacity_freed = False
        if self.timed_passes:
            self._plan_wake(self.policy.next_pass_h(view))

    def _plan_wake(self, at: float | None) -> None:
        """Run a pass at ``at`` (hours), as the policy asked, unless one comes sooner."""
        now = self.env._now
        if at is None or not at > now or at >= self.horizon_h:
            return
        if self._wake_at is not None and self._wake_at <= at:
            return
        self._wake_at = at
        self._timeout(at - now, at, self._wake)

    def _wake(self, event: _Due) -> None:
        if event._value != self._wake_at:
            return  # superseded by an earlier wake
        self._wake_at = None
        view = self.view
        view.capacity_freed = True  # a timed pass reconsiders the whole queue
        if self.queue or self.requeued or self.running:
            self._schedule()

    def _start(self, decision: Start) -> None:
        job, p = decision.job, decision.pool
        queue = self.queue
        if queue.get(job.id) is not job:
            if self.requeued.get(job.id) is not job:
                self._reject(decision, "the job is not queued")
            queue = self.requeued
        if p not in job.eligible:
            self._reject(decision, f"the job may only use pools {list(job.eligible)}")
        pool = self.pools[p]
        if not pool.can_fit(job.cards):
            self._reject(
                decision,
                f"{job.cards} cards do not fit pool {pool.centre}/{pool.name} now "
                f"({pool.free_cards} of {pool.online_cards} cards free)",
            )
        now = self.env._now
        self._queue_area += (len(self.queue) + len(self.requeued)) * (now - self._queue_since)
        self._queue_since = now
        del queue[job.id]
        if job.stops:
            self.recorder.requeued_wait(job.cards, job.end, now)  # end: when it stopped
            job.end = math.nan
        self._launch(job, p, now)

    def _launch(self, job: TrainingJob, p: int, now: float) -> None:
        """Start a checked job (out of the queue) on pool ``p`` now."""
        pool = self.pools[p]
        job.state = RUNNING
        if job.stops == 0:
            job.start = now
        job.run_start = now
        job.pool = p
        cards = job.cards
        job.placement = pool.allocate(cards)
        self.running[job.id] = job
        ends = self.running_ends
        if ends is not None:
            # now + job.remaining_estimate_on(pool.speed), inlined: a start is a hot path
            estimate = job.remaining * job.estimate_factor / (cards * pool.speed) + job.overhead_h
            key = (now + estimate, job.id, cards)
            job.sort_key = key
            ends[p].add(key)
        if self.resilient:
            self._begin_segment(job, pool)
        else:
            self._end_after(job, job.remaining / (job.cards * pool.speed) + job.overhead_h)
        if self.check_invariants:
            assert now >= job.submit, f"job {job.id} starts before it was submitted"
            self._check_pool(pool)

    def _begin_segment(self, job: TrainingJob, pool: Pool) -> None:
        """Lay out a run segment (restart, computation, checkpoint writes) and schedule
        its end, or its interruption when the job's failure draw comes first."""
        compute_h = job.remaining / (job.cards * pool.speed)
        spec = job.interval_spec
        rate = self.card_rate[pool.index] * job.cards
        if spec > 0.0:
            interval = spec
        elif spec < 0.0 and rate > 0.0:
            interval = daly_interval(job.write_h, 1.0 / rate)
        else:
            interval = 0.0
        writes = checkpoints_in(compute_h, interval) if interval else 0
        job.checkpoint_h = interval
        job.seg_writes = writes
        duration = job.overhead_h + compute_h + writes * job.write_h
        fail_in = self.reliability.draw_exp() / rate if rate > 0.0 else math.inf
        # self._end_after(job, min(fail_in, duration), failing=fail_in < duration), inlined
        env = self.env
        eid = next(env._eid)
        job.end_eid = eid
        if fail_in < duration:
            job.failing = True
            duration = fail_in
        else:
            job.failing = False
        queue: list[Any] = env._queue
        heappush(queue, (env._now + duration, NORMAL, eid, job))

    def _finish(self, job: TrainingJob) -> None:
        """A run segment ended with the job's work done."""
        pool = self.pools[job.pool]
        pool.release(job.placement)
        job.placement = None
        now = self.env._now
        job.end = now
        del self.running[job.id]
        if self.running_ends is not None:
            self.running_ends[job.pool].remove(job.sort_key)
        if self.resilient:
            rel = self.reliability
            if job.overhead_h > 0.0:
                rel.add_loss(pool.index, job.cards, RESTART, job.overhead_h)
            if job.seg_writes:
                rel.add_loss(pool.index, job.cards, CHECKPOINT, job.seg_writes * job.write_h)
        self._record(job, STATE_DONE)
        if self.check_invariants:
            self._check_pool(pool)
        view = self.view
        view.ended.append(job)
        view.capacity_freed = True
        if view.memo:
            view.memo.clear()
        if self.queue or self.requeued:  # with nobody waiting there is nothing to decide
            self._schedule()

    def _preempt(self, decision: Preempt) -> None:
        """Stop a running job; it keeps the work up to its last checkpoint and requeues."""
        job = decision.job
        if self.running.get(job.id) is not job:
            raise PolicyError(
                f"policy '{self.policy.name}' decided to preempt job {job.id} at "
                f"t={self.env.now:.4f} h, which is impossible: the job is not running"
            )
        pool = self.pools[job.pool]
        self._stop_segment(job)
        pool.release(job.placement)
        job.placement = None
        self._requeue(job)
        if self.check_invariants:
            self._check_pool(pool)

    def _stop_segment(self, job: TrainingJob) -> None:
        """End a job's run segment early: keep the work up to its last completed
        checkpoint, charge the rest as lost card-hours, record the segment's busy time."""
        now = self.env._now
        pool = self.pools[job.pool]
        rate = job.cards * pool.speed  # reference-card-hours of work per hour
        elapsed = now - job.run_start
        restart = min(elapsed, job.overhead_h)
        into = elapsed - restart  # hours of computation and writes in this segment
        interval, write = job.checkpoint_h, job.write_h
        done = min(job.seg_writes, math.floor(into / (interval + write))) if interval else 0
        since = into - done * (interval + write)  # since the last completed checkpoint
        rework = min(since, interval) if interval else since
        writing = since - rework  # a write cut short
        kept_h = min(done * interval, job.remaining / rate)
        job.remaining -= kept_h * rate
        job.lost_work += rework * rate
        job.overhead_h = job.restart_h
        job.stops += 1
        job.end_eid = -1  # its pending end, if any, is now stale
        rel = self.reliability
        p = pool.index
        rel.add_loss(p, job.cards, REWORK, rework)
        rel.add_loss(p, job.cards, RESTART, restart)
        rel.add_loss(p, job.cards, CHECKPOINT, done * write + writing)
        self.recorder.segment(p, job.cards, job.run_start, now)
        if self.running_ends is not None:
            self.running_ends[p].remove(job.sort_key)

    def _requeue(self, job: TrainingJob) -> None:
        """Put a stopped job (its cards already released) back in the queue."""
        now = self.env._now
        job.end = now  # while requeued, ``end`` holds the time the job stopped
        del self.running[job.id]
        self._queue_area += (len(self.queue) + len(self.requeued)) * (now - self._queue_since)
        self._queue_since = now
        job.state = QUEUED
        self.requeued[job.id] = job
        view = self.view
        view.ended.append(job)
        view.capacity_freed = True
        view.memo.clear()

    def _restart_in_place(self, job: TrainingJob, pool: Pool) -> None:
        """Start a new segment of a stopped job on the cards it holds (a hot spare)."""
        job.run_start = self.env._now
        if self.running_ends is not None:
            job.sort_key = (
                job.run_start + job.remaining_estimate_on(pool.speed),
                job.id,
                job.cards,
            )
            self.running_ends[pool.index].add(job.sort_key)
        self._begin_segment(job, pool)

    # ------------------------------------------------------------------ failures

    def _fail(self, job: TrainingJob) -> None:
        """A running job's failure draw came due: interrupt it, send the failed server
        to repair, restart on a hot spare or requeue."""
        pool = self.pools[job.pool]
        rel = self.reliability
        rel.failures += 1
        job.failures += 1
        self._stop_segment(job)
        failed, rest = pool.split_failed(job.placement)
        pool.start_repair(failed)
        self._repair(pool, failed)
        spare = pool.take_spare(failed.segments[0][0]) if failed.segments else None
        if spare is not None:
            pool.join_server(rest, *spare)
            job.placement = rest
            rel.spare_restarts += 1
            rel.note_levels(pool, self.env._now)
            self._restart_in_place(job, pool)
        else:
            pool.release(rest)
            job.placement = None
            self._requeue(job)
        if self.check_invariants:
            self._check_pool(pool)
        if self.queue or self.requeued:
            self._schedule()

    def _repair(self, pool: Pool, failed: Placement) -> None:
        """Keep ``failed`` (counted in the pool's repair cards) out until it is fixed."""
        now = self.env._now
        self.reliability.note_levels(pool, now)
        done = self.env.timeout(self.reliability.draw_repair_h(), (pool, failed))
        done.callbacks.append(self._repaired)

    def _repaired(self, event: _Due) -> None:
        pool, failed = event._value
        pool.end_repair(failed)
        self.reliability.note_levels(pool, self.env._now)
        if self.check_invariants:
            self._check_pool(pool)
        self._capacity_changed()

    def _idle_failures(self, pool: Pool) -> Generator[simpy.Event, Any, None]:
        """Failures of idle cards: a Poisson stream at the pool's largest capacity,
        thinned to the idle (free or spare) cards at each candidate time."""
        rel = self.reliability
        peak_rate = self.card_rate[pool.index] * pool.max_cards
        while True:
            yield self.env.timeout(rel.draw_idle_gap() / peak_rate)
            u = rel.draw_uniform() * pool.max_cards
            idle = pool.free_cards + pool.spare_cards
            if u >= idle:
                continue  # the failing card is busy (jobs draw their own) or not built
            failed = pool.fail_idle(u / idle)
            if failed is None:
                continue
            rel.idle_failure_count += 1
            self._repair(pool, failed)
            if self.check_invariants:
                self._check_pool(pool)

    # ------------------------------------------------------------------ maintenance

    def _maintenance(self, windows: list[WindowInstance]) -> Generator[simpy.Event, Any, None]:
        for w in windows:
            if w.start_h > self.env._now:
                yield self.env.timeout(w.start_h - self.env._now)
            self.env.process(self._window(w))

    def _window(self, w: WindowInstance) -> Generator[simpy.Event, Any, None]:
        pool = self.pools[w.pool]
        servers = round(w.fraction * pool.online_servers)
        if servers <= 0:
            return
        hold = pool.hold_servers(servers)
        if w.preempt and hold.pending:
            # Stop the most recently started jobs of the pool until the hold is complete.
            for job in reversed([j for j in self.running.values() if j.pool == pool.index]):
                if not hold.pending:
                    break
                self._stop_segment(job)
                pool.release(job.placement)
                job.placement = None
                self._requeue(job)
        now = self.env._now
        self.reliability.note_levels(pool, now)
        if self.check_invariants:
            self._check_pool(pool)
        if self.queue or self.requeued:
            self._schedule()
        yield self.env.timeout(w.end_h - now)
        pool.release_hold(hold)
        self.reliability.note_levels(pool, self.env._now)
        self._capacity_changed()

    def _note_levels(self, pool: Pool) -> None:
        self.reliability.note_levels(pool, self.env._now)

    def _check_pool(self, pool: Pool) -> None:
        """Pool bookkeeping and card conservation (tests only; O(running jobs))."""
        pool.check()
        busy = sum(j.cards for j in self.running.values() if j.pool == pool.index)
        assert busy == pool.busy_cards, (
            f"pool {pool.name}: running jobs hold {busy} cards but online - free - spare - "
            f"repair - maintenance = {pool.busy_cards}"
        )

    def _reject(self, decision: Start, reason: str) -> None:
        raise PolicyError(
            f"policy '{self.policy.name}' decided to start job {decision.job.id} "
            f"({decision.job.cards} cards) on pool {decision.pool} at t={self.env.now:.4f} h, "
            f"which is impossible: {reason}"
        )

    # ------------------------------------------------------------------ records

    def _record(self, job: TrainingJob, state: int) -> None:
        self.state_counts[state] += 1
        speed = self.pools[job.pool].speed if job.pool >= 0 else 1.0
        if job.job_class < 0:
            name = self.scenario.workload.campaigns[-1 - job.job_class].name
            # Failure-free time to train: the same first start, then the whole work with
            # the checkpoint writes of its last interval and no interruption.
            compute = job.work / (job.cards * speed)
            writes = checkpoints_in(compute, job.checkpoint_h) if job.checkpoint_h else 0
            ideal = job.start + compute + writes * job.write_h
            self.campaign_times[name] = (job.submit, job.end, ideal)
        rows = self._record_rows
        rows.append(
            (
                job.id,
                job.job_class,
                job.tenant,
                job.priority,
                job.cards,
                job.pool,
                state,
                job.submit,
                job.start,
                job.end,
                job.work,
                job.work * job.estimate_factor / (job.cards * speed),
                job.run_start,
                job.stops,
                job.failures,
                job.lost_work,
            )
        )
        if len(rows) >= self.recorder.chunk_size:  # Recorder.record, inlined
            self.recorder.flush()

    def _log_capacity(self, pool: Pool, delta: int, label: str) -> None:
        self.capacity_events.append(
            CapacityEvent(self.env.now, pool.index, delta, pool.online_cards, label)
        )
        if delta < 0:
            return
        view = self.view
        view.capacity_freed = True
        view.memo.clear()

    def _collect(self) -> None:
        now = self.env.now
        self._queue_area += (len(self.queue) + len(self.requeued)) * (now - self._queue_since)
        self._queue_since = now
        rel = self.reliability
        for job in self.running.values():
            if self.resilient:
                # Restart and completed checkpoint writes of the open segment.
                elapsed = now - job.run_start
                restart = min(elapsed, job.overhead_h)
                into = elapsed - restart
                step = job.checkpoint_h + job.write_h
                done = min(job.seg_writes, math.floor(into / step)) if job.checkpoint_h else 0
                rel.add_loss(job.pool, job.cards, RESTART, restart)
                rel.add_loss(job.pool, job.cards, CHECKPOINT, done * job.write_h)
            self._record(job, STATE_RUNNING)
        rel.close(now)
        for job in self.requeued.values():
            self.recorder.requeued_wait(job.cards, job.end, now)
            job.end = float("nan")
            self._record(job, STATE_QUEUED)
        for job in self.queue.values():
            self._record(job, STATE_QUEUED)
        self.recorder.flush()
