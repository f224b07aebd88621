r"""Conditional-mean filling of missing cells under given normal parameters.

For a row with observed cells ``O`` and missing cells ``M``, under ``x ~ N_p(mu, Sigma)``,

.. math::

    E[x_M \mid x_O] = \mu_M + \Sigma_{MO}\Sigma_{OO}^{-1}(x_O - \mu_O), \qquad
    \operatorname{Var}(x_M \mid x_O) = \Sigma_{MM} - \Sigma_{MO}\Sigma_{OO}^{-1}\Sigma_{OM}.

The computation is vectorised by missingness pattern (the same kernels as the EM
engine: with ``Lambda = Sigma^{-1}``, ``Var(x_M | x_O) = (Lambda_MM)^{-1}`` and the mean
correction is ``-(Lambda_MM)^{-1} Lambda_MO (x_O - mu_O)``; or, where rows observe few
cells, straight from a factor of ``Sigma_OO``: ``method``), in units standardised by
``sqrt(diag(Sigma))`` for numerical stability. A row with nothing observed gets ``mu``
and the marginal variances.
"""

from __future__ import annotations

from typing import cast

import numpy as np

from imputer._gaussian.linalg import Infeasible
from imputer._gaussian.observed import ROUTES, Route
from imputer.errors import ImputerValueError
from imputer.mvn._fit import blas_threads, conditional_variances, fill_missing, standardise
from imputer.mvn._scaling import Scaling

__all__ = ["fill_conditional"]


def _check(values: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        x = np.asarray(values, dtype=float)
        mu = np.asarray(mean, dtype=float)
        sigma = np.asarray(cov, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ImputerValueError(f"fill_conditional: values, mean and cov must be numeric arrays ({exc})") from None
    if x.ndim != 2:
        raise ImputerValueError(f"values must be 2-D (n, p), got shape {x.shape}")
    p = x.shape[1]
    if mu.shape != (p,):
        raise ImputerValueError(f"mean must have shape ({p},) to match values, got {mu.shape}")
    if sigma.shape != (p, p):
        raise ImputerValueError(f"cov must have shape ({p}, {p}) to match values, got {sigma.shape}")
    if np.isinf(x).any():
        col = int(np.nonzero(np.isinf(x).any(axis=0))[0][0])
        raise ImputerValueError(f"values: column {col} contains an infinite value")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ImputerValueError("mean and cov must be finite")
    if not np.allclose(sigma, sigma.T, rtol=1e-10, atol=0.0):
        raise ImputerValueError("cov must be symmetric")
    if np.any(np.diag(sigma) <= 0.0):
        raise ImputerValueError("cov must be positive definite (it has a non-positive diagonal entry)")
    return x, mu, sigma


def fill_conditional(
    values: np.ndarray, mean: np.ndarray, cov: np.ndarray, *, method: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Fill missing cells with their conditional mean given each row's observed cells.

    Parameters
    ----------
    values : array-like, shape (n, p)
        Float data, NaN for missing.
    mean : array-like, shape (p,)
        Mean ``mu`` of the normal.
    cov : array-like, shape (p, p)
        Covariance ``Sigma``, symmetric positive definite.
    method : {"auto", "precision", "observed"}, default "auto"
        How each missingness pattern's conditional is computed: ``"precision"`` inverts
        ``Sigma`` once (``p^3`` flops) and then, per pattern, the ``m x m`` block of the
        inverse at the missing cells (``m^3``); ``"observed"`` factors, per pattern, the
        ``p_o x p_o`` block of ``Sigma`` at the observed cells (``p_o^3 / 3 + 2 p_o^2 m +
        p_o m^2``), which is far cheaper when rows observe few of many cells;
        ``"auto"`` takes, per chunk of patterns, the faster by a cost model
        (:mod:`imputer._gaussian.observed`). The results agree up to rounding.

    Returns
    -------
    filled : ndarray, shape (n, p)
        ``values`` with observed cells bit-for-bit and missing cells replaced by
        ``E[x_M | x_O]`` (``mu`` for a row with nothing observed).
    cond_var : ndarray, shape (n, p)
        ``Var(x_j | x_O)`` at missing cells (the marginal variance for a row with
        nothing observed), 0 at observed cells.

    Raises
    ------
    ImputerValueError
        Shapes that do not match, infinite values, non-finite, asymmetric or not
        positive-definite ``cov``, an unknown ``method``.

    Examples
    --------
    >>> import numpy as np
    >>> from imputer.mvn.conditional import fill_conditional
    >>> filled, var = fill_conditional(np.array([[1.0, np.nan]]), np.zeros(2), np.array([[1.0, 0.5], [0.5, 1.0]]))
    >>> filled.tolist(), np.round(var, 12).tolist()
    ([[1.0, 0.5]], [[0.0, 0.75]])
    """
    if method not in ROUTES:
        raise ImputerValueError(f"method must be one of {', '.join(map(repr, ROUTES))}, got {method!r}")
    x, mu, sigma = _check(values, mean, cov)
    n, p = x.shape
    filled = np.array(x, dtype=float, order="F", copy=True)
    cond_var = np.zeros((n, p), order="F")
    if n == 0 or p == 0:
        return filled, cond_var
    mask = np.isnan(x)
    if not mask.any():
        return filled, cond_var
    sd = np.sqrt(np.diag(sigma))
    corr = sigma / np.outer(sd, sd)
    scaling = Scaling(center=mu, scale=sd, n_observed=np.zeros(p))
    columns = tuple(np.ascontiguousarray(x[:, j]) for j in range(p))
    try:
        with blas_threads(p):
            data = standardise(mask, columns, scaling)
            cond_diag = fill_missing(data, np.zeros(p), corr, filled, scaling, method=cast(Route, method))
            conditional_variances(data.patterns, corr, sd, cond_var, cond_diag)
    except Infeasible:
        raise ImputerValueError("cov must be positive definite (its Cholesky factorisation failed)") from None
    return filled, cond_var
