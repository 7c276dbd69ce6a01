"""The training job as the engine and policies see it while it is alive.

A :class:`TrainingJob` exists only between submission and completion (or the horizon);
afterwards it survives only as one row of the recorder's compact columns. Work is in
reference-card-hours, so the run time on a pool is ``work / (cards * pool.speed)``.
"""

from __future__ import annotations

import math
from typing import Any

QUEUED, RUNNING, DONE = 0, 1, 2


class TrainingJob:
    """A gang-scheduled job: all of its cards at once, inside one pool, or nothing."""

    # Per-run state starts at these class-level defaults, so that making a job sets only
    # what differs (a job is made per arrival; this keeps the constructor short).
    state = QUEUED
    start = math.nan  # first start, hours
    pool = -1
    placement: Any = None
    end = math.nan
    sort_key: Any = None  # the running-set key while running (backfill policies)
    run_start = math.nan  # start of the current run segment
    end_eid = -1  # event-queue sequence number of the pending segment end (-1: none)
    failing = False  # whether that pending end is an interruption
    overhead_h = 0.0  # restart cost paid at the start of the next segment, hours
    checkpoint_h = 0.0  # hours of computation between checkpoints, this segment
    restart_h = 0.0  # restart cost charged after an interruption, hours
    stops = 0  # times the job was stopped (preempted, interrupted, maintenance)
    lost_work = 0.0  # work redone after stops, reference-card-hours
    interval_spec = 0.0  # the class's interval: hours, -1 for Young/Daly, 0 none
    write_h = 0.0  # hours a checkpoint write blocks the job
    seg_writes = 0  # checkpoint writes planned in the current segment
    failures = 0  # stops caused by failures

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
        self.remaining = work  # work still to do, reference-card-hours

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
