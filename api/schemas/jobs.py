"""The status document of an asynchronous job (``/v1/jobs``)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from api.jobs.store import JobRow
from api.schemas.common import Problem, ResponseModel

__all__ = ["JobKind", "JobProgress", "JobStatus", "job_status"]

#: the synchronous endpoint whose work a job does (its path after ``/v1/``).
JobKind = Literal["impute", "mixed", "mixed/frame", "diagnostics", "diagnostics/disperse", "pool"]


class JobProgress(ResponseModel):
    """The latest progress report of the running fit (at most one every 0.5 s)."""

    iteration: int | None = Field(None, description="EM iterations done.")
    n_evals: int | None = Field(None, description="Evaluations of the EM map so far (SQUAREM makes several per iteration).")
    objective: float | None = Field(None, description="Current log-likelihood (or log-posterior, restricted log-likelihood).")
    change: float | None = Field(None, description="Parameter change of the last update (compared with tol).")
    elapsed: float | None = Field(None, description="Seconds since the fit started.")
    updated_at: dt.datetime = Field(..., description="When this report was written (UTC).")


class JobStatus(ResponseModel):
    """Where a job is: queued, running (with progress), or finished (succeeded, failed, cancelled)."""

    id: str = Field(..., description="The job's id (random, 128 bits).")
    kind: JobKind = Field(..., description="The synchronous endpoint whose work the job does (/v1/<kind>).")
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"] = Field(
        ..., description="queued (waiting for a worker), running, or finished: succeeded, failed or cancelled."
    )
    created_at: dt.datetime = Field(..., description="When the job was submitted (UTC).")
    started_at: dt.datetime | None = Field(None, description="When a worker started it (UTC).")
    finished_at: dt.datetime | None = Field(None, description="When it finished (UTC).")
    expires_at: dt.datetime | None = Field(
        None, description="When the finished job and its result will be removed (finished_at + IMPUTER_JOBS_TTL_S)."
    )
    progress: JobProgress | None = Field(None, description="The latest progress report (null before the first).")
    cancel_requested: bool = Field(
        False, description="A cancellation was asked for and the server running the job has not acted on it yet."
    )
    result: str | None = Field(None, description="Path of the result (when succeeded).")
    error: Problem | None = Field(
        None, description="Why it failed: the problem document the synchronous endpoint would have answered."
    )


def _time(t: float | None) -> dt.datetime | None:
    return None if t is None else dt.datetime.fromtimestamp(t, tz=dt.timezone.utc)


def job_status(row: JobRow, ttl_s: float) -> JobStatus:
    """The status document of ``row`` (a finished job expires ``ttl_s`` after it finished)."""
    progress = None
    if row.progress_at is not None:
        progress = JobProgress(
            iteration=row.iteration, n_evals=row.n_evals, objective=row.objective, change=row.change,
            elapsed=row.elapsed, updated_at=_time(row.progress_at),
        )
    return JobStatus(
        id=row.id,
        kind=row.kind,  # type: ignore[arg-type]
        status=row.status,  # type: ignore[arg-type]
        created_at=_time(row.created_at),  # type: ignore[arg-type]
        started_at=_time(row.started_at),
        finished_at=_time(row.finished_at),
        expires_at=_time(None if row.finished_at is None else row.finished_at + ttl_s),
        progress=progress,
        cancel_requested=row.cancel_requested and row.status in ("queued", "running"),
        result=f"/v1/jobs/{row.id}/result" if row.status == "succeeded" else None,
        error=None if row.problem is None else Problem.model_validate(row.problem),
    )
