"""The benchmark's reference models are the models they claim to be.

``benchmarks/baseline_simpy.py`` times the engine against lighter programs of the same
FIFO pool. Two claims make those ratios meaningful, and both are checked here exactly
(no tolerance; one replication each, since the models are deterministic given the jobs):

* the plain-SimPy baseline (one process per job), the bare SimPy loop and the
  ``heapq`` loop are one queueing model: every job starts at the same time in all three;
* the ``heapq`` loop with the engine's placement (and the one that also keeps the
  engine's job objects and records) is the engine's model: on the same jobs it starts
  every job exactly when the engine's ``fifo`` policy does, so it is a fair floor for
  the engine's cost.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import baseline_simpy  # noqa: E402
import bench_engine  # noqa: E402

from simulator.engine import Engine  # noqa: E402
from simulator.run import to_result  # noqa: E402


def _jobs(seed: int, n: int, total_cards: int, load: float) -> tuple[list, list, list, float]:
    """Poisson arrivals, gang sizes 1-64 (powers of two), exponential run times."""
    rng = np.random.default_rng(seed)
    sizes = 2 ** rng.integers(0, 7, n)
    runtime = rng.exponential(1.0, n)
    rate = load * total_cards / float(np.mean(sizes * runtime))
    submit = np.cumsum(rng.exponential(1.0 / rate, n))
    horizon = float(submit[-1]) * 1.05
    return submit.tolist(), sizes.tolist(), runtime.tolist(), horizon


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_card_counting_models_start_every_job_at_the_same_time(seed: int) -> None:
    submit, cards, runtime, horizon = _jobs(seed, 3_000, 256, 0.95)
    starts = {
        name: baseline_simpy.MODELS[name](submit, cards, runtime, 256, horizon)[0]
        for name in ("process", "loop", "heapq")
    }
    reference = np.asarray(starts["process"])
    assert np.isnan(reference).sum() > 0, "the case should leave some jobs waiting"
    assert np.isfinite(reference).sum() > 2_000
    for name in ("loop", "heapq"):
        np.testing.assert_array_equal(np.asarray(starts[name]), reference, err_msg=name)


def test_the_placed_loop_starts_every_job_when_the_engine_does() -> None:
    # 10,000 cards (1,250 servers, 40 pods), gang sizes 1-1024: placement matters.
    case = bench_engine.Case("fifo", 10_000, 0.95, 5_000)
    sc = bench_engine.build_scenario(case, job_records="memory")
    batches = bench_engine.sample_jobs(sc)
    result = to_result(bench_engine.replay(Engine(sc, replication=0), batches).run())
    assert result.jobs is not None
    engine_start = result.jobs.sort_values("job_id")["start_h"].to_numpy()

    cols = bench_engine.fifo_columns(case)
    jobs = (
        cols["submit_h"].tolist(),
        cols["cards"].tolist(),
        cols["runtime_h"].tolist(),
        case.cards,
        cols["horizon_h"],
    )
    for name in ("placed", "recorded"):
        starts, _ = baseline_simpy.MODELS[name](*jobs)
        assert len(starts) == len(engine_start)
        np.testing.assert_array_equal(np.asarray(starts), engine_start, err_msg=name)
    # Placement is what makes the difference: counting cards alone starts some jobs sooner.
    counted, _ = baseline_simpy.heapq_loop(*jobs)
    assert not np.array_equal(np.asarray(counted), engine_start, equal_nan=True)
