"""RFC 9457 problem details (``application/problem+json``) for every error.

A problem is a JSON object ``{type, title, status, detail, instance}``; validation
failures add ``errors``, a list of ``{loc, msg, type}`` naming each offending field
(``loc`` is the path into the request, e.g. ``["body", "data", "data", 3, 1]``).
No problem body ever carries a traceback: unexpected exceptions become a generic 500
whose detail says only that the failure was logged.

The service's own errors (:mod:`api.errors`: the worker pool refusing, timing out or
losing a job) are mapped here, by class, to their status and headers
(:func:`service_problem`): 503 with ``Retry-After``, 504, or a 500 whose detail says
only that the failure was logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import JobFailed, JobTimedOut, PoolUnavailable, ServiceError, WorkerCrashed, WorkerOutOfMemory
from imputer.errors import ImputerError

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_TYPES",
    "ProblemResponse",
    "problem_body",
    "problem_response",
    "clean_validation_errors",
    "SERVICE_STATUS",
    "service_problem",
    "install_problem_handlers",
]

logger = logging.getLogger("api")

PROBLEM_MEDIA_TYPE = "application/problem+json"

#: problem ``type`` URI (relative references, documented in the README) by status.
PROBLEM_TYPES: dict[int, str] = {
    400: "/problems/bad-request",
    401: "/problems/unauthorized",
    404: "/problems/not-found",
    406: "/problems/not-acceptable",
    408: "/problems/request-timeout",
    409: "/problems/job-not-finished",
    413: "/problems/body-too-large",
    415: "/problems/unsupported-media-type",
    422: "/problems/invalid-request",
    500: "/problems/internal-error",
    503: "/problems/saturated",
    504: "/problems/timeout",
}


class ProblemResponse(JSONResponse):
    """JSON response with media type ``application/problem+json``."""

    media_type = PROBLEM_MEDIA_TYPE


#: RFC 9110 reason phrases (Python's HTTPStatus names differ across versions).
_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}


def _title(status: int) -> str:
    if status in _TITLES:
        return _TITLES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # pragma: no cover - non-standard status
        return "Error"


#: validation errors listed in a problem (a large invalid body can hold many thousands:
#: all of them made a 47.7 MB answer to a 3.3 MB body); ``error_count`` gives the total
MAX_ERRORS = 100


def problem_body(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    title: str | None = None,
    type_: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Build the JSON-ready problem object (``errors`` only when given: the first
    :data:`MAX_ERRORS` of them, with ``error_count`` the number there were)."""
    body: dict[str, Any] = {
        "type": type_ or PROBLEM_TYPES.get(status, "about:blank"),
        "title": title or _title(status),
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = [dict(e) for e in errors[:MAX_ERRORS]]
        body["error_count"] = len(errors)
    return body


def problem_response(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    title: str | None = None,
    type_: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> ProblemResponse:
    """A ``ProblemResponse`` carrying :func:`problem_body`."""
    body = problem_body(
        status, detail, instance=instance, title=title, type_=type_, errors=errors
    )
    return ProblemResponse(body, status_code=status, headers=dict(headers or {}))


_UNION_TAGS = {"float", "str", "int", "bool", "none", "list", "dict"}


def _json_loc_item(item: Any) -> str | int:
    return item if isinstance(item, int) else str(item)


def _is_union_tag(item: Any) -> bool:
    # pydantic names the union member it tried: 'float', 'list[RandomTerm]', ...
    return isinstance(item, str) and (
        item in _UNION_TAGS or "[" in item or item.startswith("constrained-")
    )


def clean_validation_errors(
    errors: Iterable[Mapping[str, Any]], prefix: Sequence[str | int] = ()
) -> list[dict[str, Any]]:
    """Reduce pydantic errors to ``{loc, msg, type}``, one per location.

    A union reports a failing value once per member, tagging ``loc`` with the member
    (``..., 3, 1, 'float'``). The tags are dropped, the first (most specific) message
    per location is kept, and a member's plain type mismatch at a location is dropped
    when another member got further (reported an error deeper inside it). The echoed
    ``input`` and ``ctx`` are never returned.
    """
    cleaned: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for err in errors:
        loc = tuple(
            _json_loc_item(x) for x in (*prefix, *err.get("loc", ())) if not _is_union_tag(x)
        )
        if loc in seen:
            continue
        seen.add(loc)
        cleaned.append({"loc": list(loc), "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))})

    # locations with an error deeper inside them: every proper prefix of a location
    # (a set, not a scan per error: a large body can carry many thousands of errors)
    outer = {tuple(e["loc"][:k]) for e in cleaned for k in range(len(e["loc"]))}
    kept = [
        e for e in cleaned if not (e["type"].endswith("_type") and tuple(e["loc"]) in outer)
    ]
    return kept or cleaned


def validation_detail(errors: Sequence[Mapping[str, Any]]) -> str:
    """One-line summary of the first few validation errors (``loc: msg; ...``)."""
    parts = [
        f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in errors[:3]
    ]
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more if parts else "The request is invalid."


async def _on_validation_error(request: Request, exc: RequestValidationError) -> ProblemResponse:
    errors = clean_validation_errors(exc.errors())  # FastAPI's, already without input/url
    return problem_response(
        422,
        validation_detail(errors),
        instance=request.url.path,
        title="Invalid request",
        errors=errors,
    )


async def _on_http_exception(request: Request, exc: StarletteHTTPException) -> ProblemResponse:
    detail = exc.detail if isinstance(exc.detail, str) else _title(exc.status_code)
    return problem_response(
        exc.status_code,
        detail,
        instance=request.url.path,
        headers=getattr(exc, "headers", None),
    )


async def _on_imputer_error(request: Request, exc: ImputerError) -> ProblemResponse:
    return problem_response(
        422, str(exc), instance=request.url.path, title="Invalid data or options"
    )


#: status of each service error class (looked up along the class's MRO).
SERVICE_STATUS: dict[type[ServiceError], int] = {
    PoolUnavailable: 503,  # not running, saturated, stopping
    JobTimedOut: 504,
    JobFailed: 500,
    WorkerCrashed: 500,
    WorkerOutOfMemory: 422,  # the data's size, under IMPUTER_WORKER_MEMORY_MB
}

_LOGGED = "The server failed to process the request; the failure has been logged."


def service_problem(exc: ServiceError) -> tuple[int, str, dict[str, str]]:
    """``(status, detail, headers)`` answering a service error.

    The messages of :mod:`api.errors` are written for clients and become the
    ``detail``; a 503 carries ``Retry-After``. A service error with no status of its
    own (e.g. :class:`~api.errors.JobCancelled`, which the synchronous endpoints never
    answer) is a 500 with the generic detail, and is logged.
    """
    status = next((SERVICE_STATUS[c] for c in type(exc).__mro__ if c in SERVICE_STATUS), None)
    if status is None:
        logger.error("service error without an HTTP mapping: %r", exc)
        return 500, _LOGGED, {}
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, PoolUnavailable) else {}
    return status, str(exc), headers


async def _on_service_error(request: Request, exc: ServiceError) -> ProblemResponse:
    status, detail, headers = service_problem(exc)
    return problem_response(status, detail, instance=request.url.path, headers=headers)


async def _on_unexpected(request: Request, exc: Exception) -> ProblemResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(500, _LOGGED, instance=request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    """Register the problem+json exception handlers on ``app``."""
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(ImputerError, _on_imputer_error)  # type: ignore[arg-type]
    app.add_exception_handler(ServiceError, _on_service_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_unexpected)
