"""``POST /v1/pool``: combine ``m`` analyses of multiply imputed data by Rubin's rules.

Why through the worker pool, although pooling is cheap: the arithmetic is
``O(m k^2)``, and a request with a handful of terms costs about 3 ms of CPU (parse,
pool, build the labelled table, encode; measured with ``PoolTask.run()``). But the
body may be up to ``IMPUTER_MAX_BODY_BYTES`` (64 MiB by default; :mod:`api.body`),
i.e. millions of numbers: two 1,200 x 1,200 covariance matrices (66 MB of JSON) took
2.0 s of CPU to parse, pool and encode (a 27 MiB answer). Run inline, those seconds
would block the event loop and every other request (health checks included); in a
worker they are bounded by ``IMPUTER_TIMEOUT_S``, counted against
``IMPUTER_MAX_CONCURRENT_JOBS`` and answered 503 when saturated, like the other
endpoints, and the event loop never touches the numbers (the design of
:mod:`api.tasks`). The price is one round trip to a worker process per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response

from api.body import read_body
from api.deps import NO_QUERY, error_responses, get_runner, no_query_with_json
from api.dispatch import answer_while_connected
from api.formats import JSON, InputKind, OutputKind, request_kind, response_kind
from api.pool import WorkerPool
from api.schemas.pool import POOL_EXAMPLE, PoolResponse
from api.security import require_api_key
from api.settings import Settings, get_settings
from api.tasks import PoolTask

router = APIRouter(prefix="/v1", tags=["pool"], dependencies=[Depends(require_api_key)])


def _json_only(content_type: Annotated[str | None, Header(include_in_schema=False)] = None) -> InputKind:
    return request_kind(content_type, ("json",))


def _json_out(accept: Annotated[str | None, Header(include_in_schema=False)] = None) -> OutputKind:
    return response_kind(accept, ("json",))


#: the request body of ``POST /v1/pool`` in the OpenAPI document (also the job's)
REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "description": "Estimates (m x k) and either variances (m x k) or covariance "
        "matrices (m x k x k) of m analyses, one per imputation.",
        "content": {JSON: {"schema": {"$ref": "#/components/schemas/PoolRequest"}, "example": POOL_EXAMPLE}},
    }
}


def pool_task(
    request: Request,
    _kind: Annotated[InputKind, Depends(_json_only)],
    body: Annotated[bytes, Depends(read_body)],
) -> PoolTask:
    """The task of a pooling request (shared by ``POST /v1/pool`` and its job); a query parameter is a
    422 naming it (``dfcom`` and the rest go in the JSON body)."""
    no_query_with_json("json", request, NO_QUERY)
    return PoolTask(body=body, instance=request.url.path)


@router.post(
    "/pool",
    response_model=PoolResponse,
    summary="Pool m analyses by Rubin's rules (as R's mice::pool)",
    openapi_extra=REQUEST_BODY,
    responses={
        200: {"description": "The pooled table (estimate, variances, df, fmi, test, interval) by term."},
        **error_responses(400, 401, 406, 408, 413, 415, 422, 500, 503, 504),
    },
)
async def pool(
    request: Request,
    _kind: Annotated[InputKind, Depends(_json_only)],
    _out: Annotated[OutputKind, Depends(_json_out)],
    task: Annotated[PoolTask, Depends(pool_task)],
    settings: Annotated[Settings, Depends(get_settings)],
    runner: Annotated[WorkerPool, Depends(get_runner)],
) -> Response:
    """Combine the estimates of `m` analyses (one per imputed data set) by Rubin's rules:
    pooled estimate, within-, between- and total variance, Barnard-Rubin degrees of
    freedom when `dfcom` is given (Rubin's 1987 df when null), riv, lambda, fmi, the
    t-test and the confidence interval of each term, as `imputer.pool` and R's
    `mice::pool` compute them. The options (`dfcom`, `conf_level`) are in the body; the endpoint takes no
    query parameters (any is a 422 naming it).
    """
    return await answer_while_connected(request, runner, task, timeout_s=settings.timeout_s)
