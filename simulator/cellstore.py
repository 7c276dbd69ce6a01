"""Per-cell storage of sweeps and plans: each finished cell written at once, atomically.

A *cell* is one replication of one scenario variant. Its record (:class:`CellRecord`) is
small: the run's summary dict, the resolved scenario (YAML text), the seed, the factor
values and the replication index that make its key, and run metadata (wall time, events,
version). A cell store is a folder holding one file per cell::

    <root>/<cell id>.json         a finished cell (checksummed record)
    <root>/<cell id>.error.json   a cell that raised, with its error and traceback
    <root>/<cell id>.json.corrupt a damaged cell file, moved aside and rerun

Contract:

* **Atomic.** A file is written under a temporary name in the same folder, flushed and
  fsynced, then renamed over its final name (``os.replace``), so a reader sees either the
  whole previous content or the whole new one, never a part.
* **Checked on read.** A cell file is ``{"format", "schema_version", "sha256", "record"}``
  where ``sha256`` is the digest of the record in canonical JSON (sorted keys, no
  whitespace). A file that does not parse, has the wrong format or version, fails the
  checksum or the record schema, or names another cell is *corrupt*: :meth:`CellStore.read`
  raises :class:`CorruptCellError` and :meth:`CellStore.scan` reports it so that the
  cell is rerun; it is never read as a result.
* **Resumable.** :meth:`CellStore.scan` sorts the wanted cells into done, failed,
  corrupt and missing; only done cells are reused. Leftover temporary files of a killed
  writer are removed when a store is opened under its lock (see :func:`lock_folder`).

NaN summary values are stored as JSON ``null`` and read back as NaN.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simulator.errors import LingangSimError

log = logging.getLogger(__name__)

CELL_FORMAT = "lingang-sim-cell"
CELL_SCHEMA_VERSION = 1
ERROR_SUFFIX = ".error.json"
CORRUPT_SUFFIX = ".corrupt"
_TMP_PREFIX = ".tmp-"


class CellStoreError(LingangSimError):
    """A cell store cannot be used (locked by another process, not writable)."""


class CorruptCellError(LingangSimError):
    """A cell file exists but is not a complete, valid record; the cell must be rerun."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class CellRecord(BaseModel):
    """One finished cell: the key, the resolved scenario and the run's summary.

    Attributes:
        cell_id: ``<variant digest>-r<replication>``; the file name without ``.json``.
        variant: digest of the resolved scenario (hex), shared by its replications.
        factors: the sweep's factor values of this variant (JSON values; dates as ISO).
        replication: the replication index (its random streams, with ``seed``).
        seed: the scenario's root seed.
        scenario_yaml: the resolved scenario the cell ran, as YAML.
        summary: the run's summary metrics (``None`` where the run gave NaN).
        meta: run metadata (version, wall time, events, jobs); not part of the results.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cell_id: str = Field(min_length=1)
    variant: str = Field(min_length=1)
    factors: dict[str, Any]
    replication: int = Field(ge=0)
    seed: int = Field(ge=0)
    scenario_yaml: str
    summary: dict[str, float | None]
    meta: dict[str, Any] = Field(default_factory=dict)

    def summary_values(self) -> dict[str, float]:
        """The summary with ``None`` turned back into NaN."""
        return {k: math.nan if v is None else float(v) for k, v in self.summary.items()}


@dataclass
class ScanResult:
    """Where each wanted cell stands in a store."""

    done: dict[str, CellRecord] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def todo(self) -> list[str]:
        """Cells to run: failed, corrupt and missing, in the order they were asked for."""
        return [*self.failed, *self.corrupt, *self.missing]


def clean_float(value: Any) -> Any:
    """``None`` for NaN and infinities (JSON has neither), other values unchanged."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def canonical_json(data: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, no NaN (raises on NaN)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


def digest(data: Any) -> str:
    """SHA-256 (hex) of ``data`` in canonical JSON."""
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (temporary file, fsync, rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f"{_TMP_PREFIX}{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (temporary file, fsync, rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f"{_TMP_PREFIX}{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def lock_folder(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (a ``.lock`` file inside it) while writing.

    The lock is an advisory POSIX record lock (``lockf``): it belongs to this process
    alone (forked workers do not inherit it) and the kernel releases it when the
    process exits, even on SIGKILL, so a killed sweep never leaves a stale lock. It
    keeps other processes out, not other threads of this one. Where ``fcntl`` does not
    exist (Windows) no lock is taken.

    Raises:
        CellStoreError: another process holds the lock.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise CellStoreError(f"{folder} exists and is not a folder; choose another --out")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = folder / ".lock"
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the context's span
    try:
        try:
            fcntl.lockf(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            raise CellStoreError(
                f"{folder} is in use by another lingang-sim process (pid {holder}); wait "
                f"for it to finish or choose another --out"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()


class CellStore:
    """A folder of cell files (see the module docstring for the layout and guarantees).

    Args:
        root: the folder; created when missing.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ paths

    def path(self, cell_id: str) -> Path:
        return self.root / f"{cell_id}.json"

    def error_path(self, cell_id: str) -> Path:
        return self.root / f"{cell_id}{ERROR_SUFFIX}"

    def remove_temporaries(self) -> int:
        """Delete temporary files left by a killed writer; call only under the lock."""
        removed = 0
        for tmp in self.root.glob(f"{_TMP_PREFIX}*"):
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed += 1
        return removed

    # ------------------------------------------------------------------ writing

    def write(self, record: CellRecord) -> Path:
        """Store a finished cell atomically and drop any earlier error file of it."""
        body = record.model_dump(mode="json")
        body["summary"] = {k: clean_float(v) for k, v in body["summary"].items()}
        body["meta"] = {k: clean_float(v) for k, v in body["meta"].items()}
        doc = {
            "format": CELL_FORMAT,
            "schema_version": CELL_SCHEMA_VERSION,
            "sha256": digest(body),
            "record": body,
        }
        path = self.path(record.cell_id)
        atomic_write_text(path, json.dumps(doc, indent=1, sort_keys=True, allow_nan=False))
        with contextlib.suppress(FileNotFoundError):
            self.error_path(record.cell_id).unlink()
        return path

    def write_error(self, cell_id: str, error: dict[str, Any]) -> Path:
        """Store a cell's failure (error type, message, traceback, key) atomically."""
        path = self.error_path(cell_id)
        text = json.dumps(
            {"format": CELL_FORMAT + "-error", "cell_id": cell_id, **error},
            indent=1,
            sort_keys=True,
            default=str,
        )
        atomic_write_text(path, text)
        return path

    # ------------------------------------------------------------------ reading

    def read(self, cell_id: str) -> CellRecord | None:
        """The stored record of ``cell_id``, or ``None`` when the cell has no file.

        Raises:
            CorruptCellError: the file is truncated, altered or not a cell record.
        """
        path = self.path(cell_id)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        return parse_cell(path, raw, cell_id)

    def read_error(self, cell_id: str) -> dict[str, Any] | None:
        """The stored error of ``cell_id`` (or ``None``); an unreadable file gives a stub."""
        path = self.error_path(cell_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {"error_type": "unreadable error file", "message": str(path)}
        return data if isinstance(data, dict) else {"message": str(data)}

    def quarantine(self, cell_id: str) -> Path | None:
        """Move a corrupt cell file aside (``.json.corrupt``) so that it is rerun."""
        path = self.path(cell_id)
        target = path.with_name(path.name + CORRUPT_SUFFIX)
        try:
            os.replace(path, target)
        except FileNotFoundError:
            return None
        return target

    def scan(self, cell_ids: Iterable[str], *, quarantine: bool = True) -> ScanResult:
        """Sort the wanted cells into done, failed, corrupt and missing.

        A cell with a valid file is done (any error file beside it is stale). Corrupt
        files are logged and, with ``quarantine``, moved aside.
        """
        out = ScanResult()
        for cell_id in cell_ids:
            try:
                record = self.read(cell_id)
            except CorruptCellError as exc:
                log.warning("cell %s will be rerun: %s", cell_id, exc.reason)
                if quarantine:
                    self.quarantine(cell_id)
                out.corrupt.append(cell_id)
                continue
            if record is not None:
                out.done[cell_id] = record
            elif self.error_path(cell_id).exists():
                out.failed.append(cell_id)
            else:
                out.missing.append(cell_id)
        return out


def parse_cell(path: Path, raw: bytes, cell_id: str | None = None) -> CellRecord:
    """Check and parse the bytes of a cell file (see the module docstring).

    Raises:
        CorruptCellError: with the reason the file cannot be trusted.
    """
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CorruptCellError(path, f"not a complete JSON document (truncated?): {exc}") from None
    if not isinstance(doc, dict):
        raise CorruptCellError(path, "not a cell record (expected a JSON object)")
    if doc.get("format") != CELL_FORMAT:
        raise CorruptCellError(path, f"format is {doc.get('format')!r}, not {CELL_FORMAT!r}")
    if doc.get("schema_version") != CELL_SCHEMA_VERSION:
        raise CorruptCellError(
            path,
            f"schema_version {doc.get('schema_version')!r}; this lingang-sim reads "
            f"{CELL_SCHEMA_VERSION}",
        )
    body = doc.get("record")
    if not isinstance(body, dict):
        raise CorruptCellError(path, "no record")
    try:
        actual = digest(body)
    except ValueError as exc:
        raise CorruptCellError(path, f"record is not canonical JSON: {exc}") from None
    if actual != doc.get("sha256"):
        raise CorruptCellError(path, "checksum mismatch: the record was altered or cut short")
    try:
        record = CellRecord.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CorruptCellError(
            path, f"record fails the schema at '{where}': {first['msg']}"
        ) from None
    if cell_id is not None and record.cell_id != cell_id:
        raise CorruptCellError(path, f"holds cell {record.cell_id!r}, not {cell_id!r}")
    return record
