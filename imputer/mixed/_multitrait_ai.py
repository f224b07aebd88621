r"""The multi-trait fit's iteration: AI-REML steps safeguarded by EM, SQUAREM at a boundary.

EM for unstructured ``t x t`` covariances converges slowly (thousands of evaluations for
three traits on a genomic kernel, whether or not traits are missing: the EM rate is set
by how little the data say about ``G`` against ``R``). Every evaluation of the engine
(:mod:`imputer.mixed._multitrait`) already has the REML score (it is the EM update's
numerator) and the average-information matrix costs ``2 t(t+1)/2`` more applications of
``Pt``, so each iteration takes the Newton-type step (Gilmour, Thompson & Cullis 1995;
ASReml, WOMBAT and sommer's ``mmer`` iterate this way)::

    theta' = theta + lambda AI^-1 score,     theta = (vech G, vech R),

(near the optimum, once a step moves the parameters by less than ``_SECANT_FROM``,
``AI`` is corrected by a Powell-symmetric-Broyden secant update towards the observed
information: a structured quasi-Newton step), with ``lambda = 1, 1/2, 1/4, ...`` until ``theta'`` is positive definite and its
log-likelihood is not lower; when no halving works (or ``AI`` is not positive
definite) the EM update of ``theta`` is taken instead, which never lowers it. Every
accepted iterate therefore has a log-likelihood no lower than the one before, as for EM.

Converged when a full AI step (``lambda = 1``) moves the parameters by at most ``tol``
(:func:`imputer.mixed._problem.distance`); the estimate is that step's end point (the
AI step's error near the optimum is a small fraction of its length, where EM's
``tol`` measures one slow step). After ``_EM_FALLBACKS`` shortened (``lambda < 1``) or EM
steps in a row, the optimum is taken to be at the edge of the parameter space (a singular ``G`` or ``R``) and the
run continues with SQUAREM (:func:`imputer._em.run_em`), whose ``"singular"`` stop
reports it, from the current iterate; the traces are joined.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.linalg as sla

from imputer._em import EMRun, EMTrace, run_em
from imputer._em.squarem import _not_worse, _Tally
from imputer.mixed._multitrait import Evaluation, MultiTraitEngine
from imputer.mixed._problem import distance, is_positive_definite

__all__ = ["MultiTraitProblem", "run_ai"]

#: Parameter change below which the secant correction of AI is kept up.
_SECANT_FROM = 0.01
#: Step halvings tried before falling back to the EM update.
_HALVINGS = 8
#: Shortened AI steps or EM fallbacks in a row after which the run continues as SQUAREM
#: (the optimum is at a boundary, where the AI step keeps leaving the parameter space).
_EM_FALLBACKS = 10


class MultiTraitProblem:
    """EM over ``x = (vech G_1, ..., vech G_k, vech R)`` (an :class:`~imputer._em.EMProblem`).

    ``engine`` is the spectral :class:`~imputer.mixed._multitrait.MultiTraitEngine` (one
    term: ``k = 1``) or the dense :class:`~imputer.mixed._multitrait_dense.DenseMultiEngine`.
    ``step`` also keeps the engine's full evaluation (score, AI) of its last point, which
    :func:`run_ai` reads.
    """

    def __init__(self, engine: Any, n_mats: int = 2) -> None:
        self.engine = engine
        self.spectral = isinstance(engine, MultiTraitEngine)
        t = engine.t
        self.t = t
        self.k = n_mats
        self.tri = np.tril_indices(t)
        w = t * (t + 1) // 2
        self.w = w
        diag_pos = {int(a): j for j, (a, b) in enumerate(zip(*self.tri)) if a == b}
        pa = np.array([diag_pos[int(a)] for a in self.tri[0]])
        pb = np.array([diag_pos[int(b)] for b in self.tri[1]])
        self._partners = (np.concatenate([pa + j * w for j in range(n_mats)]),
                          np.concatenate([pb + j * w for j in range(n_mats)]))
        self.full = True
        self.last: tuple[np.ndarray, Evaluation] | None = None

    def matrices(self, x: np.ndarray) -> list[np.ndarray]:
        out = []
        for j in range(self.k):
            S = np.zeros((self.t, self.t))
            S[self.tri] = x[j * self.w:(j + 1) * self.w]
            out.append(S + np.tril(S, -1).T)
        return out

    def pack(self, params: Sequence[np.ndarray]) -> np.ndarray:
        return np.concatenate([np.asarray(S)[self.tri] for S in params])

    def unpack(self, x: np.ndarray) -> list[np.ndarray]:
        return self.matrices(x)

    def feasible(self, x: np.ndarray) -> bool:
        if not np.all(np.isfinite(x)):
            return False
        return all(is_positive_definite(S) for S in self.matrices(x))

    def distance(self, x_old: np.ndarray, x_new: np.ndarray) -> float:
        return distance(x_old, x_new, self._partners)

    def _evaluate(self, mats: list[np.ndarray], full: bool):
        if self.spectral:
            return self.engine.evaluate_full(*mats) if full else self.engine.evaluate(*mats)
        return self.engine.evaluate_full(mats) if full else self.engine.evaluate(mats)

    def step(self, x: np.ndarray) -> tuple[np.ndarray | None, float]:
        self.last = None
        if not self.feasible(x):
            return x, -np.inf
        if self.full:
            ev = self._evaluate(self.matrices(x), True)
            if ev is None:
                return x, -np.inf
            self.last = (np.array(x), ev)
            ll, new = ev.loglik, ev.em
        else:
            ll, new = self._evaluate(self.matrices(x), False)
        if new is None:
            return (x, -np.inf) if not np.isfinite(ll) else (None, ll)
        upd = self.pack(new)
        if not self.feasible(upd):
            return None, ll
        return upd, ll


def _newton(ev: Evaluation, D: np.ndarray | None = None) -> np.ndarray | None:
    M = ev.ai if D is None else ev.ai + D
    try:
        cf = sla.cho_factor(M, lower=True, check_finite=True)
    except (sla.LinAlgError, ValueError):
        return None
    step = sla.cho_solve(cf, ev.score)
    return step if np.all(np.isfinite(step)) else None


def _secant(D: np.ndarray, s: np.ndarray, y: np.ndarray, ai: np.ndarray) -> np.ndarray:
    """Powell-symmetric-Broyden update of ``D`` so that ``(AI + D) s = y`` (structured secant).

    ``s`` is the step, ``y`` the fall of the score along it; ``AI + D`` then
    approximates the observed information (the negative Hessian), whose Newton steps
    converge faster than AI's near the optimum.
    """
    ss = float(s @ s)
    if not np.isfinite(ss) or ss == 0.0:
        return D
    r = y - (ai + D) @ s
    return D + (np.outer(r, s) + np.outer(s, r)) / ss - float(r @ s) * np.outer(s, s) / ss**2


def run_ai(problem: MultiTraitProblem, x0: np.ndarray, *, tol: float, max_iter: int) -> EMRun:
    """AI-REML from ``x0`` (module docstring); the outcome in :func:`imputer._em.run_em`'s form."""
    problem.full = True
    run = _Tally(problem, None)
    x = np.array(x0, dtype=float)
    if not problem.feasible(x):
        return run.end(x, "infeasible", 0)
    em_x, obj = run.evaluate(x)
    if not np.isfinite(obj):
        return run.end(x, "infeasible", 0)
    ev = problem.last[1]
    fallbacks = 0
    D = np.zeros_like(ev.ai)  # secant correction of AI towards the observed information
    for it in range(1, max_iter + 1):
        if run.accept(x, obj):
            return run.end(x, "stopped", it)
        step = _newton(ev, D)
        if step is None:
            D[:] = 0.0
            step = _newton(ev)
        new = None
        if step is not None:
            lam = 1.0
            for _ in range(_HALVINGS):
                cand = x + lam * step
                if problem.feasible(cand):
                    em_c, obj_c = run.evaluate(cand)
                    if _not_worse(obj_c, obj) and problem.last is not None:
                        new = (cand, em_c, obj_c, problem.last[1], lam == 1.0)
                        break
                lam *= 0.5
        if new is None:
            if em_x is None:
                return run.end(x, "singular", it)
            em_c, obj_c = run.evaluate(em_x)
            if not np.isfinite(obj_c) or problem.last is None:
                return run.end(x, "singular", it)
            new = (em_x, em_c, obj_c, problem.last[1], False)
        else:
            fallbacks = 0
        cand, em_c, obj_c, ev_c, full_step = new
        fallbacks = 0 if full_step else fallbacks + 1
        change = problem.distance(x, cand)
        run.changes.append(change)
        # near the optimum only (far from it the information changes too much along a step)
        D = _secant(D, cand - x, ev.score - ev_c.score, ev_c.ai) if full_step and change < _SECANT_FROM else 0.0 * D
        x, em_x, obj, ev = cand, em_c, obj_c, ev_c
        if full_step and change <= tol:
            run.accept(x, obj)
            return run.end(x, "converged", it)
        if fallbacks >= _EM_FALLBACKS:
            return _continue_with_squarem(problem, run, x, it, tol=tol, max_iter=max_iter)
    return run.end(x, "max_iter", max_iter)


def _continue_with_squarem(problem: MultiTraitProblem, run: _Tally, x: np.ndarray, it: int, *, tol: float,
                           max_iter: int) -> EMRun:
    problem.full = False
    rest = run_em(problem, x, tol=tol, max_iter=max(max_iter - it, 1), accelerate=True, method="squarem")
    tr = rest.trace
    trace = EMTrace(
        n_iter=it + tr.n_iter,
        n_evals=run.n_evals + tr.n_evals,
        converged=tr.converged,
        history=np.concatenate([np.asarray(run.history, dtype=float), tr.history]),
        stop_reason=tr.stop_reason,
        n_rejected=run.n_rejected + tr.n_rejected,
        changes=np.concatenate([np.asarray(run.changes, dtype=float), tr.changes]),
    )
    if rest.best_objective >= run.best_obj or run.best is None:
        best, best_obj = rest.best, rest.best_objective
    else:
        best, best_obj = np.array(run.best, dtype=float), run.best_obj
    return EMRun(x=rest.x, best=best, best_objective=best_obj, trace=trace)
