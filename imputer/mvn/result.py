"""The result of :func:`imputer.impute`: completed table, estimates, diagnostics.

Everything is labelled with the caller's row index and column names. The result is a
value: equal fits compare equal and hash alike, and nothing read from it can change it
(see :mod:`imputer._frozen`). ``to_dict()`` follows the wire convention of
:mod:`imputer._json` (shared with the mixed-model result), so the REST layer returns it
as it is.
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
from imputer._json import (
    Matrices, float_list, json_labels, json_value, labelled_values, split_frame, square_frame, wanted_matrices,
)
from imputer._render import render_fields, render_table, render_title, run_fields
from imputer._render import names as _names
from imputer.mvn._information import Information, InformationSource, StandardErrors, cheap

__all__ = ["ImputeResult"]

#: The stop reasons in words, for ``summary()``.


#: passed-through column names shown by ``summary()`` before "... (k more)"




@dataclass(frozen=True, eq=False)
class ImputeResult(StandardErrors, TraceFields, ValueResult):
    """Maximum-likelihood (or posterior-mode) multivariate-normal fit and completed table.

    A value: ``==`` compares every field but the lazy sources (labelled pandas
    objects with their labels and dtypes, the trace, the options; NaN equals NaN) and
    ``hash`` agrees with it. Value equality was chosen over ``eq=False`` and identity
    because two runs on the same data give the same estimates bit for bit, and tests,
    caches and deduplication want to say so; the conditional variances are left out
    because they are a function of the fit and building them would defeat their lazy
    construction. Reading a pandas field returns a new object over the same data
    (:class:`imputer._frozen.ReadOnlyField`), so changing it (``res.mean.iloc[0] = 99``,
    ``res.completed["x"] = 0``) leaves the result unchanged; ``res.completed.copy()``
    is an ordinary, writeable table.

    Attributes
    ----------
    completed : DataFrame, shape (n, k)
        The input with every missing cell of a modelled column replaced by its
        conditional expectation given the row's observed modelled cells, under the
        final estimates. Index, columns, column order and unmodelled columns are the
        input's; observed cells are bit-for-bit the input's. Dtypes: a modelled column
        with no missing cell keeps its dtype; a modelled column with missing cells
        becomes ``float64`` (numpy input dtypes) or ``Float64`` (pandas nullable dtypes
        such as ``Int64``/``Float64``), since the conditional means are not integers.
    mean : Series, shape (p,)
        Estimated mean, indexed by the modelled columns.
    cov : DataFrame, shape (p, p)
        Estimated covariance (divisor ``n`` -- the MLE -- or ``n + ridge`` with a prior).
    corr : DataFrame, shape (p, p)
        The correlation matrix of ``cov``.
    loglik : float
        Observed-data log-likelihood at the estimate, constants included:
        ``sum_i log N(x_{i,obs}; mu_obs, Sigma_obs,obs)`` (rows with nothing observed
        contribute 0). It does not include the ridge penalty.
    trace : EMTrace
        How the run went: iterations, EM-map evaluations, convergence, why it stopped
        (``"converged"``, ``"max_iter"`` or ``"singular"``) and the objective history
        in the units of the data (see ``loglik_history``).
    loglik_history : ndarray, shape (k,), read-only
        ``trace.history``: the objective EM maximises at each accepted iterate,
        non-decreasing. It is the observed-data log-likelihood when ``ridge == 0`` and
        the log-posterior (log-likelihood plus log prior, up to the prior's normalising
        constant; see :func:`imputer.impute`), not the log-likelihood, when
        ``ridge > 0``. One entry per iteration (``k = n_iter``): plain EM's iterates, or
        the points the accelerator (Anderson, :mod:`imputer._em.anderson`) accepted. The final estimate is one EM update past the last
        entry, or, when the covariance heads to singular, the best point evaluated;
        either way its objective is at least the last entry.
    n_iter : int
        ``trace.n_iter``: iterations (plain EM steps, or accepted accelerated iterates, one
        or two EM evaluations each).
    n_evals : int
        ``trace.n_evals``: EM-map evaluations (E-step + M-step), the honest cost measure.
    converged : bool
        ``trace.converged``: whether the parameter change fell to ``tol`` (and the
        covariance is not singular).
    conditional_var : DataFrame, shape (n, p)
        Conditional variance of each modelled cell given the row's observed cells under
        the final estimates; 0 where observed. Built on first access (from the pattern
        blocks kept from the final E-step) and cached: the same object on every access,
        backed by a non-writeable array (writing a cell raises ``ValueError``). The
        constructor takes ``conditional_var_source``, a zero-argument callable returning it
        (and ``information_source`` for the standard errors, which are built alike from the
        observed cells of ``completed``).
    vcov : DataFrame, shape (k, k)
        Covariance matrix of the estimates ``(mean, upper triangle of cov)``, ``k = p +
        p(p+1)/2``, from the observed-data information at the estimate (the
        log-posterior's curvature when ``ridge > 0``); rows and columns labelled
        ``mean[a]``, then ``cov[a,b]`` for ``a <= b`` row by row (``str`` of the column
        labels). See :mod:`imputer.mvn._information` for the formulas. Built on first
        access of any standard-error attribute and cached (same object each time,
        non-writeable); refused (``ImputerValueError``) above 4,096 parameters (``p >
        89``). NaN, with a ``ConvergenceWarning``, when the information is singular.
    se_mean : Series, shape (p,)
        Standard errors of ``mean``.
    se_cov : DataFrame, shape (p, p)
        Standard errors of the entries of ``cov`` (symmetric).
    fraction_missing_info : Series, shape (k,)
        Per parameter (labels of ``vcov``), ``1 - V_com,jj / V_obs,jj``: the share of its
        variance due to the missing cells, with ``V_com`` the inverse complete-data
        information at the estimate (``Sigma_jj / n`` for a mean, ``(Sigma_aa Sigma_bb +
        Sigma_ab^2) / (n + ridge)`` for a covariance). 0 on complete data.
    worst_fraction_missing_info : float
        The largest eigenvalue of ``I_com^{-1} I_mis`` (the worst linear combination):
        the rate of convergence of plain EM near the estimate.
    columns : tuple
        Labels of the modelled columns.
    passthrough : tuple
        Labels of the other columns of the input, carried through unchanged, in order.
    n_missing : Series, shape (p,)
        Missing cells per modelled column.
    n_rows : int
        Rows of the input.
    ridge, tol : float
    max_iter : int
    accelerate : bool
    prior : str
        The options of the fit (``prior``: the ridge prior's convention, ``"ridge"`` or
        ``"amelia"``).
    start_given : bool
        Whether EM started from the caller's ``start=(mean, cov)`` rather than the
        engine's own starting values (where the objective has several maxima, the
        estimate is the one its start leads to).
    n_patterns : int
        Distinct missingness patterns of the modelled columns.
    """

    completed: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    mean: pd.Series = ReadOnlyField()  # type: ignore[assignment]
    cov: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    corr: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
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
    information_source: InformationSource = field(repr=False, compare=False)
    passthrough: tuple[Hashable, ...] = ()
    prior: str = "ridge"
    start_given: bool = False

    def _hash_key(self) -> tuple[Any, ...]:
        t = self.trace
        return (self.n_rows, self.n_patterns, t.n_iter, t.n_evals, t.stop_reason)

    @cached_property
    def conditional_var(self) -> pd.DataFrame:
        """See the class docstring (computed on first access, then cached)."""
        return self.conditional_var_source()

    @cached_property
    def _information(self) -> Information:
        # the data are the observed cells of the result's own completed table
        return self.information_source(self.__dict__["completed"])

    def summary(self) -> str:
        """Readable text: data size, missingness, iterations, convergence, estimates.

        The per-column table has an ``se`` column (``se_mean``) and the fields a ``worst
        missing info`` line (``worst_fraction_missing_info``) when they are cheap to compute
        (at most 500 parameters and few enough patterns; see
        :func:`imputer.mvn._information.cheap`), otherwise a line saying they are not shown.
        NaN there (no warning) when the information is singular.
        """
        n_cells = self.n_rows * len(self.columns)
        miss = int(self.n_missing.sum())
        method = "maximum likelihood" if self.ridge == 0 else f"posterior mode, ridge prior {self.ridge:g}"
        if self.ridge > 0 and self.prior == "amelia":
            method += " (Amelia's empri)"
        fields = [
            ("rows", self.n_rows),
            ("modelled columns", len(self.columns)),
            ("passed through", _names(self.passthrough)),
            ("missing cells", f"{miss:,} of {n_cells:,} ({100.0 * miss / n_cells:.1f}%)"),
            ("missingness patterns", self.n_patterns),
            ("estimate", method),
            ("acceleration", "Anderson" if self.accelerate else "none (plain EM)"),
            *([("started from", "the given start")] if self.start_given else []),
            *run_fields(self),
            ("tolerance", self.tol),
            ("log-likelihood", self.loglik),
        ]
        if self.ridge > 0 and self.loglik_history.size:
            fields.append(("log-posterior (last iterate)", float(self.loglik_history[-1])))
        columns: dict[str, Any] = {"missing": self.n_missing.astype(int), "mean": self.mean}
        if cheap(len(self.columns), self.n_patterns):
            info = self._information  # no warning here: NaN says it
            columns["se"] = np.sqrt(np.diag(info.vcov)[: len(self.columns)])
            fields.append(("worst missing info", info.worst))  # the worst fraction (EM rate); label within the width
        else:
            fields.append(("standard errors", "not shown for this size (see se_mean, vcov)"))
        columns["sd"] = np.sqrt(np.diag(self.cov.to_numpy(dtype=float)))
        per_col = pd.DataFrame(columns, index=self.mean.index)
        parts = [
            render_title("Multivariate-normal EM imputation"),
            render_fields(fields),
            "",
            "Per column",
            render_table(per_col),
            "",
            "Correlation",
            render_table(self.corr, digits=4),
        ]
        return "\n".join(parts)

    def to_dict(
        self, conditional_var: bool = False, standard_errors: bool = False, matrices: Matrices = "both"
    ) -> dict[str, Any]:
        """JSON-ready dictionary of the result.

        Parameters
        ----------
        conditional_var : bool, default False
            Include the ``n x p`` conditional variances (``{"columns", "index", "data"}``).
        standard_errors : bool, default False
            Include ``vcov`` (``{"columns", "data"}``, the parameter labels as columns),
            ``se_mean`` and ``fraction_missing_info`` (objects keyed by column / parameter
            label), ``se_cov`` (``{"columns", "data"}``) and ``worst_fraction_missing_info``.
        matrices : {"both", "cov", "corr", "none"}, default "both"
            Which of the ``p x p`` matrices ``cov`` and ``corr`` to write out; one left out
            is None (on wide tables they are most of the answer: ``p = 2,000`` makes
            8 million numbers).

        Returns
        -------
        dict
            Keys ``columns``, ``passthrough`` (the other columns), ``completed`` (``{"columns", "index", "data"}``), ``mean``,
            ``cov`` and ``corr`` (``{"columns", "data"}``), ``loglik``, ``loglik_history``,
            ``n_iter``, ``n_evals``, ``converged``, ``trace`` (:meth:`EMTrace.to_dict`),
            ``n_rows``, ``n_missing``, ``options`` (``tol``, ``max_iter``, ``ridge``, ``prior``,
            ``accelerate``, ``start``: whether EM started from ``start=``) and, when asked, ``conditional_var`` and the standard-error
            keys. The wire convention of :mod:`imputer._json`: plain Python values,
            non-finite floats as None;
            ``mean`` and ``n_missing`` are objects keyed by :func:`~imputer._json.json_key`
            of each modelled column (a string label as it is, a tuple label as the JSON
            text of its ``columns`` entry, e.g. ``'["x", 1]'``).

        Raises
        ------
        ImputerValueError
            ``standard_errors=True`` with more than 4,096 parameters (``p > 89``), or
            ``matrices`` not one of its four values.
        """
        want_cov, want_corr = wanted_matrices(matrices)
        cols = json_labels(self.columns)
        mean = self.mean.astype(float)
        out: dict[str, Any] = {
            "columns": cols,
            "passthrough": json_labels(self.passthrough),
            "completed": split_frame(self.completed),
            "mean": labelled_values(mean),
            "cov": square_frame(self.cov) if want_cov else None,
            "corr": square_frame(self.corr) if want_corr else None,
            "loglik": json_value(self.loglik),
            "loglik_history": float_list(self.loglik_history),
            "n_iter": int(self.n_iter),
            "n_evals": int(self.n_evals),
            "converged": bool(self.converged),
            "trace": self.trace.to_dict(),
            "n_rows": int(self.n_rows),
            "n_missing": labelled_values(self.n_missing.astype(np.int64)),
            "options": {
                "tol": float(self.tol),
                "max_iter": int(self.max_iter),
                "ridge": float(self.ridge),
                "prior": self.prior,
                "accelerate": bool(self.accelerate),
                "start": bool(self.start_given),
            },
        }
        if conditional_var:
            out["conditional_var"] = split_frame(self.conditional_var)
        if standard_errors:
            out.update(self._standard_errors_dict())
        return out
