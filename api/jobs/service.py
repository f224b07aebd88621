"""The job service of one server process: submit to the worker pool, record outcomes, sweep.

A job is a row in the store (:mod:`api.jobs.store`) and, while it runs here, a
:class:`~api.pool.Job` of this process's worker pool. :meth:`JobService.submit`
inserts the row (``queued``) and submits a :class:`~api.jobs.run.JobTask`; the worker
marks it ``running`` and reports progress; a watcher coroutine awaits the pool job and
records its outcome: ``succeeded`` with the compressed answers, ``failed`` with the
problem document (the 422 of invalid data, the 504 of the time limit, the 503 of a
server shutting down...), or ``cancelled``. The job outlives the HTTP request that
created it; only :meth:`cancel` stops it (its worker process is killed and replaced).

The sweep (every ``IMPUTER_JOBS_HEARTBEAT_S`` seconds, and once when the store is
opened) refreshes the heartbeat of this instance's active jobs, cancels those another
server instance was asked to cancel (``DELETE`` reached a server that does not run
them), marks ``failed`` the active jobs of a server that missed three heartbeats (it
died: a restarted server, or any other one sharing the database, reports them failed
with the reason, as a server stopped gracefully does for its own running jobs; jobs are
not re-queued because their request bodies are not stored) and deletes the jobs that
finished more than ``IMPUTER_JOBS_TTL_S`` seconds ago.

The store is opened at start-up when the database already exists (a SQLite file that
is there, or any other URL), otherwise on the first use of the job API, so a server
whose job API is never used creates no file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from api.errors import JobCancelled, PoolError
from api.jobs.codec import decompress
from api.jobs.run import JobTask
from api.jobs.store import CANCELLED, FAILED, SUCCEEDED, JobRow, JobStore, Output, absolute_url, sqlite_file
from api.pool import Job, WorkerPool
from api.problems import problem_body, service_problem

__all__ = ["JobService", "new_job_id", "job_path", "ORPHAN_DETAIL"]

logger = logging.getLogger("api.jobs")

#: detail of the problem of a job whose server stopped (died) while it was queued or running.
ORPHAN_DETAIL = (
    "The server running this job stopped before it finished (it missed three heartbeats); "
    "the job was not re-run: submit it again."
)


def new_job_id() -> str:
    """A random 128-bit id (22 URL-safe characters)."""
    return secrets.token_urlsafe(16)


def job_path(job_id: str) -> str:
    """The job's URL path (its ``Location`` and the ``instance`` of its problems)."""
    return f"/v1/jobs/{job_id}"


class JobService:
    """Jobs of one server process (created and stopped by the app's lifespan).

    Parameters
    ----------
    url : str
        SQLAlchemy URL of the store (``IMPUTER_JOBS_URL``).
    pool : WorkerPool
        The worker pool the jobs run in (shared with the synchronous endpoints).
    ttl_s, timeout_s, queue_timeout_s, heartbeat_s : float
        ``IMPUTER_JOBS_TTL_S``, ``_TIMEOUT_S``, ``_QUEUE_TIMEOUT_S``, ``_HEARTBEAT_S``.
    """

    def __init__(
        self,
        url: str,
        pool: WorkerPool,
        *,
        ttl_s: float = 86400.0,
        timeout_s: float = 3600.0,
        queue_timeout_s: float = 600.0,
        heartbeat_s: float = 10.0,
    ) -> None:
        self.url = absolute_url(url)
        self.pool = pool
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self.queue_timeout_s = queue_timeout_s
        self.heartbeat_s = heartbeat_s
        self.instance = secrets.token_hex(8)
        self._store: JobStore | None = None
        self._open_lock = asyncio.Lock()
        self._local: dict[str, Job[Any]] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._sweeper: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Open the store now if the database exists (else on first use)."""
        path = sqlite_file(self.url)
        if path is None or path.exists():
            try:
                await self.store()
            except Exception:  # noqa: BLE001 - the synchronous endpoints work without it
                logger.exception("the job store %s could not be opened; retried on first use", self.url)

    async def store(self) -> JobStore:
        """The store, opened (tables created, one sweep run, the sweep loop started) on first use."""
        if self._store is not None:
            return self._store
        async with self._open_lock:
            if self._store is None:
                store = await asyncio.to_thread(JobStore, self.url)
                self._store = store
                await self.sweep()
                self._sweeper = asyncio.get_running_loop().create_task(self._sweep_loop())
        return self._store

    async def stop(self) -> None:
        """Stop the sweep and wait for the watchers (call after the pool has stopped)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        if self._watchers:
            await asyncio.wait(list(self._watchers.values()), timeout=15)

    # ------------------------------------------------------------------ jobs
    async def submit(
        self, kind: str, task: Any, owner: str, job_id: str, on_done: Callable[[], None] | None = None
    ) -> JobRow:
        """Record a queued job ``job_id`` running ``task`` and hand it to the pool; ``on_done`` is
        called once the job has finished (whatever its outcome) and been recorded.

        Raises
        ------
        api.errors.PoolUnavailable
            The pool refused it (no row is left behind).
        """
        store = await self.store()
        row = await asyncio.to_thread(store.create, job_id, owner=owner, kind=kind, instance=self.instance)
        try:
            job = self.pool.submit(
                JobTask(task, job_id, self.url),
                timeout_s=self.timeout_s,
                queue_timeout_s=self.queue_timeout_s,
            )
        except PoolError:
            await asyncio.to_thread(store.delete, job_id)
            raise
        self._local[job_id] = job
        watcher = asyncio.get_running_loop().create_task(self._watch(job_id, job))
        self._watchers[job_id] = watcher
        watcher.add_done_callback(lambda _: self._watchers.pop(job_id, None))
        if on_done is not None:
            watcher.add_done_callback(lambda _: on_done())
        return row

    async def _watch(self, job_id: str, job: Job[Any]) -> None:
        """Record the outcome of ``job`` once it has finished."""
        status, error, answers = SUCCEEDED, None, []
        try:
            answers = await job.result()
        except JobCancelled:
            status = CANCELLED
        except PoolError as exc:
            code, detail, _ = service_problem(exc)
            status, error = FAILED, problem_body(code, detail, instance=job_path(job_id))
        except Exception:  # noqa: BLE001 - a bug: keep it visible, fail the job
            logger.exception("job %s: unexpected error", job_id)
            status = FAILED
            error = problem_body(500, "The computation failed unexpectedly; the failure has been logged.",
                                 instance=job_path(job_id))
        else:
            main = next(a for a in answers if a.format == "json")
            if main.status != 200:
                status, error = FAILED, json.loads(decompress(main.payload, main.size))
                error["instance"] = job_path(job_id)
                answers = []
        try:
            store = await self.store()
            await asyncio.to_thread(store.finish, job_id, status, error=error, answers=answers)
        except Exception:  # noqa: BLE001 - the sweep marks it failed later (no heartbeat)
            logger.exception("job %s: could not record its outcome", job_id)
        finally:
            self._local.pop(job_id, None)

    async def get(self, job_id: str, owner: str, ttl_s: float | None = None) -> JobRow | None:
        """The job's row if it exists, belongs to ``owner`` and has not expired (else None;
        an expired job is deleted on the way)."""
        store = await self.store()
        row = await asyncio.to_thread(store.get, job_id)
        if row is None or not secrets.compare_digest(row.owner, owner):
            return None
        ttl = self.ttl_s if ttl_s is None else ttl_s
        if row.finished_at is not None and row.finished_at + ttl < time.time():
            await asyncio.to_thread(store.delete, job_id)
            return None
        return row

    async def formats(self, job_id: str) -> list[str]:
        """The formats in which the job's answer is stored."""
        store = await self.store()
        return await asyncio.to_thread(store.formats, job_id)

    async def output(self, job_id: str, fmt: str) -> Output | None:
        """The stored answer in ``fmt`` (None if there is none)."""
        store = await self.store()
        return await asyncio.to_thread(store.output, job_id, fmt)

    async def cancel(self, job_id: str) -> JobRow | None:
        """Stop an active job: here its worker is killed; on another server it is flagged,
        and that server cancels it at its next sweep. The row afterwards."""
        store = await self.store()
        job = self._local.get(job_id)
        if job is not None:
            job.cancel()
            watcher = self._watchers.get(job_id)
            if watcher is not None:
                await asyncio.wait({watcher})
        else:
            await asyncio.to_thread(store.request_cancel, job_id)
        return await asyncio.to_thread(store.get, job_id)

    async def delete(self, job_id: str) -> None:
        """Remove a finished job and its answers."""
        store = await self.store()
        await asyncio.to_thread(store.delete, job_id)

    def running_here(self, job_id: str) -> bool:
        """True while this process runs (or queues) the job."""
        return job_id in self._local

    # ------------------------------------------------------------------ the sweep
    async def sweep(self) -> None:
        """Heartbeat, cancellations asked elsewhere, orphaned jobs failed, expired jobs deleted."""
        store = self._store
        if store is None:
            return
        now = time.time()
        flagged = await asyncio.to_thread(store.heartbeat, self.instance)
        for job_id in flagged:
            job = self._local.get(job_id)
            if job is not None:
                job.cancel()
        orphan = problem_body(500, ORPHAN_DETAIL, title="Server stopped")
        failed = await asyncio.to_thread(store.fail_orphans, now - 3 * self.heartbeat_s, orphan, exclude=self.instance)
        if failed:
            logger.warning("%d job(s) of a stopped server marked failed", failed)
        await asyncio.to_thread(store.expire, now - self.ttl_s)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self.sweep()
            except Exception:  # noqa: BLE001 - a database hiccup: try again next period
                logger.exception("the job sweep failed")

