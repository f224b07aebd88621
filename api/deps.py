"""Dependencies and OpenAPI declarations shared by the routers (dispatch: :mod:`api.dispatch`)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from api.formats import InputKind, response_kind
from api.multipart import kind_or_upload
from api.pool import WorkerPool
from api.schemas.common import Problem

__all__ = [
    "check_query", "error_responses", "get_runner", "json_answer_only", "no_query_with_json", "table_input_kind",
    "unknown_query_refused",
]


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


def error_responses(
    *statuses: int, descriptions: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries (problem+json) for the given statuses (``descriptions``: what a
    status means on this route, where it is not the usual meaning)."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description = (descriptions or {}).get(status, _DESCRIPTIONS[status])
        entry: dict[str, Any] = {"model": Problem, "description": description}
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


#: why query parameters are refused by the endpoints that take a JSON body only (/v1/mixed, /v1/pool)
NO_QUERY = "not read: this endpoint takes no query parameters; its options go in the JSON body"


def no_query_with_json(kind: str, request: Request, why: str = QUERY_WITH_JSON) -> None:
    """422 naming every query parameter sent with a JSON body.

    A JSON body carries its options; the query is read only for CSV and Parquet bodies.
    Ignoring it would drop what the caller asked for in silence (``?ridge=1`` fitting
    without the prior), so the request is refused instead. ``why`` is each error's message
    (:data:`NO_QUERY` for an endpoint that takes JSON bodies only).
    """
    if kind == "json" and request.query_params:
        raise RequestValidationError(
            [{"loc": ("query", name), "msg": why, "type": "value_error"}
             for name in dict.fromkeys(request.query_params.keys())]
        )


def _unknown_message(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"unknown query parameter (did you mean {close[0]!r}?)"
    return f"unknown query parameter; this endpoint reads {', '.join(known)}"


def unknown_query_refused(request: Request, model: type[BaseModel]) -> None:
    """422 naming every query parameter that is not a field of ``model`` (the route's query model).

    Ignoring it would fit with the default in silence what the caller meant to set
    (``?rigde=5``); the message suggests the closest known name, else lists them.
    """
    known = list(model.model_fields)
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in model.model_fields]
    if unknown:
        raise RequestValidationError(
            [{"loc": ("query", name), "msg": _unknown_message(name, known), "type": "extra_forbidden"}
             for name in unknown]
        )


#: the query parameters that only a CSV body reads, and why a Parquet body does not
CSV_ONLY = {
    "sep": "CSV only: a Parquet body has no field separator; leave sep out",
    "decimal": "CSV only: a Parquet body holds typed numbers, not text with a decimal mark; leave decimal out",
    "na_values": "CSV only: a Parquet body's missing cells are typed nulls, not text markers; leave na_values "
    "out (write the missing cells as nulls)",
}


def check_query(kind: str, request: Request, model: type[BaseModel]) -> None:
    """The query rules of a route taking a table (JSON, CSV or Parquet) whose query is ``model``.

    With a JSON body, every query parameter is refused (:func:`no_query_with_json`); with
    a CSV or Parquet body, every one that is not a field of ``model``
    (:func:`unknown_query_refused`), and with a Parquet body the CSV parse options
    (:data:`CSV_ONLY`: they would not be read). Called by the route's task dependency once the body's
    format is known (after a ``multipart/form-data`` upload is unwrapped).
    """
    no_query_with_json(kind, request)
    unknown_query_refused(request, model)
    if kind == "parquet":
        sent = [name for name in CSV_ONLY if name in request.query_params]
        if sent:
            raise RequestValidationError(
                [{"loc": ("query", name), "msg": CSV_ONLY[name], "type": "value_error"} for name in sent]
            )
