r"""The multi-trait fit's iteration: AI-REML steps safeguarded by EM; a factor search at a boundary.

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
``tol`` measures one slow step). That last end point is evaluated for its
log-likelihood only (no traces, no AI: about 60% of a full evaluation), since the
step's length is known before it. After ``_EM_FALLBACKS`` shortened (``lambda < 1``) or EM
steps in a row, the optimum is taken to be at the edge of the parameter space (a singular ``G`` or ``R``), where
EM and SQUAREM crawl sublinearly (thousands of evaluations, stopping short of the edge).
The run continues from the current iterate over Cholesky factors ``S = L L'`` with each
factor's diagonal bounded below (L-BFGS-B, the gradient by the chain rule from the REML
score: :func:`_continue_on_factors`): a singular ``G`` is a bound reached in tens of
evaluations, and the run stops ``"singular"`` there (or ``"converged"`` if the optimum
was interior after all); the traces are joined.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.linalg as sla

from imputer._em import EMRun
from imputer._em.squarem import _not_worse, _Tally
from imputer.mixed._multitrait import Evaluation, MultiTraitEngine
from imputer.mixed._problem import distance, is_positive_definite

__all__ = ["MultiTraitProblem", "run_ai"]

#: Parameter change below which the secant correction of AI is kept up.
_SECANT_FROM = 0.01
#: Step halvings tried before falling back to the EM update.
_HALVINGS = 8
#: Shortened AI steps or EM fallbacks in a row after which the run continues as a factor search
#: (the optimum is at a boundary, where the AI step keeps leaving the parameter space).
_EM_FALLBACKS = 10
#: Lower bound of a Cholesky factor's diagonal at a boundary (:func:`_continue_on_factors`), in
#: units of the matrix's root mean diagonal: a bound reached is a relative eigenvalue near
#: ``1e-10``, below :data:`imputer.mixed._output.SINGULAR_RTOL` (reported as singular).
_FACTOR_FLOOR = 1e-5
#: L-BFGS-B's relative fall of the objective at which the factor search stops.
_FACTOR_FTOL = 1e-15
#: The objective handed to L-BFGS-B where the model cannot be evaluated.
_HUGE = 1e300


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
        #: Log-likelihood only (spectral engine): ``step`` returns ``(None, loglik)``.
        self.light = False
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
        if self.light and self.spectral:
            st = self.engine.state(*self.matrices(x), traces=False)
            ok = st is not None and np.isfinite(st.loglik)
            return (None, st.loglik) if ok else (x, -np.inf)
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
                if lam == 1.0 and problem.spectral and problem.distance(x, cand) <= tol and problem.feasible(cand):
                    # the last step: only its end point's log-likelihood is needed (no traces)
                    problem.light = True
                    try:
                        _, obj_c = run.evaluate(cand)
                    finally:
                        problem.light = False
                    if _not_worse(obj_c, obj):
                        run.changes.append(problem.distance(x, cand))
                        run.accept(cand, obj_c)
                        return run.end(cand, "converged", it)
                    lam *= 0.5
                    continue
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
            return _continue_on_factors(problem, run, x, it, tol=tol, max_iter=max_iter)
    return run.end(x, "max_iter", max_iter)


def _factors(problem: MultiTraitProblem, z: np.ndarray) -> list[np.ndarray]:
    """The lower-triangular factors ``L_j`` (t x t) held in ``z`` (their lower triangles, row by row)."""
    out = []
    for j in range(problem.k):
        L = np.zeros((problem.t, problem.t))
        L[problem.tri] = z[j * problem.w:(j + 1) * problem.w]
        out.append(L)
    return out


def _factor_gradient(problem: MultiTraitProblem, score: np.ndarray, factors: list[np.ndarray]) -> np.ndarray:
    """``d loglik / d z`` from the score over ``x = (vech S_j)`` for ``S_j = L_j L_j'``.

    With ``Gamma_j`` the symmetric gradient over ``S_j`` (the score's diagonal entries on the
    diagonal, half of each off-diagonal entry on both sides), ``d loglik / d L_j = 2 Gamma_j L_j``.
    """
    out = []
    for j, L in enumerate(factors):
        Gam = np.zeros((problem.t, problem.t))
        Gam[problem.tri] = score[j * problem.w:(j + 1) * problem.w]
        Gam = 0.5 * (Gam + Gam.T)  # off-diagonals halved, diagonal kept
        out.append((2.0 * Gam @ L)[problem.tri])
    return np.concatenate(out)


def _continue_on_factors(problem: MultiTraitProblem, run: _Tally, x: np.ndarray, it: int, *, tol: float,
                         max_iter: int) -> EMRun:
    """The optimum at the edge of the parameter space: maximise over Cholesky factors from ``x``.

    ``S_j = L_j L_j'`` with ``diag(L_j) >= _FACTOR_FLOOR * sqrt(mean diag S_j)`` at ``x`` (L-BFGS-B,
    the gradient by the chain rule from the REML score): a singular ``G`` or ``R`` is a
    bound reached in a few dozen evaluations, where EM (and SQUAREM on it) crawls towards it
    sublinearly (thousands of evaluations). Ends ``"singular"`` when a bound is active at
    the optimum, ``"converged"`` when the optimum turned out interior.
    """
    from scipy.optimize import minimize

    problem.full = True
    mats = problem.matrices(x)
    z0, bounds = [], []
    for S in mats:
        L = np.linalg.cholesky(S)
        floor = _FACTOR_FLOOR * float(np.sqrt(np.mean(np.diag(S))))
        z0.append(L[problem.tri])
        bounds += [(floor, None) if a == b else (None, None) for a, b in zip(*problem.tri)]
    z0v = np.concatenate(z0)
    seen: dict[bytes, float] = {}

    def objective(z: np.ndarray) -> tuple[float, np.ndarray]:
        factors = _factors(problem, z)
        xz = problem.pack([L @ L.T for L in factors])
        _, obj = run.evaluate(xz)
        if not np.isfinite(obj) or problem.last is None:
            return _HUGE, np.zeros_like(z)
        seen[z.tobytes()] = obj
        return -obj, -_factor_gradient(problem, problem.last[1].score, factors)

    stopped = []

    def accepted(z: np.ndarray) -> None:
        obj = seen.get(np.asarray(z).tobytes())
        if obj is not None and run.accept(problem.pack([L @ L.T for L in _factors(problem, z)]), obj):
            stopped.append(True)  # the monitor's stop (max_time, a callback): L-BFGS-B ends here
            raise StopIteration

    out = minimize(objective, z0v, jac=True, method="L-BFGS-B", bounds=bounds, callback=accepted,
                   options={"maxiter": max(max_iter - it, 1), "ftol": _FACTOR_FTOL, "gtol": tol})
    factors = _factors(problem, out.x)
    xf = problem.pack([L @ L.T for L in factors])
    at_bound = any(lo is not None and v <= lo * (1.0 + 1e-9) for v, (lo, _) in zip(out.x, bounds))
    reason = "stopped" if stopped else "singular" if at_bound else ("converged" if out.success else "max_iter")
    n_iter = it + int(out.nit)
    if reason == "singular":  # run.end reports the best point: make it the optimum's
        run.best, run.best_obj = xf, max(run.best_obj, -float(out.fun))
    return run.end(xf, reason, n_iter)
