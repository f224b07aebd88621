r"""EM-REML / EM-ML driver: SQUAREM acceleration, boundary detection, convergence.

The parameter is ``theta = (s2_1, ..., s2_k, s2_e)``. One EM map ``theta -> F(theta)``
and the log-likelihood at ``theta`` come from an engine (:class:`MMEEngine`, Henderson's
equations; or :class:`~imputer.mixed._spectral.SpectralEngine`). EM never decreases the
likelihood and keeps every component positive; SQUAREM (:func:`imputer._squarem.squarem`)
extrapolates and falls back to plain EM whenever an extrapolated point is infeasible
(a component <= 0) or has a lower likelihood, so the recorded history is non-decreasing.

Convergence: the fit stops when one EM step changes every variance component by at most
``tol`` relative to itself (floored at ``1e-10`` of the total variance ``sum(theta)``):
``max_i |F(theta)_i - theta_i| / max(theta_i, 1e-10 sum(theta)) <= tol``. Near the
optimum the log-likelihood then changes by ``O(tol^2)``, so no separate criterion on it
is needed; a component crawling towards zero never meets this criterion and is settled
by the boundary probe below instead.

Zero boundary. Where the REML/ML optimum has ``s2_i = 0``, EM (accelerated or not)
approaches it only sublinearly (``s2_i`` falls like ``1/t``). Whenever a component's share
``s2_i / sum(theta)`` drops below ``1e-2`` (and again each time it falls another factor 10
after a rejected probe), the driver *probes the boundary*: it fits the model without that
component and accepts ``s2_i = 0`` when (a) the likelihood there is at least the current
one and (b) the derivative of the log-likelihood in ``s2_i`` at ``0`` is ``<= 0`` (the
Karush-Kuhn-Tucker condition for a maximum on the boundary). Accepted components are
reported in ``boundary``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from imputer._squarem import squarem
from imputer.mixed._mme import Gram, System

__all__ = ["Engine", "MMEEngine", "EMResult", "run_em"]

_PROBE_SHARE = 1e-2
_SCORE_TOL = 1e-9
_FLOOR = 1e-10


class Engine(Protocol):
    """What the driver needs from an engine (Henderson or spectral)."""

    k: int
    n: int

    def evaluate(
        self, sig2: np.ndarray, s2e: float, active: tuple[int, ...]
    ) -> tuple[float, np.ndarray | None]:
        """Log-likelihood at ``(sig2, s2e)`` and the EM update, shape (k + 1,) (None: infeasible)."""
        ...

    def score_at_zero(self, sig2: np.ndarray, s2e: float, active: tuple[int, ...], j: int) -> float:
        """Derivative of the log-likelihood in ``s2_j`` at 0 (``j`` not active)."""
        ...

    def final(self, sig2: np.ndarray, s2e: float, active: tuple[int, ...]) -> dict:
        """``b``, ``var_b``, and per component ``u`` and ``pev``."""
        ...


class MMEEngine:
    """Mixed-model-equation engine: one :class:`System` per active set, cached."""

    def __init__(self, gram: Gram, ml: bool):
        self.g = gram
        self.k = gram.k
        self.n, self.p = gram.n, gram.p
        self.r = gram.r
        self.ml = ml
        self._systems: dict[tuple[int, ...], System] = {}

    def system(self, active: tuple[int, ...]) -> System:
        if active not in self._systems:
            self._systems[active] = System(self.g, active)
        return self._systems[active]

    def dense_size(self) -> int:
        """Order ``m`` of the dense Schur complement with every component active."""
        return self.system(tuple(range(self.k))).m

    def evaluate(self, sig2: np.ndarray, s2e: float, active: tuple[int, ...]):
        return self.system(active).evaluate(sig2, s2e, self.ml)

    def score_at_zero(self, sig2: np.ndarray, s2e: float, active: tuple[int, ...], j: int) -> float:
        return self.system(active).score_at_zero(sig2, s2e, j, self.ml)

    def final(self, sig2: np.ndarray, s2e: float, active: tuple[int, ...]) -> dict:
        """``b`` (p,), ``var_b``, and per component ``u`` (q_i,), ``pev`` (q_i,)."""
        out = self.system(active).final(sig2, s2e)
        u: dict[int, np.ndarray] = {}
        pev: dict[int, np.ndarray] = {}
        for i in range(self.k):
            L = self.g.L[i]
            q = self.r[i] if L is None else L.shape[0]
            if i not in active:
                u[i], pev[i] = np.zeros(q), np.zeros(q)
                continue
            v, Cii = out["v"][i], out["Cii"][i]
            if L is None:
                u[i], pev[i] = v, s2e * Cii
            else:
                u[i] = L @ v
                pev[i] = s2e * np.einsum("ij,ij->i", L @ Cii, L)
        return {"b": out["b"], "var_b": out["var_b"], "u": u, "pev": pev}


@dataclass
class EMResult:
    """Outcome of :func:`run_em`; ``boundary`` holds the indices of components at zero."""

    theta: np.ndarray  # (k + 1,)
    active: tuple[int, ...]
    loglik: float
    history: np.ndarray
    n_iter: int
    n_evals: int
    converged: bool
    boundary: tuple[int, ...]


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    total = float(np.sum(np.abs(b)))
    if not np.isfinite(total) or total <= 0:
        return np.inf
    scale = np.maximum(np.abs(b), _FLOOR * total)
    return float(np.max(np.abs(b - a) / scale))


class _Stop(Exception):
    """Raised from the SQUAREM callback to hand control back for a boundary probe."""


@dataclass
class _Run:
    theta: np.ndarray
    history: list[float]
    n_iter: int
    n_evals: int
    converged: bool


def _fit_active(
    engine: Engine,
    theta: np.ndarray,
    active: tuple[int, ...],
    tol: float,
    max_iter: int,
    accelerate: bool,
    stop: Callable[[np.ndarray], bool] | None = None,
) -> _Run:
    """SQUAREM on the active components and the residual.

    ``stop(theta_full) -> bool`` is checked at every accepted iterate; when it returns
    True the run ends early at that (feasible) iterate with ``converged=False``.
    """
    k = engine.k
    idx = np.array(list(active) + [k])
    evals = [0]
    history: list[float] = []
    last: list[np.ndarray] = []

    def embed(x: np.ndarray) -> np.ndarray:
        full = np.zeros(k + 1)
        full[idx] = x
        return full

    def step(x: np.ndarray):
        evals[0] += 1
        if not np.all(np.isfinite(x)) or np.any(x <= 0):
            return x, -np.inf
        full = embed(x)
        ll, new = engine.evaluate(full[:k], float(full[k]), active)
        if new is None or np.any(new[idx] <= 0):
            return x, -np.inf
        return new[idx], ll

    def callback(x: np.ndarray, obj: float) -> None:
        history.append(float(obj))
        full = embed(x)
        if stop is not None and stop(full):
            last.append(full)
            raise _Stop

    try:
        res = squarem(
            step, theta[idx], distance=_distance, tol=tol, max_iter=max_iter,
            accelerate=accelerate, callback=callback,
        )
    except _Stop:
        return _Run(last[0], history, len(history), evals[0], False)
    return _Run(embed(res.x), history, res.n_iter, res.n_evals, res.converged)


def run_em(
    engine: Engine,
    theta0: np.ndarray,
    *,
    tol: float,
    max_iter: int,
    accelerate: bool,
    active: tuple[int, ...] | None = None,
) -> EMResult:
    """Maximise the REML/ML likelihood from ``theta0`` (active components > 0).

    Parameters
    ----------
    engine : MMEEngine or SpectralEngine
    theta0 : ndarray, shape (k + 1,)
    tol : float
        Convergence tolerance (see module docstring).
    max_iter : int
        Budget of outer iterations, boundary probes included.
    accelerate : bool
        SQUAREM (True) or plain EM.
    active : tuple of int, optional
        Components free to vary (default all); the others are held at zero. A boundary
        probe calls this function recursively without the probed component, so that
        several components can settle on the boundary.
    """
    k = engine.k
    theta = np.asarray(theta0, dtype=float).copy()
    active = tuple(range(k)) if active is None else tuple(active)
    history: list[float] = []
    n_iter = n_evals = 0
    converged = False
    rejected: dict[int, float] = {}

    def candidates(th: np.ndarray) -> list[int]:
        total = float(th.sum())
        return [
            i for i in active
            if th[i] < _PROBE_SHARE * total and th[i] < rejected.get(i, np.inf) / 10.0
        ]

    while n_iter < max_iter:
        run = _fit_active(
            engine, theta, active, tol, max_iter - n_iter, accelerate,
            stop=lambda th: bool(candidates(th)),
        )
        theta = run.theta
        n_iter += run.n_iter
        n_evals += run.n_evals
        history.extend(run.history)
        cands = candidates(theta)
        if not cands:
            converged = run.converged
            break
        j = min(cands, key=lambda i: theta[i])
        ll_cur, _ = engine.evaluate(theta[:k], float(theta[k]), active)
        n_evals += 1
        reduced = tuple(i for i in active if i != j)
        trial = theta.copy()
        trial[j] = 0.0
        sub = run_em(
            engine, trial, tol=tol, max_iter=max(1, max_iter - n_iter), accelerate=accelerate, active=reduced
        )
        n_iter += sub.n_iter
        n_evals += sub.n_evals + 1
        ll0 = sub.loglik
        score = engine.score_at_zero(sub.theta[:k], float(sub.theta[k]), sub.active, j)
        ok = (
            sub.converged
            and np.isfinite(score)
            and score * sub.theta[k] <= _SCORE_TOL * engine.n
            and ll0 >= ll_cur - 1e-12 * max(1.0, abs(ll_cur))
        )
        if ok:
            theta, active = sub.theta.copy(), sub.active
            history.extend(float(h) for h in sub.history if h >= ll_cur)
        else:
            rejected[j] = float(theta[j])
    ll, _ = engine.evaluate(theta[:k], float(theta[k]), active)
    n_evals += 1
    if np.isfinite(ll) and (not history or ll >= history[-1] - 1e-12 * max(1.0, abs(ll))):
        history.append(float(ll))
    hist = np.asarray(history) if history else np.asarray([ll])
    boundary = tuple(i for i in range(k) if i not in active)
    return EMResult(theta, active, float(ll), hist, n_iter, n_evals, converged, boundary)
