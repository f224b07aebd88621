r"""``impute`` for a Dask DataFrame: the in-memory EM, its E-step mapped over partitions.

Model and estimate are those of :func:`imputer.impute` (rows ``x_i ~ N_p(mu, Sigma)``
i.i.d., cells missing at random, an optional inverse-Wishart ridge prior worth
``lambda`` pseudo-rows): EM maximises

.. math::

    \ell(\mu, \Sigma) = \sum_P \sum_{i \in P} \log N(x_{i,O_i};\ \mu_{O_i}, \Sigma_{O_i O_i})

(minus the ridge penalty), where the outer sum runs over the partitions ``P``. Its
E-step statistics are sums over rows, hence over partitions: each EM evaluation maps the
in-memory pattern-grouped E-step over the partitions, sums the statistics by a tree
reduction and does the M-step on the client (:mod:`imputer.dask._engine`); SQUAREM runs
on top. The estimates equal the in-memory ones to rounding.

Passes over the data: one for the scaling, the start values, the counts and, when the
distinct missingness patterns are few enough (:data:`MAX_TABLE_BYTES`), the per-pattern
moments on which the whole EM then runs on the client (:mod:`imputer.dask._patterns`):
one pass in all, the usual case. Otherwise every EM evaluation is a map-reduce over the
partitions: persisted, one more pass builds the partitions' layouts in the cluster's
memory, and none per EM evaluation; streamed, one per EM evaluation (about 2-3 per
SQUAREM iteration). Persisting needs about three times the modelled
columns' float64 size in cluster memory; streaming needs one partition per worker thread.
"""

from __future__ import annotations

import sys
from collections.abc import Hashable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from imputer.dask import _kernels as k
from imputer.dask._engine import Backend, Partitions, fit, print_evaluation, scan
from imputer.dask._patterns import PatternTable, TableStatistics, standardised
from imputer.dask._information import DaskInformation
from imputer.dask._scan import Totals, finish
from imputer.dask.result import DaskImputeResult
from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.mvn._validate import check_options, check_rows
from imputer.options import MVN_OPTIONS

__all__ = ["Fitted", "fit_dask", "impute", "is_dask_collection"]

#: Persist (``persist=None``) when the layouts take at most this share of the memory.
PERSIST_SHARE = 0.5
#: The largest pattern table (:mod:`imputer.dask._patterns`) the EM runs on; beyond it (many
#: distinct patterns: ``G (p^2 + p + 2)`` numbers, e.g. more than about 37,000 patterns at
#: ``p = 10`` or 1,600 at ``p = 50``) every EM evaluation is a map-reduce over the partitions.
#: A worker merging ``SPLIT_EVERY`` tables holds up to 9 of this size.
MAX_TABLE_BYTES = 32 * 2**20
#: Bytes of cluster memory per modelled cell of a persisted layout (work array, indices, raw copy while built).
BYTES_PER_CELL = 24


def is_dask_collection(data: Any) -> bool:
    """Whether ``data`` is a Dask object (checked by module name: Dask is not imported)."""
    return type(data).__module__.split(".")[0] in ("dask", "dask_expr")


def _check_frame(data: Any) -> Any:
    import dask.dataframe as dd

    if isinstance(data, dd.Series):
        raise ImputerTypeError(
            "data is a dask Series: impute models the columns of a table; pass a dask DataFrame "
            "(series.to_frame())"
        )
    if not isinstance(data, dd.DataFrame):
        raise ImputerTypeError(
            f"data is a {type(data).__module__}.{type(data).__name__}: pass a dask DataFrame "
            "(for a dask Array, dask.dataframe.from_dask_array(array))"
        )
    return data


def _check_client(client: Any) -> Backend:
    if client is None:
        return Backend(None)
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - the [dask] extra brings distributed
        raise ImputerTypeError("client: a distributed.Client needs the distributed package (pip install imputer[dask])") from None
    if not isinstance(client, Client):
        raise ImputerTypeError(f"client must be a distributed.Client, got {type(client).__name__}")
    if client.status != "running":
        raise ImputerValueError(
            f"client is {client.status}: connect a new distributed.Client (or pass client=None for dask's default scheduler)"
        )
    return Backend(client)


def _memory(backend: Backend) -> float:
    """Memory the layouts could be persisted in: the workers' limits, or this machine's free memory."""
    client = backend.distributed()
    if client is not None:
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        limits = [float(w.get("memory_limit") or 0) for w in workers]
        if limits and all(limits):
            return float(sum(limits))
    try:
        import psutil

        return float(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - distributed brings psutil
        return float("inf")


def _run_pass(backend: Backend, progress: bool, thunk: Any) -> Any:
    """Run one pass over the data, with dask's progress bar on the local schedulers."""
    if progress and backend.distributed() is None:
        from dask.diagnostics import ProgressBar

        with ProgressBar(out=sys.stderr):
            return thunk()
    return thunk()


def impute(
    data: Any,
    *,
    columns: Sequence[Hashable] | None = None,
    tol: float = MVN_OPTIONS["tol"].default,
    max_iter: int = MVN_OPTIONS["max_iter"].default,
    ridge: float = 0.0,
    accelerate: bool = True,
    persist: bool | None = None,
    progress: bool = False,
    client: Any | None = None,
) -> DaskImputeResult:
    """Estimate a multivariate normal from an incomplete Dask DataFrame by EM and fill the gaps lazily.

    Parameters
    ----------
    data : dask.dataframe.DataFrame, shape (n, k)
        Missing cells are NaN or ``pd.NA``. Numeric columns are modelled; others are
        carried through. Any divisions (known or not) and partition sizes (empty ones too).
    columns, tol, max_iter, ridge, accelerate
        As in :func:`imputer.impute`.
    persist : bool or None, default None
        Only when the distinct missingness patterns are too many for the pattern table
        (:data:`MAX_TABLE_BYTES`; otherwise the data are read once and nothing is kept):
        keep the partitions' standardised layouts in the cluster's memory (True) or read
        every partition again at each EM evaluation (False: data larger than the
        cluster's memory, one read per evaluation). None persists when the layouts
        (about 24 bytes per modelled cell) take at most half the workers' memory limits
        (without a distributed client: half this machine's free memory).
    progress : bool, default False
        Show progress on stderr: dask's progress bar for the passes over the data (local
        schedulers) and one line per EM evaluation.
    client : distributed.Client, optional
        Run on this client; default: dask's current scheduler (the default
        ``distributed.Client`` if one exists, else the threaded scheduler).

    Returns
    -------
    DaskImputeResult
        In-memory estimates (equal to :func:`imputer.impute`'s on the same table to
        rounding); ``completed`` and ``conditional_var`` as lazy Dask DataFrames with the
        input's divisions.

    Raises
    ------
    ImputerTypeError
        ``data`` not a Dask DataFrame (a Series, an Array), no numeric column, a
        non-numeric column in ``columns`` or a modelled column holding non-numbers in a
        partition, a ``client`` that is not a ``distributed.Client``, an option of wrong type.
    ImputerValueError
        The errors of :func:`imputer.impute` (empty data, a single row, a column with no
        observed or an infinite value, a constant column, ``n <= p`` without ridge, ...),
        a closed ``client``.

    Warns
    -----
    ConvergenceWarning
        As :func:`imputer.impute`.
    """
    # the caller's line: one frame further when called through imputer.impute
    through = sys._getframe(1).f_globals.get("__name__") == "imputer.mvn.api"
    return fit_dask(
        data, columns=columns, tol=tol, max_iter=max_iter, ridge=ridge, accelerate=accelerate, persist=persist,
        progress=progress, client=client, stacklevel=4 if through else 3,
    ).result


class Fitted(NamedTuple):
    """What :func:`fit_dask` gives: the result, and for :mod:`imputer.dask.mi` the fit's internals."""

    result: DaskImputeResult
    table: PatternTable | None
    totals: Totals
    fit: k.MVNFit
    backend: Backend


def fit_dask(
    data: Any,
    *,
    columns: Sequence[Hashable] | None,
    tol: float,
    max_iter: int,
    ridge: float,
    accelerate: bool,
    persist: bool | None,
    progress: bool,
    client: Any | None,
    stacklevel: int,
    leave_out: str | None = None,
) -> Fitted:
    """:func:`impute`'s work (its options unchecked); warnings at ``stacklevel`` from here.

    ``leave_out``: how the caller's user leaves a column out of the model, ending the
    messages about an unusable column (None: ``columns=``, as :func:`impute` has it).
    """
    tol, max_iter, ridge, accelerate = check_options(tol, max_iter, ridge, accelerate)
    if persist is not None and not isinstance(persist, (bool, np.bool_)):
        raise ImputerTypeError(f"persist must be True, False or None, got {persist!r}")
    if not isinstance(progress, (bool, np.bool_)):
        raise ImputerTypeError(f"progress must be True or False, got {progress!r}")
    ddf = _check_frame(data)
    backend = _check_client(client)
    _, chosen = k.select(ddf._meta_nonempty, columns)
    cols = tuple(chosen)
    p = len(cols)
    parts = Partitions(frames=list(ddf[list(cols)].to_delayed()), columns=cols)
    budget = MAX_TABLE_BYTES
    scanned = _run_pass(backend, progress, lambda: scan(parts, backend, budget))
    merged = scanned.moments
    n = merged.n  # the in-memory order of checks: size, then values, then n against p
    if n == 0:
        raise ImputerValueError(f"data is empty (0 rows x {len(ddf.columns)} columns)")
    if n < 2:
        raise ImputerValueError("data has a single row: estimating a covariance needs at least 2 rows")
    totals = finish(merged, cols, leave_out=leave_out)
    check_rows(n, p, ridge)
    source: Partitions | TableStatistics = parts
    table = None
    keep = False
    if scanned.table is not None:
        table = standardised(scanned.table, merged.shift, totals.scaling)
        source = TableStatistics(table)
    else:
        keep = bool(persist) if persist is not None else n * p * BYTES_PER_CELL <= PERSIST_SHARE * _memory(backend)
        if keep:
            _run_pass(backend, progress, lambda: parts.persist_layouts(backend, totals.scaling, progress))
    hook = print_evaluation if progress else None
    try:
        out = fit(source, backend, totals, tol=tol, max_iter=max_iter, ridge=ridge, accelerate=accelerate, hook=hook)
    finally:
        if progress:
            sys.stderr.write("\n")
        parts.layouts = None  # the persisted layouts are released with their last reference
    k.warn_if_unreliable(out, tol, max_iter, stacklevel=stacklevel)
    info = DaskInformation(parts.frames, cols, out.mu, out.sigma, totals.scaling, ridge, totals.n_rows, backend, table)
    res = _result(ddf, cols, totals, out, keep, table is not None, info, tol=tol, max_iter=max_iter, ridge=ridge, accelerate=accelerate)
    return Fitted(res, table, totals, out, backend)


class _Fill:
    """``map_partitions`` function of the completed table (picklable, tokenised by value)."""

    def __init__(self, columns: tuple[Hashable, ...], n_missing: np.ndarray, mu: np.ndarray, sigma: np.ndarray, scaling: k.Scaling) -> None:
        self.args = (columns, n_missing, mu, sigma, scaling)

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        return k.completed_partition(frame, *self.args)


class _CondVar:
    """``map_partitions`` function of the conditional variances."""

    def __init__(self, columns: tuple[Hashable, ...], sigma: np.ndarray, scaling: k.Scaling) -> None:
        self.args = (columns, sigma, scaling)

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        return k.conditional_var_partition(frame, *self.args)


def _result(
    ddf: Any,
    cols: tuple[Hashable, ...],
    totals: Any,
    out: k.MVNFit,
    persisted: bool,
    pattern_table: bool,
    information: DaskInformation,
    *,
    tol: float,
    max_iter: int,
    ridge: float,
    accelerate: bool,
) -> DaskImputeResult:
    scaling = totals.scaling
    labels = pd.Index(list(cols), tupleize_cols=False)
    cov_arr = scaling.cov_to_original(out.sigma)
    sd = np.sqrt(np.diag(cov_arr))
    corr_arr = cov_arr / np.outer(sd, sd)
    np.fill_diagonal(corr_arr, 1.0)
    ll_off, obj_off = scaling.loglik_offset(ridge)
    meta = ddf._meta
    completed = ddf.map_partitions(
        _Fill(cols, totals.n_missing, out.mu, out.sigma, scaling), meta=k.meta_frame(meta, cols, totals.n_missing)
    )
    cond_meta = pd.DataFrame({c: pd.Series([], dtype=float) for c in range(len(cols))}, index=meta.index[:0])
    cond_meta.columns = labels
    conditional_var = ddf[list(cols)].map_partitions(_CondVar(cols, out.sigma, scaling), meta=cond_meta)
    modelled = set(cols)
    return DaskImputeResult(
        mean=pd.Series(scaling.mean_to_original(out.mu), index=labels, name="mean"),
        cov=pd.DataFrame(cov_arr, index=labels, columns=labels),
        corr=pd.DataFrame(corr_arr, index=labels, columns=labels),
        loglik=out.loglik + ll_off,
        trace=out.trace.shifted(obj_off),
        columns=cols,
        passthrough=tuple(c for c in ddf.columns if c not in modelled),
        n_missing=pd.Series(totals.n_missing, index=labels, name="n_missing"),
        n_rows=totals.n_rows,
        n_partitions=int(ddf.npartitions),
        n_patterns=totals.n_patterns,
        persisted=persisted,
        pattern_table=pattern_table,
        ridge=ridge,
        tol=tol,
        max_iter=max_iter,
        accelerate=accelerate,
        completed=completed,
        conditional_var=conditional_var,
        information_source=information,
    )
