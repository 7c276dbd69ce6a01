"""Reader for the Standard Workload Format (SWF) of the Parallel Workloads Archive.

An SWF file is a header of ``;`` comment lines (``; Key: value``) followed by one job per
line with 18 whitespace-separated numeric fields, ``-1`` meaning unknown:

1 job id, 2 submit (s from the log start), 3 wait (s), 4 run time (s), 5 allocated
processors, 6 average CPU time, 7 used memory, 8 requested processors, 9 requested time
(s), 10 requested memory, 11 status (1 completed, 0 failed, 5 cancelled; 2-4 partial
executions), 12 user, 13 group, 14 executable, 15 queue, 16 partition, 17 preceding job,
18 think time.

Mapping to the normalised table (:mod:`simulator.traces.schema`):

* ``job_id`` = field 1; ``submit_s`` = field 2, seconds since the log start
  (``UnixStartTime`` in the header); ``run_s`` = field 4.
* ``cards`` = field 5 (allocated), or field 8 (requested) when field 5 is unknown or 0;
  the fallback is counted in ``attrs["clamped"]``. Both unknown is the bad row reason
  "zero cards".
* ``estimate_s`` = field 9 (NaN when -1); ``recorded_start_s`` = submit + field 3 (NaN
  when the wait is -1).
* ``user`` = field 12, ``tenant`` = field 15 (queue number), as text; ``""`` when -1.
* ``status``: 1 and 3 completed, 0 and 4 failed, 5 cancelled, anything else unknown.

Header: every ``; Key: value`` line is kept in ``attrs["header"]``; ``Note``,
``Information``, ``Queue`` and ``Partition`` are lists (they repeat); indented
continuation lines are appended to the previous value; integer keys (``MaxProcs``,
``MaxNodes``, ``UnixStartTime``, ...) are ints. ``attrs["capacity"]`` is ``MaxProcs``,
else ``MaxNodes``.

SWF-specific bad rows: a line without 18 fields, a non-numeric field, submit ``-1``
("unknown submit time (-1)"), another negative submit, and run ``-1`` ("unknown run time
(-1)"). Comment lines without a ``Key:`` before the first key are kept under
``Comment``.

Speed: the file is read in blocks of ``chunk_rows`` lines; a block of job lines is parsed
by pandas' C tokenizer in one call, and only a block with comments, blank or malformed
lines is looked at line by line (to name the bad lines).
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.traces.schema import (
    CANCELLED,
    COMPLETED,
    FAILED,
    UNKNOWN,
    Check,
    ReadOptions,
    Reject,
    TraceBuilder,
    TraceFormat,
    line_blocks,
)

SWF_FIELDS = 18

_KEY = re.compile(r"^; ?([A-Z][A-Za-z0-9_]*)\s*:\s*(.*?)\s*$")
_LIST_KEYS = frozenset({"Note", "Information", "Queue", "Partition", "Comment"})
_INT_KEYS = frozenset(
    {
        "MaxJobs",
        "MaxRecords",
        "UnixStartTime",
        "TimeZone",
        "MaxNodes",
        "MaxProcs",
        "MaxRuntime",
        "MaxMemory",
        "MaxQueues",
        "MaxPartitions",
    }
)
_INT = re.compile(r"^[+-]?\d+$")

# SWF status (field 11) -> status code, indexed by status + 1 for -1..5.
_STATUS_TABLE = np.array(
    [UNKNOWN, FAILED, COMPLETED, UNKNOWN, COMPLETED, FAILED, CANCELLED], dtype=np.int8
)


class SwfHeader:
    """Accumulates the ``;`` comment lines of an SWF file into a dict."""

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self._last: str | None = None

    def feed(self, line: str) -> None:
        """Parse one comment line (starting with ``;``)."""
        text = line.rstrip("\r\n")
        match = _KEY.match(text)
        if match:
            key, value = match.group(1), match.group(2)
            self._store(key, value)
            self._last = key
            return
        body = text[1:].strip()
        if not body:
            return
        if self._last is None:
            self._store("Comment", body)
            self._last = "Comment"
            return
        current = self.fields[self._last]
        if isinstance(current, list):
            current[-1] = f"{current[-1]} {body}".strip()
        else:
            self.fields[self._last] = f"{current} {body}".strip()

    def _store(self, key: str, value: str) -> None:
        typed: Any = int(value) if key in _INT_KEYS and _INT.match(value) else value
        if key in _LIST_KEYS:
            self.fields.setdefault(key, []).append(typed)
        elif key in self.fields:
            old = self.fields[key]
            self.fields[key] = [*old, typed] if isinstance(old, list) else [old, typed]
        else:
            self.fields[key] = typed


def sniff(lines: list[str]) -> bool:
    """True when the first lines are ``;`` comments or 18 numeric fields."""
    for line in lines:
        text = line.strip()
        if text.startswith(";"):
            return True
        parts = text.split()
        if len(parts) != SWF_FIELDS:
            return False
        try:
            [float(p) for p in parts]
        except ValueError:
            return False
        return True
    return False


def _fast_parse(text: str, n: int) -> np.ndarray | None:
    """Parse ``n`` job lines with pandas; None unless every line has exactly 18 numbers."""
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=r"\s+",
            header=None,
            names=range(SWF_FIELDS + 1),
            dtype=np.float64,
            engine="c",
        )
    except (ValueError, pd.errors.ParserError):
        return None
    values = frame.to_numpy(dtype=np.float64)
    if (
        values.shape[0] == n
        and not np.isnan(values[:, :SWF_FIELDS]).any()
        and np.isnan(values[:, SWF_FIELDS]).all()
    ):
        return values[:, :SWF_FIELDS]
    return None


def _slow_parse(block: list[str], nums: list[int]) -> tuple[np.ndarray, np.ndarray, list[Reject]]:
    """Parse job lines one by one, naming the malformed ones."""
    rows: list[list[float]] = []
    kept: list[int] = []
    rejects: list[Reject] = []
    for lineno, line in zip(nums, block, strict=True):
        parts = line.split()
        if len(parts) != SWF_FIELDS:
            rejects.append(
                (lineno, "wrong number of fields", f"expected {SWF_FIELDS}, found {len(parts)}")
            )
            continue
        try:
            rows.append([float(p) for p in parts])
        except ValueError:
            token = next(p for p in parts if not _is_float(p))
            rejects.append((lineno, "non-numeric field", repr(token)))
            continue
        kept.append(lineno)
    array = np.array(rows, dtype=np.float64).reshape(-1, SWF_FIELDS)
    return array, np.array(kept, dtype=np.int64), rejects


def _is_float(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _add_block(
    builder: TraceBuilder, values: np.ndarray, lines: np.ndarray, rejects: list[Reject]
) -> None:
    job = values[:, 0]
    submit = values[:, 1]
    wait = values[:, 2]
    run = values[:, 3]
    alloc = values[:, 4]
    requested = values[:, 7]
    req_time = values[:, 8]
    status_field = values[:, 10]

    fallback = ~(alloc > 0) & (requested > 0)
    cards = np.where(alloc > 0, alloc, np.where(requested > 0, requested, 0.0))
    checks: list[Check] = [
        ("unknown submit time (-1)", submit == -1, None),
        ("negative submit time", submit < 0, submit),
        ("unknown run time (-1)", run == -1, None),
    ]
    good_rows = ~((submit < 0) | (run < 0) | ~(cards > 0))
    builder.clamp(
        "cards from requested processors (allocated unknown or 0)",
        int((fallback & good_rows).sum()),
    )
    estimate = np.where(req_time == -1, np.nan, req_time)
    start = np.where(wait == -1, np.nan, submit + wait)
    status_index = status_field.astype(np.int64) + 1
    in_table = (status_index >= 0) & (status_index < len(_STATUS_TABLE))
    status = np.where(in_table, _STATUS_TABLE[np.clip(status_index, 0, 6)], UNKNOWN)
    user = np.where(values[:, 11] < 0, np.nan, values[:, 11])
    queue = np.where(values[:, 14] < 0, np.nan, values[:, 14])
    ids = job.astype(np.int64) if np.all(job == np.floor(job)) else job
    builder.add(
        lines=lines,
        submit=submit,
        cards=cards,
        run=run,
        job_id=ids,
        estimate=estimate,
        user=user,
        tenant=queue,
        status=status.astype(np.int8),
        recorded_start=start,
        checks=checks,
        rejects=rejects,
    )


def read(path: Path, options: ReadOptions) -> pd.DataFrame:
    """Read an SWF file (plain or gzip) into the normalised job table.

    Args:
        path: the SWF file.
        options: read options (``on_bad``, ``chunk_rows``).

    Returns:
        The normalised table; ``attrs["header"]`` holds the parsed header.

    Raises:
        TraceError: a bad row when ``on_bad="error"``, or an unreadable file.
    """
    builder = TraceBuilder(path, "swf", options)
    header = SwfHeader()
    for first, lines in line_blocks(path, options.chunk_rows):
        text = "\n".join(lines) + "\n"
        if ";" not in text:
            values = _fast_parse(text, len(lines))
            if values is not None:
                numbers = np.arange(first, first + len(lines), dtype=np.int64)
                _add_block(builder, values, numbers, [])
                continue
        block: list[str] = []
        nums: list[int] = []
        for lineno, line in enumerate(lines, start=first):
            stripped = line.lstrip()
            if not stripped:
                builder.blank_lines += 1
            elif stripped[0] == ";":
                header.feed(stripped)
            else:
                block.append(line)
                nums.append(lineno)
        if block:
            values = _fast_parse("\n".join(block) + "\n", len(block))
            if values is not None:
                _add_block(builder, values, np.array(nums, dtype=np.int64), [])
            else:
                _add_block(builder, *_slow_parse(block, nums))
    builder.header = header.fields
    for key in ("MaxProcs", "MaxNodes"):
        value = header.fields.get(key)
        if isinstance(value, int) and value > 0:
            builder.capacity = value
            builder.capacity_source = f"header {key}"
            break
    start = header.fields.get("UnixStartTime")
    if isinstance(start, int):
        utc = datetime.fromtimestamp(start, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        zone = header.fields.get("TimeZoneString")
        builder.extra["epoch"] = f"log start: UnixStartTime {start} = {utc}" + (
            f" (site time zone {zone})" if zone else ""
        )
    else:
        builder.extra["epoch"] = "log start (the header has no UnixStartTime)"
    return builder.finish()


FORMAT = TraceFormat(
    name="swf",
    description="Standard Workload Format (Parallel Workloads Archive), 18 fields per job",
    read=read,
    sniff=sniff,
)
