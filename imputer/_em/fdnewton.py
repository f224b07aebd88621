r"""Newton steps on EM's fixed point for problems with few parameters (:func:`newton_point`).

Where EM contracts slowly -- a variance component small but not zero, so that the
fraction of missing information about it is near 1 -- SQUAREM still needs thousands of
evaluations (a mixed model on 100,000 rows with two crossed random intercepts whose
variances are 1e-5 and 2e-4 of the residual's: 10,671 EM evaluations), and a stop on the
relative change of one EM step (``tol``) leaves the estimate ``tol / (1 - rho)`` from the
optimum, ``rho`` the EM rate. For a problem of ``d <= MAX_DIM`` parameters Newton's method
on the fixed-point equation is cheap. In coordinates ``z`` in which the problem's positive
entries (variances) are logged and the others (covariances) kept,

.. math::

    z_N = z + (I - J)^{-1} (G(z) - z), \qquad J = \partial G / \partial z,

with ``G`` the EM map in those coordinates and ``J`` by forward differences (``d``
evaluations of the EM map, steps :data:`FD_STEP`). At the fixed point ``J`` is EM's rate
matrix; its spectral radius is the EM rate, and Newton converges quadratically whatever
that rate, where EM's own error falls by the factor ``rho`` a step. Away from a maximum
Newton's point is no better than any stationary point (a saddle; or a walk along a ridge
toward the boundary that raises the objective at every step), so no point is made where
``J``'s spectral radius is 1 or more (near a maximum EM's Jacobian has its eigenvalues in
[0, 1)), and the driver (:func:`imputer._em.run_em`) keeps a point only if it is feasible
and its objective is not below the EM step's; otherwise it goes on with SQUAREM. Logging
the variances keeps every Newton point's variances positive.

A problem opts in by offering ``newton_mask() -> ndarray of bool or None`` (shape (d,):
the entries to log; :class:`~imputer.mixed._problem.MixedProblem`, scalar variance
components only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CHANGE_FLOOR", "FD_STEP", "MAX_DIM", "MIN_RATE", "NewtonPoint", "newton_mask", "newton_point"]

#: Largest number of parameters for which a Jacobian (``d`` evaluations) is worth it.
MAX_DIM = 12
#: EM rate (from SQUAREM's last cycle, or the last Jacobian) from which Newton points are
#: tried: where EM is fast, the ``d + 1`` evaluations of a point cost more than they save.
MIN_RATE = 0.5
#: Forward-difference step in the coordinates ``z`` (relative for the kept entries).
FD_STEP = 1e-6
#: Rounding floor of EM's relative change: below it the change no longer measures the
#: distance left, and the driver ends the run with one Newton point more.
CHANGE_FLOOR = 1e-14

Evaluate = Callable[[np.ndarray], tuple[np.ndarray | None, float]]


@dataclass(frozen=True)
class NewtonPoint:
    """A Newton point of EM's fixed-point equation.

    Attributes
    ----------
    x : ndarray, shape (d,)
        The point, in the problem's packed coordinates (not yet evaluated).
    rate : float
        Spectral radius of the Jacobian ``J`` at the point it was made from (EM's rate there).
    """

    x: np.ndarray
    rate: float


def newton_mask(problem: Any, d: int) -> np.ndarray | None:
    """The problem's mask of entries to log (shape (d,)), or None: no Newton points for it."""
    f = getattr(problem, "newton_mask", None)
    if not callable(f) or d > MAX_DIM:
        return None
    mask = f()
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)
    return mask if mask.shape == (d,) else None


def _to_z(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    z = np.array(x, dtype=float)
    z[mask] = np.log(z[mask])
    return z


def _from_z(z: np.ndarray, mask: np.ndarray) -> np.ndarray:
    x = np.array(z, dtype=float)
    x[mask] = np.exp(z[mask])
    return x


def newton_point(evaluate: Evaluate, x: np.ndarray, fx: np.ndarray, mask: np.ndarray) -> NewtonPoint | None:
    """Newton's point for ``F(x) = x`` from ``x``, with ``J`` by forward differences.

    Parameters
    ----------
    evaluate : callable
        ``x -> (F(x) or None, L(x))``: the driver's counted evaluation.
    x : ndarray, shape (d,)
        A feasible point whose masked entries are positive.
    fx : ndarray, shape (d,)
        ``F(x)`` (its masked entries positive).
    mask : ndarray of bool, shape (d,)
        Entries taken in logs.

    Returns
    -------
    NewtonPoint or None
        None when a difference point is infeasible or its update singular, when ``J``'s
        spectral radius is 1 or more (away from a maximum, where EM's Jacobian has its
        eigenvalues in [0, 1), Newton's point can be a saddle, or a step along a ridge
        toward the boundary), or when ``I - J`` is singular; no evaluation is then spent
        on a point.
    """
    if np.any(x[mask] <= 0) or np.any(fx[mask] <= 0):
        return None
    d = x.size
    z, gz = _to_z(x, mask), _to_z(fx, mask)
    ref = float(np.median(x[mask])) if mask.any() else 1.0
    h = np.where(mask, FD_STEP, FD_STEP * np.maximum(np.abs(x), ref))
    J = np.empty((d, d))
    for j in range(d):
        zj = z.copy()
        zj[j] += h[j]
        fj, obj = evaluate(_from_z(zj, mask))
        if fj is None or not np.isfinite(obj) or np.any(fj[mask] <= 0):
            return None
        J[:, j] = (_to_z(fj, mask) - gz) / h[j]
    if not np.all(np.isfinite(J)):
        return None
    rate = float(np.max(np.abs(np.linalg.eigvals(J))))
    if not rate < 1.0:
        # not the contraction EM is near a maximum: Newton's point would be a stationary
        # point of another kind, or a walk along a ridge toward the boundary
        return None
    try:
        zn = z + np.linalg.solve(np.eye(d) - J, gz - z)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(zn)) or np.any(zn[mask] > 700.0):
        return None
    return NewtonPoint(x=_from_z(zn, mask), rate=rate)
