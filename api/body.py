"""Read the request body with a byte limit (``IMPUTER_MAX_BODY_BYTES``) -> 413.

The limit is enforced on the bytes actually received from the ASGI ``receive``
stream, so chunked bodies (no ``Content-Length``) and lying ``Content-Length``
headers are caught too; a declared ``Content-Length`` over the limit is refused
before anything is read. Reading stops at the first chunk past the limit: at most
``limit`` bytes plus one chunk are ever held in memory.

A large body (over :data:`ADMIT_BEFORE_BYTES`, or of unknown length: chunked) is read only
if the worker pool would admit its computation now: a saturated pool answers 503 with
``Retry-After`` before the upload, instead of buffering bodies it cannot run (twelve
concurrent 60 MB uploads held the server at 1.6 GB). The computation is admitted again when
submitted, after the read. The large bodies being read or held by requests (their declared
length, or the body limit when unknown) may not pass ``IMPUTER_MAX_INFLIGHT_BODY_BYTES``
together: one more is a 503 with ``Retry-After`` before it is read. A job's body counts until
the job has run (:func:`keep_body_claim`), not only while its request lasts.

A client that sends nothing for ``IMPUTER_BODY_TIMEOUT_S`` seconds in the middle of its
body (a slow-body attack) is answered 408 and the connection closed.

A client that goes away during the upload (``ClientDisconnect``) is logged in one line
and answered with an unsent 499 (for the access log), not as a server error with
tracebacks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from starlette.requests import ClientDisconnect

from api.http import DECODING_CODING, DECODING_ERROR
from api.settings import Settings, get_settings

__all__ = ["read_body", "keep_body_claim", "too_large", "CLIENT_CLOSED_UPLOAD", "ADMIT_BEFORE_BYTES"]

logger = logging.getLogger("api")

#: bodies larger than this (bytes), or of unknown length, are read only if the pool would admit them now
ADMIT_BEFORE_BYTES = 1 << 20

#: status of a request whose client left during the upload (never seen by anyone).
CLIENT_CLOSED_UPLOAD = 499


def too_large(limit: int) -> HTTPException:
    """The 413 error for a body over ``limit`` bytes."""
    return HTTPException(
        status_code=413,
        detail=f"The request body exceeds the limit of {limit} bytes (IMPUTER_MAX_BODY_BYTES).",
        headers={"Connection": "close"},
    )


async def read_body(
    request: Request, settings: Annotated[Settings, Depends(get_settings)]
) -> AsyncIterator[bytes]:
    """The request body, at most ``settings.max_body_bytes`` bytes (else 413); a large one only
    when the pool would admit it and the bodies in flight leave room for it (else 503)."""
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:  # (the server rejects malformed values)
        raise too_large(limit)
    claim = 0
    if not declared.isdigit() or int(declared) > ADMIT_BEFORE_BYTES:
        jobs = request.url.path.startswith("/v1/jobs/")
        request.app.state.runner.check_admission(settings.jobs_queue_timeout_s if jobs else settings.queue_timeout_s)
        claim = int(declared) if declared.isdigit() else limit  # unknown length: it may reach the limit
        in_flight = getattr(request.app.state, "body_bytes_in_flight", 0)
        if in_flight + claim > settings.max_inflight_body_bytes:
            raise HTTPException(
                status_code=503,
                detail=f"The server holds {in_flight:,} bytes of large request bodies already; this one "
                f"({'of unknown length' if not declared.isdigit() else f'{claim:,} bytes'}) would pass "
                f"IMPUTER_MAX_INFLIGHT_BODY_BYTES ({settings.max_inflight_body_bytes:,}); retry later.",
                headers={"Retry-After": str(settings.retry_after_s)},
            )
        request.app.state.body_bytes_in_flight = in_flight + claim
    request.state.body_claim = claim
    try:
        yield await _read(request, settings, limit)
    finally:
        _give_back(request.app, request.state.body_claim)
        request.state.body_claim = 0


def _give_back(app: Any, claim: int) -> None:
    if claim:
        app.state.body_bytes_in_flight -= claim


def keep_body_claim(request: Request) -> Callable[[], None]:
    """Take over the request's claim on the large bodies in flight (a job keeps its body until
    it has run, beyond its request): the returned function gives it back, once."""
    claim = getattr(request.state, "body_claim", 0)
    request.state.body_claim = 0
    app = request.app
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            _give_back(app, claim)

    return release


async def _read(request: Request, settings: Settings, limit: int) -> bytes:
    chunks: list[bytes] = []
    received = 0
    try:
        stream = request.stream().__aiter__()
        while True:
            try:
                chunk = await asyncio.wait_for(stream.__anext__(), settings.body_timeout_s)
            except StopAsyncIteration:
                break
            except asyncio.TimeoutError:
                logger.info("client stalled %s during the upload (%d bytes received)", request.url.path, received)
                raise HTTPException(
                    status_code=408,
                    detail=f"The request body stalled: nothing received for {settings.body_timeout_s:g} s "
                    "(IMPUTER_BODY_TIMEOUT_S).",
                    headers={"Connection": "close"},
                ) from None
            received += len(chunk)
            if received > limit:
                raise too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        logger.info("client left %s during the upload (%d bytes received)", request.url.path, received)
        raise HTTPException(
            status_code=CLIENT_CLOSED_UPLOAD, detail="The client closed the connection during the upload."
        ) from None
    failure = request.scope.get(DECODING_ERROR)
    if failure is not None:  # a Content-Encoding body that did not decompress (api.http)
        raise HTTPException(
            status_code=400,
            detail=f"The {request.scope.get(DECODING_CODING)} body (Content-Encoding) is {failure}.",
        )
    return b"".join(chunks)
