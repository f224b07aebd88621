"""The EM driver shared by the engines (private): problem contract, trace, acceleration.

* :mod:`imputer._em.trace`: :class:`EMTrace`, how a run went (carried by every result).
* :mod:`imputer._em.problem`: :class:`EMProblem`, what an engine supplies to the driver.
"""

from imputer._em.problem import EMProblem
from imputer._em.trace import STOP_REASONS, EMTrace, StopReason

__all__ = ["EMProblem", "EMTrace", "STOP_REASONS", "StopReason"]
