r"""``multiple_impute(..., model="t" | "mixture")``: the fit, the bootstrap refits, the draws (private).

The model is fitted to the whole data as :func:`imputer.impute_t` /
:func:`imputer.impute_mixture` would (its result is ``MultipleImputation.em``). Each
imputation ``j`` then refits it on a bootstrap resample (:mod:`imputer.mi._bootstrap_models`)
and draws every missing cell of the original rows from the refitted model's conditional
distribution (:mod:`imputer.mi._conditional`), with imputation ``j``'s own generator.
The parameters recorded per imputation are the refitted model's mean and covariance
(the t: ``mu`` and ``nu/(nu - 2)`` times the scale, NaN for ``nu <= 2``; the mixture:
``sum_k pi_k mu_k`` and ``sum_k pi_k (Sigma_k + mu_k mu_k') - m m'``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from imputer.errors import ConvergenceWarning
from imputer.mi._bootstrap_models import MixtureSpec, TSpec, bootstrap_model
from imputer.mi._conditional import ConditionalModel, draw_conditional, mixture_model, t_model
from imputer.mvn._fit import blas_threads, standardise
from imputer.mvn._scaling import Scaling
from imputer.mvn._validate import Prepared

__all__ = ["ModelRun", "model_moments", "run_model"]


@dataclass(frozen=True, eq=False)
class ModelRun:
    """The full-data fit, each imputation's completed values (original units) and parameters."""

    em: Any
    filled: list[np.ndarray]
    params: list[tuple[np.ndarray, np.ndarray]]
    redraws: list[int]


def model_moments(spec: TSpec | MixtureSpec) -> tuple[np.ndarray, np.ndarray]:
    """The model's mean and covariance (original units; module docstring)."""
    if isinstance(spec, TSpec):
        p = spec.mean.size
        cov = spec.scale * (spec.dof / (spec.dof - 2.0)) if spec.dof > 2.0 else np.full((p, p), np.nan)
        return spec.mean.copy(), cov
    w = spec.weights
    mean = w @ spec.means
    second = np.einsum("k,kij->ij", w, spec.covs + spec.means[:, :, None] * spec.means[:, None, :])
    return mean, second - np.outer(mean, mean)


def _conditional(data: Any, spec: TSpec | MixtureSpec, scaling: Scaling) -> ConditionalModel:
    """The refitted model in the original data's standardised units, on its rows."""
    c, s = scaling.center, scaling.scale
    outer = np.outer(s, s)
    if isinstance(spec, TSpec):
        scale = spec.scale / outer
        return t_model(data, (spec.mean - c) / s, 0.5 * (scale + scale.T), spec.dof)
    covs = spec.covs / outer
    return mixture_model(data, spec.weights, (spec.means - c) / s, 0.5 * (covs + covs.transpose(0, 2, 1)))


def run_model(
    prep: Prepared,
    patterns: Any,
    scaling: Scaling,
    root: np.random.SeedSequence,
    *,
    model: str,
    m: int,
    tol: float,
    max_iter: int,
    ridge: float,
    dof: float | None,
    n_components: Any,
    covariance_type: str,
    n_init: int,
) -> ModelRun:
    """Fit ``model`` to the whole data, then ``m`` bootstrap imputations (module docstring).

    ``root`` spawns one stream for the mixture's starts (its ``seed``) and one per imputation.
    """
    import imputer

    frame, columns = prep.frame, list(prep.columns)
    start_ss, *imp_ss = root.spawn(m + 1)
    # the fit's own warnings (no convergence, a collapsed component) reach the caller as they are
    if model == "t":
        em: Any = imputer.impute_t(frame, dof=dof, tol=tol, max_iter=max_iter, ridge=ridge, columns=columns)
    else:
        em = imputer.impute_mixture(
            frame, n_components, covariance_type=covariance_type, n_init=n_init, seed=start_ss,
            tol=tol, max_iter=max_iter, ridge=ridge, columns=columns,
        )
    spec: TSpec | MixtureSpec
    if model == "t":
        spec = TSpec(em.mean.to_numpy(float), em.scale.to_numpy(float), float(em.dof), dof is not None)
    else:
        spec = MixtureSpec(
            em.weights.to_numpy(float), em.means.to_numpy(float), np.stack([c.to_numpy(float) for c in em.covs]),
            em.covariance_type,
        )
    n, p = prep.n_rows, len(columns)
    with blas_threads(p):
        layout = standardise(patterns, prep.values, scaling, keep_complete=True)
    mask = np.column_stack([np.isnan(v) for v in prep.values])
    filled, params, redraws = [], [], []
    not_converged = 0
    for j, ss in enumerate(imp_ss, start=1):
        rng = np.random.default_rng(ss)
        fitted, redrawn, converged = bootstrap_model(
            prep.values, prep.columns, spec, rng, tol=tol, max_iter=max_iter, ridge=ridge, imputation=j, model=model,
        )
        with blas_threads(p):
            z = draw_conditional(layout, _conditional(layout, fitted, scaling), rng)
        arr = np.empty((n, p), order="F")
        for k, v in enumerate(prep.values):
            arr[:, k] = v
        arr[mask] = (scaling.center + scaling.scale * z)[mask]
        filled.append(arr)
        params.append(model_moments(fitted))
        redraws.append(redrawn)
        not_converged += not converged
    if not_converged:
        warnings.warn(
            f"EM did not converge within max_iter={max_iter} iterations on {not_converged} of {m} bootstrap "
            f"resamples (tol={tol:g}); increase max_iter or tol",
            ConvergenceWarning,
            stacklevel=3,
        )
    return ModelRun(em=em, filled=filled, params=params, redraws=redraws)
