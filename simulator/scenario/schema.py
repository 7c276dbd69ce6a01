"""The scenario schema: every input of a run, typed, frozen, with every default in one place.

A scenario file (YAML) is validated into :class:`Scenario`. Unknown keys are rejected,
units appear in key names (``_h``, ``_days``, ``_w``, ``_mw``), and cross-references
(card types named by pools, workload classes or campaigns) are checked here, so a run
never starts from an inconsistent description.

Time inside the simulator is hours (float) since ``start``; dates appear only here.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA_VERSION: Literal[1] = 1

#: Gang-size classes used to break down waits (inclusive card ranges).
SIZE_CLASSES: tuple[tuple[str, int, int], ...] = (
    ("1", 1, 1),
    ("2-8", 2, 8),
    ("9-64", 9, 64),
    ("65-1024", 65, 1024),
    (">1024", 1025, 2**62),
)

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
# Job priorities are kept as 32-bit integers in the per-job records.
Priority = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
Name = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")]


class InvalidReference(ValueError):
    """A cross-reference or ordering problem found after the fields are parsed.

    Carries the key path and the value so that the loader can report them as fields.
    """

    def __init__(self, message: str, key_path: str, value: object) -> None:
        super().__init__(message)
        self.key_path = key_path
        self.value = value


class Frozen(BaseModel):
    """Base of every schema node: immutable, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


# --------------------------------------------------------------------------- fleet


class CardType(Frozen):
    """An accelerator model.

    Speed relative to the reference card is ``bf16_tflops * mfu`` over the reference
    card's product.
    """

    name: Name
    bf16_tflops: PositiveFloat = Field(description="Peak dense BF16 TFLOPS per card.")
    memory_gb: PositiveFloat
    board_power_w: PositiveFloat = Field(description="Board power when busy, W.")
    all_in_power_w: PositiveFloat | None = Field(
        None,
        description="Busy power per card including its share of server, network and "
        "storage, W (defaults to the board power).",
    )
    idle_power_fraction: float = Field(
        0.3, ge=0, le=1, description="Idle draw as a fraction of the busy power per card."
    )
    failure_rate_factor: PositiveFloat = 1.0
    mfu: float = Field(0.4, gt=0, le=1, description="Default model FLOPs utilisation.")
    domestic: bool = False

    @property
    def effective_tflops(self) -> float:
        return self.bf16_tflops * self.mfu

    @property
    def power_w(self) -> float:
        """Busy power per card used for energy: all-in when given, else the board's."""
        return self.all_in_power_w if self.all_in_power_w is not None else self.board_power_w


class BuildPhase(Frozen):
    """Servers that come online (or, if negative via ``retire``, leave) at a date."""

    date: dt.date
    servers: PositiveInt
    label: str = ""


class Retirement(Frozen):
    """Servers taken out of service at a date; busy ones leave as their jobs end."""

    date: dt.date
    servers: PositiveInt
    label: str = ""


class Pool(Frozen):
    """Cards of one type in servers of ``cards_per_server``, grouped in pods."""

    name: Name
    card_type: Name
    cards_per_server: PositiveInt = 8
    servers_per_pod: PositiveInt = 32
    phases: list[BuildPhase] = Field(min_length=1)
    retirements: list[Retirement] = Field(default_factory=list)
    hot_spare_fraction: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="Share of the pool's servers kept as hot spares (default: "
        "failures.hot_spare_fraction).",
    )

    @property
    def max_cards(self) -> int:
        return sum(p.servers for p in self.phases) * self.cards_per_server


class Centre(Frozen):
    """A compute centre: one operator, one site, one or more pools."""

    name: Name
    operator: str = ""
    pue: float = Field(1.2, ge=1.0, le=3.0, description="Power usage effectiveness.")
    power_cap_mw: PositiveFloat | None = None
    pools: list[Pool] = Field(min_length=1)

    @field_validator("pools")
    @classmethod
    def _unique_pools(cls, pools: list[Pool]) -> list[Pool]:
        _check_unique([p.name for p in pools], "pool")
        return pools


# --------------------------------------------------------------------------- workload


class ArrivalProcess(Frozen):
    """Poisson arrivals, optionally growing and following daily and weekly profiles.

    Rate at time t (hours since start):
    ``rate_per_day / 24 * growth_per_year ** (t / 8766) * daily[hour] * weekly[weekday]``,
    with both profiles normalised to mean 1.
    """

    rate_per_day: PositiveFloat
    growth_per_year: PositiveFloat = 1.0
    daily_profile: list[NonNegativeFloat] | None = Field(None, min_length=24, max_length=24)
    weekly_profile: list[NonNegativeFloat] | None = Field(None, min_length=7, max_length=7)

    @field_validator("daily_profile", "weekly_profile")
    @classmethod
    def _positive_mean(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and sum(v) <= 0:
            raise ValueError("a profile needs at least one positive value")
        return v


class TableDistribution(Frozen):
    """A discrete distribution given as values and (unnormalised) weights."""

    kind: Literal["table"]
    values: list[PositiveFloat] = Field(min_length=1)
    weights: list[NonNegativeFloat] = Field(min_length=1)

    @model_validator(mode="after")
    def _same_length(self) -> TableDistribution:
        if len(self.values) != len(self.weights):
            raise ValueError(
                f"values ({len(self.values)}) and weights ({len(self.weights)}) differ in length"
            )
        if sum(self.weights) <= 0:
            raise ValueError("weights must have a positive sum")
        return self

    @property
    def mean(self) -> float:
        return sum(v * w for v, w in zip(self.values, self.weights, strict=True)) / sum(
            self.weights
        )

    @property
    def max(self) -> float:
        return max(v for v, w in zip(self.values, self.weights, strict=True) if w > 0)


class LognormalDistribution(Frozen):
    """Lognormal with the given median and log-space sigma, clipped to [min, max]."""

    kind: Literal["lognormal"]
    median: PositiveFloat
    sigma: NonNegativeFloat
    min: PositiveFloat | None = None
    max: PositiveFloat | None = None

    @model_validator(mode="after")
    def _bounds(self) -> LognormalDistribution:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) exceeds max ({self.max})")
        return self

    @property
    def mean(self) -> float:
        """Mean before clipping."""
        return self.median * math.exp(self.sigma**2 / 2)


class ExponentialDistribution(Frozen):
    """Exponential with the given mean (used for queueing-theory checks)."""

    kind: Literal["exponential"]
    mean: PositiveFloat


class ConstantDistribution(Frozen):
    """Always the same value."""

    kind: Literal["constant"]
    value: PositiveFloat

    @property
    def mean(self) -> float:
        return self.value


Distribution = Annotated[
    TableDistribution | LognormalDistribution | ExponentialDistribution | ConstantDistribution,
    Field(discriminator="kind"),
]


class WorkSpec(Frozen):
    """How much work a job carries.

    ``unit`` says what a sampled value means:

    * ``ref_hours``: run time in hours on reference cards; work = value x cards.
    * ``card_hours``: total reference-card-hours, whatever the gang size.
    * ``flop``: total FLOP; converted with the reference card's TFLOPS x MFU.

    A job submitted at t hours carries ``growth_per_year ** (t / 8766)`` times the sampled
    work: bigger runs rather than more runs (frontier training compute grows mostly that
    way [G1]).
    """

    unit: Literal["ref_hours", "card_hours", "flop"] = "ref_hours"
    distribution: Distribution
    growth_per_year: PositiveFloat = Field(
        1.0,
        description="Compound growth of the work per job with its submit time; demand "
        "grows as arrival.growth_per_year x work.growth_per_year.",
    )


class EstimateSpec(Frozen):
    """User run-time estimate = true run time x a factor drawn uniformly in [min, max]."""

    factor_min: float = Field(1.0, ge=1.0)
    factor_max: float = Field(3.0, ge=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> EstimateSpec:
        if self.factor_min > self.factor_max:
            raise ValueError(
                f"factor_min ({self.factor_min}) exceeds factor_max ({self.factor_max})"
            )
        return self


class Tenants(Frozen):
    """Tenants that submit a class's jobs, chosen with the given weights."""

    names: list[Name] = Field(default_factory=lambda: ["default"], min_length=1)
    weights: list[NonNegativeFloat] | None = None

    @model_validator(mode="after")
    def _weights(self) -> Tenants:
        if self.weights is not None and len(self.weights) != len(self.names):
            raise ValueError("weights must have one entry per tenant name")
        return self


class Resilience(Frozen):
    """How a job survives interruptions (failures, preemptions, maintenance).

    ``checkpoint_interval_h`` is hours of computation between checkpoints, or
    ``young_daly`` for Daly's optimum from ``checkpoint_write_h`` and the job's mean time
    to interrupt on the pool it runs on (its cards x the card type's failure rate); none
    means no checkpoints (an interrupted job starts over). Each checkpoint blocks the job
    for ``checkpoint_write_h``; every restart after an interruption costs
    ``restart_overhead_h``. See :mod:`simulator.checkpointing`.
    """

    checkpoint_interval_h: PositiveFloat | Literal["young_daly"] | None = Field(
        None,
        description="Hours of computation between checkpoints, 'young_daly', or none.",
    )
    checkpoint_write_h: NonNegativeFloat = Field(
        0.0, description="Hours a checkpoint write blocks the job."
    )
    restart_overhead_h: NonNegativeFloat = Field(
        0.0, description="Hours a job spends restarting after an interruption."
    )

    @model_validator(mode="after")
    def _interval_longer_than_write(self) -> Resilience:
        interval = self.checkpoint_interval_h
        if interval == "young_daly" and self.checkpoint_write_h <= 0:
            raise InvalidReference(
                "checkpoint_interval_h: young_daly needs checkpoint_write_h > 0 (the "
                "optimum depends on the write cost)",
                "checkpoint_write_h",
                self.checkpoint_write_h,
            )
        if isinstance(interval, float) and interval < self.checkpoint_write_h:
            raise InvalidReference(
                f"checkpoint_interval_h ({interval:g} h) is shorter than checkpoint_write_h "
                f"({self.checkpoint_write_h:g} h); the interval must be at least the write",
                "checkpoint_interval_h",
                interval,
            )
        return self


class JobClass(Resilience):
    """A stream of similar jobs (e.g. evaluation, fine-tuning, pre-training)."""

    name: Name
    arrival: ArrivalProcess
    gang_size: Distribution = Field(description="Cards per job (rounded to an integer >= 1).")
    work: WorkSpec
    estimate: EstimateSpec = EstimateSpec()
    card_types: list[Name] = Field(
        default_factory=list, description="Card types the jobs may use; empty means any."
    )
    tenants: Tenants = Tenants()
    priority: Priority = 0


class Campaign(Resilience):
    """One named training run of a given FLOP budget, size and card type at a date."""

    name: Name
    submit: dt.date
    flop: PositiveFloat = Field(description="Training compute, e.g. 6 x params x tokens.")
    cards: PositiveInt
    card_types: list[Name] = Field(min_length=1)
    mfu: float | None = Field(None, gt=0, le=1, description="Overrides the card type's MFU.")
    tenant: Name = "frontier"
    priority: Priority = 10
    estimate_factor: float = Field(1.2, ge=1.0)


class TraceReplay(Frozen):
    """Jobs replayed from a recorded trace instead of (or beside) generated classes.

    A trace job's recorded run time is taken as its run time on the first of
    ``card_types`` (or the reference card when empty), so replaying on that card type
    reproduces the recorded durations.
    """

    name: Name = "trace"
    file: str = Field(description="Trace file, relative to the scenario file that names it.")
    format: str = "auto"
    on_bad: Literal["error", "skip"] = "error"
    start_day: NonNegativeFloat = Field(
        0.0, description="Window start, days after the trace's first submit."
    )
    span_days: PositiveFloat | None = Field(
        None, description="Window length in days (default: up to the scenario horizon)."
    )
    card_types: list[Name] = Field(default_factory=list)
    cards_per_unit: PositiveFloat = Field(1.0, description="Cards per trace processor or GPU.")
    arrival_scale: PositiveFloat = Field(
        1.0, description="Arrival-rate multiplier: submit gaps are divided by it."
    )
    size_scale: PositiveFloat = Field(1.0, description="Gang-size multiplier.")
    estimates: Literal["trace", "exact"] = Field(
        "trace", description="User estimates from the trace, or exact run times."
    )
    too_large: Literal["error", "skip", "clamp"] = Field(
        "error", description="What to do with a job larger than any pool it may use."
    )
    tenant_from: Literal["user", "tenant", "none"] = "user"
    priority: Priority = 0


class Workload(Frozen):
    classes: list[JobClass] = Field(default_factory=list)
    campaigns: list[Campaign] = Field(default_factory=list)
    trace: TraceReplay | None = None

    @model_validator(mode="after")
    def _non_empty(self) -> Workload:
        if not self.classes and not self.campaigns and self.trace is None:
            raise ValueError("the workload needs at least one job class, campaign or trace")
        _check_unique([c.name for c in self.classes], "job class")
        _check_unique([c.name for c in self.campaigns], "campaign")
        return self


# --------------------------------------------------------------------------- policy


class PolicySpec(Frozen):
    """A registered queue policy and its parameters (checked against the policy's fields)."""

    name: str = "easy_backfill"
    params: dict[str, Any] = Field(default_factory=dict)
    module: str | None = Field(
        None, description="Python file that registers the policy (for a user's own policy)."
    )


class DispatchSpec(Frozen):
    """The rule choosing a centre and pool among those where a job could run."""

    name: str = "earliest_start"
    params: dict[str, Any] = Field(default_factory=dict)


class PlacementSpec(Frozen):
    """Where inside a pool a job's cards go.

    * ``small_jobs``: server choice for jobs of at most one server: ``best_fit`` fills the
      fullest server that fits, ``worst_fit`` the emptiest.
    * ``pod_locality``: for jobs of several servers, ``prefer`` one pod when one has room,
      ``require`` one pod when the job fits a pod (it waits otherwise), ``ignore`` pods.
    """

    small_jobs: Literal["best_fit", "worst_fit"] = "best_fit"
    pod_locality: Literal["prefer", "require", "ignore"] = "prefer"


# --------------------------------------------------------------------------- reliability


class FailureSpec(Frozen):
    """Unexpected interruptions: card failures, repairs and hot spares.

    Each card fails at ``rate_per_card_h`` times its card type's ``failure_rate_factor``,
    busy or idle. A running job of ``n`` cards is interrupted at ``n`` times that rate;
    the failed server (for a job's part inside one server: the job's cards there) goes
    into repair for a time drawn from ``repair_h``; the job restarts at once on a hot
    spare when its pool has one, otherwise it requeues ahead of never-started jobs.
    Idle cards fail too (``idle_failures``), taking a free server (or card) into repair.
    """

    rate_per_card_h: PositiveFloat = Field(
        description="Unexpected interruptions per card-hour on the reference failure rate."
    )
    repair_h: Distribution = Field(description="Hours a failed server is out of service.")
    hot_spare_fraction: float = Field(
        0.0, ge=0, lt=1, description="Share of each pool's servers kept as hot spares."
    )
    idle_failures: bool = True


class MaintenanceWindow(Frozen):
    """Capacity taken out of service for a window, once or every ``every_days``.

    ``mode``: ``drain`` takes free servers at once and busy ones as their jobs end;
    ``preempt`` stops running jobs (they keep their checkpointed work and requeue) to
    take the servers at the window's start.
    """

    name: Name = "maintenance"
    centre: Name
    pool: Name | None = Field(None, description="Pool of the centre (default: all its pools).")
    start: dt.datetime
    duration_h: PositiveFloat
    every_days: PositiveFloat | None = None
    until: dt.datetime | None = None
    fraction: float = Field(1.0, gt=0, le=1, description="Share of the servers taken out.")
    mode: Literal["drain", "preempt"] = "drain"

    @model_validator(mode="after")
    def _no_overlap(self) -> MaintenanceWindow:
        if self.every_days is not None and self.duration_h >= self.every_days * 24:
            raise InvalidReference(
                f"duration_h ({self.duration_h:g}) must be shorter than the period "
                f"every_days x 24 ({self.every_days * 24:g} h)",
                "duration_h",
                self.duration_h,
            )
        return self


# --------------------------------------------------------------------------- run settings


class Energy(Frozen):
    price_cny_per_kwh: NonNegativeFloat = 0.70


class OutputSpec(Frozen):
    """What a run records.

    ``job_records``: ``memory`` keeps the per-job table (the Python API returns it; the
    CLI streams it to ``jobs/r<N>.parquet`` chunk by chunk instead); ``none`` keeps only
    the streaming summaries, so memory stays bounded whatever the job count.
    """

    job_records: Literal["memory", "none"] = "memory"
    timeseries_step_h: PositiveFloat = 24.0


class Scenario(Frozen):
    """A complete, validated scenario."""

    schema_version: Literal[1] = SCHEMA_VERSION
    name: Name
    description: str = ""
    start: dt.date
    horizon_days: PositiveFloat
    warmup_days: NonNegativeFloat = 0.0
    seed: NonNegativeInt = 0
    replications: PositiveInt = 1
    reference_card: Name
    card_types: list[CardType] = Field(min_length=1)
    centres: list[Centre] = Field(min_length=1)
    workload: Workload
    policy: PolicySpec = PolicySpec()
    dispatch: DispatchSpec = DispatchSpec()
    placement: PlacementSpec = PlacementSpec()
    energy: Energy = Energy()
    output: OutputSpec = OutputSpec()
    failures: FailureSpec | None = None
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_references(self) -> Scenario:
        _check_unique([c.name for c in self.card_types], "card type")
        _check_unique([c.name for c in self.centres], "centre")
        types = {c.name for c in self.card_types}
        allowed = ", ".join(sorted(types))

        def card_type(name: str, where: str) -> None:
            if name not in types:
                raise InvalidReference(
                    f"'{name}' is not a card type (known: {allowed})", where, name
                )

        card_type(self.reference_card, "reference_card")
        if self.warmup_days >= self.horizon_days:
            raise InvalidReference(
                f"warmup_days must be shorter than horizon_days ({self.horizon_days})",
                "warmup_days",
                self.warmup_days,
            )
        for ci, centre in enumerate(self.centres):
            for pi, pool in enumerate(centre.pools):
                where = f"centres[{ci}].pools[{pi}]"
                card_type(pool.card_type, f"{where}.card_type")
                dated = [("phases", k, ph.date) for k, ph in enumerate(pool.phases)]
                dated += [("retirements", k, rt.date) for k, rt in enumerate(pool.retirements)]
                online = 0
                for kind, k, date in sorted(dated, key=lambda d: (d[2], d[0] != "phases")):
                    if kind == "phases":
                        online += pool.phases[k].servers
                    else:
                        online -= pool.retirements[k].servers
                        if online < 0:
                            raise InvalidReference(
                                f"{where}.retirements[{k}] retires more servers than the "
                                f"phases dated up to {date} brought online (short by "
                                f"{-online})",
                                f"{where}.retirements[{k}].servers",
                                pool.retirements[k].servers,
                            )
                    if date < self.start:
                        raise InvalidReference(
                            f"{where}.{kind}[{k}].date {date} is before the scenario start "
                            f"{self.start}; fold earlier capacity into a phase dated at or "
                            f"after the start",
                            f"{where}.{kind}[{k}].date",
                            date.isoformat(),
                        )
        for ji, job_class in enumerate(self.workload.classes):
            for t in job_class.card_types:
                card_type(t, f"workload.classes[{ji}].card_types")
        trace = self.workload.trace
        for t in trace.card_types if trace is not None else []:
            card_type(t, "workload.trace.card_types")
        for ki, campaign in enumerate(self.workload.campaigns):
            for t in campaign.card_types:
                card_type(t, f"workload.campaigns[{ki}].card_types")
        centres = {c.name: c for c in self.centres}
        for mi, window in enumerate(self.maintenance):
            where = f"maintenance[{mi}]"
            site = centres.get(window.centre)
            if site is None:
                raise InvalidReference(
                    f"'{window.centre}' is not a centre (known: {', '.join(centres)})",
                    f"{where}.centre",
                    window.centre,
                )
            pools = [p.name for p in site.pools]
            if window.pool is not None and window.pool not in pools:
                raise InvalidReference(
                    f"'{window.pool}' is not a pool of centre '{site.name}' (its pools: "
                    f"{', '.join(pools)})",
                    f"{where}.pool",
                    window.pool,
                )
            if window.start.date() < self.start:
                raise InvalidReference(
                    f"{where}.start {window.start} is before the scenario start {self.start}",
                    f"{where}.start",
                    window.start.isoformat(),
                )
        return self

    # ------------------------------------------------------------------ derived views

    @property
    def horizon_h(self) -> float:
        return self.horizon_days * 24.0

    @property
    def warmup_h(self) -> float:
        return self.warmup_days * 24.0

    @property
    def end_date(self) -> dt.date:
        return self.start + dt.timedelta(days=self.horizon_days)

    def hours_since_start(self, date: dt.date) -> float:
        """Hours from the scenario start to midnight of ``date`` (or to a datetime)."""
        if isinstance(date, dt.datetime):
            start = dt.datetime.combine(self.start, dt.time())
            return (date - start).total_seconds() / 3600.0
        return (date - self.start).days * 24.0

    def card_type(self, name: str) -> CardType:
        for c in self.card_types:
            if c.name == name:
                return c
        raise KeyError(name)


def _check_unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ValueError(f"duplicate {what} name '{n}'; names must be unique")
        seen.add(n)


def size_class(cards: int) -> str:
    """The gang-size class label of a job of ``cards`` cards."""
    for label, lo, hi in SIZE_CLASSES:
        if lo <= cards <= hi:
            return label
    raise ValueError(f"cards must be >= 1, got {cards}")
