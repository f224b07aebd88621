r"""Watching a fit while it runs: a progress display, the caller's callback, a time limit.

A public fitting function (:func:`imputer.impute`, :func:`imputer.impute_t`,
:func:`imputer.impute_mixture`, :func:`imputer.fit_mixed`, ...) turns its ``progress``,
``callback`` and ``max_time`` arguments into a :class:`Monitor` (:func:`make_monitor`,
which validates them) and makes it *current* for the fit with :func:`watching`. The EM
driver (:func:`imputer._em.run_em`) reports to the current monitor at every evaluation of
the EM map and at every accepted iterate ``x_k`` (objective ``L(x_k)``, never decreasing).
At each accepted iterate the monitor

* builds a :class:`Progress` record: the iterate's number ``k`` (counted over every EM
  run of the fit, restarts and sub-fits included), the EM-map evaluations so far, the
  objective in the caller's units, the parameter change ``distance(x_{k-1}, x_k)`` between
  successive accepted iterates of one run (the driver's convergence measure, in ``tol``'s
  units; NaN at a run's first iterate) and the seconds since the fit began;
* shows it on a ``tqdm`` progress line when ``progress`` is on (from the fit's first
  second on: quicker fits print nothing);
* calls ``callback(k, progress)``; a truthy return ends the fit there
  (``stop_reason="stopped"``);
* ends the fit when more than ``max_time`` seconds have passed
  (``stop_reason="max_time"``).

A fit ended by the monitor returns its last accepted iterate, the best point of the run
so far (EM never lowers the objective), with ``converged=False``; :meth:`Monitor.warn`
says why with a :class:`~imputer.errors.ConvergenceWarning`. Once the monitor has ended a
fit, every further EM run under it (a mixture's remaining starts, a mixed model's
boundary probes) stops at its first iterate, so the time limit holds for the whole call.

The monitor is passed through a context variable rather than down every engine's call
chain: the engines stay unaware of it, and a run with no current monitor costs one
context-variable read.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import numbers
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from imputer.errors import ConvergenceWarning, ImputerTypeError, ImputerValueError

__all__ = ["Callback", "Monitor", "Progress", "current_monitor", "make_monitor", "watching"]


@dataclass(frozen=True)
class Progress:
    """The state of a fit at one accepted EM iterate, as given to ``callback``.

    Attributes
    ----------
    iteration : int
        Accepted iterates so far (1 at the starting point), over every EM run of the fit.
    n_evals : int
        EM-map evaluations so far (the honest measure of work).
    objective : float
        The objective EM increases at this iterate (log-likelihood, restricted
        log-likelihood or log-posterior), in the units of the result's ``loglik_history``.
    change : float
        Parameter change from the previous accepted iterate of the same EM run, in the
        units of ``tol`` (NaN at a run's first iterate).
    elapsed : float
        Seconds since the fit began.
    """

    iteration: int
    n_evals: int
    objective: float
    change: float
    elapsed: float


#: Seconds a fit runs before its progress line appears: quicker fits print nothing.
PROGRESS_DELAY = 1.0

#: ``callback(iteration, progress)``; a truthy return ends the fit.
Callback = Callable[[int, Progress], Any]

_CURRENT: contextvars.ContextVar[Monitor | None] = contextvars.ContextVar("imputer_em_monitor", default=None)


class Monitor:
    """Progress display, callback and time limit of one fit (see the module docstring).

    Parameters
    ----------
    callback : callable or None
        ``callback(iteration, progress)``; truthy return stops the fit.
    progress : bool
        Show a ``tqdm`` progress line on standard error.
    max_time : float or None
        Seconds after which the fit stops (checked at accepted iterates).
    offset : float, default 0.0
        Added to the driver's objective to give the caller's units (the engines that
        standardise report the objective of the standardised data).
    label : str, default "EM"
        The progress line's prefix.
    delay : float, optional
        Default :data:`PROGRESS_DELAY`. Seconds before the progress line appears (fits quicker than that show nothing).
    """

    def __init__(
        self,
        *,
        callback: Callback | None = None,
        progress: bool = False,
        max_time: float | None = None,
        offset: float = 0.0,
        label: str = "EM",
        delay: float | None = None,
    ) -> None:
        self.callback = callback
        self.max_time = max_time
        self.offset = float(offset)
        self.n_evals = 0
        self.iteration = 0
        self.fired: Literal["max_time", "stopped"] | None = None
        self._show = progress
        self._label = label
        self._delay = PROGRESS_DELAY if delay is None else delay
        self._bar: Any = None
        self._start = time.perf_counter()
        self._prev: tuple[object, np.ndarray] | None = None

    # -- called by the driver -------------------------------------------------------
    def evaluated(self) -> None:
        """One evaluation of an EM map."""
        self.n_evals += 1

    def accepted(self, problem: Any, x: np.ndarray, objective: float) -> bool:
        """An accepted iterate ``x`` of ``problem``'s run; whether the fit ends here."""
        if self.fired is not None:
            return True
        self.iteration += 1
        prev = self._prev
        change = float(problem.distance(prev[1], x)) if prev is not None and prev[0] is problem else math.nan
        self._prev = (problem, np.array(x, dtype=float))
        elapsed = time.perf_counter() - self._start
        state = Progress(self.iteration, self.n_evals, float(objective) + self.offset, change, elapsed)
        if self._show:
            self._display(state)
        if self.callback is not None and self.callback(self.iteration, state):
            self.fired = "stopped"
        elif self.max_time is not None and elapsed > self.max_time:
            self.fired = "max_time"
        return self.fired is not None

    # -- called by the fitting function ---------------------------------------------
    def close(self) -> None:
        """Close the progress line (if shown)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def warn(self, *, stacklevel: int) -> bool:
        """Warn when the monitor ended the fit; whether it did.

        ``stacklevel`` counts from the caller of this method, as for :func:`warnings.warn`.
        """
        if self.fired is None:
            return False
        elapsed = time.perf_counter() - self._start
        if self.fired == "max_time":
            why = f"the time limit max_time={self.max_time:g} s was reached ({elapsed:.3g} s)"
        else:
            why = "the callback asked to stop"
        warnings.warn(
            f"EM stopped after {self.iteration} iterate{'' if self.iteration == 1 else 's'} because {why}, before convergence: the "
            "estimates are the best iterate so far (converged=False)",
            ConvergenceWarning,
            stacklevel=stacklevel + 1,
        )
        return True

    def _display(self, state: Progress) -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(desc=self._label, unit=" it", file=sys.stderr, delay=self._delay, dynamic_ncols=True)
        self._bar.set_postfix_str(f"objective={state.objective:.10g} change={state.change:.3g}", refresh=False)
        self._bar.update(1)


def current_monitor() -> Monitor | None:
    """The monitor of the fit running in this context, if any (read by the driver)."""
    return _CURRENT.get()


@contextlib.contextmanager
def watching(monitor: Monitor | None) -> Iterator[Monitor | None]:
    """Make ``monitor`` current for the block (None: no monitor); close its display after."""
    if monitor is None:
        yield None
        return
    token = _CURRENT.set(monitor)
    try:
        yield monitor
    finally:
        _CURRENT.reset(token)
        monitor.close()


def make_monitor(
    callback: Any, progress: Any, max_time: Any, *, offset: float = 0.0, label: str = "EM", delay: float | None = None
) -> Monitor | None:
    """Validate a fitting function's ``callback``, ``progress`` and ``max_time``; their monitor.

    Returns None when none is in use (the driver then does no monitoring work at all).

    Raises
    ------
    ImputerTypeError
        ``callback`` not callable, ``progress`` not a bool, ``max_time`` not a number.
    ImputerValueError
        ``max_time`` not a finite number > 0.
    """
    if callback is not None and not callable(callback):
        raise ImputerTypeError(f"callback must be callable as callback(iteration, progress), got {type(callback).__name__}")
    if not isinstance(progress, (bool, np.bool_)):
        raise ImputerTypeError(f"progress must be a bool, got {type(progress).__name__}")
    if max_time is not None:
        if isinstance(max_time, (bool, np.bool_)) or not isinstance(max_time, numbers.Real):
            raise ImputerTypeError(f"max_time must be a number of seconds or None, got {type(max_time).__name__}")
        try:
            max_time = float(max_time)
        except OverflowError:  # an int beyond float range
            raise ImputerValueError(
                "max_time must be a finite number of seconds > 0 or None, got a value too large for a float"
            ) from None
        if not (math.isfinite(max_time) and max_time > 0):
            raise ImputerValueError(f"max_time must be a finite number of seconds > 0 or None, got {max_time!r}")
    if callback is None and not progress and max_time is None:
        return None
    return Monitor(callback=callback, progress=bool(progress), max_time=max_time, offset=offset, label=label, delay=delay)
