r"""``impute_glom``: the general location model for tables with categorical and continuous columns.

Model (Olkin & Tate, 1961; Little & Schluchter, 1985; Schafer, 1997, ch. 9). The ``J``
categorical columns of row ``i`` define its cell ``c`` (one level of each), with
probability ``pi_c`` (multinomial: saturated, one free probability per cell, or log-linear
with main effects and pairwise associations, :mod:`imputer.glom._loglinear`); given the
cell, the ``p`` continuous columns are ``x_i ~ N_p(mu_c, Sigma)``, the covariance common
to the cells. Cell means are saturated (``mu_c`` free) or additive, ``mu_c = beta_0 +
sum_j beta_{j, c_j}`` (main effects of each categorical column, the first level of each as
baseline). Cells are missing at random in both parts; EM maximises the observed-data
log-likelihood

.. math::

    \ell(\pi, \mu, \Sigma) = \sum_i \log \sum_{c \in \mathcal C_i} \pi_c\,
        N(x_{i,O_i};\ \mu_{c,O_i}, \Sigma_{O_iO_i}),

with ``O_i`` the observed continuous columns of row ``i`` and ``C_i`` the cells that agree
with its observed levels (one cell when every categorical cell of the row is observed).
A missing category is a latent label, as a mixture component is: a row with some levels
missing is a mixture over ``C_i`` with a common covariance and weights ``pi_c`` restricted
to ``C_i``. A missing categorical cell is filled with its most probable level (posterior
given the row's observed cells), a missing continuous cell with its conditional
expectation ``sum_c r_ic E[x_M | x_O, c]``. Without categorical columns the model is
:func:`imputer.impute`'s normal.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from imputer._em.monitor import Callback, make_monitor, watching
from imputer._gaussian.linalg import Infeasible
from imputer.errors import ConvergenceWarning, ImputerValueError
from imputer.glom._estep import GlomPlan
from imputer.glom._problem import GlomFit, GlomProblem, fit_glom, start_params
from imputer.glom._loglinear import n_free
from imputer.glom._validate import GlomInput, check_probabilities, choose_means, prepare_glom
from imputer.glom.result import GlomImputeResult
from imputer.mvn._fit import blas_threads
from imputer.mvn._scaling import scaling_of
from imputer.mvn._validate import check_options, check_rows
from imputer.mvn.api import DEFAULT_MAX_ITER, DEFAULT_TOL, _completed_frame

__all__ = ["impute_glom"]


def impute_glom(
    data: pd.DataFrame | Any,
    *,
    categorical: Sequence[Hashable] | Mapping[Hashable, Sequence[Any] | None] | str = "auto",
    continuous: Sequence[Hashable] | None = None,
    means: str = "auto",
    probabilities: str = "saturated",
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    accelerate: bool = True,
    progress: bool = False,
    callback: Callback | None = None,
    max_time: float | None = None,
) -> GlomImputeResult:
    """Fit the general location model to incomplete data by EM and fill every gap.

    Parameters
    ----------
    data : DataFrame or 2-D array-like, shape (n, k)
        Missing cells are NaN, None or ``pd.NA``.
    categorical : "auto" or list of labels, default "auto"
        The categorical columns (they define the cells). ``"auto"``: every pandas
        ``category`` column (ordered or not), every boolean column (``bool``,
        ``boolean``) and every numeric column with exactly two distinct observed values
        (0/1 or 1/2 answers: a missing answer is then a level, never 0.37). Text and
        object columns are categorical only when listed; otherwise they are carried
        through unchanged, as :func:`imputer.impute` does. A list: exactly these
        columns (any dtype; their distinct observed values are the levels, a
        ``category``'s in its categories' order). A dict ``{column: levels}``: these
        columns with these levels in this order (None: the observed ones); an observed
        value outside the levels is an error naming the column and the value.
    continuous : list of labels, optional
        Numeric columns to model as continuous even where the automatic rule would make
        them categorical (a two-valued measurement). Every numeric column that is not
        categorical is continuous.
    means : {"auto", "saturated", "additive"}, default "auto"
        Cell means: one free mean vector per cell, or main effects of each categorical
        column. ``"auto"``: saturated when every cell holds at least ``p + 1`` rows with
        all their categorical cells observed, additive otherwise.
    probabilities : {"saturated", "pairwise"}, default "saturated"
        Cell probabilities: one free probability per cell (the saturated multinomial), or
        the log-linear model with main effects and all pairwise associations of the
        categorical columns (no association of three or more; Schafer 1997, ch. 8), fitted
        by iterative proportional fitting to the expected two-way margins in each M-step
        (ECM: the log-likelihood still never decreases). Needs three or more categorical
        columns to differ from the saturated model; it takes ``sum_j (L_j - 1) +
        sum_{j<k} (L_j - 1)(L_k - 1)`` free probabilities instead of ``C - 1``.
    tol : float, default 1e-7
        EM stops when no cell probability, and no mean or covariance entry in
        standard-deviation units, changes by more than tol between iterates.
    max_iter : int, default 1000
        Iteration limit (SQUAREM cycles of up to three EM steps).
    accelerate : bool, default True
        SQUAREM acceleration with a monotonicity safeguard; off runs plain EM.
    progress, callback, max_time
        As for :func:`imputer.impute`.

    Returns
    -------
    GlomImputeResult
        ``probabilities`` (by cell), ``cell_means`` (cells x continuous), ``cov``,
        ``level_probabilities`` (each missing categorical cell's posterior), ``loglik``,
        ``completed``: categorical columns keep their dtype (a ``category`` keeps its
        categories).

    Raises
    ------
    ImputerValueError
        Empty data, duplicate names, a single row, an unknown or repeated column, a
        column in both lists, a modelled column with no observed value, an infinite or
        constant continuous column, a value outside the levels given for its column
        (or a listed level never observed), more than 4096 cells (naming the column with the
        most levels), ``means="saturated"`` with a cell that no fully observed row lies
        in, ``probabilities`` not one of its values, an option out of range.
    ImputerTypeError
        Nothing to model, a non-numeric column in ``continuous``, an option of wrong type.

    Warns
    -----
    ConvergenceWarning
        No convergence within ``max_iter``, or the covariance heading to singular.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import imputer
    >>> df = pd.DataFrame({
    ...     "sex": pd.Categorical(["f", "m", None, "f", "m", "m", "f", None]),
    ...     "height": [162.0, 180.0, 175.0, np.nan, 178.0, 183.0, 165.0, 160.0],
    ... })
    >>> res = imputer.impute_glom(df)
    >>> res.completed["sex"].tolist()
    ['f', 'm', 'm', 'f', 'm', 'm', 'f', 'f']
    """
    tol, max_iter, _, accelerate = check_options(tol, max_iter, 0.0, accelerate)
    probabilities = check_probabilities(probabilities)
    monitor = make_monitor(callback, progress, max_time, label="impute_glom")
    inp = prepare_glom(data, categorical, continuous)
    model = choose_means(means, inp)
    n, p = inp.n_rows, len(inp.continuous)
    mask = np.empty((n, p), dtype=bool)
    for j, v in enumerate(inp.values):
        mask[:, j] = np.isnan(v)
    scaling = scaling_of(inp.continuous, inp.values, mask)
    check_rows(n, p, 0.0)
    z = np.empty((n, p))
    for j, v in enumerate(inp.values):
        z[:, j] = (v - scaling.center[j]) / scaling.scale[j]
    ll_off = scaling.loglik_offset(0.0)[0]
    if monitor is not None:
        monitor.offset = ll_off
    with blas_threads(max(p, 1)):
        plan = GlomPlan(z, inp.codes, inp.cells)
        design = inp.cells.additive_design() if model == "additive" else None
        loglinear = probabilities == "pairwise"
        problem = GlomProblem(plan, design, loglinear)
        with watching(monitor):
            try:
                fit = fit_glom(problem, start_params(plan, inp.codes, loglinear), tol=tol, max_iter=max_iter, accelerate=accelerate)
            except Infeasible:  # pragma: no cover - the start (Sigma = I, positive pi) is valid
                raise ImputerValueError("the general location model has no valid start on these data") from None
    if monitor is None or not monitor.warn(stacklevel=2):
        _warn(fit, tol, max_iter)
    return _result(inp, model, probabilities, fit, scaling, mask, ll_off, design, tol=tol, max_iter=max_iter, accelerate=accelerate)


def _warn(fit: GlomFit, tol: float, max_iter: int) -> None:
    if fit.trace.stop_reason == "singular":
        warnings.warn(
            "the within-cell covariance heads to singular (the likelihood has no maximum: too few rows per cell, or "
            "a continuous column determined by the cells); the estimates are not reliable. Try means='additive' or "
            "fewer categorical columns",
            ConvergenceWarning,
            stacklevel=3,
        )
    elif fit.trace.stop_reason == "max_iter":
        warnings.warn(
            f"EM did not converge within max_iter={max_iter} iterations (tol={tol:g}); increase max_iter or tol",
            ConvergenceWarning,
            stacklevel=3,
        )


def _fill_levels(series: pd.Series, rows: np.ndarray, levels: list[object], probs: np.ndarray) -> Any:
    """The column's values (a copy) with ``rows`` set to their most probable level; the dtype kept."""
    arr = series.array.copy()
    best = np.argmax(probs, axis=1)
    arr[rows] = pd.array([levels[b] for b in best], dtype=arr.dtype)
    return arr


def _result(
    inp: GlomInput, model: str, probabilities: str, fit: GlomFit, scaling: Any, mask: np.ndarray, ll_off: float, design: np.ndarray | None,
    *, tol: float, max_iter: int, accelerate: bool,
) -> GlomImputeResult:
    """The labelled result, in original units."""
    frame, cells = inp.frame, inp.cells
    n, p = inp.n_rows, len(inp.continuous)
    params = fit.params
    cont = pd.Index(list(inp.continuous), tupleize_cols=False)
    n_miss_cont = mask.sum(axis=0)
    filled = scaling.center + scaling.scale * fit.zfill
    for j, v in enumerate(inp.values):
        filled[~mask[:, j], j] = v[~mask[:, j]]
    completed = _completed_frame(frame, inp.continuous, filled, n_miss_cont)
    position = {c: k for k, c in enumerate(frame.columns)}
    level_probs: dict[Hashable, pd.DataFrame] = {}
    for j, label in enumerate(inp.categorical):
        rows, probs = fit.posteriors[j]
        cols = pd.Index(cells.levels[j], dtype=object, name=label)
        level_probs[label] = pd.DataFrame(probs, index=frame.index[rows], columns=cols)
        if rows.size:
            arr = _fill_levels(frame[label], rows, cells.levels[j], probs)
            completed.isetitem(position[label], pd.Series(arr, index=completed.index, dtype=arr.dtype, copy=False))  # no dtype inference
    index = cells.index()
    n_mean = (cells.n_cells if design is None else design.shape[1]) * p
    n_pi = n_free(cells.shape) if probabilities == "pairwise" and inp.categorical else cells.n_cells - 1
    n_missing = pd.Series(
        np.r_[(inp.codes < 0).sum(axis=0), n_miss_cont].astype(np.int64),
        index=pd.Index(list(inp.categorical) + list(inp.continuous), tupleize_cols=False),
        name="n_missing",
    )
    modelled = set(inp.categorical) | set(inp.continuous)
    return GlomImputeResult(
        completed=completed,
        probabilities=pd.Series(params.pi, index=index, name="probability"),
        cell_means=pd.DataFrame(scaling.center + scaling.scale * params.means, index=index.copy(), columns=cont),
        cov=pd.DataFrame(params.sigma * np.outer(scaling.scale, scaling.scale), index=cont.copy(), columns=cont.copy()),
        level_probabilities=level_probs,
        loglik=fit.loglik + ll_off,
        trace=fit.trace.shifted(ll_off),
        means=model,
        probability_model=probabilities,
        n_parameters=n_pi + n_mean + p * (p + 1) // 2,
        categorical=inp.categorical,
        continuous=inp.continuous,
        passthrough=tuple(c for c in frame.columns if c not in modelled),
        n_missing=n_missing,
        n_rows=n,
        n_cells=cells.n_cells,
        tol=tol,
        max_iter=max_iter,
        accelerate=accelerate,
    )


