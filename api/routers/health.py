"""``GET /healthz`` (alive: answers at once, even while jobs run) and ``GET /readyz``; ``HEAD``
too (RFC 9110: wherever GET), for load balancers that probe with it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response

import imputer
from api.deps import error_responses, get_runner
from api.pool import WorkerPool
from api.schemas.common import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    """The server process is alive (no computation involved, never authenticated)."""
    return Health(status="ok", version=imputer.__version__)


@router.head("/healthz", include_in_schema=False)
async def healthz_head() -> Response:
    """``HEAD /healthz``: the same check without a body."""
    return Response(status_code=200)


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness",
    responses=error_responses(503),
)
@router.head("/readyz", response_model=Readiness, include_in_schema=False)  # the same answer, without its body
async def readyz(runner: Annotated[WorkerPool, Depends(get_runner)]) -> Readiness:
    """Ready to compute: the worker pool is up and would accept a job (else 503)."""
    st = runner.status()
    if not runner.ready():
        raise HTTPException(
            status_code=503,
            detail=(
                f"Not ready: {st['alive']}/{st['workers']} workers alive, {st['idle']} idle, "
                f"{st['waiting']}/{st['max_queue']} requests waiting."
            ),
            headers={"Retry-After": str(runner.retry_after_s)},
        )
    return Readiness(
        status="ready",
        workers=st["workers"],
        alive=st["alive"],
        idle=st["idle"],
        busy=st["busy"],
        waiting=st["waiting"],
        max_queue=st["max_queue"],
    )
