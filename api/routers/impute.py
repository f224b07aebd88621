"""``POST /v1/impute``: complete a table by multivariate-normal EM (JSON, CSV, Parquet)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from api.body import read_body
from api.deps import check_query, error_responses, get_runner, table_input_kind
from api.dispatch import answer_while_connected
from api.formats import CSV, JSON, PARQUET, InputKind, OutputKind, response_kind
from api.multipart import MULTIPART, UPLOAD_CONTENT, unwrap_upload
from api.pool import WorkerPool
from api.schemas.common import WARNINGS_HEADER_DOC
from api.schemas.impute import ImputeQuery, ImputeResponse
from api.schemas.impute_glom import ImputeGlomResponse
from api.schemas.impute_mi import ImputeMIResponse
from api.schemas.impute_models import ImputeMixtureResponse, ImputeTResponse
from api.schemas.impute_panel import ImputeExtendedResponse
from api.security import require_api_key
from api.settings import Settings, get_settings
from api.tasks import ImputeTask

router = APIRouter(prefix="/v1", tags=["impute"], dependencies=[Depends(require_api_key)])


def _output_kind(accept: Annotated[str | None, Header(include_in_schema=False)] = None) -> OutputKind:
    return response_kind(accept, ("json", "csv", "parquet"))


_EXAMPLE_TABLE = {
    "columns": ["height", "weight"],
    "index": ["a", "b", "c", "d", "e"],
    "data": [[1.62, 58.0], [1.75, None], [1.80, 81.5], [None, 70.2], [1.68, 64.0]],
}
#: the OpenAPI example of a multiple-imputation request (also README's curl example)
MI_EXAMPLE = {"data": _EXAMPLE_TABLE, "options": {"m": 5, "method": "posterior", "seed": 1}}
#: the OpenAPI examples of the t and the mixture (also README's curl examples)
T_EXAMPLE = {"data": _EXAMPLE_TABLE, "options": {"model": "t", "dof": 4}}
MIXTURE_EXAMPLE = {"data": _EXAMPLE_TABLE, "options": {"model": "mixture", "n_components": 2, "ridge": 1.0, "seed": 1}}
#: the OpenAPI example of EM from given starting values (also README's curl example): Murray's (1977) rows,
#: whose likelihood has two maxima and a saddle point where EM from the engine's own start stays
START_EXAMPLE = {
    "data": {"columns": ["x1", "x2"],
             "data": [[1, 1], [1, -1], [-1, 1], [-1, -1], [2, None], [2, None], [-2, None], [-2, None],
                      [None, 2], [None, 2], [None, -2], [None, -2]]},
    "options": {"start": {"mean": {"x1": 0, "x2": 0}, "cov": {"columns": ["x1", "x2"], "data": [[2, -0.5], [-0.5, 2]]}}},
}

#: the request body of ``POST /v1/impute`` in the OpenAPI document (also ``POST /v1/jobs/impute``'s)
REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "description": "The incomplete table: JSON (split orientation, with options), "
        "CSV (header row; options as query parameters) or Parquet, or one such file uploaded as a form.",
        "content": {
            JSON: {
                "schema": {"$ref": "#/components/schemas/ImputeRequest"},
                "examples": {
                    "conditional means": {
                        "summary": "One table of conditional means (and their conditional variances)",
                        "value": {"data": _EXAMPLE_TABLE, "options": {"tol": 1e-8, "conditional_var": True}},
                    },
                    "multiple imputation": {
                        "summary": "Multiple imputation: 5 tables drawn by data augmentation, reproducible by seed",
                        "value": MI_EXAMPLE,
                    },
                    "multivariate t": {
                        "summary": "The multivariate t (robust to outliers), its degrees of freedom fixed at 4",
                        "value": T_EXAMPLE,
                    },
                    "Gaussian mixture": {
                        "summary": "A two-component Gaussian mixture (a ridge prior: five rows are few), its starts seeded",
                        "value": MIXTURE_EXAMPLE,
                    },
                    "start": {
                        "summary": "EM from given starting values (e.g. the best run of /v1/diagnostics/disperse)",
                        "value": START_EXAMPLE,
                    },
                },
            },
            CSV: {
                "schema": {"type": "string"},
                "example": "height,weight\n1.62,58.0\n1.75,\n1.80,81.5\n,70.2\n1.68,64.0\n",
            },
            PARQUET: {"schema": {"type": "string", "format": "binary"}},
            **UPLOAD_CONTENT,
        },
    }
}


def impute_task(
    request: Request,
    query: Annotated[ImputeQuery, Query()],
    kind: Annotated[InputKind | str, Depends(table_input_kind)],
    body: Annotated[bytes, Depends(read_body)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> ImputeTask:
    """The task of an impute request (body, media type, query options and limits; JSON answer).

    A dependency shared by ``POST /v1/impute`` and ``POST /v1/jobs/impute``: both take
    exactly the same bodies and options. A ``multipart/form-data`` upload is its one file
    (:mod:`api.multipart`).
    """
    if kind == MULTIPART:
        kind, body = unwrap_upload(request.headers.get("content-type", ""), body)
    check_query(kind, request, ImputeQuery)
    return ImputeTask(
        kind=kind,  # type: ignore[arg-type]
        body=body,
        query=query.model_dump(),
        instance=request.url.path,
        max_columns=settings.max_columns,
        max_mi_rows=settings.max_mi_rows,
    )


@router.post(
    "/impute",
    response_model=(
        ImputeResponse | ImputeMIResponse | ImputeTResponse | ImputeMixtureResponse | ImputeGlomResponse
        | ImputeExtendedResponse
    ),
    summary="Impute missing values (multivariate-normal, multivariate-t or Gaussian-mixture EM)",
    openapi_extra=REQUEST_BODY,
    responses={
        200: {
            "description": "The completed table and the estimates (JSON), or the completed "
            "table alone with `Accept: text/csv` (or as Parquet with `Accept: application/vnd.apache.parquet`; a "
            "column, or row labels, mixing text and numbers is written there as text). With `m` (multiple imputation): "
            "the m completed "
            "tables as one long table (`.imp`, `.id`, then the data) and the EM estimates with "
            "their standard errors (JSON, ImputeMIResponse), or the long table alone with "
            "`Accept: text/csv`. With `model` `t` or `mixture`: the completed table and that "
            "model's estimates (ImputeTResponse, ImputeMixtureResponse). With `transforms`, `bounds`, "
            "`panel` or `idvars` (one imputation): the model's estimates and what it added "
            "(ImputeExtendedResponse).",
            "content": {CSV: {"schema": {"type": "string"}}, PARQUET: {"schema": {"type": "string", "format": "binary"}}},
            "headers": WARNINGS_HEADER_DOC,
        },
        **error_responses(400, 401, 406, 408, 413, 415, 422, 500, 503, 504),
    },
)
async def impute(
    request: Request,
    _kind: Annotated[InputKind, Depends(table_input_kind)],  # 415 before 406 (the task's, cached)
    output: Annotated[OutputKind, Depends(_output_kind)],
    task: Annotated[ImputeTask, Depends(impute_task)],
    settings: Annotated[Settings, Depends(get_settings)],
    runner: Annotated[WorkerPool, Depends(get_runner)],
) -> Response:
    """Fill every missing cell of the modelled columns with its conditional expectation
    under the ML estimate (the posterior mode when `ridge` > 0).

    Missing cells are `null` (JSON) or empty (CSV). The body is JSON, CSV or Parquet, or a
    `multipart/form-data` upload of one such file (`curl -F file=@data.csv`, its format from
    the part's media type or file name; options as query parameters). Options mirror the keyword
    arguments of `imputer.impute`; with `conditional_var` the conditional variances
    of the filled cells are returned too, and `matrices` (`both`, `cov`, `corr`, `none`)
    leaves the p x p covariance or correlation matrix out of the answer (null): on a
    2,000-column table the two are about 160 MB of JSON.

    With `m` (1 to 100; `options.m` in a JSON body, the query parameter `m` for CSV and
    Parquet), the answer is multiple imputation instead (`imputer.multiple_impute`, with
    `method`, `seed`, `burn_in`, `thin`): m tables drawn from the posterior predictive
    distribution of the missing cells, for analyses combined by Rubin's rules
    (`POST /v1/pool`). Use them for any inference on the completed data; one table of
    conditional means understates every variance.

    With `model` (`options.model`, or the query parameter `model`): `normal` (the
    default), `t` (`imputer.impute_t`, with `dof`: fixed degrees of freedom, estimated when
    left out) or `mixture` (`imputer.impute_mixture`, with `n_components`, a number or a
    list of which the lowest BIC is answered, `covariance_type`, `n_init`, `seed`). The
    answer is that model's result. An option of another model is a 422 naming it. With `m`
    as well, the imputations are drawn under that model by the bootstrap (the estimates
    are then the model's fit to the whole data); `method` `posterior`, `burn_in` and `thin`
    are 422s with the t or the mixture.
    """
    task = replace(task, output=output, time_limit_s=settings.timeout_s)  # cost admission (not for jobs)
    return await answer_while_connected(request, runner, task, timeout_s=settings.timeout_s)
