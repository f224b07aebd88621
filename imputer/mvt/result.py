"""The result of :func:`imputer.impute_t`: completed table, t estimates, row weights.

A frozen value like :class:`imputer.ImputeResult` (read-only labelled fields, value
equality, ``summary()``, ``to_dict()`` in the wire convention of :mod:`imputer._json`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from imputer._em.trace import EMTrace, TraceFields
from imputer._frozen import ReadOnlyField, ValueResult
from imputer._json import float_list, json_labels, json_value, labelled_values, split_frame, square_frame
from imputer._render import render_fields, render_table, render_title, run_fields
from imputer._render import names as _names

__all__ = ["TImputeResult"]


@dataclass(frozen=True, eq=False)
class TImputeResult(TraceFields, ValueResult):
    """Maximum-likelihood (or posterior-mode) multivariate-t fit and completed table.

    A value, as :class:`imputer.ImputeResult` is: ``==`` compares every field but the lazy
    conditional variances, ``hash`` agrees with it, and reading a pandas field returns a
    new object over the same data.

    Attributes
    ----------
    completed : DataFrame, shape (n, k)
        The input with every missing cell of a modelled column replaced by its
        conditional expectation given the row's observed modelled cells, which for the t
        is the normal's under the same location and scale,
        ``mu_M + Sigma_MO Sigma_OO^{-1}(x_O - mu_O)``. Index, columns, dtypes and the
        other columns as in :func:`imputer.impute`; observed cells bit-for-bit.
    mean : Series, shape (p,)
        The location ``mu`` (the mean when ``dof > 1``).
    scale : DataFrame, shape (p, p)
        The scale matrix ``Sigma`` (divisor ``n``, or ``n + ridge`` with a prior).
    cov : DataFrame, shape (p, p)
        The covariance ``dof / (dof - 2) * scale`` when ``dof > 2``; all NaN when
        ``dof <= 2`` (the t then has no finite variance).
    dof : float
        Degrees of freedom ``nu``: as given, or the estimate in ``dof_bounds``.
    dof_estimated : bool
        Whether ``dof`` was estimated (``dof=None``).
    dof_bounds : (float, float)
        The range an estimated ``dof`` is searched in, ``(0.5, 1000)``; an estimate at
        the upper end means the data have no heavier tails than a normal's.
    row_weights : Series, shape (n,)
        ``E[tau_i | x_{i,O}] = (dof + p_i) / (dof + d_i^2)`` at the estimate, with ``p_i``
        the row's observed modelled cells and ``d_i^2`` its Mahalanobis distance under
        ``(mean, scale)``: the weight the row has in the estimates. Outliers get small
        weights (1 for a row with nothing observed).
    loglik : float
        Observed-data t log-likelihood at the estimate, constants included (no ridge penalty).
    trace : EMTrace
        How the run went; ``loglik_history`` is ``trace.history`` (the log-likelihood, or
        the log-posterior when ``ridge > 0``, at each accepted iterate, non-decreasing).
    n_iter, n_evals, converged, loglik_history
        The trace's, as in :class:`imputer.ImputeResult`.
    conditional_var : DataFrame, shape (n, p)
        Conditional variance of each missing cell given the row's observed cells: the
        diagonal of ``(dof + d_i^2) / (dof + p_i - 2) * C_M`` with
        ``C_M = Sigma_MM - Sigma_MO Sigma_OO^{-1} Sigma_OM`` (given ``x_O``, ``x_M`` is t
        with ``dof + p_i`` degrees of freedom and scale ``(dof + d_i^2)/(dof + p_i) C_M``);
        NaN where ``dof + p_i <= 2`` (no finite variance); 0 where observed. Built on
        first access and cached (non-writeable).
    columns, passthrough : tuple
        Labels of the modelled columns, and of the other columns carried through.
    n_missing : Series, shape (p,)
        Missing cells per modelled column.
    n_rows, n_patterns : int
    ridge, tol : float
    max_iter : int
    accelerate : bool
        The options of the fit.
    """

    completed: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    mean: pd.Series = ReadOnlyField()  # type: ignore[assignment]
    scale: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    cov: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    dof: float
    dof_estimated: bool
    row_weights: pd.Series = ReadOnlyField()  # type: ignore[assignment]
    loglik: float
    trace: EMTrace
    columns: tuple[Hashable, ...]
    n_missing: pd.Series = ReadOnlyField()  # type: ignore[assignment]
    n_rows: int
    ridge: float
    tol: float
    max_iter: int
    accelerate: bool
    n_patterns: int
    conditional_var_source: Callable[[], pd.DataFrame] = field(repr=False, compare=False)
    passthrough: tuple[Hashable, ...] = ()
    dof_bounds: tuple[float, float] = (0.5, 1000.0)

    def _hash_key(self) -> tuple[Any, ...]:
        t = self.trace
        return (self.n_rows, self.n_patterns, t.n_iter, t.n_evals, t.stop_reason)

    @cached_property
    def conditional_var(self) -> pd.DataFrame:
        """See the class docstring (computed on first access, then cached)."""
        return self.conditional_var_source()

    @property
    def options(self) -> dict[str, Any]:
        """The options of the fit: ``dof`` (None when estimated), ``tol``, ``max_iter``, ``ridge``, ``accelerate``."""
        return {
            "dof": None if self.dof_estimated else float(self.dof),
            "tol": float(self.tol),
            "max_iter": int(self.max_iter),
            "ridge": float(self.ridge),
            "accelerate": bool(self.accelerate),
        }

    def summary(self) -> str:
        """Readable text: data size, missingness, iterations, dof, estimates, smallest row weights."""
        n_cells = self.n_rows * len(self.columns)
        miss = int(self.n_missing.sum())
        method = "maximum likelihood" if self.ridge == 0 else f"posterior mode, ridge prior {self.ridge:g}"
        lo, hi = self.dof_bounds
        if not self.dof_estimated:
            dof_text = f"{self.dof:.6g} (fixed)"
        elif self.dof >= hi:
            dof_text = f"{self.dof:.6g} (estimated; at the upper bound: no heavier tails than a normal)"
        else:
            dof_text = f"{self.dof:.6g} (estimated in [{lo:g}, {hi:g}])"
        fields = [
            ("rows", self.n_rows),
            ("modelled columns", len(self.columns)),
            ("passed through", _names(self.passthrough)),
            ("missing cells", f"{miss:,} of {n_cells:,} ({100.0 * miss / n_cells:.1f}%)"),
            ("missingness patterns", self.n_patterns),
            ("estimate", method),
            ("degrees of freedom", dof_text),
            ("acceleration", "SQUAREM" if self.accelerate else "none (plain EM)"),
            *run_fields(self),
            ("tolerance", self.tol),
            ("log-likelihood", self.loglik),
        ]
        if self.ridge > 0 and self.loglik_history.size:
            fields.append(("log-posterior (last iterate)", float(self.loglik_history[-1])))
        scale_sd = np.sqrt(np.diag(self.scale.to_numpy(dtype=float)))
        per_col = pd.DataFrame({"missing": self.n_missing.astype(int), "location": self.mean, "scale sd": scale_sd}, index=self.mean.index)
        if self.dof > 2:
            per_col["sd"] = np.sqrt(np.diag(self.cov.to_numpy(dtype=float)))
            cov_note = []
        else:
            cov_note = ["", f"No finite covariance: dof = {self.dof:.4g} <= 2 (cov is NaN; the scale matrix is the estimate)."]
        weights = self.row_weights.sort_values(kind="stable").head(5)
        parts = [
            render_title("Multivariate-t EM imputation"),
            render_fields(fields),
            "",
            "Per column",
            render_table(per_col),
            *cov_note,
            "",
            "Smallest row weights (outlying rows)",
            render_table(weights),
        ]
        return "\n".join(parts)

    def to_dict(self, conditional_var: bool = False) -> dict[str, Any]:
        """JSON-ready dictionary of the result.

        Parameters
        ----------
        conditional_var : bool, default False
            Include the ``n x p`` conditional variances (``{"columns", "index", "data"}``).

        Returns
        -------
        dict
            Keys ``columns``, ``passthrough``, ``completed`` (``{"columns", "index",
            "data"}``), ``mean`` (object keyed by column), ``scale`` and ``cov``
            (``{"columns", "data"}``; ``cov`` all None when ``dof <= 2``), ``dof``,
            ``dof_estimated``, ``row_weights`` (``{"index", "data"}``), ``loglik``,
            ``loglik_history``, ``n_iter``, ``n_evals``, ``converged``, ``trace``,
            ``n_rows``, ``n_missing``, ``options`` (:attr:`options`) and, when asked,
            ``conditional_var``. Plain Python values, non-finite floats as None.
        """
        out: dict[str, Any] = {
            "columns": json_labels(self.columns),
            "passthrough": json_labels(self.passthrough),
            "completed": split_frame(self.completed),
            "mean": labelled_values(self.mean.astype(float)),
            "scale": square_frame(self.scale),
            "cov": square_frame(self.cov),
            "dof": json_value(self.dof),
            "dof_estimated": bool(self.dof_estimated),
            "row_weights": {"index": json_labels(self.row_weights.index), "data": float_list(self.row_weights)},
            "loglik": json_value(self.loglik),
            "loglik_history": float_list(self.loglik_history),
            "n_iter": int(self.n_iter),
            "n_evals": int(self.n_evals),
            "converged": bool(self.converged),
            "trace": self.trace.to_dict(),
            "n_rows": int(self.n_rows),
            "n_missing": labelled_values(self.n_missing.astype(np.int64)),
            "options": self.options,
        }
        if conditional_var:
            out["conditional_var"] = split_frame(self.conditional_var)
        return out
