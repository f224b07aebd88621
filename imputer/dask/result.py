"""The result of :func:`imputer.impute` on a Dask DataFrame: estimates in memory, tables lazy.

The estimates (``mean``, ``cov``, ``corr``, ``loglik``, the trace) are ordinary pandas
objects and numbers, as in :class:`imputer.ImputeResult`; the ``n x k`` tables
(``completed`` and ``conditional_var``) are *lazy* Dask DataFrames built by
``map_partitions`` with the final estimates, so they can be written straight to
storage (``res.completed.to_parquet(...)``) without ever being in one machine's memory.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from imputer._em.trace import EMTrace, TraceFields
from imputer._frozen import ReadOnlyField, same_fields
from imputer._json import Matrices, float_list, json_labels, json_value, labelled_values, square_frame, wanted_matrices
from imputer._render import render_fields, render_table, render_title, run_fields
from imputer.mvn._information import Information, StandardErrors

__all__ = ["DaskImputeResult"]



@dataclass(frozen=True, eq=False)
class DaskImputeResult(StandardErrors, TraceFields):
    """Multivariate-normal EM fit of a Dask DataFrame (see :func:`imputer.dask.impute`).

    A value: ``==`` compares the estimates, the trace and the options (not the lazy
    tables, which are functions of them and of the input).

    Attributes
    ----------
    completed : dask.dataframe.DataFrame, shape (n, k), lazy
        The input with every missing cell of a modelled column replaced by its
        conditional mean under the final estimates: the input's divisions, index,
        columns and non-modelled columns; dtypes as in :attr:`imputer.ImputeResult.completed`
        (a modelled column with a missing cell anywhere becomes ``float64``, or ``Float64``
        for pandas nullable dtypes, in every partition). Observed cells are the input's,
        bit for bit.
    conditional_var : dask.dataframe.DataFrame, shape (n, p), lazy
        Conditional variance of each modelled cell given its row's observed cells; 0
        where observed.
    mean : Series, shape (p,)
    cov, corr : DataFrame, shape (p, p)
        Estimated mean, covariance (divisor ``n``, or ``n + ridge``) and correlation.
    loglik : float
        Observed-data log-likelihood at the estimate.
    trace : EMTrace
        How the run went (objective history in the data's units).
    columns, passthrough : tuple
        Modelled columns; the other columns, carried through.
    n_missing : Series, shape (p,)
        Missing cells per modelled column.
    n_rows, n_partitions, n_patterns : int
        Rows, partitions, distinct missingness patterns.
    persisted : bool
        Whether the partitions' layouts were kept in the cluster's memory for the EM
        evaluations' map-reduces (False with a pattern table, or streamed).
    pattern_table : bool
        Whether the EM ran on the client against the table's per-pattern moments, computed
        by one pass over the partitions (:mod:`imputer.dask._patterns`: few distinct
        patterns, the usual case), rather than by a map-reduce per EM evaluation.
    ridge, tol, max_iter, accelerate
        The options of the fit.
    vcov : DataFrame, shape (k, k), ``k = p + p(p+1)/2``
        Covariance of the estimates ``(mean, vech cov)``: the inverse observed information,
        as :attr:`imputer.ImputeResult.vcov` (equal to it on the same data), computed on
        first access by one pass over the partitions (:mod:`imputer.dask._information`).
    se_mean : Series, shape (p,)
    se_cov : DataFrame, shape (p, p)
        Standard errors of the means and of the covariance entries.
    fraction_missing_info : Series, shape (k,)
    worst_fraction_missing_info : float
        Fractions of missing information per parameter, and the worst (EM's rate).
    """

    mean: pd.Series = ReadOnlyField()  # type: ignore[assignment]
    cov: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    corr: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    loglik: float
    trace: EMTrace
    columns: tuple[Hashable, ...]
    passthrough: tuple[Hashable, ...]
    n_missing: pd.Series = ReadOnlyField()  # type: ignore[assignment]
    n_rows: int
    n_partitions: int
    n_patterns: int
    persisted: bool
    pattern_table: bool
    ridge: float
    tol: float
    max_iter: int
    accelerate: bool
    completed: Any = field(repr=False, compare=False)
    conditional_var: Any = field(repr=False, compare=False)
    information_source: Callable[[], Information] = field(repr=False, compare=False)

    @cached_property
    def _information(self) -> Information:
        return self.information_source()  # one pass over the partitions (imputer/dask/_information.py)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DaskImputeResult):
            return NotImplemented
        return self is other or same_fields(self, other)

    def __hash__(self) -> int:
        t = self.trace
        return hash(("DaskImputeResult", self.n_rows, self.n_patterns, t.n_iter, t.n_evals, t.stop_reason))

    def _engine_text(self) -> str:
        if self.pattern_table:
            return "read once, EM on the pattern statistics"
        return "persisted" if self.persisted else "streamed every pass"

    def summary(self) -> str:
        """Readable text: data size, missingness, iterations, convergence, estimates."""
        n_cells = self.n_rows * len(self.columns)
        miss = int(self.n_missing.sum())
        method = "maximum likelihood" if self.ridge == 0 else f"posterior mode, ridge prior {self.ridge:g}"
        fields = [
            ("rows", self.n_rows),
            ("partitions", f"{self.n_partitions:,} ({self._engine_text()})"),
            ("modelled columns", len(self.columns)),
            ("passed through", len(self.passthrough)),
            ("missing cells", f"{miss:,} of {n_cells:,} ({100.0 * miss / n_cells:.1f}%)"),
            ("missingness patterns", self.n_patterns),
            ("estimate", method),
            ("acceleration", "SQUAREM" if self.accelerate else "none (plain EM)"),
            *run_fields(self),
            ("tolerance", self.tol),
            ("log-likelihood", self.loglik),
        ]
        per_col = pd.DataFrame(
            {
                "missing": self.n_missing.astype(int),
                "mean": self.mean,
                "sd": np.sqrt(np.diag(self.cov.to_numpy(dtype=float))),
            },
            index=self.mean.index,
        )
        parts = [
            render_title("Multivariate-normal EM imputation (Dask)"),
            render_fields(fields),
            "",
            "Per column",
            render_table(per_col),
            "",
            "Correlation",
            render_table(self.corr, digits=4),
        ]
        return "\n".join(parts)

    def to_dict(self, *, standard_errors: bool = False, matrices: Matrices = "both") -> dict[str, Any]:
        """JSON-ready dictionary of the estimates (the lazy tables are not included).

        Parameters
        ----------
        standard_errors : bool, default False
            Also ``vcov``, ``se_mean``, ``se_cov``, ``fraction_missing_info`` and
            ``worst_fraction_missing_info`` as in :meth:`imputer.ImputeResult.to_dict`
            (one more pass over the partitions, the first time).
        matrices : {"both", "cov", "corr", "none"}, default "both"
            Which of ``cov`` and ``corr`` to write out (one left out is None), as in
            :meth:`imputer.ImputeResult.to_dict`.

        Returns
        -------
        dict
            Keys ``columns``, ``passthrough``, ``mean``, ``cov``, ``corr``, ``loglik``,
            ``loglik_history``, ``n_iter``, ``n_evals``, ``converged``, ``trace``,
            ``n_rows``, ``n_partitions``, ``n_missing``, ``persisted``, ``pattern_table`` and ``options``, with
            the conventions of :meth:`imputer.ImputeResult.to_dict`.
        """
        want_cov, want_corr = wanted_matrices(matrices)
        out: dict[str, Any] = {
            "columns": json_labels(self.columns),
            "passthrough": json_labels(self.passthrough),
            "mean": labelled_values(self.mean.astype(float)),
            "cov": square_frame(self.cov) if want_cov else None,
            "corr": square_frame(self.corr) if want_corr else None,
            "loglik": json_value(self.loglik),
            "loglik_history": float_list(self.loglik_history),
            "n_iter": int(self.n_iter),
            "n_evals": int(self.n_evals),
            "converged": bool(self.converged),
            "trace": self.trace.to_dict(),
            "n_rows": int(self.n_rows),
            "n_partitions": int(self.n_partitions),
            "n_missing": labelled_values(self.n_missing.astype(np.int64)),
            "persisted": bool(self.persisted),
            "pattern_table": bool(self.pattern_table),
            "options": {
                "tol": float(self.tol),
                "max_iter": int(self.max_iter),
                "ridge": float(self.ridge),
                "accelerate": bool(self.accelerate),
            },
        }
        if standard_errors:
            out.update(self._standard_errors_dict())
        return out
