"""Dependencies, job dispatch and OpenAPI declarations shared by the routers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, Request, Response

from api.jobs import JobRunner
from api.schemas.common import Problem

__all__ = ["get_runner", "error_responses", "run_in_worker", "CLIENT_CLOSED"]

logger = logging.getLogger("api")

#: status logged (never seen by anyone) when the client went away before the answer.
CLIENT_CLOSED = 499


def get_runner(request: Request) -> JobRunner:
    """The application's job runner (created by the lifespan in :mod:`api.main`)."""
    return request.app.state.runner  # type: ignore[no-any-return]


async def _client_gone(request: Request) -> None:
    """Return when the client disconnects (the body has been read already)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def run_in_worker(
    request: Request,
    runner: JobRunner,
    func: Callable[..., tuple[int, str, bytes]],
    *args: Any,
    timeout_s: float,
) -> Response:
    """Run a task in a worker and answer with its ``(status, media_type, body)``.

    If the client disconnects first, the job is abandoned for real: it leaves the
    waiting line, or its worker process is killed and replaced, so clients that give
    up (and retry) do not pile up computations nobody will read.
    """
    job = asyncio.ensure_future(runner.run(func, *args, timeout_s=timeout_s))
    watch = asyncio.ensure_future(_client_gone(request))
    try:
        await asyncio.wait({job, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
    if not job.done():
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError, HTTPException):
            await job
        logger.info("client left %s before the answer; its job was stopped", request.url.path)
        return Response(status_code=CLIENT_CLOSED)
    status, media, payload = job.result()  # re-raises 503/504/500 as HTTPException
    return Response(payload, status_code=status, media_type=media)


_DESCRIPTIONS = {
    401: "X-API-Key missing or wrong (only when IMPUTER_API_KEYS is set).",
    406: "The Accept header admits none of the available formats.",
    413: "Request body over IMPUTER_MAX_BODY_BYTES.",
    415: "Unsupported Content-Type.",
    422: "Invalid data or options (field location in `errors`, engine messages in `detail`).",
    500: "Unexpected failure (logged; no details returned).",
    503: "Saturated: all workers busy and the waiting line full (see Retry-After).",
    504: "The computation exceeded IMPUTER_TIMEOUT_S and was stopped.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries (problem+json) for the given statuses."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": Problem, "description": _DESCRIPTIONS[status]}
        if status == 503:
            entry["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before retrying.",
                    "schema": {"type": "integer"},
                }
            }
        out[status] = entry
    return out
