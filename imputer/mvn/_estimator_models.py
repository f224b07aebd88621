r""":class:`~imputer.EMImputer` with ``model="t"`` or ``model="mixture"``: fit, fills, variances.

The fit is :func:`imputer.impute_t` or :func:`imputer.impute_mixture` on the float
columns (the same checks, engines and warnings). For new rows with observed cells ``O``
and missing cells ``M``:

* the t, location ``mu``, scale ``Psi``, degrees of freedom ``nu``: the conditional mean
  is the normal's formula at ``(mu, Psi)``, ``mu_M + Psi_MO Psi_OO^{-1}(x_O - mu_O)``
  (computed by the estimator's normal path), and the conditional variance is
  ``(nu + d^2)/(nu + p_O - 2)`` times the normal's ``Psi_MM - Psi_MO Psi_OO^{-1} Psi_OM``,
  with ``d^2`` the Mahalanobis distance of ``x_O`` and ``p_O`` its cells (NaN where
  ``nu + p_O <= 2``);
* the mixture, weights ``pi_k``, means ``mu_k``, covariances ``Sigma_k``: responsibilities
  ``r_k \propto pi_k N(x_O; mu_{k,O}, Sigma_{k,OO})``, the conditional mean
  ``sum_k r_k E_k[x_M | x_O]`` and the variance by the law of total variance (the mixture
  package's own kernels, :class:`~imputer.mixture._problem.MixtureProblem` and
  :func:`~imputer.mixture._engine.mixture_moments`).

Both are computed in units standardised by the fitted model's marginal mean and standard
deviations; observed cells are left bit-for-bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from imputer._gaussian.linalg import Infeasible
from imputer.errors import ImputerValueError
from imputer.mvn._fit import blas_threads, standardise
from imputer.mvn._scaling import Scaling

__all__ = ["fit_mixture", "fit_t", "mixture_fill", "t_variance_factor"]

_NOT_PD = "the fitted covariances must be positive definite (a Cholesky factorisation failed)"


def fit_t(values: np.ndarray, labels: tuple[str, ...], **options: Any) -> dict[str, Any]:
    """The fitted attributes of ``model="t"`` (:func:`imputer.impute_t` on the columns)."""
    import imputer

    res = imputer.impute_t(pd.DataFrame(values, columns=list(labels)), **options)
    return {
        "mean_": res.mean.to_numpy(dtype=float),
        "scale_": res.scale.to_numpy(dtype=float),
        "covariance_": res.cov.to_numpy(dtype=float),
        "dof_": float(res.dof),
        "row_weights_": res.row_weights.to_numpy(dtype=float),
        "n_iter_": int(res.n_iter),
        "converged_": bool(res.converged),
        "loglik_": float(res.loglik),
    }


def fit_mixture(values: np.ndarray, labels: tuple[str, ...], **options: Any) -> dict[str, Any]:
    """The fitted attributes of ``model="mixture"`` (:func:`imputer.impute_mixture` on the columns).

    ``mean_`` and ``covariance_`` are the mixture's marginal mean ``sum_k pi_k mu_k`` and
    covariance ``sum_k pi_k (Sigma_k + (mu_k - mean)(mu_k - mean)^T)``.
    """
    import imputer

    res = imputer.impute_mixture(pd.DataFrame(values, columns=list(labels)), **options)
    weights = res.weights.to_numpy(dtype=float)
    means = res.means.to_numpy(dtype=float)
    covs = np.stack([c.to_numpy(dtype=float) for c in res.covs])
    mean = weights @ means
    dev = means - mean
    total = np.einsum("k,kab->ab", weights, covs) + (weights[:, None] * dev).T @ dev
    return {
        "weights_": weights,
        "means_": means,
        "covariances_": covs,
        "covariance_type_": res.covariance_type,
        "n_components_": int(res.n_components),
        "bic_": float(res.bic),
        "bic_table_": res.bic_table,
        "mean_": mean,
        "covariance_": total,
        "n_iter_": int(res.n_iter),
        "converged_": bool(res.converged),
        "loglik_": float(res.loglik),
    }


def _standard(mean: np.ndarray, cov: np.ndarray) -> Scaling:
    """``z = (x - mean) / sqrt(diag(cov))``."""
    return Scaling(center=mean, scale=np.sqrt(np.diag(cov)), n_observed=np.zeros(mean.size))


def mixture_fill(
    out: np.ndarray, mask: np.ndarray, est: Any, *, variances: bool = False
) -> np.ndarray | None:
    """Fill ``out``'s missing cells (``mask``) in place with the fitted mixture's conditional means.

    Parameters
    ----------
    out : ndarray, shape (n, p), Fortran order
        The rows, NaN where missing; overwritten at the missing cells (unless ``variances``).
    mask : ndarray of bool, shape (n, p)
    est : EMImputer
        Fitted with ``model="mixture"`` (``weights_``, ``means_``, ``covariances_``,
        ``covariance_type_``, ``mean_``, ``covariance_``).
    variances : bool, default False
        Return the conditional variances (0 at observed cells) instead of filling.

    Returns
    -------
    ndarray of shape (n, p) or None
        The conditional variances when ``variances``, else None.
    """
    from imputer.mixture._covtypes import CovarianceType
    from imputer.mixture._engine import mixture_moments
    from imputer.mixture._problem import MixtureParams, MixtureProblem

    n, p = out.shape
    scaling = _standard(est.mean_, est.covariance_)
    s = scaling.scale
    params = MixtureParams(est.weights_, (est.means_ - scaling.center) / s, est.covariances_ / np.outer(s, s))
    cov_type = CovarianceType(est.covariance_type_, params.weights.size, p, 1.0 / s**2)
    columns = tuple(out[:, j] for j in range(p))
    try:
        with blas_threads(p):
            data = standardise(mask, columns, scaling, keep_complete=True)
            resp = MixtureProblem(data, cov_type, 0.0).evaluate(params).resp
            mean_z, var_z = mixture_moments(data, params, resp, variances=variances)
    except Infeasible:
        raise ImputerValueError(_NOT_PD) from None
    if variances:
        assert var_z is not None
        var = var_z * s**2
        var[~mask] = 0.0
        return var
    out[mask] = (scaling.center + s * mean_z)[mask]
    return None


def t_variance_factor(values: np.ndarray, mask: np.ndarray, mean: np.ndarray, scale: np.ndarray, dof: float) -> np.ndarray:
    """``(nu + d_i^2)/(nu + p_i - 2)`` per row (NaN where ``nu + p_i <= 2``), shape (n,).

    ``d_i^2`` is the Mahalanobis distance of the row's observed cells under ``(mean, scale)``
    (:func:`imputer.mvt._likelihood.row_terms`), ``p_i`` their number.
    """
    from imputer.mvt._likelihood import row_terms

    p = values.shape[1]
    scaling = _standard(mean, scale)
    s = scaling.scale
    columns = tuple(values[:, j] for j in range(p))
    try:
        with blas_threads(p):
            data = standardise(mask, columns, scaling, keep_complete=True)
            terms = row_terms(data, np.zeros(p), scale / np.outer(s, s))
    except Infeasible:
        raise ImputerValueError(_NOT_PD) from None
    denom = dof + terms.n_obs - 2.0
    return np.divide(dof + terms.maha, denom, out=np.full(terms.maha.shape, np.nan), where=denom > 0)


_MIXTURE_DEFAULTS = {"n_components": 2, "covariance_type": "full", "n_init": 10, "seed": None}


def check_model(est: Any) -> str:
    """``est.model`` among ``"normal"``, ``"t"``, ``"mixture"``; ``dof`` (not None) with the t only;
    ``accelerate=False`` not with the mixture.

    The mixture's options have defaults and are ignored by the other models, as scikit-learn
    estimators ignore parameters of another variant (``SVC(degree=...)`` unless
    ``kernel="poly"``), so that a grid over ``model`` and ``check_estimator`` (which sets
    ``n_components`` and ``n_init``) work.
    """
    model = est.model
    if model not in ("normal", "t", "mixture"):
        raise ImputerValueError(f"EMImputer: model must be 'normal', 't' or 'mixture', got {model!r}")
    if est.dof is not None and model != "t":
        raise ImputerValueError(f"EMImputer: dof applies to model='t' only, not model={model!r}")
    if model == "mixture" and est.accelerate is False:
        raise ImputerValueError("EMImputer: accelerate=False applies to model='normal' or 't' (the mixture always accelerates EM)")
    return str(model)


def mixture_options(est: Any) -> dict[str, Any]:
    """:func:`imputer.impute_mixture`'s model keywords from the estimator's parameters."""
    return {name: getattr(est, name) for name in _MIXTURE_DEFAULTS}
