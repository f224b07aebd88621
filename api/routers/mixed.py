"""``POST /v1/mixed`` (matrix form) and ``POST /v1/mixed/frame`` (table form): EM-REML mixed models."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response

from api.body import read_body
from api.deps import error_responses, get_runner
from api.dispatch import answer_while_connected
from api.formats import JSON, InputKind, OutputKind, request_kind, response_kind
from api.pool import WorkerPool
from api.schemas.mixed import MixedResponse
from api.security import require_api_key
from api.settings import Settings, get_settings
from api.tasks import MixedFrameTask, MixedTask

router = APIRouter(prefix="/v1", tags=["mixed"], dependencies=[Depends(require_api_key)])


def _json_only(content_type: Annotated[str | None, Header(include_in_schema=False)] = None) -> InputKind:
    return request_kind(content_type, ("json",))


def _json_out(accept: Annotated[str | None, Header(include_in_schema=False)] = None) -> OutputKind:
    return response_kind(accept, ("json",))


def _body(model: str, description: str, example: dict[str, object]) -> dict[str, object]:
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                JSON: {"schema": {"$ref": f"#/components/schemas/{model}"}, "example": example}
            },
        }
    }


_MATRIX_EXAMPLE = {
    "y": [10.1, 11.3, 9.8, None, 14.2, 15.0, 13.1, 12.2, 12.9],
    "X": [[1.0]] * 9,
    "ZETA": {"batch": {"Z": [[1, 0, 0], [1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0],
                             [0, 0, 1], [0, 0, 1], [0, 0, 1]]}},
    "options": {"method": "REML"},
}
_FRAME_EXAMPLE = {
    "data": {
        "columns": ["Batch", "Yield"],
        "data": [["A", 1545], ["A", 1440], ["A", 1440], ["B", 1540], ["B", 1555], ["B", None],
                 ["C", 1595], ["C", 1550], ["C", 1605], ["D", 1445], ["D", 1440], ["D", 1595]],
    },
    "response": "Yield",
    "random": ["Batch"],
    "options": {"method": "REML"},
}


_ERRORS = error_responses(401, 406, 413, 415, 422, 500, 503, 504)


@router.post(
    "/mixed",
    response_model=MixedResponse,
    summary="Fit a mixed model (matrix form)",
    openapi_extra=_body(
        "MixedRequest", "Response y, fixed design X and random terms ZETA.", _MATRIX_EXAMPLE
    ),
    responses={200: {"description": "Variance components, fixed and random effects, predictions."}, **_ERRORS},
)
async def mixed(
    request: Request,
    _kind: Annotated[InputKind, Depends(_json_only)],
    _out: Annotated[OutputKind, Depends(_json_out)],
    body: Annotated[bytes, Depends(read_body)],
    settings: Annotated[Settings, Depends(get_settings)],
    runner: Annotated[WorkerPool, Depends(get_runner)],
) -> Response:
    """Fit `y = X b + sum_k Z_k u_k + e` by EM-REML (or ML) and predict the missing `y`."""
    task = MixedTask(body=body, instance=request.url.path)
    return await answer_while_connected(request, runner, task, timeout_s=settings.timeout_s)


@router.post(
    "/mixed/frame",
    response_model=MixedResponse,
    summary="Fit a mixed model (table form)",
    openapi_extra=_body(
        "MixedFrameRequest",
        "A table plus the response, fixed-effect and grouping column names.",
        _FRAME_EXAMPLE,
    ),
    responses={200: {"description": "Variance components, fixed and random effects, predictions."}, **_ERRORS},
)
async def mixed_frame(
    request: Request,
    _kind: Annotated[InputKind, Depends(_json_only)],
    _out: Annotated[OutputKind, Depends(_json_out)],
    body: Annotated[bytes, Depends(read_body)],
    settings: Annotated[Settings, Depends(get_settings)],
    runner: Annotated[WorkerPool, Depends(get_runner)],
) -> Response:
    """Fit `response ~ fixed + (1 | g) for g in random` by EM-REML from a table."""
    task = MixedFrameTask(body=body, instance=request.url.path)
    return await answer_while_connected(request, runner, task, timeout_s=settings.timeout_s)


# -- shared with the job API (POST /v1/jobs/mixed, /v1/jobs/mixed/frame): same bodies, same checks
#: the request bodies of the two endpoints in the OpenAPI document
MIXED_BODY = _body("MixedRequest", "Response y, fixed design X and random terms ZETA.", _MATRIX_EXAMPLE)
MIXED_FRAME_BODY = _body(
    "MixedFrameRequest", "A table plus the response, fixed-effect and grouping column names.", _FRAME_EXAMPLE
)


def mixed_task(
    request: Request,
    _kind: Annotated[InputKind, Depends(_json_only)],
    body: Annotated[bytes, Depends(read_body)],
) -> MixedTask:
    """The task of a matrix-form mixed-model request (JSON only)."""
    return MixedTask(body=body, instance=request.url.path)


def mixed_frame_task(
    request: Request,
    _kind: Annotated[InputKind, Depends(_json_only)],
    body: Annotated[bytes, Depends(read_body)],
) -> MixedFrameTask:
    """The task of a table-form mixed-model request (JSON only)."""
    return MixedFrameTask(body=body, instance=request.url.path)
