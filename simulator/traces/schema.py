"""The normalised job table that every trace reader returns, and the helpers that build it.

Every reader in :mod:`simulator.traces` turns one trace file into a pandas DataFrame with
exactly these columns, in this order, one row per job:

==================== ======= =============================================================
column               dtype   meaning and unit
==================== ======= =============================================================
``job_id``           str     the job's identifier in the trace; the source line number
                             when the trace has no identifier
``submit_s``         float64 submit time, seconds since the trace's own epoch (below)
``cards``            int64   processors (HPC logs) or GPUs (GPU logs) allocated or
                             requested, >= 1; 0 only for CPU-only jobs kept on purpose
                             with ``gpu_only=False``
``run_s``            float64 recorded run time in seconds, >= 0
``estimate_s``       float64 the user's requested or estimated run time in seconds;
                             NaN when unknown
``user``             str     user name or number; ``""`` when unknown
``tenant``           str     virtual cluster, queue, group or cluster (per format);
                             ``""`` when unknown
``status``           str     ``completed``, ``failed``, ``cancelled`` or ``unknown``
``recorded_start_s`` float64 the recorded start (submit + recorded wait), same epoch as
                             ``submit_s``; NaN when the trace records no start
``source_line``      int64   1-based line number of the job's row in the (decompressed)
                             file, for provenance
==================== ======= =============================================================

Rows are sorted by ``submit_s`` (stable, so ties keep file order).

Epoch: ``submit_s`` is **not** rebased to the first submit. Traces with relative times
(SWF, ITP, openb) keep their own origin: the log start for SWF (``UnixStartTime`` in the
header), the start of collection for ITP, the trace start for openb. Traces with calendar
timestamps (Philly, Helios) are counted from 00:00 of the day of their earliest submit,
so the time of day is kept; ``attrs["epoch"]`` then gives that midnight as a naive ISO
date-time in the trace's own (undocumented) time zone.

Metadata in ``df.attrs`` (JSON-serialisable, kept by Parquet):
``schema`` (``SCHEMA_VERSION``), ``format``, ``file``, ``compressed``, ``on_bad``,
``options``, ``header`` (SWF: the parsed ``;`` header, e.g. ``MaxProcs``, ``MaxNodes``,
``UnixStartTime``, ``Note`` as a list; CSV: ``{"columns": [...]}``), ``epoch``,
``time_format`` (``"seconds"`` or ``"datetime"``), ``rows_read`` (data rows seen),
``jobs`` (rows kept), ``skipped``, ``filtered`` and ``clamped`` (``{reason: count}``),
``reordered`` (rows whose submit time was earlier than a row above them),
``blank_lines``, ``capacity`` and ``capacity_source`` (SWF ``MaxProcs``, else ``None``).

Bad rows, chosen by ``on_bad``:

* ``"error"`` (default): the first bad row raises :class:`TraceError` naming the file,
  the line, the reason and the value.
* ``"skip"``: bad rows are dropped and counted by reason in ``attrs["skipped"]``; rows
  whose submit time is out of order are **kept**, counted in ``attrs["reordered"]`` and
  the table is sorted by submit time.

A row is bad when it has the wrong number of fields, a non-numeric, infinite or missing
value in a needed column (job id included), a negative run time, an unknown run or
submit time (SWF ``-1``), zero or a negative or fractional card count, or (for formats
whose files are in submit order) a submit time earlier than a row above it. Readers add
format-specific reasons (listed in their docstrings, e.g. openb's never-scheduled pods).
Philly's ``philly.csv`` is not in time order, so its order is not checked; it is sorted
and the count is reported as ``reordered``.

Rows removed on purpose by an option (CPU-only jobs when ``gpu_only=True``) are counted
in ``attrs["filtered"]``, whatever ``on_bad`` says. Values that are repaired are counted
in ``attrs["clamped"]``: a recorded start before the submit time is clamped to the submit
time, a non-positive estimate is read as unknown, and SWF jobs without an allocated
processor count take the requested count.

A truncated or corrupt gzip file, a file that is not UTF-8 text, a missing column or an
empty CSV always raise :class:`TraceError`, whatever ``on_bad`` says.

Memory: readers stream the file in blocks of ``chunk_rows`` lines and keep only compact
numpy columns of the rows kept (labels as int32 codes), never the text of the whole file.

This module also holds what the readers share to honour the contract: file opening by
magic bytes (:func:`open_text`, :func:`line_blocks`), the CSV block reader
(:func:`csv_blocks`, :func:`numeric`, :class:`TimeColumns`) and :class:`TraceBuilder`,
which applies the bad-row policy and assembles the table.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import math
import os
import zlib
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Literal, NoReturn, cast

import numpy as np
import pandas as pd

from simulator.errors import TraceError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = "lingang-sim.trace/1"

TRACE_COLUMNS: tuple[str, ...] = (
    "job_id",
    "submit_s",
    "cards",
    "run_s",
    "estimate_s",
    "user",
    "tenant",
    "status",
    "recorded_start_s",
    "source_line",
)

COLUMN_DTYPES: dict[str, str] = {
    "job_id": "str",
    "submit_s": "float64",
    "cards": "int64",
    "run_s": "float64",
    "estimate_s": "float64",
    "user": "str",
    "tenant": "str",
    "status": "str",
    "recorded_start_s": "float64",
    "source_line": "int64",
}

STATUSES: tuple[str, ...] = ("completed", "failed", "cancelled", "unknown")
COMPLETED, FAILED, CANCELLED, UNKNOWN = (np.int8(i) for i in range(4))

OnBad = Literal["error", "skip"]
ON_BAD_CHOICES: tuple[str, ...] = ("error", "skip")

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
DEFAULT_CHUNK_ROWS = 16_384
SKIP_HINT = "; pass on_bad='skip' (--on-bad skip) to skip and count such rows"

#: One row problem: reason, mask of the bad rows, and values to quote in the error (or None).
Check = tuple[str, np.ndarray, np.ndarray | None]
#: A row rejected before parsing: (line number, reason, detail).
Reject = tuple[int, str, str]


@dataclass(frozen=True)
class ReadOptions:
    """Options shared by every reader.

    Args:
        on_bad: ``"error"`` raises on the first bad row; ``"skip"`` drops and counts it.
        gpu_only: GPU traces with CPU-only jobs (Helios, openb) keep only jobs with at
            least one GPU; the others are counted in ``attrs["filtered"]``.
        chunk_rows: lines parsed per block; bounds the memory used for text.
    """

    on_bad: OnBad = "error"
    gpu_only: bool = True
    chunk_rows: int = DEFAULT_CHUNK_ROWS

    def __post_init__(self) -> None:
        if self.on_bad not in ON_BAD_CHOICES:
            raise TraceError(f"on_bad must be one of {ON_BAD_CHOICES}, not {self.on_bad!r}")
        if self.chunk_rows < 1:
            raise TraceError(f"chunk_rows must be >= 1, not {self.chunk_rows}")


@dataclass(frozen=True)
class TraceFormat:
    """A trace format: its name, a one-line description, a reader and a content sniffer.

    Args:
        name: the value of ``--format``.
        description: one line for help texts.
        read: ``read(path, options)`` returning the normalised table.
        sniff: ``sniff(lines)`` returning True when the first non-blank lines of a file
            look like this format.
    """

    name: str
    description: str
    read: Callable[[Path, ReadOptions], pd.DataFrame]
    sniff: Callable[[list[str]], bool]


# --------------------------------------------------------------------------- files


def check_file(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a Path after checking that it is a readable file.

    Raises:
        TraceError: the path does not exist or is not a file.
    """
    p = Path(path)
    if not p.exists():
        raise TraceError(f"{p}: no such file")
    if not p.is_file():
        raise TraceError(f"{p}: not a file")
    return p


def magic(path: Path, n: int = 4) -> bytes:
    """Return the first ``n`` bytes of a file."""
    with open(path, "rb") as fh:
        return fh.read(n)


def is_gzip(path: Path) -> bool:
    """True when the file starts with the gzip magic bytes (whatever its name)."""
    return magic(path, 2) == GZIP_MAGIC


def open_text(path: Path) -> IO[str]:
    """Open a plain or gzip-compressed UTF-8 text file, choosing by its magic bytes.

    A UTF-8 byte-order mark at the start is dropped.
    """
    if is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8-sig")
    return open(path, encoding="utf-8-sig")


def _readable_gzip_lines(path: Path) -> int:
    """Count the complete lines that can be decompressed before a gzip stream breaks."""
    lines = 0
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            while chunk:
                try:
                    lines += decoder.decompress(chunk).count(b"\n")
                except zlib.error:
                    return lines
                chunk = decoder.unused_data if decoder.eof else b""
                if decoder.eof:
                    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    return lines


def _read_error(path: Path, lineno: int, exc: BaseException) -> TraceError:
    """The TraceError for a read failure after ``lineno`` complete lines were handed out."""
    if isinstance(exc, UnicodeDecodeError):
        return TraceError(
            f"{path}: line {lineno + 1}: not UTF-8 text ({exc.reason}); is this a trace file?"
        )
    readable = max(lineno, _readable_gzip_lines(path))
    return TraceError(
        f"{path}: line {readable + 1}: the gzip data is truncated or corrupt ({exc}); "
        f"only the first {readable} line(s) can be read"
    )


_READ_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error, UnicodeDecodeError)


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` for every line of a plain or gzip text file.

    Raises:
        TraceError: the gzip stream is truncated or corrupt, or the text is not UTF-8;
            the message names the line where reading stopped.
    """
    lineno = 0
    try:
        with open_text(path) as fh:
            for line in fh:
                lineno += 1
                yield lineno, line
    except _READ_ERRORS as exc:
        raise _read_error(path, lineno, exc) from exc


def line_blocks(
    path: Path, max_lines: int, read_size: int = 1 << 20
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(number of the first line, lines)`` in blocks of up to ``max_lines`` lines.

    The lines have no newline characters. The file is decompressed and decoded
    ``read_size`` characters at a time, so at most one read and one block of text are
    held in memory.

    Raises:
        TraceError: as :func:`numbered_lines`.
    """
    lineno = 0
    pending: list[str] = []
    tail = ""
    try:
        with open_text(path) as fh:
            while True:
                data = fh.read(read_size)
                if data:
                    parts = (tail + data).split("\n")
                    tail = parts.pop()
                    pending.extend(parts)
                elif tail:
                    pending.append(tail)
                    tail = ""
                while len(pending) >= max_lines or (pending and not data):
                    block = pending[:max_lines]
                    del pending[:max_lines]
                    yield lineno + 1, block
                    lineno += len(block)
                if not data:
                    return
    except _READ_ERRORS as exc:
        raise _read_error(path, lineno + len(pending), exc) from exc


def head_lines(path: Path, n: int = 20) -> list[str]:
    """Return up to ``n`` non-blank lines from the start of a file (for format sniffing)."""
    out: list[str] = []
    for _, line in numbered_lines(path):
        if line.strip():
            out.append(line.rstrip("\r\n"))
            if len(out) >= n:
                break
    return out


# --------------------------------------------------------------------------- builder


class _Labels:
    """Compact string column: int32 codes into a growing list of distinct names."""

    def __init__(self) -> None:
        self._index: dict[str, int] = {"": 0}
        self._names: list[str] = [""]
        self._chunks: list[np.ndarray] = []

    def _code(self, name: str) -> int:
        code = self._index.get(name)
        if code is None:
            code = len(self._names)
            self._index[name] = code
            self._names.append(name)
        return code

    def add(self, values: np.ndarray | pd.Series | None, n: int) -> None:
        """Append ``n`` labels; ``None`` means all unknown; NaN/None entries become ``""``."""
        if values is None:
            self._chunks.append(np.zeros(n, dtype=np.int32))
            return
        codes, uniques = pd.factorize(np.asarray(values), use_na_sentinel=True)
        names = [_label_text(u) for u in uniques]
        mapping = np.array([self._code(s) for s in names] + [0], dtype=np.int32)
        self._chunks.append(mapping[codes])

    def column(self, order: np.ndarray | None) -> pd.Series:
        codes = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.int32)
        self._chunks.clear()
        if order is not None:
            codes = codes[order]
        names = np.array(self._names, dtype=object)
        return pd.Series(names[codes], dtype="str")


def _label_text(value: Any) -> str:
    """Text of one label; integral floats print without a decimal point."""
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value).strip()


class TraceBuilder:
    """Collects parsed blocks of one trace, applies the bad-row policy, builds the table.

    Readers call :meth:`add` once per block with numpy columns, their own format-specific
    checks and the rows they could not parse; :meth:`finish` returns the normalised,
    sorted DataFrame with its ``attrs``.

    Args:
        path: the trace file (for messages and ``attrs``).
        fmt: the format name.
        options: the read options (``on_bad`` in particular).
        ordered: the format promises rows in submit order; when False, order is not
            checked and the table is always sorted.
        allow_zero_cards: keep rows with ``cards == 0`` (CPU-only jobs kept on purpose).
    """

    def __init__(
        self,
        path: Path,
        fmt: str,
        options: ReadOptions,
        *,
        ordered: bool = True,
        allow_zero_cards: bool = False,
    ) -> None:
        self.path = path
        self.fmt = fmt
        self.options = options
        self.ordered = ordered
        self.allow_zero_cards = allow_zero_cards
        self.header: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}
        self.skipped: dict[str, int] = {}
        self.filtered: dict[str, int] = {}
        self.clamped: dict[str, int] = {}
        self.reordered = 0
        self.blank_lines = 0
        self.rows_read = 0
        self.time_format = "seconds"
        self.rebase_to_day = False
        self.capacity: int | None = None
        self.capacity_source: str | None = None
        self._max_submit = -math.inf
        self._lines: list[np.ndarray] = []
        self._submit: list[np.ndarray] = []
        self._cards: list[np.ndarray] = []
        self._run: list[np.ndarray] = []
        self._estimate: list[np.ndarray] = []
        self._start: list[np.ndarray] = []
        self._status: list[np.ndarray] = []
        self._job_ids: list[np.ndarray | pd.Series] = []
        self._users = _Labels()
        self._tenants = _Labels()

    # -- bookkeeping -------------------------------------------------------------

    def fail(self, line: int | None, message: str) -> NoReturn:
        """Raise :class:`TraceError` for ``line`` of this file."""
        where = f"{self.path}: line {line}" if line is not None else str(self.path)
        raise TraceError(f"{where}: {message}")

    @staticmethod
    def _bump(table: dict[str, int], reason: str, n: int) -> None:
        if n:
            table[reason] = table.get(reason, 0) + int(n)

    def clamp(self, reason: str, n: int) -> None:
        """Count ``n`` values repaired for ``reason``."""
        self._bump(self.clamped, reason, n)

    # -- blocks ------------------------------------------------------------------

    def add(
        self,
        *,
        lines: np.ndarray,
        submit: np.ndarray,
        cards: np.ndarray,
        run: np.ndarray,
        job_id: np.ndarray | pd.Series | None = None,
        estimate: np.ndarray | None = None,
        user: np.ndarray | pd.Series | None = None,
        tenant: np.ndarray | pd.Series | None = None,
        status: np.ndarray | None = None,
        recorded_start: np.ndarray | None = None,
        checks: Sequence[Check] = (),
        filters: Sequence[tuple[str, np.ndarray]] = (),
        rejects: Sequence[Reject] = (),
    ) -> None:
        """Add one parsed block.

        Args:
            lines: 1-based line numbers of the rows.
            submit: submit times in seconds (absolute when ``rebase_to_day``).
            cards: card counts (float, so that NaN and fractions can be checked).
            run: run times in seconds.
            job_id: identifiers (integers or strings); defaults to the line number.
            estimate: estimates in seconds, NaN when unknown.
            user: user labels (NaN for unknown).
            tenant: tenant labels (NaN for unknown).
            status: int8 codes into :data:`STATUSES`; defaults to unknown.
            recorded_start: recorded start times, NaN when unknown.
            checks: format-specific row problems, checked before the generic ones; a
                row is counted under the first reason that applies.
            filters: rows to drop on purpose (counted in ``filtered``), applied first.
            rejects: rows of this block that could not be parsed at all.
        """
        n = len(lines)
        self.rows_read += n + len(rejects)
        keep = np.ones(n, dtype=bool)
        for reason, mask in filters:
            hit = mask & keep
            self._bump(self.filtered, reason, int(hit.sum()))
            keep &= ~hit

        all_checks: list[Check] = list(checks)
        with np.errstate(invalid="ignore"):
            all_checks += [
                ("missing submit time", np.isnan(submit), None),
                ("missing run time", np.isnan(run), None),
                ("infinite value", np.isinf(submit) | np.isinf(run) | np.isinf(cards), None),
                ("negative run time", run < 0, run),
                ("missing card count", np.isnan(cards), None),
                ("negative card count", cards < 0, cards),
                ("fractional card count", np.isfinite(cards) & (cards != np.floor(cards)), cards),
            ]
            if not self.allow_zero_cards:
                all_checks.append(("zero cards", cards == 0, cards))

        bad = np.zeros(n, dtype=bool)
        reasons: list[tuple[str, np.ndarray, np.ndarray | None]] = []
        for reason, mask, values in all_checks:
            hit = mask & keep & ~bad
            if hit.any():
                reasons.append((reason, hit, values))
                bad |= hit

        good = keep & ~bad
        with np.errstate(invalid="ignore"):
            sub = submit[good]
            prev = np.maximum.accumulate(np.concatenate(([self._max_submit], sub)))[:-1]
            late = sub < prev

        if self.options.on_bad == "error":
            self._raise_first(lines, reasons, rejects, good, late, sub, prev)
        for reason, hit, _ in reasons:
            self._bump(self.skipped, reason, int(hit.sum()))
        for _, reason, _detail in rejects:
            self._bump(self.skipped, reason, 1)

        self.reordered += int(late.sum())
        if len(sub):
            self._max_submit = max(self._max_submit, float(sub.max()))

        m = int(good.sum())
        est = np.full(m, np.nan) if estimate is None else estimate[good].astype(np.float64)
        with np.errstate(invalid="ignore"):
            nonpos = est <= 0
        if nonpos.any():
            self.clamp("estimate <= 0 read as unknown", int(nonpos.sum()))
            est[nonpos] = np.nan
        start = np.full(m, np.nan) if recorded_start is None else recorded_start[good].astype(float)
        with np.errstate(invalid="ignore"):
            early = start < sub
        if early.any():
            self.clamp("recorded start before submit, wait clamped to 0", int(early.sum()))
            start[early] = sub[early]

        self._lines.append(lines[good].astype(np.int64))
        self._submit.append(sub.astype(np.float64))
        self._cards.append(cards[good].astype(np.int64))
        self._run.append(run[good].astype(np.float64))
        self._estimate.append(est)
        self._start.append(start)
        self._status.append(
            np.full(m, UNKNOWN, dtype=np.int8) if status is None else status[good].astype(np.int8)
        )
        if job_id is None:
            self._job_ids.append(lines[good].astype(np.int64))
        elif isinstance(job_id, pd.Series):
            self._job_ids.append(job_id[good].reset_index(drop=True).astype("str"))
        else:
            ids = np.asarray(job_id)[good]
            self._job_ids.append(ids if ids.dtype.kind in "iu" else pd.Series(ids, dtype="str"))
        self._users.add(None if user is None else _take(user, good), m)
        self._tenants.add(None if tenant is None else _take(tenant, good), m)

    def _raise_first(
        self,
        lines: np.ndarray,
        reasons: list[tuple[str, np.ndarray, np.ndarray | None]],
        rejects: Sequence[Reject],
        good: np.ndarray,
        late: np.ndarray,
        sub: np.ndarray,
        prev: np.ndarray,
    ) -> None:
        """In ``on_bad="error"`` mode, raise for the earliest bad line of the block."""
        first: tuple[int, str] | None = None
        for reason, hit, values in reasons:
            i = int(np.argmax(hit))
            text = reason if values is None else f"{reason} (value: {_fmt(values[i])})"
            if first is None or lines[i] < first[0]:
                first = (int(lines[i]), text)
        for line, reason, detail in rejects:
            if first is None or line < first[0]:
                first = (line, f"{reason} ({detail})")
        if self.ordered and late.any():
            j = int(np.argmax(late))
            line = int(lines[good][j])
            if first is None or line < first[0]:
                first = (
                    line,
                    f"submit time out of order ({_fmt(sub[j])} is earlier than "
                    f"{_fmt(prev[j])} on a line above)",
                )
        if first is not None:
            self.fail(first[0], first[1] + SKIP_HINT)

    # -- result ------------------------------------------------------------------

    def finish(self) -> pd.DataFrame:
        """Return the normalised table, sorted by submit time, with ``attrs`` filled.

        The collected blocks are released as the columns are built, so call this once.
        """
        lines = _cat(self._lines, np.int64)
        submit = _cat(self._submit, np.float64)
        order: np.ndarray | None = None
        if self.reordered or not self.ordered:
            order = np.argsort(submit, kind="stable")

        def col(chunks: list[np.ndarray], dtype: type) -> np.ndarray:
            values = _cat(chunks, dtype)
            return values if order is None else values[order]

        submit = submit if order is None else submit[order]
        start = col(self._start, np.float64)
        epoch: str
        if self.rebase_to_day:
            if len(submit):
                origin = math.floor(float(submit.min()) / 86400.0) * 86400.0
                submit = submit - origin
                start = start - origin
                stamp = datetime.fromtimestamp(origin, tz=timezone.utc).replace(tzinfo=None)
                epoch = stamp.isoformat()
            else:
                epoch = ""
        else:
            epoch = "the trace's own time origin (times as recorded)"

        frame = pd.DataFrame(
            {
                "job_id": self._job_id_column(order),
                "submit_s": submit,
                "cards": col(self._cards, np.int64),
                "run_s": col(self._run, np.float64),
                "estimate_s": col(self._estimate, np.float64),
                "user": self._users.column(order),
                "tenant": self._tenants.column(order),
                "status": pd.Series(
                    np.array(STATUSES, dtype=object)[col(self._status, np.int8)], dtype="str"
                ),
                "recorded_start_s": start,
                "source_line": lines if order is None else lines[order],
            },
            columns=list(TRACE_COLUMNS),
            copy=False,
        )
        attrs: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "format": self.fmt,
            "file": str(self.path),
            "compressed": is_gzip(self.path),
            "on_bad": self.options.on_bad,
            "options": {"gpu_only": self.options.gpu_only},
            "header": self.header,
            "epoch": epoch,
            "time_format": self.time_format,
            "rows_read": int(self.rows_read),
            "jobs": len(frame),
            "skipped": dict(self.skipped),
            "filtered": dict(self.filtered),
            "clamped": dict(self.clamped),
            "reordered": int(self.reordered),
            "blank_lines": int(self.blank_lines),
            "capacity": self.capacity,
            "capacity_source": self.capacity_source,
            **self.extra,
        }
        frame.attrs = cast("dict[Hashable, Any]", attrs)
        logger.info(
            "%s: %d jobs kept of %d rows (%s format); skipped %s; filtered %s; reordered %d",
            self.path,
            len(frame),
            self.rows_read,
            self.fmt,
            self.skipped or "none",
            self.filtered or "none",
            self.reordered,
        )
        return frame

    def _job_id_column(self, order: np.ndarray | None) -> pd.Series:
        if not self._job_ids:
            return pd.Series([], dtype="str")
        if all(isinstance(c, np.ndarray) for c in self._job_ids):
            ids = pd.Series(np.concatenate(self._job_ids)).astype("str")
        else:
            parts = [pd.Series(c).astype("str") for c in self._job_ids]
            ids = pd.concat(parts, ignore_index=True)
        self._job_ids.clear()
        if order is not None:
            ids = ids.iloc[order].reset_index(drop=True)
        return ids


def _cat(chunks: list[np.ndarray], dtype: type) -> np.ndarray:
    """Concatenate and release the chunks (so that the copies do not pile up)."""
    out: np.ndarray = (
        np.concatenate(chunks).astype(dtype, copy=False) if chunks else np.zeros(0, dtype)
    )
    chunks.clear()
    return out


def _take(values: np.ndarray | pd.Series, mask: np.ndarray) -> np.ndarray:
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype=object)[mask]
    return np.asarray(values)[mask]


def _fmt(value: Any) -> str:
    """Short text of a value for an error message."""
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return str(int(v)) if v.is_integer() else f"{v:g}"
    return repr(value) if isinstance(value, str) else str(value)


# --------------------------------------------------------------------------- CSV helpers


@dataclass
class CsvBlock:
    """One block of CSV rows, parsed by pandas.

    Attributes:
        frame: the needed columns (text columns as str, the others inferred).
        lines: 1-based line numbers of the rows of ``frame``.
        rejects: rows of the block with the wrong number of fields.
    """

    frame: pd.DataFrame
    lines: np.ndarray
    rejects: list[Reject] = field(default_factory=list)


def csv_blocks(
    path: Path,
    builder: TraceBuilder,
    *,
    required: Sequence[str],
    optional: Sequence[str] = (),
    one_of: Sequence[Sequence[str]] = (),
    text_columns: Sequence[str] = (),
) -> Iterator[CsvBlock]:
    """Stream a CSV file with a header line in blocks of ``chunk_rows`` lines.

    The header's column names are stripped of spaces. Every data line must have the
    header's number of fields (quoted fields are understood; a quoted field must not span
    lines); lines that do not are returned as ``rejects``. Blank lines are counted in
    ``builder.blank_lines`` and ignored. A block without quotes, blank or malformed lines
    is parsed by pandas in one call; other blocks are checked line by line first.

    Args:
        path: the CSV file.
        builder: receives the header, blank-line counts and error messages.
        required: columns that must be present.
        optional: columns read when present.
        one_of: groups of columns of which at least one group must be fully present.
        text_columns: columns kept as text (never converted to numbers).

    Raises:
        TraceError: the file is empty, a required column is missing (the message lists
            the missing and the found columns), or column names repeat.
    """
    columns: list[str] = []
    wanted: list[str] = []
    dtypes: dict[str, str] = {}
    header_line = 0

    def check_header() -> None:
        nonlocal wanted, dtypes
        missing = [repr(c) for c in required if c not in columns]
        groups = [list(g) for g in one_of]
        if groups and not any(all(c in columns for c in g) for g in groups):
            missing.append("one of " + " or ".join("+".join(repr(c) for c in g) for g in groups))
        if missing:
            builder.fail(
                header_line,
                f"missing column(s) {', '.join(missing)} needed by the '{builder.fmt}' "
                f"format; found column(s): {', '.join(repr(c) for c in columns)}",
            )
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        if repeated:
            builder.fail(header_line, f"repeated column name(s): {', '.join(repeated)}")
        builder.header = {"columns": list(columns)}
        known = set(required) | set(optional) | {c for g in groups for c in g}
        wanted = [c for c in columns if c in known]
        dtypes = {c: "str" for c in text_columns if c in wanted}

    def parse(text: str) -> pd.DataFrame:
        return pd.read_csv(
            io.StringIO(text),
            header=None,
            names=columns,
            usecols=wanted,
            dtype=dtypes,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,
            engine="c",
        )

    for first, lines in line_blocks(path, builder.options.chunk_rows):
        if not columns:
            for i, line in enumerate(lines):
                if line.strip():
                    header_line = first + i
                    names = next(csv.reader([line]))
                    columns = [c.strip().lstrip("\ufeff") for c in names]
                    check_header()
                    lines = lines[i + 1 :]
                    first = header_line + 1
                    break
                builder.blank_lines += 1
            if not columns or not lines:
                continue
        ncols = len(columns)
        text = "\n".join(lines) + "\n"
        if '"' not in text and text.count(",") == (ncols - 1) * len(lines):
            try:
                frame = parse(text)
            except pd.errors.ParserError:
                frame = None
            if frame is not None and len(frame) == len(lines):
                yield CsvBlock(frame, np.arange(first, first + len(lines), dtype=np.int64))
                continue
        good: list[str] = []
        nums: list[int] = []
        rejects: list[Reject] = []
        for lineno, line in enumerate(lines, start=first):
            if not line.strip():
                builder.blank_lines += 1
                continue
            found = len(next(csv.reader([line]))) if '"' in line else line.count(",") + 1
            if found != ncols:
                rejects.append(
                    (lineno, "wrong number of fields", f"expected {ncols}, found {found}")
                )
                continue
            good.append(line)
            nums.append(lineno)
        if good:
            frame = parse("\n".join(good) + "\n")
        else:
            frame = pd.DataFrame({c: pd.Series([], dtype="str") for c in wanted})
        yield CsvBlock(frame, np.array(nums, dtype=np.int64), rejects)
    if not columns:
        raise TraceError(f"{path}: the file is empty (no header line)")


def text_column(frame: pd.DataFrame, column: str, checks: list[Check]) -> pd.Series:
    """Return a CSV text column as str and add a check for missing values."""
    raw = frame[column].astype("str")
    checks.append((f"missing value in column '{column}'", raw.isna().to_numpy(), None))
    return raw


def numeric(frame: pd.DataFrame, column: str, checks: list[Check]) -> np.ndarray:
    """Return a CSV column as float64 and add checks for missing and non-numeric values."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    missing = raw.isna().to_numpy()
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) & ~missing
    checks.append((f"non-numeric value in column '{column}'", bad, raw.to_numpy()))
    checks.append((f"missing value in column '{column}'", missing, None))
    return values


class TimeColumns:
    """Parses the time columns of one CSV file as seconds or as calendar date-times.

    The choice is made once, on the first non-empty value of the first column parsed:
    a number means seconds (kept as recorded); anything else is parsed as an ISO-8601
    date-time (naive values are taken as wall-clock time; values with a UTC offset are
    converted to UTC) and the builder rebases the table to 00:00 of the first submit day.
    """

    def __init__(self, builder: TraceBuilder) -> None:
        self.builder = builder
        self.mode: Literal["seconds", "datetime"] | None = None

    def parse(
        self, frame: pd.DataFrame, column: str, checks: list[Check], *, required: bool = True
    ) -> np.ndarray:
        """Return the column in seconds (NaN where empty) and add the matching checks."""
        raw = frame[column]
        present = raw.notna().to_numpy()
        if self.mode is None and present.any():
            first = raw[present].iloc[0]
            self.mode = "seconds" if _is_number(first) else "datetime"
            self.builder.time_format = self.mode
            self.builder.rebase_to_day = self.mode == "datetime"
        if self.mode == "datetime" and not pd.api.types.is_numeric_dtype(raw):
            values = _datetime_seconds(raw.astype("str"))
        else:
            values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(values) & present
        kind = "date-time" if self.mode == "datetime" else "number"
        checks.append((f"unreadable {kind} in column '{column}'", bad, raw.to_numpy()))
        if required:
            checks.append((f"missing value in column '{column}'", ~present, None))
        return values


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _datetime_seconds(raw: pd.Series) -> np.ndarray:
    """Parse ISO-8601 date-times to float seconds since 1970-01-01 (NaN if unreadable)."""
    try:
        stamps = pd.to_datetime(raw, format="ISO8601", errors="coerce")
    except ValueError:
        stamps = pd.to_datetime(raw, format="ISO8601", errors="coerce", utc=True)
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    seconds = (stamps - pd.Timestamp("1970-01-01")) / pd.Timedelta(seconds=1)
    return seconds.to_numpy(dtype=np.float64, na_value=np.nan)


def status_codes(values: pd.Series | np.ndarray, mapping: dict[str, np.int8]) -> np.ndarray:
    """Map status strings to :data:`STATUSES` codes; others (and missing) are unknown.

    The first word of each value is looked up, case-insensitively, so Slurm's
    ``CANCELLED by 1234`` maps like ``CANCELLED``.
    """
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    words = [(str(u).strip().lower().split() or [""])[0] for u in uniques]
    table = [mapping.get(w, UNKNOWN) for w in words] + [UNKNOWN]
    return np.array(table, dtype=np.int8)[codes]


def validate_table(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check that a DataFrame (e.g. read back from Parquet) has the normalised columns.

    Raises:
        TraceError: a column is missing.
    """
    missing = [c for c in TRACE_COLUMNS if c not in frame.columns]
    if missing:
        raise TraceError(
            f"{source}: not a normalised job table; missing column(s) "
            f"{', '.join(missing)}; found: {', '.join(map(str, frame.columns))}"
        )
    return frame
