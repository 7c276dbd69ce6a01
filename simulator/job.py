"""The training job as the engine and policies see it while it is alive.

A :class:`TrainingJob` exists only between submission and completion (or the horizon);
afterwards it survives only as one row of the recorder's compact columns. Work is in
reference-card-hours, so the run time on a pool is ``work / (cards * pool.speed)``.
"""

from __future__ import annotations

from typing import Any

QUEUED, RUNNING, DONE = 0, 1, 2


class TrainingJob:
    """A gang-scheduled job: all of its cards at once, inside one pool, or nothing."""

    __slots__ = (
        "id",
        "job_class",
        "tenant",
        "priority",
        "cards",
        "submit",
        "work",
        "estimate_factor",
        "eligible",
        "state",
        "start",
        "pool",
        "placement",
        "end",
        "sort_key",
        "remaining",
        "run_start",
        "end_event",
        "overhead_h",
        "checkpoint_h",
        "restart_h",
        "stops",
        "lost_work",
        "interval_spec",
        "write_h",
        "seg_writes",
        "failures",
    )

    def __init__(
        self,
        id: int,
        job_class: int,
        tenant: int,
        priority: int,
        cards: int,
        submit: float,
        work: float,
        estimate_factor: float,
        eligible: tuple[int, ...],
    ) -> None:
        self.id = id
        self.job_class = job_class  # index of the class; campaigns are -1 - index
        self.tenant = tenant
        self.priority = priority
        self.cards = cards
        self.submit = submit
        self.work = work
        self.estimate_factor = estimate_factor
        self.eligible = eligible  # pool indices whose card type the job may use
        self.state = QUEUED
        self.start = float("nan")
        self.pool = -1
        self.placement: Any = None
        self.end = float("nan")
        self.sort_key: Any = None  # the running-set key while running (backfill policies)
        self.remaining = work  # work still to do, reference-card-hours
        self.run_start = float("nan")  # start of the current run segment
        self.end_event: Any = None  # the pending end of the current segment
        self.overhead_h = 0.0  # restart cost paid at the start of the next segment, hours
        self.checkpoint_h = 0.0  # hours of computation between checkpoints, this segment
        self.restart_h = 0.0  # restart cost charged after an interruption, hours
        self.stops = 0  # times the job was stopped (preempted, interrupted, maintenance)
        self.lost_work = 0.0  # work redone after stops, reference-card-hours
        self.interval_spec = 0.0  # the class's interval: hours, -1 for Young/Daly, 0 none
        self.write_h = 0.0  # hours a checkpoint write blocks the job
        self.seg_writes = 0  # checkpoint writes planned in the current segment
        self.failures = 0  # stops caused by failures

    def runtime_on(self, speed: float) -> float:
        """Hours this job runs on cards of relative speed ``speed``."""
        return self.work / (self.cards * speed)

    def estimate_on(self, speed: float) -> float:
        """The user's run-time estimate (hours) on cards of relative speed ``speed``."""
        return self.work * self.estimate_factor / (self.cards * speed)

    def remaining_estimate_on(self, speed: float) -> float:
        """The user's estimate of the time still to run (hours), scaled by work done."""
        return (self.remaining * self.estimate_factor / (self.cards * speed)) + self.overhead_h

    def __repr__(self) -> str:
        return (
            f"TrainingJob(id={self.id}, cards={self.cards}, submit={self.submit:.3f}, "
            f"state={('queued', 'running', 'done')[self.state]})"
        )
