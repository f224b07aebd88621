r"""The multivariate t's observed-data log-likelihood, row weights and dof update (private).

Model: rows ``z_i ~ t_p(mu, Sigma, nu)`` i.i.d. (standardised units), equivalently
``z_i | tau_i ~ N_p(mu, Sigma / tau_i)`` with ``tau_i ~ Gamma(nu/2, rate nu/2)``. A row
with ``p_i`` observed cells ``O`` has marginal ``z_{i,O} ~ t_{p_i}(mu_O, Sigma_OO, nu)``:

.. math::

    \log f(z_{i,O}) = \log\Gamma\big(\tfrac{\nu+p_i}{2}\big) - \log\Gamma\big(\tfrac{\nu}{2}\big)
        - \tfrac{p_i}{2}\log(\nu\pi) - \tfrac12\log|\Sigma_{OO}|
        - \tfrac{\nu+p_i}{2}\log\big(1 + d_i^2/\nu\big),

``d_i^2 = (z_O - mu_O)' Sigma_OO^{-1} (z_O - mu_O)`` (0 and 0 for a row with nothing
observed, which contributes 0). Given ``z_{i,O}``, ``tau_i ~ Gamma((nu + p_i)/2, rate
(nu + d_i^2)/2)``, so the E-step weight is ``E[tau_i | z_O] = (nu + p_i)/(nu + d_i^2)``.

The score in ``nu`` (the ECME dof step maximises the observed-data log-likelihood over
``nu`` at the new ``(mu, Sigma)``; Liu & Rubin 1995, Liu 1997) is

.. math::

    \frac{\partial \ell}{\partial \nu} = \tfrac12 \sum_i \Big[\psi\big(\tfrac{\nu+p_i}{2}\big)
        - \psi\big(\tfrac{\nu}{2}\big) - \log\big(1 + d_i^2/\nu\big) + \frac{d_i^2 - p_i}{\nu + d_i^2}\Big].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imputer._gaussian.layout import StandardData
from imputer._gaussian.rows import _row_quantities
from imputer._util import LOG_2PI

__all__ = ["DOF_BOUNDS", "RowTerms", "best_dof", "row_terms", "t_loglik", "tau"]

#: The range searched for the degrees of freedom when they are estimated. At the upper
#: end the t is, to within ``O(p^2 / nu)`` in the log-likelihood, the normal: an estimate
#: there says the data have no heavier tails than a normal's.
DOF_BOUNDS: tuple[float, float] = (0.5, 1000.0)

_LOG_PI = float(np.log(np.pi))


@dataclass(frozen=True, eq=False)
class RowTerms:
    """What the t's log-likelihood needs of each row at ``(mu, Sigma)``, any ``nu``.

    Attributes
    ----------
    maha : ndarray, shape (n,)
        ``d_i^2``, the Mahalanobis distance of the observed part (original row order).
    n_obs : ndarray of float, shape (n,)
        ``p_i``, the observed cells of the row.
    gauss : float
        ``-1/2 sum_i log|Sigma_{O_i O_i}|``, the part free of ``nu`` and ``d``.
    counts : tuple of (float, int)
        ``(p_i value, rows with it)`` pairs (the Gamma-function terms depend on ``p_i`` only).
    """

    maha: np.ndarray
    n_obs: np.ndarray
    gauss: float
    counts: tuple[tuple[float, int], ...]


def row_terms(data: StandardData, mean: np.ndarray, cov: np.ndarray) -> RowTerms:
    """:class:`RowTerms` at ``(mean, cov)``; ``data`` must keep its complete rows.

    Raises :class:`~imputer._gaussian.linalg.Infeasible` where ``cov`` is not positive definite.
    """
    maha, corr, logdet = _row_quantities(data, mean, cov)
    n_miss = np.zeros(data.n)
    for g in data.patterns.groups:
        n_miss[g.rows] = g.n_miss
    n_obs = data.p - n_miss
    # log|Sigma_OO| = log|Sigma| - log|C_M|, and corr = log|C_M| + m_i log 2 pi
    logdet_oo = np.where(n_obs > 0, logdet - corr + n_miss * LOG_2PI, 0.0)
    values, counts = np.unique(n_obs, return_counts=True)
    return RowTerms(
        maha=maha,
        n_obs=n_obs,
        gauss=-0.5 * float(logdet_oo.sum()),
        counts=tuple((float(v), int(c)) for v, c in zip(values, counts)),
    )


def _gamma_part(terms: RowTerms, nu: float) -> float:
    from scipy.special import gammaln

    half = 0.5 * nu
    return float(sum(c * (gammaln(half + 0.5 * v) - gammaln(half) - 0.5 * v * (np.log(nu) + _LOG_PI)) for v, c in terms.counts))


def t_loglik(terms: RowTerms, nu: float) -> float:
    """The observed-data log-likelihood ``sum_i log f(z_{i,O})`` (constants included)."""
    d, p = terms.maha, terms.n_obs
    return _gamma_part(terms, nu) + terms.gauss - 0.5 * float(((nu + p) * np.log1p(d / nu)).sum())


def tau(terms: RowTerms, nu: float) -> np.ndarray:
    """``E[tau_i | z_{i,O}] = (nu + p_i) / (nu + d_i^2)``, shape (n,)."""
    return (nu + terms.n_obs) / (nu + terms.maha)


def _score(terms: RowTerms, nu: float) -> float:
    from scipy.special import digamma

    d = terms.maha
    half = 0.5 * nu
    psi = sum(c * (digamma(half + 0.5 * v) - digamma(half)) for v, c in terms.counts)
    return 0.5 * float(psi - np.log1p(d / nu).sum() + ((d - terms.n_obs) / (nu + d)).sum())


def best_dof(terms: RowTerms, nu_old: float, bounds: tuple[float, float] = DOF_BOUNDS) -> float:
    """The ``nu`` in ``bounds`` maximising :func:`t_loglik` at fixed ``(mu, Sigma)``.

    The score's root is found on ``log nu`` by Brent's method (``brentq``) when the score
    changes sign over ``bounds``; the candidates (that root, the bounds, ``nu_old``) are
    then compared by their log-likelihood, so the step never lowers it (where the
    likelihood in ``nu`` has several local maxima, the root found may be a local one).

    Parameters
    ----------
    terms : RowTerms
        Row terms at the ``(mu, Sigma)`` of the step.
    nu_old : float
        The current degrees of freedom.
    bounds : (float, float), default ``DOF_BOUNDS``

    Returns
    -------
    float
        The new degrees of freedom, in ``bounds``.
    """
    from scipy.optimize import brentq

    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    candidates = [bounds[0], bounds[1], float(np.clip(nu_old, *bounds))]
    s_lo, s_hi = _score(terms, bounds[0]), _score(terms, bounds[1])
    if s_lo > 0.0 and s_hi < 0.0:
        root = brentq(lambda t: _score(terms, float(np.exp(t))), lo, hi, xtol=1e-13, rtol=4 * np.finfo(float).eps)
        candidates.insert(0, float(np.exp(root)))
    values = [t_loglik(terms, nu) for nu in candidates]
    return candidates[int(np.argmax(values))]
