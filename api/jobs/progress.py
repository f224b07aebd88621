"""Progress of the computation running in this worker process, for the job API.

A job's task (:class:`api.jobs.run.JobTask`) installs a reporter for the duration of
its run; the engines' ``callback=`` (``callback(iteration, state)``, ``state`` an
:class:`imputer.Progress`) is then :func:`callback_kwargs`'s ``callback``. Outside a
job (the synchronous endpoints) there is no reporter and :func:`callback_kwargs` is
empty, so the engines run exactly as before.

The reporter writes at most one update every ``every_s`` seconds (and the last state
seen is written when the run ends), so a fit of thousands of fast iterations does not
turn into thousands of database writes.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Reporter", "reporting", "callback_kwargs"]

logger = logging.getLogger("api.jobs")

_FIELDS = ("iteration", "n_evals", "objective", "change", "elapsed")


def _number(value: Any) -> float | int | None:
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    if out != out or out in (float("inf"), float("-inf")):
        return None
    return int(value) if isinstance(value, int) else out


class Reporter:
    """Throttled progress sink: ``reporter(iteration, state)`` never stops the fit (returns None).

    Parameters
    ----------
    write : callable
        Receives ``{iteration, n_evals, objective, change, elapsed}`` (finite numbers or None).
    every_s : float
        Least time between two writes, in seconds.
    """

    def __init__(self, write: Callable[[dict[str, Any]], None], every_s: float = 0.5) -> None:
        self.write = write
        self.every_s = every_s
        self._last_write = float("-inf")
        self._pending: dict[str, Any] | None = None
        self._failed = False

    def __call__(self, iteration: int, state: Any) -> None:
        values = {name: _number(getattr(state, name, None)) for name in _FIELDS}
        values["iteration"] = int(iteration)
        self._pending = values
        if time.monotonic() - self._last_write >= self.every_s:
            self.flush()

    def flush(self) -> None:
        """Write the latest state not yet written (a failing store is logged once, then ignored)."""
        if self._pending is None or self._failed:
            return
        values, self._pending = self._pending, None
        self._last_write = time.monotonic()
        try:
            self.write(values)
        except Exception:  # noqa: BLE001 - progress is best effort; the fit goes on
            self._failed = True
            logger.exception("could not record the job's progress")


_current: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar("imputer_job_progress", default=None)


@contextmanager
def reporting(reporter: Reporter) -> Iterator[Reporter]:
    """Install ``reporter`` for the code run inside (flushed on the way out)."""
    token = _current.set(reporter)
    try:
        yield reporter
    finally:
        _current.reset(token)
        reporter.flush()


def callback_kwargs() -> dict[str, Any]:
    """``{"callback": reporter}`` inside a job, ``{}`` otherwise (pass as ``**callback_kwargs()``)."""
    reporter = _current.get()
    return {} if reporter is None else {"callback": reporter}
