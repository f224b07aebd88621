r"""The result of a multi-trait mixed-model fit: :class:`MultiTraitResult`.

For ``vec(Y) = (I_t (x) X) vec(B) + (I_t (x) Z) vec(U) + vec(E)`` with
``vec(U) ~ N(0, G (x) K)`` and ``vec(E) ~ N(0, R (x) I)`` (``t`` traits): the genetic
(random-term) and residual covariance matrices ``G``, ``R`` (t x t, labelled by trait)
and their correlations, fixed effects ``B`` (p x t), BLUPs ``U`` (levels x traits),
``fitted = X B + Z U`` and ``completed`` (each missing entry replaced by its conditional
expectation given every observed entry, with GLS ``B``: ``fitted`` plus the residual
part ``E[e_mis | y_obs]``), and the REML/ML log-likelihood with lme4's constants;
``AIC = -2 loglik + 2 d``, ``BIC = -2 loglik + d log N`` with ``d = t p + t(t+1)`` and
``N`` the number of observed entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from imputer._em.trace import EMTrace, TraceFields
from imputer._frozen import ReadOnlyField, same_fields
from imputer._json import float_list, json_labels, json_value, split_frame, square_frame
from imputer._render import render_fields, render_table, render_title

__all__ = ["MultiTraitResult"]


@dataclass(frozen=True, eq=False)
class MultiTraitResult(TraceFields):
    """Fitted multi-trait linear mixed model (an immutable value; equality by fields).

    Attributes
    ----------
    covariances : Mapping of str -> DataFrame (t, t), read-only
        ``G`` under the random term's name and ``R`` under ``"residual"``, labelled by trait.
    correlations : Mapping of str -> DataFrame (t, t), read-only
        Genetic (term) and residual correlations, same keys.
    beta : DataFrame, shape (p, t)
        Fixed effects of each trait (GLS), rows labelled by ``X``'s columns.
    u : Mapping of str -> DataFrame (q, t), read-only
        BLUPs of the term's levels for each trait.
    fitted : DataFrame, shape (n, t)
        ``X B + Z U`` for every row.
    completed : DataFrame, shape (n, t)
        ``Y`` with each missing entry replaced by ``E[y_mis | y_obs]``; observed entries
        bit for bit.
    loglik, aic, bic : float
        REML or ML log-likelihood (lme4's constants) and the criteria (module docstring).
    trace : EMTrace
        How EM ran (``n_iter``, ``n_evals``, ``converged``, ``loglik_history``).
    boundary : tuple of str
        Covariance matrices singular at the estimate (a correlation of +-1 or a zero
        variance): the term's name and/or ``"residual"``.
    method : str
    n_obs, n_missing : int
        Observed and missing entries of ``Y``.
    traits : tuple of str
    tol, max_iter, accelerate
        The fit's options.
    """

    covariances: Mapping[str, pd.DataFrame] = ReadOnlyField()  # type: ignore[assignment]
    correlations: Mapping[str, pd.DataFrame] = ReadOnlyField()  # type: ignore[assignment]
    beta: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    u: Mapping[str, pd.DataFrame] = ReadOnlyField()  # type: ignore[assignment]
    fitted: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    completed: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    loglik: float
    aic: float
    bic: float
    trace: EMTrace
    boundary: tuple[str, ...]
    method: str
    n_obs: int
    n_missing: int
    traits: tuple[str, ...]
    tol: float
    max_iter: int
    accelerate: bool

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MultiTraitResult):
            return NotImplemented
        return self is other or same_fields(self, other)

    def __hash__(self) -> int:
        t = self.trace
        return hash(("MultiTraitResult", self.method, self.traits, self.n_obs, t.n_iter, t.n_evals, t.stop_reason))

    def summary(self) -> str:
        """Text summary: fit statistics, each covariance and correlation matrix, fixed effects."""
        parts = [
            render_title(f"Multi-trait linear mixed model fit by {self.method} (AI-REML safeguarded by EM, canonical transformation)"),
            render_fields(
                [
                    ("traits", ", ".join(self.traits)),
                    ("observed entries", self.n_obs),
                    ("missing entries (predicted)", self.n_missing),
                    ("log-likelihood", self.loglik),
                    ("AIC", self.aic),
                    ("BIC", self.bic),
                    ("iterations", self.n_iter),
                    ("EM evaluations", self.n_evals),
                    ("converged", self.converged),
                    ("stopped because", self.trace.stop_reason),
                    ("on the boundary (singular)", ", ".join(self.boundary) if self.boundary else "none"),
                ]
            ),
        ]
        for name, S in self.covariances.items():
            parts += ["", f"Covariance {name}:", render_table(S), f"Correlation {name}:", render_table(self.correlations[name])]
        parts += ["", "Fixed effects:", render_table(self.beta)]
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (:mod:`imputer._json`'s wire convention).

        Returns
        -------
        dict
            ``traits``; ``covariances``, ``correlations``: name -> ``{"columns", "data"}``;
            ``beta``, ``u[name]``, ``fitted``, ``completed``: ``{"columns", "index",
            "data"}``; ``loglik``, ``aic``, ``bic``, ``n_iter``, ``n_evals``,
            ``converged``, ``loglik_history``, ``trace``, ``method``, ``boundary``,
            ``n_obs``, ``n_missing``, ``options``.
        """
        return {
            "traits": list(self.traits),
            "covariances": {k: square_frame(v) for k, v in self.covariances.items()},
            "correlations": {k: square_frame(v) for k, v in self.correlations.items()},
            "beta": split_frame(self.beta.astype(float)),
            "u": {k: split_frame(v.astype(float)) for k, v in self.u.items()},
            "index": json_labels(self.fitted.index),
            "fitted": split_frame(self.fitted.astype(float)),
            "completed": split_frame(self.completed.astype(float)),
            "loglik": json_value(float(self.loglik)),
            "aic": json_value(float(self.aic)),
            "bic": json_value(float(self.bic)),
            "n_iter": int(self.n_iter),
            "n_evals": int(self.n_evals),
            "converged": bool(self.converged),
            "loglik_history": float_list(np.asarray(self.loglik_history)),
            "trace": self.trace.to_dict(),
            "method": str(self.method),
            "boundary": [str(b) for b in self.boundary],
            "n_obs": int(self.n_obs),
            "n_missing": int(self.n_missing),
            "options": {"method": str(self.method), "tol": float(self.tol), "max_iter": int(self.max_iter),
                        "accelerate": bool(self.accelerate)},
        }
