r"""Log-likelihood, log-posterior and M-step from :class:`~imputer._gaussian.stats.SufficientStats`.

With the expected scatter about ``mu``

.. math::

    A = \sum_i w_i(\hat z_i - \mu)(\hat z_i - \mu)^\top + C
      = S_2 - s_1\mu^\top - \mu s_1^\top + W \mu\mu^\top + C,

the observed-data log-likelihood follows from ``l(theta) = Q(theta | theta) + H(theta)``
(expected complete-data log-likelihood plus the entropy of the missing cells given the
observed ones), for equal weights ``w = v``:

.. math::

    \ell(\theta) = -\tfrac12\big[W p \log 2\pi + W \log|\Sigma| + \operatorname{tr}(\Lambda A)\big] + H
                 = \sum_i w_i \log N(z_{i,O}; \mu_O, \Sigma_{OO})

exactly (Schur complement: ``log|Sigma| = log|Sigma_OO| + log|C_M|``).

The ridge prior (inverse-Wishart worth ``lambda`` pseudo-rows with scale ``D = I``, the
engine's standardised units, flat prior on ``mu``) adds
``-(lambda/2)[log|Sigma| + tr(Lambda)]`` (log-posterior up to a constant), and the
M-step is its mode given the statistics:

.. math::

    \mu' = \mu + \frac{s_1 - W\mu}{W}, \qquad
    \Sigma' = \frac{A - W (\mu' - \mu)(\mu' - \mu)^\top + \lambda I}{V + \lambda}.

Amelia's convention for the same ``lambda`` (a heavier log-determinant weight and its own
``D``) is a :class:`~imputer._gaussian.prior.RidgePrior`, accepted wherever ``ridge`` is.
"""

from __future__ import annotations

import numpy as np

from imputer._gaussian.linalg import precision
from imputer._gaussian.prior import RidgePrior, as_prior
from imputer._gaussian.stats import SufficientStats
from imputer._util import LOG_2PI

__all__ = ["log_posterior", "loglik", "mstep", "ridge_penalty", "scatter_about"]


def scatter_about(stats: SufficientStats, mean: np.ndarray, *, overwrite: bool = False) -> np.ndarray:
    """``A``, the expected scatter about ``mean``, shape (p, p), symmetric.

    ``S_2 + C - (u mu' + mu u')`` with ``u = s_1 - (W/2) mu``, symmetrised (``S_2`` and
    ``C`` of weighted E-steps are symmetric only up to rounding) tile by tile: a handful
    of passes over ``p^2`` numbers, none strided through the whole matrix, and the
    rank-two term made tile by tile (no ``p x p`` temporary).

    With ``overwrite``, ``A`` is made in the memory of ``stats.cond`` (which then no
    longer holds ``C``; the same numbers): for a caller done with ``C``, a fresh ``p x p``
    array spared.
    """
    a = np.add(stats.s2, stats.cond, out=stats.cond if overwrite else None)
    u = stats.s1 - (0.5 * stats.weight) * mean
    return _symmetrise_minus(a, u, mean)


def _symmetrise_minus(a: np.ndarray, u: np.ndarray, v: np.ndarray, block: int = 128) -> np.ndarray:
    """``a <- (a + a')/2 - (u v' + v u')`` in place, by square tiles (exactly symmetric).

    Up to ``p = 512`` in whole-matrix operations (fewer numpy calls; the strided
    transposes still fit in cache).
    """
    p = a.shape[0]
    if p <= 512:
        t = np.outer(u, v)
        x = a + a.T
        x *= 0.5
        x -= t + t.T
        a[...] = x
        return a
    for i in range(0, p, block):
        ri = slice(i, min(i + block, p))
        for j in range(i, p, block):
            rj = slice(j, min(j + block, p))
            x = 0.5 * (a[ri, rj] + a[rj, ri].T)
            x -= np.outer(u[ri], v[rj]) + np.outer(v[ri], u[rj])
            a[ri, rj] = x
            a[rj, ri] = x.T
    return a


def _add_outer(a: np.ndarray, alpha: float, x: np.ndarray, block: int = 128) -> np.ndarray:
    """``a <- alpha x x' + a`` in place (``a`` symmetric stays exactly symmetric), by row blocks
    for ``p > 512`` (no ``p x p`` temporary). The same arithmetic as
    ``(np.outer(x, x) * alpha) + a``, bit for bit."""
    p = a.shape[0]
    if p <= 512:
        t = np.outer(x, x)
        t *= alpha
        a += t
        return a
    for i in range(0, p, block):
        ri = slice(i, min(i + block, p))
        t = np.outer(x[ri], x)
        t *= alpha
        a[ri] += t
    return a


def loglik(
    stats: SufficientStats,
    mean: np.ndarray,
    cov: np.ndarray,
    *,
    prec: tuple[np.ndarray, float] | None = None,
    scatter: np.ndarray | None = None,
) -> float:
    """Observed-data log-likelihood at ``(mean, cov)`` from statistics computed there.

    ``prec`` (``(Sigma^-1, log|Sigma|)``) and ``scatter`` (:func:`scatter_about`) may be
    passed when already computed. Meaningful for ``weights == cov_weights``.
    """
    lam, logdet = prec or precision(cov)
    a = scatter_about(stats, mean) if scatter is None else scatter
    w = stats.weight
    return -0.5 * (w * stats.p * LOG_2PI + w * logdet + float(np.vdot(lam, a))) + stats.entropy


def ridge_penalty(
    ridge: float | RidgePrior, cov: np.ndarray, *, prec: tuple[np.ndarray, float] | None = None
) -> float:
    """``(lambda/2) [log|Sigma| + tr(Sigma^-1)]`` (0 when ``ridge`` is 0): the penalty of
    :func:`~imputer._gaussian.prior.as_prior` ``(ridge)``."""
    return as_prior(ridge).penalty(cov, prec=prec)


def log_posterior(
    stats: SufficientStats,
    mean: np.ndarray,
    cov: np.ndarray,
    ridge: float | RidgePrior,
    *,
    prec: tuple[np.ndarray, float] | None = None,
    scatter: np.ndarray | None = None,
) -> float:
    """:func:`loglik` minus :func:`ridge_penalty` (the objective EM increases)."""
    prec = prec or precision(cov)
    return loglik(stats, mean, cov, prec=prec, scatter=scatter) - ridge_penalty(ridge, cov, prec=prec)


def mstep(
    stats: SufficientStats,
    mean: np.ndarray,
    ridge: float | RidgePrior,
    *,
    scatter: np.ndarray | None = None,
    overwrite_scatter: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mode ``(mu', Sigma')`` given statistics computed at ``mean`` (``D = I``
    for a number ``ridge``; a :class:`~imputer._gaussian.prior.RidgePrior` gives
    ``(A - W delta delta' + lambda D) / (V + a)``).

    ``scatter`` (:func:`scatter_about` at ``mean``), when given, is used in place with
    ``overwrite_scatter`` (a ``p x p`` copy spared), else copied.

    Returns
    -------
    mean : ndarray, shape (p,)
    cov : ndarray, shape (p, p), symmetric
    """
    w = stats.weight
    delta = (stats.s1 - w * mean) / w
    # A - W delta delta' + lambda I, in place on a fresh (or given) array (exactly
    # symmetric: the outer product is, and A is)
    scat = scatter_about(stats, mean) if scatter is None else (scatter if overwrite_scatter else scatter.copy())
    _add_outer(scat, -w, delta)
    prior = as_prior(ridge)
    prior.add_to_scatter(scat)
    scat /= stats.cov_weight + prior.logdet_weight
    return mean + delta, scat
