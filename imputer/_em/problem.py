"""What an engine supplies to the EM driver: the :class:`EMProblem` protocol.

An EM problem lives in *packed* coordinates: a 1-D float vector ``x`` (for the
multivariate normal ``x = (mu, vech(Sigma))``; for a mixed model the variance
components). The driver (SQUAREM with a monotonicity safeguard) needs only

* ``step(x) -> (F(x), L(x))``: one EM update from ``x`` and the objective *at* ``x``
  (which an E-step computes anyway). ``L = -inf`` marks an infeasible ``x``; ``F(x)`` is
  then ignored. This is the package's EM map: standard errors by SEM (numerical
  differentiation of ``F`` at the optimum) and data-augmentation steps reuse it.
* ``distance(x_old, x_new) -> float``: the convergence measure compared with ``tol``.
* ``feasible(x) -> bool``: whether ``x`` is a valid parameter (positive variances, a
  positive-definite covariance); extrapolations outside are rejected.

and, to talk to the rest of the engine, ``pack(params) -> x`` and ``unpack(x) -> params``
between the packed vector and the engine's typed parameters.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

import numpy as np

__all__ = ["EMProblem"]

P = TypeVar("P")


class EMProblem(Protocol[P]):
    """An EM iteration in packed coordinates (see the module docstring)."""

    def pack(self, params: P) -> np.ndarray:
        """Packed vector ``x``, shape (d,), of typed parameters."""
        ...

    def unpack(self, x: np.ndarray) -> P:
        """Typed parameters of a packed vector ``x``, shape (d,)."""
        ...

    def step(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        """One EM update ``F(x)`` (shape (d,)) and the objective ``L(x)`` (``-inf``: infeasible)."""
        ...

    def distance(self, x_old: np.ndarray, x_new: np.ndarray) -> float:
        """Convergence measure between successive iterates (compared with ``tol``)."""
        ...

    def feasible(self, x: np.ndarray) -> bool:
        """Whether ``x`` is a valid parameter vector."""
        ...
