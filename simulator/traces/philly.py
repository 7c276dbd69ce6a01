"""Reader for the Microsoft Philly job list as used by Pollux (``philly.csv``).

Columns: ``timestamp`` (naive date-time, 2017-09-04 .. 2017-12-22), ``duration``
(seconds), ``num_gpus``, ``gpu_time`` (= duration x num_gpus, seconds) and ``cluster``
(a Philly virtual-cluster hash).

Mapping to the normalised table (:mod:`simulator.traces.schema`):

* ``submit_s`` = ``timestamp``, in seconds since 00:00 of the day of the earliest
  timestamp (``attrs["epoch"]``). Whether ``timestamp`` is the submit time or the first
  attempt's start time is not documented by the source; Pollux treats it as the arrival.
* ``run_s`` = ``duration``; ``cards`` = ``num_gpus``; ``tenant`` = ``cluster``.
* There is no job id (``job_id`` is the line number), no estimate, user, status or start
  time (NaN, ``""``, ``unknown``, NaN). ``gpu_time`` is read only to count rows where it
  disagrees with duration x num_gpus by more than 1 s (``attrs["gpu_time_mismatch"]``).

The file is **not** in time order, so order is not checked: the table is sorted and the
number of out-of-order rows is ``attrs["reordered"]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simulator.traces.schema import (
    Check,
    ReadOptions,
    TimeColumns,
    TraceBuilder,
    TraceFormat,
    csv_blocks,
    numeric,
)

REQUIRED = ("timestamp", "duration", "num_gpus")
OPTIONAL = ("gpu_time", "cluster")


def sniff(lines: list[str]) -> bool:
    """True when the header line has the Pollux Philly columns."""
    if not lines:
        return False
    columns = {c.strip() for c in lines[0].split(",")}
    return set(REQUIRED) <= columns


def read(path: Path, options: ReadOptions) -> pd.DataFrame:
    """Read a Pollux ``philly.csv`` (plain or gzip) into the normalised job table.

    Args:
        path: the CSV file.
        options: read options (``on_bad``, ``chunk_rows``).

    Returns:
        The normalised table, sorted by submit time.

    Raises:
        TraceError: a missing column, or a bad row when ``on_bad="error"``.
    """
    builder = TraceBuilder(path, "philly", options, ordered=False)
    times = TimeColumns(builder)
    mismatch = 0
    for block in csv_blocks(
        path, builder, required=REQUIRED, optional=OPTIONAL, text_columns=("cluster",)
    ):
        frame = block.frame
        checks: list[Check] = []
        submit = times.parse(frame, "timestamp", checks)
        run = numeric(frame, "duration", checks)
        cards = numeric(frame, "num_gpus", checks)
        if "gpu_time" in frame:
            gpu_time = pd.to_numeric(frame["gpu_time"], errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
            with np.errstate(invalid="ignore"):
                mismatch += int((np.abs(gpu_time - run * cards) > 1.0).sum())
        builder.add(
            lines=block.lines,
            submit=submit,
            cards=cards,
            run=run,
            tenant=frame.get("cluster"),
            checks=checks,
            rejects=block.rejects,
        )
    builder.extra["gpu_time_mismatch"] = mismatch
    return builder.finish()


FORMAT = TraceFormat(
    name="philly",
    description="Philly job list of Pollux (timestamp, duration, num_gpus, gpu_time, cluster)",
    read=read,
    sniff=sniff,
)
