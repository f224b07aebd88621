"""The result of a mixed-model fit: :class:`MixedResult`.

For ``y = X b + sum_i Z_i u_i + e``, ``u_i ~ N(0, s2_i K_i)``, ``e ~ N(0, s2_e I)``:
variance components, fixed effects with their covariance ``(X'V^-1 X)^-1``, BLUPs
``u_i`` with their prediction error variances ``diag Var(u_i - u_i_hat)``, fitted values
``X b + sum Z_i u_i`` for every row, and the REML or ML log-likelihood in lme4's
``logLik`` convention (constants included) with ``AIC = -2 loglik + 2 d`` and
``BIC = -2 loglik + d log(n)``, ``d = p + k + 1`` (fixed effects plus variance
parameters, residual included; ``n`` the number of observed ``y``, also for REML).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from imputer._json import finite_or_none as _num
from imputer._render import render_fields, render_table, render_title

__all__ = ["MixedResult"]


def _series_dict(s: pd.Series) -> dict[str, float | None]:
    return {str(k): _num(v) for k, v in s.items()}


@dataclass(frozen=True)
class MixedResult:
    """Fitted linear mixed model (immutable).

    Attributes
    ----------
    var_comp : Series, shape (k + 1,)
        Variance components in the order of the random effects, then ``"residual"``.
    beta : Series, shape (p,)
        Fixed effects (GLS estimate at the variance components), labelled by ``X``'s columns.
    var_beta : DataFrame, shape (p, p)
        Covariance matrix of ``beta``, ``(X' V^-1 X)^-1``.
    u : dict of str -> Series
        BLUPs of each random effect, shape (q_i,), labelled by level.
    pev : dict of str -> Series
        Prediction error variances ``diag Var(u_i - u_i_hat)``, shape (q_i,)
        (accounting for the estimation of ``b``; zero for a component at the boundary).
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
    n_iter : int
        Outer iterations (SQUAREM cycles or plain EM steps, boundary probes included).
    converged : bool
    loglik_history : ndarray, shape (n_hist,)
        Log-likelihood at every accepted iterate; non-decreasing.
    boundary : tuple of str
        Components whose estimate is exactly zero (optimum on the boundary).
    method : str
        ``"REML"`` or ``"ML"``.
    n_obs : int
        Number of observed ``y`` used in the fit.
    n_missing : int
        Number of missing ``y`` (predicted).
    n_evals : int
        EM-map evaluations (the honest cost measure).
    engine : str
        ``"mme"`` (Henderson's equations) or ``"spectral"`` (single kernel, EMMA).
    """

    var_comp: pd.Series
    beta: pd.Series
    var_beta: pd.DataFrame
    u: dict[str, pd.Series]
    pev: dict[str, pd.Series]
    fitted: pd.Series
    completed: pd.Series
    residuals: pd.Series
    loglik: float
    aic: float
    bic: float
    n_iter: int
    converged: bool
    loglik_history: np.ndarray = field(repr=False)
    boundary: tuple[str, ...]
    method: str
    n_obs: int
    n_missing: int = 0
    n_evals: int = 0
    engine: str = "mme"

    @property
    def se_beta(self) -> pd.Series:
        """Standard errors of ``beta``: square roots of the diagonal of ``var_beta``."""
        return pd.Series(np.sqrt(np.diag(self.var_beta.to_numpy())), index=self.beta.index, name="se")

    def summary(self) -> str:
        """Text summary: fit statistics, variance components, fixed effects."""
        vc = pd.DataFrame({"variance": self.var_comp, "std.dev": np.sqrt(self.var_comp)})
        fe = pd.DataFrame({"estimate": self.beta, "std.error": self.se_beta})
        fe["t value"] = fe["estimate"] / fe["std.error"]
        parts = [
            render_title(f"Linear mixed model fit by {self.method} (EM, {self.engine})"),
            render_fields(
                [
                    ("observations", self.n_obs),
                    ("missing y (predicted)", self.n_missing),
                    ("log-likelihood", self.loglik),
                    ("AIC", self.aic),
                    ("BIC", self.bic),
                    ("iterations", self.n_iter),
                    ("converged", self.converged),
                    ("at zero boundary", ", ".join(self.boundary) if self.boundary else "none"),
                ]
            ),
            "",
            "Variance components:",
            render_table(vc),
            "",
            "Fixed effects:",
            render_table(fe),
        ]
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: plain floats/ints/str/None, level labels as strings."""
        vb = self.var_beta
        return {
            "var_comp": _series_dict(self.var_comp),
            "beta": _series_dict(self.beta),
            "var_beta": {
                "columns": [str(c) for c in vb.columns],
                "data": [[_num(x) for x in row] for row in vb.to_numpy()],
            },
            "u": {name: _series_dict(s) for name, s in self.u.items()},
            "pev": {name: _series_dict(s) for name, s in self.pev.items()},
            "fitted": [_num(x) for x in self.fitted.to_numpy()],
            "completed": [_num(x) for x in self.completed.to_numpy()],
            "residuals": [_num(x) for x in self.residuals.to_numpy()],
            "loglik": _num(self.loglik),
            "aic": _num(self.aic),
            "bic": _num(self.bic),
            "n_iter": int(self.n_iter),
            "converged": bool(self.converged),
            "method": str(self.method),
            "boundary": [str(b) for b in self.boundary],
            "loglik_history": [_num(x) for x in self.loglik_history],
            "n_obs": int(self.n_obs),
            "n_missing": int(self.n_missing),
        }
