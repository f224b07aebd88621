"""The multivariate-normal engine in one call: standardise, fit by EM, fill in.

:func:`run` is what :func:`imputer.impute` and :class:`imputer.EMImputer` call on clean
input (validated columns, their missing-value mask and :class:`~imputer.mvn._scaling.Scaling`):
it owns the engine's memory layout (the standardised work array in pattern order, the
column-major ``(n, p)`` output written by one scatter per block) and its BLAS thread
limit, so the callers deal in columns and labelled results only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imputer._gaussian.patterns import Patterns
from imputer._gaussian.prior import RidgePrior
from imputer.mvn._fit import blas_threads, fill_missing, standardise
from imputer.mvn._problem import MVNFit, fit_mvn
from imputer.mvn._scaling import Scaling

__all__ = ["EngineRun", "run"]


@dataclass(frozen=True, eq=False)
class EngineRun:
    """What :func:`run` produced.

    Attributes
    ----------
    fit : MVNFit
        Estimate, objective and trace, in standardised units.
    filled : ndarray, shape (n, p), Fortran order, or None
        The columns in original units with every missing cell replaced by its
        conditional mean at the estimate (observed cells bit-for-bit); None when
        ``fill=False``.
    patterns : Patterns
        Missingness patterns of the rows (for the conditional variances).
    """

    fit: MVNFit
    filled: np.ndarray | None
    patterns: Patterns


def run(
    values: tuple[np.ndarray, ...],
    patterns: Patterns,
    scaling: Scaling,
    *,
    tol: float,
    max_iter: int,
    ridge: float | RidgePrior,
    accelerate: bool,
    fill: bool = True,
    start: tuple[np.ndarray, np.ndarray] | None = None,
) -> EngineRun:
    """Fit ``N_p(mu, Sigma)`` to incomplete columns by EM and (optionally) fill them in.

    Parameters
    ----------
    values : tuple of p ndarrays, each shape (n,)
        Column values in original units, NaN where missing; not modified.
    patterns : Patterns
        Missingness patterns of the rows (``build_patterns(mask)``; the caller can then
        release the ``n x p`` mask before the fit).
    scaling : Scaling
        The columns' standardisation (:func:`~imputer.mvn._scaling.scaling_of`).
    tol, max_iter, ridge, accelerate
        Checked options, as in :func:`imputer.impute`.
    fill : bool, default True
        Also return the completed columns.
    start : (ndarray, ndarray), shapes (p,) and (p, p), optional
        Starting mean and covariance in standardised units (default: the engine's own,
        :func:`~imputer.mvn._fit.start_values`).

    Returns
    -------
    EngineRun
    """
    n, p = patterns.n_rows, patterns.n_cols
    # one BLAS thread-limit context for the whole engine (entering one costs ~1 ms)
    with blas_threads(p):
        data = standardise(patterns, values, scaling)
        fit = fit_mvn(data, tol=tol, max_iter=max_iter, ridge=ridge, accelerate=accelerate, start=start)
        filled = None
        if fill:
            filled = np.empty((n, p), order="F")
            for j, v in enumerate(values):
                filled[:, j] = v
            # the last E-step of the fit left the conditional means in the work array
            fill_missing(data, fit.mu, fit.sigma, filled, scaling, refresh=False)
    return EngineRun(fit=fit, filled=filled, patterns=data.patterns)
