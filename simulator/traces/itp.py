"""Reader for the Microsoft ITP 2021 cluster CSVs (ElasticFlow, ASPLOS'23).

Each file is one cluster (``cluster01.csv`` .. ``cluster10.csv``, often gzip-compressed)
with the columns ``job_id`` (UUID), ``submission_time`` (seconds since the start of
collection), ``duration`` (seconds) and ``num_gpu``.

Mapping to the normalised table (:mod:`simulator.traces.schema`):

* ``job_id`` = ``job_id``; ``submit_s`` = ``submission_time`` (seconds since the start of
  collection, not rebased); ``run_s`` = ``duration``; ``cards`` = ``num_gpu``.
* ``tenant`` = the cluster name taken from the file name (the first ``clusterNN`` in it,
  else the file name without its extensions).
* The trace has no estimate, user, status or start time: ``estimate_s`` and
  ``recorded_start_s`` are NaN, ``user`` is ``""``, ``status`` is ``unknown``.

The files are in submission order; an out-of-order row is a bad row. Extra columns (for
example those of ``elasticflow-traces.tar.gz``) are ignored.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.traces.schema import (
    Check,
    ReadOptions,
    TraceBuilder,
    TraceFormat,
    csv_blocks,
    numeric,
    text_column,
)

REQUIRED = ("job_id", "submission_time", "duration", "num_gpu")

_CLUSTER = re.compile(r"(cluster\d+)", re.IGNORECASE)


def cluster_name(path: Path) -> str:
    """The cluster named by an ITP file name (``cluster07.csv.gz`` -> ``cluster07``)."""
    match = _CLUSTER.search(path.name)
    if match:
        return match.group(1)
    name = path.name
    for suffix in (".gz", ".csv", ".txt"):
        name = name.removesuffix(suffix)
    return name


def sniff(lines: list[str]) -> bool:
    """True when the header line has the ITP columns."""
    if not lines:
        return False
    columns = {c.strip() for c in lines[0].split(",")}
    return {"submission_time", "duration", "num_gpu"} <= columns


def read(path: Path, options: ReadOptions) -> pd.DataFrame:
    """Read one ITP cluster CSV (plain or gzip) into the normalised job table.

    Args:
        path: the CSV file; its name gives the cluster (``tenant``).
        options: read options (``on_bad``, ``chunk_rows``).

    Returns:
        The normalised table.

    Raises:
        TraceError: a missing column, or a bad row when ``on_bad="error"``.
    """
    builder = TraceBuilder(path, "itp", options)
    cluster = cluster_name(path)
    for block in csv_blocks(path, builder, required=REQUIRED, text_columns=("job_id",)):
        frame = block.frame
        checks: list[Check] = []
        submit = numeric(frame, "submission_time", checks)
        run = numeric(frame, "duration", checks)
        cards = numeric(frame, "num_gpu", checks)
        n = len(frame)
        builder.add(
            lines=block.lines,
            submit=submit,
            cards=cards,
            run=run,
            job_id=text_column(frame, "job_id", checks),
            tenant=np.full(n, cluster, dtype=object),
            checks=checks,
            rejects=block.rejects,
        )
    builder.extra["epoch"] = "start of collection (submission_time as recorded)"
    builder.extra["cluster"] = cluster
    return builder.finish()


FORMAT = TraceFormat(
    name="itp",
    description="Microsoft ITP 2021 cluster CSV (job_id, submission_time, duration, num_gpu)",
    read=read,
    sniff=sniff,
)
