"""The EM driver shared by the engines (private): problem contract, trace, acceleration.

* :mod:`imputer._em.problem`: :class:`EMProblem`, what an engine supplies to the driver
  (packed parameters, the EM map ``step``, ``distance``, ``feasible``; optionally
  :class:`FreeCoordinates` for the accelerator).
* :mod:`imputer._em.squarem`: :func:`run_em`, accelerated EM with a monotonicity
  safeguard and a ``stop`` hook (SQUAREM here; Anderson acceleration with a rate-scaled
  stopping rule in :mod:`imputer._em.anderson`, chosen by ``method``); it always
  returns an :class:`EMRun`.
* :mod:`imputer._em.fdnewton`: Newton points on EM's fixed point for problems with few
  parameters (a forward-difference Jacobian), which SQUAREM tries where EM is slow.
* :mod:`imputer._em.monitor`: :class:`Monitor` (progress display, ``callback``,
  ``max_time``) that a fitting function makes current with :func:`watching`.
* :mod:`imputer._em.trace`: :class:`EMTrace`, how a run went (carried by every result).
"""

from imputer._em.monitor import Monitor, Progress, make_monitor, watching
from imputer._em.problem import EMProblem, FreeCoordinates
from imputer._em.squarem import EMRun, Method, StopHook, run_em
from imputer._em.trace import STOP_REASONS, EMTrace, StopReason, TraceFields

__all__ = [
    "EMProblem", "EMRun", "EMTrace", "FreeCoordinates", "Method", "Monitor", "Progress", "STOP_REASONS", "StopHook",
    "StopReason", "TraceFields", "make_monitor", "run_em", "watching",
]
