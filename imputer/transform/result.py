"""``TransformedImputeResult``: a normal fit on transformed columns, filled on their own scale."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from imputer._em import EMTrace
from imputer._frozen import ReadOnlyField, same_fields
from imputer._json import Matrices, json_labels, split_frame
from imputer._render import render_fields
from imputer._util import readonly
from imputer.mvn.result import ImputeResult
from imputer.transform._maps import ColumnMap

__all__ = ["TransformedImputeResult"]


@dataclass(frozen=True, eq=False)
class TransformedImputeResult:
    """The multivariate normal fitted to transformed columns, with fills on the original scale.

    ``imputer.impute(data, transforms=..., bounds=...)`` returns it. The model is
    ``(g_1(x_1), ..., g_p(x_p)) ~ N(mu, Sigma)`` with ``g_j`` the column's transform
    (identity when it has none); the estimates are on that scale and labelled so
    (``log(tariff)``, ``logit(share; 0, 100)``). Each missing cell is filled with its
    conditional expectation on the original scale, ``E[g^{-1}(Y) | x_obs]`` (truncated to
    the column's bounds), not the back-transformed conditional mean (see
    :mod:`imputer.transform._maps` for the formulas).

    Attributes
    ----------
    completed : DataFrame, shape (n, k)
        The input with the missing cells of the modelled columns filled on their own
        scale: index, columns, dtypes and observed cells as :func:`imputer.impute` keeps them.
    model : ImputeResult
        The fit on the model scale: its estimates, log-likelihood (of the transformed
        data), trace, standard errors, and its ``completed`` table of the transformed
        modelled columns (conditional means on that scale).
    maps : tuple of ColumnMap, length p
        Each modelled column's transform and bounds.
    columns : tuple
        The modelled columns' labels (original names).
    conditional_var : DataFrame, shape (n, p)
        ``Var[g^{-1}(Y) | x_obs]`` of each filled cell (truncated to its bounds), 0 where
        observed; built on first access. Labelled by the original names.
    mean, cov, corr, loglik, trace, loglik_history, n_iter, n_evals, converged, passthrough,
    n_missing
        The model's (on the model scale, labelled by the model-scale names).
    """

    completed: pd.DataFrame = ReadOnlyField()  # type: ignore[assignment]
    model: ImputeResult
    maps: tuple[ColumnMap, ...]
    columns: tuple[Hashable, ...]
    conditional_var_source: Callable[[], pd.DataFrame] = field(repr=False, compare=False)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TransformedImputeResult):
            return NotImplemented
        return self is other or same_fields(self, other)

    def __hash__(self) -> int:
        return hash(("TransformedImputeResult", hash(self.model), self.maps))

    # -- the model's estimates ------------------------------------------------------
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
        return self.model.loglik

    @property
    def trace(self) -> EMTrace:
        return self.model.trace

    @property
    def loglik_history(self) -> np.ndarray:
        return self.model.loglik_history

    @property
    def n_iter(self) -> int:
        return self.model.n_iter

    @property
    def n_evals(self) -> int:
        return self.model.n_evals

    @property
    def converged(self) -> bool:
        return self.model.converged

    @property
    def passthrough(self) -> tuple[Hashable, ...]:
        return self.model.passthrough

    @property
    def n_missing(self) -> pd.Series:
        return self.model.n_missing

    @property
    def transforms(self) -> dict[Hashable, str]:
        """Column -> its model-scale label, for the transformed or bounded columns."""
        return {c: self._describe(c, m) for c, m in zip(self.columns, self.maps, strict=True) if m.kind != "identity" or m.bounded}

    @staticmethod
    def _describe(column: Hashable, m: ColumnMap) -> str:
        text = m.label(str(column))
        if m.bounded:
            lo = "(-inf" if not np.isfinite(m.lower) else f"[{m.lower:g}"
            hi = "inf)" if not np.isfinite(m.upper) else f"{m.upper:g}]"
            text += f", bounded to {lo}, {hi}"
        return text

    @cached_property
    def conditional_var(self) -> pd.DataFrame:
        """See the class docstring (built on first access, then cached)."""
        frame = self.conditional_var_source()
        frame = pd.DataFrame(readonly(frame.to_numpy()), index=frame.index, columns=frame.columns, copy=False)
        return frame

    def summary(self) -> str:
        """The model's summary, with the transforms and bounds in front."""
        lines = [
            "Transformed columns (estimates below are on these scales; fills on the original ones)",
            render_fields([(str(c), text) for c, text in self.transforms.items()]),
            "",
        ]
        return "\n".join(lines) + self.model.summary()

    def to_dict(
        self, conditional_var: bool = False, standard_errors: bool = False, matrices: Matrices = "both"
    ) -> dict[str, Any]:
        """The model's :meth:`ImputeResult.to_dict` with the original-scale tables and the transforms.

        ``completed`` (and, when asked, ``conditional_var``) are on the original scale;
        ``columns`` are the original names and ``model_columns`` the model-scale labels of
        ``mean``, ``cov`` and ``corr``; ``transforms`` maps each transformed or bounded
        column to ``{"transform", "lo", "hi", "lower", "upper", "label"}`` (non-finite as None).
        """
        out = self.model.to_dict(conditional_var=False, standard_errors=standard_errors, matrices=matrices)
        out["model_columns"] = out["columns"]
        out["columns"] = json_labels(self.columns)
        out["completed"] = split_frame(self.completed)
        if conditional_var:
            out["conditional_var"] = split_frame(self.conditional_var)

        def num(x: float) -> float | None:
            return float(x) if np.isfinite(x) else None

        out["transforms"] = {
            str(c): {"transform": m.kind, "lo": num(m.lo), "hi": num(m.hi), "lower": num(m.lower),
                     "upper": num(m.upper), "label": m.label(str(c))}
            for c, m in zip(self.columns, self.maps, strict=True) if m.kind != "identity" or m.bounded
        }
        return out
