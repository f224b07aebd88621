r"""Multi-trait fit: checks, the EM problem over ``(vech G, vech R)``, the labelled result.

``fit_mixed(Y, X, ZETA)`` with an ``n x t`` response (``t >= 2``) comes here. The model
(:mod:`imputer.mixed._multitrait`) is ``vec(Y) = (I_t (x) X) vec(B) + (I_t (x) Z) vec(U)
+ vec(E)``, ``vec(U) ~ N(0, G (x) K)``, ``vec(E) ~ N(0, R (x) I)``: every trait has its
own fixed effects on the same ``X``; one random term (``Z``, ``K``) with an
unstructured ``t x t`` ``G``; an unstructured ``t x t`` residual ``R``. Rows with no
observed trait are left out of the fit and predicted; missing traits of the other rows
are handled exactly (their conditional expectations given every observed entry).

The packed EM parameter is ``x = (vech G, vech R)`` (lower triangles row by row);
feasible when both are positive definite; iterated by AI-REML steps safeguarded by EM
(:mod:`imputer.mixed._multitrait_ai`; ``accelerate=False``: plain EM); convergence measured like the univariate covariance terms
(:func:`imputer.mixed._problem.distance`: a covariance on the scale of its two variances).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from imputer._em import run_em
from imputer._em.monitor import Callback, make_monitor, watching
from imputer._gaussian.linalg import floor_correlation
from imputer._threads import single_blas_thread
from imputer.errors import ConvergenceWarning, ImputerValueError
from imputer.mixed._multitrait import MultiTraitEngine
from imputer.mixed._multitrait_ai import MultiTraitProblem, run_ai
from imputer.mixed._multitrait_dense import DenseMultiEngine
from imputer.mixed._output import SINGULAR_RTOL, _correlation
from imputer.mixed._spectral import _is_identity
from imputer.mixed._validate import Component, _check_rank, _coerce_X, _components, check_informative, check_method
from imputer.mixed._validate import check_options
from imputer.mixed._zeta import as_float
from imputer.mixed.multitrait_result import MultiTraitResult

__all__ = ["coerce_Y", "fit_multitrait", "fit_multitrait_parts"]

#: Largest number of fitted rows (one dense n x n eigendecomposition).
MAX_ROWS = 20_000
#: Largest number of observed trait values with several random terms (one dense N x N ``V`` per evaluation).
MAX_DENSE_ENTRIES = 6_000
#: Fitted rows up to which the iterations run on one BLAS thread (the eigendecomposition
#: before them keeps every thread): at n = 2,000 with 1,233 missing entries one evaluation
#: took 0.35 s on one thread against 0.43 s on two (2 cores, load 2.4; 1.1 against 3.9 s at
#: load 10), the H blocks being many medium-sized products.
_BLAS_SMALL = 5_000
_EXACT_FIT_RTOL = 100 * np.finfo(float).eps
#: Smallest eigenvalue of the start's correlation matrix (:func:`_start_correlation`).
_START_EIG_FLOOR = 0.05


def coerce_Y(Y: Any) -> tuple[np.ndarray, pd.Index, list[str]]:
    """``Y`` as a float (n, t) array, its row index and trait names (``y1, ...`` for an array)."""
    if isinstance(Y, pd.DataFrame):
        names = [str(c) for c in Y.columns]
        if len(set(names)) != len(names):
            raise ImputerValueError(f"Y: trait names are not unique: {names}")
        bad = [str(c) for c in Y.columns if not pd.api.types.is_numeric_dtype(Y[c])]
        if bad:
            raise ImputerValueError(f"Y: trait column(s) {bad} are not numeric")
        arr, index = Y.to_numpy(dtype=float, na_value=np.nan), Y.index
    else:
        arr = as_float(Y, "Y")
        if arr.ndim != 2:
            raise ImputerValueError(f"Y must be 2-D (n, t), got shape {arr.shape}")
        names = [f"y{j + 1}" for j in range(arr.shape[1])]
        index = pd.RangeIndex(arr.shape[0])
    if np.any(np.isinf(arr)):
        raise ImputerValueError("Y contains infinite values (use NaN for missing)")
    return arr.copy(), index, names


def _check_traits(
    Y: np.ndarray, X: np.ndarray, traits: list[str], x_names: list[str], field: str = "Y"
) -> tuple[np.ndarray, np.ndarray]:
    """Per trait: observed values, more than p of them, X of full rank on them, not fitted exactly.

    Errors name ``field`` (``"Y"`` for :func:`imputer.fit_mixed`, ``"response"`` for the table form) and the trait.

    Returns the per-trait OLS coefficients (p, t) and residual variances (t,).
    """
    p = X.shape[1]
    B = np.zeros((p, len(traits)))
    s2 = np.zeros(len(traits))
    for a, name in enumerate(traits):
        o = ~np.isnan(Y[:, a])
        if not o.any():
            raise ImputerValueError(f"{field}: trait {name!r} has no observed values")
        if o.sum() <= p:
            raise ImputerValueError(f"{field}: trait {name!r} has {int(o.sum())} observed values for {p} fixed effects")
        try:
            _check_rank(X[o], x_names)
        except ImputerValueError as exc:
            raise ImputerValueError(f"{field}: trait {name!r}: {exc}") from None
        b, *_ = np.linalg.lstsq(X[o], Y[o, a], rcond=None)
        res = Y[o, a] - X[o] @ b
        rss = float(res @ res)
        if rss <= _EXACT_FIT_RTOL**2 * float(Y[o, a] @ Y[o, a]) or rss == 0.0:
            raise ImputerValueError(
                f"{field}: trait {name!r} has zero variance about its fixed effects (fitted exactly by X); "
                "its covariances are not identifiable"
            )
        B[:, a], s2[a] = b, rss / (o.sum() - p)
    return B, s2


def _kernel_matrix(c: Component, fit_rows: np.ndarray) -> tuple[np.ndarray, int]:
    """``M = Z K Z'`` (n x n) on the fitted rows and ``rank(K)``."""
    Zf = c.Z[fit_rows]
    ZL = Zf.toarray() if c.L is None else np.asarray(Zf @ c.L)
    return ZL @ ZL.T, c.r


def _spectrum(c: Component, fit_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Eigenvalues (n,) and vectors (n, n) of ``M = Z K Z'`` on the fitted rows, and ``rank(K)``.

    ``Z = I`` (every level fitted, one row each, in order): ``K``'s own eigendecomposition, made
    once when the term was read (as the univariate spectral engine does).
    """
    Zf = c.Z[fit_rows]
    if c.eig is not None and _is_identity(Zf):
        w, Q = c.eig
        return np.clip(w, 0.0, None), Q, c.r
    ZL = Zf.toarray() if c.L is None else np.asarray(Zf @ c.L)
    s, U = np.linalg.eigh(ZL @ ZL.T)
    return np.clip(s, 0.0, None), U, c.r


def _start_correlation(Y0: np.ndarray, floor: float = _START_EIG_FLOOR) -> np.ndarray:
    """Correlations of the OLS residuals ``Y0`` (n, t; NaN where missing), pair by pair on the rows
    where both traits are observed; shrunk towards the identity until the smallest eigenvalue
    is at least ``floor``.

    The iterations start at ``G_j = Rho_s / ((k + 1) scale_j)`` for the ``k`` terms and
    ``R = Rho_s / (k + 1)``, ``Rho_s`` these correlations on the OLS variances: at n = 2,000
    with three correlated traits (the benchmark), 7 AI iterations instead of 9 from the
    diagonal matrices used before.
    """
    t = Y0.shape[1]
    obs = ~np.isnan(Y0)
    Z = np.where(obs, Y0, 0.0)
    rho = np.eye(t)
    for a in range(t):
        for b in range(a):
            both = obs[:, a] & obs[:, b]
            if both.sum() < 3:
                continue
            ya, yb = Z[both, a], Z[both, b]
            den = float(np.sqrt((ya @ ya) * (yb @ yb)))
            if den > 0 and np.isfinite(den):
                rho[a, b] = rho[b, a] = float(np.clip((ya @ yb) / den, -1.0, 1.0))
    return floor_correlation(rho, floor)


def _singular(S: np.ndarray) -> bool:
    d = np.diag(S)
    if np.any(d <= 0):
        return True
    return bool(np.linalg.eigvalsh(S / np.sqrt(np.outer(d, d)))[0] < SINGULAR_RTOL)


def fit_multitrait(
    Y: Any,
    X: Any,
    ZETA: Any,
    *,
    method: str = "REML",
    tol: float,
    max_iter: int,
    init: Any = None,
    accelerate: bool = True,
    progress: bool = False,
    callback: Callback | None = None,
    max_time: float | None = None,
) -> MultiTraitResult:
    """Validate a multi-trait ``fit_mixed`` call and fit it (see :func:`imputer.fit_mixed`)."""
    check_method(method)
    Yv, index, traits = coerce_Y(Y)
    n = Yv.shape[0]
    any_obs = ~np.isnan(Yv).all(axis=1)
    labels = index if isinstance(Y, pd.DataFrame) else None  # None: an array Y pairs X and Z by position
    Xv, x_names = _coerce_X(X, n, index, any_obs, labelled=labels is not None)
    comps = _components(ZETA, n, labels)
    return fit_multitrait_parts(
        Yv, index, traits, Xv, x_names, comps, method=method, tol=tol, max_iter=max_iter, init=init,
        accelerate=accelerate, progress=progress, callback=callback, max_time=max_time,
    )


def fit_multitrait_parts(
    Yv: np.ndarray,
    index: pd.Index,
    traits: list[str],
    Xv: np.ndarray,
    x_names: list[str],
    comps: list[Component],
    *,
    method: str,
    tol: float,
    max_iter: int,
    init: Any,
    accelerate: bool,
    progress: bool = False,
    callback: Callback | None = None,
    max_time: float | None = None,
    field: str = "Y",
) -> MultiTraitResult:
    """Fit validated parts (shared by the matrix and the table entry points; errors name ``field``)."""
    tol, max_iter = check_options(tol, max_iter, accelerate)
    if init is not None:
        raise ImputerValueError("init: not supported for a multi-trait Y (starts are the OLS variances and residual correlations)")
    if not comps or any(c.d != 1 for c in comps):
        raise ImputerValueError(
            "ZETA: a multi-trait Y takes random terms with one effect per level "
            f"(got {len(comps)} term(s){'' if not comps else ' with several effects'})"
        )
    fit_rows = ~np.isnan(Yv).all(axis=1)
    nf = int(fit_rows.sum())
    if nf > MAX_ROWS:
        raise ImputerValueError(f"Y: {nf} rows with observed traits; a multi-trait fit takes at most {MAX_ROWS}")
    check_informative(comps, fit_rows, Xv)
    B_ols, s2 = _check_traits(Yv[fit_rows], Xv[fit_rows], traits, x_names, field)
    if len(comps) == 1 and comps[0].eig is not None and not fit_rows.all() and _is_identity(comps[0].Z):
        # Z = I: K's own eigendecomposition covers every row; a row with no observed trait
        # adds missing entries (O(m^2 n) per evaluation), no likelihood term, where dropping
        # it would cost another n x n eigendecomposition
        fit_rows = np.ones(Yv.shape[0], dtype=bool)
    Xf, Yf = Xv[fit_rows], Yv[fit_rows]
    Y0 = Yf - Xf @ B_ols
    if len(comps) == 1:
        s, U, rank = _spectrum(comps[0], fit_rows)
        engine: Any = MultiTraitEngine(Xf, Y0, s, U, rank, method == "ML")
        scales = [max(float(np.mean(s)), 1e-12)]
    else:
        n_entries = int((~np.isnan(Yf)).sum())
        if n_entries > MAX_DENSE_ENTRIES:
            raise ImputerValueError(
                f"Y: {n_entries} observed trait values; a multi-trait fit with several random terms "
                f"(dense V) takes at most {MAX_DENSE_ENTRIES}"
            )
        Ms, ranks = zip(*(_kernel_matrix(c, fit_rows) for c in comps))
        engine = DenseMultiEngine(Xf, Y0, list(Ms), list(ranks), method == "ML")
        scales = [max(float(np.mean(np.diag(M))), 1e-12) for M in Ms]
    k = len(comps)
    problem = MultiTraitProblem(engine, k + 1)
    sd = np.sqrt(s2 / (k + 1))
    share = _start_correlation(Y0) * np.outer(sd, sd)
    x0 = problem.pack([share / sc for sc in scales] + [share])
    monitor = make_monitor(callback, progress, max_time, label="fit_mixed")
    with single_blas_thread(nf <= _BLAS_SMALL), watching(monitor):
        if accelerate:
            run = run_ai(problem, x0, tol=tol, max_iter=max_iter)
        else:
            problem.full = False
            run = run_em(problem, x0, tol=tol, max_iter=max_iter, accelerate=False)
    x = run.x if run.trace.stop_reason != "singular" else run.best
    mats = problem.matrices(x)
    *Gs, R = mats
    try:
        if k == 1:
            st = engine.state(*mats, traces=False)
            if st is None:
                raise np.linalg.LinAlgError
            loglik, B0, A = st.loglik, st.B, st.A
        else:
            loglik, B0, A = engine.final(mats)
    except np.linalg.LinAlgError:
        raise ImputerValueError("the multi-trait fit reached covariances where V is not positive definite") from None
    B = B_ols + B0
    Ahat = A.T  # (nf, t)
    fitted = Xv @ B
    Uhats = []
    for c, G in zip(comps, Gs):
        KZA = c.Z[fit_rows].T @ Ahat  # (q, t)
        if c.L is not None:
            KZA = c.L @ (c.L.T @ KZA)
        Uhats.append(KZA @ G)
        fitted = fitted + np.asarray(c.Z @ Uhats[-1])
    cond = fitted.copy()
    cond[fit_rows] += Ahat @ R
    miss = np.isnan(Yv)
    completed = np.where(miss, cond, Yv)
    for arr in (*mats, B, fitted):
        if not np.all(np.isfinite(arr)):
            raise ImputerValueError("the fit produced non-finite estimates; check the scaling of Y, X and K")
    names = [c.name for c in comps] + ["residual"]
    boundary = tuple(name for name, S in zip(names, mats) if _singular(S))
    if monitor is not None and monitor.warn(stacklevel=4):
        pass
    elif run.trace.stop_reason == "singular" and boundary:
        warnings.warn(
            f"fit_mixed: the maximum is on the boundary of the parameter space (singular covariance: "
            f"{', '.join(boundary)}); the estimate is that boundary point",
            ConvergenceWarning,
            stacklevel=4,
        )
    elif not run.trace.converged:
        warnings.warn(
            f"fit_mixed: EM did not converge ({run.trace.stop_reason}, max_iter={max_iter}, tol={tol:g}); "
            "the result is the last iterate",
            ConvergenceWarning,
            stacklevel=4,
        )
    t, p = len(traits), Xv.shape[1]
    n_obs = int((~miss).sum())
    d = t * p + (k + 1) * (t * (t + 1) // 2)
    tix = pd.Index(traits, name="trait")
    frame = lambda S: pd.DataFrame(S, index=tix, columns=tix)  # noqa: E731
    ll = loglik
    return MultiTraitResult(
        covariances={name: frame(S) for name, S in zip(names, mats)},
        correlations={name: frame(_correlation(S)) for name, S in zip(names, mats)},
        beta=pd.DataFrame(B, index=x_names, columns=tix),
        u={c.name: pd.DataFrame(Uh, index=c.levels, columns=tix) for c, Uh in zip(comps, Uhats)},
        fitted=pd.DataFrame(fitted, index=index, columns=tix),
        completed=pd.DataFrame(completed, index=index, columns=tix),
        loglik=float(ll),
        aic=-2.0 * ll + 2.0 * d,
        bic=-2.0 * ll + d * float(np.log(n_obs)),
        trace=run.trace,
        boundary=boundary,
        method=method,
        n_obs=n_obs,
        n_missing=int(miss.sum()),
        traits=tuple(traits),
        tol=tol,
        max_iter=max_iter,
        accelerate=bool(accelerate),
    )
