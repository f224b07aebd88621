r"""Newton steps on the observed-data log-posterior of the multivariate normal (private).

Near the maximiser, where EM's rate (the largest fraction of missing information) is
close to 1, EM and its secant accelerators creep; Newton's method on the objective
itself converges quadratically. For small ``p`` the observed information is cheap
(:func:`imputer._gaussian.information.information_sums`, ``k = p + p(p+1)/2``
parameters), and the gradient comes free with every EM evaluation: with ``F(x) = (mu',
Sigma')`` the EM update from ``x = (mu, Sigma)``, ``delta = mu' - mu``, ``n`` rows and the
prior's log-determinant weight ``a`` (Fisher's identity: the score of the observed-data
objective is that of EM's ``Q`` at its own point),

.. math::

    \nabla_\mu L = n\Lambda\delta, \qquad
    \frac{\partial L}{\partial\Sigma} = \tfrac12\Lambda\big[(n + a)(\Sigma' - \Sigma)
        + n\,\delta\delta^\top\big]\Lambda,

(``Lambda = Sigma^-1``; the M-step is ``Sigma' = (A - n delta delta' + lambda D) / (n + a)``,
``A`` the expected scatter about ``mu``, so ``A + lambda D - (n + a) Sigma`` is the bracket).
An off-diagonal entry of ``vech Sigma`` moves both ``Sigma_jk`` and ``Sigma_kj``: its
gradient is twice the matrix entry. The Newton point is ``x + I_obs^{-1} grad``, offered
to the EM driver as a proposal (:mod:`imputer._em.anderson`), which keeps it only if it
is feasible and does not lower the objective.

The information is assembled from its pattern sums (:class:`~imputer._gaussian.information.InformationSums`)
at ``x``, which a :data:`SumsAt` callable supplies: in memory :class:`RowSums` reads the observed
cells from the problem's :class:`~imputer._gaussian.layout.StandardData` (the incomplete rows'
work array, whose observed cells are never overwritten; the complete rows through their sums
``s1_complete``, ``s2_complete``, one pattern with ``K = Lambda``); the Dask engine sums them
over its partitions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import scipy.linalg

from imputer._gaussian.information import InformationSums, PatternMoments, assemble_information, vech_indices
from imputer._gaussian.layout import StandardData
from imputer._gaussian.linalg import Infeasible, precision
from imputer._gaussian.prior import RidgePrior

__all__ = ["NEWTON_FREE_WORK", "NEWTON_MAX_COST", "NEWTON_MAX_PARAMETERS", "NewtonStep", "RowSums", "SumsAt", "newton_affordable"]

#: Most parameters ``p + p(p+1)/2`` for which the dense Newton step is offered (p <= 30).
NEWTON_MAX_PARAMETERS = 500
#: The information (its pattern sums, assembly and factorisation) may cost at most this
#: many EM evaluations by the flop counts of :func:`newton_affordable` ...
NEWTON_MAX_COST = 4.0
#: ... or this many flops, whatever an evaluation costs (small problems: Python overhead).
NEWTON_FREE_WORK = 2e4

#: ``(mu, sigma) -> InformationSums`` of all rows (before the prior), or None.
SumsAt = Callable[[np.ndarray, np.ndarray], "InformationSums | None"]


def newton_affordable(p: int, n_patterns: int | None = None, n_rows: int | None = None) -> bool:
    """Whether the dense Newton step is cheap enough next to an EM evaluation.

    At most :data:`NEWTON_MAX_PARAMETERS` parameters ``k = p + q``, ``q = p(p+1)/2``; and,
    when the counts are given (``G`` patterns, ``r`` rows: what the Dask engine's scan
    knows too, so that both engines decide alike), the information's flops ``k^3/3 + k^2
    + G (q^2 + p^3) + 2 r p^2`` at most :data:`NEWTON_MAX_COST` times an evaluation's
    ``r p^2 + (G + 1) p^3``, or at most :data:`NEWTON_FREE_WORK`.
    """
    q = p * (p + 1) // 2
    k = p + q
    if k > NEWTON_MAX_PARAMETERS:
        return False
    if n_patterns is None or n_rows is None:
        return True
    info = k**3 / 3 + k * k + n_patterns * (q * q + p**3) + 2 * n_rows * p * p
    evaluation = n_rows * p * p + (n_patterns + 1) * p**3
    return info <= max(NEWTON_MAX_COST * evaluation, NEWTON_FREE_WORK)


class RowSums:
    """The information's pattern sums of the rows of a :class:`StandardData` (a :data:`SumsAt`).

    The rows' per-pattern sums are formed once (:class:`~imputer._gaussian.information.PatternMoments`:
    the incomplete rows from the work array, the complete rows from ``s1_complete`` and
    ``s2_complete``); each call then costs ``O(G p^2)`` plus the pattern-level work.
    """

    def __init__(self, data: StandardData) -> None:
        p, n = data.p, data.n
        pats = data.patterns
        z = np.zeros((n, p))
        z[pats.incomplete_rows] = data.work  # observed cells as they were standardised (missing cells unread)
        values = tuple(np.ascontiguousarray(z[:, j]) for j in range(p))
        del z
        incomplete = dataclasses.replace(pats, complete_rows=np.empty(0, dtype=np.intp))
        extra = (np.array([data.n_complete], dtype=np.int64), data.s1_complete, data.s2_complete)
        self._moments = PatternMoments(values, incomplete, np.zeros(p), np.ones(p), extra)

    def __call__(self, mu: np.ndarray, sigma: np.ndarray) -> InformationSums | None:
        try:
            return self._moments.sums(mu, sigma)
        except (Infeasible, np.linalg.LinAlgError):
            return None


class NewtonStep:
    """The Newton point of the observed-data log-posterior, in the packed coordinates of :class:`~imputer.mvn._problem.MVNProblem`.

    Parameters
    ----------
    p, n : int
        Columns and rows.
    prior : RidgePrior
        The problem's prior.
    sums : SumsAt
        The information's pattern sums of all rows at a point.
    """

    def __init__(self, p: int, n: int, prior: RidgePrior, sums: SumsAt) -> None:
        self.p, self.n, self.prior, self._sums = p, n, prior, sums
        # packed x holds vech(Sigma) as the lower triangle row by row; the information
        # orders the upper triangle row by row: position of (j, k), j <= k, in the latter
        a, b = vech_indices(p)
        upper = np.empty((p, p), dtype=np.intp)
        upper[a, b] = np.arange(a.size)
        rows, cols = np.tril_indices(p)
        self._perm = np.concatenate([np.arange(p), p + upper[cols, rows]])  # packed k -> information index
        self._tril = rows, cols
        self._twice = np.where(rows != cols, 2.0, 1.0)

    def __call__(self, x: np.ndarray, fx: np.ndarray) -> np.ndarray | None:
        """``x + I_obs(x)^{-1} grad L(x)`` (packed), or None where the information is not positive definite.

        Parameters
        ----------
        x : ndarray, shape (k,)
            A feasible packed point.
        fx : ndarray, shape (k,)
            Its EM update ``F(x)`` (gives the gradient).
        """
        p, prior = self.p, self.prior
        rows, cols = self._tril
        mu = x[:p]
        sigma = _unvech(x[p:], p, rows, cols)
        grad = self.gradient(x, fx, sigma)
        if grad is None:
            return None
        sums = self._sums(mu, sigma)
        if sums is None:
            return None
        try:
            info = assemble_information(
                sums, sigma, prior_weight=prior.weight, prior_scale=prior.scale,
                prior_logdet_weight=prior.logdet_weight, overwrite_sums=True,
            )
            perm = self._perm
            c = scipy.linalg.cho_factor(info[np.ix_(perm, perm)], lower=True, check_finite=False)
            step = scipy.linalg.cho_solve(c, grad, check_finite=False)
        except (Infeasible, np.linalg.LinAlgError, ValueError):
            return None
        out = x + step
        return out if np.all(np.isfinite(out)) else None


    def gradient(self, x: np.ndarray, fx: np.ndarray, sigma: np.ndarray | None = None) -> np.ndarray | None:
        """The gradient of the objective at ``x`` (packed order) from its EM update ``fx`` (module docstring).

        ``sigma``: the covariance of ``x`` when already unpacked. None where it is not
        positive definite.
        """
        p, n, prior = self.p, self.n, self.prior
        rows, cols = self._tril
        if sigma is None:
            sigma = _unvech(x[p:], p, rows, cols)
        try:
            lam, _ = precision(sigma)
        except (Infeasible, np.linalg.LinAlgError):
            return None
        delta = fx[:p] - x[:p]
        bracket = (n + prior.logdet_weight) * (_unvech(fx[p:], p, rows, cols) - sigma) + n * np.outer(delta, delta)
        gmat = 0.5 * lam @ bracket @ lam
        return np.concatenate([n * (lam @ delta), gmat[rows, cols] * self._twice])


def _unvech(v: np.ndarray, p: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The symmetric matrix of a lower triangle stored row by row (``rows, cols = tril_indices(p)``)."""
    out = np.empty((p, p))
    out[rows, cols] = v
    out[cols, rows] = v
    return out
