"""Job-trace readers: public HPC and GPU-cluster logs into one normalised job table.

``read_trace(path, format="auto", on_bad="error")`` returns a pandas DataFrame with the
columns :data:`TRACE_COLUMNS` (contract, units, epoch and ``attrs`` metadata in
:mod:`simulator.traces.schema`). Supported formats (:data:`FORMATS`):

* ``swf``: Standard Workload Format, Parallel Workloads Archive (:mod:`.swf`)
* ``helios``: SenseTime Helios ``cluster_log.csv`` layout (:mod:`.helios`)
* ``philly``: the Philly job list used by Pollux, ``philly.csv`` (:mod:`.philly`)
* ``itp``: Microsoft ITP 2021 cluster CSVs (:mod:`.itp`)
* ``openb``: Alibaba 2023 GPU pod lists (:mod:`.openb`)

Files may be plain or gzip-compressed (recognised by their magic bytes, whatever their
name). ``format="auto"`` recognises the format from the first lines of the file; a
Parquet file written by ``lingang-sim traces import`` is read back with
``format="parquet"`` or ``"auto"``. :func:`inspect_trace` summarises a table or a file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from simulator.errors import TraceError
from simulator.traces import helios, itp, openb, philly, swf
from simulator.traces.inspect import inspect_trace, summarise
from simulator.traces.schema import (
    DEFAULT_CHUNK_ROWS,
    ON_BAD_CHOICES,
    PARQUET_MAGIC,
    STATUSES,
    TRACE_COLUMNS,
    OnBad,
    ReadOptions,
    TraceFormat,
    check_file,
    head_lines,
    magic,
    validate_table,
)

#: Trace formats by name, in the order autodetection tries them.
FORMATS: dict[str, TraceFormat] = {
    f.name: f for f in (swf.FORMAT, itp.FORMAT, philly.FORMAT, openb.FORMAT, helios.FORMAT)
}

__all__ = [
    "FORMATS",
    "ON_BAD_CHOICES",
    "STATUSES",
    "TRACE_COLUMNS",
    "ReadOptions",
    "TraceFormat",
    "detect_format",
    "inspect_trace",
    "read_trace",
    "summarise",
]


def detect_format(path: str | os.PathLike[str]) -> str:
    """Recognise a trace file's format from its content.

    Args:
        path: the file (plain or gzip).

    Returns:
        A key of :data:`FORMATS`, or ``"parquet"`` for a Parquet file.

    Raises:
        TraceError: the file is unreadable or matches no known format.
    """
    p = check_file(path)
    if magic(p) == PARQUET_MAGIC:
        return "parquet"
    lines = head_lines(p)
    if not lines:
        raise TraceError(f"{p}: the file is empty; cannot recognise its format")
    for name, fmt in FORMATS.items():
        if fmt.sniff(lines):
            return name
    raise TraceError(
        f"{p}: cannot recognise the trace format from its first line {lines[0][:120]!r}; "
        f"pass the format explicitly (one of: {', '.join(FORMATS)})"
    )


def read_trace(
    path: str | os.PathLike[str],
    format: str = "auto",
    *,
    on_bad: OnBad = "error",
    gpu_only: bool = True,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> pd.DataFrame:
    """Read a job trace into the normalised job table.

    Args:
        path: the trace file, plain or gzip-compressed.
        format: a key of :data:`FORMATS`, ``"parquet"`` (a table written by ``traces
            import``) or ``"auto"`` to recognise the format from the content.
        on_bad: ``"error"`` raises :class:`TraceError` at the first bad row (naming the
            file and line); ``"skip"`` drops bad rows and counts them by reason in
            ``attrs["skipped"]``.
        gpu_only: for GPU traces with CPU-only jobs (Helios, openb), drop jobs without
            GPUs and count them in ``attrs["filtered"]``.
        chunk_rows: lines parsed per block (bounds the memory used for text).

    Returns:
        The normalised table (columns :data:`TRACE_COLUMNS`) with ``attrs`` metadata.

    Raises:
        TraceError: unknown format, unreadable file, missing columns, or a bad row when
            ``on_bad="error"``.
    """
    p = check_file(path)
    options = ReadOptions(on_bad=on_bad, gpu_only=gpu_only, chunk_rows=chunk_rows)
    name = detect_format(p) if format == "auto" else format
    if name == "parquet":
        return read_parquet_table(p)
    fmt = FORMATS.get(name)
    if fmt is None:
        raise TraceError(
            f"unknown trace format {name!r}; known formats: {', '.join(FORMATS)}, parquet, auto"
        )
    return fmt.read(p, options)


def read_parquet_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a normalised table written by ``traces import`` (Parquet), with its ``attrs``.

    Raises:
        TraceError: the file is not Parquet or lacks the normalised columns.
    """
    p = check_file(path)
    try:
        frame = pd.read_parquet(p)
    except (OSError, ValueError) as exc:
        raise TraceError(f"{p}: cannot read as Parquet ({exc})") from exc
    return validate_table(frame, str(Path(p)))
