"""``POST /v1/diagnostics/disperse``: EM from overdispersed starts, to see whether the maximum is unique.

The table comes as for ``POST /v1/diagnostics`` (JSON split orientation with options, CSV
or Parquet with the options as query parameters, or one such file uploaded as
``multipart/form-data``); it is read and the runs are made in the worker pool
(:class:`api.tasks.DisperseTask`) under the service's time limit (``IMPUTER_TIMEOUT_S``; runs
estimated to exceed it are refused at once, :func:`api.admission.check_disperse_cost`);
the answer is JSON only, ``Dispersion.to_dict()`` and the runs' warnings.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from api.body import read_body
from api.deps import check_query, error_responses, get_runner, json_answer_only, table_input_kind
from api.dispatch import answer_while_connected
from api.formats import CSV, JSON, PARQUET, InputKind
from api.multipart import MULTIPART, UPLOAD_CONTENT, unwrap_upload
from api.pool import WorkerPool
from api.schemas.disperse import DisperseQuery, DisperseResponse
from api.security import require_api_key
from api.settings import Settings, get_settings
from api.tasks import DisperseTask

__all__ = ["REQUEST_BODY", "disperse_task", "router"]

router = APIRouter(prefix="/v1", tags=["diagnostics"], dependencies=[Depends(require_api_key)])


#: Murray's (1977) twelve rows: two maxima (correlation +-1/2) and a saddle point (0) where the
#: engine's own start stays
_MURRAY = [[1, 1], [1, -1], [-1, 1], [-1, -1], [2, None], [2, None], [-2, None], [-2, None],
           [None, 2], [None, 2], [None, -2], [None, -2]]
#: the OpenAPI example (also README's curl example)
EXAMPLE = {"data": {"columns": ["x1", "x2"], "data": _MURRAY}, "options": {"starts": 8, "seed": 1}}

#: the request body of ``POST /v1/diagnostics/disperse`` in the OpenAPI document (also the job's)
REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "description": "The incomplete table: JSON (split orientation, with options), "
        "CSV (header row; options as query parameters) or Parquet, or one such file uploaded as a form.",
        "content": {
            JSON: {"schema": {"$ref": "#/components/schemas/DisperseRequest"}, "example": EXAMPLE},
            CSV: {
                "schema": {"type": "string"},
                "example": "x1,x2\n" + "".join(",".join("" if v is None else str(v) for v in row) + "\n" for row in _MURRAY),
            },
            PARQUET: {"schema": {"type": "string", "format": "binary"}},
            **UPLOAD_CONTENT,
        },
    }
}


def disperse_task(
    request: Request,
    query: Annotated[DisperseQuery, Query()],
    kind: Annotated[InputKind | str, Depends(table_input_kind)],
    body: Annotated[bytes, Depends(read_body)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> DisperseTask:
    """The task of a dispersion request (shared by ``POST /v1/diagnostics/disperse`` and its job); a
    ``multipart/form-data`` upload is its one file (:mod:`api.multipart`)."""
    if kind == MULTIPART:
        kind, body = unwrap_upload(request.headers.get("content-type", ""), body)
    check_query(kind, request, DisperseQuery)
    return DisperseTask(
        kind=kind,  # type: ignore[arg-type]
        body=body,
        query=query.model_dump(),
        instance=request.url.path,
        max_columns=settings.max_columns,
    )


@router.post(
    "/diagnostics/disperse",
    response_model=DisperseResponse,
    summary="EM from overdispersed starts: is the maximum unique?",
    openapi_extra=REQUEST_BODY,
    responses={
        200: {"description": "Where each run ended, the distinct end points, the best run's estimate."},
        **error_responses(400, 401, 406, 408, 413, 415, 422, 500, 503, 504),
    },
)
async def disperse(
    request: Request,
    _kind: Annotated[InputKind | str, Depends(table_input_kind)],  # 415 before 406 (the task's, cached)
    _: Annotated[None, Depends(json_answer_only)],
    task: Annotated[DisperseTask, Depends(disperse_task)],
    settings: Annotated[Settings, Depends(get_settings)],
    runner: Annotated[WorkerPool, Depends(get_runner)],
) -> Response:
    """Fit the multivariate normal by EM from several starting values and compare where the runs end.

    EM stops at a stationary point of the log-likelihood (or log-posterior): a local
    maximum, or a saddle point when it starts on one of the objective's symmetries. Run 1
    starts from the engine's own starting values (those of `POST /v1/impute`), runs 2 to
    `starts` from overdispersed ones: drawn around those starting values (`around`
    "start", the default: the runs take other paths and find other maxima where there are
    any) or around run 1's estimate (`around` "estimate", Amelia's `disperse`).
    Runs whose estimates differ by at most `atol` standard deviations reached the same
    point. `unique` is true when every run converged to one point; otherwise `n_points`
    distinct points were found and `runs` says which run reached which (`point`, 1 = the
    best), its `gap` in objective and its `distance` from the best estimate. Runs that did
    not converge within `max_iter` have `point` 0 and a warning. The seed is returned:
    send it back to repeat the runs.

    Runs whose estimated time exceeds the time limit are refused at once (422); submit
    them as a job (`POST /v1/jobs/diagnostics/disperse`, the same body).
    """
    task = replace(task, time_limit_s=settings.timeout_s)  # cost admission (not for jobs)
    return await answer_while_connected(request, runner, task, timeout_s=settings.timeout_s)
