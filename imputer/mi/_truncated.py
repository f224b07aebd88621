r"""Draws of a row's missing cells from its conditional normal truncated to a box (private).

Model. On the model scale a row is ``y ~ N_p(mu, Sigma)``; its missing block ``y_M``
given the observed cells is ``N(m, C)`` with ``m = mu_M + Sigma_MO Sigma_OO^{-1} (y_O - mu_O)``
and ``C = Sigma_MM - Sigma_MO Sigma_OO^{-1} Sigma_OM``. Bounds ``a <= y_j <= b`` on some
columns make the imputation distribution that normal *truncated* to the box
``prod_j [a_j, b_j]`` (density proportional to ``N(m, C)`` inside, 0 outside), which is
not the normal clipped to the box (clipping piles mass on the bounds). Two samplers,
used in this order:

1. Rejection: a draw from ``N(m, C)`` (the unconstrained imputation is the first try) is
   kept if every bounded cell is inside; otherwise the row is drawn again, up to
   ``max_tries`` times. An accepted draw is an exact draw from the truncated normal.
2. Gibbs fallback, for the rows still outside after ``max_tries`` (acceptance
   probability below about ``1/max_tries``): start at the last draw clipped into the
   box, then ``sweeps`` sweeps over the row's missing cells, each cell drawn from its
   univariate full conditional given every other cell of the row (observed and current
   missing ones), ``N(mu_k - Q_kk^{-1} sum_{l != k} Q_kl (y_l - mu_l), Q_kk^{-1})`` with
   ``Q = Sigma^{-1}``, truncated to ``[a_k, b_k]`` (Geweke 1991; Robert 1995). The
   truncated multivariate normal is the chain's stationary distribution; after a finite
   number of sweeps the draw is approximate (it mixes slowly when the missing cells are
   strongly correlated and the box cuts deep), hence rejection first.

A row with one missing bounded cell needs no Gibbs step beyond one exact univariate draw.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_TRIES", "SWEEPS", "truncate_rows"]

#: Rejection tries per row before the Gibbs fallback.
MAX_TRIES = 50
#: Gibbs sweeps of the fallback.
SWEEPS = 50


def _rejection(
    y: np.ndarray, miss: np.ndarray, bad: np.ndarray, mu: np.ndarray, sigma: np.ndarray,
    lower: np.ndarray, upper: np.ndarray, rng: np.random.Generator, max_tries: int,
) -> np.ndarray:
    """Redraw the rows ``bad`` from ``N(m, C)`` until inside (in place); the rows still outside."""
    rows = np.flatnonzero(bad)
    keys = miss[rows]
    patterns, inverse = np.unique(keys, axis=0, return_inverse=True)
    still = np.zeros(y.shape[0], dtype=bool)
    for g, pat in enumerate(patterns):
        r = rows[inverse.ravel() == g]
        mm, oo = np.flatnonzero(pat), np.flatnonzero(~pat)
        if oo.size:
            coef = np.linalg.solve(sigma[np.ix_(oo, oo)], sigma[np.ix_(oo, mm)]).T  # (|M|, |O|)
            cov = sigma[np.ix_(mm, mm)] - coef @ sigma[np.ix_(oo, mm)]
        else:
            coef = np.zeros((mm.size, 0))
            cov = sigma[np.ix_(mm, mm)].copy()
        chol = np.linalg.cholesky(0.5 * (cov + cov.T))
        lo, hi = lower[mm], upper[mm]
        for _ in range(max_tries):
            if r.size == 0:
                break
            mean = mu[mm] + (y[np.ix_(r, oo)] - mu[oo]) @ coef.T
            draw = mean + rng.standard_normal((r.size, mm.size)) @ chol.T
            ok = ((draw >= lo) & (draw <= hi)).all(axis=1)
            y[np.ix_(r[ok], mm)] = draw[ok]
            r = r[~ok]
        still[r] = True
    return still


def _gibbs(
    y: np.ndarray, miss: np.ndarray, rows: np.ndarray, mu: np.ndarray, sigma: np.ndarray,
    lower: np.ndarray, upper: np.ndarray, rng: np.random.Generator, sweeps: int,
) -> None:
    """Gibbs sweeps over the missing cells of ``rows`` (in place), started inside the box."""
    from scipy.stats import truncnorm

    sub = np.clip(y[rows], lower, upper)
    m_sub = miss[rows]
    prec = np.linalg.inv(sigma)
    prec = 0.5 * (prec + prec.T)
    for _ in range(sweeps):
        for k in range(y.shape[1]):
            r = np.flatnonzero(m_sub[:, k])
            if r.size == 0:
                continue
            q = prec[k]
            dev = sub[r] - mu
            mean = mu[k] - (dev @ q - dev[:, k] * q[k]) / q[k]
            sd = 1.0 / np.sqrt(q[k])
            a, b = (lower[k] - mean) / sd, (upper[k] - mean) / sd
            sub[r, k] = truncnorm.rvs(a, b, loc=mean, scale=sd, random_state=rng)
    y[rows] = np.where(m_sub, sub, y[rows])


def truncate_rows(
    y: np.ndarray, miss: np.ndarray, mu: np.ndarray, sigma: np.ndarray, lower: np.ndarray, upper: np.ndarray,
    rng: np.random.Generator, *, max_tries: int = MAX_TRIES, sweeps: int = SWEEPS,
) -> int:
    """Make every row's missing cells a draw from the truncated conditional normal (in place).

    Parameters
    ----------
    y : ndarray, shape (n, p)
        Rows on the model scale, missing cells holding a draw from ``N(m, C)`` under
        ``(mu, sigma)`` (the first rejection try); changed in place.
    miss : ndarray of bool, shape (n, p)
    mu : ndarray, shape (p,)
    sigma : ndarray, shape (p, p)
        The parameters the imputation was drawn under.
    lower, upper : ndarray, shape (p,)
        The box on the model scale (``-inf``/``inf`` for unbounded columns).
    rng : Generator
    max_tries, sweeps : int
        Rejection tries, then Gibbs sweeps (module docstring).

    Returns
    -------
    int
        Rows drawn by the Gibbs fallback.
    """
    bad = (((y < lower) | (y > upper)) & miss).any(axis=1)
    if not bad.any():
        return 0
    still = _rejection(y, miss, bad, mu, sigma, lower, upper, rng, max_tries) if max_tries > 0 else bad
    rows = np.flatnonzero(still)
    if rows.size:
        _gibbs(y, miss, rows, mu, sigma, lower, upper, rng, sweeps)
    return int(rows.size)
