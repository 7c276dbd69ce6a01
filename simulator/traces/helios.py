"""Reader for the SenseTime Helios job logs (``cluster_log.csv``, SC'21) and the same layout.

Columns used: ``job_id``, ``user``, ``vc``, ``gpu_num``, ``cpu_num``, ``node_num``,
``state``, ``submit_time``, ``start_time``, ``end_time``, ``duration`` (seconds) and
``queue`` (seconds waited). Only ``job_id``, ``gpu_num``, ``submit_time`` and one of
``duration`` or ``end_time`` with ``start_time`` are required; the others are used when
present, and extra columns (``jobname``, ``cluster`` ...) are ignored except ``cluster``,
which is the tenant when there is no ``vc``. Times may be date-time strings (the published
logs: naive local time) or numbers of seconds.

Mapping to the normalised table (:mod:`simulator.traces.schema`):

* ``submit_s`` = ``submit_time``: date-times are counted from 00:00 of the day of the
  earliest submit (``attrs["epoch"]``); numbers are kept as recorded.
* ``run_s`` = ``duration``, or ``end_time - start_time`` when there is no ``duration``.
* ``cards`` = ``gpu_num``; ``user`` = ``user``; ``tenant`` = ``vc`` (else ``cluster``).
* ``recorded_start_s`` = ``start_time``, else ``submit + queue``; NaN when neither is
  given (for example jobs cancelled before they started).
* ``status``: COMPLETED completed; FAILED, NODE_FAIL, TIMEOUT, OUT_OF_MEMORY failed;
  CANCELLED (also ``CANCELLED by ...``) cancelled; anything else unknown.
* ``estimate_s`` is NaN (the logs have no requested time).

Options: with ``gpu_only=True`` (default) CPU jobs (``gpu_num == 0``) are dropped and
counted in ``attrs["filtered"]``; with ``gpu_only=False`` they are kept with ``cards = 0``.
The published logs are in submit order, so an out-of-order row is a bad row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simulator.traces.schema import (
    CANCELLED,
    COMPLETED,
    FAILED,
    Check,
    ReadOptions,
    TimeColumns,
    TraceBuilder,
    TraceFormat,
    csv_blocks,
    numeric,
    status_codes,
    text_column,
)

REQUIRED = ("job_id", "gpu_num", "submit_time")
OPTIONAL = (
    "user",
    "vc",
    "cluster",
    "state",
    "start_time",
    "end_time",
    "duration",
    "queue",
)

_STATES = {
    "completed": COMPLETED,
    "failed": FAILED,
    "node_fail": FAILED,
    "timeout": FAILED,
    "out_of_memory": FAILED,
    "cancelled": CANCELLED,
}


def sniff(lines: list[str]) -> bool:
    """True when the header line has the Helios columns."""
    if not lines:
        return False
    columns = {c.strip() for c in lines[0].split(",")}
    return {"job_id", "gpu_num", "submit_time"} <= columns


def read(path: Path, options: ReadOptions) -> pd.DataFrame:
    """Read a Helios-layout job log (plain or gzip) into the normalised job table.

    Args:
        path: the CSV file.
        options: read options (``on_bad``, ``gpu_only``, ``chunk_rows``).

    Returns:
        The normalised table.

    Raises:
        TraceError: a missing column (including neither ``duration`` nor ``start_time``
            with ``end_time``), or a bad row when ``on_bad="error"``.
    """
    builder = TraceBuilder(path, "helios", options, allow_zero_cards=not options.gpu_only)
    times = TimeColumns(builder)
    blocks = csv_blocks(
        path,
        builder,
        required=REQUIRED,
        optional=OPTIONAL,
        one_of=(("duration",), ("start_time", "end_time")),
        text_columns=("job_id", "user", "vc", "cluster", "state"),
    )
    for block in blocks:
        frame = block.frame
        checks: list[Check] = []
        submit = times.parse(frame, "submit_time", checks)
        cards = numeric(frame, "gpu_num", checks)
        start = (
            times.parse(frame, "start_time", checks, required=False)
            if "start_time" in frame
            else None
        )
        if "duration" in frame:
            run = numeric(frame, "duration", checks)
        else:
            end = times.parse(frame, "end_time", checks)
            assert start is not None
            run = end - start
            checks.append(("missing value in column 'start_time'", np.isnan(start), None))
        if start is None and "queue" in frame:
            queue = pd.to_numeric(frame["queue"], errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
            start = submit + queue
        tenant_column = "vc" if "vc" in frame else "cluster" if "cluster" in frame else None
        filters: list[tuple[str, np.ndarray]] = []
        if options.gpu_only:
            filters.append(("CPU job (gpu_num = 0, gpu_only)", cards == 0))
        builder.add(
            lines=block.lines,
            submit=submit,
            cards=cards,
            run=run,
            job_id=text_column(frame, "job_id", checks),
            user=frame.get("user"),
            tenant=frame[tenant_column] if tenant_column else None,
            status=status_codes(frame["state"], _STATES) if "state" in frame else None,
            recorded_start=start,
            checks=checks,
            filters=filters,
            rejects=block.rejects,
        )
    return builder.finish()


FORMAT = TraceFormat(
    name="helios",
    description="SenseTime Helios cluster_log.csv layout (job_id, user, vc, gpu_num, state, ...)",
    read=read,
    sniff=sniff,
)
