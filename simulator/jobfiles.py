"""Per-job tables on disk: streamed to Parquet chunk by chunk while a run goes on.

A results folder keeps its per-job rows in ``jobs/r<replication>.parquet``, one file per
replication, each with a ``replication`` column, so a six-year run with 10^7 jobs never
holds its job table in memory. ``read_jobs(folder)`` reads them back as one DataFrame.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simulator.engine import build_pools
from simulator.metrics import jobs_frame
from simulator.recorder import Chunk
from simulator.scenario.schema import Scenario


class ParquetJobSink:
    """A recorder sink writing each chunk of job records to one Parquet file.

    Call :meth:`close` when the run is over (the file is complete only then).
    """

    def __init__(self, path: Path, scenario: Scenario, replication: int) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.scenario = scenario
        self.replication = replication
        self.pools = build_pools(scenario)
        self.writer: pq.ParquetWriter | None = None

    def __call__(self, chunk: Chunk) -> None:
        frame = jobs_frame(chunk, self.scenario, self.pools)
        frame.insert(0, "replication", self.replication)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def write_jobs(folder: Path, jobs: pd.DataFrame, replication: int) -> Path:
    """Write an in-memory per-job table as ``jobs/r<replication>.parquet``."""
    path = Path(folder) / "jobs" / f"r{replication}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = jobs.copy()
    if "replication" not in frame:
        frame.insert(0, "replication", replication)
    frame.to_parquet(path, index=False)
    return path


def read_jobs(folder: Path, replications: list[int] | None = None) -> pd.DataFrame | None:
    """The per-job rows of a results folder (all replications, or the ones given)."""
    files = sorted((Path(folder) / "jobs").glob("r*.parquet"))
    if replications is not None:
        files = [f for f in files if int(f.stem[1:]) in replications]
    if not files:
        return None
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
