r"""EM kernels for the multivariate normal with missing values (private; clean input assumed).

Model: rows ``z_i ~ N_p(mu, Sigma)`` i.i.d., cells missing at random. For a row with
missing set ``M`` and observed set ``O``, with precision ``Lambda = Sigma^{-1}``,

.. math::

    z_M \mid z_O \sim N\big(\mu_M - C_M \Lambda_{MO}(z_O - \mu_O),\; C_M\big),
    \qquad C_M = (\Lambda_{MM})^{-1}.

Only ``m x m`` blocks are factorised per pattern (``m`` = number of missing cells, usually
much smaller than the number observed), and ``Lambda_{MO}(z_O - mu_O)`` is the ``M`` part
of ``Lambda d`` with ``d`` the row's deviation with missing cells set to zero -- one dense
``n x p`` by ``p x p`` product over the rows, as fast as the cross-product itself.

E-step statistics at ``theta = (mu, Sigma)``, with ``zhat_i`` the row completed by its
conditional mean:

.. math::

    s = \sum_i (\hat z_i - \mu), \qquad
    A = \sum_i (\hat z_i - \mu)(\hat z_i - \mu)^\top + \sum_i C_{M_i} \text{ (embedded)}.

M-step (posterior mode under the ridge prior, flat prior on ``mu``):
``mu' = mu + s/n``, ``Sigma' = (A - n (s/n)(s/n)^T + lambda D) / (n + lambda)``.

Observed-data log-likelihood from the same quantities, by the identity
``l(theta) = Q(theta | theta) + H(theta)`` (expected complete-data log-likelihood plus
the entropy of the missing cells given the observed ones):

.. math::

    \ell(\theta) = -\tfrac12\big[n p \log 2\pi + n \log|\Sigma| + \operatorname{tr}(\Lambda A)\big]
      + \tfrac12 \sum_i \big[m_i (\log 2\pi + 1) + \log|C_{M_i}|\big],

which equals ``sum_i log N(z_{i,O}; mu_O, Sigma_OO)`` exactly (Schur complement:
``log|Sigma| = log|Sigma_OO| + log|C_M|``). The objective EM increases is
``l(theta) - (lambda/2) [log|Sigma| + tr(Lambda D)]`` (log-posterior up to a constant).
Here everything is in the engine's standardised units, where ``D = I``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from imputer.mvn._patterns import PatternGroup, Patterns

__all__ = [
    "Infeasible",
    "StandardData",
    "EStep",
    "conditional_blocks",
    "estep",
    "mstep",
    "fill_block",
    "precision",
]

LOG_2PI = float(np.log(2.0 * np.pi))
# rows per block in the row-level pass: about 2 MB of float64 per temporary
_BLOCK_ELEMENTS = 1 << 18


class Infeasible(Exception):
    """The parameters are not a valid normal (covariance not numerically positive definite)."""


@dataclass(frozen=True)
class StandardData:
    """Data prepared for EM, in standardised units.

    Attributes
    ----------
    patterns : Patterns
        Missingness patterns of the rows.
    z_inc : ndarray, shape (n_inc, p), C order
        Incomplete rows in stacked (group, pattern) order, missing cells 0.
    s1_complete : ndarray, shape (p,)
        Sum of the complete rows.
    s2_complete : ndarray, shape (p, p)
        Sum of outer products of the complete rows.
    """

    patterns: Patterns
    z_inc: np.ndarray
    s1_complete: np.ndarray
    s2_complete: np.ndarray

    @property
    def n(self) -> int:
        return self.patterns.n_rows

    @property
    def p(self) -> int:
        return self.patterns.n_cols

    @property
    def n_complete(self) -> int:
        return int(self.patterns.complete_rows.size)


@dataclass(frozen=True)
class EStep:
    """Result of one E-step at ``(mu, Sigma)``.

    Attributes
    ----------
    loglik : float
        Observed-data log-likelihood at ``(mu, Sigma)``.
    objective : float
        ``loglik`` minus the ridge penalty (equal to ``loglik`` when ``ridge = 0``).
    dsum : ndarray, shape (p,)
        ``sum_i (zhat_i - mu)``.
    scatter : ndarray, shape (p, p)
        ``A``, the expected scatter about ``mu`` (conditional covariances included).
    """

    loglik: float
    objective: float
    dsum: np.ndarray
    scatter: np.ndarray


def precision(sigma: np.ndarray) -> tuple[np.ndarray, float]:
    """``(Sigma^-1, log|Sigma|)`` through a Cholesky factor; raises :class:`Infeasible`."""
    if not np.all(np.isfinite(sigma)):
        raise Infeasible("non-finite covariance")
    try:
        chol = scipy.linalg.cholesky(sigma, lower=True, check_finite=False)
    except np.linalg.LinAlgError as exc:
        raise Infeasible(str(exc)) from None
    diag = np.diag(chol)
    if np.any(diag <= 0.0):
        raise Infeasible("singular covariance")
    prec = scipy.linalg.cho_solve((chol, True), np.eye(sigma.shape[0]), check_finite=False)
    prec = 0.5 * (prec + prec.T)
    return prec, 2.0 * float(np.sum(np.log(diag)))


def conditional_blocks(prec: np.ndarray, group: PatternGroup) -> tuple[np.ndarray, np.ndarray]:
    """Conditional covariances of the missing cells for every pattern of a group.

    Parameters
    ----------
    prec : ndarray, shape (p, p)
        Precision matrix ``Lambda``.
    group : PatternGroup
        Patterns with ``m`` missing cells.

    Returns
    -------
    cond : ndarray, shape (G, m, m)
        ``C_M = (Lambda_MM)^-1`` per pattern.
    logdet : ndarray, shape (G,)
        ``log|C_M|``.
    """
    miss = group.miss
    if group.n_miss == 1:
        d = prec[miss[:, 0], miss[:, 0]]
        if not np.all(d > 0.0):
            raise Infeasible("non-positive precision diagonal")
        return (1.0 / d)[:, None, None], -np.log(d)
    block = prec[miss[:, :, None], miss[:, None, :]]
    try:
        chol = np.linalg.cholesky(block)
    except np.linalg.LinAlgError as exc:
        raise Infeasible(str(exc)) from None
    diag = np.diagonal(chol, axis1=1, axis2=2)
    if not np.all(diag > 0.0):
        raise Infeasible("singular precision block")
    logdet = -2.0 * np.sum(np.log(diag), axis=1)
    inv_chol = np.linalg.inv(chol)
    cond = np.matmul(np.swapaxes(inv_chol, 1, 2), inv_chol)
    return cond, logdet


def fill_block(
    dev: np.ndarray, miss_rows: np.ndarray, cond_rows: np.ndarray, prec: np.ndarray
) -> None:
    """Replace the missing cells of a block of centred rows by their conditional deviations.

    Parameters
    ----------
    dev : ndarray, shape (r, p), C order, modified in place
        ``z_i - mu`` for rows that all have ``m`` missing cells (missing cells: any value).
        On return the missing cells hold ``E[z_M | z_O] - mu_M``.
    miss_rows : ndarray of intp, shape (r, m)
        Missing columns of each row.
    cond_rows : ndarray, shape (r, m, m)
        Conditional covariance ``C_M`` of each row's pattern.
    prec : ndarray, shape (p, p)
        Precision matrix.
    """
    r, p = dev.shape
    flat = np.arange(r, dtype=np.intp)[:, None] * p + miss_rows
    dflat = dev.reshape(-1)
    dflat[flat] = 0.0
    lam_d = (dev @ prec).reshape(-1)[flat]  # (r, m): Lambda_MO (z_O - mu_O)
    if miss_rows.shape[1] == 1:
        dflat[flat] = -cond_rows[:, 0, :] * lam_d
    else:
        dflat[flat] = -np.matmul(cond_rows, lam_d[:, :, None])[:, :, 0]


def block_bounds(n_rows: int, p: int) -> list[tuple[int, int]]:
    """Split ``range(n_rows)`` into blocks of about ``_BLOCK_ELEMENTS / p`` rows."""
    size = max(256, _BLOCK_ELEMENTS // max(p, 1))
    return [(a, min(a + size, n_rows)) for a in range(0, n_rows, size)]


def estep(data: StandardData, mu: np.ndarray, sigma: np.ndarray, ridge: float) -> EStep:
    """E-step statistics and observed-data log-likelihood at ``(mu, Sigma)``.

    Raises :class:`Infeasible` when ``Sigma`` (or a block of its inverse) is not
    numerically positive definite.
    """
    n, p = data.n, data.p
    prec, logdet_sigma = precision(sigma)
    nc = data.n_complete
    s1 = data.s1_complete
    dsum = s1 - nc * mu
    scatter = data.s2_complete - np.outer(s1, mu) - np.outer(mu, s1) + nc * np.outer(mu, mu)
    entropy = 0.0
    cond_sum = np.zeros(p * p)
    for group in data.patterns.groups:
        cond, logdet = conditional_blocks(prec, group)
        w = group.counts.astype(float)
        m = group.n_miss
        entropy += float(w @ (m * (LOG_2PI + 1.0) + logdet))
        idx = group.miss[:, :, None] * p + group.miss[:, None, :]
        cond_sum += np.bincount(idx.reshape(-1), weights=(w[:, None, None] * cond).reshape(-1), minlength=p * p)
        loc_all = group.row_pattern
        for a, b in block_bounds(group.n_rows, p):
            dev = data.z_inc[group.offset + a : group.offset + b] - mu
            loc = loc_all[a:b]
            fill_block(dev, group.miss[loc], cond[loc], prec)
            dsum += dev.sum(axis=0)
            scatter += dev.T @ dev
    scatter += cond_sum.reshape(p, p)
    scatter = 0.5 * (scatter + scatter.T)
    loglik = -0.5 * (n * p * LOG_2PI + n * logdet_sigma + float(np.sum(prec * scatter))) + 0.5 * entropy
    objective = loglik
    if ridge > 0.0:
        objective -= 0.5 * ridge * (logdet_sigma + float(np.trace(prec)))
    if not np.isfinite(objective):
        raise Infeasible("non-finite objective")
    return EStep(loglik=loglik, objective=objective, dsum=dsum, scatter=scatter)


def mstep(data: StandardData, mu: np.ndarray, stats: EStep, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """M-step: the posterior mode ``(mu', Sigma')`` given E-step statistics (``D = I``)."""
    n = data.n
    delta = stats.dsum / n
    mu_new = mu + delta
    scatter = stats.scatter - n * np.outer(delta, delta)
    if ridge > 0.0:
        scatter = scatter + ridge * np.eye(data.p)
    sigma = scatter / (n + ridge)
    return mu_new, 0.5 * (sigma + sigma.T)
