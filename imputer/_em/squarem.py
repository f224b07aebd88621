r"""The EM driver: :func:`run_em`, and SQUAREM acceleration of a monotone EM iteration.

:func:`run_em` runs plain EM (``accelerate=False``), SQUAREM (below), or Anderson
acceleration (:mod:`imputer._em.anderson`), chosen by ``method``: ``"auto"`` takes Anderson
for problems with free coordinates (:class:`~imputer._em.problem.FreeCoordinates`: the
multivariate normal) and SQUAREM for the others (mixed models, the t, mixtures).

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

Newton points (problems that offer ``newton_mask``, :mod:`imputer._em.fdnewton`: mixed
models with scalar variance components). Each SQUAREM cycle estimates EM's rate ``rho``
as the ratio of its two EM changes. Once ``rho >= MIN_RATE``, after the cycle's second EM
evaluation, the iteration tries Newton's point for ``F(x) = x`` (a forward-difference
Jacobian, ``d`` evaluations; no point where the Jacobian's spectral radius is 1 or more),
kept only if it is feasible and its objective is not below the EM step's, ``L(F(x))``. A
kept point replaces the cycle's extrapolation and sets ``rho`` to its Jacobian's spectral
radius; a refused one lets the cycle go on and doubles the wait before the next try.
While Newton points are being kept the stopping test is scaled by the rate: the run ends
when EM's change is at most ``tol (1 - rho)`` (the change is ``1 - rho`` times the
distance left), when Newton's move is at most ``tol`` (the result is then the Newton
point), or, at the rounding floor of EM's change (``CHANGE_FLOOR``) or when Newton's
moves stop shrinking for no gain in the objective, at the last Newton point. Otherwise
the test is EM's change against ``tol``, as without Newton points; where that test is met
while a Newton point is due, the point is tried first.

How a run ends (:attr:`EMTrace.stop_reason <imputer._em.trace.EMTrace.stop_reason>`);
the driver always returns, whatever happens inside the problem:

* ``"converged"``: ``problem.distance(x, F(x)) <= tol`` for an accepted ``x`` (scaled
  by ``1 - rho`` while Newton points are kept, above); the result is ``F(x)``, or the
  last Newton point when a Newton test ended the run.
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
from typing import Any, Literal

import numpy as np

from imputer._em import fdnewton
from imputer._em.monitor import current_monitor
from imputer._em.problem import EMProblem
from imputer._em.trace import EMTrace, StopReason

__all__ = ["EMRun", "Method", "StopHook", "run_em"]

#: The accelerated driver: ``"auto"`` is Anderson acceleration (:mod:`imputer._em.anderson`)
#: for problems with free coordinates (the multivariate normal), SQUAREM for the others;
#: ``"anderson"`` and ``"squarem"`` force one (``"squarem"`` is the driver as it was before
#: Anderson acceleration, kept for comparison).
Method = Literal["auto", "anderson", "squarem"]

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


def _has_free_coordinates(problem: EMProblem[Any]) -> bool:
    return callable(getattr(problem, "to_free", None)) and callable(getattr(problem, "from_free", None))


def run_em(
    problem: EMProblem[Any],
    x0: np.ndarray,
    *,
    tol: float,
    max_iter: int,
    accelerate: bool = True,
    stop: StopHook | None = None,
    method: Method = "auto",
) -> EMRun:
    """Run EM on ``problem`` from ``x0``, accelerated (Anderson or SQUAREM) unless ``accelerate`` is False.

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
    method : {"auto", "anderson", "squarem"}, default "auto"
        The accelerator when ``accelerate`` is True (see :data:`Method`). Anderson's
        stopping rule scales ``tol`` by ``1 - rho_hat``, the estimated EM rate
        (:mod:`imputer._em.anderson`); SQUAREM and plain EM compare the change with ``tol``.

    Returns
    -------
    EMRun
        Never raises for the run's own outcome: how it ended is ``trace.stop_reason``
        (see the module docstring). Exceptions raised by the problem itself propagate.
    """
    if accelerate and (method == "anderson" or (method == "auto" and _has_free_coordinates(problem))):
        from imputer._em.anderson import run_anderson  # imports this module

        return run_anderson(problem, x0, tol=tol, max_iter=max_iter, stop=stop)
    run = _Tally(problem, stop)
    x = np.array(x0, dtype=float)
    if not problem.feasible(x):
        return run.end(x, "infeasible", 0)
    step_max = 1.0
    mask = fdnewton.newton_mask(problem, x.size) if accelerate else None
    rate = 0.0  # EM's rate: the last SQUAREM cycle's ratio of changes, or the last Jacobian's
    trusted = False  # the last Newton point tried was kept: the stop is the rate-scaled one
    wait, backoff = 0, 1  # iterations until the next Newton point may be tried, after a refusal
    prev_move = np.inf  # the last kept Newton point's move
    pending: tuple[np.ndarray | None, float] | None = None  # (F(x), L(x)) of a kept Newton point
    for it in range(1, max_iter + 1):
        x1, obj0 = run.evaluate(x) if pending is None else pending
        pending = None
        if not np.isfinite(obj0):
            # x0 invalid after all; later, x is an EM update found infeasible
            return run.end(x, "infeasible" if it == 1 else "singular", it)
        if run.accept(x, obj0):
            return run.end(x, "stopped", it)
        if x1 is None:
            return run.end(x, "singular", it)
        change = problem.distance(x, x1)
        run.changes.append(change)
        due = mask is not None and rate >= fdnewton.MIN_RATE and wait == 0  # a Newton point to try
        if trusted:
            if change <= tol * (1.0 - min(rate, 1.0)):
                return run.end(x1, "converged", it)
        elif change <= tol and not (accelerate and due):
            return run.end(x1, "converged", it)
        if not accelerate:
            x = x1
            continue

        x2, obj1 = run.evaluate(x1)
        if not np.isfinite(obj1):
            return run.end(x, "singular", it)
        change1 = None if x2 is None else problem.distance(x1, x2)
        if change1 is not None and change > 0.0:
            rate = change1 / change
        if mask is not None and rate >= fdnewton.MIN_RATE and wait == 0:
            # EM's change at its rounding floor: one Newton point more, then stop
            last = trusted and change <= min(tol, fdnewton.CHANGE_FLOOR)
            took = _try_newton(run, problem, x, x1, obj1, mask)
            if took is not None:
                xn, fxn, objn, rate = took
                wait, backoff = 0, 1
                move = problem.distance(x, xn)
                # Newton's move is the distance that was left, to second order; moves that no
                # longer shrink, for no gain, are rounding (a rate within 1e-9 of 1 amplifies it)
                stalled = trusted and move >= 0.5 * prev_move and not objn > obj1 + _OBJ_RTOL * max(1.0, abs(obj1))
                trusted, prev_move = True, move
                if move <= tol or last or stalled:
                    run.changes.append(move)
                    if run.accept(xn, objn):
                        return run.end(xn, "stopped", it)
                    return run.end(xn, "converged", it)
                x, pending = xn, (fxn, objn)
                continue
            trusted, prev_move = False, np.inf
            wait, backoff = backoff, 2 * backoff
            if change <= tol:  # the stop on EM's change, put off for this Newton point
                return run.end(x1, "converged", it)
        elif wait > 0:
            wait -= 1
        done = change1 is not None and change1 <= (tol * (1.0 - min(rate, 1.0)) if trusted else tol)
        if done:
            run.changes.append(change1)  # the cycle converged at its first EM update
        if change1 is None or done:
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


def _try_newton(
    run: _Tally, problem: EMProblem[Any], x: np.ndarray, fx: np.ndarray, obj_fx: float, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float, float] | None:
    """The Newton point of ``x`` (:mod:`imputer._em.fdnewton`), evaluated: ``(x_N, F(x_N), L(x_N), rate)``
    when it is feasible, its update valid and its objective not lower than the EM step's,
    ``L(F(x)) = obj_fx``; else None (also when the Jacobian at ``x`` is no contraction)."""
    point = fdnewton.newton_point(run.evaluate, x, fx, mask)
    if point is None:
        return None
    if problem.feasible(point.x):
        fxn, objn = run.evaluate(point.x)
        if fxn is not None and _not_worse(objn, obj_fx):
            return point.x, fxn, objn, point.rate
    run.n_rejected += 1
    return None
