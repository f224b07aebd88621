"""Asynchronous jobs: ``POST /v1/jobs/<kind>``, ``GET /v1/jobs/{id}`` (+ ``/result``), ``DELETE``.

A job takes exactly the body and options of its synchronous twin (``/v1/impute``,
``/v1/diagnostics``, ``/v1/diagnostics/disperse``, ``/v1/mixed``, ``/v1/mixed/frame``, ``/v1/pool``: the same
request dependencies build the same task) and answers ``202 Accepted`` at once with
``Location: /v1/jobs/{id}`` and the status document (:class:`~api.schemas.jobs.JobStatus`).
The computation runs in the worker pool beyond the request (:mod:`api.jobs`); its
answer, in every format the twin offers (JSON, and CSV and Parquet for imputation), is stored
compressed and served by ``GET /v1/jobs/{id}/result`` (format by ``Accept``) until
``IMPUTER_JOBS_TTL_S`` after the job finished.

With ``IMPUTER_API_KEYS`` set, a job belongs to the key that created it (its SHA-256 is
stored): asked for with another key, it does not exist (404, as an unknown id).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Request, Response, Security

from api.body import keep_body_claim
from api.deps import error_responses
from api.formats import JSON, PARQUET, OutputKind, response_kind
from api.jobs.codec import decompress
from api.jobs.service import JobService, job_path, new_job_id
from api.jobs.store import ACTIVE, owner_of
from api.problems import problem_response
from api.routers import diagnostics, disperse, impute, mixed, pool
from api.schemas.common import WARNINGS_HEADER_DOC
from api.schemas.jobs import JobStatus, job_status
from api.security import api_key_header, require_api_key
from api.settings import Settings, get_settings
from api.tasks import DiagnosticsTask, DisperseTask, ImputeTask, MixedFrameTask, MixedTask, PoolTask

__all__ = ["router", "get_jobs"]

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(require_api_key)])


def get_jobs(request: Request) -> JobService:
    """The application's job service (created by the lifespan); 503 before it runs."""
    jobs: JobService | None = getattr(request.app.state, "jobs", None)
    if jobs is None:
        raise HTTPException(status_code=503, detail="The job service is not running.", headers={"Retry-After": "5"})
    return jobs


def job_owner(
    key: Annotated[str | None, Security(api_key_header)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> str:
    """Who the request acts for: the hash of its API key (``""`` without authentication)."""
    return owner_of(key) if settings.api_key_set else ""


def _status_json(accept: Annotated[str | None, Header(include_in_schema=False)] = None) -> None:
    response_kind(accept, ("json",))  # 406 unless JSON (the status document) is acceptable


JobId = Annotated[str, Path(description="The job's id, as in its Location.", max_length=64)]

_SUBMITTED = {
    202: {
        "description": "Accepted: the job is queued. Poll its status at `Location`.",
        "headers": {"Location": {"description": "Path of the job's status.", "schema": {"type": "string"}}},
    },
    **error_responses(400, 401, 406, 408, 413, 415, 422, 503),
}


async def _submit(
    kind: str, task: Any, request: Request, response: Response, owner: str, jobs: JobService, settings: Settings
) -> JobStatus:
    job_id = new_job_id()
    # the job holds its body until it has run: so does its claim on the large bodies in flight
    release = keep_body_claim(request)
    try:
        row = await jobs.submit(kind, replace(task, instance=job_path(job_id)), owner, job_id, on_done=release)
    except BaseException:
        release()
        raise
    response.headers["Location"] = job_path(job_id)
    return job_status(row, settings.jobs_ttl_s)


_SUBMIT_DOC = (
    "Run `POST /v1/{kind}` as an asynchronous job: the same body (media types, options, "
    "query parameters) and the same checks; validation happens in the worker, so invalid data "
    "make a `failed` job whose `error` is the 422 the synchronous endpoint would answer."
)


@router.post(
    "/impute",
    status_code=202,
    response_model=JobStatus,
    summary="Submit an imputation job (the body and options of POST /v1/impute)",
    description=_SUBMIT_DOC.format(kind="impute") + " The result is JSON, or CSV by `Accept: text/csv`, or Parquet "
    "by `Accept: application/vnd.apache.parquet`.",
    openapi_extra=impute.REQUEST_BODY,
    responses=_SUBMITTED,  # type: ignore[arg-type]
)
async def impute_job(
    request: Request,
    response: Response,
    _accept: Annotated[None, Depends(_status_json)],
    task: Annotated[ImputeTask, Depends(impute.impute_task)],
    owner: Annotated[str, Depends(job_owner)],
    jobs: Annotated[JobService, Depends(get_jobs)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> JobStatus:
    return await _submit("impute", task, request, response, owner, jobs, settings)


@router.post(
    "/diagnostics",
    status_code=202,
    response_model=JobStatus,
    summary="Submit a diagnostics job (the body and options of POST /v1/diagnostics)",
    description=_SUBMIT_DOC.format(kind="diagnostics"),
    openapi_extra=diagnostics.REQUEST_BODY,
    responses=_SUBMITTED,  # type: ignore[arg-type]
)
async def diagnostics_job(
    request: Request,
    response: Response,
    _accept: Annotated[None, Depends(_status_json)],
    task: Annotated[DiagnosticsTask, Depends(diagnostics.diagnostics_task)],
    owner: Annotated[str, Depends(job_owner)],
    jobs: Annotated[JobService, Depends(get_jobs)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> JobStatus:
    return await _submit("diagnostics", task, request, response, owner, jobs, settings)


@router.post(
    "/diagnostics/disperse",
    status_code=202,
    response_model=JobStatus,
    summary="Submit a dispersion job (the body and options of POST /v1/diagnostics/disperse)",
    description=_SUBMIT_DOC.format(kind="diagnostics/disperse"),
    openapi_extra=disperse.REQUEST_BODY,
    responses=_SUBMITTED,  # type: ignore[arg-type]
)
async def disperse_job(
    request: Request,
    response: Response,
    _accept: Annotated[None, Depends(_status_json)],
    task: Annotated[DisperseTask, Depends(disperse.disperse_task)],
    owner: Annotated[str, Depends(job_owner)],
    jobs: Annotated[JobService, Depends(get_jobs)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> JobStatus:
    return await _submit("diagnostics/disperse", task, request, response, owner, jobs, settings)


@router.post(
    "/mixed",
    status_code=202,
    response_model=JobStatus,
    summary="Submit a mixed-model job, matrix form (the body of POST /v1/mixed)",
    description=_SUBMIT_DOC.format(kind="mixed"),
    openapi_extra=mixed.MIXED_BODY,
    responses=_SUBMITTED,  # type: ignore[arg-type]
)
async def mixed_job(
    request: Request,
    response: Response,
    _accept: Annotated[None, Depends(_status_json)],
    task: Annotated[MixedTask, Depends(mixed.mixed_task)],
    owner: Annotated[str, Depends(job_owner)],
    jobs: Annotated[JobService, Depends(get_jobs)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> JobStatus:
    return await _submit("mixed", task, request, response, owner, jobs, settings)


@router.post(
    "/mixed/frame",
    status_code=202,
    response_model=JobStatus,
    summary="Submit a mixed-model job, table form (the body of POST /v1/mixed/frame)",
    description=_SUBMIT_DOC.format(kind="mixed/frame"),
    openapi_extra=mixed.MIXED_FRAME_BODY,
    responses=_SUBMITTED,  # type: ignore[arg-type]
)
async def mixed_frame_job(
    request: Request,
    response: Response,
    _accept: Annotated[None, Depends(_status_json)],
    task: Annotated[MixedFrameTask, Depends(mixed.mixed_frame_task)],
    owner: Annotated[str, Depends(job_owner)],
    jobs: Annotated[JobService, Depends(get_jobs)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> JobStatus:
    return await _submit("mixed/frame", task, request, response, owner, jobs, settings)


@router.post(
    "/pool",
    status_code=202,
    response_model=JobStatus,
    summary="Submit a pooling job (the body of POST /v1/pool)",
    description=_SUBMIT_DOC.format(kind="pool"),
    openapi_extra=pool.REQUEST_BODY,
    responses=_SUBMITTED,  # type: ignore[arg-type]
)
async def pool_job(
    request: Request,
    response: Response,
    _accept: Annotated[None, Depends(_status_json)],
    task: Annotated[PoolTask, Depends(pool.pool_task)],
    owner: Annotated[str, Depends(job_owner)],
    jobs: Annotated[JobService, Depends(get_jobs)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> JobStatus:
    return await _submit("pool", task, request, response, owner, jobs, settings)


#: 503 on the routes of a job: the job service is not running (:func:`get_jobs`)
_NO_SERVICE = {503: "The job service is not running yet, or any more (see Retry-After)."}
#: the errors of ``GET /v1/jobs/{id}/result``: a failed job answers its problem with its status
_RESULT_ERRORS = {
    500: "The job failed unexpectedly (its worker crashed, or a bug, logged): its problem document.",
    503: "The job service is not running (see Retry-After); or the job failed waiting for a free worker "
    "(IMPUTER_JOBS_QUEUE_TIMEOUT_S) or because its server stopped: its problem document.",
    504: "The job's computation exceeded IMPUTER_JOBS_TIMEOUT_S and was stopped: its problem document.",
}


def _not_found(job_id: str) -> HTTPException:
    return HTTPException(
        status_code=404,
        detail=f"No job {job_id!r}: unknown, expired (IMPUTER_JOBS_TTL_S), deleted, or created with another API key.",
    )


@router.get(
    "/{job_id}",
    response_model=JobStatus,
    summary="Status of a job (with progress while it runs)",
    responses=error_responses(401, 404, 406, 422, 503, descriptions=_NO_SERVICE),
)
@router.head("/{job_id}", response_model=JobStatus, include_in_schema=False)  # RFC 9110: HEAD wherever GET
async def get_job(
    job_id: JobId,
    _accept: Annotated[None, Depends(_status_json)],
    owner: Annotated[str, Depends(job_owner)],
    jobs: Annotated[JobService, Depends(get_jobs)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> JobStatus:
    """The job's status: queued, running (with the fit's latest iteration, objective and
    parameter change), succeeded (with the path of its result), failed (with the problem
    document the synchronous endpoint would have answered) or cancelled."""
    row = await jobs.get(job_id, owner, settings.jobs_ttl_s)
    if row is None:
        raise _not_found(job_id)
    return job_status(row, settings.jobs_ttl_s)


@router.get(
    "/{job_id}/result",
    summary="Result of a finished job (the synchronous endpoint's answer)",
    responses={
        200: {
            "description": "The answer the synchronous endpoint would have given (JSON; for "
            "imputation jobs CSV with `Accept: text/csv`, Parquet with `Accept: application/vnd.apache.parquet`). "
            "A failed job answers its problem document with its status (422, 500, 503, 504).",
            "content": {JSON: {"schema": {}}, "text/csv": {"schema": {"type": "string"}},
                        PARQUET: {"schema": {"type": "string", "format": "binary"}}},
            "headers": WARNINGS_HEADER_DOC,
        },
        **error_responses(401, 404, 406, 409, 422, 500, 503, 504, descriptions=_RESULT_ERRORS),
    },
)
@router.head("/{job_id}/result", include_in_schema=False)  # RFC 9110: HEAD wherever GET (the server sends no body)
async def get_result(
    job_id: JobId,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
    owner: str = Depends(job_owner),
    jobs: JobService = Depends(get_jobs),
    settings: Settings = Depends(get_settings),
) -> Response:
    """The stored answer of a succeeded job, in the format `Accept` asks for among those
    stored; a failed job's problem; 409 while it is queued or running, or if it was cancelled."""
    row = await jobs.get(job_id, owner, settings.jobs_ttl_s)
    if row is None:
        raise _not_found(job_id)
    path = f"{job_path(job_id)}/result"
    if row.status in ACTIVE:
        return problem_response(
            409, f"The job is {row.status}; poll {job_path(job_id)} until it has finished.", instance=path,
            headers={"Retry-After": "1"},
        )
    if row.status == "cancelled":
        return problem_response(409, "The job was cancelled; it has no result.", instance=path)
    problem = row.problem
    if problem is not None:
        return problem_response(
            int(problem.get("status", 500)), str(problem.get("detail", "")),
            instance=path, title=problem.get("title"), type_=problem.get("type"), errors=problem.get("errors"),
        )
    formats = await jobs.formats(job_id)
    order: list[OutputKind] = [f for f in ("json", "csv", "parquet") if f in formats]  # type: ignore[misc]
    fmt = response_kind(accept, order)
    found = await jobs.output(job_id, fmt)
    if found is None:  # deleted meanwhile
        raise _not_found(job_id)
    body = await asyncio.to_thread(decompress, found.payload, found.size)
    return Response(body, status_code=found.status, media_type=found.media_type, headers=dict(found.headers))


@router.delete(
    "/{job_id}",
    summary="Cancel a queued or running job; delete a finished one",
    status_code=204,
    responses={
        200: {"description": "The job was cancelled (its worker process stopped).", "model": JobStatus},
        202: {"description": "Another server runs the job: it cancels it at its next sweep.", "model": JobStatus},
        204: {"description": "The finished job and its result were deleted."},
        **error_responses(401, 404, 422, 503, descriptions=_NO_SERVICE),
    },
)
async def delete_job(
    job_id: JobId,
    owner: Annotated[str, Depends(job_owner)],
    jobs: Annotated[JobService, Depends(get_jobs)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> Response:
    """Cancel a queued or running job (it leaves the waiting line, or its worker process is
    killed and replaced; the job stays, `cancelled`, until deleted or expired), or delete
    a finished job and its result."""
    row = await jobs.get(job_id, owner, settings.jobs_ttl_s)
    if row is None:
        raise _not_found(job_id)
    if row.status in ACTIVE:
        after = await jobs.cancel(job_id)
        if after is None:
            raise _not_found(job_id)
        code = 202 if after.status in ACTIVE else 200
        doc = job_status(after, settings.jobs_ttl_s)
        return Response(doc.model_dump_json(), status_code=code, media_type=JSON)
    await jobs.delete(job_id)
    return Response(status_code=204)
