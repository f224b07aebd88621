"""Dependencies and OpenAPI declarations shared by the routers (dispatch: :mod:`api.dispatch`)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from api.pool import WorkerPool
from api.schemas.common import Problem

__all__ = ["get_runner", "error_responses"]


def get_runner(request: Request) -> WorkerPool:
    """The application's worker pool (created by the lifespan in :mod:`api.main`)."""
    return request.app.state.runner  # type: ignore[no-any-return]


_DESCRIPTIONS = {
    400: "Malformed request: both Content-Length and Transfer-Encoding, a Content-Encoding body that does "
    "not decompress, or a multipart/form-data body without its boundary or parts.",
    401: "X-API-Key missing or wrong (only when IMPUTER_API_KEYS is set).",
    404: "No such job: unknown, expired, deleted, or created with another API key.",
    409: "The job has no result: it is queued or running (retry after Retry-After), or was cancelled.",
    408: "The request body stalled for IMPUTER_BODY_TIMEOUT_S; the connection is closed.",
    406: "The Accept header admits none of the available formats.",
    413: "Request body over IMPUTER_MAX_BODY_BYTES.",
    415: "Unsupported Content-Type.",
    422: "Invalid data or options (field location in `errors`, engine messages in `detail`).",
    500: "Unexpected failure (logged; no details returned).",
    503: "Saturated: all workers busy and the waiting line full, or no worker free in time; "
    "also while the pool is not running or stopping (see Retry-After).",
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
