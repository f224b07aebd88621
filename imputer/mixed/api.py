r"""Public entry points: :func:`fit_mixed` (matrices) and :func:`fit_mixed_frame` (a DataFrame).

Model
-----

.. math::

    y = X b + \sum_{i=1}^k Z_i u_i + e,\qquad u_i \sim N(0, K_i \otimes G_i),\qquad
    e \sim N(0, \sigma^2_e I),

where a scalar term has ``G_i = sigma^2_i`` (a variance component) and a term with
``d_i`` effects per level (random intercepts and slopes) a ``d_i x d_i`` covariance
matrix ``G_i``, unstructured or diagonal, with the covariance parameters estimated by REML (default) or ML through EM
(accelerated by SQUAREM and Newton steps), ``b`` by generalised least squares and ``u_i`` by their BLUPs.
Rows with missing ``y`` are left out of the fit and predicted by ``x_i'b + sum z_i'u``.

Engine choice: a single scalar random effect that is not a plain grouping factor (a ``Z``
with diagonal ``Z'Z`` and ``K = I``), when ``p + rank(K) > n / 2`` for the ``n <= 20,000``
observed rows, goes through the EMMA spectral path
(:mod:`imputer.mixed._spectral`, one eigendecomposition, ``O(n)`` per iteration);
everything else through Henderson's mixed-model equations (:mod:`imputer.mixed._mme`).
A Dask DataFrame (identity kernels only) always takes the latter, from the partitions'
summed cross products (:mod:`imputer.dask.mixed`): the spectral path needs the rows, and
would not be chosen for a grouping factor with ``K = I`` anyway.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from imputer._em.monitor import Callback, make_monitor, watching
from imputer._threads import single_blas_thread
from imputer.errors import ConvergenceWarning, ImputerTypeError, ImputerValueError
from imputer.mixed._design import build_frame_problem, check_response_type
from imputer.mixed._emreml import MMEEngine, fit_components
from imputer.mixed._output import build_result
from imputer.mixed._rank import EngineInputs
from imputer.mixed._mme import Gram
from imputer.mixed._problem import Layout, is_positive_definite
from imputer.mixed._spectral import SpectralEngine
from imputer.mixed._validate import Component, Problem, build_problem, check_method
from imputer.mixed._validate import check_options as _check_options
from imputer.mixed.multitrait_result import MultiTraitResult
from imputer.mixed.result import MixedResult
from imputer.options import MIXED_OPTIONS

__all__ = ["fit_mixed", "fit_mixed_frame", "fit_problem", "run_em", "start_from_scales"]

#: Default tolerance on the relative change of each variance component (see
#: :data:`imputer.options.MIXED_OPTIONS` for why 1e-10).
DEFAULT_TOL: float = MIXED_OPTIONS["tol"].default
#: Default iteration limit.
DEFAULT_MAX_ITER: int = MIXED_OPTIONS["max_iter"].default
_SPECTRAL_MAX_N = 20_000
#: Dense (Schur complement) size under which EM runs on one BLAS thread. InstEval's
#: 1,166 x 1,166: 4.3 s wall / 4.5 CPU s on one thread against 6.2 s / 12.3 CPU s on two
#: (2 cores, load 1.3, same minute; 7-40 s on two threads under other jobs' load).
_BLAS_SMALL = 4_000
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
    ss = float(yo @ yo)
    if yo.any() and not (np.finfo(float).tiny < ss < np.inf):  # squares over/underflow: not an exact fit
        raise ImputerValueError(f"y: the observed values reach {np.max(np.abs(yo)):.3g}, where their squares "
                                "overflow or underflow float64; rescale y (e.g. to standard units)")
    b_ols, *_ = np.linalg.lstsq(Xo, yo, rcond=None)
    y0 = yo - Xo @ b_ols
    rss = float(y0 @ y0)
    # exact fit up to rounding (e.g. a constant y with an intercept leaves ~1e-16 residuals)
    if rss <= (_EXACT_FIT_RTOL**2) * float(yo @ yo):
        raise ImputerValueError("y: the observed values are fitted exactly by X; the variance components are not identifiable")
    return _Centred(X=Xo, y0=y0, Z=[c.Z[obs] for c in problem.components], b=b_ols, s2=rss / (n - p))


def _layout(problem: Problem) -> Layout:
    """The terms' covariance structures (:class:`~imputer.mixed._problem.Layout`)."""
    return Layout(
        dims=tuple(c.d for c in problem.components),
        structures=tuple(c.structure for c in problem.components),
    )


def _default_start(problem: Problem, ols: _Centred) -> np.ndarray:
    """Default start, shape (layout.size + 1,): the OLS residual variance shared equally.

    Term ``i`` gets ``s2 / (k + 1)`` divided by ``tr(Z_i K_i Z_i') / n`` (its average
    contribution per observation), the residual ``s2 / (k + 1)``. A term with several
    effects starts from a diagonal ``G`` whose effect ``a`` gets ``s2 / (k + 1) / d``
    divided by that effect's ``tr(Z_a K Z_a') / n``.
    """
    n = ols.X.shape[0]
    scales: list[np.ndarray | float] = []
    for i, c in enumerate(problem.components):
        Zi = ols.Z[i]
        if c.d > 1 or c.effects is not None:
            ZL = Zi if c.eig is None else sp.csr_matrix(np.asarray(Zi @ c.L_full))
            sq = np.asarray(ZL.multiply(ZL).sum(axis=0)).ravel()
            scales.append(sq.reshape(-1, c.d).sum(axis=0) / n)
        elif c.eig is None:
            scales.append(float(Zi.multiply(Zi).sum()) / n)  # tr(Z_o Z_o') / n
        else:  # tr(Z_o K Z_o') / n from K = Q diag(w) Q', without forming K's factor
            w, Q = c.eig
            scales.append(float(np.sum(np.asarray(Zi @ Q) ** 2 @ w)) / n)
    return start_from_scales(problem.components, _layout(problem), ols.s2, scales)


def start_from_scales(
    components: list[Component], layout: Layout, s2: float, scales: list[np.ndarray | float]
) -> np.ndarray:
    """The default start, shape (layout.size + 1,), from each term's ``tr(Z_a K Z_a') / n``.

    ``scales[i]``: a float for a scalar term, an array (d_i,) (one per effect) for a term
    with several effects; ``s2`` the OLS residual variance (see :func:`_default_start`).
    """
    k = len(components)
    default = np.empty(layout.size + 1)
    share = s2 / (k + 1)
    for i, c in enumerate(components):
        if c.d > 1 or c.effects is not None:
            G = np.diag(share / c.d / np.maximum(np.asarray(scales[i]), 1e-12))
            default[layout.slot(i)] = layout.vector(G, i)
        else:
            default[layout.slot(i)] = share / max(float(scales[i]), 1e-12)
    default[-1] = share
    return default


def _init_matrix(value: Any, c: Component) -> np.ndarray:
    """A start ``G`` (d x d) for term ``c`` from an array or a DataFrame labelled by its effects."""
    if isinstance(value, pd.DataFrame):
        if list(map(str, value.index)) != list(c.effects) or list(map(str, value.columns)) != list(c.effects):
            raise ImputerValueError(f"init[{c.name!r}] must be labelled by the effects {list(c.effects)} in rows and columns")
    try:
        G = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ImputerTypeError(f"init[{c.name!r}] must be a {c.d} x {c.d} matrix of numbers") from None
    if G.shape != (c.d, c.d):
        raise ImputerValueError(f"init[{c.name!r}] must be a {c.d} x {c.d} matrix (effects {list(c.effects)}), got shape {G.shape}")
    if not np.all(np.isfinite(G)) or not np.allclose(G, G.T) or not is_positive_definite(G):
        raise ImputerValueError(f"init[{c.name!r}] must be a symmetric positive definite matrix")
    if c.structure == "diag" and np.any(G[~np.eye(c.d, dtype=bool)] != 0):
        raise ImputerValueError(f"init[{c.name!r}]: the term has independent effects ('||'); give a diagonal matrix")
    return G


def _init(init: Any, problem: Problem, default: np.ndarray) -> np.ndarray:
    if init is None:
        return default
    comps = problem.components
    names = [c.name for c in comps]
    layout = _layout(problem)
    vector = [c for c in comps if c.effects is not None]
    if isinstance(init, pd.Series):
        init = init.to_dict()
    if vector and not isinstance(init, Mapping):
        raise ImputerTypeError(
            "init must be a dict for a model with covariance terms: a variance per scalar term, "
            "a matrix per covariance term, and 'residual'"
        )
    if isinstance(init, Mapping) and vector:
        labels = names + ["residual"]
        missing = [n for n in labels if n not in init]
        extra = [str(n) for n in init if n not in labels]
        if missing or extra:
            raise ImputerValueError(f"init must give a start for each of {labels}; missing {missing}, unknown {extra}")
        out = np.empty(layout.size + 1)
        for i, c in enumerate(comps):
            if c.effects is not None:
                out[layout.slot(i)] = layout.vector(_init_matrix(init[c.name], c), i)
            else:
                out[layout.slot(i)] = _init_scalars([init[c.name]])
        out[-1] = _init_scalars([init["residual"]])[0]
        return out
    return _init_scalar_model(init, names)


def _init_scalars(vals: list) -> np.ndarray:
    try:
        arr = np.asarray(vals, dtype=float)
    except (TypeError, ValueError):
        raise ImputerTypeError(f"init must contain numbers, got {vals!r}") from None
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ImputerValueError(f"init variances must be positive and finite, got {arr.tolist()}")
    return arr


def _init_scalar_model(init: Any, names: list[str]) -> np.ndarray:
    k1 = len(names) + 1
    labels = names + ["residual"]
    if isinstance(init, Mapping):
        missing = [n for n in labels if n not in init]
        extra = [str(n) for n in init if n not in labels]
        if missing or extra:
            raise ImputerValueError(f"init must give a variance for each of {labels}; missing {missing}, unknown {extra}")
        vals = [init[n] for n in labels]
    elif isinstance(init, Sequence) or isinstance(init, np.ndarray):
        vals = list(np.asarray(init, dtype=object).ravel())
        if len(vals) != k1:
            raise ImputerValueError(f"init must have {k1} variances ({labels}), got {len(vals)}")
    else:
        raise ImputerTypeError(f"init must be a dict, Series or sequence of variances, got {type(init).__name__}")
    return _init_scalars(vals)


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
    if len(comps) == 1 and comps[0].d == 1:
        c = comps[0]
        ztz = (Zo[0].T @ Zo[0]).tocsr()
        incidence = c.eig is None and ztz.nnz == np.count_nonzero(ztz.diagonal())
        use_spectral = not incidence and p + c.r > n / 2 and n <= _SPECTRAL_MAX_N
    if force is not None:
        use_spectral = force == "spectral" and comps[0].d == 1
    if use_spectral:
        c = comps[0]
        return SpectralEngine(Xo, y0, Zo[0], c.eig, c.L, c.r, ml), "spectral"
    gram = Gram(Xo, y0, Zo, [c.L_full for c in comps], [c.d for c in comps])
    inputs = EngineInputs(X=Xo, y=y0, Zs=Zo, Ls=[c.L for c in comps], ml=ml)
    return MMEEngine(gram, ml, _layout(problem), inputs=inputs), "mme"


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
) -> MixedResult | MultiTraitResult:
    """Fit ``y = X b + sum_i Z_i u_i + e`` by EM-REML (or EM-ML).

    Parameters
    ----------
    y : array-like or Series, shape (n,); or DataFrame / 2-D array, shape (n, t)
        Response; NaN marks missing values, which are predicted. With ``t >= 2``
        columns (traits) the model is multi-trait: ``vec(U_k) ~ N(0, G_k (x) K_k)`` and
        ``vec(E) ~ N(0, R (x) I)`` with unstructured t x t ``G_k`` and ``R``, each trait
        with its own fixed effects on the same ``X``, random terms with one effect per
        level: one term is fitted through one eigendecomposition of ``Z K Z'``
        (:mod:`imputer.mixed._multitrait`), several through the dense covariance of the
        observed values (:mod:`imputer.mixed._multitrait_dense`, at most 6,000 of them);
        AI-REML steps safeguarded by EM (:mod:`imputer.mixed._multitrait_ai`;
        ``accelerate=False``: plain EM). Missing traits are predicted by their
        conditional expectation given every observed entry; ``init`` is not taken.
        Returns a :class:`~imputer.mixed.multitrait_result.MultiTraitResult`.
    X : array-like or DataFrame, shape (n, p), optional
        Fixed-effect design (full column rank on the observed rows). Default: an
        intercept column ``"(Intercept)"``. A DataFrame's columns label ``beta``.
    ZETA : list or dict of dict, optional
        Random effects, each ``{"Z": Z, "K": K}``: ``Z`` shape (n, q_i), dense,
        scipy.sparse or DataFrame (its columns label the levels); ``K`` shape (q_i, q_i),
        symmetric positive semi-definite (identity when absent). A dict's keys name the
        components; a list's are named ``u1, u2, ...``.

        Several effects per level with a covariance matrix between them (random
        intercepts and slopes; sommer's ``vsr(usr(...))``):
        ``{"Z": [Z_1, ..., Z_d], "K": K, "effects": names, "structure": s}`` with each
        ``Z_a`` shape (n, q_i) -- effect ``a``'s design on the same q_i levels (for a
        slope on ``x`` within groups: the group incidence matrix times ``x`` row by
        row) -- ``effects`` their names (default ``z1, ..., zd``) and ``structure``
        ``"unstructured"`` (default: ``u_l ~ N(0, G)`` with every variance and
        covariance of the d x d ``G`` free) or ``"diagonal"`` (independent effects).
        Then ``u ~ N(0, K (x) G)``, levels by effects.
    method : {"REML", "ML"}, default "REML"
        REML (restricted maximum likelihood) or ML (full maximum likelihood).
    tol : float, default 1e-10
        Convergence tolerance: the fit stops when no variance component is estimated to
        be more than tol, relative to its value, from the optimum: one EM step's change;
        where EM is slow and Newton steps are taken (scalar components), that change
        divided by one minus EM's rate, or the last Newton step's. See :mod:`imputer.mixed._problem`
        and :mod:`imputer._em.fdnewton`.
    max_iter : int, default 10000
        Iteration limit (outer EM iterations); stopping there without meeting tol is a
        warning and converged=false.
    init : dict, Series or sequence, optional
        Starting variances of the components and of 'residual' (all > 0); default: the
        residual variance of the OLS fit, shared equally. A term with several effects
        takes a d x d positive definite matrix (array, or DataFrame labelled by its
        effects; init must then be a dict).
    accelerate : bool, default True
        SQUAREM acceleration of EM, and Newton steps on EM's fixed point where EM is slow
        (scalar components), with a safeguard that never lets the objective decrease; off
        runs plain EM.
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
    MixedResult, or MultiTraitResult for an n x t ``y``

    Raises
    ------
    ImputerValueError, ImputerTypeError
        Invalid input; the message names the argument or column at fault.
    """
    if _is_multitrait(y):
        from imputer.mixed._multitrait_fit import fit_multitrait

        return fit_multitrait(
            y, X, ZETA, method=method, tol=tol, max_iter=max_iter, init=init, accelerate=accelerate,
            progress=progress, callback=callback, max_time=max_time,
        )
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
    random: Sequence[str] | None = None,
    kernels: Mapping[str, pd.DataFrame] | None = None,
    intercept: bool = True,
    contrasts: Mapping[str, str] | None = None,
    na_action: str = "error",
    method: str = "REML",
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    init: Any = None,
    accelerate: bool = True,
    progress: bool = False,
    callback: Callback | None = None,
    max_time: float | None = None,
    **dask_options: Any,
) -> MixedResult | MultiTraitResult | Any:
    """Fit a linear mixed model from the columns of a DataFrame (pandas, or Dask: see Returns).

    ``fit_mixed_frame(df, "Yield ~ 1 + (1 | Batch)")`` is lme4's
    ``lmer(Yield ~ 1 + (1 | Batch), df)``, the same as the keyword form
    ``fit_mixed_frame(df, "Yield", random=["Batch"])``; ``random=["batch", "batch:cask"]``
    adds a random intercept per observed ``batch x cask`` combination;
    ``fit_mixed_frame(df, "Reaction ~ Days + (Days | Subject)")`` is
    ``fit_mixed_frame(df, "Reaction", fixed=["Days"], random=["(Days | Subject)"])``.

    Parameters
    ----------
    data : DataFrame, shape (n, ...)
        One row per observation; the response may be NaN (those rows are predicted).
    response : str or list of str
        Column holding ``y``; or a whole formula ``"y ~ fixed terms + (x | g)"`` (lme4's
        notation: the fixed part in Wilkinson notation, parsed by formulaic -- ``a:b``,
        ``a*b``, ``0 +`` or ``- 1`` for no intercept -- and bar terms for the random
        part), in which case ``fixed``, ``random`` and ``intercept`` are not given; or a
        list of columns (two or more), which fits the multi-trait model of
        :func:`fit_mixed` (one random intercept term, optionally with its kernel).
    fixed : list of str, optional
        Fixed-effect terms: numeric columns enter as covariates, categorical/string/boolean
        ones as treatment-coded dummies (first level dropped; labels like ``"sample[T.B]"``);
        ``"a:b"`` is an interaction (labels ``"recipe[T.B]:temp"``), ``"a*b"`` is
        ``a + b + a:b``. See :mod:`imputer.mixed._fixed` for R's coding rules.
    random : list of str
        Grouping terms, each a random intercept: a column (``"batch"``) or an
        interaction of columns (``"batch:cask"``, levels labelled ``"A:a"``). Or lme4's
        bar notation for random slopes: ``"(Days | Subject)"`` (intercept and slope
        with an unstructured 2 x 2 covariance), ``"(0 + Days | Subject)"`` (the slope
        alone), ``"(1 + x + z | g)"`` (several numeric covariates),
        ``"(Days || Subject)"`` (independent effects). Such a term is named by its
        grouping part (``covariances["Subject"]``; a second term on the same grouping
        is ``"Subject.1"``) and its ``u``/``pev`` are levels x effects DataFrames.
    kernels : dict of str -> DataFrame, optional
        Relationship matrix ``K`` per term (``u ~ N(0, s2 K)``), indexed by level in its
        rows and columns; default identity. Its index defines the term's levels, so
        levels without observations are predicted too.
    intercept : bool, default True
        Include an ``"(Intercept)"`` column.
    contrasts : dict of str -> {"treatment", "poly"}, optional
        Coding of fixed-effect factors: ``"treatment"`` (default) or ``"poly"`` (R's
        ``contr.poly``, orthonormal polynomial contrasts for an ordered factor, labels
        ``"temp.L"``, ``"temp.Q"``, ``"temp.C"``, ``"temp^4"``, ...). ``summary()`` and
        ``result.contrasts`` say which coding each factor got.
    na_action : {"error", "drop"}, default "error"
        A missing value in a column the model uses (fixed effect, slope covariate,
        grouping factor): an error naming the column, or ``"drop"``: leave the row out
        (``result.n_dropped``, ``result.dropped``). Missing responses are predicted either way.
    method, tol, max_iter, init, accelerate, progress, callback, max_time
        As in :func:`fit_mixed`; ``init`` keys are the term names and ``"residual"``.
    **dask_options
        For a Dask DataFrame only: ``client`` (a ``distributed.Client``; default: dask's
        current scheduler).

    Returns
    -------
    MixedResult
        Components named by their terms; ``fitted``/``completed``/``residuals`` indexed
        like ``data`` (without dropped rows). For a ``dask.dataframe.DataFrame`` ``data``:
        a :class:`imputer.dask.DaskMixedResult` with the same estimates and lazy rows, by
        :func:`imputer.dask.mixed.fit_mixed_frame` (one pass for the levels, one for the
        mixed-model equations' sums; identity kernels, one response, ``na_action="error"``).

    Raises
    ------
    ImputerValueError, ImputerTypeError
        Naming the column, term or argument at fault.
    """
    if type(data).__module__.split(".")[0] in ("dask", "dask_expr"):  # by name: Dask imported only for it
        from imputer.dask.mixed import fit_mixed_frame as fit_mixed_dask

        return fit_mixed_dask(  # type: ignore[return-value]
            data, response, fixed=fixed, random=random, kernels=kernels, intercept=intercept, contrasts=contrasts,
            na_action=na_action, method=method, tol=tol, max_iter=max_iter, init=init, accelerate=accelerate,
            progress=progress, callback=callback, max_time=max_time, **dask_options,
        )
    if dask_options:
        raise ImputerTypeError(
            f"unexpected option(s) {', '.join(dask_options)} (client is an option for a "
            f"Dask DataFrame only; data is a {type(data).__name__})"
        )
    if isinstance(response, (list, tuple)):
        from imputer.mixed._multitrait_frame import fit_multitrait_frame

        if contrasts is not None or not (isinstance(na_action, str) and na_action.lower() == "error"):
            raise ImputerValueError(
                "contrasts and na_action='drop' are not available for a multi-trait response (a list of columns) yet"
            )

        return fit_multitrait_frame(
            data, list(response), fixed=fixed, random=random, kernels=kernels, intercept=intercept, method=method,
            tol=tol, max_iter=max_iter, init=init, accelerate=accelerate, progress=progress, callback=callback,
            max_time=max_time,
        )
    if isinstance(response, str) and "~" in response and not (isinstance(data, pd.DataFrame) and response in data.columns):
        given = [name for name, v in (("fixed", fixed), ("random", random)) if v is not None]
        given += [] if isinstance(intercept, (bool, np.bool_)) and intercept else ["intercept"]
        if given:
            raise ImputerValueError(
                f"{', '.join(given)}: give the model either as a formula or by keywords, not both"
            )
        if not isinstance(data, pd.DataFrame):
            raise ImputerTypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        from imputer.mixed._formula import parse_formula

        parsed = parse_formula(response, data.columns)
        response, fixed, random, intercept = parsed.response, parsed.fixed, parsed.random, parsed.intercept
    elif random is None:
        if isinstance(data, pd.DataFrame):
            check_response_type(data.columns, response)  # fit_mixed_frame(df, 3): not "give a grouping term"
        raise ImputerValueError(
            "random: give at least one grouping term, e.g. random=['batch'], "
            "or a formula such as 'y ~ x + (1 | batch)'"
        )
    problem = build_frame_problem(data, response, fixed, random, kernels, intercept, method, na_action, contrasts)
    return fit_problem(
        problem, method=method, tol=tol, max_iter=max_iter, init=init, accelerate=accelerate,
        progress=progress, callback=callback, max_time=max_time,
    )


def _is_multitrait(y: Any) -> bool:
    """Whether ``y`` is an n x t response with ``t >= 2`` (a DataFrame or a 2-D array)."""
    if isinstance(y, pd.DataFrame):
        return y.shape[1] >= 2
    if isinstance(y, (pd.Series, str, bytes)) or y is None:
        return False
    try:
        shape = np.shape(y) if isinstance(y, (np.ndarray, list, tuple)) else ()
    except ValueError:  # ragged nested lists: the univariate checks report them
        return False
    return len(shape) == 2 and shape[1] >= 2


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
    method = check_method(method)  # "reml" -> "REML"
    tol, max_iter = _check_options(tol, max_iter, accelerate)
    monitor = make_monitor(callback, progress, max_time, label="fit_mixed")
    ols = _centre(problem)
    engine, engine_name = _engine(problem, ols.X, ols.y0, ols.Z, method == "ML", engine_name)
    theta0 = _init(init, problem, _default_start(problem, ols))
    em, fin = run_em(engine, theta0, tol=tol, max_iter=max_iter, accelerate=accelerate, monitor=monitor)
    options = {"method": method, "tol": tol, "max_iter": max_iter, "accelerate": bool(accelerate)}
    return build_result(problem, _layout(problem), em, fin, ols.b, engine_name, options)


def run_em(engine: Any, theta0: np.ndarray, *, tol: float, max_iter: int, accelerate: bool, monitor: Any) -> tuple[Any, Any]:
    """EM from ``theta0`` (shape (layout.size + 1,)) on a built engine: the fit and its estimates.

    Shared by :func:`fit_problem` and the Dask fit (:mod:`imputer.dask.mixed`); warns
    (:class:`ConvergenceWarning`) when EM stopped without converging.

    Returns
    -------
    em : MixedFit
    fin : Estimates
    """
    with single_blas_thread(_small_system(engine)), watching(monitor):
        em = fit_components(engine, theta0, tol=tol, max_iter=max_iter, accelerate=bool(accelerate))
        try:
            fin = em.estimates(engine)
        except np.linalg.LinAlgError as exc:
            raise ImputerValueError(f"the mixed-model equations are singular at the estimate ({exc})") from None
    if monitor is not None and monitor.warn(stacklevel=4):
        pass
    elif not em.converged:
        warnings.warn(
            f"fit_mixed: EM did not converge in max_iter={max_iter} iterations (tol={tol:g}); "
            "the result is the last iterate",
            ConvergenceWarning,
            stacklevel=4,
        )
    return em, fin
