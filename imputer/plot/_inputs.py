"""What the figures read from a fit: the EM result, the imputations, the missing cells (private).

A fit is an :class:`~imputer.ImputeResult` (the normal), a
:class:`~imputer.TImputeResult` (the t) or a :class:`~imputer.MixtureImputeResult` (the
Gaussian mixture, whose rows' most probable components the figures colour). A
multiple-imputation result is recognised by duck typing: any object with ``imputations``
(a sequence of completed DataFrames) and ``em`` (one of those fits, the draws' model).
The missing cells of a modelled column are those with a positive (or, for the t with
``dof + p_i <= 2``, undefined) conditional variance (``result.conditional_var`` is 0 at
observed cells); the observed values are ``result.completed`` at the other cells, bit
for bit the input's.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.mvn.result import ImputeResult

__all__ = ["Fit", "as_fit", "pick_columns"]


@dataclass(frozen=True)
class Fit:
    """An EM fit, its missing cells, and its imputations.

    Attributes
    ----------
    em : ImputeResult
    missing : DataFrame of bool, shape (n, p)
        True at the missing cells of each modelled column.
    imputations : tuple of DataFrame
        ``(em.completed,)`` for a single fit, else the completed tables of a multiple
        imputation (each ``(n, k)``).
    multiple : bool
        Whether ``imputations`` are draws of a multiple imputation.
    components : Series of int or None
        Mixture fits: each row's most probable component (``em.labels``); else None.
    """

    em: Any
    missing: pd.DataFrame
    imputations: tuple[pd.DataFrame, ...]
    multiple: bool
    components: pd.Series | None = None

    def observed(self, column: Hashable) -> np.ndarray:
        """The observed values of a modelled column, float, shape (n_obs,)."""
        values = self.em.completed[column].to_numpy(dtype=float, na_value=np.nan)
        return values[~self.missing[column].to_numpy()]

    def with_missing(self) -> np.ndarray:
        """The modelled columns with NaN at missing cells, float, shape (n, p)."""
        values = np.array(self.em.completed[list(self.em.columns)].to_numpy(dtype=float, na_value=np.nan), copy=True)
        values[self.missing.to_numpy()] = np.nan
        return values


def _fit_types() -> tuple[type, ...]:
    from imputer.mixture.result import MixtureImputeResult
    from imputer.mvt.result import TImputeResult

    return (ImputeResult, TImputeResult, MixtureImputeResult)


def as_fit(result: Any, function: str) -> Fit:
    """A fit (normal, t, mixture) or a multiple-imputation result as a :class:`Fit`."""
    fits = _fit_types()
    if isinstance(result, fits):
        em, imps, multiple = result, None, False
    elif isinstance(getattr(result, "em", None), fits) and hasattr(result, "imputations"):
        em, imps, multiple = result.em, tuple(result.imputations), True
        if not imps or not all(isinstance(t, pd.DataFrame) for t in imps):
            raise ImputerTypeError(f"{function}: result.imputations must be a non-empty sequence of DataFrames")
    else:
        raise ImputerTypeError(
            f"{function}: result must be an ImputeResult (imputer.impute), a TImputeResult, a MixtureImputeResult "
            f"or a multiple-imputation result (with .imputations and .em), got {type(result).__name__}"
        )
    cv = em.conditional_var.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        missing = pd.DataFrame((cv > 0.0) | np.isnan(cv), index=em.conditional_var.index, columns=em.conditional_var.columns)
    components = em.labels if isinstance(em, fits[2]) else None
    return Fit(em=em, missing=missing, imputations=imps or (em.completed,), multiple=multiple, components=components)


def pick_columns(fit: Fit, columns: Sequence[Hashable] | None, function: str) -> list[Hashable]:
    """The columns to draw: the given ones (modelled by the fit), or every incomplete one."""
    modelled = list(fit.em.columns)
    if columns is None:
        return [c for c in modelled if bool(fit.missing[c].any())]
    if isinstance(columns, (str, bytes)) or not isinstance(columns, Sequence):
        raise ImputerTypeError(f"{function}: columns must be a list of column labels, got {type(columns).__name__}")
    out: list[Hashable] = []
    for c in columns:
        if c not in modelled:
            passed = c in fit.em.passthrough
            why = "a passed-through (non-numeric) column" if passed else "not a column of the fit"
            raise ImputerValueError(f"{function}: columns: {c!r} is {why}; modelled columns: {modelled}")
        if c not in out:
            out.append(c)
    return out
