r"""Data augmentation (Tanner & Wong 1987; Schafer 1997 ch. 5) for the multivariate normal.

Model and prior as in :mod:`imputer.mi._pstep`: rows ``z_i ~ N_p(mu, Sigma)`` i.i.d.
(standardised units of the MVN engine), cells missing at random, prior
``pi(mu, Sigma) propto |Sigma|^{-(p+1+lambda)/2} exp(-tr(lambda D Sigma^{-1})/2)`` (Jeffreys
when ``lambda = 0``). The chain ``theta_0 = theta_hat`` (the EM estimate of
:func:`imputer.impute`, same ``ridge``), then for ``t = 1, 2, ...``

* I-step: ``Y_mis^(t) ~ p(Y_mis | Y_obs, theta_{t-1})``: every missing cell drawn from its
  conditional normal (:func:`imputer.mi._istep.draw_missing`, vectorised by pattern); at
  iterations that are not imputations only the statistics ``(sum z, sum z z')`` of the
  completed rows are drawn, the frequent patterns' without their rows
  (:func:`imputer.mi._istep.draw_sums`: the same distribution at a fraction of the cost);
* P-step: ``theta_t ~ p(theta | Y_obs, Y_mis^(t))``: normal-inverse-Wishart
  (:func:`imputer.mi._pstep.draw_niw`),

has the observed-data posterior ``p(theta | Y_obs)`` as its stationary distribution, and
``Y_mis^(t)`` draws from the posterior predictive distribution of the missing cells.
Imputation ``j = 1..m`` is ``Y_mis^(t_j)`` with ``t_j = burn_in + j * thin``; its parameters
(:attr:`Chain.params`) are ``theta_{t_j - 1}``, the draw it was imputed under. The chain
stops after the I-step of ``t_m`` (``burn_in + m * thin`` I-steps, one P-step fewer).

One generator drives the chain (the imputations are successive states of one chain,
so imputation ``j`` depends on the chain before it by construction); it is consumed in
a fixed order per iteration (the I-step's blocks, then the P-step), so a given
``(seed, burn_in, thin)`` gives the same chain for every ``m``: the first ``m'`` of ``m``
imputations are those of ``m'``.

Diagnostic: the worst linear function ``WLF_t = v' theta_t`` (:mod:`imputer.mi._rate`)
at every ``theta_t`` used by an I-step (``t = 0 .. t_m - 1``) and its autocorrelation
function over the post-burn-in part (``t = burn_in .. t_m - 1``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from imputer._gaussian.layout import StandardData
from imputer._gaussian.prior import RidgePrior
from imputer.mi._dense import dense_factors
from imputer.mi._istep import completed_sums, draw_missing, draw_sums
from imputer.mi._pstep import draw_niw
from imputer.mvn._problem import MVNProblem

__all__ = ["Chain", "acf", "run_chain"]


@dataclass(frozen=True, eq=False)
class Chain:
    """What :func:`run_chain` produced (standardised units).

    Attributes
    ----------
    params : list of (ndarray (p,), ndarray (p, p))
        ``theta_{t_j - 1}`` for ``j = 1..m``.
    wlf : ndarray, shape (burn_in + m * thin,)
        ``v' theta_t`` for ``t = 0 .. t_m - 1``.
    """

    params: list[tuple[np.ndarray, np.ndarray]]
    wlf: np.ndarray


def run_chain(
    data: StandardData,
    mu: np.ndarray,
    sigma: np.ndarray,
    *,
    ridge: float | RidgePrior,
    m: int,
    burn_in: int,
    thin: int,
    direction: np.ndarray,
    rng: np.random.Generator,
    emit: Callable[[int, StandardData], None] | None,
) -> Chain:
    """Run data augmentation from ``(mu, sigma)``; call ``emit(j, data)`` at each imputation.

    Parameters
    ----------
    data : StandardData
        Standardised layout; its work array holds the chain's current completed rows
        (overwritten).
    mu, sigma : ndarray, shapes (p,), (p, p)
        Start (the EM estimate).
    ridge : float
    m, burn_in, thin : int
        ``m >= 1``, ``burn_in >= 0``, ``thin >= 1``.
    direction : ndarray, shape (p + p(p+1)/2,)
        ``v`` of the worst linear function.
    rng : numpy.random.Generator
    emit : callable
        ``emit(j, data)`` for ``j = 1..m`` right after the I-step of ``t_j``, while
        ``data.work`` holds imputation ``j`` (it must copy what it keeps). None: the
        I-steps of ``t_j`` draw the statistics only, like the others (the chain of a
        layout that holds no rows, :mod:`imputer.dask.mi`; the caller draws the rows).

    Returns
    -------
    Chain
    """
    packer = MVNProblem(data, ridge)
    n = float(data.n)
    total = burn_in + m * thin
    wlf = np.empty(total)
    params: list[tuple[np.ndarray, np.ndarray]] = []
    factors = dense_factors(data)
    for t in range(1, total + 1):
        wlf[t - 1] = float(direction @ packer.pack((mu, sigma)))
        imputation = t > burn_in and (t - burn_in) % thin == 0
        if imputation:
            params.append((mu.copy(), sigma.copy()))
        if imputation and emit is not None:
            draw_missing(data, mu, sigma, rng)
            emit(len(params), data)
            s1, s2 = completed_sums(data)
        else:
            s1, s2 = draw_sums(data, mu, sigma, rng, factors)
        if t < total:
            mu, sigma = draw_niw(s1, s2, n, ridge, rng)
    return Chain(params=params, wlf=wlf)


def acf(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample autocorrelations ``rho_0 .. rho_L`` of a series, ``L = min(max_lag, len - 1)``.

    ``rho_k = sum_t (x_t - xbar)(x_{t+k} - xbar) / sum_t (x_t - xbar)^2`` (the usual biased
    estimator, as R's ``acf``); NaN when the series is constant.
    """
    x = np.asarray(x, dtype=float)
    lags = max(0, min(max_lag, x.size - 1))
    d = x - x.mean()
    denom = float(d @ d)
    if denom == 0.0:
        return np.full(lags + 1, np.nan)
    return np.array([float(d[: x.size - k] @ d[k:]) / denom for k in range(lags + 1)])
