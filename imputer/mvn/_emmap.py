r"""The multivariate-normal EM map on the Gaussian kernel layer (private; clean input assumed).

Model: rows ``z_i ~ N_p(mu, Sigma)`` i.i.d. in standardised units, cells missing at
random, an inverse-Wishart ridge prior worth ``lambda`` pseudo-rows with scale ``I``.
One EM update from ``theta = (mu, Sigma)``:

* E-step: :func:`imputer._gaussian.estep.estep` (unweighted, frequent patterns summed
  per pattern) gives the sufficient statistics at ``theta``;
* the objective at ``theta``, ``l(theta) - (lambda/2)[log|Sigma| + tr(Sigma^-1)]``, and the
  M-step (the posterior mode given the statistics) follow from them
  (:mod:`imputer._gaussian.objective`).

:func:`em_update` is that map (with the log-likelihood and objective at its input), for
the EM driver and later for SEM/Louis standard errors and data augmentation;
:func:`evaluate` is the last E-step at an estimate, which completes every row of the
work array and keeps the conditional-variance diagonals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imputer._gaussian.estep import estep, estep_diagonals
from imputer._gaussian.layout import StandardData
from imputer._gaussian.linalg import Infeasible, precision
from imputer._gaussian.objective import loglik, mstep, ridge_penalty, scatter_about
from imputer._gaussian.prior import RidgePrior, as_prior
from imputer._gaussian.stats import SufficientStats

__all__ = ["EMUpdate", "Evaluation", "em_update", "evaluate"]


@dataclass(frozen=True, eq=False)
class EMUpdate:
    """One EM update ``(mu, Sigma) -> (mu', Sigma')`` (standardised units).

    Attributes
    ----------
    mu, sigma : ndarray, shapes (p,), (p, p)
        The updated parameters.
    loglik, objective : float
        Observed-data log-likelihood and log-posterior at the *input* parameters.
    floor : ndarray, shape (p,), or None
        The diagonal of ``lambda D / (V + a)``, the ridge prior's share of ``sigma``: a
        lower bound in the Loewner order (:mod:`imputer.mvn._certify`); None without a
        prior.
    """

    mu: np.ndarray
    sigma: np.ndarray
    loglik: float
    objective: float
    floor: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Log-likelihood, objective and conditional-variance diagonals at an estimate.

    Attributes
    ----------
    loglik, objective : float
    cond_diag : tuple of ndarray, one (G, m) per pattern group
        Diagonals of ``C_M`` (standardised units).
    """

    loglik: float
    objective: float
    cond_diag: tuple[np.ndarray, ...] = ()


def _objectives(
    stats: SufficientStats, mu: np.ndarray, sigma: np.ndarray, ridge: float | RidgePrior, prec: tuple[np.ndarray, float]
) -> tuple[float, float, np.ndarray]:
    """``(loglik, objective, scatter about mu)``; a non-finite objective is infeasible.

    The scatter is made in ``stats.cond``'s memory (the callers' statistics are their
    own, and used after this only for ``s1`` and the weights).
    """
    scatter = scatter_about(stats, mu, overwrite=True)
    ll = loglik(stats, mu, sigma, prec=prec, scatter=scatter)
    objective = ll - ridge_penalty(ridge, sigma, prec=prec)
    if not np.isfinite(objective):
        raise Infeasible("non-finite objective")
    return ll, objective, scatter


def em_update(
    data: StandardData,
    mu: np.ndarray,
    sigma: np.ndarray,
    ridge: float | RidgePrior,
    prec: tuple[np.ndarray, float] | None = None,
) -> EMUpdate:
    """One EM update from ``(mu, sigma)``; raises :class:`Infeasible` where ``sigma`` is not valid.

    Parameters
    ----------
    data : StandardData
        Standardised data (its work array is updated, frequent patterns aside).
    mu, sigma : ndarray, shapes (p,), (p, p)
    ridge : float or RidgePrior
        Prior pseudo-rows ``lambda >= 0``, or the prior.
    prec : tuple, optional
        ``(Sigma^-1, log|Sigma|)`` when the caller has it (computed here otherwise).
    """
    prec = prec or precision(sigma)
    stats = estep(data, mu, sigma, prec=prec)
    ll, objective, scatter = _objectives(stats, mu, sigma, ridge, prec)
    mu_new, sigma_new = mstep(stats, mu, ridge, scatter=scatter, overwrite_scatter=True)
    prior = as_prior(ridge)
    floor = prior.diagonal(data.p) / (stats.cov_weight + prior.logdet_weight) if prior.weight > 0.0 else None
    return EMUpdate(mu=mu_new, sigma=sigma_new, loglik=ll, objective=objective, floor=floor)


def evaluate(
    data: StandardData,
    mu: np.ndarray,
    sigma: np.ndarray,
    ridge: float | RidgePrior,
    prec: tuple[np.ndarray, float] | None = None,
) -> Evaluation:
    """The last E-step at an estimate: every row of ``data.work`` completed at ``(mu, sigma)``.

    Its statistics, hence ``loglik`` and ``objective``, are those of :func:`em_update` at
    the same point (same arithmetic, given the same ``prec``, ``(Sigma^-1, log|Sigma|)``,
    computed here when not given).

    Raises :class:`Infeasible` where ``sigma`` is not valid.
    """
    prec = prec or precision(sigma)
    # the statistics of em_update (frequent patterns summed per pattern), so that the
    # objective here is the one the EM trace saw at the same point, bit for bit; every
    # row of the work array is completed all the same
    stats, diags = estep_diagonals(data, mu, sigma, prec=prec, complete_all=True)
    ll, objective, _ = _objectives(stats, mu, sigma, ridge, prec)
    return Evaluation(loglik=ll, objective=objective, cond_diag=diags)
