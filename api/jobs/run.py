"""What a worker process runs for a job: the synchronous endpoint's task, recorded in the store.

:class:`JobTask` wraps a task of :mod:`api.tasks` (the same object the synchronous
endpoint would run). In the worker it marks the job ``running`` (with its process id),
installs the progress reporter (:mod:`api.jobs.progress`, writing to the job's row at
most every ``progress_every_s`` seconds), runs the task's ``run_all()`` (one
computation, answered in every format the endpoint offers) and compresses each
answer. The compressed answers go back to the server over the worker's pipe; the
server stores them (:meth:`api.jobs.service.JobService`), so the final state is
written by one party only.

A store that cannot be written from the worker (progress, ``running``) does not stop
the computation: progress is best effort, the outcome is recorded by the server.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from api.jobs.codec import compress
from api.jobs.progress import Reporter, reporting
from api.jobs.store import JobStore, Output

__all__ = ["JobTask"]

logger = logging.getLogger("api.jobs")


@dataclass(frozen=True)
class JobTask:
    """A job's computation (runs in a worker process).

    Attributes
    ----------
    task : object
        A task of :mod:`api.tasks` (``run_all()`` -> ``{format: JobOutput}`` or one
        :class:`~api.tasks.JobOutput` problem answer).
    job_id : str
        The job's id in the store.
    store_url : str
        SQLAlchemy URL of the store (absolute for SQLite).
    progress_every_s : float
        Least time between two progress writes.
    """

    task: Any
    job_id: str
    store_url: str
    progress_every_s: float = 0.5

    def run(self) -> list[Output]:
        """Run the task; its answers, compressed (a failed one is a single ``json`` answer)."""
        store: JobStore | None
        try:
            store = JobStore(self.store_url, create=False)
            store.mark_running(self.job_id, os.getpid())
        except Exception:  # noqa: BLE001 - the server still records the outcome
            logger.exception("job %s: could not mark it running", self.job_id)
            store = None
        job_id = self.job_id

        def write(values: dict[str, Any]) -> None:
            if store is not None:
                store.report(job_id, values)

        with reporting(Reporter(write, self.progress_every_s)):
            answers = self.task.run_all()
        if isinstance(answers, tuple):  # one problem answer
            answers = {"json": answers}
        return [
            Output(format=fmt, status=status, media_type=media, size=len(body), payload=compress(body), headers=headers)
            for fmt, (status, media, body, headers) in answers.items()
        ]
