r"""Public entry points: :func:`fit_mixed` (matrices) and :func:`fit_mixed_frame` (a DataFrame).

Model
-----

.. math::

    y = X b + \sum_{i=1}^k Z_i u_i + e,\qquad u_i \sim N(0, \sigma^2_i K_i),\qquad
    e \sim N(0, \sigma^2_e I),

with the variance components ``sigma^2`` estimated by REML (default) or ML through EM
(accelerated by SQUAREM), ``b`` by generalised least squares and ``u_i`` by their BLUPs.
Rows with missing ``y`` are left out of the fit and predicted by ``x_i'b + sum z_i'u``.

Engine choice: a single random effect that is not a plain grouping factor (a ``Z``
with diagonal ``Z'Z`` and ``K = I``), when ``p + rank(K) > n / 2`` for the ``n <= 20,000``
observed rows, goes through the EMMA spectral path
(:mod:`imputer.mixed._spectral`, one eigendecomposition, ``O(n)`` per iteration);
everything else through Henderson's mixed-model equations (:mod:`imputer.mixed._mme`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from imputer._em.monitor import Callback, make_monitor, watching
from imputer._threads import single_blas_thread
from imputer.errors import ConvergenceWarning, ImputerTypeError, ImputerValueError
from imputer.mixed._design import build_frame_problem
from imputer.mixed._emreml import MMEEngine, MixedFit, fit_components
from imputer.mixed._mme import Gram
from imputer.mixed._problem import Estimates
from imputer.mixed._spectral import SpectralEngine
from imputer.mixed._validate import Problem, build_problem
from imputer.mixed._validate import check_options as _check_options
from imputer.mixed.result import MixedResult
from imputer.options import MIXED_OPTIONS

__all__ = ["fit_mixed", "fit_mixed_frame", "fit_problem"]

#: Default tolerance on the relative change of each variance component (see
#: :data:`imputer.options.MIXED_OPTIONS` for why 1e-10).
DEFAULT_TOL: float = MIXED_OPTIONS["tol"].default
#: Default iteration limit.
DEFAULT_MAX_ITER: int = MIXED_OPTIONS["max_iter"].default
_SPECTRAL_MAX_N = 20_000
_BLAS_SMALL = 512
#: Relative size ``||y - X b_ols|| / ||y||`` under which y counts as fitted exactly by X.
_EXACT_FIT_RTOL = 100 * np.finfo(float).eps


@dataclass(frozen=True, eq=False)
class _Centred:
    """The observed rows, centred on their OLS fit (same variance components, better conditioning).

    Attributes
    ----------
    X : ndarray, shape (n, p)
        Fixed-effect design of the observed rows.
    y0 : ndarray, shape (n,)
        ``y - X b`` on the observed rows.
    Z : list of sparse matrices, shapes (n, q_i)
        Each component's incidence matrix on the observed rows (shared with the engine).
    b : ndarray, shape (p,)
        The OLS coefficients.
    s2 : float
        The OLS residual variance ``rss / (n - p)``.
    """

    X: np.ndarray
    y0: np.ndarray
    Z: list
    b: np.ndarray
    s2: float


def _centre(problem: Problem) -> _Centred:
    """Centre the observed response on its OLS fit; reject a response fitted exactly by ``X``."""
    obs = problem.observed
    Xo, yo = problem.X[obs], problem.y[obs]
    n, p = Xo.shape
    b_ols, *_ = np.linalg.lstsq(Xo, yo, rcond=None)
    y0 = yo - Xo @ b_ols
    rss = float(y0 @ y0)
    # exact fit up to rounding (e.g. a constant y with an intercept leaves ~1e-16 residuals)
    if rss <= (_EXACT_FIT_RTOL**2) * float(yo @ yo):
        raise ImputerValueError("y: the observed values are fitted exactly by X; the variance components are not identifiable")
    return _Centred(X=Xo, y0=y0, Z=[c.Z[obs] for c in problem.components], b=b_ols, s2=rss / (n - p))


def _default_start(problem: Problem, ols: _Centred) -> np.ndarray:
    """Default start, shape (k + 1,): the OLS residual variance shared equally.

    Component ``i`` gets ``s2 / (k + 1)`` divided by ``tr(Z_i K_i Z_i') / n`` (its average
    contribution per observation), the residual ``s2 / (k + 1)``.
    """
    k = len(problem.components)
    n = ols.X.shape[0]
    default = np.empty(k + 1)
    for i, c in enumerate(problem.components):
        Zi = ols.Z[i]
        if c.eig is None:
            scale = float(Zi.multiply(Zi).sum()) / n  # tr(Z_o Z_o') / n
        else:  # tr(Z_o K Z_o') / n from K = Q diag(w) Q', without forming K's factor
            w, Q = c.eig
            scale = float(np.sum(np.asarray(Zi @ Q) ** 2 @ w)) / n
        default[i] = ols.s2 / (k + 1) / max(scale, 1e-12)
    default[k] = ols.s2 / (k + 1)
    return default


def _init(init: Any, names: list[str], default: np.ndarray) -> np.ndarray:
    if init is None:
        return default
    k1 = len(names) + 1
    labels = names + ["residual"]
    if isinstance(init, Mapping):
        missing = [n for n in labels if n not in init]
        extra = [str(n) for n in init if n not in labels]
        if missing or extra:
            raise ImputerValueError(f"init must give a variance for each of {labels}; missing {missing}, unknown {extra}")
        vals = [init[n] for n in labels]
    elif isinstance(init, pd.Series):
        return _init(init.to_dict(), names, default)
    elif isinstance(init, Sequence) or isinstance(init, np.ndarray):
        vals = list(np.asarray(init, dtype=object).ravel())
        if len(vals) != k1:
            raise ImputerValueError(f"init must have {k1} variances ({labels}), got {len(vals)}")
    else:
        raise ImputerTypeError(f"init must be a dict, Series or sequence of variances, got {type(init).__name__}")
    try:
        arr = np.asarray(vals, dtype=float)
    except (TypeError, ValueError):
        raise ImputerTypeError(f"init must contain numbers, got {vals!r}") from None
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ImputerValueError(f"init variances must be positive and finite, got {arr.tolist()}")
    return arr


def _small_system(engine) -> bool:
    """Whether the per-iteration matrices are small enough for one BLAS thread.

    Henderson: the ``m x m`` Schur complement; spectral: ``n x p`` (measured:
    100,000-row crossed design 4x faster on 2 busy cores with one thread).
    """
    return isinstance(engine, SpectralEngine) or engine.dense_size() < _BLAS_SMALL


def _engine(problem: Problem, Xo: np.ndarray, y0: np.ndarray, Zo: list, ml: bool, force: str | None):
    comps = problem.components
    n, p = Xo.shape
    use_spectral = False
    if len(comps) == 1:
        c = comps[0]
        ztz = (Zo[0].T @ Zo[0]).tocsr()
        incidence = c.eig is None and ztz.nnz == np.count_nonzero(ztz.diagonal())
        use_spectral = not incidence and p + c.r > n / 2 and n <= _SPECTRAL_MAX_N
    if force is not None:
        use_spectral = force == "spectral"
    if use_spectral:
        c = comps[0]
        return SpectralEngine(Xo, y0, Zo[0], c.eig, c.L, c.r, ml), "spectral"
    return MMEEngine(Gram(Xo, y0, Zo, [c.L for c in comps]), ml), "mme"


def fit_mixed(
    y: Any,
    X: Any = None,
    ZETA: Any = None,
    *,
    method: str = "REML",
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    init: Any = None,
    accelerate: bool = True,
    progress: bool = False,
    callback: Callback | None = None,
    max_time: float | None = None,
) -> MixedResult:
    """Fit ``y = X b + sum_i Z_i u_i + e`` by EM-REML (or EM-ML).

    Parameters
    ----------
    y : array-like or Series, shape (n,)
        Response; NaN marks missing values, which are predicted.
    X : array-like or DataFrame, shape (n, p), optional
        Fixed-effect design (full column rank on the observed rows). Default: an
        intercept column ``"(Intercept)"``. A DataFrame's columns label ``beta``.
    ZETA : list or dict of dict, optional
        Random effects, each ``{"Z": Z, "K": K}``: ``Z`` shape (n, q_i), dense,
        scipy.sparse or DataFrame (its columns label the levels); ``K`` shape (q_i, q_i),
        symmetric positive semi-definite (identity when absent). A dict's keys name the
        components; a list's are named ``u1, u2, ...``.
    method : {"REML", "ML"}, default "REML"
        REML (restricted maximum likelihood) or ML (full maximum likelihood).
    tol : float, default 1e-10
        Convergence tolerance: EM stops when no variance component changes by more than
        tol, relative to its value, between successive iterates. See
        :mod:`imputer.mixed._problem`.
    max_iter : int, default 10000
        Iteration limit (outer EM iterations); stopping there without meeting tol is a
        warning and converged=false.
    init : dict, Series or sequence, optional
        Starting variances of the components and of 'residual' (all > 0); default: the
        residual variance of the OLS fit, shared equally.
    accelerate : bool, default True
        SQUAREM acceleration of EM with a safeguard that never lets the objective
        decrease; off runs plain EM.
    progress : bool, default False
        Show a progress line on standard error (tqdm) once the fit has run for a second:
        iterates, log-likelihood, parameter change.
    callback : callable, optional
        ``callback(iteration, progress)`` at every accepted EM iterate, with a frozen
        :class:`imputer.Progress` (``iteration``, ``n_evals``, ``objective``, ``change``,
        ``elapsed``); a truthy return stops the fit there (``stop_reason="stopped"``).
    max_time : float, optional
        Seconds after which the fit stops at the next iterate (``stop_reason="max_time"``),
        boundary probes included. A fit stopped by ``callback`` or ``max_time`` returns
        the best iterate so far with ``converged=False`` and a warning.

    Returns
    -------
    MixedResult

    Raises
    ------
    ImputerValueError, ImputerTypeError
        Invalid input; the message names the argument or column at fault.
    """
    problem = build_problem(y, X, ZETA, method)
    return fit_problem(
        problem, method=method, tol=tol, max_iter=max_iter, init=init, accelerate=accelerate,
        progress=progress, callback=callback, max_time=max_time,
    )


def fit_mixed_frame(
    data: pd.DataFrame,
    response: str,
    *,
    fixed: Sequence[str] | None = None,
    random: Sequence[str],
    kernels: Mapping[str, pd.DataFrame] | None = None,
    intercept: bool = True,
    method: str = "REML",
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    init: Any = None,
    accelerate: bool = True,
    progress: bool = False,
    callback: Callback | None = None,
    max_time: float | None = None,
) -> MixedResult:
    """Fit a linear mixed model from the columns of a DataFrame.

    ``fit_mixed_frame(df, "Yield", random=["Batch"])`` is lme4's
    ``lmer(Yield ~ 1 + (1 | Batch), df)``; ``random=["batch", "batch:cask"]`` adds a
    random intercept per observed ``batch x cask`` combination.

    Parameters
    ----------
    data : DataFrame, shape (n, ...)
        One row per observation; the response may be NaN (those rows are predicted).
    response : str
        Column holding ``y``.
    fixed : list of str, optional
        Fixed-effect columns: numeric ones enter as covariates, categorical/string/boolean
        ones as treatment-coded dummies (first level dropped; labels like ``"sample[T.B]"``).
    random : list of str
        Grouping terms, each a random intercept: a column (``"batch"``) or an
        interaction of columns (``"batch:cask"``, levels labelled ``"A:a"``).
    kernels : dict of str -> DataFrame, optional
        Relationship matrix ``K`` per term (``u ~ N(0, s2 K)``), indexed by level in its
        rows and columns; default identity. Its index defines the term's levels, so
        levels without observations are predicted too.
    intercept : bool, default True
        Include an ``"(Intercept)"`` column.
    method, tol, max_iter, init, accelerate, progress, callback, max_time
        As in :func:`fit_mixed`; ``init`` keys are the term names and ``"residual"``.

    Returns
    -------
    MixedResult
        Components named by their terms; ``fitted``/``completed``/``residuals`` indexed
        like ``data``.

    Raises
    ------
    ImputerValueError, ImputerTypeError
        Naming the column, term or argument at fault.
    """
    problem = build_frame_problem(data, response, fixed, random, kernels, intercept, method)
    return fit_problem(
        problem, method=method, tol=tol, max_iter=max_iter, init=init, accelerate=accelerate,
        progress=progress, callback=callback, max_time=max_time,
    )


def fit_problem(
    problem: Problem,
    *,
    method: str,
    tol: float,
    max_iter: int,
    init: Any,
    accelerate: bool,
    engine_name: str | None = None,
    progress: bool = False,
    callback: Callback | None = None,
    max_time: float | None = None,
) -> MixedResult:
    """Fit a validated :class:`~imputer.mixed._validate.Problem` (shared by both entry points).

    ``engine_name`` forces ``"mme"`` or ``"spectral"`` (tests cross-check the two);
    None chooses as described in the module docstring.
    """
    tol, max_iter = _check_options(tol, max_iter, accelerate)
    monitor = make_monitor(callback, progress, max_time, label="fit_mixed")
    ols = _centre(problem)
    engine, engine_name = _engine(problem, ols.X, ols.y0, ols.Z, method == "ML", engine_name)
    names = [c.name for c in problem.components]
    theta0 = _init(init, names, _default_start(problem, ols))
    k = len(names)
    with single_blas_thread(_small_system(engine)), watching(monitor):
        em = fit_components(engine, theta0, tol=tol, max_iter=max_iter, accelerate=bool(accelerate))
        try:
            fin = engine.final(em.theta[:k], float(em.theta[k]), em.active)
        except np.linalg.LinAlgError as exc:
            raise ImputerValueError(f"the mixed-model equations are singular at the estimate ({exc})") from None
    if monitor is not None and monitor.warn(stacklevel=3):
        pass
    elif not em.converged:
        warnings.warn(
            f"fit_mixed: EM did not converge in max_iter={max_iter} iterations (tol={tol:g}); "
            "the result is the last iterate",
            ConvergenceWarning,
            stacklevel=3,
        )
    options = {"method": method, "tol": tol, "max_iter": max_iter, "accelerate": bool(accelerate)}
    return _result(problem, em, fin, ols.b, engine_name, options)


def _result(
    problem: Problem, em: MixedFit, fin: Estimates, b_ols: np.ndarray, engine_name: str, options: dict[str, Any]
) -> MixedResult:
    """The :class:`MixedResult` of a finished fit (``options``: method, tol, max_iter, accelerate)."""
    names = [c.name for c in problem.components]
    k = len(names)
    index = problem.index
    b = b_ols + fin.b
    fitted = problem.X @ b
    u: dict[str, pd.Series] = {}
    pev: dict[str, pd.Series] = {}
    for i, c in enumerate(problem.components):
        ui = np.asarray(fin.u[i], dtype=float)
        fitted = fitted + np.asarray(c.Z @ ui).ravel()
        u[c.name] = pd.Series(ui, index=c.levels, name=c.name)
        pev[c.name] = pd.Series(np.asarray(fin.pev[i], dtype=float), index=c.levels, name=c.name)
    y = problem.y
    obs = problem.observed
    completed = np.where(obs, y, fitted)
    residuals = np.where(obs, y - fitted, np.nan)
    theta = em.theta.copy()
    theta[list(em.boundary)] = 0.0
    n_obs = problem.n_obs
    p = problem.X.shape[1]
    d = p + k + 1
    var_beta = pd.DataFrame(fin.var_b, index=problem.x_names, columns=problem.x_names)
    for arr in [theta, b, fitted[obs]]:
        if not np.all(np.isfinite(arr)):
            raise ImputerValueError("the fit produced non-finite estimates; check the scaling of y, X and K")
    return MixedResult(
        var_comp=pd.Series(theta, index=names + ["residual"], name="variance"),
        beta=pd.Series(b, index=problem.x_names, name="beta"),
        var_beta=var_beta,
        u=u,
        pev=pev,
        fitted=pd.Series(fitted, index=index, name="fitted"),
        completed=pd.Series(completed, index=index, name="completed"),
        residuals=pd.Series(residuals, index=index, name="residuals"),
        loglik=em.loglik,
        aic=-2.0 * em.loglik + 2.0 * d,
        bic=-2.0 * em.loglik + d * float(np.log(n_obs)),
        trace=em.trace,
        boundary=tuple(names[i] for i in em.boundary),
        n_obs=n_obs,
        n_missing=int((~obs).sum()),
        engine=engine_name,
        **options,
    )
