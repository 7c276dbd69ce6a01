"""Sweeps: executors, determinism, atomic per-cell storage and resuming, bad input.

The sweeps here run a tiny scenario (one centre, one pool of two 8-card servers, 1-card
jobs with Exp(1) h runs, a few simulated days), so that every test stays within seconds.
Determinism is checked exactly: the tidy tables of the same sweep run serially, in local
processes and on a Dask ``LocalCluster`` must be equal value for value, because a cell's
random streams depend only on the scenario's seed and the replication index.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import pandas as pd
import pytest
import yaml

from simulator.cellstore import CellStore, CorruptCellError
from simulator.errors import ScenarioError
from simulator.executors import DaskExecutor, ExecutorError, LocalExecutor, make_executor
from simulator.sweep import SweepSpec, load_sweep, run_sweep
from simulator.sweep_commands import plan as plan_command
from simulator.sweep_commands import sweep as sweep_command

ROOT = Path(__file__).resolve().parents[1]

#: Runs the real CLI entry point, adding the sweep commands if the group lacks them.
DRIVER = """
import sys
from simulator.cli import cli, main
from simulator import sweep_commands
for command in (sweep_commands.sweep, sweep_commands.plan):
    if command.name not in cli.commands:
        cli.add_command(command)
main(sys.argv[1:])
"""


def write_world(
    folder: Path, sim: Any, *, horizon_days: float = 2, rate_per_day: float = 200
) -> Path:
    """A tiny scenario file in ``folder``: 16 cards, 1-card Exp(1) h jobs."""
    data = sim.scenario_dict(
        name="tiny",
        horizon_days=horizon_days,
        warmup_days=0.25,
        seed=11,
        replications=2,
        workload={"classes": [sim.job_class(rate_per_day=rate_per_day)]},
        output={"timeseries_step_h": 24.0, "job_records": "none"},
    )
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def write_sweep(folder: Path, **overrides: Any) -> Path:
    """A sweep of the tiny world: policy x arrival rate (grid), 2 replications."""
    spec: dict[str, Any] = {
        "schema_version": 1,
        "name": "tiny-sweep",
        "scenario": "tiny.yaml",
        "mode": "grid",
        "factors": {
            "policy.name": ["fifo", "easy_backfill"],
            "workload.classes.jobs.arrival.rate_per_day": {
                "values": [250, 350],
                "label": "arrivals (jobs/day)",
            },
        },
        "replications": 2,
        "metrics": ["utilisation", "wait_h_mean", "p95_wait_h"],
    }
    spec.update(overrides)
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def world(tmp_path: Path, sim: Any) -> Path:
    write_world(tmp_path, sim)
    return write_sweep(tmp_path)


@pytest.fixture(scope="module")
def serial_reference(tmp_path_factory: pytest.TempPathFactory, sim: Any) -> pd.DataFrame:
    """The tiny sweep's tidy table, run serially in this process."""
    folder = tmp_path_factory.mktemp("reference")
    write_world(folder, sim)
    sweep = load_sweep(write_sweep(folder))
    outcome = run_sweep(sweep, folder / "out", LocalExecutor(1), figures=False)
    assert outcome.complete and outcome.ran == 8
    return outcome.table


def _cli(command: click.Command, args: list[str]) -> int:
    """Run a command as ``lingang-sim`` would; returns the exit status."""
    from simulator.cli import main

    group = click.Group("lingang-sim", commands=[command])
    import simulator.cli as cli_module

    saved = cli_module.cli
    cli_module.cli = group  # type: ignore[assignment]
    try:
        main([command.name or "", *args])
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        cli_module.cli = saved
    return 0


def die_in_worker(task: tuple[int, str, str]) -> int:
    """Executor task: kill this worker process ('once': on a first attempt only)."""
    value, mode, folder = task
    marker = Path(folder) / f"attempt-{value}"
    if mode == "always" or (mode == "once" and not marker.exists()):
        marker.touch()
        os._exit(1)
    return value


# --------------------------------------------------------------------------- the sweep file


def test_sweep_file_cells_and_keys(world: Path) -> None:
    """A 2 x 2 grid with 2 replications has 8 cells; ids depend on the resolved scenario."""
    sweep = load_sweep(world)
    assert [v.factors for v in sweep.variants] == [
        {"policy.name": "fifo", "workload.classes.jobs.arrival.rate_per_day": 250},
        {"policy.name": "fifo", "workload.classes.jobs.arrival.rate_per_day": 350},
        {"policy.name": "easy_backfill", "workload.classes.jobs.arrival.rate_per_day": 250},
        {"policy.name": "easy_backfill", "workload.classes.jobs.arrival.rate_per_day": 350},
    ]
    cells = sweep.cells()
    assert len(cells) == 8 and len({c.cell_id for c in cells}) == 8
    assert [c.replication for c in cells] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert all(c.scenario.seed == 11 for c in cells)
    assert sweep.variants[1].scenario.workload.classes[0].arrival.rate_per_day == 350
    again = load_sweep(world)
    assert [c.cell_id for c in again.cells()] == [c.cell_id for c in cells]
    # An override of the base scenario changes every cell's identity.
    other = load_sweep(world, ["horizon_days=5"])
    assert not {c.cell_id for c in other.cells()} & {c.cell_id for c in cells}


def test_zip_mode_pairs_values(world: Path, tmp_path: Path) -> None:
    path = write_sweep(tmp_path, mode="zip")
    sweep = load_sweep(path, replications=3)
    assert [tuple(v.factors.values()) for v in sweep.variants] == [
        ("fifo", 250),
        ("easy_backfill", 350),
    ]
    assert len(sweep.cells()) == 6


def test_spec_is_frozen_and_strict() -> None:
    spec = SweepSpec.model_validate(
        {"name": "s", "scenario": "x.yaml", "factors": {"seed": [1, 2]}}
    )
    with pytest.raises(Exception, match="frozen"):
        spec.name = "t"  # type: ignore[misc]
    with pytest.raises(Exception, match="Extra inputs"):
        SweepSpec.model_validate(
            {"name": "s", "scenario": "x.yaml", "factors": {"seed": [1]}, "colour": 1}
        )


# --------------------------------------------------------------------------- executors


@pytest.mark.parametrize("executor", ["serial", "processes"])
def test_local_executors_give_identical_tables(
    executor: str, tmp_path: Path, sim: Any, serial_reference: pd.DataFrame
) -> None:
    write_world(tmp_path, sim)
    sweep = load_sweep(write_sweep(tmp_path))
    ex = LocalExecutor(1 if executor == "serial" else 2)
    outcome = run_sweep(sweep, tmp_path / "out", ex, figures=False)
    assert outcome.complete and outcome.ran == 8
    pd.testing.assert_frame_equal(outcome.table, serial_reference)
    on_disk = pd.read_parquet(tmp_path / "out" / "results.parquet")
    pd.testing.assert_frame_equal(on_disk, serial_reference)


def test_a_dying_worker_loses_only_its_own_task(tmp_path: Path) -> None:
    """Tasks lost with a dead worker are rerun alone: only the one that kills its worker
    every time is reported lost; the one that died once, and any bystander, finish."""
    from simulator.executors import WorkerLost

    tasks = [
        (0, "ok", str(tmp_path)),
        (1, "once", str(tmp_path)),
        (2, "ok", str(tmp_path)),
        (3, "always", str(tmp_path)),
        (4, "ok", str(tmp_path)),
        (5, "ok", str(tmp_path)),
    ]
    with LocalExecutor(2) as ex:
        outcomes = {task[0]: outcome for task, outcome in ex.run(die_in_worker, tasks)}
    assert sorted(outcomes) == [0, 1, 2, 3, 4, 5]
    assert isinstance(outcomes.pop(3), WorkerLost)
    assert outcomes == {0: 0, 1: 1, 2: 2, 4: 4, 5: 5}


def test_sweep_on_dask_local_cluster(
    tmp_path: Path, sim: Any, serial_reference: pd.DataFrame
) -> None:
    """Two Dask workers (threads) give exactly the serial table and write every output."""
    pytest.importorskip("distributed", reason="dask[distributed] is an optional extra")
    write_world(tmp_path, sim)
    sweep = load_sweep(write_sweep(tmp_path))
    ex = DaskExecutor(None, workers=2, processes=False)
    outcome = run_sweep(sweep, tmp_path / "out", ex, figures=False)
    assert outcome.complete and outcome.ran == 8
    pd.testing.assert_frame_equal(outcome.table, serial_reference)
    out = tmp_path / "out"
    for name in ("results.parquet", "results.csv", "summary.csv", "paired.csv", "sweep.json"):
        assert (out / name).exists(), name
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["cells"] == {
        "total": 8,
        "reused": 0,
        "ran": 8,
        "corrupt_rerun": 0,
        "failed": 0,
        "done": 8,
    }
    assert "Dask LocalCluster" in manifest["executor"]


def test_summary_has_intervals_per_variant(tmp_path: Path, sim: Any) -> None:
    write_world(tmp_path, sim)
    sweep = load_sweep(write_sweep(tmp_path), replications=3)
    outcome = run_sweep(sweep, tmp_path / "out", LocalExecutor(1), figures=False)
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    util = summary[summary["metric"] == "utilisation"]
    assert len(util) == 4 and (util["n"] == 3).all()
    assert (util["ci_low"] <= util["mean"]).all() and (util["mean"] <= util["ci_high"]).all()
    table = outcome.table
    assert list(table.columns) == [
        "policy.name",
        "workload.classes.jobs.arrival.rate_per_day",
        "variant",
        "replication",
        "metric",
        "value",
    ]
    one = table[(table["variant"] == 2) & (table["metric"] == "utilisation")]
    row = util[util["variant"] == 2].iloc[0]
    assert row["mean"] == pytest.approx(one["value"].mean(), rel=1e-12)
    assert row["policy.name"] == "easy_backfill"


# --------------------------------------------------------------------------- resuming


def test_rerun_skips_finished_cells(world: Path, tmp_path: Path) -> None:
    sweep = load_sweep(world)
    first = run_sweep(sweep, tmp_path / "out", LocalExecutor(1), figures=False)
    second = run_sweep(load_sweep(world), tmp_path / "out", LocalExecutor(1), figures=False)
    assert (first.ran, second.ran, second.reused) == (8, 0, 8)
    pd.testing.assert_frame_equal(first.table, second.table)
    # More replications later: only the new ones run.
    third = run_sweep(
        load_sweep(world, replications=3), tmp_path / "out", LocalExecutor(1), figures=False
    )
    assert (third.ran, third.reused) == (4, 8)


def test_truncated_or_altered_cell_file_is_rerun(world: Path, tmp_path: Path) -> None:
    """A cut-short file and a file whose numbers were edited are detected and rerun."""
    out = tmp_path / "out"
    sweep = load_sweep(world)
    first = run_sweep(sweep, out, LocalExecutor(1), figures=False)
    cells = sweep.cells()
    store = CellStore(out / "cells")
    truncated = store.path(cells[0].cell_id)
    raw = truncated.read_bytes()
    truncated.write_bytes(raw[: len(raw) // 2])
    altered = store.path(cells[5].cell_id)
    doc = json.loads(altered.read_text())
    doc["record"]["summary"]["utilisation"] = 0.5
    altered.write_text(json.dumps(doc))
    with pytest.raises(CorruptCellError, match="truncated"):
        store.read(cells[0].cell_id)
    with pytest.raises(CorruptCellError, match="checksum"):
        store.read(cells[5].cell_id)

    second = run_sweep(load_sweep(world), out, LocalExecutor(1), figures=False)
    assert (second.ran, second.reused, second.corrupt) == (2, 6, 2)
    pd.testing.assert_frame_equal(second.table, first.table)
    assert store.read(cells[0].cell_id) is not None
    assert (out / "cells" / f"{cells[0].cell_id}.json.corrupt").exists()


def test_cell_file_failing_the_schema_is_rerun(world: Path, tmp_path: Path) -> None:
    """A well-formed, correctly checksummed file of the wrong shape is not a result."""
    from simulator.cellstore import digest

    out = tmp_path / "out"
    sweep = load_sweep(world)
    run_sweep(sweep, out, LocalExecutor(1), figures=False)
    cid = sweep.cells()[3].cell_id
    path = CellStore(out / "cells").path(cid)
    doc = json.loads(path.read_text())
    doc["record"]["summary"] = {"utilisation": "high"}
    doc["sha256"] = digest(doc["record"])
    path.write_text(json.dumps(doc))
    with pytest.raises(CorruptCellError, match="schema"):
        CellStore(out / "cells").read(cid)
    again = run_sweep(load_sweep(world), out, LocalExecutor(1), figures=False)
    assert (again.ran, again.corrupt) == (1, 1)


def _group_alive(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group (Linux /proc)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry.name))
    return alive


@pytest.mark.skipif(sys.platform != "linux", reason="uses SIGKILL, process groups and /proc")
def test_sigkill_of_the_driver_then_rerun_gives_the_uninterrupted_results(
    tmp_path: Path, sim: Any
) -> None:
    """Kill the driver (SIGKILL) once the first cell is stored; the rerun completes the
    sweep with exactly the table of an uninterrupted run, and the killed driver's worker
    processes exit by themselves."""
    write_world(tmp_path, sim, horizon_days=4, rate_per_day=900)
    path = write_sweep(tmp_path, replications=3)
    reference = run_sweep(load_sweep(path), tmp_path / "reference", LocalExecutor(1), figures=False)
    out = tmp_path / "killed"
    cells = out / "cells"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            DRIVER,
            "sweep",
            str(path),
            "--out",
            str(out),
            "--workers",
            "2",
            "-q",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (cells.exists() and any(cells.glob("*-r*.json"))):
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "no cell file appeared within 60 s"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        stored = len(list(cells.glob("*-r*.json")))
        assert 1 <= stored < 12, f"{stored} cells stored before the kill"
        assert not (out / "results.parquet").exists()
        deadline = time.monotonic() + 15
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _group_alive(proc.pid), "worker processes outlived the killed driver"
    finally:
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.stderr:
            proc.stderr.close()
    rerun = run_sweep(load_sweep(path), out, LocalExecutor(1), figures=False)
    assert rerun.complete
    assert rerun.reused >= stored and rerun.reused + rerun.ran == 12
    pd.testing.assert_frame_equal(rerun.table, reference.table)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), reference.table)
    assert not list(cells.glob(".tmp-*"))


def test_a_failing_cell_is_recorded_and_the_others_finish(
    world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import simulator.sweep as sweep_module

    real = sweep_module._simulate

    def flaky(scenario: Any, replication: int) -> Any:
        if scenario.policy.name == "easy_backfill" and replication == 1:
            raise RuntimeError("boom in the engine")
        return real(scenario, replication)

    monkeypatch.setattr(sweep_module, "_simulate", flaky)
    out = tmp_path / "out"
    status = _cli(
        sweep_command, [str(world), "--out", str(out), "--workers", "1", "-q", "--no-figures"]
    )
    assert status == 1
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["complete"] is False
    assert manifest["cells"]["failed"] == 2 and manifest["cells"]["done"] == 6
    errors = sorted((out / "cells").glob("*.error.json"))
    assert len(errors) == 2
    error = json.loads(errors[0].read_text())
    assert error["error_type"] == "RuntimeError" and "boom" in error["message"]
    assert error["factors"]["policy.name"] == "easy_backfill" and error["replication"] == 1
    assert "scenario_yaml" in error and error["seed"] == 11
    table = pd.read_parquet(out / "results.parquet")
    assert sorted(table.groupby(["variant", "replication"]).groups) == [
        (0, 0),
        (0, 1),
        (1, 0),
        (1, 1),
        (2, 0),
        (3, 0),
    ]
    # Fixed: the rerun runs just the failed cells and removes their error files.
    monkeypatch.setattr(sweep_module, "_simulate", real)
    assert (
        _cli(sweep_command, [str(world), "--out", str(out), "--workers", "1", "-q", "--no-figures"])
        == 0
    )
    assert not list((out / "cells").glob("*.error.json"))
    assert json.loads((out / "sweep.json").read_text())["cells"]["ran"] == 2


def test_another_process_holding_the_folder_is_refused(world: Path, tmp_path: Path) -> None:
    from simulator.cellstore import CellStoreError

    out = tmp_path / "out"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from simulator.cellstore import lock_folder\n"
            f"with lock_folder({str(out)!r}):\n"
            "    print('locked', flush=True)\n"
            "    sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(
            CellStoreError, match=rf"in use by another lingang-sim process \(pid {holder.pid}\)"
        ):
            run_sweep(load_sweep(world), out, LocalExecutor(1), figures=False)
    finally:
        holder.communicate("", timeout=30)
    outcome = run_sweep(load_sweep(world), out, LocalExecutor(1), figures=False)
    assert outcome.complete


def test_default_path_does_not_import_dask(tmp_path: Path, sim: Any) -> None:
    write_world(tmp_path, sim)
    world = write_sweep(tmp_path, factors={"policy.name": ["fifo"]}, replications=1)
    code = (
        "import sys\n"
        "from simulator.executors import LocalExecutor\n"
        "from simulator.sweep import load_sweep, run_sweep\n"
        "import simulator.sweep_commands, simulator.plan\n"
        f"out = {str(tmp_path / 'o')!r}\n"
        f"run_sweep(load_sweep({str(world)!r}), out, LocalExecutor(1), figures=False)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)


# --------------------------------------------------------------------------- bad input


def test_factor_key_that_does_not_exist(tmp_path: Path, sim: Any) -> None:
    write_world(tmp_path, sim)
    path = write_sweep(tmp_path, factors={"workload.classes.jobs.arrival.rate_per_hour": [1, 2]})
    with pytest.raises(ScenarioError) as info:
        load_sweep(path)
    text = str(info.value)
    assert str(path) in text
    assert "factors.workload.classes.jobs.arrival.rate_per_hour" in text
    assert "rate_per_day" in text  # what exists there
    assert _cli(sweep_command, [str(path), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


def test_factor_naming_a_list_element_that_does_not_exist(tmp_path: Path, sim: Any) -> None:
    write_world(tmp_path, sim)
    path = write_sweep(tmp_path, factors={"centres.nowhere.pue": [1.1, 1.3]})
    with pytest.raises(ScenarioError, match=r"no element 'nowhere'.*c1"):
        load_sweep(path)


def test_factor_value_the_schema_rejects(tmp_path: Path, sim: Any) -> None:
    write_world(tmp_path, sim)
    path = write_sweep(tmp_path, factors={"centres.c1.pools.p1.phases[0].servers": [2, -1]})
    with pytest.raises(ScenarioError) as info:
        load_sweep(path)
    assert info.value.value == -1 and "greater than 0" in str(info.value)


@pytest.mark.parametrize(
    ("factors", "message"),
    [
        ({"policy.name": []}, "needs at least one value"),
        ({}, "at least one factor"),
        ({"seed": [1, 1]}, "twice"),
    ],
)
def test_bad_factor_lists(tmp_path: Path, sim: Any, factors: dict, message: str) -> None:
    write_world(tmp_path, sim)
    path = write_sweep(tmp_path, factors=factors)
    with pytest.raises(ScenarioError, match=message) as info:
        load_sweep(path)
    assert str(path) in str(info.value)


def test_zip_lists_of_unequal_length(tmp_path: Path, sim: Any) -> None:
    write_world(tmp_path, sim)
    path = write_sweep(tmp_path, mode="zip", factors={"seed": [1, 2], "policy.name": ["fifo"]})
    with pytest.raises(ScenarioError, match="equal lengths"):
        load_sweep(path)


def test_unknown_sweep_key_and_missing_base(tmp_path: Path, sim: Any) -> None:
    write_world(tmp_path, sim)
    with pytest.raises(ScenarioError, match=r"unknown key; allowed keys: schema_version"):
        load_sweep(write_sweep(tmp_path, repetitions=3))
    with pytest.raises(ScenarioError, match="does not exist"):
        load_sweep(write_sweep(tmp_path, scenario="missing.yaml"))


def test_unreachable_scheduler_fails_fast(world: Path, tmp_path: Path) -> None:
    """A scheduler address where nothing listens: a clear error within seconds."""
    pytest.importorskip("distributed", reason="dask[distributed] is an optional extra")
    import socket

    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    started = time.monotonic()
    executor = make_executor("dask", address=address, connect_timeout_s=1.0)
    with (
        pytest.raises(ExecutorError, match=f"cannot reach the Dask scheduler at {address}"),
        executor,
    ):
        pass
    assert time.monotonic() - started < 15
    status = _cli(
        sweep_command,
        [
            str(world),
            "--out",
            str(tmp_path / "o"),
            "--scheduler",
            address,
            "--connect-timeout",
            "1",
        ],
    )
    assert status == 2
    assert time.monotonic() - started < 30


def test_executor_switch_errors() -> None:
    with pytest.raises(ExecutorError, match="needs a scheduler address"):
        make_executor("dask")
    with pytest.raises(ExecutorError, match="unknown executor"):
        make_executor("slurm")
    assert (
        _cli(
            plan_command,
            [
                "x.yaml",
                "--target",
                "a <= 1",
                "--vary",
                "seed",
                "--range",
                "1:2",
                "--executor",
                "local",
                "--scheduler",
                "tcp://h:1",
            ],
        )
        == 2
    )


def test_cli_sweep_end_to_end(tmp_path: Path, sim: Any) -> None:
    write_world(tmp_path, sim)
    world = write_sweep(tmp_path, metrics=["p95_wait_h", "no_such_metric"])
    out = tmp_path / "out"
    assert _cli(sweep_command, [str(world), "--out", str(out), "--workers", "1", "-q"]) == 0
    csv = pd.read_csv(out / "results.csv")
    assert len(csv) == len(pd.read_parquet(out / "results.parquet"))
    assert yaml.safe_load((out / "sweep.yaml").read_text())["name"] == "tiny-sweep"
    variants = pd.read_csv(out / "variants.csv")
    assert list(variants["variant"]) == [0, 1, 2, 3]
    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    # One metric ('p95_wait_h' is the alias of 'wait_h_p95'; unknown ones are skipped)
    # against each of the two factors.
    assert pngs == [
        "wait_h_p95--vs--policy.name.png",
        "wait_h_p95--vs--workload.classes.jobs.arrival.rate_per_day.png",
    ]


def test_example_sweep_file_runs(tmp_path: Path) -> None:
    """The example in scenarios/sweeps/ is valid and runs (on a 2-day horizon here)."""
    path = ROOT / "scenarios" / "sweeps" / "toy-policy-sweep.yaml"
    assert len(load_sweep(path).cells()) == 24
    sweep = load_sweep(path, ["horizon_days=2", "warmup_days=0.5"], replications=1)
    outcome = run_sweep(sweep, tmp_path / "out", LocalExecutor(1), figures=False)
    assert outcome.complete and outcome.ran == 6
    assert set(outcome.summary["policy.name"]) == {"fifo", "easy_backfill"}


@pytest.mark.parametrize(
    "name", sorted(p.name for p in (ROOT / "scenarios" / "sweeps").glob("*.yaml"))
)
def test_every_shipped_sweep_file_is_valid(name: str) -> None:
    """Each sweep file in scenarios/sweeps/ loads: its base, overrides and every variant
    validate (loading checks every combination of factor values)."""
    sweep = load_sweep(ROOT / "scenarios" / "sweeps" / name)
    assert sweep.cells()
