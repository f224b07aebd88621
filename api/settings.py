"""Service settings, read from ``IMPUTER_*`` environment variables.

The settings object is built once per process (:func:`get_settings` is cached) and
handed to path operations as a FastAPI dependency, so tests replace it with
``app.dependency_overrides[get_settings] = lambda: Settings(...)``.

==========================  ===========  ==================================================
variable                    default      meaning
==========================  ===========  ==================================================
IMPUTER_MAX_BODY_BYTES      67108864     largest request body accepted (bytes received,
                                         chunked or not); larger -> 413
IMPUTER_MAX_INFLIGHT_BODY_BYTES  4 x the  most bytes of large bodies (over 1 MiB or
                            above        chunked) read or held at once; one more -> 503
IMPUTER_API_KEYS            (empty)      comma-separated keys accepted in ``X-API-Key``;
                                         empty disables authentication
IMPUTER_TIMEOUT_S           60           wall-clock limit of one computation; the worker
                                         process is killed and replaced -> 504
IMPUTER_MAX_CONCURRENT_JOBS CPU count    worker processes (computations running at once)
IMPUTER_MAX_QUEUE           256          most requests waiting for a worker; below it a
                                         request waits when its expected wait (recent
                                         run times) fits IMPUTER_QUEUE_TIMEOUT_S, else
                                         503 with Retry-After = that expected wait
IMPUTER_QUEUE_TIMEOUT_S     30           longest wait for a free worker -> 503
IMPUTER_RETRY_AFTER_S       5            value of the Retry-After header on 503
IMPUTER_WORKER_THREADS      1            BLAS/OpenMP threads per worker process
IMPUTER_WORKER_MEMORY_MB    (machine)    address-space cap per worker (RLIMIT_AS); an
                                         oversized problem then fails with 422. Default:
                                         80% of the machine's memory shared by the
                                         workers, at least 2048; 0 = none
IMPUTER_WORKER_NICE         5            niceness of the workers: computations yield the
                                         CPU to the server (health checks, 503s)
IMPUTER_HEADER_TIMEOUT_S    10           longest time to receive a request's line and
                                         headers (408 and close; slowloris), with
                                         ``--http api.http:GuardedH11Protocol``
IMPUTER_BODY_TIMEOUT_S      30           longest silence while a body is uploaded -> 408
IMPUTER_MAX_COLUMNS         2000         most columns one imputation may model -> 422
IMPUTER_MAX_MI_ROWS         1000000      most rows of a multiple imputation's long table
                                         (m * n) -> 422 naming options.m
IMPUTER_JOBS_URL            sqlite:///   SQLAlchemy URL of the job store (``/v1/jobs``);
                            ./imputer-   SQLite (WAL mode) by default, PostgreSQL
                            jobs.sqlite3 (``postgresql+psycopg://...``) for several hosts
IMPUTER_JOBS_TTL_S          86400        a finished job (and its result) is removed this
                                         long after it finished
IMPUTER_JOBS_TIMEOUT_S      3600         wall-clock limit of one job's computation
IMPUTER_JOBS_QUEUE_TIMEOUT_S 600         longest wait of a job for a free worker
IMPUTER_JOBS_HEARTBEAT_S    10           period of the job sweep (heartbeat of running
                                         jobs, expiry); a queued or running job whose
                                         server missed 3 heartbeats is marked failed
==========================  ===========  ==================================================
"""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings", "default_worker_memory_mb"]


#: the default worker memory cap: this share of the machine's memory, divided among the
#: workers (the rest for the server and the system), and never below the floor (MiB): an idle
#: worker maps ~0.5 GiB, one that has run a fit ~1.6 GiB of address space (not resident).
MEMORY_SHARE, MEMORY_FLOOR_MB = 0.8, 2048


def _machine_memory_mb() -> int:
    """Physical memory in MiB (0 where it cannot be read)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20)
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return 0


def default_worker_memory_mb(workers: int) -> int:
    """The default ``IMPUTER_WORKER_MEMORY_MB`` for ``workers`` worker processes: together they
    cannot take more than :data:`MEMORY_SHARE` of the machine, so one request cannot drive
    the machine out of memory (the kernel would kill the server); 0 (no cap) where the
    machine's memory is unknown."""
    total = _machine_memory_mb()
    if total <= 0:
        return 0
    return max(MEMORY_FLOOR_MB, int(MEMORY_SHARE * total / max(1, workers)))


def _default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


class Settings(BaseSettings):
    """Configuration of the REST service (environment variables ``IMPUTER_<NAME>``)."""

    model_config = SettingsConfigDict(env_prefix="IMPUTER_", extra="ignore", frozen=True)

    max_body_bytes: int = Field(
        64 * 1024 * 1024, ge=1, description="Largest request body accepted, in bytes."
    )
    max_inflight_body_bytes: int = Field(
        default_factory=lambda data: 4 * data["max_body_bytes"],
        ge=1,
        description="Most bytes of large request bodies (over 1 MiB, or chunked) read or held at once by "
        "the server; one more is a 503 before it is read. Default: 4 x IMPUTER_MAX_BODY_BYTES.",
    )
    api_keys: str = Field(
        "", description="Comma-separated API keys for X-API-Key; empty disables authentication."
    )
    timeout_s: float = Field(
        60.0, gt=0, description="Wall-clock limit of one computation, in seconds."
    )
    max_concurrent_jobs: int = Field(
        default_factory=_default_workers,
        ge=1,
        description="Number of worker processes, i.e. computations running at once.",
    )
    max_queue: int = Field(
        256, ge=0, description="Most requests waiting for a free worker (below it, a request is admitted "
        "when its expected wait, from the recent run times, fits in IMPUTER_QUEUE_TIMEOUT_S; else 503)."
    )
    queue_timeout_s: float = Field(
        30.0, gt=0, description="Longest wait for a free worker before 503, in seconds."
    )
    retry_after_s: int = Field(5, ge=0, description="Retry-After value sent with 503, seconds.")
    worker_threads: int = Field(
        1, ge=1, description="BLAS/OpenMP threads used by each worker process."
    )
    worker_memory_mb: int = Field(
        default_factory=lambda data: default_worker_memory_mb(data["max_concurrent_jobs"]),
        ge=0,
        description="Address-space cap of each worker process in MiB (0: none). Default: 80% of the "
        "machine's memory divided among the workers, at least 2048.",
    )
    worker_nice: int = Field(
        5, ge=0, le=19, description="Niceness of the worker processes (CPU priority below the server)."
    )
    header_timeout_s: float = Field(
        10.0, gt=0, description="Longest time to receive a request's line and headers (api.http.GuardedH11Protocol)."
    )
    body_timeout_s: float = Field(
        30.0, gt=0, description="Longest silence between two chunks of a request body before 408."
    )
    max_columns: int = Field(
        2000, ge=1, description="Most columns one imputation may model (memory grows as p^2)."
    )
    max_mi_rows: int = Field(
        1_000_000, ge=1, description="Most rows (m * n) of a multiple imputation's long table."
    )

    jobs_url: str = Field(
        "sqlite:///./imputer-jobs.sqlite3",
        min_length=1,
        description="SQLAlchemy URL of the job store (SQLite file by default; PostgreSQL for several hosts).",
    )
    jobs_ttl_s: float = Field(
        86400.0, gt=0, description="Seconds a finished job and its result are kept."
    )
    jobs_timeout_s: float = Field(
        3600.0, gt=0, description="Wall-clock limit of one job's computation, in seconds."
    )
    jobs_queue_timeout_s: float = Field(
        600.0, gt=0, description="Longest wait of a job for a free worker, in seconds."
    )
    jobs_heartbeat_s: float = Field(
        10.0, gt=0, description="Period of the job sweep: heartbeats, orphaned and expired jobs."
    )

    @property
    def api_key_set(self) -> frozenset[str]:
        """The accepted API keys (empty: authentication disabled)."""
        return frozenset(k.strip() for k in self.api_keys.split(",") if k.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, read once from the environment (FastAPI dependency)."""
    return Settings()
