r"""Bootstrap EM for the multivariate t and the Gaussian mixture (private).

As for the normal (:mod:`imputer.mi._bootstrap`, Amelia's EMB), imputation ``j`` draws
``n`` rows with replacement, refits the model on the resample, and draws the missing
cells of the *original* rows from the refitted model's conditional distribution
(:mod:`imputer.mi._conditional`). The refit starts from the estimate on the whole data
(one EM run, SQUAREM-accelerated, the resample standardised on its own as
:func:`imputer.impute_t` / :func:`imputer.impute_mixture` would): the bootstrap
estimate is the maximum near the full-data one (for the mixture, with the same
component labels; no new random starts). The t's degrees of freedom are re-estimated
on each resample unless they were fixed.

A resample is unusable when a column has no observed value or no variance in it, or
when the refit is singular (a scale matrix heading to singular, a mixture component
collapsing): it is discarded and another drawn, as for the normal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imputer._em import run_em
from imputer._gaussian.linalg import Infeasible
from imputer._gaussian.patterns import build_patterns
from imputer.errors import ImputerValueError
from imputer.mi._bootstrap import MAX_REDRAWS
from imputer.mixture._covtypes import CovarianceType
from imputer.mixture._problem import MixtureParams, MixtureProblem, fit_start
from imputer.mvn._fit import blas_threads, min_corr_eig, standardise
from imputer.mvn._problem import NEAR_SINGULAR_EIG
from imputer.mvn._scaling import Scaling, scaling_of
from imputer.mvt._problem import TParams, TProblem

__all__ = ["MixtureSpec", "TSpec", "bootstrap_model"]


@dataclass(frozen=True)
class TSpec:
    """The t fitted to the whole data (original units) and whether ``dof`` is fixed."""

    mean: np.ndarray
    scale: np.ndarray
    dof: float
    fixed_dof: bool


@dataclass(frozen=True)
class MixtureSpec:
    """The mixture fitted to the whole data (original units) and its covariance type."""

    weights: np.ndarray
    means: np.ndarray
    covs: np.ndarray
    covariance_type: str


def _resample(values: tuple[np.ndarray, ...], columns: tuple, rows: np.ndarray) -> tuple[tuple[np.ndarray, ...], Scaling, np.ndarray] | str:
    sub = tuple(np.take(v, rows) for v in values)
    mask = np.column_stack([np.isnan(v) for v in sub])
    for j in range(mask.shape[1]):
        if mask[:, j].all():
            return f"column {columns[j]!r} has no observed value in the resample"
    try:
        scaling = scaling_of(columns, sub, mask)
    except ImputerValueError as exc:  # a constant column in the resample
        return str(exc)
    return sub, scaling, mask


def refit(
    values: tuple[np.ndarray, ...], columns: tuple, rows: np.ndarray, spec: TSpec | MixtureSpec, *, tol: float, max_iter: int, ridge: float
) -> tuple[TSpec | MixtureSpec, bool] | str:
    """The model refitted on rows ``rows`` from ``spec`` (original units) and whether EM converged; or why not."""
    got = _resample(values, columns, rows)
    if isinstance(got, str):
        return got
    sub, sc, mask = got
    c, s = sc.center, sc.scale
    outer = np.outer(s, s)
    with blas_threads(len(sub)):
        data = standardise(build_patterns(mask), sub, sc, keep_complete=True)
        if isinstance(spec, TSpec):
            problem = TProblem(data, ridge, spec.dof if spec.fixed_dof else None)
            x0 = problem.pack(TParams((spec.mean - c) / s, spec.scale / outer, spec.dof))
            run = run_em(problem, x0, tol=tol, max_iter=max_iter, accelerate=True)
            params = problem.unpack(run.x)
            if run.trace.stop_reason in ("singular", "infeasible") or not problem.feasible(run.x) or min_corr_eig(params.sigma) < NEAR_SINGULAR_EIG:
                return "the fit on the resample is singular (its scale matrix heads to singular)"
            return TSpec(c + s * params.mu, params.sigma * outer, params.nu, spec.fixed_dof), bool(run.trace.converged)
        k = spec.weights.size
        ct = CovarianceType(spec.covariance_type, k, len(sub), 1.0 / s**2)
        start = MixtureParams(spec.weights.copy(), (spec.means - c) / s, spec.covs / outer)
        try:
            fit = fit_start(MixtureProblem(data, ct, ridge), start, tol=tol, max_iter=max_iter)
        except Infeasible:
            return "the full-data mixture is not a valid start on the resample"
    if fit.singular:
        return "a mixture component collapsed on the resample"
    p = fit.params
    return MixtureSpec(p.weights, c + s * p.means, p.covs * outer, spec.covariance_type), bool(fit.trace.converged)


def bootstrap_model(
    values: tuple[np.ndarray, ...],
    columns: tuple,
    spec: TSpec | MixtureSpec,
    rng: np.random.Generator,
    *,
    tol: float,
    max_iter: int,
    ridge: float,
    imputation: int,
    model: str,
) -> tuple[TSpec | MixtureSpec, int, bool]:
    """One usable resample's refit: ``(spec, redraws, converged)``.

    Raises
    ------
    ImputerValueError
        ``MAX_REDRAWS + 1`` unusable resamples in a row.
    """
    n = values[0].size
    reason = ""
    for redraws in range(MAX_REDRAWS + 1):
        rows = rng.integers(0, n, size=n)
        got = refit(values, columns, rows, spec, tol=tol, max_iter=max_iter, ridge=ridge)
        if isinstance(got, str):
            reason = got
            continue
        return got[0], redraws, got[1]
    raise ImputerValueError(
        f"method='bootstrap', model={model!r}, imputation {imputation}: {MAX_REDRAWS + 1} bootstrap resamples in a "
        f"row were unusable (the last: {reason}); the data are too thin for the bootstrap of this model (ridge > 0 "
        "helps with singular fits; fewer components for the mixture)"
    )
