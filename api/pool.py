"""Run tasks in worker processes, off the event loop, behind a capacity limit.

The pool keeps ``n_workers`` warm worker processes (:mod:`api.worker`, started from a
``forkserver`` that has already imported the modules in ``preload``). A task is any
picklable object with a ``run()`` method (:class:`api.worker.Task`; :class:`Call`
wraps a plain function). :meth:`WorkerPool.submit` admits it at once or refuses it,
and returns a :class:`Job` handle; the job then waits for a worker, runs in it (the
pipe is read in a thread, so the event loop stays free) and ends in one of the states
of :class:`JobState`.

A job's life is its own: it is not tied to whoever submitted it. Cancelling a
coroutine that awaits :meth:`Job.result` does not stop the job; :meth:`Job.cancel`
does (the job leaves the waiting line, or its worker is killed and replaced). Whether
a job dies with its HTTP request is a dispatch policy (:mod:`api.dispatch`), not the
pool's business.

Capacity: at most ``n_workers`` jobs run at once. A job that finds every worker busy
joins the waiting line when its expected wait -- the jobs ahead of it, itself included,
times the recent mean run time (of the last :data:`RECENT_JOBS` jobs), over
``n_workers`` -- fits in its queue timeout (``queue_timeout_s``, or the job's own);
otherwise it is refused at once with a ``Retry-After`` of that expected wait. Before any
job has finished nothing is known and the line is open. ``max_queue`` bounds the line in
any case (memory), and each job waits at most its queue timeout. A supervisor checks the
idle workers every :data:`SUPERVISE_S` seconds and replaces the dead ones (a worker killed
from outside while idle), so readiness recovers without a request having to find it. Timeout: a job running longer
than its ``timeout_s`` is stopped for real -- its worker process is killed (SIGKILL)
and reaped, a fresh worker takes its slot. Every outcome other than the task's value
is an exception from :mod:`api.errors`; nothing here knows about HTTP.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import functools
import logging
import math
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypedDict, TypeVar

from api.errors import (
    JobCancelled,
    JobFailed,
    JobTimedOut,
    PoolError,
    PoolNotRunning,
    PoolSaturated,
    PoolStopping,
    PoolUnavailable,
    WorkerCrashed,
    WorkerOutOfMemory,
)
from api.worker import Call, Task, WorkerProcess
from imputer.errors import ImputerValueError

__all__ = ["WorkerPool", "Job", "JobState", "Call", "PoolStatus", "Task"]

logger = logging.getLogger("api.pool")

T = TypeVar("T")

_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
_context_lock = threading.Lock()

#: exit codes of a worker whose allocation failed in native code under the memory cap:
#: an abort (Rust's and C++'s allocation failure handlers) or a null pointer used
_ALLOCATION_DEATHS = (-signal.SIGABRT, -signal.SIGSEGV, -signal.SIGBUS)
#: run times kept for the expected wait of a new job
RECENT_JOBS = 50
#: seconds between the supervisor's checks of the idle workers
SUPERVISE_S = 1.0


def _describe(task: Task[Any]) -> str:
    func = getattr(task, "func", None)
    return getattr(func, "__qualname__", None) or type(task).__name__


class JobState(str, enum.Enum):
    """Where a job is in its life (the values are the words a job API would show)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class PoolStatus(TypedDict):
    """Counts for ``/readyz``."""

    started: bool
    workers: int
    alive: int
    idle: int
    busy: int
    waiting: int
    max_queue: int


#: an idle worker taken at once, or a place in the waiting line.
_Slot = WorkerProcess | asyncio.Future[WorkerProcess]


class Job(Generic[T]):
    """Handle of one submitted task (made by :meth:`WorkerPool.submit`).

    Attributes
    ----------
    task : Task
        What runs.
    timeout_s : float
        Time limit of the run (the wait for a worker is not counted).
    state : JobState
        ``queued`` until a worker takes it, then ``running``, then one of
        ``succeeded``, ``failed`` (:attr:`error` says why) or ``cancelled``.
    submitted_at, started_at, finished_at : float or None
        Wall-clock times (``time.time()``) of the transitions.
    worker_pid : int or None
        Process id of the worker that ran (or runs) the job.
    error : PoolError or None
        Why the job failed or was cancelled.
    """

    def __init__(self, task: Task[T], timeout_s: float) -> None:
        self.task = task
        self.timeout_s = timeout_s
        self.state = JobState.QUEUED
        self.submitted_at: float = time.time()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.worker_pid: int | None = None
        self.error: PoolError | None = None
        self._slot: _Slot | None = None  # held until the job's coroutine takes it
        self._task: asyncio.Task[T] | None = None

    def __repr__(self) -> str:
        return f"<Job {_describe(self.task)} {self.state.value}>"

    def done(self) -> bool:
        """True once the job has succeeded, failed or been cancelled."""
        return self._task is not None and self._task.done()

    def cancel(self) -> bool:
        """Stop the job: it leaves the waiting line, or its worker is killed and replaced.

        Returns False when the job had already finished. The job is stopped once
        :meth:`wait` returns.
        """
        if self._task is None or self._task.done():
            return False
        self._task.cancel()
        return True

    async def wait(self) -> None:
        """Return when the job has finished (cancelling the caller leaves the job alone)."""
        assert self._task is not None
        await asyncio.wait({self._task})

    async def result(self) -> T:
        """The task's value, once finished (cancelling the caller leaves the job alone).

        Raises
        ------
        PoolSaturated, PoolStopping, JobTimedOut, JobFailed, WorkerCrashed, JobCancelled
            The job's outcome when it produced no value.
        """
        await self.wait()
        assert self._task is not None
        if self._task.cancelled():  # cancelled before it could start
            raise JobCancelled()
        return self._task.result()


class WorkerPool:
    """A fixed pool of worker processes with a bounded waiting line.

    Parameters
    ----------
    n_workers : int
        Worker processes, i.e. jobs running at once.
    max_queue : int
        Most jobs waiting for a worker; one more is refused (:class:`PoolSaturated`).
        Below it, admission is by expected wait (see the module docstring).
    queue_timeout_s : float
        Longest wait for a worker (:class:`PoolSaturated` after it), unless a job
        sets its own; a job whose expected wait exceeds it is refused at once.
    retry_after_s : int
        ``retry_after`` of :class:`~api.errors.PoolUnavailable` errors.
    worker_threads : int
        BLAS/OpenMP threads in each worker (set through the environment of the
        forkserver, unless the variables are already set).
    memory_limit_mb : int
        Address-space cap of each worker in MiB (``RLIMIT_AS``); 0 for none.
    nice : int
        Niceness added to each worker process (lower CPU priority than the server).
    preload : sequence of str
        Modules the forkserver imports once, before workers are forked (e.g. the
        module defining the tasks, so each worker starts with the engines loaded).
        The forkserver is shared by every pool of the process and keeps the
        preload of the first pool started.
    """

    def __init__(
        self,
        n_workers: int,
        *,
        max_queue: int = 256,
        queue_timeout_s: float = 30.0,
        retry_after_s: int = 5,
        worker_threads: int = 1,
        memory_limit_mb: int = 0,
        nice: int = 0,
        preload: Sequence[str] = (),
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
        self.preload = list(preload)
        self._workers: list[WorkerProcess] = []
        self._idle: list[WorkerProcess] = []
        self._waiters: collections.deque[asyncio.Future[WorkerProcess]] = collections.deque()
        self._jobs: set[Job[Any]] = set()
        self._executor: ThreadPoolExecutor | None = None
        self._started = False
        self._durations: collections.deque[float] = collections.deque(maxlen=RECENT_JOBS)
        self._supervisor: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle
    def _context(self) -> Any:
        with _context_lock:
            for var in _THREAD_VARS:
                os.environ.setdefault(var, str(self.worker_threads))
            ctx = mp.get_context("forkserver")
            # this module too: workers then unpickle a Call without importing anything
            ctx.set_forkserver_preload([__name__, *self.preload])
            return ctx

    def _spawn(self, ctx: Any) -> WorkerProcess:
        return WorkerProcess(ctx, self.memory_limit_mb, self.nice)

    async def start(self) -> None:
        """Start the worker processes (in a thread: spawning may take a moment)."""
        if self._started:
            return
        # blocking pipe I/O (one thread per running job) plus kills and (re)spawns
        self._executor = ThreadPoolExecutor(
            max_workers=2 * self.n_workers + 2, thread_name_prefix="imputer-pool"
        )
        loop = asyncio.get_running_loop()
        ctx = self._context()
        workers = await loop.run_in_executor(
            self._executor, lambda: [self._spawn(ctx) for _ in range(self.n_workers)]
        )
        self._workers = list(workers)
        self._idle = list(workers)
        self._started = True
        self._supervisor = loop.create_task(self._supervise())

    async def _supervise(self) -> None:
        """Replace idle workers that died (killed from outside), every :data:`SUPERVISE_S` s."""
        while self._started:
            await asyncio.sleep(SUPERVISE_S)
            for worker in [w for w in self._idle if not w.alive()]:
                if worker in self._idle:
                    self._idle.remove(worker)
                    logger.warning("idle worker %s died; replacing it", worker.pid)
                    await asyncio.shield(self._replace(worker))

    async def stop(self) -> None:
        """Stop every worker; waiting and running jobs fail with :class:`PoolStopping`."""
        self._started = False
        if self._supervisor is not None:
            self._supervisor.cancel()
            self._supervisor = None
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_exception(self._stopping())
        workers, self._workers, self._idle = self._workers, [], []
        loop = asyncio.get_running_loop()
        if workers:
            await loop.run_in_executor(self._executor, lambda: [w.stop() for w in workers])
        pending = [j._task for j in self._jobs if j._task is not None]
        if pending:  # let them record their outcome (their workers are gone)
            await asyncio.wait(pending, timeout=15)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    # ------------------------------------------------------------------ status
    def status(self) -> PoolStatus:
        """Counts for ``/readyz``: workers alive, idle, busy, waiting and capacity."""
        return PoolStatus(
            started=self._started,
            workers=self.n_workers,
            alive=sum(1 for w in self._workers if w.alive()),
            idle=sum(1 for w in self._idle if w.alive()),  # a dead idle worker serves nobody
            busy=len(self._workers) - len(self._idle),
            waiting=len(self._waiters),
            max_queue=self.max_queue,
        )

    def ready(self) -> bool:
        """True when a new job would be accepted (started, a worker alive, room left)."""
        if not self._started:
            return False
        if not any(w.alive() for w in self._workers):
            return False
        if any(w.alive() for w in self._idle):
            return True
        return len(self._waiters) < self.max_queue and self.expected_wait(len(self._waiters) + 1) <= self.queue_timeout_s

    def expected_wait(self, position: int) -> float:
        """Seconds until a job at ``position`` in the line (1: first) gets a worker, from
        the recent run times; 0 before any job has finished."""
        if not self._durations:
            return 0.0
        mean = sum(self._durations) / len(self._durations)
        return position * mean / self.n_workers

    def worker_pids(self) -> list[int]:
        """Process ids of the current workers."""
        return [w.pid for w in self._workers if w.pid is not None]

    # ------------------------------------------------------------------ submission
    def submit(
        self, task: Task[T], *, timeout_s: float, queue_timeout_s: float | None = None
    ) -> Job[T]:
        """Admit ``task`` and return its job, which runs without anyone awaiting it.

        Call from the event loop. ``timeout_s`` limits the run; ``queue_timeout_s``
        (default: the pool's) limits the wait for a worker.

        Raises
        ------
        PoolNotRunning
            The pool is not started (or stopped).
        PoolSaturated
            Every worker is busy and ``max_queue`` jobs are already waiting.
        """
        wait_s = self.queue_timeout_s if queue_timeout_s is None else queue_timeout_s
        slot = self._reserve(wait_s)
        job: Job[T] = Job(task, timeout_s)
        job._slot = slot
        job._task = asyncio.get_running_loop().create_task(self._execute(job, wait_s))
        job._task.add_done_callback(functools.partial(self._finished, job))
        self._jobs.add(job)
        return job

    # ------------------------------------------------------------------ scheduling
    def _unavailable(self, cls: type[PoolUnavailable], message: str, retry_after: int | None = None) -> PoolUnavailable:
        return cls(message, retry_after=self.retry_after_s if retry_after is None else retry_after)

    def _stopping(self) -> PoolStopping:
        return PoolStopping("The computation service is shutting down.", retry_after=self.retry_after_s)

    def check_admission(self, wait_s: float | None = None) -> None:
        """Raise what :meth:`submit` would raise now (PoolNotRunning, PoolSaturated), without
        reserving anything: the server asks before it reads a large request body, so a
        saturated pool refuses uploads it could not run instead of buffering them."""
        if not self._started:
            raise self._unavailable(PoolNotRunning, "The computation service is not running.")
        if any(w.alive() for w in self._idle):
            return
        self._check_line(wait_s)

    def _reserve(self, wait_s: float | None = None) -> _Slot:
        """An idle worker, or a place in the waiting line (a future), or an error.

        ``wait_s`` (default: the pool's queue timeout) is the longest the job may wait: a
        job whose expected wait exceeds it is refused now rather than timed out later.
        """
        if not self._started:
            raise self._unavailable(PoolNotRunning, "The computation service is not running.")
        if self._idle:
            return self._idle.pop()
        self._check_line(wait_s)
        fut: asyncio.Future[WorkerProcess] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        return fut

    def _check_line(self, wait_s: float | None) -> None:
        """PoolSaturated unless one more job may join the waiting line."""
        if len(self._waiters) >= self.max_queue:
            raise self._unavailable(
                PoolSaturated,
                f"All {self.n_workers} workers are busy and {len(self._waiters)} requests "
                "are already waiting; retry later.",
            )
        limit = self.queue_timeout_s if wait_s is None else wait_s
        expected = self.expected_wait(len(self._waiters) + 1)
        if expected > limit:
            raise self._unavailable(
                PoolSaturated,
                f"All {self.n_workers} workers are busy and {len(self._waiters)} requests are waiting: "
                f"the expected wait of {expected:.3g} s exceeds the limit of {limit:g} s; retry later.",
                retry_after=max(1, math.ceil(expected)),
            )

    async def _claim(self, slot: _Slot, wait_s: float) -> WorkerProcess:
        """The worker of ``slot``, once one is free (at most ``wait_s`` seconds)."""
        if isinstance(slot, WorkerProcess):
            return slot
        try:
            return await asyncio.wait_for(slot, wait_s)  # type: ignore[no-any-return]
        except asyncio.TimeoutError:
            raise self._unavailable(
                PoolSaturated, f"No worker became free within {wait_s:g} s; retry later."
            ) from None
        except asyncio.CancelledError:
            self._give_back(slot)
            raise
        finally:
            self._leave_line(slot)

    def _leave_line(self, slot: _Slot) -> None:
        try:
            self._waiters.remove(slot)  # type: ignore[arg-type]
        except ValueError:
            pass

    def _give_back(self, slot: _Slot) -> None:
        """Return an unused reservation: the worker to the pool, or the place in line."""
        if isinstance(slot, WorkerProcess):
            self._release(slot)
            return
        self._leave_line(slot)
        if slot.done() and not slot.cancelled() and slot.exception() is None:
            self._release(slot.result())
        else:
            slot.cancel()

    def _release(self, worker: WorkerProcess) -> None:
        if not self._started or worker not in self._workers:
            return
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(worker)
                return
        self._idle.append(worker)

    async def _replace(self, worker: WorkerProcess) -> None:
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
            fresh = await loop.run_in_executor(self._executor, self._spawn, ctx)
        except Exception:  # noqa: BLE001 - keep serving with one slot fewer
            logger.exception("could not start a replacement worker")
            return
        if not self._started:
            await loop.run_in_executor(self._executor, fresh.stop)
            return
        self._workers.append(fresh)
        self._release(fresh)

    async def _execute(self, job: Job[T], wait_s: float) -> T:
        """The job's coroutine: wait for a worker, run the task, map the outcome."""
        slot, job._slot = job._slot, None
        assert slot is not None
        try:
            worker = await self._claim(slot, wait_s)
            while not worker.alive():  # died while idle (e.g. killed from outside): replace
                await asyncio.shield(self._replace(worker))
                worker = await self._claim(self._reserve(), wait_s)
            return await self._run_on(worker, job)
        except asyncio.CancelledError:
            raise JobCancelled() from None

    async def _run_on(self, worker: WorkerProcess, job: Job[T]) -> T:
        job.state = JobState.RUNNING
        job.started_at = time.time()
        job.worker_pid = worker.pid
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(self._executor, worker.call, job.task)
        try:
            kind, value = await asyncio.wait_for(asyncio.shield(call), job.timeout_s)
        except asyncio.TimeoutError:
            self._durations.append(job.timeout_s)
            await asyncio.shield(self._replace(worker))
            raise JobTimedOut(job.timeout_s) from None
        except asyncio.CancelledError:
            await asyncio.shield(self._replace(worker))
            raise
        self._durations.append(time.time() - job.started_at)
        if kind == "ok":
            self._release(worker)
            return value  # type: ignore[no-any-return]
        if kind == "died":
            await asyncio.shield(self._replace(worker))
            if not self._started:
                raise self._stopping()
            code = worker.proc.exitcode
            logger.error("worker %s died (exit code %s) while running %s", worker.pid, code, _describe(job.task))
            if self.memory_limit_mb > 0 and code in _ALLOCATION_DEATHS:
                raise WorkerOutOfMemory()
            raise WorkerCrashed()
        self._release(worker)
        logger.error("job %s failed in worker %s: %s", _describe(job.task), worker.pid, value)
        raise JobFailed(str(value))

    def _finished(self, job: Job[Any], task: asyncio.Task[Any]) -> None:
        """Record the job's final state (done callback of its asyncio task)."""
        self._jobs.discard(job)
        job.finished_at = time.time()
        if job._slot is not None:  # cancelled before its coroutine ever ran
            slot, job._slot = job._slot, None
            self._give_back(slot)
        error = JobCancelled() if task.cancelled() else task.exception()
        if error is None:
            job.state = JobState.SUCCEEDED
            return
        job.state = JobState.CANCELLED if isinstance(error, JobCancelled) else JobState.FAILED
        if isinstance(error, PoolError):
            job.error = error
        else:  # a bug in the pool itself: keep it visible
            logger.error("job %s ended with an unexpected error", job, exc_info=error)
