r"""Bootstrap EM (Amelia's EMB; Honaker, King & Blackwell 2011) for one imputation.

Imputation ``j``: draw ``n`` rows with replacement, ``b_1, ..., b_n ~ U{1..n}``; fit
``N_p(mu, Sigma)`` to the resample by EM exactly as :func:`imputer.impute` would
(``impute(data.iloc[b])``: same ``tol``, ``max_iter``, ``ridge``, the resample's own
standardisation, hence its own ridge scale ``D``); then draw the missing cells of the
*original* rows from their conditional normal at that estimate,
``x_M ~ N(mu_M + Sigma_MO Sigma_OO^{-1}(x_O - mu_O), Sigma_MM - Sigma_MO Sigma_OO^{-1} Sigma_OM)``
(:func:`imputer.mi._istep.draw_missing`). The spread of the bootstrap estimates stands in
for the posterior of ``theta`` (asymptotically equivalent).

A resample can be unusable: a modelled column with no observed value, a constant column
(no variance), or a fit whose covariance is (nearly) singular (the likelihood has no
maximum on it). Such a resample is discarded and another drawn from the same generator,
at most ``MAX_REDRAWS`` times in a row for one imputation; then
:class:`~imputer.errors.ImputerValueError` says why (e.g. too few observed values of a
column for the bootstrap; ``ridge > 0`` helps with singular fits).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imputer._gaussian.layout import StandardData
from imputer._gaussian.patterns import build_patterns
from imputer._gaussian.prior import RidgePrior
from imputer.errors import ImputerValueError
from imputer.mi._istep import draw_missing
from imputer.mvn import _engine as engine
from imputer.mvn._fit import blas_threads
from imputer.mvn._scaling import Scaling, scaling_of
from imputer.mvn._validate import start_in_units

__all__ = ["MAX_REDRAWS", "BootstrapDraw", "bootstrap_draw", "fit_resample"]

#: Unusable resamples tolerated in a row for one imputation.
MAX_REDRAWS = 100


@dataclass(frozen=True, eq=False)
class BootstrapDraw:
    """One bootstrap imputation's estimate (original units) and what it took.

    Attributes
    ----------
    mu, sigma : ndarray, shapes (p,), (p, p)
        EM estimate on the accepted resample, original units.
    rows : ndarray of intp, shape (n,)
        The accepted resample's row positions.
    redraws : int
        Unusable resamples discarded before it.
    converged : bool
        EM met ``tol`` on it.
    """

    mu: np.ndarray
    sigma: np.ndarray
    rows: np.ndarray
    redraws: int
    converged: bool


def fit_resample(
    values: tuple[np.ndarray, ...],
    columns: tuple,
    rows: np.ndarray,
    *,
    tol: float,
    max_iter: int,
    ridge: float,
    prior: str = "ridge",
    start: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, bool] | str:
    """EM on the rows ``rows`` of the columns, as ``impute`` would (from ``start``, a checked
    ``(mean, cov)`` in original units, where given); or why the resample is unusable.

    Returns
    -------
    (mu, sigma, converged) in original units, or a str naming the defect.
    """
    sub = tuple(np.take(v, rows) for v in values)
    n, p = rows.size, len(sub)
    mask = np.empty((n, p), dtype=bool, order="F")
    for j, v in enumerate(sub):
        mask[:, j] = np.isnan(v)
        if mask[:, j].all():
            return f"column {columns[j]!r} has no observed value in the resample"
    try:
        scaling = scaling_of(columns, sub, mask)
    except ImputerValueError as exc:  # a constant column in the resample
        return str(exc)
    patterns = build_patterns(mask)
    kernel = RidgePrior.of(prior, ridge, scaling.n_observed)  # the resample's, as impute(resample) would
    out = engine.run(sub, patterns, scaling, tol=tol, max_iter=max_iter, ridge=kernel, accelerate=True, fill=False,
                     start=None if start is None else start_in_units(start, scaling.center, scaling.scale))
    if out.fit.singular:
        return f"the fit on the resample is singular (smallest correlation eigenvalue {out.fit.min_eig:.2g})"
    mu = scaling.mean_to_original(out.fit.mu)
    sigma = scaling.cov_to_original(out.fit.sigma)
    return mu, sigma, bool(out.fit.converged)


def bootstrap_draw(
    values: tuple[np.ndarray, ...],
    columns: tuple,
    data: StandardData,
    scaling: Scaling,
    rng: np.random.Generator,
    *,
    tol: float,
    max_iter: int,
    ridge: float,
    imputation: int,
    prior: str = "ridge",
    start: tuple[np.ndarray, np.ndarray] | None = None,
) -> BootstrapDraw:
    """One bootstrap imputation: fit a usable resample, then draw the original rows' missing cells.

    Parameters
    ----------
    values : tuple of p ndarrays, each shape (n,)
        The modelled columns (original units, NaN where missing).
    columns : tuple
        Their labels (for messages).
    data : StandardData
        Layout of the original rows, standardised by ``scaling``; on return its work
        array holds the imputation (standardised units).
    scaling : Scaling
        The original data's standardisation.
    rng : numpy.random.Generator
        This imputation's generator: the resample(s) (``integers(0, n, n)`` each), then
        the conditional draws.
    tol, max_iter, ridge, prior
        EM options.
    start : (ndarray (p,), ndarray (p, p)), optional
        Each resample's EM start (checked, original units); default the engine's own.
    imputation : int
        Its number (1-based), for the error message.

    Raises
    ------
    ImputerValueError
        ``MAX_REDRAWS + 1`` unusable resamples in a row.
    """
    n = data.n
    reason = ""
    for redraws in range(MAX_REDRAWS + 1):
        rows = rng.integers(0, n, size=n)
        fitted = fit_resample(values, columns, rows, tol=tol, max_iter=max_iter, ridge=ridge, prior=prior, start=start)
        if isinstance(fitted, str):
            reason = fitted
            continue
        mu, sigma, converged = fitted
        # to the original data's standardised units
        mu_z = (mu - scaling.center) / scaling.scale
        sigma_z = sigma / np.outer(scaling.scale, scaling.scale)
        with blas_threads(data.p):
            draw_missing(data, mu_z, 0.5 * (sigma_z + sigma_z.T), rng)
        return BootstrapDraw(mu=mu, sigma=sigma, rows=rows, redraws=redraws, converged=converged)
    raise ImputerValueError(
        f"method='bootstrap', imputation {imputation}: {MAX_REDRAWS + 1} bootstrap resamples in a row were "
        f"unusable (the last: {reason}); the data are too thin for the bootstrap (use method='posterior', "
        "or ridge > 0 for singular fits)"
    )
