"""Run computations in worker processes, off the event loop, behind a capacity limit.

The job runner keeps ``n_workers`` warm worker processes (started from a
``forkserver`` that has already imported the engines), each connected to the server
by a pipe. A request borrows an idle worker, sends it ``(function, args, kwargs)``
and waits -- in a dedicated thread, so the event loop stays free and ``/healthz``
answers at once -- for the pickled reply.

Capacity: at most ``n_workers`` jobs run at once; at most ``max_queue`` requests wait
for a worker (each at most ``queue_timeout_s`` seconds). Beyond that the request is
refused with 503 and ``Retry-After``.

Timeout: a job running longer than ``timeout_s`` seconds is stopped for real -- its
worker process is killed (SIGKILL) and reaped, a fresh worker takes its slot -- and
the request is answered with 504.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import multiprocessing as mp
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

from fastapi import HTTPException

from imputer.errors import ImputerValueError

__all__ = ["JobRunner", "WorkerStatus"]

logger = logging.getLogger("api.jobs")

_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
_PRELOAD = ["api.tasks"]
_context_lock = threading.Lock()


def _worker_main(conn: Connection, memory_limit_mb: int = 0, nice: int = 0) -> None:
    """Worker loop: receive ``(func, args, kwargs)``, reply ``("ok", value)`` or ``("error", name)``.

    With ``memory_limit_mb > 0`` the address space of the worker is capped
    (``RLIMIT_AS``), so an oversized problem raises ``MemoryError`` in the worker
    instead of exhausting the machine. ``nice > 0`` lowers the worker's CPU priority, so
    the server's event loop (health checks, 503 answers) keeps the CPU it needs.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server stops workers itself
    if nice > 0:
        os.nice(nice)
    if memory_limit_mb > 0:
        import resource

        limit = memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        func, args, kwargs = msg
        try:
            reply: tuple[str, Any] = ("ok", func(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, logged here
            traceback.print_exc(file=sys.stderr)
            reply = ("error", type(exc).__name__)
        try:
            conn.send(reply)
        except Exception as exc:  # noqa: BLE001 - e.g. an unpicklable value
            traceback.print_exc(file=sys.stderr)
            try:
                conn.send(("error", type(exc).__name__))
            except (EOFError, OSError):
                return


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, ctx: Any, memory_limit_mb: int = 0, nice: int = 0) -> None:
        parent, child = ctx.Pipe(duplex=True)
        self.conn: Connection = parent
        self.proc = ctx.Process(
            target=_worker_main,
            args=(child, memory_limit_mb, nice),
            daemon=True,
            name="imputer-worker",
        )
        self.proc.start()
        child.close()

    @property
    def pid(self) -> int | None:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.is_alive()

    def call(self, msg: tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]) -> tuple[str, Any]:
        """Send one job and wait for its reply (runs in a thread, never on the event loop)."""
        try:
            self.conn.send(msg)
            return self.conn.recv()
        except (EOFError, OSError):
            return ("died", None)

    def kill(self) -> None:
        """Kill the process (SIGKILL), reap it and close the pipe."""
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=10)
        self.conn.close()

    def stop(self, grace_s: float = 2.0) -> None:
        """Ask the worker to exit; kill it if it has not after ``grace_s`` seconds."""
        try:
            self.conn.send(None)
        except (EOFError, OSError):
            pass
        self.proc.join(timeout=grace_s)
        self.kill()


WorkerStatus = dict[str, Any]


class JobRunner:
    """A fixed pool of worker processes with a bounded waiting line.

    Parameters
    ----------
    n_workers : int
        Worker processes, i.e. jobs running at once.
    max_queue : int
        Requests allowed to wait for a worker; one more is refused (503).
    queue_timeout_s : float
        Longest wait for a worker before 503.
    retry_after_s : int
        ``Retry-After`` header value sent with 503.
    worker_threads : int
        BLAS/OpenMP threads in each worker (set through the environment of the
        forkserver, unless the variables are already set).
    memory_limit_mb : int
        Address-space cap of each worker in MiB (``RLIMIT_AS``); 0 for none.
    nice : int
        Niceness added to each worker process (lower CPU priority than the server).
    """

    def __init__(
        self,
        n_workers: int,
        *,
        max_queue: int = 16,
        queue_timeout_s: float = 30.0,
        retry_after_s: int = 5,
        worker_threads: int = 1,
        memory_limit_mb: int = 0,
        nice: int = 0,
    ) -> None:
        if n_workers < 1:
            raise ImputerValueError(f"n_workers must be >= 1, got {n_workers}")
        self.n_workers = n_workers
        self.max_queue = max_queue
        self.queue_timeout_s = queue_timeout_s
        self.retry_after_s = retry_after_s
        self.worker_threads = worker_threads
        self.memory_limit_mb = memory_limit_mb
        self.nice = nice
        self._workers: list[_Worker] = []
        self._idle: list[_Worker] = []
        self._waiters: collections.deque[asyncio.Future[_Worker]] = collections.deque()
        self._executor: ThreadPoolExecutor | None = None
        self._started = False

    # ------------------------------------------------------------------ lifecycle
    def _context(self) -> Any:
        with _context_lock:
            for var in _THREAD_VARS:
                os.environ.setdefault(var, str(self.worker_threads))
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(_PRELOAD)
            return ctx

    async def start(self) -> None:
        """Start the worker processes (in a thread: spawning may take a moment)."""
        if self._started:
            return
        # blocking pipe I/O (one thread per running job) plus kills and (re)spawns
        self._executor = ThreadPoolExecutor(
            max_workers=2 * self.n_workers + 2, thread_name_prefix="imputer-jobs"
        )
        loop = asyncio.get_running_loop()
        ctx = self._context()
        workers = await loop.run_in_executor(
            self._executor, lambda: [_Worker(ctx, self.memory_limit_mb, self.nice) for _ in range(self.n_workers)]
        )
        self._workers = list(workers)
        self._idle = list(workers)
        self._started = True

    async def stop(self) -> None:
        """Stop every worker and the I/O threads; pending waiters get 503."""
        self._started = False
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.cancel()
        workers, self._workers, self._idle = self._workers, [], []
        loop = asyncio.get_running_loop()
        if workers:
            await loop.run_in_executor(
                self._executor, lambda: [w.stop() for w in workers]
            )
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    # ------------------------------------------------------------------ status
    def status(self) -> WorkerStatus:
        """Counts for ``/readyz``: workers alive, idle, busy, waiting and capacity."""
        alive = sum(1 for w in self._workers if w.alive())
        return {
            "started": self._started,
            "workers": self.n_workers,
            "alive": alive,
            "idle": len(self._idle),
            "busy": len(self._workers) - len(self._idle),
            "waiting": len(self._waiters),
            "max_queue": self.max_queue,
        }

    def ready(self) -> bool:
        """True when a new job would be accepted (started, a worker alive, room left)."""
        if not self._started:
            return False
        if not any(w.alive() for w in self._workers):
            return False
        return bool(self._idle) or len(self._waiters) < self.max_queue

    def worker_pids(self) -> list[int]:
        """Process ids of the current workers."""
        return [w.pid for w in self._workers if w.pid is not None]

    # ------------------------------------------------------------------ scheduling
    def _saturated(self, detail: str) -> HTTPException:
        return HTTPException(
            status_code=503, detail=detail, headers={"Retry-After": str(self.retry_after_s)}
        )

    async def _acquire(self) -> _Worker:
        if not self._started:
            raise self._saturated("The computation service is not running.")
        if self._idle:
            return self._idle.pop()
        if len(self._waiters) >= self.max_queue:
            raise self._saturated(
                f"All {self.n_workers} workers are busy and {len(self._waiters)} requests "
                "are already waiting; retry later."
            )
        fut: asyncio.Future[_Worker] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            return await asyncio.wait_for(fut, self.queue_timeout_s)
        except asyncio.TimeoutError:
            raise self._saturated(
                f"No worker became free within {self.queue_timeout_s:g} s; retry later."
            ) from None
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._release(fut.result())
            if not self._started:
                raise self._saturated("The computation service is shutting down.") from None
            raise
        finally:
            try:
                self._waiters.remove(fut)
            except ValueError:
                pass

    def _release(self, worker: _Worker) -> None:
        if not self._started or worker not in self._workers:
            return
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(worker)
                return
        self._idle.append(worker)

    async def _replace(self, worker: _Worker) -> None:
        """Kill ``worker`` and put a fresh process in its slot."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, worker.kill)
        try:
            self._workers.remove(worker)
        except ValueError:
            return
        if not self._started:
            return
        ctx = self._context()
        try:
            fresh = await loop.run_in_executor(
                self._executor, _Worker, ctx, self.memory_limit_mb, self.nice
            )
        except Exception:  # noqa: BLE001 - keep serving with one slot fewer
            logger.exception("could not start a replacement worker")
            return
        if not self._started:
            await loop.run_in_executor(self._executor, fresh.stop)
            return
        self._workers.append(fresh)
        self._release(fresh)

    async def run(
        self,
        func: Callable[..., Any],
        *args: Any,
        timeout_s: float,
        **kwargs: Any,
    ) -> Any:
        """Run ``func(*args, **kwargs)`` in a worker process and return its value.

        ``func`` must be importable (a module-level function) and its arguments and
        value picklable.

        Raises
        ------
        fastapi.HTTPException
            503 (with ``Retry-After``) when saturated, 504 after ``timeout_s`` seconds
            (the worker is killed and replaced), 500 when the job raised or its worker
            died (details are logged, never returned).
        """
        worker = await self._acquire()
        while not worker.alive():  # died while idle (e.g. killed from outside): replace, retry
            await self._replace(worker)
            worker = await self._acquire()
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(self._executor, worker.call, (func, args, kwargs))
        try:
            kind, value = await asyncio.wait_for(asyncio.shield(call), timeout_s)
        except asyncio.TimeoutError:
            await self._replace(worker)
            raise HTTPException(
                status_code=504,
                detail=f"The computation exceeded the time limit of {timeout_s:g} s and was stopped.",
            ) from None
        except asyncio.CancelledError:
            await asyncio.shield(self._replace(worker))
            raise
        if kind == "ok":
            self._release(worker)
            return value
        if kind == "died":
            await self._replace(worker)
            if not self._started:
                raise self._saturated("The computation service is shutting down.")
            logger.error("worker %s died while running %s", worker.pid, getattr(func, "__name__", func))
            raise HTTPException(
                status_code=500, detail="The worker process ended unexpectedly; the failure has been logged."
            )
        self._release(worker)
        logger.error("job %s failed in worker %s: %s", getattr(func, "__name__", func), worker.pid, value)
        raise HTTPException(
            status_code=500, detail="The computation failed unexpectedly; the failure has been logged."
        )
