r"""From a finished fit to the labelled :class:`~imputer.mixed.result.MixedResult`.

Per random term ``i`` with ``d_i`` effects and covariance ``G_i``:

* ``covariances[name]``: ``G_i`` as a DataFrame labelled by the effects (a scalar
  term is 1 x 1, labelled ``"(Intercept)"``); ``correlations[name]``:
  ``G_ab / sqrt(G_aa G_bb)`` (NaN off the diagonal where a variance is 0);
* ``var_comp``: a scalar term's variance under its name; a covariance term's variances
  under ``name`` for its intercept and ``"name.effect"`` for the others (lme4's
  ``as.data.frame(VarCorr(.))`` groups), then ``"residual"``;
* ``u[name]``, ``pev[name]``: a Series by level for a scalar term (as always); a
  DataFrame levels x effects for a covariance term (``pev`` holds the diagonal of each
  level's prediction error covariance);
* ``boundary``: terms whose ``G_i`` is singular at the estimate: 0 (settled by the
  boundary probe), or, for a covariance term, of lower rank (a correlation of +-1 or a
  zero variance: smallest eigenvalue of the correlation matrix below ``1e-6``).

``fitted = X b + sum_i Z_i vec(u_i)`` (level-major), AIC and BIC with ``d = p +`` the
number of covariance parameters ``+ 1``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from imputer.errors import ImputerValueError
from imputer.mixed._emreml import MixedFit
from imputer.mixed._problem import Estimates, Layout
from imputer.mixed._validate import Component, Problem, variance_labels
from imputer.mixed.result import MixedResult

__all__ = ["build_result", "estimate_fields", "fitted_values", "SINGULAR_RTOL"]

#: A covariance term is reported singular when its correlation matrix's smallest
#: eigenvalue is below this (or one of its variances is 0).
SINGULAR_RTOL = 1e-6


def _effects(c: Component) -> list[str]:
    return ["(Intercept)"] if c.effects is None else list(c.effects)


def _correlation(G: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.clip(np.diag(G), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        R = G / np.outer(sd, sd)
    R[~np.isfinite(R)] = np.nan
    np.fill_diagonal(R, 1.0)
    return R


def _singular(G: np.ndarray) -> bool:
    d = np.diag(G)
    if np.any(d <= 0):
        return True
    if G.shape[0] == 1:
        return False
    R = G / np.sqrt(np.outer(d, d))
    return bool(np.linalg.eigvalsh(R)[0] < SINGULAR_RTOL)


def build_result(
    problem: Problem,
    layout: Layout,
    em: MixedFit,
    fin: Estimates,
    b_ols: np.ndarray,
    engine_name: str,
    options: dict[str, Any],
) -> MixedResult:
    """The :class:`MixedResult` of a finished fit (``options``: method, tol, max_iter, accelerate)."""
    index = problem.index
    obs = problem.observed
    fields = estimate_fields(
        problem.components, problem.x_names, layout, em, fin, b_ols, engine_name, options,
        n_obs=problem.n_obs, n_missing=int((~obs).sum()), contrasts=problem.contrasts, dropped=problem.dropped,
    )
    fitted = fitted_values(problem.X, [c.Z for c in problem.components], fields["beta"], fields["u"])
    y = problem.y
    completed = np.where(obs, y, fitted)
    residuals = np.where(obs, y - fitted, np.nan)
    if not np.all(np.isfinite(fitted[obs])):
        raise ImputerValueError("the fit produced non-finite estimates; check the scaling of y, X and K")
    return MixedResult(
        fitted=pd.Series(fitted, index=index, name="fitted"),
        completed=pd.Series(completed, index=index, name="completed"),
        residuals=pd.Series(residuals, index=index, name="residuals"),
        **fields,
    )


def fitted_values(X: np.ndarray, Zs: list, beta: pd.Series, u: dict[str, pd.Series | pd.DataFrame]) -> np.ndarray:
    """``X b + sum_i Z_i vec(u_i)`` (level-major), shape (n,), for design rows ``X`` (n, p) and ``Z_i`` (n, q_i d_i)."""
    fitted = X @ beta.to_numpy(dtype=float)
    for Z, ui in zip(Zs, u.values()):
        fitted = fitted + np.asarray(Z @ ui.to_numpy(dtype=float).ravel()).ravel()
    return fitted


def estimate_fields(
    components: list[Component],
    x_names: list[str],
    layout: Layout,
    em: MixedFit,
    fin: Estimates,
    b_ols: np.ndarray,
    engine_name: str,
    options: dict[str, Any],
    *,
    n_obs: int,
    n_missing: int,
    contrasts: Any,
    dropped: tuple,
) -> dict[str, Any]:
    """Every field of :class:`MixedResult` but the per-row ``fitted``, ``completed``, ``residuals``.

    Shared with the Dask fit (:mod:`imputer.dask.mixed`), which computes those rows lazily.
    """
    b = b_ols + fin.b
    theta = em.theta.copy()
    for i in em.boundary:
        theta[layout.slot(i)] = 0.0
    u: dict[str, pd.Series | pd.DataFrame] = {}
    pev: dict[str, pd.Series | pd.DataFrame] = {}
    cov: dict[str, pd.DataFrame] = {}
    cor: dict[str, pd.DataFrame] = {}
    var_labels: list[str] = []
    var_values: list[float] = []
    boundary: list[str] = []
    for i, c in enumerate(components):
        ui = np.asarray(fin.u[i], dtype=float).reshape(c.q, c.d)
        pi = np.einsum("laa->la", np.asarray(fin.pev[i], dtype=float).reshape(c.q, c.d, c.d))
        eff = _effects(c)
        G = layout.matrix(theta, i)
        cov[c.name] = pd.DataFrame(G, index=eff, columns=eff)
        cor[c.name] = pd.DataFrame(_correlation(G), index=eff, columns=eff)
        var_labels += variance_labels(c)
        var_values += list(np.diag(G))
        if i in em.boundary or (c.d > 1 and _singular(G)):
            boundary.append(c.name)
        if c.effects is None:
            u[c.name] = pd.Series(ui[:, 0], index=c.levels, name=c.name)
            pev[c.name] = pd.Series(pi[:, 0], index=c.levels, name=c.name)
        else:
            cols = pd.Index(eff, name="effect")
            u[c.name] = pd.DataFrame(ui, index=c.levels, columns=cols)
            pev[c.name] = pd.DataFrame(pi, index=c.levels, columns=cols)
    p = len(x_names)
    d = p + layout.size + 1
    var_beta = pd.DataFrame(fin.var_b, index=x_names, columns=x_names)
    for arr in [theta, b]:
        if not np.all(np.isfinite(arr)):
            raise ImputerValueError("the fit produced non-finite estimates; check the scaling of y, X and K")
    return dict(
        var_comp=pd.Series(var_values + [float(theta[-1])], index=var_labels + ["residual"], name="variance"),
        covariances=cov,
        correlations=cor,
        beta=pd.Series(b, index=x_names, name="beta"),
        var_beta=var_beta,
        u=u,
        pev=pev,
        loglik=em.loglik,
        aic=-2.0 * em.loglik + 2.0 * d,
        bic=-2.0 * em.loglik + d * float(np.log(n_obs)),
        trace=em.trace,
        boundary=tuple(boundary),
        n_obs=n_obs,
        n_missing=n_missing,
        engine=engine_name,
        contrasts=dict(contrasts),
        n_dropped=len(dropped),
        dropped=tuple(dropped),
        **options,
    )
