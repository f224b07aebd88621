r"""``impute``: multivariate-normal EM imputation of an incomplete table.

Model. The modelled columns of row ``i`` are ``x_i ~ N_p(mu, Sigma)``, i.i.d., with
cells missing at random (the probability a cell is missing may depend on observed cells,
not on the missing values themselves). EM maximises the observed-data log-likelihood

.. math::

    \ell(\mu, \Sigma) = \sum_i \log N(x_{i,O_i};\ \mu_{O_i}, \Sigma_{O_i O_i}),

where ``O_i`` is the set of observed columns of row ``i``. With ``ridge = lambda > 0`` it
maximises the log-posterior

.. math::

    \ell(\mu, \Sigma) - \tfrac{\lambda}{2}\big[\log|\Sigma| + \operatorname{tr}(\Sigma^{-1} D)\big],
    \qquad D = \operatorname{diag}(s_1^2, \dots, s_p^2),

with ``s_j^2`` the variance (divisor ``n_j``) of column ``j``'s observed cells: a flat
prior on ``mu`` and the inverse-Wishart kernel ``|Sigma|^{-lambda/2}
exp(-tr(lambda D Sigma^{-1})/2)`` on ``Sigma`` (scale ``lambda D``, ``lambda - p - 1``
degrees of freedom), i.e. ``lambda`` prior pseudo-rows with the observed variances and no
correlation. The M-step is ``Sigma = (A + lambda D) / (n + lambda)``, shrinking the
covariance toward the diagonal as Schafer's ``norm`` and Amelia's ``empri`` do (a common
choice is ``ridge`` = 0.5-1% of the rows). EM never decreases this objective.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from imputer._em.monitor import Callback, make_monitor, watching
from imputer._gaussian.linalg import Infeasible
from imputer._gaussian.patterns import Patterns, build_patterns
from imputer._gaussian.prior import RidgePrior
from imputer._util import frame_like
from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.mvn import _engine as engine
from imputer.mvn._fit import blas_threads, conditional_variances
from imputer.mvn._information import InformationSource
from imputer.mvn._problem import warn_if_unreliable
from imputer.mvn._scaling import Scaling, scaling_of
from imputer.mvn._validate import (
    Prepared, check_options, check_prior, check_rows, is_dask, not_for_dask, prepare, standardised_start,
)
from imputer.mvn.result import ImputeResult
from imputer.transform.result import TransformedImputeResult
from imputer.panel.result import PanelImputeResult
from imputer.options import MVN_OPTIONS

if TYPE_CHECKING:  # imported when used: imputer.glom imports this module
    from imputer.glom.result import GlomImputeResult

__all__ = ["impute", "DEFAULT_TOL", "DEFAULT_MAX_ITER"]

#: Default convergence tolerance (largest parameter change in standard-deviation units).
DEFAULT_TOL: float = MVN_OPTIONS["tol"].default
#: Default iteration limit.
DEFAULT_MAX_ITER: int = MVN_OPTIONS["max_iter"].default


def _completed_frame(frame: pd.DataFrame, columns: tuple[Hashable, ...], filled: np.ndarray, n_missing: np.ndarray) -> pd.DataFrame:
    position = {c: k for k, c in enumerate(columns)}
    parts: dict[int, Any] = {}
    for k, label in enumerate(frame.columns):
        col = frame.iloc[:, k]
        j = position.get(label)
        if j is None or n_missing[j] == 0:
            parts[k] = col.array.copy()  # the result owns its data: later edits of the input don't reach it
        elif isinstance(col.dtype, pd.api.extensions.ExtensionDtype):
            parts[k] = pd.array(filled[:, j], dtype="Float64")
        else:
            parts[k] = filled[:, j]
    return frame_like(parts, frame)


def impute(
    data: pd.DataFrame | Any,
    *,
    columns: Sequence[Hashable] | None = None,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    ridge: float = 0.0,
    prior: str = "ridge",
    accelerate: bool = True,
    progress: bool = False,
    callback: Callback | None = None,
    max_time: float | None = None,
    transforms: Mapping[Hashable, Any] | None = None,
    bounds: Mapping[Hashable, Any] | None = None,
    categorical: Sequence[Hashable] | Mapping[Hashable, Any] | str | None = None,
    continuous: Sequence[Hashable] | None = None,
    means: str | None = None,
    probabilities: str | None = None,
    panel: Mapping[str, Any] | None = None,
    idvars: Sequence[Hashable] | None = None,
    start: tuple[Any, Any] | None = None,
    **dask_options: Any,
) -> ImputeResult | TransformedImputeResult | GlomImputeResult | PanelImputeResult:
    """Estimate a multivariate normal from incomplete data by EM and fill the gaps.

    Parameters
    ----------
    data : DataFrame or 2-D array-like, shape (n, k)
        Missing cells are NaN, None or ``pd.NA`` (float and nullable ``Int64``/``Float64``
        columns alike). Numeric columns are modelled; others (strings, categories,
        datetimes, booleans) are carried through unchanged. An array becomes a DataFrame
        with columns ``0 .. k-1``.
    columns : sequence of labels, optional
        Columns to model (numeric, in this order); default: every numeric column.
        Other columns are carried through unchanged.
    tol : float, default 1e-7
        Convergence tolerance, in standard-deviation units: EM stops when one EM step
        changes no mean or covariance entry by more than tol, times (1 - the EM rate
        estimated along the way) for the accelerated normal model, so that its estimate
        is within about tol of the maximiser. Exactly: the change ``delta`` of one EM step
        from an accepted iterate is the largest of ``max_j |mu'_j - mu_j| / sqrt(s_jj)``
        and ``max_jk |s'_jk - s_jk| / sqrt(s_jj s_kk)`` (units of the older iterate);
        since EM converges at the rate ``rho`` (the largest fraction of missing
        information), the distance from the maximiser is about ``delta / (1 - rho)``.
        With ``accelerate=True`` EM stops at the first accepted iterate with ``delta <=
        max(tol * (1 - rho_hat), min(tol, 1e-13))`` and returns its EM update,
        ``rho_hat`` being the rate estimated from the accelerator's recent steps (the
        largest Ritz value of the EM map's Jacobian on the span of its memory, clipped to
        [0, 0.9999], the largest such estimate of the last 10 iterations; at and just
        after Newton steps, 0.9999; see :mod:`imputer._em.anderson`). At the default the
        estimate is within 1e-6 standard deviations of the exact maximiser even where most information is
        missing (measured: 3e-8 on mice's ``boys``, rate 0.993; 2e-8 on Little & Rubin's
        ``missvals``, rate 0.956). With ``accelerate=False`` plain EM stops at ``delta <=
        tol``, i.e. up to ``1 / (1 - rho)`` times farther.
    max_iter : int, default 1000
        Iteration limit (accelerated: accepted iterates of one or two EM steps for the
        normal model, SQUAREM cycles of up to three for the t); stopping there without
        meeting tol is a warning and converged=false.
    ridge : float, default 0.0
        Strength lambda >= 0 of an inverse-Wishart prior on the covariance worth lambda
        pseudo-rows with the observed variances and no correlation, which EM then
        maximises the log-posterior under; 0 is maximum likelihood, > 0 gives a
        positive-definite estimate for wide (p >= n) or collinear data. See the module
        docstring.
    prior : {"ridge", "amelia"}, default "ridge"
        Convention of the ridge prior: ridge (imputer's: the covariance is (A + lambda I) /
        (n + lambda) on the standardised scale) or amelia (Amelia's empri: (A + lambda I) /
        (n + lambda + p + 2) on Amelia's scale, whose unit is the sample standard deviation),
        for the same estimates as Amelia with empri = ridge. In our units Amelia's kernel
        weights ``log|Sigma|`` by ``lambda + p + 2`` and scales its ``I`` by ``n_j / (n_j -
        1)`` (:mod:`imputer._gaussian.prior`); the same estimates as ``Amelia::amelia(...,
        empri=lambda)``'s EM for an integer ``lambda`` (Amelia truncates a fractional
        ``empri``). Ignored when ``ridge`` is 0.
    accelerate : bool, default True
        Acceleration of EM (Anderson for the normal model, SQUAREM for the t) with a
        safeguard that never lets the objective decrease; off runs plain EM. Anderson
        extrapolates in the mean and the Cholesky factors of the covariance.
    progress : bool, default False
        Show a progress line on standard error (tqdm) once the fit has run for a second:
        iterates, objective, parameter change.
    callback : callable, optional
        ``callback(iteration, progress)`` at every accepted EM iterate, with a frozen
        :class:`imputer.Progress` (``iteration``, ``n_evals``, ``objective``, ``change``,
        ``elapsed``); a truthy return stops the fit there (``stop_reason="stopped"``).
    max_time : float, optional
        Seconds after which the fit stops at the next iterate (``stop_reason="max_time"``).
        A fit stopped by ``callback`` or ``max_time`` returns the best iterate so far with
        ``converged=False`` and a warning.
    transforms : dict, optional
        Columns modelled on another scale (Amelia's ``logs``, ``sqrts``, ``lgstc``):
        ``{"tariff": "log", "count": "sqrt", "share": ("logit", 0, 100)}`` (``"logit"``
        alone: the range (0, 1)). The normal is fitted to the transformed columns; the
        estimates are on that scale, labelled ``log(tariff)`` etc.; fills are conditional
        expectations on the original scale (``exp(m + v/2)`` for a log column).
    bounds : dict, optional
        ``{"x": (lower, upper)}`` (either ``None``) on untransformed or log columns: fills
        are the conditional means of the conditional distribution truncated to the bounds
        (not clipped). With ``transforms`` or ``bounds`` the result is a
        :class:`~imputer.transform.TransformedImputeResult` (see :mod:`imputer.transform.api`).
    categorical : "auto" or list of labels, optional
        Model categorical columns too, by the general location model
        (:func:`imputer.impute_glom`: cells of the categorical columns with multinomial
        probabilities, the continuous columns normal given the cell with a common
        covariance; a missing category is filled with its most probable level, keeping
        the column's dtype). ``"auto"``: pandas ``category`` and boolean columns and
        numeric columns with exactly two distinct observed values (0/1 answers);
        a list: exactly these columns (text columns are categorical only when listed);
        a dict ``{column: levels}`` fixes their levels.
        Default None: no categorical model, and such columns are carried through
        unchanged as before. With ``"auto"`` finding no categorical column, the result
        is this function's normal model. The result is then a
        :class:`~imputer.glom.GlomImputeResult`.
    continuous : list of labels, optional
        With ``categorical``: numeric columns kept continuous whatever the automatic rule says.
    means : {"auto", "saturated", "additive"}, optional
        With ``categorical``: the cell-mean model (see :func:`imputer.impute_glom`).
    probabilities : {"saturated", "pairwise"}, optional
        With ``categorical``: the cell-probability model, saturated (default) or log-linear
        with main effects and pairwise associations (see :func:`imputer.impute_glom`).
    panel : dict, optional
        A time-series cross-section (Amelia's ``ts``, ``cs``, ``polytime``, ``intercs``,
        ``lags``, ``leads``): ``{"time": "year", "unit": "country", "polytime": 2,
        "intercs": True, "lags": ["gdp"], "leads": ["gdp"]}``. Adds fully observed time
        polynomials of degree ``polytime`` (one per unit with ``intercs``) and lags/leads
        of the named columns within each unit to the model, so a gap in a unit's series
        is filled from its own trend; the time and unit columns are not modelled. The
        result is a :class:`~imputer.panel.PanelImputeResult`: estimates of the augmented
        model, ``completed`` with exactly the input's columns (see :mod:`imputer.panel.api`).
    idvars : sequence of labels, optional
        Columns carried through unmodelled and untouched (Amelia's ``idvars``).
    start : (mean, cov), optional
        Starting values of EM instead of the engine's own (zero mean and the
        pairwise-complete correlation, standardised): a mean, shape (p,), and a positive
        definite covariance, shape (p, p), in the data's units; a Series and a DataFrame
        are aligned to the modelled columns by label (e.g. a previous fit's ``mean`` and
        ``cov``, or the best run of :func:`imputer.disperse`). Where the objective has
        several maxima EM ends at the one its start leads to. The multivariate-normal
        model only (not with ``transforms``, ``bounds``, ``categorical``, ``panel``,
        ``idvars`` or a Dask DataFrame).
    **dask_options
        ``persist``, ``client``: only for a Dask DataFrame, which
        :func:`imputer.dask.impute` fits (partition by partition, the same estimates; with
        ``progress``, dask's progress bar and a line per EM evaluation) and returns as a
        :class:`~imputer.dask.DaskImputeResult` with lazy tables. The options it has not
        (``callback``, ``max_time``, ``transforms``, ``bounds``, ``prior="amelia"``,
        ``categorical``, ``continuous``, ``means``, ``probabilities``, ``panel``, ``idvars``,
        ``start``) are an :class:`~imputer.errors.ImputerTypeError` naming them.

    Returns
    -------
    ImputeResult
        Completed table, estimates, log-likelihood, history and conditional variances.
        Modelled columns with missing cells come back as ``float64`` (``Float64`` for
        pandas nullable dtypes such as ``Int64``), since conditional means are not
        integers; every other column keeps its dtype and values.

    Raises
    ------
    ImputerValueError
        Empty data, duplicate column names, a single row, a modelled column with no
        observed value, an infinite value, a constant column, ``n <= p`` without a ridge
        prior, an unknown name in ``columns``, an option out of range.
    ImputerTypeError
        No numeric column, a non-numeric column in ``columns``, an option of wrong type.

    Warns
    -----
    ConvergenceWarning
        No convergence within ``max_iter`` or the covariance heading to singular (the
        likelihood has no maximum); the result then has ``converged=False``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import imputer
    >>> df = pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0, 5.0], "b": [2.1, 3.9, 6.2, np.nan, 9.8]})
    >>> res = imputer.impute(df)
    >>> res.completed.isna().any().any()
    np.False_
    """
    if is_dask(data):  # by name: Dask imported only for it
        from imputer.dask import impute as impute_dask

        # every in-memory-only option, refused rather than ignored (multiple_impute's Dask dispatch too)
        given = {"callback": callback, "max_time": max_time, "transforms": transforms, "bounds": bounds,
                 "prior": None if prior == "ridge" else prior, "categorical": categorical, "continuous": continuous,
                 "means": means, "probabilities": probabilities, "panel": panel, "idvars": idvars, "start": start}
        unsupported = [k for k, v in given.items() if v is not None]
        if unsupported:
            raise not_for_dask(unsupported, "imputer.dask.impute: the multivariate normal with the ridge prior")
        return impute_dask(  # type: ignore[return-value]
            data, columns=columns, tol=tol, max_iter=max_iter, ridge=ridge, accelerate=accelerate, progress=progress,
            **dask_options,
        )
    if dask_options:
        raise ImputerTypeError(
            f"unexpected option(s) {', '.join(dask_options)} (persist and client are options for a "
            f"Dask DataFrame only; data is a {type(data).__name__})"
        )
    tol, max_iter, ridge, accelerate = check_options(tol, max_iter, ridge, accelerate)
    prior = check_prior(prior)
    if start is not None and (panel is not None or idvars is not None or transforms or bounds
                              or categorical is not None or continuous is not None or means is not None
                              or probabilities is not None):
        raise ImputerTypeError(
            "start: available for the multivariate-normal model only (not with transforms, bounds, categorical, "
            "panel or idvars)"
        )
    if (panel is not None or idvars is not None) and (categorical is not None or means is not None
                                                       or probabilities is not None):
        raise ImputerTypeError("categorical (the general location model) does not combine with panel or idvars")
    if panel is not None or idvars is not None:
        from imputer.panel.api import impute_panel

        return impute_panel(
            data, panel=panel, idvars=idvars, columns=columns, transforms=transforms, bounds=bounds, tol=tol,
            max_iter=max_iter, ridge=ridge, prior=prior, accelerate=accelerate, progress=progress,
            callback=callback, max_time=max_time,
        )
    if categorical is not None or continuous is not None or means is not None or probabilities is not None:
        glom = _glom_dispatch(
            data, columns, ridge, transforms, bounds, categorical, continuous, means, tol=tol, max_iter=max_iter,
            probabilities="saturated" if probabilities is None else probabilities,
            accelerate=accelerate, progress=progress, callback=callback, max_time=max_time,
        )
        if glom is not None:
            return glom
    if transforms or bounds:
        from imputer.transform.api import impute_transformed

        return impute_transformed(
            data, columns=columns, transforms=transforms, bounds=bounds, tol=tol, max_iter=max_iter, ridge=ridge,
            prior=prior, accelerate=accelerate, progress=progress, callback=callback, max_time=max_time,
        )
    monitor = make_monitor(callback, progress, max_time, label="impute")
    prep = prepare(data, columns)
    n, p = prep.n_rows, len(prep.columns)
    mask = prep.missing_mask()
    n_missing = mask.sum(axis=0)
    scaling = scaling_of(prep.columns, prep.values, mask)
    check_rows(n, p, ridge)
    given_start = standardised_start(start, prep.columns, scaling.center, scaling.scale)
    patterns = build_patterns(mask)
    del mask  # released before the fit (1/8 of the data's memory)
    kernel = RidgePrior.of(prior, ridge, scaling.n_observed)
    if monitor is not None:
        monitor.offset = scaling.loglik_offset(kernel)[1]  # the objective in original units
    with watching(monitor):
        try:
            out = engine.run(prep.values, patterns, scaling, tol=tol, max_iter=max_iter, ridge=kernel, accelerate=accelerate,
                             start=given_start)
        except Infeasible as exc:  # every iterate's covariance overflowed (a ridge near the largest float)
            raise ImputerValueError(
                f"ridge={ridge!r}: the fit found no valid estimate (no positive-definite covariance at any iterate "
                "in floating point); use a smaller ridge"
            ) from exc
    if monitor is None or not monitor.warn(stacklevel=2):
        warn_if_unreliable(out.fit, tol, max_iter, stacklevel=2, n_rows=n, ridge=ridge)
    return _result(prep, scaling, out, n_missing, tol=tol, max_iter=max_iter, ridge=ridge, accelerate=accelerate,
                   prior=prior, start_given=given_start is not None)


def _glom_dispatch(
    data: Any, columns: Any, ridge: float, transforms: Any, bounds: Any, categorical: Any, continuous: Any, means: Any,
    **options: Any,
) -> GlomImputeResult | None:
    """``impute(categorical=...)``: the general location model, or None when ``"auto"`` finds no categorical column."""
    if categorical is None:
        raise ImputerTypeError(
            "continuous= and means= go with categorical= (the general location model), as does probabilities="
        )
    if columns is not None:
        raise ImputerTypeError("columns: with categorical=, name the continuous columns with continuous= instead")
    unsupported = [k for k, v in (("ridge", ridge), ("transforms", transforms), ("bounds", bounds)) if v]
    if unsupported:
        raise ImputerTypeError(f"{', '.join(unsupported)}: not available with categorical= (the general location model)")
    from imputer.glom._validate import prepare_glom
    from imputer.glom.api import impute_glom

    if isinstance(categorical, str) and categorical == "auto" and not prepare_glom(data, "auto", continuous).categorical:
        return None
    return impute_glom(data, categorical=categorical, continuous=continuous, means="auto" if means is None else means, **options)


def _result(
    prep: Prepared,
    scaling: Scaling,
    out: engine.EngineRun,
    n_missing: np.ndarray,
    *,
    tol: float,
    max_iter: int,
    ridge: float,
    accelerate: bool,
    prior: str = "ridge",
    start_given: bool = False,
) -> ImputeResult:
    """The labelled :class:`ImputeResult` of a finished run, in original units."""
    kernel = RidgePrior.of(prior, ridge, scaling.n_observed)
    fit, patterns = out.fit, out.patterns
    assert out.filled is not None
    n = prep.n_rows
    labels = pd.Index(list(prep.columns), tupleize_cols=False)
    mean = pd.Series(scaling.mean_to_original(fit.mu), index=labels, name="mean")
    cov_arr = scaling.cov_to_original(fit.sigma)
    sd = np.sqrt(np.diag(cov_arr))
    corr_arr = cov_arr / np.outer(sd, sd)
    np.fill_diagonal(corr_arr, 1.0)
    ll_off, obj_off = scaling.loglik_offset(kernel)
    trace = fit.trace.shifted(obj_off)  # the objective in original units
    return ImputeResult(
        completed=_completed_frame(prep.frame, prep.columns, out.filled, n_missing),
        mean=mean,
        cov=pd.DataFrame(cov_arr, index=labels, columns=labels),
        corr=pd.DataFrame(corr_arr, index=labels, columns=labels),
        loglik=fit.loglik + ll_off,
        trace=trace,
        conditional_var_source=_ConditionalVariances(patterns, fit.sigma, scaling.scale, fit.cond_diag, prep.frame.index, labels),
        information_source=InformationSource(patterns, fit.mu, fit.sigma, scaling, kernel, _positions(prep)),
        columns=prep.columns,
        n_missing=pd.Series(n_missing.astype(np.int64), index=labels, name="n_missing"),
        n_rows=n,
        ridge=ridge,
        prior=prior,
        tol=tol,
        max_iter=max_iter,
        accelerate=accelerate,
        n_patterns=patterns.n_patterns,
        passthrough=prep.passthrough(),
        start_given=start_given,
    )


def _positions(prep: Prepared) -> np.ndarray:
    """Positions of the modelled columns in the frame (hence in the completed table)."""
    position = {c: k for k, c in enumerate(prep.frame.columns)}
    return np.array([position[c] for c in prep.columns], dtype=np.intp)


class _ConditionalVariances:
    """The ``n x p`` conditional variances of an :class:`ImputeResult`, built on first use.

    They are exact (the diagonals of the pattern blocks ``C_M`` at the final estimate,
    kept from the last E-step) but an ``n x p`` array most callers never read, so the
    array is built, once, when ``ImputeResult.conditional_var`` is first accessed (then
    non-writeable); the pattern indices it needs are then released. Picklable.
    """

    def __init__(
        self,
        patterns: Patterns,
        sigma: np.ndarray,
        scale: np.ndarray,
        cond_diag: tuple[np.ndarray, ...],
        index: pd.Index,
        labels: pd.Index,
    ) -> None:
        self._inputs: tuple[Any, ...] | None = (patterns, sigma, scale, cond_diag)
        self._index, self._labels = index, labels
        self._frame: pd.DataFrame | None = None

    def __call__(self) -> pd.DataFrame:
        if self._frame is None:
            assert self._inputs is not None
            patterns, sigma, scale, cond_diag = self._inputs
            out = np.zeros((patterns.n_rows, patterns.n_cols), order="F")
            with blas_threads(patterns.n_cols):  # used only if the diagonals must be recomputed
                conditional_variances(patterns, sigma, scale, out, cond_diag or None)
            out.flags.writeable = False  # cached on a frozen result: a cell write raises
            self._frame = pd.DataFrame(out, index=self._index, columns=self._labels, copy=False)
            self._inputs = None
        return self._frame

