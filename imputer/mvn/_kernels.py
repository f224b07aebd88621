r"""EM kernels for the multivariate normal with missing values (private; clean input assumed).

Model: rows ``z_i ~ N_p(mu, Sigma)`` i.i.d., cells missing at random. For a row with
missing set ``M`` and observed set ``O``, with precision ``Lambda = Sigma^{-1}``,

.. math::

    z_M \mid z_O \sim N\big(\mu_M - C_M \Lambda_{MO}(z_O - \mu_O),\; C_M\big),
    \qquad C_M = (\Lambda_{MM})^{-1}.

Only ``m x m`` blocks are inverted per pattern (``m`` = number of missing cells, usually
much smaller than the number observed), by a sweep vectorised over the patterns of a
group, and ``Lambda_{MO}(z_O - mu_O)`` is the ``M`` part of ``Lambda (v - mu)`` where ``v``
is the row with its missing cells set to ``mu_M`` -- one dense ``n x p`` by ``p x p``
product over the rows per iteration, about the cost of the cross-product itself.

Row-level storage: one work array holding the incomplete rows (observed cells fixed,
missing cells overwritten by every E-step with the conditional means at the current
parameters), plus precomputed flat indices of the missing cells. The complete rows only
enter through their sum and cross-product, computed once.

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
    "Block",
    "EStep",
    "block_bounds",
    "conditional_blocks",
    "estep",
    "mstep",
    "precision",
    "spd_inverse_batch",
    "prepare_blocks",
    "update_block",
]

LOG_2PI = float(np.log(2.0 * np.pi))
# rows per block in the row-level pass: about 2 MB of float64 per temporary
_BLOCK_ELEMENTS = 1 << 18
# pattern blocks of this size or larger are inverted by LAPACK instead of the sweep
_SWEEP_MAX_M = 22


class Infeasible(Exception):
    """The parameters are not a valid normal (covariance not numerically positive definite)."""


@dataclass(frozen=True)
class Block:
    """A run of incomplete rows of one pattern group, with its missing-cell indices.

    Attributes
    ----------
    group : int
        Index of the pattern group (all rows have ``m`` missing cells).
    start, stop : int
        Rows ``start:stop`` of the work array.
    loc : ndarray of intp, shape (r,)
        Pattern (within the group) of each row.
    flat : ndarray of int32 (intp for huge blocks), shape (r, m)
        Flat positions of the missing cells in the C-ordered ``(r, p)`` block.
    flat_t : ndarray of int32 (intp for huge blocks), shape (r, m)
        Flat positions of the missing cells in the C-ordered transposed ``(p, r)`` block.
    """

    group: int
    start: int
    stop: int
    loc: np.ndarray
    flat: np.ndarray
    flat_t: np.ndarray


@dataclass(frozen=True)
class StandardData:
    """Data prepared for EM, in standardised units.

    Attributes
    ----------
    patterns : Patterns
        Missingness patterns of the rows.
    work : ndarray, shape (n_inc, p), C order -- mutable
        Incomplete rows in stacked (group, pattern) order; each E-step overwrites the
        missing cells with conditional means at its parameters.
    blocks : tuple of Block
        Row blocks of ``work``.
    s1_complete : ndarray, shape (p,)
        Sum of the complete rows.
    s2_complete : ndarray, shape (p, p)
        Sum of outer products of the complete rows.
    """

    patterns: Patterns
    work: np.ndarray
    blocks: tuple[Block, ...]
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
    cond_diag : tuple of ndarray, one (G, m) per pattern group
        Diagonals of the conditional covariances ``C_M`` (standardised units).
    """

    loglik: float
    objective: float
    dsum: np.ndarray
    scatter: np.ndarray
    cond_diag: tuple[np.ndarray, ...] = ()


def block_bounds(n_rows: int, p: int) -> list[tuple[int, int]]:
    """Split ``range(n_rows)`` into blocks of about ``_BLOCK_ELEMENTS / p`` rows."""
    size = max(256, _BLOCK_ELEMENTS // max(p, 1))
    return [(a, min(a + size, n_rows)) for a in range(0, n_rows, size)]


def prepare_blocks(patterns: Patterns) -> tuple[Block, ...]:
    """Row blocks of the work array with the flat indices of their missing cells."""
    p = patterns.n_cols
    # int32 halves the index memory; numpy converts per block when indexing
    itype = np.int32 if max(256 * p, _BLOCK_ELEMENTS) + p < np.iinfo(np.int32).max else np.intp
    blocks = []
    for gi, group in enumerate(patterns.groups):
        for a, b in block_bounds(group.n_rows, p):
            loc = group.row_pattern[a:b]
            miss = group.miss[loc]
            r = b - a
            rows = np.arange(r, dtype=np.intp)[:, None]
            blocks.append(
                Block(
                    group=gi,
                    start=group.offset + a,
                    stop=group.offset + b,
                    loc=loc,
                    flat=(rows * p + miss).astype(itype),
                    flat_t=(miss * r + rows).astype(itype),
                )
            )
    return tuple(blocks)


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
    prec = np.ascontiguousarray(0.5 * (prec + prec.T))
    return prec, 2.0 * float(np.sum(np.log(diag)))


def spd_inverse_batch(mats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverses and log-determinants of a stack of symmetric positive-definite matrices.

    For ``m < 22``: Gauss-Jordan sweep on every pivot, vectorised over the stack (``m``
    vector operations on ``(G, m, m)``); the pivots are the successive Schur complements,
    so a non-positive pivot means the matrix is not positive definite. For larger ``m``
    the per-matrix LAPACK calls (Cholesky, inverse) are faster (measured crossover).

    Parameters
    ----------
    mats : ndarray, shape (G, m, m)

    Returns
    -------
    inv : ndarray, shape (G, m, m)
    logdet : ndarray, shape (G,)
        ``log|mats|``.
    """
    a = np.array(mats, dtype=float, copy=True)
    g, m, _ = a.shape
    if m == 1:
        d = a[:, 0, 0]
        if not np.all(d > 0.0):
            raise Infeasible("matrix not positive definite")
        return (1.0 / d)[:, None, None], np.log(d)
    if m >= _SWEEP_MAX_M:
        try:
            chol = np.linalg.cholesky(a)
        except np.linalg.LinAlgError:
            raise Infeasible("matrix not positive definite") from None
        diag = np.diagonal(chol, axis1=1, axis2=2)
        if not np.all(diag > 0.0):
            raise Infeasible("matrix not positive definite")
        inv = np.linalg.inv(a)
        return 0.5 * (inv + np.swapaxes(inv, 1, 2)), 2.0 * np.sum(np.log(diag), axis=1)
    # batch dimension last, so that every elementwise loop runs over the contiguous
    # stack rather than over rows of length m (2-2.5x faster for m = 3..9)
    a = np.ascontiguousarray(a.transpose(1, 2, 0))
    pivots = np.empty((m, g))
    tmp = np.empty_like(a)
    # positivity is checked once at the end: a non-positive pivot makes the later
    # steps meaningless (and possibly inf/nan), but the matrix is rejected anyway
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for k in range(m):
            d = pivots[k]
            d[:] = a[k, k]
            rd = a[k] / d
            np.multiply(a[:, k][:, None, :], rd[None, :, :], out=tmp)
            a -= tmp
            a[k] = rd
            a[:, k] = rd
            a[k, k] = -1.0 / d
    if not np.all(pivots > 0.0):
        raise Infeasible("matrix not positive definite")
    logdet = np.log(pivots).sum(axis=0)
    return np.negative(a, out=a).transpose(2, 0, 1), logdet


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
    block = prec[miss[:, :, None], miss[:, None, :]]
    inv, logdet = spd_inverse_batch(block)
    return inv, -logdet


def update_block(
    block: np.ndarray,
    blk: Block,
    miss_mu: np.ndarray,
    cond: np.ndarray,
    prec: np.ndarray,
    prec_mu: np.ndarray,
    miss: np.ndarray,
) -> None:
    """Overwrite the missing cells of a block of rows with their conditional means.

    Parameters
    ----------
    block : ndarray, shape (r, p), C order, modified in place
        Rows that all have ``m`` missing cells.
    blk : Block
        Its indices.
    miss_mu : ndarray, shape (G, m)
        ``mu_M`` of every pattern of the group.
    cond : ndarray, shape (G, m, m)
        ``C_M`` of every pattern of the group.
    prec : ndarray, shape (p, p)
        ``Lambda``.
    prec_mu : ndarray, shape (p,)
        ``Lambda mu``.
    miss : ndarray of intp, shape (G, m)
        Missing columns of every pattern of the group.
    """
    flat_block = block.reshape(-1)
    mu_rows = miss_mu[blk.loc]
    flat_block[blk.flat] = mu_rows
    # (Lambda (v - mu))_M for every row, from the transposed product (faster for tall blocks)
    lam = (prec @ block.T).reshape(-1)[blk.flat_t] - prec_mu[miss[blk.loc]]
    if cond.shape[1] == 1:
        flat_block[blk.flat] = mu_rows - cond[blk.loc, 0, :] * lam
    else:
        flat_block[blk.flat] = mu_rows - np.einsum("rjk,rk->rj", cond[blk.loc], lam)


def estep(data: StandardData, mu: np.ndarray, sigma: np.ndarray, ridge: float) -> EStep:
    """E-step statistics and observed-data log-likelihood at ``(mu, Sigma)``.

    Leaves the conditional means at ``(mu, Sigma)`` in ``data.work``. Raises
    :class:`Infeasible` when ``Sigma`` (or a block of its inverse) is not numerically
    positive definite.
    """
    n, p = data.n, data.p
    prec, logdet_sigma = precision(sigma)
    prec_mu = prec @ mu
    entropy = 0.0
    cond_sum = np.zeros(p * p)
    s1 = data.s1_complete.copy()
    s2 = data.s2_complete.copy()
    groups = data.patterns.groups
    current = -1
    cond = miss_mu = np.empty(0)
    diags: list[np.ndarray] = []
    for blk in data.blocks:
        group = groups[blk.group]
        if blk.group != current:  # blocks come in group order: one group's blocks at a time
            current = blk.group
            cond, logdet = conditional_blocks(prec, group)
            diags.append(np.diagonal(cond, axis1=1, axis2=2).copy())
            miss_mu = mu[group.miss]
            w = group.counts.astype(float)
            entropy += float(w @ (group.n_miss * (LOG_2PI + 1.0) + logdet))
            idx = group.miss[:, :, None] * p + group.miss[:, None, :]
            cond_sum += np.bincount(idx.reshape(-1), weights=(w[:, None, None] * cond).reshape(-1), minlength=p * p)
        block = data.work[blk.start : blk.stop]
        update_block(block, blk, miss_mu, cond, prec, prec_mu, group.miss)
        s1 += np.ones(block.shape[0]) @ block
        s2 += block.T @ block
    # scatter about mu: sum (z - mu)(z - mu)' = S2 - s1 mu' - mu s1' + n mu mu'
    scatter = s2 - np.outer(s1, mu) - np.outer(mu, s1) + n * np.outer(mu, mu) + cond_sum.reshape(p, p)
    scatter = 0.5 * (scatter + scatter.T)
    dsum = s1 - n * mu
    loglik = -0.5 * (n * p * LOG_2PI + n * logdet_sigma + float(np.sum(prec * scatter))) + 0.5 * entropy
    objective = loglik
    if ridge > 0.0:
        objective -= 0.5 * ridge * (logdet_sigma + float(np.trace(prec)))
    if not np.isfinite(objective):
        raise Infeasible("non-finite objective")
    return EStep(loglik=loglik, objective=objective, dsum=dsum, scatter=scatter, cond_diag=tuple(diags))


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
