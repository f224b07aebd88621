r"""The EM driver: SQUAREM acceleration of a monotone EM iteration, :func:`run_em`.

Let ``F`` be the EM map of an :class:`~imputer._em.problem.EMProblem` on a packed
parameter vector ``x`` and ``L`` the objective EM increases (a log-likelihood or
log-posterior), so that ``L(F(x)) >= L(x)``. Plain EM iterates ``x_{k+1} = F(x_k)``.
SQUAREM (Varadhan & Roland, 2008, *Scand. J. Statist.* 35:335-353, scheme SqS3) takes
two EM steps from ``x0``,

    x1 = F(x0),   x2 = F(x1),   r = x1 - x0,   v = (x2 - x1) - r,

extrapolates along the squared polynomial

    x' = x0 - 2 a r + a^2 v,        a = -min(||r|| / ||v||, a_max)   (a <= -1),

and stabilises with one more EM step, ``x_new = F(x')``. With ``a = -1`` the
extrapolation is exactly ``x2``, the plain double EM step.

Safeguard (monotonicity): the extrapolated point is accepted only if it is feasible
(``problem.feasible``; an infeasible one is rejected without evaluating ``F``) and
``L(x') >= L(x0)``; then ``L(x_new) >= L(x') >= L(x0)``. Otherwise the cycle falls back to
``x2`` (``L(x2) >= L(x1) >= L(x0)``) and the maximum step length ``a_max`` is reset.
Every accepted iterate therefore has an objective no lower than the one before it,
which is what the trace's ``history`` records. ``a_max`` starts at 1 and is multiplied
by 4 each time the step hits it, as in the reference implementation of the ``SQUAREM``
R package.

How a run ends (:attr:`EMTrace.stop_reason <imputer._em.trace.EMTrace.stop_reason>`);
the driver always returns, whatever happens inside the problem:

* ``"converged"``: ``problem.distance(x, F(x)) <= tol`` for an accepted ``x``; the
  result is ``F(x)``.
* ``"max_iter"``: ``max_iter`` outer iterations (one EM step, or one SQUAREM cycle of up
  to three) without convergence; the result is the current iterate (an EM update, not
  yet evaluated).
* ``"stopped"``: the caller's hook ``stop(x, L(x))``, checked at every accepted iterate,
  returned True, or the current :class:`~imputer._em.monitor.Monitor`'s ``callback`` asked
  to stop; the result is that iterate.
* ``"max_time"``: the current monitor's time limit passed; the result is the iterate
  where it was noticed (see :mod:`imputer._em.monitor`).
* ``"singular"``: the EM update of a feasible accepted iterate is not a valid parameter:
  the problem's ``step`` said so by returning ``(None, L(x))`` (e.g. the covariance
  update of the multivariate normal is numerically singular), or evaluating the update
  found it infeasible. The objective is then increasing toward the edge of the parameter
  space, where it has no maximum. The result is the best iterate seen (highest objective
  among the evaluated points).
* ``"infeasible"``: the starting point is not valid; the result is ``x0``.

``EMRun.best`` is the evaluated point with the highest objective in every case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imputer._em.monitor import current_monitor
from imputer._em.problem import EMProblem
from imputer._em.trace import EMTrace, StopReason

__all__ = ["EMRun", "StopHook", "run_em"]

#: ``stop(x, obj) -> bool``, called at every accepted iterate ``x`` (shape (d,)) with its
#: objective; True ends the run there with ``stop_reason="stopped"``.
StopHook = Callable[[np.ndarray, float], bool]

# Relative slack when comparing objectives, so that rounding noise at the optimum
# does not reject an extrapolation that is, to machine precision, no worse.
_OBJ_RTOL = 1e-12
_STEP_GROWTH = 4.0


@dataclass(frozen=True, eq=False)
class EMRun:
    """Outcome of :func:`run_em`.

    Attributes
    ----------
    x : ndarray, shape (d,)
        The estimate: ``F`` of the last accepted iterate when converged, the current
        iterate at ``max_iter``, the stopping iterate when stopped, ``best`` when the
        update turned singular, ``x0`` when the start was infeasible (see the module
        docstring).
    best : ndarray, shape (d,)
        The evaluated point with the highest objective (``x0`` if none was feasible).
    best_objective : float
        Its objective (``-inf`` if none was feasible).
    trace : EMTrace
        Iterations, EM-map evaluations, history of accepted objectives, stop reason.
    """

    x: np.ndarray = field(repr=False)
    best: np.ndarray = field(repr=False)
    best_objective: float
    trace: EMTrace


def _not_worse(candidate: float, reference: float) -> bool:
    if not np.isfinite(candidate):
        return False
    return candidate >= reference - _OBJ_RTOL * max(1.0, abs(reference))


class _Tally:
    """The bookkeeping of one run: evaluations, accepted objectives, the best point."""

    def __init__(self, problem: EMProblem[Any], stop: StopHook | None) -> None:
        self.problem = problem
        self.stop = stop
        self.history: list[float] = []
        self.changes: list[float] = []
        self.n_evals = 0
        self.n_rejected = 0
        self.best: np.ndarray | None = None
        self.best_obj = -np.inf
        self.monitor = current_monitor()

    def evaluate(self, x: np.ndarray) -> tuple[np.ndarray | None, float]:
        """``(F(x), L(x))``; ``L = -inf`` when infeasible, ``F(x) = None`` when singular."""
        fx, obj = self.problem.step(x)
        self.n_evals += 1
        if self.monitor is not None:
            self.monitor.evaluated()
        obj = float(obj)
        if not np.isfinite(obj):
            return None, -np.inf
        if obj > self.best_obj:
            self.best, self.best_obj = x, obj
        return fx, obj

    def accept(self, x: np.ndarray, obj: float) -> bool:
        """Record an accepted iterate; whether the stop hook ends the run there."""
        self.history.append(obj)
        if self.monitor is not None and self.monitor.accepted(self.problem, x, obj):
            return True
        return self.stop is not None and bool(self.stop(x, obj))

    def end(self, x: np.ndarray, reason: StopReason, n_iter: int) -> EMRun:
        best = x if self.best is None else self.best
        if reason == "stopped" and self.monitor is not None and self.monitor.fired is not None:
            reason = self.monitor.fired
        if reason == "singular":
            x = best
        trace = EMTrace(
            n_iter=n_iter,
            n_evals=self.n_evals,
            converged=reason == "converged",
            history=np.asarray(self.history, dtype=float),
            stop_reason=reason,
            n_rejected=self.n_rejected,
            changes=np.asarray(self.changes, dtype=float),
        )
        return EMRun(x=np.array(x, dtype=float), best=np.array(best, dtype=float), best_objective=self.best_obj, trace=trace)


def run_em(
    problem: EMProblem[Any],
    x0: np.ndarray,
    *,
    tol: float,
    max_iter: int,
    accelerate: bool = True,
    stop: StopHook | None = None,
) -> EMRun:
    """Run EM on ``problem`` from ``x0``, accelerated by SQUAREM unless ``accelerate`` is False.

    Parameters
    ----------
    problem : EMProblem
        Supplies ``step(x) -> (F(x) or None, L(x))``, ``distance`` and ``feasible`` (see
        :mod:`imputer._em.problem`). ``step`` is the only call that costs an EM map.
    x0 : ndarray, shape (d,)
        Starting packed parameter vector.
    tol : float
        Converged when ``problem.distance(x, F(x)) <= tol`` at an accepted ``x``.
    max_iter : int
        Maximum number of outer iterations (>= 0).
    accelerate : bool, default True
        SQUAREM when True; plain EM (one step per iteration) when False.
    stop : callable, optional
        ``stop(x, L(x)) -> bool`` checked at every accepted iterate (before the
        convergence test); True ends the run there with ``stop_reason="stopped"``.

    Returns
    -------
    EMRun
        Never raises for the run's own outcome: how it ended is ``trace.stop_reason``
        (see the module docstring). Exceptions raised by the problem itself propagate.
    """
    run = _Tally(problem, stop)
    x = np.array(x0, dtype=float)
    if not problem.feasible(x):
        return run.end(x, "infeasible", 0)
    step_max = 1.0
    for it in range(1, max_iter + 1):
        x1, obj0 = run.evaluate(x)
        if not np.isfinite(obj0):
            # x0 invalid after all; later, x is an EM update found infeasible
            return run.end(x, "infeasible" if it == 1 else "singular", it)
        if run.accept(x, obj0):
            return run.end(x, "stopped", it)
        if x1 is None:
            return run.end(x, "singular", it)
        change = problem.distance(x, x1)
        run.changes.append(change)
        if change <= tol:
            return run.end(x1, "converged", it)
        if not accelerate:
            x = x1
            continue

        x2, obj1 = run.evaluate(x1)
        if not np.isfinite(obj1):
            return run.end(x, "singular", it)
        change1 = None if x2 is None else problem.distance(x1, x2)
        if change1 is not None and change1 <= tol:
            run.changes.append(change1)  # the cycle converged at its first EM update
        if change1 is None or change1 <= tol:
            if run.accept(x1, obj1):
                return run.end(x1, "stopped", it)
            if x2 is None:
                return run.end(x1, "singular", it)
            return run.end(x2, "converged", it)
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
            if run.accept(x1, obj1):
                return run.end(x1, "stopped", it)
            x = x2
            continue
        x_extra = x + 2.0 * alpha * r + alpha * alpha * v
        x_new, obj_extra = run.evaluate(x_extra) if problem.feasible(x_extra) else (None, -np.inf)
        if _not_worse(obj_extra, obj0):
            if hit_max:
                step_max *= _STEP_GROWTH
            if run.accept(x_extra, obj_extra):
                return run.end(x_extra, "stopped", it)
            if x_new is None:
                return run.end(x_extra, "singular", it)
            x = x_new
        else:
            run.n_rejected += 1
            step_max = 1.0
            if run.accept(x1, obj1):
                return run.end(x1, "stopped", it)
            x = x2
    return run.end(x, "max_iter", max_iter)
