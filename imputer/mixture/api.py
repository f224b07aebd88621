r"""``impute_mixture``: Gaussian-mixture EM imputation of an incomplete table.

Model. Row ``i``'s modelled columns come from one of ``K`` components, component ``k``
with probability ``pi_k``, and are then ``x_i ~ N_p(mu_k, Sigma_k)``; cells are missing at
random. EM (Ghahramani & Jordan, 1994) maximises the observed-data log-likelihood

.. math::

    \ell(\pi, \mu, \Sigma) = \sum_i \log \sum_{k=1}^K \pi_k\,
        N(x_{i,O_i};\ \mu_{k,O_i}, \Sigma_{k,O_iO_i}),

with ``O_i`` the observed columns of row ``i``, or with ``ridge = lambda > 0`` the
log-posterior that adds ``-(lambda/2)[log|Sigma| + tr(Sigma^{-1} D)]`` per covariance
(``D = diag`` of the columns' observed variances, as :func:`imputer.impute`'s prior; one
term for ``covariance_type="tied"``, ``K`` otherwise). The prior keeps every covariance
positive definite, so it also stops a component from collapsing onto a few rows.
Responsibilities ``r_ik = P(component k | x_{i,O})``; a missing cell is filled with the
mixture's conditional expectation ``sum_k r_ik E_k[x_{i,M} | x_{i,O}]``.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from imputer._em.monitor import Callback, make_monitor, watching
from imputer._gaussian.linalg import Infeasible
from imputer._gaussian.patterns import build_patterns
from imputer.errors import ConvergenceWarning, ImputerValueError
from imputer.mixture import _engine as engine
from imputer.mixture._validate import check_components, check_covariance_type, check_n_init, check_seed
from imputer.mixture.result import MixtureImputeResult, MixtureMoments
from imputer.mvn._scaling import Scaling, scaling_of
from imputer.mvn._validate import Prepared, check_options, check_rows, prepare
from imputer.mvn.api import DEFAULT_MAX_ITER, DEFAULT_TOL, _completed_frame

__all__ = ["impute_mixture"]


def impute_mixture(
    data: pd.DataFrame | Any,
    n_components: int | Sequence[int] | range = 2,
    *,
    covariance_type: str = "full",
    n_init: int = 10,
    seed: int | np.random.SeedSequence | None = None,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    ridge: float = 0.0,
    columns: Sequence[Hashable] | None = None,
    progress: bool = False,
    callback: Callback | None = None,
    max_time: float | None = None,
) -> MixtureImputeResult:
    """Fit a Gaussian mixture to incomplete data by EM and fill the gaps with its conditional means.

    Parameters
    ----------
    data : DataFrame or 2-D array-like, shape (n, k)
        As for :func:`imputer.impute`: missing cells are NaN, None or ``pd.NA``; numeric
        columns are modelled, others carried through unchanged.
    n_components : int or list/range of int, default 2
        Number of components ``K`` (1 to the number of rows). Several: each is fitted
        and the one with the lowest BIC is returned; ``bic_table`` shows them all.
    covariance_type : {"full", "tied", "diag", "spherical"}, default "full"
        scikit-learn's names: each component its own covariance; one shared covariance;
        diagonal covariances; one variance per component (spherical in the data's
        units). mclust's ``VVV``, ``EEE``, ``VVI``, ``VII``.
    n_init : int, default 10
        Starts (k-means++ and Lloyd on the data with missing cells at column means);
        the fit with the highest log-likelihood (log-posterior with a ridge) is kept.
    seed : int, numpy SeedSequence or None, default None
        Root of the starts' random streams; an integer makes the fit reproducible.
    tol : float, default 1e-7
        Convergence tolerance: EM stops when no weight, and no mean or covariance entry
        in standard-deviation units, changes by more than tol between iterates.
    max_iter : int, default 1000
        Iteration limit per start (SQUAREM cycles of up to three EM steps).
    ridge : float, default 0.0
        Strength lambda >= 0 of an inverse-Wishart prior on each covariance worth lambda
        pseudo-rows with the observed variances and no correlation (as in
        :func:`imputer.impute`); 0 is maximum likelihood.
    columns : sequence of labels, optional
        Columns to model (numeric, in this order); default: every numeric column.
    progress, callback, max_time
        Progress line, per-iterate ``callback(iteration, progress)`` (truthy return stops)
        and time limit in seconds for the whole call (every start and every K), as in
        :func:`imputer.impute`; the objective shown is in standardised units.

    Returns
    -------
    MixtureImputeResult
        Weights, means, covariances, responsibilities, labels, the completed table,
        log-likelihood, AIC and BIC (``-2 loglik + k log n``, scikit-learn's sign; mclust
        reports ``2 loglik - k log n``, the negative).

    Raises
    ------
    ImputerValueError
        As for :func:`imputer.impute`; ``n_components`` below 1 or above the number of
        rows; an unknown ``covariance_type``; ``n_init < 1``; no start gave a valid
        mixture.
    ImputerTypeError
        An option of the wrong type.

    Warns
    -----
    ConvergenceWarning
        A component collapsed (its covariance heads to singular: the likelihood has no
        maximum) in every start, or EM did not converge within ``max_iter``; the result
        then has ``converged=False``. Collapsed starts are dropped when others did not
        collapse (``n_singular_starts`` counts them).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import imputer
    >>> rng = np.random.default_rng(0)
    >>> x = np.r_[rng.normal(0, 1, 60), rng.normal(8, 1, 40)]
    >>> df = pd.DataFrame({"x": x, "y": 2 * x + rng.normal(0, 1, 100)})
    >>> df.iloc[::7, 1] = np.nan
    >>> res = imputer.impute_mixture(df, 2, seed=1)
    >>> res.completed.isna().any().any()
    np.False_
    """
    tol, max_iter, ridge, _ = check_options(tol, max_iter, ridge, True)
    covariance_type = check_covariance_type(covariance_type)
    n_init = check_n_init(n_init)
    root = check_seed(seed)
    # the int that repeats the fit (None for a SeedSequence passed in)
    seed_int = int(root.entropy) if not isinstance(seed, np.random.SeedSequence) else None  # type: ignore[arg-type]
    monitor = make_monitor(callback, progress, max_time, label="impute_mixture")
    prep = prepare(data, columns)
    n, p = prep.n_rows, len(prep.columns)
    counts = check_components(n_components, n)
    mask = np.empty((n, p), dtype=bool)
    for j, v in enumerate(prep.values):
        mask[:, j] = np.isnan(v)
    n_missing = mask.sum(axis=0)
    scaling = scaling_of(prep.columns, prep.values, mask)
    check_rows(n, p, ridge)
    patterns = build_patterns(mask)
    runs: dict[int, engine.ComponentsRun] = {}
    with watching(monitor):
        _run_all(runs, counts, prep, patterns, scaling, covariance_type, n_init, root, tol, max_iter, ridge)
    results = {k: _result(prep, scaling, r, mask, n_missing, tol=tol, max_iter=max_iter, ridge=ridge, n_init=n_init, seed=seed_int) for k, r in runs.items()}
    table = _bic_table(results) if len(counts) > 1 else None
    best = min(results.values(), key=lambda r: r.bic) if table is not None else results[counts[0]]
    if table is not None:
        best = best.with_bic_table(table)
    if monitor is None or not monitor.warn(stacklevel=2):
        _warn(best, tol, max_iter)
    return best


def _run_all(
    runs: dict[int, engine.ComponentsRun], counts: Sequence[int], prep: Prepared, patterns: Any, scaling: Any,
    covariance_type: str, n_init: int, root: np.random.SeedSequence, tol: float, max_iter: int, ridge: float,
) -> None:
    """Fit every K in ``counts`` into ``runs``; a K with no valid start is an error naming it."""
    for k in counts:
        try:
            runs[k] = engine.run(
                prep.values, patterns, scaling, k=k, covariance_type=covariance_type, n_init=n_init,
                root=root, tol=tol, max_iter=max_iter, ridge=ridge,
            )
        except Infeasible:
            raise ImputerValueError(
                f"n_components={k}: no start gave a valid mixture (a component's covariance is singular "
                "from the start); pass ridge > 0 or fewer components"
            ) from None


def _warn(res: MixtureImputeResult, tol: float, max_iter: int) -> None:
    if res.trace.stop_reason == "singular":
        warnings.warn(
            f"n_components={res.n_components}: a component collapsed in every start (its covariance heads to "
            "singular on a few rows, where the likelihood has no maximum); the estimates are not reliable. "
            "Pass ridge > 0 (e.g. 0.5-1% of the rows) or fewer components",
            ConvergenceWarning,
            stacklevel=3,
        )
    elif res.trace.stop_reason == "max_iter":
        warnings.warn(
            f"EM did not converge within max_iter={max_iter} iterations (tol={tol:g}); increase max_iter or tol",
            ConvergenceWarning,
            stacklevel=3,
        )


def _bic_table(results: dict[int, MixtureImputeResult]) -> pd.DataFrame:
    rows = {
        k: {"loglik": r.loglik, "n_parameters": r.n_parameters, "aic": r.aic, "bic": r.bic, "converged": r.converged}
        for k, r in results.items()
    }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "n_components"
    return table


def _result(
    prep: Prepared,
    scaling: Scaling,
    out: engine.ComponentsRun,
    mask: np.ndarray,
    n_missing: np.ndarray,
    *,
    tol: float,
    max_iter: int,
    ridge: float,
    n_init: int,
    seed: int | None = None,
) -> MixtureImputeResult:
    """The labelled result of one ``K``, in original units."""
    fit, cov_type = out.fit, out.cov_type
    params, ev = fit.params, fit.evaluation
    k = params.weights.size
    n = prep.n_rows
    labels = pd.Index(list(prep.columns), tupleize_cols=False)
    comps = pd.RangeIndex(k, name="component")
    means = scaling.center + scaling.scale * params.means
    covs = params.covs * np.outer(scaling.scale, scaling.scale)
    ll_off = -float(scaling.n_observed @ np.log(scaling.scale))
    obj_off = ll_off - cov_type.n_priors * ridge * float(np.sum(np.log(scaling.scale)))
    resp = pd.DataFrame(ev.resp, index=prep.frame.index, columns=comps.copy())
    return MixtureImputeResult(
        completed=_completed_frame(prep.frame, prep.columns, out.completed, n_missing),
        weights=pd.Series(params.weights, index=comps.copy(), name="weight"),
        means=pd.DataFrame(means, index=comps.copy(), columns=labels),
        covs=tuple(pd.DataFrame(c, index=labels, columns=labels.copy()) for c in covs),
        responsibilities=resp,
        labels=pd.Series(np.argmax(ev.resp, axis=1), index=prep.frame.index, name="component"),
        loglik=ev.loglik + ll_off,
        trace=fit.trace.shifted(obj_off),
        covariance_type=cov_type.name,
        n_parameters=cov_type.n_parameters(),
        columns=prep.columns,
        passthrough=prep.passthrough(),
        n_missing=pd.Series(n_missing.astype(np.int64), index=labels, name="n_missing"),
        n_rows=n,
        n_patterns=out.data.patterns.n_patterns,
        n_init=n_init,
        seed=seed,
        n_singular_starts=out.n_singular,
        ridge=ridge,
        tol=tol,
        max_iter=max_iter,
        bic_table=None,
        conditional_var_source=MixtureMoments(out.data, params, ev.resp, scaling.scale, mask, prep.frame.index, labels),
    )
