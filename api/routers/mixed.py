"""``POST /v1/mixed`` (matrix form) and ``POST /v1/mixed/frame`` (table form): EM-REML mixed models."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from api.body import read_body
from api.deps import NO_QUERY, check_query, error_responses, get_runner, no_query_with_json
from api.dispatch import answer_while_connected
from api.formats import CSV, JSON, PARQUET, InputKind, OutputKind, request_kind, response_kind
from api.multipart import MULTIPART, UPLOAD_CONTENT, kind_or_upload, unwrap_upload
from api.pool import WorkerPool
from api.schemas.mixed import MixedResponse, MultiTraitResponse
from api.schemas.mixed_query import MixedFrameQuery
from api.security import require_api_key
from api.settings import Settings, get_settings
from api.tasks import MixedFrameTask, MixedTask

router = APIRouter(prefix="/v1", tags=["mixed"], dependencies=[Depends(require_api_key)])


def _json_only(content_type: Annotated[str | None, Header(include_in_schema=False)] = None) -> InputKind:
    return request_kind(content_type, ("json",))


def _table_kind(content_type: Annotated[str | None, Header(include_in_schema=False)] = None) -> InputKind | str:
    return kind_or_upload(content_type)  # a file upload: its part's format once read (mixed_frame_task)


def _json_out(accept: Annotated[str | None, Header(include_in_schema=False)] = None) -> OutputKind:
    return response_kind(accept, ("json",))


def _body(model: str, description: str, examples: dict[str, dict[str, object]]) -> dict[str, object]:
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                JSON: {
                    "schema": {"$ref": f"#/components/schemas/{model}"},
                    "examples": {name: {"summary": ex["summary"], "value": ex["value"]} for name, ex in examples.items()},
                }
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
#: random intercept and slope per subject with their covariance (lme4's
#: Reaction ~ Days + (Days | Subject)), on 5 subjects x 6 days of sleepstudy
_SLOPES_EXAMPLE = {
    "data": {
        "columns": ["Subject", "Days", "Reaction"],
        "data": [
            ["308", 0, 249.56], ["308", 1, 258.7047], ["308", 2, 250.8006], ["308", 3, 321.4398],
            ["308", 4, 356.8519], ["308", 5, 414.6901], ["309", 0, 222.7339], ["309", 1, 205.2658],
            ["309", 2, 202.9778], ["309", 3, 204.707], ["309", 4, 207.7161], ["309", 5, 215.9618],
            ["310", 0, 199.0539], ["310", 1, 194.3322], ["310", 2, 234.32], ["310", 3, 232.8416],
            ["310", 4, 229.3074], ["310", 5, None], ["330", 0, 321.5426], ["330", 1, 300.4002],
            ["330", 2, 283.8565], ["330", 3, 285.133], ["330", 4, 285.7973], ["330", 5, 297.5855],
            ["331", 0, 287.6079], ["331", 1, 285.0], ["331", 2, 301.8206], ["331", 3, 320.1153],
            ["331", 4, 316.2773], ["331", 5, 293.3187],
        ],
    },
    "response": "Reaction",
    "fixed": ["Days"],
    "random": ["(Days | Subject)"],
    "options": {"method": "REML"},
}
#: the matrix form of a random intercept and slope: Z as one matrix per effect
_MATRIX_SLOPES_EXAMPLE = {
    "y": [1.2, 2.0, 3.1, 0.4, 0.9, 1.2, 2.2, 3.9, None, 1.0, 2.4, 3.5],
    "X": [[1.0, t] for t in [0.0, 1.0, 2.0, 3.0] * 3],
    "ZETA": {"g": {
        "Z": [[[1, 0, 0]] * 4 + [[0, 1, 0]] * 4 + [[0, 0, 1]] * 4,
              [[t, 0, 0] for t in [0, 1, 2, 3]] + [[0, t, 0] for t in [0, 1, 2, 3]] + [[0, 0, t] for t in [0, 1, 2, 3]]],
        "effects": ["(Intercept)", "t"],
        "structure": "unstructured",
    }},
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


#: two traits measured on 15 plots of 5 varieties, three values missing: the genetic
#: (variety) and residual 2 x 2 covariances, and the missing traits predicted from the
#: observed trait of the same plot and the variety's effects
_TRAIT_ROWS = [
    ["A", 49.4, 20.1], ["A", 50.1, 19.7], ["A", 49.8, None], ["B", 52.2, 20.2], ["B", 52.9, 20.1],
    ["B", 52.6, 20.6], ["C", 52.3, 20.6], ["C", None, 19.6], ["C", 53.7, 20.9], ["D", 49.6, 20.8],
    ["D", 51.2, 21.3], ["D", 50.7, 20.9], ["E", 50.3, 19.1], ["E", 50.9, None], ["E", 51.7, 20.3],
]
_MULTITRAIT_FRAME_EXAMPLE = {
    "data": {"columns": ["variety", "yield", "height"], "data": _TRAIT_ROWS},
    "response": ["yield", "height"],
    "random": ["variety"],
    "options": {"method": "REML"},
}
_MULTITRAIT_MATRIX_EXAMPLE = {
    "Y": [row[1:] for row in _TRAIT_ROWS],
    "traits": ["yield", "height"],
    "X": [[1.0]] * 15,
    "ZETA": {"variety": {"Z": [[1 if row[0] == v else 0 for v in "ABCDE"] for row in _TRAIT_ROWS]}},
    "options": {"method": "REML"},
}


_ERRORS = error_responses(400, 401, 406, 408, 413, 415, 422, 500, 503, 504)


#: the request bodies of the two endpoints in the OpenAPI document (also the job API's)
MIXED_BODY = _body(
    "MixedRequest",
    "Response y (or Y, n rows of t traits, for a multi-trait model), fixed design X and random terms ZETA.",
    {
        "intercepts": {"summary": "One random intercept per batch", "value": _MATRIX_EXAMPLE},
        "slopes": {"summary": "Random intercept and slope per group (Z: one matrix per effect)",
                   "value": _MATRIX_SLOPES_EXAMPLE},
        "multitrait": {"summary": "Two traits (Y: n rows of t values), missing traits predicted",
                       "value": _MULTITRAIT_MATRIX_EXAMPLE},
    },
)
MIXED_FRAME_BODY = _body(
    "MixedFrameRequest",
    "A table plus the response (one column, or a list of trait columns), fixed-effect and grouping column "
    "names: JSON; or the table as CSV or Parquet (raw, or one file uploaded as a form) with the model in the "
    "query (formula=..., or response=, fixed=, random=).",
    {
        "intercepts": {"summary": "lme4's Yield ~ 1 + (1 | Batch)", "value": _FRAME_EXAMPLE},
        "slopes": {"summary": "lme4's Reaction ~ Days + (Days | Subject)", "value": _SLOPES_EXAMPLE},
        "multitrait": {"summary": "Two traits (response: a list of columns), missing traits predicted",
                       "value": _MULTITRAIT_FRAME_EXAMPLE},
    },
)
MIXED_FRAME_BODY["requestBody"]["content"].update({  # type: ignore[index]
    CSV: {
        "schema": {"type": "string"},
        "example": "Batch,Yield\n" + "".join(f"{r[0]},{'' if r[1] is None else r[1]}\n" for r in _FRAME_EXAMPLE["data"]["data"]),  # type: ignore[index]
    },
    PARQUET: {"schema": {"type": "string", "format": "binary"}},
    **UPLOAD_CONTENT,
})


def mixed_frame_task(
    request: Request,
    query: Annotated[MixedFrameQuery, Query()],
    kind: Annotated[InputKind | str, Depends(_table_kind)],
    body: Annotated[bytes, Depends(read_body)],
) -> MixedFrameTask:
    """The task of a table-form mixed-model request: a JSON body, or a CSV or Parquet table (raw or
    uploaded, :mod:`api.multipart`) with the model in the query (:mod:`api.schemas.mixed_query`)."""
    if kind == MULTIPART:
        kind, body = unwrap_upload(request.headers.get("content-type", ""), body)
    check_query(kind, request, MixedFrameQuery)
    if kind != "json" and (why := query.missing_model()) is not None:
        raise RequestValidationError([{"loc": ("query",), "msg": why, "type": "value_error"}])
    return MixedFrameTask(body=body, instance=request.url.path, kind=kind, query=query.model_dump())  # type: ignore[arg-type]


def mixed_task(
    request: Request,
    _kind: Annotated[InputKind, Depends(_json_only)],
    body: Annotated[bytes, Depends(read_body)],
) -> MixedTask:
    """The task of a matrix-form mixed-model request (JSON only: a query parameter is a 422 naming it;
    shared by ``POST /v1/mixed`` and its job, as :func:`mixed_frame_task` is)."""
    no_query_with_json("json", request, NO_QUERY)
    return MixedTask(body=body, instance=request.url.path)


@router.post(
    "/mixed",
    response_model=MixedResponse | MultiTraitResponse,
    summary="Fit a mixed model (matrix form)",
    openapi_extra=MIXED_BODY,
    responses={200: {"description": "Variance components, fixed and random effects, predictions "
                          "(a multi-trait model: covariance matrices between the traits)."}, **_ERRORS},
)
async def mixed(
    request: Request,
    _kind: Annotated[InputKind, Depends(_json_only)],
    _out: Annotated[OutputKind, Depends(_json_out)],
    task: Annotated[MixedTask, Depends(mixed_task)],
    settings: Annotated[Settings, Depends(get_settings)],
    runner: Annotated[WorkerPool, Depends(get_runner)],
) -> Response:
    """Fit `y = X b + sum_k Z_k u_k + e` by EM-REML (or ML) and predict the missing `y`.

    The options are in the body (`options`); the endpoint takes no query parameters (any is a 422 naming it).
    """
    return await answer_while_connected(request, runner, task, timeout_s=settings.timeout_s)


@router.post(
    "/mixed/frame",
    response_model=MixedResponse | MultiTraitResponse,
    summary="Fit a mixed model (table form)",
    openapi_extra=MIXED_FRAME_BODY,
    responses={200: {"description": "Variance components, fixed and random effects, predictions "
                          "(a multi-trait model: covariance matrices between the traits)."}, **_ERRORS},
)
async def mixed_frame(
    request: Request,
    _kind: Annotated[InputKind | str, Depends(_table_kind)],  # 415 before 406 (the task's, cached)
    _out: Annotated[OutputKind, Depends(_json_out)],
    task: Annotated[MixedFrameTask, Depends(mixed_frame_task)],
    settings: Annotated[Settings, Depends(get_settings)],
    runner: Annotated[WorkerPool, Depends(get_runner)],
) -> Response:
    """Fit `response ~ fixed + (1 | g) for g in random` (or lme4's bar terms, `(Days | Subject)`) by EM-REML from a table.

    The table is JSON (split orientation, with the model and options in the body), or CSV or
    Parquet with the model in the query: `formula` (`Reaction ~ Days + (Days | Subject)`),
    or `response` (repeated for the traits of a multi-trait model), `fixed` and `random`
    (repeated); options `method`, `tol`, `max_iter`, `accelerate`, `na_action`, `intercept`,
    `contrasts` (a JSON object). A `multipart/form-data` upload of one such file works as
    for `POST /v1/impute` (`curl -F file=@sleepstudy.csv`). Relationship matrices (`kernels`)
    need a JSON body.
    """
    return await answer_while_connected(request, runner, task, timeout_s=settings.timeout_s)

