"""Read the request body with a byte limit (``IMPUTER_MAX_BODY_BYTES``) -> 413.

The limit is enforced on the bytes actually received from the ASGI ``receive``
stream, so chunked bodies (no ``Content-Length``) and lying ``Content-Length``
headers are caught too; a declared ``Content-Length`` over the limit is refused
before anything is read. Reading stops at the first chunk past the limit: at most
``limit`` bytes plus one chunk are ever held in memory.

A client that goes away during the upload (``ClientDisconnect``) is logged in one line
and answered with an unsent 499 (for the access log), not as a server error with
tracebacks.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.requests import ClientDisconnect

from api.settings import Settings, get_settings

__all__ = ["read_body", "too_large", "CLIENT_CLOSED_UPLOAD"]

logger = logging.getLogger("api")

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
) -> bytes:
    """The request body, at most ``settings.max_body_bytes`` bytes (else 413)."""
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:  # (the server rejects malformed values)
        raise too_large(limit)
    chunks: list[bytes] = []
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        logger.info("client left %s during the upload (%d bytes received)", request.url.path, received)
        raise HTTPException(
            status_code=CLIENT_CLOSED_UPLOAD, detail="The client closed the connection during the upload."
        ) from None
    return b"".join(chunks)
