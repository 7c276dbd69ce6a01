"""Goal-seek (``lingang-sim plan``): target grammar, search, and closed-form answers.

Two searches are checked against answers known in closed form:

* **M/M/c sizing** (oracle: Erlang C). One pool of c one-card servers, 1-card jobs with
  Exp(1) h runs on the reference card, Poisson arrivals at lambda = 8 jobs/h, FIFO: an
  M/M/c queue whose mean wait is ``W(c) = C(c, a) / (c - a)`` hours with a = 8 Erlangs.
  Target ``wait_h_mean <= 0.13``: W(10) = 0.205 h and W(11) = 0.082 h, so the smallest
  c meeting it is 11, with the threshold well clear of both neighbours (W(10) is 58 %
  above it, W(11) 37 % below). The plan varies ``phases[0].servers`` over 9..32 with 5
  replications at first and at most 20 at any value (30 simulated days each, 1 day of
  warm-up, one fixed seed chosen before the first run), deciding a value only when its
  95 % Student-t interval lies on one side of 0.13; the answer must equal 11 exactly
  (tolerance: none, it is an integer). Run offline with seeds 1..12, the search found 11
  every time.
* **Latest phase date** (oracle: arithmetic). A second phase of 8 cards dated D adds
  ``8 x (H - 24 d)`` online card-hours to a run of H hours (d = days from the start to
  D), the same in every replication, so the latest D meeting ``online_card_h >= K``
  follows exactly; the search must find it to the day (``--find largest``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from scipy import stats

from simulator.errors import ScenarioError
from simulator.executors import LocalExecutor
from simulator.plan import PlanError, Target, canonical_metric, goal_seek, parse_target
from simulator.sweep_commands import plan as plan_command

SERVERS_KEY = "centres.c1.pools.p1.phases[0].servers"


def _cli(command: click.Command, args: list[str]) -> int:
    """Run a command as ``lingang-sim`` would; returns the exit status."""
    import simulator.cli as cli_module

    saved = cli_module.cli
    cli_module.cli = click.Group("lingang-sim", commands=[command])  # type: ignore[assignment]
    try:
        cli_module.main([command.name or "", *args])
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        cli_module.cli = saved
    return 0


# --------------------------------------------------------------------------- oracle


def erlang_c(c: int, a: float) -> float:
    """P(wait > 0) in M/M/c with offered load ``a`` Erlangs (a < c), via Poisson terms."""
    tail = stats.poisson.pmf(c, a) * c / (c - a)
    return float(tail / (stats.poisson.cdf(c - 1, a) + tail))


def mmc_mean_wait_h(c: int, arrival_rate_h: float) -> float:
    """Mean wait in queue, hours, for service rate 1/h: C(c, a) / (c - lambda)."""
    return erlang_c(c, arrival_rate_h) / (c - arrival_rate_h)


def smallest_servers(arrival_rate_h: float, target_h: float) -> int:
    c = int(arrival_rate_h) + 1
    while mmc_mean_wait_h(c, arrival_rate_h) > target_h:
        c += 1
    return c


# --------------------------------------------------------------------------- scenarios


def write_scenario(folder: Path, sim: Any, name: str = "mmc", **overrides: Any) -> Path:
    data = sim.scenario_dict(**overrides)
    data["name"] = name
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def mmc_scenario(folder: Path, sim: Any, arrival_rate_h: float) -> Path:
    return write_scenario(
        folder,
        sim,
        seed=20250101,
        horizon_days=30,
        warmup_days=1,
        replications=5,
        centres=[{"name": "c1", "pools": [sim.pool("p1", cards_per_server=1, servers=16)]}],
        workload={"classes": [sim.job_class("exp", rate_per_day=arrival_rate_h * 24)]},
        output={"timeseries_step_h": 24.0 * 30, "job_records": "none"},
    )


def small_scenario(folder: Path, sim: Any, **overrides: Any) -> Path:
    """A few days of light load on 16 cards: runs in a fraction of a second."""
    settings: dict[str, Any] = {
        "horizon_days": 3,
        "replications": 2,
        "workload": {"classes": [sim.job_class(rate_per_day=48)]},
        "output": {"timeseries_step_h": 24.0, "job_records": "none"},
    }
    return write_scenario(folder, sim, name="small", **{**settings, **overrides})


# --------------------------------------------------------------------------- targets


@pytest.mark.parametrize(
    ("alias", "key"),
    [
        ("p95_wait_h[size>=1024]", "wait_h_p95[size=>1024]"),
        ("p95_wait_h[size>1024]", "wait_h_p95[size=>1024]"),
        ("wait_h_p95[size=>1024]", "wait_h_p95[size=>1024]"),
        ("p50_wait_h", "wait_h_p50"),
        ("median_wait_h", "wait_h_p50"),
        ("p99_jct_h[year=2027]", "jct_h_p99[year=2027]"),
        ("mean_wait_h[size=2-8, year=2026]", "wait_h_mean[size=2-8,year=2026]"),
        ("utilisation[year=2027]", "utilisation[year=2027]"),
        ("mean_bsld", "bsld_mean"),
    ],
)
def test_metric_aliases(alias: str, key: str) -> None:
    assert canonical_metric(alias) == key


@pytest.mark.parametrize(
    ("text", "metric", "op", "threshold"),
    [
        ("p95_wait_h[size>=1024] <= 24", "wait_h_p95[size=>1024]", "<=", 24.0),
        ("utilisation[year=2027]>=0.6", "utilisation[year=2027]", ">=", 0.6),
        ("  wait_h_mean < 1.5e-1 ", "wait_h_mean", "<", 0.15),
        ("jobs_waiting_at_horizon > -2", "jobs_waiting_at_horizon", ">", -2.0),
    ],
)
def test_parse_target(text: str, metric: str, op: str, threshold: float) -> None:
    target = parse_target(text)
    assert (target.metric, target.op, target.threshold) == (metric, op, threshold)


@pytest.mark.parametrize(
    "text",
    [
        "wait_h_p95 = 3",
        "wait_h_p95 <= ",
        "<= 3",
        "wait_h_p95 <= 3 h",
        "p95 wait <= 3",
        "wait_h_p95 <= 3 <= 4",
        "",
    ],
)
def test_target_that_does_not_parse(text: str) -> None:
    with pytest.raises(PlanError, match=r"cannot parse the target .*<metric> <op> <number>"):
        parse_target(text)


def test_size_qualifier_naming_no_class() -> None:
    with pytest.raises(PlanError, match=r"size classes are 1, 2-8, 9-64, 65-1024, >1024"):
        parse_target("p95_wait_h[size>=100] <= 3")


def test_decisions_from_intervals() -> None:
    le = Target("m", "<=", 1.0, "m <= 1")
    assert le.decide(0.2, 0.9) == "meets"
    assert le.decide(1.1, 3.0) == "fails"
    assert le.decide(0.5, 1.5) == "undecided"
    assert le.decide(float("nan"), float("nan")) == "undecided"
    ge = Target("m", ">=", 1.0, "m >= 1")
    assert ge.decide(1.0, 2.0) == "meets" and ge.decide(0.1, 0.9) == "fails"
    assert Target("m", "<", 1.0, "m < 1").decide(0.5, 1.0) == "undecided"


# --------------------------------------------------------------------------- closed forms


def test_plan_finds_the_erlang_c_server_count(tmp_path: Path, sim: Any) -> None:
    """Smallest c with Erlang-C mean wait <= 0.13 h at lambda = 8/h (see module docstring)."""
    arrival_rate_h, target_h = 8.0, 0.13
    expected = smallest_servers(arrival_rate_h, target_h)
    assert expected == 11
    assert mmc_mean_wait_h(10, arrival_rate_h) > 1.5 * target_h
    assert mmc_mean_wait_h(11, arrival_rate_h) < 0.65 * target_h
    path = mmc_scenario(tmp_path, sim, arrival_rate_h)
    result = goal_seek(
        path,
        f"wait_h_mean <= {target_h}",
        SERVERS_KEY,
        "9:32",
        LocalExecutor(2),
        replications=5,
        max_replications=20,
    )
    assert result.answer == expected
    low, high = result.bracket()
    assert high == expected and low is not None and low < expected
    table = result.table().set_index("value")
    assert table.loc[expected, "decision"] == "meets"
    assert table.loc[expected, "ci_high"] <= target_h
    assert set(table["decision"][table.index < expected]) <= {"fails", "undecided"}
    assert result.runs == int(table["replications"].sum())


def test_plan_finds_the_latest_phase_date(tmp_path: Path, sim: Any) -> None:
    """Latest date of a second phase keeping online card-hours >= K (exact, see docstring)."""
    horizon_days, d_star = 40, 17
    horizon_h = 24.0 * horizon_days
    k = 8 * horizon_h + 8 * (horizon_h - 24 * d_star) - 4  # met at d*, not at d* + 1
    path = small_scenario(
        tmp_path,
        sim,
        horizon_days=horizon_days,
        centres=[{"name": "c1", "pools": [sim.pool("p1", phases=[(0, 1), (30, 1)])]}],
        workload={"classes": [sim.job_class(rate_per_day=2)]},
    )
    key = "centres.c1.pools.p1.phases[1].date"
    result = goal_seek(
        path,
        f"online_card_h >= {k}",
        key,
        "2025-01-02:2025-02-05",
        LocalExecutor(1),
        find="largest",
    )
    expected = (sim.START + dt.timedelta(days=d_star)).isoformat()
    assert result.varied.kind == "date"
    assert result.bracket() == ((sim.START + dt.timedelta(days=d_star + 1)).isoformat(), expected)
    assert result.exact
    assert (
        _cli(
            plan_command,
            [
                str(path),
                "--target",
                f"online_card_h >= {k}",
                "--vary",
                key,
                "--range",
                "2025-01-02:2025-02-05",
                "--find",
                "largest",
                "--workers",
                "1",
                "-q",
            ],
        )
        == 0
    )


def test_plan_out_folder_resumes_without_rerunning(tmp_path: Path, sim: Any) -> None:
    path = small_scenario(tmp_path, sim)
    args = dict(replications=2, out_dir=tmp_path / "plan")
    first = goal_seek(path, "utilisation <= 0.2", SERVERS_KEY, "1:8", LocalExecutor(1), **args)
    second = goal_seek(path, "utilisation <= 0.2", SERVERS_KEY, "1:8", LocalExecutor(1), **args)
    assert first.runs > 0 and second.runs == 0 and second.reused == first.runs
    assert first.answer == second.answer
    for name in ("plan.json", "evaluations.csv", "plan.png"):
        assert (tmp_path / "plan" / name).exists()


def test_unreachable_target_reports_no_answer(tmp_path: Path, sim: Any) -> None:
    path = small_scenario(tmp_path, sim)
    result = goal_seek(path, "utilisation >= 2", SERVERS_KEY, "1:4", LocalExecutor(1))
    assert result.answer is None and "widen --range" in result.message
    status = _cli(
        plan_command,
        [
            str(path),
            "--target",
            "utilisation >= 2",
            "--vary",
            SERVERS_KEY,
            "--range",
            "1:4",
            "--workers",
            "1",
            "-q",
        ],
    )
    assert status == 1


# --------------------------------------------------------------------------- bad input


def test_unknown_metric_lists_the_known_ones(tmp_path: Path, sim: Any) -> None:
    path = small_scenario(tmp_path, sim)
    with pytest.raises(PlanError) as info:
        goal_seek(path, "p95_wiat_h <= 3", SERVERS_KEY, "1:4", LocalExecutor(1))
    text = str(info.value)
    assert "unknown metric 'wiat_h_p95'" in text
    assert "wait_h_p95[size=>1024]" in text and "utilisation" in text
    status = _cli(
        plan_command,
        [
            str(path),
            "--target",
            "p95_wiat_h <= 3",
            "--vary",
            SERVERS_KEY,
            "--range",
            "1:4",
            "--workers",
            "1",
        ],
    )
    assert status == 2


def test_target_that_does_not_parse_fails_before_running(tmp_path: Path, sim: Any) -> None:
    path = small_scenario(tmp_path, sim)
    status = _cli(
        plan_command,
        [
            str(path),
            "--target",
            "p95 wait is small",
            "--vary",
            SERVERS_KEY,
            "--range",
            "1:4",
            "--out",
            str(tmp_path / "never"),
        ],
    )
    assert status == 2 and not (tmp_path / "never").exists()


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("centres.c1.pools.p9.phases[0].servers", r"no element 'p9'.*p1"),
        ("centres.c1.pools.p1.phases[3].servers", r"no element '3'"),
        ("centres.c1.pools.p1.phases[0].cards", r"no key 'cards'.*servers"),
    ],
)
def test_vary_key_that_does_not_exist(tmp_path: Path, sim: Any, key: str, message: str) -> None:
    path = small_scenario(tmp_path, sim)
    with pytest.raises(ScenarioError, match=message) as info:
        goal_seek(path, "wait_h_mean <= 1", key, "1:4", LocalExecutor(1))
    assert str(path) in str(info.value) and key in str(info.value)
    assert (
        _cli(
            plan_command,
            [str(path), "--target", "wait_h_mean <= 1", "--vary", key, "--range", "1:4"],
        )
        == 2
    )


@pytest.mark.parametrize(
    ("value_range", "message"),
    [("4", "LO:HI"), ("4:1", "LO must be below HI"), ("1.5:4", "integers"), ("a:b", "numbers")],
)
def test_bad_range(tmp_path: Path, sim: Any, value_range: str, message: str) -> None:
    path = small_scenario(tmp_path, sim)
    with pytest.raises(PlanError, match=message):
        goal_seek(path, "wait_h_mean <= 1", SERVERS_KEY, value_range, LocalExecutor(1))


def test_value_the_schema_rejects(tmp_path: Path, sim: Any) -> None:
    path = small_scenario(tmp_path, sim)
    with pytest.raises(ScenarioError, match="greater than 0"):
        goal_seek(path, "wait_h_mean <= 1", SERVERS_KEY, "0:4", LocalExecutor(1))
