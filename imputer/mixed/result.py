"""The result of a mixed-model fit: :class:`MixedResult`.

For ``y = X b + sum_i Z_i u_i + e``, ``u_i ~ N(0, K_i (x) G_i)``, ``e ~ N(0, s2_e I)``
(``G_i = s2_i`` for a scalar term; a ``d_i x d_i`` covariance matrix for a term with
several effects per level, e.g. lme4's ``(Days | Subject)``):
variance components, the terms' covariance and correlation matrices, fixed effects with their covariance ``(X'V^-1 X)^-1``, BLUPs
``u_i`` with their prediction error variances ``diag Var(u_i - u_i_hat)``, fitted values
``X b + sum Z_i u_i`` for every row, and the REML or ML log-likelihood in lme4's
``logLik`` convention (constants included) with ``AIC = -2 loglik + 2 d`` and
``BIC = -2 loglik + d log(n)``, ``d = p + c + 1`` (fixed effects, the ``c`` covariance
parameters of the terms -- ``k`` for ``k`` scalar terms -- and the residual; ``n`` the number of observed ``y``, also for REML).

The result is a value: equal fits compare equal and hash alike, and nothing read from it
can change it (see :mod:`imputer._frozen`). ``to_dict()`` follows the wire convention
of :mod:`imputer._json`, shared with :class:`~imputer.mvn.result.ImputeResult`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from imputer._em.trace import EMTrace, TraceFields
from imputer._frozen import ReadOnlyField, same_fields
from imputer._json import float_list, json_labels, json_value, labelled_values, split_frame, square_frame
from imputer._render import format_value, render_fields, render_table, render_title, run_fields

__all__ = ["MixedEstimates", "MixedResult"]

#: The stop reasons in words, for ``summary()``.


def _effects_json(values: pd.Series | pd.DataFrame) -> dict[str, Any]:
    if isinstance(values, pd.DataFrame):
        return split_frame(values.astype(float))
    return labelled_values(values.astype(float))


def random_effects_table(
    covariances: Mapping[str, pd.DataFrame], correlations: Mapping[str, pd.DataFrame], residual: float
) -> str:
    """lme4's random-effects table: groups, effect names, variance, std. dev., correlations.

    One row per effect of each term (the term's name on its first row), the correlations
    of each effect with the term's earlier effects to its right, then the residual.
    """
    rows: list[list[str]] = []
    width = 0
    for name, G in covariances.items():
        R = correlations[name]
        for a, eff in enumerate(G.index):
            var = float(G.iloc[a, a])
            cors = [format_value(float(R.iloc[a, b]), 3) for b in range(a)]
            width = max(width, len(cors))
            rows.append([name if a == 0 else "", str(eff), format_value(var), format_value(float(np.sqrt(var))), *cors])
    rows.append(["residual", "", format_value(residual), format_value(float(np.sqrt(residual)))])
    header = ["Groups", "Name", "Variance", "Std.Dev."] + (["Corr"] if width else [])
    table = [header] + [r + [""] * (4 + width - len(r)) for r in rows]
    ncol = max(len(r) for r in table)
    table = [r + [""] * (ncol - len(r)) for r in table]
    widths = [max(len(r[j]) for r in table) for j in range(ncol)]
    lines = []
    for r in table:
        cells = [r[j].ljust(widths[j]) if j < 2 else r[j].rjust(widths[j]) for j in range(ncol)]
        lines.append(" " + "  ".join(cells).rstrip())
    return "\n".join(lines)


def _groups_line(n_obs: int, u: Mapping[str, pd.Series | pd.DataFrame]) -> str:
    """lme4's ``Number of obs: 180, groups: Subject, 18`` (levels of each random term)."""
    return f"Number of obs: {n_obs}, groups: " + "; ".join(f"{name}, {len(b)}" for name, b in u.items())


class MixedEstimates:
    """``se_beta``, ``summary()`` and the estimates' part of ``to_dict()``, shared by
    :class:`MixedResult` and :class:`imputer.dask.DaskMixedResult` (whose rows are lazy)."""

    #: the title's engine text and extra fields of ``summary()`` (subclasses)
    _summary_engine_suffix = ""

    def _summary_extra(self) -> list[tuple[str, Any]]:
        return []

    @property
    def se_beta(self) -> pd.Series:
        """Standard errors of ``beta``: square roots of the diagonal of ``var_beta``."""
        return pd.Series(np.sqrt(np.diag(self.var_beta.to_numpy())), index=self.beta.index, name="se")

    def summary(self) -> str:
        """Text summary: fit statistics, how EM stopped, random effects (lme4's table), fixed effects."""
        fe = pd.DataFrame({"estimate": self.beta, "std.error": self.se_beta})
        fe["t value"] = fe["estimate"] / fe["std.error"]
        parts = [
            render_title(f"Linear mixed model fit by {self.method} (EM, {self.engine}{self._summary_engine_suffix})"),
            render_fields(
                [
                    *self._summary_extra(),
                    ("observations", self.n_obs),
                    ("missing y (predicted)", self.n_missing),
                    *([("rows dropped (missing covariate)", self.n_dropped)] if self.n_dropped else []),
                    ("log-likelihood", self.loglik),
                    ("AIC", self.aic),
                    ("BIC", self.bic),
                    *run_fields(self, converged="converged (relative change of the components <= tol)"),
                    ("on the boundary (singular)", ", ".join(self.boundary) if self.boundary else "none"),
                ]
            ),
            "",
            "Random effects:",
            random_effects_table(self.covariances, self.correlations, float(self.var_comp["residual"])),
            _groups_line(self.n_obs, self.u),
            "",
            "Fixed effects:",
            render_table(fe),
        ]
        if self.contrasts:
            parts.append("Contrasts: " + ", ".join(f"{f} {c}" for f, c in self.contrasts.items()))
        return "\n".join(parts)

    def _estimates_dict(self, rows: dict[str, Any]) -> dict[str, Any]:
        """``to_dict()`` with ``rows`` (the per-row entries, if any) after ``pev``."""
        return {
            "var_comp": labelled_values(self.var_comp.astype(float)),
            "beta": labelled_values(self.beta.astype(float)),
            "var_beta": square_frame(self.var_beta),
            "covariances": {name: square_frame(g) for name, g in self.covariances.items()},
            "correlations": {name: square_frame(g) for name, g in self.correlations.items()},
            "u": {name: _effects_json(s) for name, s in self.u.items()},
            "pev": {name: _effects_json(s) for name, s in self.pev.items()},
            **rows,
            "loglik": json_value(float(self.loglik)),
            "aic": json_value(float(self.aic)),
            "bic": json_value(float(self.bic)),
            "n_iter": int(self.n_iter),
            "n_evals": int(self.n_evals),
            "converged": bool(self.converged),
            "trace": self.trace.to_dict(),
            "method": str(self.method),
            "engine": str(self.engine),
            "boundary": [str(b) for b in self.boundary],
            "loglik_history": float_list(self.loglik_history),
            "n_obs": int(self.n_obs),
            "n_missing": int(self.n_missing),
            "n_dropped": int(self.n_dropped),
            "dropped": json_labels(self.dropped),
            "contrasts": {str(k): str(v) for k, v in self.contrasts.items()},
            "options": {
                "method": str(self.method),
                "tol": float(self.tol),
                "max_iter": int(self.max_iter),
                "accelerate": bool(self.accelerate),
            },
        }


@dataclass(frozen=True, eq=False)
class MixedResult(MixedEstimates, TraceFields):
    """Fitted linear mixed model (an immutable value).

    ``==`` compares every field (labelled pandas objects with their labels and dtypes,
    the BLUP mappings, the trace, the options; NaN equals NaN) and ``hash`` agrees with
    it: two fits of the same data with the same options are equal, bit for bit, and
    tests, caches and deduplication want to say so (hence value equality rather than
    ``eq=False`` and identity). Reading a pandas field returns a new object over the
    same data and ``u``/``pev`` are read-only mappings of such objects
    (:class:`imputer._frozen.ReadOnlyField`), so changing what was read
    (``res.beta.iloc[0] = 0``, ``res.u["g"]["new"] = 1``) leaves the result unchanged,
    and ``res.u["g"] = ...`` raises ``TypeError``.

    Attributes
    ----------
    var_comp : Series
        Variance components in the order of the random effects, then ``"residual"``: a
        scalar term's variance under its name; a covariance term's variances under its
        name (the intercept) and ``"name.effect"`` (the other effects, e.g.
        ``"Subject.Days"``).
    covariances : Mapping of str -> DataFrame, read-only
        Each term's covariance matrix ``G_i`` (d_i x d_i) labelled by its effects
        (``covariances["Subject"]`` indexed ``["(Intercept)", "Days"]``); a scalar term's
        is 1 x 1 labelled ``"(Intercept)"``; for independent effects (``||``) the
        off-diagonal entries are exactly 0.
    correlations : Mapping of str -> DataFrame, read-only
        ``G_ab / sqrt(G_aa G_bb)``, labelled likewise (NaN where a variance is 0).
    beta : Series, shape (p,)
        Fixed effects (GLS estimate at the variance components), labelled by ``X``'s columns.
    var_beta : DataFrame, shape (p, p)
        Covariance matrix of ``beta``, ``(X' V^-1 X)^-1``.
    u : Mapping of str -> Series or DataFrame, read-only
        BLUPs: for a scalar term a Series (q_i,) labelled by level; for a covariance term
        a DataFrame (q_i levels x d_i effects).
    pev : Mapping of str -> Series or DataFrame, read-only
        Prediction error variances ``diag Var(u_i - u_i_hat)``, shaped like ``u``
        (accounting for the estimation of ``b``; zero for a term at the boundary).
    fitted : Series, shape (n,)
        ``X b + sum_i Z_i u_i`` for every row, those with missing ``y`` included.
    completed : Series, shape (n,)
        ``y`` with only its missing entries replaced by ``fitted``.
    residuals : Series, shape (n,)
        ``y - fitted``; NaN where ``y`` is missing.
    loglik : float
        REML or ML log-likelihood with all constants (lme4's ``logLik``).
    aic, bic : float
        lme4's conventions (see module docstring).
    trace : EMTrace
        How the run went: iterations, EM-map evaluations, convergence, why it stopped
        (``"converged"`` or ``"max_iter"``; ``"singular"`` only if rounding made an EM
        update non-positive, which exact EM never does) and the objective history.
    n_iter : int
        ``trace.n_iter``: outer iterations (SQUAREM cycles, Newton steps or plain EM
        steps, boundary probes included).
    n_evals : int
        ``trace.n_evals``: EM-map evaluations (the honest cost measure), plus the
        boundary probes' likelihood and score evaluations and the final likelihood.
    converged : bool
        ``trace.converged``.
    loglik_history : ndarray, shape (n_hist,), read-only
        ``trace.history``: the objective at every accepted iterate (then at the final
        estimate when it is no lower), non-decreasing: the restricted log-likelihood
        for ``method="REML"``, the log-likelihood for ``"ML"`` (lme4's constants).
    boundary : tuple of str
        Terms whose covariance is singular at the estimate: exactly zero (optimum on the
        boundary, found by the boundary probe), or, for a covariance term, of lower rank
        (a correlation of +-1 or a zero variance, like lme4's singular fits).
    method : str
        ``"REML"`` or ``"ML"``.
    n_obs : int
        Number of observed ``y`` used in the fit.
    n_missing : int
        Number of missing ``y`` (predicted).
    engine : str
        ``"mme"`` (Henderson's equations) or ``"spectral"`` (single kernel, EMMA).
    tol : float
    max_iter : int
    accelerate : bool
        The options of the fit (``method`` above is one too).
    contrasts : Mapping of str -> str, read-only
        Each factor of the fixed effects (:func:`~imputer.fit_mixed_frame`) and its coding,
        ``"treatment"`` or ``"poly"``; empty for :func:`~imputer.fit_mixed`.
    n_dropped : int
        Rows left out for a missing covariate or grouping factor (``na_action="drop"``).
    dropped : tuple
        Their row labels, in table order.
    """

    var_comp: pd.Series = ReadOnlyField()  # type: ignore[assignment]
    covariances: Mapping[str, pd.DataFrame] = ReadOnlyField()  # type: ignore[assignment]
    correlations: Mapping[str, pd.DataFrame] = ReadOnlyField()  # type: ignore[assignment]
    beta: pd.Series = ReadOnlyField()  # type: ignore[assignment]
    var_beta: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    u: Mapping[str, pd.Series | pd.DataFrame] = ReadOnlyField()  # type: ignore[assignment]
    pev: Mapping[str, pd.Series | pd.DataFrame] = ReadOnlyField()  # type: ignore[assignment]
    fitted: pd.Series = ReadOnlyField()  # type: ignore[assignment]
    completed: pd.Series = ReadOnlyField()  # type: ignore[assignment]
    residuals: pd.Series = ReadOnlyField()  # type: ignore[assignment]
    loglik: float
    aic: float
    bic: float
    trace: EMTrace
    boundary: tuple[str, ...]
    method: str
    n_obs: int
    n_missing: int
    engine: str
    tol: float
    max_iter: int
    accelerate: bool
    contrasts: Mapping[str, str] = ReadOnlyField()  # type: ignore[assignment]
    n_dropped: int = 0
    dropped: tuple = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MixedResult):
            return NotImplemented
        return self is other or same_fields(self, other)

    def __hash__(self) -> int:
        t = self.trace
        return hash(("MixedResult", self.method, self.engine, self.n_obs, t.n_iter, t.n_evals, t.stop_reason))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict in the wire convention of :mod:`imputer._json`.

        Returns
        -------
        dict
            ``var_comp``, ``beta``: objects keyed by label; ``var_beta``:
            ``{"columns", "data"}``; ``covariances``, ``correlations``: term ->
            ``{"columns", "data"}``; ``u``, ``pev``: for a scalar term, level key ->
            value; for a covariance term, ``{"columns": effects, "index": levels,
            "data": rows}``;
            ``index``: the row labels, and ``fitted``, ``completed``, ``residuals``:
            lists aligned with it (n entries); ``loglik``, ``aic``, ``bic``;
            ``n_iter``, ``n_evals``, ``converged``, ``loglik_history`` and ``trace``
            (:meth:`EMTrace.to_dict`); ``method``, ``engine``, ``boundary``, ``n_obs``,
            ``n_missing``; ``n_dropped``, ``dropped`` (row labels), ``contrasts`` (factor ->
            coding); ``options`` (``method``, ``tol``, ``max_iter``,
            ``accelerate``). Plain Python values; non-finite floats are None; keys are
            :func:`~imputer._json.json_key` of the labels (``1`` -> ``"1"``).
        """
        fitted = self.fitted
        return self._estimates_dict(
            {
                "index": json_labels(fitted.index),
                "fitted": float_list(fitted.to_numpy(dtype=float)),
                "completed": float_list(self.completed.to_numpy(dtype=float)),
                "residuals": float_list(self.residuals.to_numpy(dtype=float)),
            }
        )
