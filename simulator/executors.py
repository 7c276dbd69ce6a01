"""Executors: where the cells of a sweep or plan run, behind one interface.

An executor takes a picklable top-level function and a list of tasks and yields
``(task, outcome)`` pairs as the tasks finish, in completion order; ``outcome`` is the
function's return value or an exception instance: :class:`WorkerLost` when the task was
lost with its worker, or what the executor raised (a result that cannot be pickled,
say). The function is expected to catch its own errors and return them as data, so one
failing task never stops the others.

Kinds (chosen with :func:`make_executor`):

* ``local``: local processes (default: one per core). ``workers=1`` runs every task in
  this process, one after the other (serial). At most ``workers`` tasks are in flight,
  so a killed driver or a dying worker loses at most those. The tasks lost with a dead
  worker process are rerun one at a time in a fresh pool; one that kills its worker
  again, alone, is reported as lost.
  Workers are forked when the driver runs no other thread, spawned otherwise, and
  exit by themselves within a second when the driver disappears.
* ``dask-local``: a Dask ``LocalCluster`` started for the run and closed after it.
* ``dask``: an existing Dask scheduler at an address (``tcp://host:8786``); workers
  must have lingang-sim installed. Dask reruns the tasks of a worker that dies (up to
  its ``distributed.scheduler.allowed-failures``) before reporting them lost.

Dask is an optional extra (``pip install 'lingang-sim[dask]'``): it is imported only
when a Dask executor starts, never on the default path.

Results do not depend on the executor: tasks carry everything that decides their
outcome (the resolved scenario and the replication index).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Literal, TypeVar

from simulator.errors import LingangSimError

log = logging.getLogger(__name__)

T = TypeVar("T")
ExecutorKind = Literal["local", "dask-local", "dask"]
EXECUTOR_KINDS: tuple[str, ...] = ("local", "dask-local", "dask")
DEFAULT_CONNECT_TIMEOUT_S = 10.0


class ExecutorError(LingangSimError):
    """An executor cannot start: Dask missing, scheduler unreachable, bad settings."""


class WorkerLost(Exception):  # noqa: N818 - an outcome, not raised to the caller
    """A task's worker process died before the task finished."""


def all_cores() -> int:
    """The number of CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Executor:
    """Base class: run ``fn`` on every task, yielding ``(task, outcome)`` as tasks finish.

    Use as a context manager; resources (pools, clusters, connections) live between
    ``__enter__`` and ``__exit__``.
    """

    kind: str = ""

    @property
    def workers(self) -> int:
        """How many tasks can run at once."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for the terminal, e.g. ``local processes x 2``."""
        raise NotImplementedError

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Release the executor's resources."""

    def run(
        self, fn: Callable[[T], Any], tasks: Sequence[T]
    ) -> Iterator[tuple[T, Any]]:  # pragma: no cover - abstract
        raise NotImplementedError


# --------------------------------------------------------------------------- local


def _watch_parent() -> None:
    """Worker initialiser: exit when the driver that started this worker is gone.

    A worker whose driver was killed (SIGKILL leaves no chance to stop the pool) is
    re-parented; it then abandons its cell, which the driver would have stored.
    """
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, name="lingang-parent-watch", daemon=True).start()


def _mp_context() -> Any:
    """``fork`` when this process runs no other thread, else ``spawn``.

    A forked worker starts at once with the driver's modules already imported, but
    forking a process that runs other threads (a Dask client, a progress bar) can copy a
    lock some thread holds and deadlock the child; ``spawn`` starts a fresh interpreter
    instead (slower: it imports lingang-sim again). Both make the driver the workers'
    parent, so the workers notice when it dies.
    """
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


class LocalExecutor(Executor):
    """Local processes, or this process alone when ``workers == 1``.

    When a worker process dies, every task in flight on the pool is lost with it and
    the pool is restarted. The lost tasks are then rerun one at a time, each alone in
    the pool: one that kills its worker again alone is reported as :class:`WorkerLost`,
    the others (lost only for sharing the pool) finish normally.

    Args:
        workers: processes to use; 0 means one per core, 1 means serial in-process.
    """

    kind = "local"

    def __init__(self, workers: int = 0) -> None:
        if workers < 0:
            raise ExecutorError(f"workers must be >= 0, got {workers}")
        self._workers = workers or all_cores()
        self._pool: ProcessPoolExecutor | None = None

    @property
    def workers(self) -> int:
        return self._workers

    def describe(self) -> str:
        if self._workers == 1:
            return "serial (this process)"
        return f"local processes x {self._workers}"

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _new_pool(self, size: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=size,
            mp_context=_mp_context(),
            initializer=_watch_parent,
        )

    def run(self, fn: Callable[[T], Any], tasks: Sequence[T]) -> Iterator[tuple[T, Any]]:
        if not tasks:
            return
        if self._workers == 1 or len(tasks) == 1:
            for task in tasks:
                yield task, fn(task)
            return
        yield from self._run_pool(fn, list(tasks))

    def _run_pool(self, fn: Callable[[T], Any], tasks: list[T]) -> Iterator[tuple[T, Any]]:
        size = min(self._workers, len(tasks))
        pending = list(range(len(tasks) - 1, -1, -1))  # pop() from the end: given order
        suspects: deque[int] = deque()  # lost with a dead worker: rerun one at a time
        alone: set[int] = set()  # tasks that ran as a suspect, alone in the pool
        in_flight: dict[Future[Any], int] = {}
        try:
            while pending or suspects or in_flight:
                if self._pool is None:
                    self._pool = self._new_pool(size)
                if suspects:
                    if not in_flight:
                        i = suspects.popleft()
                        alone.add(i)
                        in_flight[self._pool.submit(fn, tasks[i])] = i
                else:
                    while pending and len(in_flight) < size:
                        i = pending.pop()
                        in_flight[self._pool.submit(fn, tasks[i])] = i
                done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                lost: list[int] = []
                for fut in done:
                    i = in_flight.pop(fut)
                    try:
                        outcome = fut.result()
                    except BrokenProcessPool:
                        lost.append(i)
                        continue
                    except Exception as exc:  # e.g. a result that cannot be pickled
                        outcome = exc
                    yield tasks[i], outcome
                if not lost:
                    continue
                # Every task still in flight on the broken pool is lost with it.
                lost.extend(in_flight.values())
                in_flight.clear()
                self.close()
                log.warning("a worker process died; restarting the process pool")
                for i in sorted(lost):
                    if i in alone:
                        yield (
                            tasks[i],
                            WorkerLost(
                                "the worker process running this cell died (killed, or out "
                                "of memory), twice, the second time running it alone"
                            ),
                        )
                    else:
                        suspects.append(i)
        finally:
            if in_flight:
                self.close()


# --------------------------------------------------------------------------- dask


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ExecutorError(
            "the Dask executors need the optional 'dask' extra: pip install "
            "'lingang-sim[dask]' (or 'dask[distributed]')"
        ) from None
    return distributed


class DaskExecutor(Executor):
    """Tasks on a Dask cluster: a ``LocalCluster`` of our own, or a scheduler's address.

    Args:
        address: scheduler address (``tcp://host:8786``); ``None`` starts a
            ``LocalCluster`` for the run.
        workers: LocalCluster workers (0: one per core); ignored with ``address``.
        processes: LocalCluster workers as processes (True) or threads of this process.
        connect_timeout_s: how long to try reaching the scheduler before giving up.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        workers: int = 0,
        processes: bool = True,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    ) -> None:
        self.address = address
        self.kind = "dask" if address else "dask-local"
        self.n_workers = workers or all_cores()
        self.processes = processes
        self.connect_timeout_s = connect_timeout_s
        self._cluster: Any = None
        self._client: Any = None

    @property
    def workers(self) -> int:
        if self._client is None:
            return self.n_workers
        info = self._client.scheduler_info()
        return max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))

    def describe(self) -> str:
        if self.address:
            return f"Dask scheduler {self.address} ({self.workers} threads)"
        kind = "processes" if self.processes else "threads"
        return f"Dask LocalCluster x {self.n_workers} ({kind})"

    def __enter__(self) -> DaskExecutor:
        distributed = _import_distributed()
        if self.address:
            try:
                self._client = distributed.Client(
                    self.address, timeout=self.connect_timeout_s, set_as_default=False
                )
            except (OSError, TimeoutError) as exc:
                raise ExecutorError(
                    f"cannot reach the Dask scheduler at {self.address} within "
                    f"{self.connect_timeout_s:g} s ({type(exc).__name__}: {exc}); start one "
                    f"with 'dask scheduler' and workers with 'dask worker {self.address}', "
                    f"or drop --scheduler / DASK_SCHEDULER_ADDRESS to run locally"
                ) from None
        else:
            self._cluster = distributed.LocalCluster(
                n_workers=self.n_workers,
                threads_per_worker=1,
                processes=self.processes,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            self._client = distributed.Client(self._cluster, set_as_default=False)
        return self

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def run(self, fn: Callable[[T], Any], tasks: Sequence[T]) -> Iterator[tuple[T, Any]]:
        if not tasks:
            return
        if self._client is None:
            raise ExecutorError("use the Dask executor inside a 'with' block")
        batch = uuid.uuid4().hex[:8]
        finished: queue.SimpleQueue[Any] = queue.SimpleQueue()
        futures = {}
        for i, task in enumerate(tasks):
            fut = self._client.submit(fn, task, pure=False, key=f"lingang-cell-{batch}-{i}")
            futures[fut.key] = (fut, task)
            fut.add_done_callback(finished.put)
        try:
            while futures:
                done = finished.get()
                fut, task = futures.pop(done.key)
                if fut.status == "finished":
                    outcome = fut.result()
                else:
                    exc = fut.exception() if fut.status == "error" else fut.status
                    outcome = WorkerLost(f"Dask could not run this cell: {exc!r}")
                fut.release()
                yield task, outcome
        finally:
            for fut, _ in futures.values():
                fut.cancel()


# --------------------------------------------------------------------------- factory


def make_executor(
    kind: str = "local",
    *,
    workers: int = 0,
    address: str | None = None,
    processes: bool = True,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
) -> Executor:
    """The executor of ``kind`` (see the module docstring).

    Args:
        kind: ``local``, ``dask-local`` or ``dask``.
        workers: local processes or LocalCluster workers (0: one per core).
        address: the scheduler address (``dask`` only; required there).
        processes: LocalCluster workers as processes (``dask-local`` only).
        connect_timeout_s: scheduler connection timeout (``dask`` only).

    Raises:
        ExecutorError: unknown kind, or an address missing or misplaced.
    """
    if kind == "local":
        if address:
            raise ExecutorError("a scheduler address needs the 'dask' executor")
        return LocalExecutor(workers)
    if kind == "dask-local":
        if address:
            raise ExecutorError("'dask-local' starts its own cluster; drop the scheduler address")
        return DaskExecutor(None, workers=workers, processes=processes)
    if kind == "dask":
        if not address:
            raise ExecutorError(
                "the 'dask' executor needs a scheduler address: --scheduler "
                "tcp://host:8786 or the DASK_SCHEDULER_ADDRESS environment variable"
            )
        return DaskExecutor(address, connect_timeout_s=connect_timeout_s)
    raise ExecutorError(f"unknown executor '{kind}'; known: {', '.join(EXECUTOR_KINDS)}")
