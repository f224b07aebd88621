"""SQUAREM acceleration of a monotone fixed-point (EM) iteration.

Let ``F`` be an EM map on a parameter vector ``x`` and ``L`` the objective EM
increases (a log-likelihood or log-posterior), so that ``L(F(x)) >= L(x)``.
Plain EM iterates ``x_{k+1} = F(x_k)``. SQUAREM (Varadhan & Roland, 2008,
*Scand. J. Statist.* 35:335-353, scheme SqS3) takes two EM steps from ``x0``,

    x1 = F(x0),   x2 = F(x1),   r = x1 - x0,   v = (x2 - x1) - r,

extrapolates along the squared polynomial

    x' = x0 - 2 a r + a^2 v,        a = -min(||r|| / ||v||, a_max)   (a <= -1),

and stabilises with one more EM step, ``x_new = F(x')``. With ``a = -1`` the
extrapolation is exactly ``x2``, the plain double EM step.

Safeguard (monotonicity): the extrapolated point is accepted only if it is
feasible and ``L(x') >= L(x0)``; then ``L(x_new) >= L(x') >= L(x0)``. Otherwise
the step falls back to ``x2`` (``L(x2) >= L(x1) >= L(x0)``) and the maximum step
length ``a_max`` is reset. Every accepted iterate therefore has an objective no
lower than the one before it, which is what ``AccelResult.history`` records.
``a_max`` starts at 1 and is multiplied by 4 each time the step hits it, as in
the reference implementation of the ``SQUAREM`` R package.

The engine supplies ``step(x) -> (F(x), L(x))`` (one EM update and the objective
*at* ``x``, which an E-step computes anyway; ``L = -inf`` marks an infeasible
``x``) and a convergence measure ``distance(x_old, x_new)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["AccelResult", "squarem"]

Step = Callable[[np.ndarray], tuple[np.ndarray, float]]
Distance = Callable[[np.ndarray, np.ndarray], float]

# Relative slack when comparing objectives, so that rounding noise at the optimum
# does not reject an extrapolation that is, to machine precision, no worse.
_OBJ_RTOL = 1e-12
_STEP_GROWTH = 4.0


@dataclass(frozen=True)
class AccelResult:
    """Outcome of :func:`squarem`.

    Attributes
    ----------
    x : ndarray, shape (d,)
        Final parameter vector: the output of the last EM update, hence feasible.
    history : ndarray, shape (k,)
        Objective at every accepted iterate, in order; non-decreasing.
    n_iter : int
        Outer iterations (one plain EM step, or one SQUAREM cycle of up to three).
    n_evals : int
        Calls of ``step`` (EM-map evaluations), the honest cost measure.
    converged : bool
        Whether ``distance`` fell to ``tol`` or below within ``max_iter``.
    n_rejected : int
        SQUAREM extrapolations rejected by the safeguard (0 for plain EM).
    """

    x: np.ndarray
    history: np.ndarray
    n_iter: int
    n_evals: int
    converged: bool
    n_rejected: int = 0


def _not_worse(candidate: float, reference: float) -> bool:
    if not np.isfinite(candidate):
        return False
    return candidate >= reference - _OBJ_RTOL * max(1.0, abs(reference))


def squarem(
    step: Step,
    x0: np.ndarray,
    *,
    distance: Distance,
    tol: float,
    max_iter: int,
    accelerate: bool = True,
    callback: Callable[[np.ndarray, float], None] | None = None,
) -> AccelResult:
    """Run EM, accelerated by SQUAREM unless ``accelerate`` is False.

    Parameters
    ----------
    step : callable
        ``step(x) -> (Fx, obj)``: one EM update from ``x`` (shape (d,)) and the
        objective at ``x``. ``obj = -inf`` marks ``x`` infeasible (``Fx`` ignored).
        The start ``x0`` must be feasible.
    x0 : ndarray, shape (d,)
        Starting parameter vector.
    distance : callable
        ``distance(x_old, x_new) -> float``, the convergence measure.
    tol : float
        Stop when ``distance`` between successive EM iterates is ``<= tol``.
    max_iter : int
        Maximum number of outer iterations.
    accelerate : bool, default True
        SQUAREM when True; plain EM (one step per iteration) when False.
    callback : callable, optional
        Called as ``callback(x, obj)`` at every accepted iterate.

    Returns
    -------
    AccelResult
    """
    x = np.asarray(x0, dtype=float).copy()
    history: list[float] = []
    n_evals = 0
    n_rejected = 0
    step_max = 1.0

    def accept(point: np.ndarray, obj: float) -> None:
        history.append(float(obj))
        if callback is not None:
            callback(point, obj)

    for it in range(1, max_iter + 1):
        x1, obj0 = step(x)
        n_evals += 1
        if not np.isfinite(obj0):
            # Only reachable if the caller's start was infeasible; report, don't loop.
            return AccelResult(x, np.asarray(history), it, n_evals, False, n_rejected)
        accept(x, obj0)
        if distance(x, x1) <= tol:
            return AccelResult(x1, np.asarray(history), it, n_evals, True, n_rejected)
        if not accelerate:
            x = x1
            continue

        x2, obj1 = step(x1)
        n_evals += 1
        if distance(x1, x2) <= tol:
            accept(x1, obj1)
            return AccelResult(x2, np.asarray(history), it, n_evals, True, n_rejected)
        r = x1 - x
        v = (x2 - x1) - r
        rr, vv = float(r @ r), float(v @ v)
        alpha = np.sqrt(rr / vv) if vv > 0.0 else 1.0
        alpha = max(1.0, min(step_max, alpha))
        hit_max = alpha >= step_max
        if alpha == 1.0:
            # The extrapolation is x2 itself: nothing to gain from a third call.
            if hit_max:
                step_max *= _STEP_GROWTH
            accept(x1, obj1)
            x = x2
            continue
        x_extra = x + 2.0 * alpha * r + alpha * alpha * v
        x_new, obj_extra = step(x_extra)
        n_evals += 1
        if _not_worse(obj_extra, obj0):
            if hit_max:
                step_max *= _STEP_GROWTH
            accept(x_extra, obj_extra)
            x = x_new
        else:
            n_rejected += 1
            step_max = 1.0
            accept(x1, obj1)
            x = x2
    return AccelResult(x, np.asarray(history), max_iter, n_evals, False, n_rejected)
