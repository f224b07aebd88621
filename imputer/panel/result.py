"""``PanelImputeResult``: the fit on the panel's augmented model, the completed input table."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from imputer._em import EMTrace
from imputer._frozen import ReadOnlyField, same_fields
from imputer._json import Matrices, json_labels, split_frame
from imputer._render import render_fields
from imputer.panel._spec import PanelSpec

__all__ = ["PanelImputeResult"]


@dataclass(frozen=True, eq=False)
class PanelImputeResult:
    """A normal fitted with a panel's covariates (time trends, lags, leads), filling the input table.

    ``imputer.impute(data, panel=..., idvars=...)`` returns it.

    Attributes
    ----------
    completed : DataFrame, shape (n, k)
        The input with the modelled columns' missing cells filled: exactly the input's
        columns, index and observed cells; dtypes as :func:`imputer.impute` keeps them.
        The time, unit and ``idvars`` columns are copied untouched.
    model : ImputeResult or TransformedImputeResult
        The fit on the augmented table (modelled columns, then the covariates, then the
        lags and leads): its estimates, log-likelihood, trace and ``completed``.
    panel : PanelSpec or None
        The checked ``panel`` (None with ``idvars`` alone).
    idvars : tuple
    columns : tuple
        The modelled columns of the input.
    covariates : tuple of str
        The time covariates' labels in the model (``time``, ``time^2``, ``unit[u]``, ``time[u]``, ...).
    shifted : tuple of str
        The lag and lead columns (``lag(x)``, ``lead(x)``).
    mean, cov, corr, loglik, trace, n_iter, converged, conditional_var
        The model's (augmented; ``conditional_var`` of the model's columns).
    """

    completed: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    model: Any
    panel: PanelSpec | None
    idvars: tuple[Hashable, ...]
    columns: tuple[Hashable, ...]
    covariates: tuple[str, ...]
    shifted: tuple[str, ...]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PanelImputeResult):
            return NotImplemented
        return self is other or same_fields(self, other)

    def __hash__(self) -> int:
        return hash(("PanelImputeResult", hash(self.model), self.panel, self.columns))

    @property
    def mean(self) -> pd.Series:
        return self.model.mean

    @property
    def cov(self) -> pd.DataFrame:
        return self.model.cov

    @property
    def corr(self) -> pd.DataFrame:
        return self.model.corr

    @property
    def loglik(self) -> float:
        return float(self.model.loglik)

    @property
    def trace(self) -> EMTrace:
        return self.model.trace

    @property
    def n_iter(self) -> int:
        return int(self.model.n_iter)

    @property
    def converged(self) -> bool:
        return bool(self.model.converged)

    @property
    def conditional_var(self) -> pd.DataFrame:
        return self.model.conditional_var

    def summary(self) -> str:
        """The panel's settings in front of the model's summary."""
        rows = []
        if self.panel is not None:
            p = self.panel
            rows += [("time", str(p.time)), ("unit", "-" if p.unit is None else str(p.unit)),
                     ("polytime", str(p.polytime)), ("intercs", str(p.intercs))]
            if p.lags:
                rows.append(("lags", ", ".join(map(str, p.lags))))
            if p.leads:
                rows.append(("leads", ", ".join(map(str, p.leads))))
            rows.append(("covariates added", str(len(self.covariates) + len(self.shifted))))
        if self.idvars:
            rows.append(("idvars", ", ".join(map(str, self.idvars))))
        return "Panel (time-series cross-section)\n" + render_fields(rows) + "\n\n" + self.model.summary()

    def to_dict(
        self, conditional_var: bool = False, standard_errors: bool = False, matrices: Matrices = "both"
    ) -> dict[str, Any]:
        """The model's ``to_dict()`` (augmented), with ``completed`` the input table and the panel's settings."""
        out = self.model.to_dict(conditional_var=conditional_var, standard_errors=standard_errors, matrices=matrices)
        out["model_columns"] = out.get("model_columns", out["columns"])
        out["columns"] = json_labels(self.columns)
        out["passthrough"] = json_labels([c for c in self.completed.columns if c not in set(self.columns)])
        out["completed"] = split_frame(self.completed)
        out["panel"] = None if self.panel is None else self.panel.to_dict()
        out["idvars"] = json_labels(self.idvars)
        out["covariates"] = list(self.covariates) + list(self.shifted)
        return out


