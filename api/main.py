"""The ASGI application ``api.main:app`` (serve with ``uvicorn api.main:app``).

Composes the routers, installs the problem+json error handlers and the OpenAPI
generator, and runs the worker pool for the lifetime of the app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import imputer
from api.docs import install_offline_docs
from api.http import RequestGuard
from api.jobs.service import JobService
from api.openapi import install_openapi
from api.pool import WorkerPool
from api.problems import install_problem_handlers
from api.routers import diagnostics, disperse, health, impute, jobs, mixed, pool
from api.routers.page import install_page
from api.schemas.diagnostics import DiagnosticsRequest
from api.schemas.disperse import DisperseRequest
from api.schemas.impute import ImputeRequest
from api.schemas.mixed import MixedFrameRequest, MixedRequest
from api.schemas.pool import PoolRequest
from api.settings import Settings, get_settings

__all__ = ["app", "create_app"]

DESCRIPTION = """\
EM imputation of incomplete tables (multivariate normal) and EM-REML mixed models;
Rubin's rules for pooling analyses of multiply imputed data.

Send a table, read back the completed table and the estimates, or look at its
missingness first (`/v1/diagnostics`: patterns and Little's MCAR test), or whether EM's
maximum is unique (`/v1/diagnostics/disperse`: EM from overdispersed starts). Every error is
RFC 9457 `application/problem+json`. Long computations run as jobs (`/v1/jobs/...`):
submit, poll the status (with progress), fetch the result, which survives a restart. Authentication (`X-API-Key`) applies when
`IMPUTER_API_KEYS` is set; `/healthz` and `/readyz` stay open.
"""


#: imported once by the workers' forkserver, so each worker starts with the engines loaded
#: (scipy.stats: the chi-square tail of Little's test, imported lazily by the library).
TASK_MODULES = ("api.tasks", "api.jobs.run", "scipy.stats")


def _settings_of(app: FastAPI) -> Settings:
    provider = app.dependency_overrides.get(get_settings, get_settings)
    return provider()  # type: ignore[no-any-return]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the worker pool on startup, stop (and reap) it on shutdown."""
    settings = _settings_of(app)
    runner = WorkerPool(
        settings.max_concurrent_jobs,
        max_queue=settings.max_queue,
        queue_timeout_s=settings.queue_timeout_s,
        retry_after_s=settings.retry_after_s,
        worker_threads=settings.worker_threads,
        memory_limit_mb=settings.worker_memory_mb,
        nice=settings.worker_nice,
        preload=TASK_MODULES,
    )
    app.state.runner = runner
    service = JobService(
        settings.jobs_url,
        runner,
        ttl_s=settings.jobs_ttl_s,
        timeout_s=settings.jobs_timeout_s,
        queue_timeout_s=settings.jobs_queue_timeout_s,
        heartbeat_s=settings.jobs_heartbeat_s,
    )
    await runner.start()
    await service.start()
    app.state.jobs = service
    try:
        yield
    finally:
        app.state.jobs = None
        await runner.stop()  # running jobs fail (PoolStopping): their watchers record it
        await service.stop()


def create_app() -> FastAPI:
    """Build the FastAPI application (routers, error handlers, OpenAPI, lifespan)."""
    app = FastAPI(
        title="imputer",
        version=imputer.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by install_offline_docs, without a CDN
        redoc_url=None,
    )
    app.state.runner = WorkerPool(1)  # placeholder, not started: 503 until the lifespan runs
    app.state.jobs = None  # the job service, made by the lifespan
    app.include_router(health.router)
    app.include_router(impute.router)
    app.include_router(diagnostics.router)
    app.include_router(disperse.router)
    app.include_router(mixed.router)
    app.include_router(pool.router)
    app.include_router(jobs.router)
    install_problem_handlers(app)
    app.add_middleware(RequestGuard)  # framing (400), Content-Encoding (gzip/deflate decoded, else 415)
    install_offline_docs(app)
    install_page(app)
    install_openapi(
        app,
        [ImputeRequest, DiagnosticsRequest, DisperseRequest, MixedRequest, MixedFrameRequest, PoolRequest],
        auth_required=lambda: bool(_settings_of(app).api_key_set),
    )
    return app


app = create_app()
