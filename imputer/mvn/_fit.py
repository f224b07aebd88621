r"""EM driver: standardise, iterate (SQUAREM-accelerated), detect degeneracy, fill.

The engine works in standardised units ``z_ij = (x_ij - c_j) / s_j`` with ``c_j`` and
``s_j`` the mean and standard deviation (divisor ``n_j``) of column ``j``'s observed
cells. Then the ridge prior's diagonal ``D = diag(s_j^2)`` is the identity, the start
``(mu, Sigma) = (0, I)`` is the available-case moment estimate without correlations, and
the convergence measure is the same in both unit systems.

Parameter vector for SQUAREM: ``x = (mu, vech(Sigma))`` (mean, then the lower triangle
of the covariance row by row). An iterate whose covariance is not numerically positive
definite is infeasible (objective ``-inf``), so extrapolations that leave the cone are
rejected by the safeguard.

Convergence measure (``tol``): the largest change of a parameter between successive EM
iterates in standard-deviation units of the older iterate,

.. math::

    \delta = \max\Big(\max_j \frac{|\mu'_j - \mu_j|}{\sqrt{\sigma_{jj}}},\;
             \max_{j,k} \frac{|\sigma'_{jk} - \sigma_{jk}|}{\sqrt{\sigma_{jj}\sigma_{kk}}}\Big),

identical in original and standardised units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imputer._squarem import squarem
from imputer.mvn._kernels import (
    Infeasible,
    StandardData,
    block_bounds,
    conditional_blocks,
    estep,
    fill_block,
    mstep,
    precision,
)
from imputer.mvn._patterns import Patterns, build_patterns

__all__ = ["FitOutcome", "Scaling", "standardise", "run_em", "fill_missing", "min_corr_eig"]

#: Smallest eigenvalue of the correlation matrix below which a covariance is treated as
#: singular (a column is, to ~5 significant digits, a linear combination of the others).
SINGULAR_EIG = 1e-10


@dataclass(frozen=True)
class Scaling:
    """Per-column affine map between original and standardised units: ``x = c + s z``."""

    center: np.ndarray
    scale: np.ndarray
    n_observed: np.ndarray

    def mean_to_original(self, mu: np.ndarray) -> np.ndarray:
        return self.center + self.scale * mu

    def cov_to_original(self, sigma: np.ndarray) -> np.ndarray:
        return sigma * np.outer(self.scale, self.scale)

    def loglik_offset(self, ridge: float) -> tuple[float, float]:
        """Add to standardised (loglik, objective) to get them in original units."""
        log_s = np.log(self.scale)
        ll = -float(self.n_observed @ log_s)
        return ll, ll - ridge * float(np.sum(log_s))


@dataclass(frozen=True)
class FitOutcome:
    """What the EM run produced (standardised units)."""

    mu: np.ndarray
    sigma: np.ndarray
    loglik: float
    objective: float
    history: np.ndarray
    n_iter: int
    n_evals: int
    converged: bool
    singular: bool
    min_eig: float


def standardise(mask: np.ndarray, values: tuple[np.ndarray, ...], scaling: Scaling) -> StandardData:
    """Build :class:`StandardData` from column vectors (NaN = missing) and the scaling."""
    patterns: Patterns = build_patterns(mask)
    p = len(values)
    inc = patterns.incomplete_rows
    comp = patterns.complete_rows
    z_inc = np.empty((inc.size, p), dtype=float)
    z_comp = np.empty((comp.size, p), dtype=float)
    for j, v in enumerate(values):
        col = (v[inc] - scaling.center[j]) / scaling.scale[j]
        col[np.isnan(col)] = 0.0
        z_inc[:, j] = col
        z_comp[:, j] = (v[comp] - scaling.center[j]) / scaling.scale[j]
    s1 = z_comp.sum(axis=0)
    s2 = z_comp.T @ z_comp
    return StandardData(patterns=patterns, z_inc=z_inc, s1_complete=s1, s2_complete=s2)


def min_corr_eig(sigma: np.ndarray) -> float:
    """Smallest eigenvalue of the correlation matrix of ``sigma`` (nan if not finite)."""
    d = np.sqrt(np.clip(np.diag(sigma), 0.0, None))
    if not np.all(np.isfinite(sigma)) or np.any(d == 0.0):
        return 0.0
    corr = sigma / np.outer(d, d)
    return float(np.linalg.eigvalsh(corr)[0])


class _Codec:
    """Pack ``(mu, Sigma)`` into ``x = (mu, vech(Sigma))`` and back; the distance."""

    def __init__(self, p: int) -> None:
        self.p = p
        self.rows, self.cols = np.tril_indices(p)

    def pack(self, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        return np.concatenate([mu, sigma[self.rows, self.cols]])

    def unpack(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.p
        sigma = np.empty((p, p))
        sigma[self.rows, self.cols] = x[p:]
        sigma[self.cols, self.rows] = x[p:]
        return x[:p].copy(), sigma

    def distance(self, x_old: np.ndarray, x_new: np.ndarray) -> float:
        p = self.p
        diag_pos = p + (np.arange(1, p + 1) * np.arange(2, p + 2)) // 2 - 1
        var = np.abs(x_old[diag_pos])
        sd = np.sqrt(np.where(var > 0.0, var, np.inf))
        d_mu = np.abs(x_new[:p] - x_old[:p]) / sd
        d_sig = np.abs(x_new[p:] - x_old[p:]) / (sd[self.rows] * sd[self.cols])
        return float(max(d_mu.max(), d_sig.max()))


def run_em(data: StandardData, *, tol: float, max_iter: int, ridge: float, accelerate: bool) -> FitOutcome:
    """EM (SQUAREM-accelerated unless ``accelerate`` is False) from ``(0, I)``."""
    p = data.p
    codec = _Codec(p)
    best: dict[str, object] = {"obj": -np.inf, "x": None}

    def step(x: np.ndarray) -> tuple[np.ndarray, float]:
        mu, sigma = codec.unpack(x)
        if min_corr_eig(sigma) < SINGULAR_EIG:
            return x, -np.inf
        try:
            stats = estep(data, mu, sigma, ridge)
        except Infeasible:
            return x, -np.inf
        if stats.objective > best["obj"]:  # type: ignore[operator]
            best["obj"], best["x"] = stats.objective, x
        mu_new, sigma_new = mstep(data, mu, stats, ridge)
        return codec.pack(mu_new, sigma_new), stats.objective

    x0 = codec.pack(np.zeros(p), np.eye(p))
    res = squarem(step, x0, distance=codec.distance, tol=tol, max_iter=max_iter, accelerate=accelerate)
    history = res.history
    finite = np.isfinite(history)
    if not finite.all():
        history = history[: int(np.argmin(finite))]
    converged = res.converged
    mu, sigma = codec.unpack(res.x)
    min_eig = min_corr_eig(sigma)
    stats = None
    if min_eig >= SINGULAR_EIG:
        try:
            stats = estep(data, mu, sigma, ridge)
        except Infeasible:
            stats = None
    if stats is None:
        # the last EM update left the positive-definite cone: fall back to the best
        # feasible iterate seen; the likelihood is heading to a singular covariance
        converged = False
        mu, sigma = codec.unpack(best["x"])  # type: ignore[arg-type]
        min_eig = min_corr_eig(sigma)
        stats = estep(data, mu, sigma, ridge)
    singular = min_eig < 1e3 * SINGULAR_EIG
    return FitOutcome(
        mu=mu,
        sigma=sigma,
        loglik=stats.loglik,
        objective=stats.objective,
        history=history,
        n_iter=res.n_iter,
        n_evals=res.n_evals,
        converged=bool(converged and not singular),
        singular=bool(singular),
        min_eig=min_eig,
    )


def fill_missing(
    patterns: Patterns,
    z_rows: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    out: np.ndarray,
    cond_var: np.ndarray | None,
    scaling: Scaling | None = None,
) -> None:
    """Write conditional means (and variances) of the missing cells into ``out``.

    Parameters
    ----------
    patterns : Patterns
        Patterns of the rows.
    z_rows : ndarray, shape (n_inc, p)
        Incomplete rows in the stacked (group, pattern) order of ``patterns``, in the
        units of ``mu``/``sigma`` (missing cells: any finite value).
    mu, sigma : ndarray, shapes (p,), (p, p)
        Parameters (``sigma`` positive definite).
    out : ndarray, shape (n, p)
        Receives ``c + s * E[z_M | z_O]`` at the missing cells (other cells untouched).
    cond_var : ndarray, shape (n, p), or None
        Receives ``s^2 * Var(z_j | z_O)`` at the missing cells.
    scaling : Scaling, optional
        Map to ``out``'s units (identity when None).
    """
    prec, _ = precision(sigma)
    p = patterns.n_cols
    center = np.zeros(p) if scaling is None else scaling.center
    scale = np.ones(p) if scaling is None else scaling.scale
    for group in patterns.groups:
        cond, _ = conditional_blocks(prec, group)
        cdiag = np.diagonal(cond, axis1=1, axis2=2)
        for a, b in block_bounds(group.n_rows, p):
            dev = z_rows[group.offset + a : group.offset + b] - mu
            loc = group.row_pattern[a:b]
            miss = group.miss[loc]
            fill_block(dev, miss, cond[loc], prec)
            rows = group.rows[a:b, None]
            zm = np.take_along_axis(dev, miss, axis=1) + mu[miss]
            out[rows, miss] = center[miss] + scale[miss] * zm
            if cond_var is not None:
                cond_var[rows, miss] = scale[miss] ** 2 * cdiag[loc]
