"""What an engine supplies to the EM driver: the :class:`EMProblem` protocol.

An EM problem lives in *packed* coordinates: a 1-D float vector ``x`` (for the
multivariate normal ``x = (mu, vech(Sigma))``; for a mixed model the variance
components). The driver (SQUAREM with a monotonicity safeguard) needs only

* ``step(x) -> (F(x), L(x))``: one EM update from ``x`` and the objective *at* ``x``
  (which an E-step computes anyway). ``L = -inf`` marks an infeasible ``x``; ``F(x)`` is
  then ignored. When ``x`` is valid but its update is not (``L(x)`` finite, the update
  outside the parameter space, e.g. a numerically singular covariance: the objective
  increases toward the edge, where it has no maximum), ``step`` returns
  ``(None, L(x))``; the driver then ends the run with ``stop_reason="singular"`` at the
  best iterate seen. ``step`` never raises for either case: the driver needs no
  exception to leave its loop. This is the package's EM map: standard errors by SEM
  (numerical differentiation of ``F`` at the optimum) and data-augmentation steps
  reuse it.
* ``distance(x_old, x_new) -> float``: the convergence measure compared with ``tol``.
* ``feasible(x) -> bool``: whether ``x`` is a valid parameter (positive variances, a
  positive-definite covariance); the driver checks the start and every extrapolated
  point with it and rejects those outside without calling ``step``. ``step`` must still
  return ``L = -inf`` for an ``x`` it finds invalid (feasibility may only show inside the
  E-step).

and, to talk to the rest of the engine, ``pack(params) -> x`` and ``unpack(x) -> params``
between the packed vector and the engine's typed parameters.

Optionally (:class:`FreeCoordinates`), ``to_free(x) -> z`` and ``from_free(z) -> x``: a
smooth one-to-one map between the feasible set and an open set of coordinates in which
the EM path is close to a straight line, used by the Anderson accelerator
(:mod:`imputer._em.anderson`) to extrapolate (``to_free`` returns None for an ``x`` outside
its domain). The EM map, the objective, ``distance`` and the result stay in ``x``.

Optionally, ``newton(x, F(x)) -> x_N or None``: a Newton point of the objective from ``x``
(for the multivariate normal with few columns, :mod:`imputer.mvn._newton`), which the
Anderson driver offers as a proposal near the optimum under its safeguard; and with it,
optionally, ``newton_fresh() -> bool``: whether the point ``newton`` last returned starts
a new contraction (an extrapolation of its chain, :mod:`imputer.mvn._fillnewton`), so that
the driver's test on the chain's moves starts afresh after it.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

import numpy as np

__all__ = ["EMProblem", "FreeCoordinates"]

P = TypeVar("P")


class EMProblem(Protocol[P]):
    """An EM iteration in packed coordinates (see the module docstring)."""

    def pack(self, params: P) -> np.ndarray:
        """Packed vector ``x``, shape (d,), of typed parameters."""
        ...

    def unpack(self, x: np.ndarray) -> P:
        """Typed parameters of a packed vector ``x``, shape (d,)."""
        ...

    def step(self, x: np.ndarray) -> tuple[np.ndarray | None, float]:
        """One EM update ``F(x)`` (shape (d,); None: singular) and the objective ``L(x)`` (``-inf``: infeasible)."""
        ...

    def distance(self, x_old: np.ndarray, x_new: np.ndarray) -> float:
        """Convergence measure between successive iterates (compared with ``tol``)."""
        ...

    def feasible(self, x: np.ndarray) -> bool:
        """Whether ``x`` is a valid parameter vector."""
        ...


class FreeCoordinates(Protocol):
    """Optional: coordinates for the accelerator's extrapolation (see the module docstring)."""

    def to_free(self, x: np.ndarray) -> np.ndarray | None:
        """Free coordinates ``z``, shape (k,), of a packed ``x`` (None: ``x`` outside the domain)."""
        ...

    def from_free(self, z: np.ndarray) -> np.ndarray:
        """The packed ``x``, shape (d,), of free coordinates ``z``."""
        ...
