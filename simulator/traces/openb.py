"""Reader for the Alibaba GPU cluster pod list of 2023 (``openb_pod_list_*.csv``, FGD, ATC'23).

Columns: ``name``, ``cpu_milli``, ``memory_mib``, ``num_gpu`` (0-8), ``gpu_milli`` (the
share of one GPU in 1/1000 for GPU-sharing pods), ``gpu_spec``, ``qos``, ``pod_phase``
(Running, Failed, Pending, Succeeded), ``creation_time``, ``deletion_time`` and
``scheduled_time`` (seconds since the trace start; empty for never-scheduled pods).

Mapping to the normalised table (:mod:`simulator.traces.schema`):

* ``job_id`` = ``name``; ``submit_s`` = ``creation_time`` (seconds since the trace start);
  ``recorded_start_s`` = ``scheduled_time``; ``run_s`` = ``deletion_time -
  scheduled_time``.
* ``cards`` = ``num_gpu``: a pod sharing a fraction of one GPU (``gpu_milli`` < 1000)
  counts as one card; ``attrs["fractional_gpu_jobs"]`` counts those pods.
* ``tenant`` = ``qos`` (the QoS class, the nearest the trace has to a queue); ``user`` is
  ``""``; ``estimate_s`` is NaN.
* ``status``: Succeeded completed, Failed failed, Running and Pending unknown (pods still
  running at the end of the trace have a run time cut at the trace end).

Options: with ``gpu_only=True`` (default) CPU-only pods (``num_gpu == 0``) are dropped and
counted in ``attrs["filtered"]``; with ``gpu_only=False`` they are kept with ``cards = 0``.

Format-specific bad row: a pod that was never scheduled has no run time ("never
scheduled (no run time)"); in the 2023 default list these are the 897 Pending pods, so
reading that file needs ``on_bad="skip"``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simulator.traces.schema import (
    COMPLETED,
    FAILED,
    UNKNOWN,
    Check,
    ReadOptions,
    TraceBuilder,
    TraceFormat,
    csv_blocks,
    numeric,
    status_codes,
    text_column,
)

REQUIRED = ("name", "num_gpu", "creation_time", "deletion_time", "scheduled_time")
OPTIONAL = ("gpu_milli", "qos", "pod_phase")

_PHASES = {"succeeded": COMPLETED, "failed": FAILED, "running": UNKNOWN, "pending": UNKNOWN}


def sniff(lines: list[str]) -> bool:
    """True when the header line has the openb pod-list columns."""
    if not lines:
        return False
    columns = {c.strip() for c in lines[0].split(",")}
    return {"num_gpu", "creation_time", "scheduled_time", "deletion_time"} <= columns


def read(path: Path, options: ReadOptions) -> pd.DataFrame:
    """Read an openb pod list (plain or gzip) into the normalised job table.

    Args:
        path: the CSV file.
        options: read options (``on_bad``, ``gpu_only``, ``chunk_rows``).

    Returns:
        The normalised table.

    Raises:
        TraceError: a missing column, or a bad row when ``on_bad="error"``.
    """
    builder = TraceBuilder(path, "openb", options, allow_zero_cards=not options.gpu_only)
    fractional = 0
    for block in csv_blocks(
        path,
        builder,
        required=REQUIRED,
        optional=OPTIONAL,
        text_columns=("name", "qos", "pod_phase"),
    ):
        frame = block.frame
        checks: list[Check] = []
        scheduled_raw = frame["scheduled_time"]
        never = scheduled_raw.isna().to_numpy()
        checks.append(("never scheduled (no run time)", never, None))
        submit = numeric(frame, "creation_time", checks)
        cards = numeric(frame, "num_gpu", checks)
        deleted = numeric(frame, "deletion_time", checks)
        scheduled = pd.to_numeric(scheduled_raw, errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        checks.append(
            (
                "non-numeric value in column 'scheduled_time'",
                np.isnan(scheduled) & ~never,
                scheduled_raw.to_numpy(),
            )
        )
        filters: list[tuple[str, np.ndarray]] = []
        if options.gpu_only:
            filters.append(("CPU-only pod (num_gpu = 0, gpu_only)", cards == 0))
        if "gpu_milli" in frame:
            milli = pd.to_numeric(frame["gpu_milli"], errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
            fractional += int(((cards == 1) & (milli < 1000)).sum())
        builder.add(
            lines=block.lines,
            submit=submit,
            cards=cards,
            run=deleted - scheduled,
            job_id=text_column(frame, "name", checks),
            tenant=frame.get("qos"),
            status=status_codes(frame["pod_phase"], _PHASES) if "pod_phase" in frame else None,
            recorded_start=scheduled,
            checks=checks,
            filters=filters,
            rejects=block.rejects,
        )
    builder.extra["epoch"] = "trace start (creation_time as recorded)"
    builder.extra["fractional_gpu_jobs"] = fractional
    return builder.finish()


FORMAT = TraceFormat(
    name="openb",
    description="Alibaba openb GPU pod list, 2023 (name, num_gpu, creation/scheduled/deletion)",
    read=read,
    sniff=sniff,
)
