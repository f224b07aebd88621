"""The EM driver shared by the engines (private): problem contract, trace, acceleration.

* :mod:`imputer._em.problem`: :class:`EMProblem`, what an engine supplies to the driver
  (packed parameters, the EM map ``step``, ``distance``, ``feasible``).
* :mod:`imputer._em.squarem`: :func:`run_em`, SQUAREM-accelerated EM with a monotonicity
  safeguard and a ``stop`` hook; it always returns an :class:`EMRun`.
* :mod:`imputer._em.monitor`: :class:`Monitor` (progress display, ``callback``,
  ``max_time``) that a fitting function makes current with :func:`watching`.
* :mod:`imputer._em.trace`: :class:`EMTrace`, how a run went (carried by every result).
"""

from imputer._em.monitor import Monitor, Progress, make_monitor, watching
from imputer._em.problem import EMProblem
from imputer._em.squarem import EMRun, StopHook, run_em
from imputer._em.trace import STOP_REASONS, EMTrace, StopReason, TraceFields

__all__ = [
    "EMProblem", "EMRun", "EMTrace", "Monitor", "Progress", "STOP_REASONS", "StopHook", "StopReason", "TraceFields",
    "make_monitor", "run_em", "watching",
]
