"""Exceptions of the service itself (not of the computations): the worker pool's outcomes.

Every error the service raises about its own state derives from :class:`ServiceError`.
The pool (:mod:`api.pool`) raises them without knowing about HTTP;
:mod:`api.problems` maps each class to its problem+json answer (status, ``type``,
``Retry-After``).

===========================  ======================================================  ======
class                        when                                                    HTTP
===========================  ======================================================  ======
:class:`PoolNotRunning`      the pool was never started or has been stopped          503
:class:`PoolSaturated`       every worker busy and the waiting line full, or no      503
                             worker became free within the queue timeout
:class:`PoolStopping`        the pool stopped while the job waited or ran            503
:class:`JobTimedOut`         the job ran over its time limit; its worker was killed  504
:class:`JobFailed`           the task raised in its worker (the worker is kept)      500
:class:`WorkerCrashed`       the worker process died while running the job           500
:class:`WorkerOutOfMemory`   a worker under IMPUTER_WORKER_MEMORY_MB aborted (an     422
                             allocation failed in native code: pydantic-core, BLAS)
:class:`JobCancelled`        the job's owner cancelled it (never answered over HTTP  --
                             by the synchronous endpoints: their client is gone)
===========================  ======================================================  ======

Why not :class:`imputer.errors.ImputerError`: that root means "the library rejected
these data or options" (the service answers it with 422 and its message). A full pool
or a killed worker says nothing about the caller's input; deriving from it would let
``except ImputerError`` (as in the tasks' own error handling) swallow pool failures
and report them as invalid data. The two roots stay apart on purpose.

Messages are written for the client: they never carry a traceback, the task's data or
a worker's error message (those are logged by the pool).
"""

from __future__ import annotations

__all__ = [
    "ServiceError",
    "PoolError",
    "PoolUnavailable",
    "PoolNotRunning",
    "PoolSaturated",
    "PoolStopping",
    "JobTimedOut",
    "JobFailed",
    "WorkerCrashed",
    "WorkerOutOfMemory",
    "JobCancelled",
]


class ServiceError(Exception):
    """Root of the errors the service raises about its own state."""


class PoolError(ServiceError):
    """An outcome of the worker pool other than the task's return value."""


class PoolUnavailable(PoolError):
    """The pool cannot run the job now; retry after ``retry_after`` seconds.

    Parameters
    ----------
    message : str
        What happened, for the client.
    retry_after : int
        Suggested wait before retrying, in seconds.
    """

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PoolNotRunning(PoolUnavailable):
    """The pool has not been started, or has been stopped."""


class PoolSaturated(PoolUnavailable):
    """Every worker is busy and the waiting line is full (or the wait was too long)."""


class PoolStopping(PoolUnavailable):
    """The pool was stopped while the job was waiting or running."""


class JobTimedOut(PoolError):
    """The job ran longer than ``timeout_s``; its worker was killed and replaced.

    Parameters
    ----------
    timeout_s : float
        The time limit that was exceeded, in seconds.
    """

    def __init__(self, timeout_s: float) -> None:
        super().__init__(
            f"The computation exceeded the time limit of {timeout_s:g} s and was stopped."
        )
        self.timeout_s = timeout_s


class JobFailed(PoolError):
    """The task raised an exception in its worker (logged there; the worker is kept).

    Parameters
    ----------
    error_type : str
        Class name of the exception raised in the worker (for logs and tests; not a
        message meant for clients).
    """

    def __init__(self, error_type: str) -> None:
        super().__init__("The computation failed unexpectedly; the failure has been logged.")
        self.error_type = error_type


class WorkerCrashed(PoolError):
    """The worker process ended while running the job (it has been replaced)."""

    def __init__(self) -> None:
        super().__init__("The worker process ended unexpectedly; the failure has been logged.")


#: the answer to a problem too large for a capped worker (also a worker's own MemoryError)
TOO_BIG = (
    "The problem is too large for the memory available to a worker "
    "(IMPUTER_WORKER_MEMORY_MB); send fewer rows, columns or random-effect levels."
)


class WorkerOutOfMemory(WorkerCrashed):
    """A worker with an address-space cap aborted while running the job (replaced).

    Native code (pydantic-core's JSON parser, BLAS) aborts the process when an allocation
    fails instead of raising ``MemoryError``; under the cap that is the data's size.
    """

    def __init__(self) -> None:
        PoolError.__init__(self, TOO_BIG)


class JobCancelled(PoolError):
    """The job was cancelled by its owner (it left the waiting line or its worker was killed)."""

    def __init__(self) -> None:
        super().__init__("The computation was cancelled.")
