"""Dependencies and OpenAPI declarations shared by the routers (dispatch: :mod:`api.dispatch`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.exceptions import RequestValidationError

from api.formats import InputKind, response_kind
from api.multipart import kind_or_upload
from api.pool import WorkerPool
from api.schemas.common import Problem

__all__ = ["error_responses", "get_runner", "json_answer_only", "no_query_with_json", "table_input_kind"]


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


def table_input_kind(content_type: Annotated[str | None, Header(include_in_schema=False)] = None) -> InputKind | str:
    """The format of a table body from its ``Content-Type`` (415 for an unsupported one).

    A ``multipart/form-data`` upload answers :data:`api.multipart.MULTIPART`: its file's
    format is known once the body is read (the route's task dependency). A route declares
    this dependency itself (so that 415 comes before 406) and its task dependency
    declares it again: FastAPI computes it once per request.
    """
    return kind_or_upload(content_type)


def json_answer_only(accept: Annotated[str | None, Header(include_in_schema=False)] = None) -> None:
    """406 unless JSON is an acceptable answer (``Accept``)."""
    response_kind(accept, ("json",))


#: why query parameters sent with a JSON body are refused (they would not be read)
QUERY_WITH_JSON = (
    "not read with a JSON body, whose options go in the body itself; query parameters are for CSV and "
    "Parquet bodies"
)


def no_query_with_json(kind: str, request: Request) -> None:
    """422 naming every query parameter sent with a JSON body.

    A JSON body carries its options; the query is read only for CSV and Parquet bodies.
    Ignoring it would drop what the caller asked for in silence (``?ridge=1`` fitting
    without the prior), so the request is refused instead.
    """
    if kind == "json" and request.query_params:
        raise RequestValidationError(
            [{"loc": ("query", name), "msg": QUERY_WITH_JSON, "type": "value_error"}
             for name in dict.fromkeys(request.query_params.keys())]
        )
