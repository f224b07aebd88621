r"""The P-step of data augmentation: a draw of ``(mu, Sigma)`` from the complete-data posterior.

Complete data ``z_1, ..., z_n ~ N_p(mu, Sigma)`` (standardised units) with sum
``s_1 = sum z_i``, cross-products ``S_2 = sum z_i z_i'``, mean ``zbar = s_1 / n`` and
centred cross-products ``A = S_2 - n zbar zbar'``. Prior, with ridge ``lambda >= 0`` and
``D = I`` (the observed variances in standardised units, as :func:`imputer.impute` uses):

.. math::

    \pi(\mu, \Sigma) \propto |\Sigma|^{-(p+1)/2}\;
        |\Sigma|^{-\lambda/2} \exp\{-\tfrac12 \operatorname{tr}(\lambda D \Sigma^{-1})\},

flat in ``mu``: the Jeffreys reference prior times impute's ridge kernel (the plain
Jeffreys prior when ``lambda = 0``). The posterior is normal-inverse-Wishart:

.. math::

    \Sigma \mid Y \sim \mathcal{W}^{-1}(n + \lambda - 1,\; A + \lambda D), \qquad
    \mu \mid \Sigma, Y \sim N_p(\bar z, \Sigma / n),

with ``W^{-1}(nu, B)`` the inverse Wishart of density ``propto |Sigma|^{-(nu+p+1)/2}
exp(-tr(B Sigma^{-1})/2)`` (mean ``B / (nu - p - 1)``; scipy's ``invwishart(df=nu,
scale=B)``), proper for ``n + lambda > p``. Relation to impute's estimate: impute maximises
the same likelihood times the ridge kernel *without* the reference factor, so its mode
``Sigma = (A + lambda D) / (n + lambda)`` has the posterior's scale matrix and degrees of
freedom; the posterior mean of ``Sigma`` is that mode times ``(n + lambda) / (n + lambda - p - 2)``
(at ``lambda = 0``: the MLE ``A/n`` and the Jeffreys mean ``A/(n - p - 2)``).

Drawing (Bartlett): ``Sigma^{-1} ~ W(nu, B^{-1})``; with ``B = L L'`` (Cholesky) and ``T``
lower triangular, ``T_ii = sqrt(chi^2_{nu - i + 1})`` (``i = 1..p``), ``T_ij ~ N(0, 1)``
below the diagonal, ``Sigma^{-1} = L^{-T} T T' L^{-1}``, so ``Sigma = M M'`` with
``M = L T^{-T}``; then ``mu = zbar + M e / sqrt(n)``, ``e ~ N(0, I_p)``.

Amelia's convention (:class:`~imputer._gaussian.prior.RidgePrior` with ``log|Sigma|``
weight ``a = lambda + p + 2`` and its own ``D``) replaces ``lambda`` by ``a`` in the
exponent of ``|Sigma|``: the posterior is ``W^{-1}(n + a - 1, A + lambda D)``, proper for
every ``n`` when ``lambda > 0``, and its mode without the reference factor is Amelia's
``(A + lambda D) / (n + a)``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from imputer._gaussian.prior import RidgePrior, as_prior

__all__ = ["draw_niw", "posterior_df"]


def posterior_df(n: float, ridge: float | RidgePrior) -> float:
    """Degrees of freedom ``nu = n + lambda - 1`` (``n + a - 1``) of the posterior inverse Wishart."""
    return float(n) + as_prior(ridge).logdet_weight - 1.0


@lru_cache(maxsize=64)
def _lower(p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Strictly-lower-triangle indices and the chi-square offsets ``0 .. p-1``."""
    rows, cols = np.tril_indices(p, -1)
    return rows, cols, np.arange(p, dtype=float)


def draw_niw(
    s1: np.ndarray, s2: np.ndarray, n: float, ridge: float | RidgePrior, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One draw of ``(mu, Sigma)`` from the posterior of the module docstring.

    Parameters
    ----------
    s1 : ndarray, shape (p,)
        ``sum z_i`` of the completed rows.
    s2 : ndarray, shape (p, p)
        ``sum z_i z_i'``.
    n : float
        Number of rows.
    ridge : float or RidgePrior
        ``lambda >= 0`` (``D = I``); ``n + lambda > p`` (a proper posterior); or the
        prior (Amelia's convention).
    rng : numpy.random.Generator
        Consumed in a fixed order: ``p`` chi-squares, ``p(p-1)/2`` normals (``T`` row by
        row), ``p`` normals (``e``).

    Returns
    -------
    mu : ndarray, shape (p,)
    sigma : ndarray, shape (p, p), symmetric positive definite
    """
    p = s1.shape[0]
    zbar = s1 / n
    b = s2 - n * np.outer(zbar, zbar)
    prior = as_prior(ridge)
    if prior.weight > 0.0:
        b = b + np.diag(prior.diagonal(p))
    b = 0.5 * (b + b.T)
    nu = posterior_df(n, ridge)
    chol_b = np.linalg.cholesky(b)
    rows, cols, offsets = _lower(p)
    t = np.diag(np.sqrt(rng.chisquare(nu - offsets)))
    t[rows, cols] = rng.standard_normal(rows.size)
    # M' = T^{-1} L'  (T lower triangular, well conditioned: a general solve of a tiny system)
    m_t = np.linalg.solve(t, chol_b.T)
    sigma = m_t.T @ m_t
    sigma = 0.5 * (sigma + sigma.T)
    mu = zbar + (m_t.T @ rng.standard_normal(p)) / np.sqrt(n)
    return mu, sigma
