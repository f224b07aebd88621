r"""``fit_mixed_frame`` for a Dask DataFrame: the mixed-model equations' sums over partitions.

The model, its estimates and the engine are those of :func:`imputer.fit_mixed_frame`
(:mod:`imputer.mixed.api`). Everything an EM iteration of Henderson's mixed-model
equations needs is ``W'W``, ``W'y`` and ``y'y`` over the rows with observed ``y``, with
``W = [X, Z_1, ..., Z_k]`` (:class:`imputer.mixed._gram.Gram`), and these are sums over
rows, hence over partitions. The fit reads the data twice:

1. the distinct values of every factor the model uses (grouping factors and categorical
   fixed effects), the rows and the observed ``y``'s count and sum: the levels, hence
   each level's column of ``X`` or ``Z``, are then the in-memory fit's;
2. per partition, its design with those levels and its cross products
   (:func:`imputer.mixed._gram.gram_sums`, the in-memory code), ``y`` shifted by its
   mean, summed by a tree reduction.

The client then centres ``y`` on its OLS fit (:meth:`~imputer.mixed._gram.GramSums.centred`),
builds the :class:`~imputer.mixed._gram.Gram` from the sums and runs the in-memory EM
(SQUAREM, REML or ML) on it: its cost does not depend on ``n``. The estimates equal the
in-memory fit of ``ddf.compute()`` to rounding. Fitted values, the completed response and
residuals are lazy Dask Series (``map_partitions`` with the final estimates; the
input's divisions).

Scope: identity kernels, random intercepts and random slopes on grouping columns,
one response, ``na_action="error"``. The in-memory fit chooses the MME engine for all of
these; its reduced-rank probe of a covariance term at a singular ``G``
(:mod:`imputer.mixed._rank`) runs on the sums too (:meth:`~imputer.mixed._gram.GramSums.reduced`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from imputer._em.monitor import Callback, make_monitor
from imputer.columns import is_modelled
from imputer.dask._engine import tree
from imputer.dask.api import _check_client, _check_frame
from imputer.dask.mixed_result import DaskMixedResult
from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.mixed._design import NA_ACTIONS, _as_list, _column, _codes, _random_components, check_response_type
from imputer.mixed._emreml import MMEEngine
from imputer.mixed._fixed import fixed_design, fixed_terms
from imputer.mixed._gram import Gram, GramSums, gram_sums
from imputer.mixed._output import estimate_fields, fitted_values
from imputer.mixed._problem import Layout
from imputer.mixed._rank import EngineInputs
from imputer.mixed._validate import Component, Problem, check_method, confounded_error
from imputer.mixed._validate import check_options as _check_options
from imputer.mixed.api import DEFAULT_MAX_ITER, DEFAULT_TOL, _EXACT_FIT_RTOL, _init, run_em, start_from_scales

__all__ = ["fit_mixed_frame"]


@dataclass(frozen=True)
class _Spec:
    """The model's terms, as for :func:`imputer.mixed._design.build_frame_problem`."""

    response: Hashable
    fixed: list
    random: list
    intercept: bool
    contrasts: Any


class _GlobalCodes:
    """A factor's codes against its levels over the whole table (column name -> levels)."""

    def __init__(self, levels: Mapping[Hashable, pd.Index]):
        self.levels = levels

    def __call__(self, s: pd.Series) -> tuple[np.ndarray, pd.Index]:
        lv = self.levels[s.name]
        codes = lv.get_indexer(pd.Index(s.to_numpy(dtype=object), dtype=object))
        if np.any(codes < 0):  # not reached: the levels are every partition's values
            raise ImputerValueError(f"column {s.name!r}: values outside the levels read in the first pass")
        return codes.astype(np.int64), lv


class _Recorder:
    """Stand-in codes for the (empty) meta partition, recording which columns the model treats as factors."""

    def __init__(self) -> None:
        self.columns: list[Hashable] = []

    def __call__(self, s: pd.Series) -> tuple[np.ndarray, pd.Index]:
        if s.name not in self.columns:
            self.columns.append(s.name)
        return np.zeros(len(s), dtype=np.int64), pd.Index(["level 1", "level 2"])  # stand-in levels


def _design(pdf: pd.DataFrame, spec: _Spec, codes: Any) -> tuple[np.ndarray, np.ndarray, list[Component], list[str], dict]:
    """One partition's ``y`` (n,), ``X`` (n, p), components, column labels and factor coding."""
    terms = fixed_terms(spec.fixed, pdf.columns)
    y = pdf[spec.response].to_numpy(dtype=float, na_value=np.nan)
    Xdf, coding = fixed_design(pdf, terms, spec.intercept, spec.contrasts, _column, codes)
    comps = _random_components(pdf, spec.random, {}, codes)
    return y, Xdf.to_numpy(dtype=float), comps, [str(c) for c in Xdf.columns], coding


def _levels_part(pdf: pd.DataFrame, columns: list[Hashable], response: Hashable) -> tuple:
    """First pass, one partition: the distinct values of the factors; rows, observed y's count, sum, whether any is inf."""
    y = pdf[response].to_numpy(dtype=float, na_value=np.nan)
    obs = ~np.isnan(y)
    values = {c: pdf[c].drop_duplicates() for c in columns}
    return values, len(pdf), int(obs.sum()), float(np.sum(y[obs])), bool(np.isinf(y).any())


def _union(series: list[pd.Series]) -> pd.Series:
    """The distinct values of ``series`` in order; categoricals with their categories united
    as ``ddf.compute()`` unites them (partitions of unknown categories: in order of appearance)."""
    if all(isinstance(s.dtype, pd.CategoricalDtype) for s in series):
        cats = {tuple(s.cat.categories) for s in series}
        if len(cats) > 1:
            united = pd.api.types.union_categoricals([s.array for s in series])
            return pd.Series(united, name=series[0].name).drop_duplicates()
    return pd.concat(series).drop_duplicates()


def _levels_add(*parts: tuple) -> tuple:
    values = {c: _union([p[0][c] for p in parts]) for c in parts[0][0]}
    return (values, *(sum(p[i] for p in parts) for i in (1, 2, 3)), any(p[4] for p in parts))


def _sums_part(pdf: pd.DataFrame, spec: _Spec, codes: _GlobalCodes, shift: float) -> GramSums:
    """Second pass, one partition: the cross products of its observed rows (``y - shift``)."""
    y, X, comps, _, _ = _design(pdf, spec, codes)
    obs = ~np.isnan(y)
    return gram_sums(X[obs], y[obs] - shift, [c.Z[obs].tocsr() for c in comps])


def _sums_add(*parts: GramSums) -> GramSums:
    return sum(parts[1:], parts[0])


def _rows_part(pdf: pd.DataFrame, spec: _Spec, codes: _GlobalCodes, beta: pd.Series, u: dict) -> pd.DataFrame:
    """One partition's ``fitted``, ``completed`` and ``residuals`` under the final estimates."""
    y, X, comps, _, _ = _design(pdf, spec, codes)
    fitted = fitted_values(X, [c.Z for c in comps], beta, u)
    obs = ~np.isnan(y)
    return pd.DataFrame(
        {
            "fitted": fitted,
            "completed": np.where(obs, y, fitted),
            "residuals": np.where(obs, y - fitted, np.nan),
        },
        index=pdf.index,
    )


def _check_rank_sums(XtX: np.ndarray, names: list[str]) -> None:
    """``X`` of full column rank on the observed rows, judged from ``X'X`` (shape (p, p))."""
    scale = np.sqrt(np.diag(XtX))
    zero = [names[j] for j in np.flatnonzero(scale == 0)]
    if zero:
        raise ImputerValueError(f"X is rank-deficient: column(s) {zero} are zero on the rows with observed y")
    C = XtX / np.outer(scale, scale)
    w, V = np.linalg.eigh(C)
    tol = C.shape[0] * np.finfo(float).eps * 100 * w[-1]
    rank = int(np.sum(w > tol))
    if rank < C.shape[0]:
        null = V[:, w <= tol]
        involved = [names[j] for j in range(C.shape[0]) if np.max(np.abs(null[j])) > 1e-8]
        raise ImputerValueError(
            f"X is rank-deficient (rank {rank} < {C.shape[0]} columns on the rows with observed y): "
            f"column(s) {involved} are linearly dependent"
        )


def _check_informative_sums(comps: list[Component], sums: GramSums, n_obs: int) -> None:
    """:func:`imputer.mixed._validate.check_informative` from ``Z'Z`` (identity kernels)."""
    for i, c in enumerate(comps):
        dg = sums.ZZ[(i, i)].diagonal()
        if not np.any(dg != 0):
            raise ImputerValueError(
                f"random effect '{c.name}': Z is zero on every row with observed y, so its variance cannot be estimated"
            )
        if c.d > 1:
            present = dg.reshape(-1, c.d).sum(axis=0) != 0
            if not present.all():
                missing = [c.effects[a] for a in np.flatnonzero(~present)]
                raise ImputerValueError(
                    f"random effect '{c.name}': effect(s) {missing} are zero on every row with observed y, "
                    "so their variances cannot be estimated"
                )
            if n_obs <= c.q * c.d:
                raise ImputerValueError(
                    f"random effect '{c.name}': {n_obs} observed y for {c.q} levels x {c.d} effects = "
                    f"{c.q * c.d} random effects; the covariance cannot be told apart from the residual "
                    "variance (need more observations than random effects)"
                )
        elif np.max(dg) <= 1:  # incidence: every observed y in a level of its own
            raise ImputerValueError(
                f"random effect '{c.name}': every observed y is in a level of its own "
                "(Z Z' is proportional to the identity) and K is the identity, so its variance "
                "cannot be told apart from the residual variance; drop the effect or give its K"
            )


#: Random combinations of an effect's columns tested by :func:`_check_not_confounded_sums`.
_SPAN_PROBES = 2
#: An effect lies in the span of ``X`` when its squared residual after projection on ``X``
#: is at most this fraction of its squared norm (differences of sums: rounding leaves
#: about ``cond * 1e-16``; a separate term leaves orders of magnitude more).
_SPAN_RTOL2 = 1e-9


def _check_not_confounded_sums(comps: list[Component], sums: GramSums) -> None:
    """:func:`imputer.mixed._validate.check_informative`'s test of a term confounded with ``X``, from the sums.

    For ``_SPAN_PROBES`` seeded random combinations ``v = Z_a g`` of each effect's columns
    (as the in-memory test): ``||v||^2 = g' Z_a'Z_a g`` and its projection on ``X``,
    ``(X'v)' (X'X)^+ (X'v)`` with ``X'v = X'Z_a g``, from the Gram sums alone.
    """
    rng = np.random.default_rng(0)
    scale = np.sqrt(np.diag(sums.XtX))
    scale[~(scale > 0)] = 1.0
    XtX = sums.XtX / np.outer(scale, scale)
    for i, c in enumerate(comps):
        ZZ = sums.ZZ[(i, i)]
        effects = []
        for a in range(c.d):
            G = rng.standard_normal((c.q, _SPAN_PROBES))
            vv = np.einsum("ij,ij->j", G, ZZ[a::c.d, a::c.d] @ G)
            xv = (sums.XtZ[i][:, a::c.d] @ G) / scale[:, None]
            proj = np.einsum("ij,ij->j", xv, np.linalg.lstsq(XtX, xv, rcond=None)[0])
            if np.all(vv > 0) and np.all(vv - proj <= _SPAN_RTOL2 * vv):
                effects.append(a)
        if effects:
            used = np.flatnonzero(ZZ.diagonal().reshape(-1, c.d).sum(axis=1) != 0)
            raise confounded_error(c, effects, used)


def _in_memory_only(option: str) -> ImputerValueError:
    return ImputerValueError(
        f"{option}: available in memory only, not for a Dask DataFrame (fit ddf.compute() with imputer.fit_mixed_frame)"
    )


def fit_mixed_frame(
    data: Any,
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
    client: Any | None = None,
) -> DaskMixedResult:
    """Fit a linear mixed model to the columns of a Dask DataFrame (module docstring).

    Parameters
    ----------
    data : dask.dataframe.DataFrame, shape (n, ...)
        One row per observation; the response may be NaN (those rows are predicted).
    response : str
        Column holding ``y``, or a formula ``"y ~ x + (1 | g)"`` as in
        :func:`imputer.fit_mixed_frame`. A list of columns (multi-trait) is in memory only.
    fixed, random, intercept, contrasts, method, tol, max_iter, init, accelerate, progress, callback, max_time
        As in :func:`imputer.fit_mixed_frame`. Random terms: a grouping column
        (``"g"``) or bar notation on one (``"(x | g)"``, ``"(x || g)"``); interactions
        ``"a:b"`` as grouping factors are in memory only.
    kernels : None
        Not available on a Dask DataFrame (identity kernels only).
    na_action : {"error"}
        ``"drop"`` is in memory only.
    client : distributed.Client, optional
        Run on this client; default: dask's current scheduler.

    Returns
    -------
    DaskMixedResult
        Estimates in memory, ``fitted``/``completed``/``residuals`` lazy (n rows).

    Raises
    ------
    ImputerValueError, ImputerTypeError
        Naming the column, term or option at fault (an option in memory only says so).
    """
    ddf = _check_frame(data)
    backend = _check_client(client)
    if isinstance(response, (list, tuple)):
        raise _in_memory_only("response: a list of responses (multi-trait model)")
    if kernels is not None:
        raise _in_memory_only("kernels")
    if not isinstance(na_action, str) or na_action.lower() not in NA_ACTIONS:
        raise ImputerValueError(f"na_action must be one of {list(NA_ACTIONS)}, got {na_action!r}")
    if na_action.lower() != "error":
        raise _in_memory_only(f"na_action={na_action!r}")
    columns = ddf.columns
    if isinstance(response, str) and "~" in response and response not in columns:
        given = [name for name, v in (("fixed", fixed), ("random", random)) if v is not None]
        given += [] if isinstance(intercept, (bool, np.bool_)) and intercept else ["intercept"]
        if given:
            raise ImputerValueError(f"{', '.join(given)}: give the model either as a formula or by keywords, not both")
        from imputer.mixed._formula import parse_formula

        parsed = parse_formula(response, pd.Index(columns))
        response, fixed, random, intercept = parsed.response, parsed.fixed, parsed.random, parsed.intercept
    elif random is None:
        check_response_type(pd.Index(columns), response)
        raise ImputerValueError(
            "random: give at least one grouping term, e.g. random=['batch'], or a formula such as 'y ~ x + (1 | batch)'"
        )
    method = check_method(method)
    tol, max_iter = _check_options(tol, max_iter, accelerate)
    if not isinstance(intercept, (bool, np.bool_)):
        raise ImputerTypeError(f"intercept must be True or False, got {intercept!r}")
    if response not in columns:
        raise ImputerValueError(f"response: column {response!r} is not in data")
    meta = ddf._meta  # empty: the dtypes, for the checks of the terms and the labels
    if not is_modelled(meta[response]):
        raise ImputerTypeError(f"response: column {response!r} is not numeric (dtype {meta[response].dtype})")
    fixed_l, random_l = _as_list(fixed, "fixed"), _as_list(random, "random")
    if not random_l:
        raise ImputerValueError("random: give at least one grouping term, e.g. random=['batch']")
    if len(set(map(str, random_l))) != len(random_l):
        raise ImputerValueError(f"random: terms are not unique: {random_l}")
    for t in fixed_terms(fixed_l, columns):
        if response in t:
            raise ImputerValueError(f"fixed: {response!r} is the response")
    spec = _Spec(response=response, fixed=fixed_l, random=random_l, intercept=bool(intercept), contrasts=contrasts)
    recorder = _Recorder()
    _design(meta, spec, recorder)  # the terms' checks, and which columns are factors

    monitor = make_monitor(callback, progress, max_time, label="fit_mixed")
    from dask import delayed

    parts = ddf.to_delayed()
    first = backend.compute(
        tree([delayed(_levels_part)(p, recorder.columns, response) for p in parts], _levels_add, "mixed-levels")
    )
    values, n_rows, n_obs, y_sum, has_inf = first
    if has_inf:
        raise ImputerValueError(f"response: column {response!r} has infinite values")
    if n_obs == 0:
        raise ImputerValueError(f"response: column {response!r} is entirely missing")
    codes = _GlobalCodes({c: _codes(v)[1] for c, v in values.items()})
    _, _, comps, x_names, coding = _design(meta, spec, codes)
    p = len(x_names)
    if n_obs <= p:
        raise ImputerValueError(
            f"response: only {n_obs} observed values for {p} fixed effects: need more observed y than fixed effects"
        )
    shift = y_sum / n_obs if spec.intercept else 0.0  # less cancellation in y0'y0 (see GramSums.centred)
    sums: GramSums = backend.compute(tree([delayed(_sums_part)(p_, spec, codes, shift) for p_ in parts], _sums_add, "mixed-sums"))
    _check_rank_sums(sums.XtX, x_names)
    comps = [
        Component(name=c.name, Z=sp.csr_matrix((0, c.Z.shape[1])), eig=None, levels=c.levels, effects=c.effects, structure=c.structure)
        for c in comps
    ]
    _check_informative_sums(comps, sums, n_obs)
    _check_not_confounded_sums(comps, sums)
    b_shift = np.linalg.solve(sums.XtX, sums.Xty)
    centred = sums.centred(b_shift)
    rss = centred.yty
    yty = sums.yty + 2.0 * shift * (y_sum - n_obs * shift) + n_obs * shift**2  # sum of the observed y^2
    if not (np.isfinite(yty) and np.isfinite(rss)):
        raise ImputerValueError(
            "y: the observed values' squares overflow float64; rescale y (e.g. to standard units)"
        )
    if rss <= (_EXACT_FIT_RTOL**2) * yty:
        raise ImputerValueError("y: the observed values are fitted exactly by X; the variance components are not identifiable")
    b_ols = b_shift.copy()
    if spec.intercept:
        b_ols[0] += shift
    layout = Layout(dims=tuple(c.d for c in comps), structures=tuple(c.structure for c in comps))
    gram = Gram.from_sums(centred, [None] * len(comps), [c.d for c in comps])
    inputs = EngineInputs(X=None, y=None, Zs=None, Ls=[None] * len(comps), ml=method == "ML", sums=centred)
    engine = MMEEngine(gram, method == "ML", layout, inputs=inputs)  # with the reduced-rank probe, from the sums
    problem = Problem(
        y=np.empty(0), X=np.empty((0, p)), x_names=x_names, components=comps, index=pd.RangeIndex(0),
        observed=np.empty(0, dtype=bool), contrasts=coding,
    )
    scales = [np.diag(gram.ZZbsum[i]) / n_obs if c.effects is not None else gram.trZZ[i] / n_obs for i, c in enumerate(comps)]
    theta0 = _init(init, problem, start_from_scales(comps, layout, rss / (n_obs - p), scales))
    em, fin = run_em(engine, theta0, tol=tol, max_iter=max_iter, accelerate=accelerate, monitor=monitor)
    options = {"method": method, "tol": tol, "max_iter": max_iter, "accelerate": bool(accelerate)}
    fields = estimate_fields(
        comps, x_names, layout, em, fin, b_ols, "mme", options,
        n_obs=n_obs, n_missing=n_rows - n_obs, contrasts=coding, dropped=(),
    )
    meta_rows = pd.DataFrame({c: pd.Series(dtype=float) for c in ("fitted", "completed", "residuals")}, index=ddf._meta.index)
    rows = ddf.map_partitions(_rows_part, spec, codes, fields["beta"], fields["u"], meta=meta_rows)
    return DaskMixedResult(
        fitted=rows["fitted"], completed=rows["completed"], residuals=rows["residuals"],
        n_rows=n_rows, n_partitions=ddf.npartitions, **fields,
    )
