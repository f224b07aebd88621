"""``POST /v1/diagnostics``: missingness patterns, per-column missingness and Little's MCAR test.

The table comes as for ``POST /v1/impute`` (JSON split orientation with options, CSV or
Parquet with the options as query parameters, or one such file uploaded as
``multipart/form-data``) and is read and diagnosed in the worker
pool (:class:`api.tasks.DiagnosticsTask`); the answer is JSON only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from api.body import read_body
from api.deps import check_query, error_responses, get_runner, json_answer_only, table_input_kind
from api.dispatch import answer_while_connected
from api.formats import CSV, JSON, PARQUET, InputKind
from api.multipart import MULTIPART, UPLOAD_CONTENT, unwrap_upload
from api.pool import WorkerPool
from api.schemas.diagnostics import DiagnosticsQuery, DiagnosticsResponse
from api.security import require_api_key
from api.settings import Settings, get_settings
from api.tasks import DiagnosticsTask

router = APIRouter(prefix="/v1", tags=["diagnostics"], dependencies=[Depends(require_api_key)])


_EXAMPLE_ROWS = [[41, 190, 7.4], [36, 118, 8.0], [12, 149, 12.6], [18, 313, 11.5], [None, None, 14.3],
                 [28, None, 14.9], [23, 299, 8.6], [19, 99, 13.8], [8, 19, 20.1], [None, 194, 8.6]]

#: the request body of ``POST /v1/diagnostics`` in the OpenAPI document (also the job's)
REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "description": "The incomplete table: JSON (split orientation, with options), "
        "CSV (header row; options as query parameters) or Parquet, or one such file uploaded as a form.",
        "content": {
            JSON: {
                "schema": {"$ref": "#/components/schemas/DiagnosticsRequest"},
                "example": {
                    "data": {"columns": ["Ozone", "Solar.R", "Wind"], "data": _EXAMPLE_ROWS},
                    "options": {"columns": ["Ozone", "Solar.R", "Wind"]},
                },
            },
            CSV: {
                "schema": {"type": "string"},
                "example": "Ozone,Solar.R,Wind\n"
                + "".join(",".join("" if v is None else f"{v:g}" for v in row) + "\n" for row in _EXAMPLE_ROWS),
            },
            PARQUET: {"schema": {"type": "string", "format": "binary"}},
            **UPLOAD_CONTENT,
        },
    }
}


def diagnostics_task(
    request: Request,
    query: Annotated[DiagnosticsQuery, Query()],
    kind: Annotated[InputKind | str, Depends(table_input_kind)],
    body: Annotated[bytes, Depends(read_body)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> DiagnosticsTask:
    """The task of a diagnostics request (shared by ``POST /v1/diagnostics`` and its job); a
    ``multipart/form-data`` upload is its one file (:mod:`api.multipart`)."""
    if kind == MULTIPART:
        kind, body = unwrap_upload(request.headers.get("content-type", ""), body)
    check_query(kind, request, DiagnosticsQuery)
    return DiagnosticsTask(
        kind=kind,  # type: ignore[arg-type]
        body=body,
        query=query.model_dump(),
        instance=request.url.path,
        max_columns=settings.max_columns,
    )


@router.post(
    "/diagnostics",
    response_model=DiagnosticsResponse,
    summary="Missingness patterns and Little's MCAR test",
    openapi_extra=REQUEST_BODY,
    responses={
        200: {"description": "The pattern table, the missing cells per column and the MCAR test."},
        **error_responses(400, 401, 406, 408, 413, 415, 422, 500, 503, 504),
    },
)
async def diagnostics(
    request: Request,
    _kind: Annotated[InputKind | str, Depends(table_input_kind)],  # 415 before 406 (the task's, cached)
    _: Annotated[None, Depends(json_answer_only)],
    task: Annotated[DiagnosticsTask, Depends(diagnostics_task)],
    settings: Annotated[Settings, Depends(get_settings)],
    runner: Annotated[WorkerPool, Depends(get_runner)],
) -> Response:
    """Look at a table's missingness before imputing it.

    Returns the missingness pattern table (one row per combination of observed (1) and
    missing (0) modelled columns with its row count, most frequent first, as mice's
    `md.pattern`), the missing cells of each column, and Little's (1988) chi-square test of
    missing completely at random at the maximum-likelihood (EM) estimate. A small
    `p_value` says the data are not MCAR; a large one does not show that they are, and no
    test can tell missing at random from missing not at random. When the test cannot be
    run (e.g. a column with no observed value) `mcar` is null and `mcar_error` says why.
    """
    return await answer_while_connected(request, runner, task, timeout_s=settings.timeout_s)
