"""Dispatch policy of the synchronous endpoints: a job lives as long as its HTTP client waits.

The pool (:mod:`api.pool`) runs jobs whatever happens to whoever submitted them. This
module ties a job to its request: :func:`answer_while_connected` submits the task,
answers with its ``(status, media type, body, headers)`` when it finishes, and cancels it for
real when the client disconnects first (the job leaves the waiting line, or its
worker process is killed and replaced), so clients that give up (and retry) do not
pile up computations nobody will read.

An asynchronous job API takes the opposite policy on the same pool: it calls
``pool.submit(task, timeout_s=...)``, keeps the :class:`~api.pool.Job` (its state,
timestamps and ``await job.result()``) beyond the request, and cancels only when
asked to (``job.cancel()``).

Refusals and failures (:mod:`api.errors`) propagate to the problem+json handlers of
:mod:`api.problems`.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import Request, Response

from api.pool import Task, WorkerPool
from api.tasks import JobOutput

__all__ = ["CLIENT_CLOSED", "answer_while_connected"]

logger = logging.getLogger("api")

#: status logged (never seen by anyone) when the client went away before the answer.
CLIENT_CLOSED = 499


async def _client_gone(request: Request) -> None:
    """Return when the client disconnects (the body has been read already)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def answer_while_connected(
    request: Request, pool: WorkerPool, task: Task[JobOutput], *, timeout_s: float
) -> Response:
    """Run ``task`` in the pool and answer with its output, unless the client leaves first.

    Parameters
    ----------
    request : Request
        The request whose client must stay connected (its body already read).
    pool : WorkerPool
        Where the task runs.
    task : Task[JobOutput]
        Returns a :class:`~api.tasks.JobOutput` (e.g. an :class:`~api.tasks.ImputeTask`).
    timeout_s : float
        Time limit of the run.

    Returns
    -------
    Response
        The task's answer, or an unsent ``499`` (for the access log) when the client
        disconnected and the job was stopped.

    Raises
    ------
    api.errors.PoolError
        Refused (503), timed out (504) or failed (500): answered by :mod:`api.problems`.
    """
    job = pool.submit(task, timeout_s=timeout_s)
    finished = asyncio.ensure_future(job.wait())
    gone = asyncio.ensure_future(_client_gone(request))
    try:
        await asyncio.wait({finished, gone}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # the request itself is being torn down
        job.cancel()
        raise
    finally:
        gone.cancel()
        finished.cancel()
    if not job.done():
        job.cancel()
        await job.wait()
        logger.info("client left %s before the answer; its job was stopped", request.url.path)
        return Response(status_code=CLIENT_CLOSED)
    output: JobOutput = await job.result()  # raises the pool's errors
    return Response(output.body, status_code=output.status, media_type=output.media_type, headers=dict(output.headers))
