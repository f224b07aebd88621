"""``options.start`` of ``POST /v1/impute``: EM's starting values, given by the client.

The shape is the one the service answers with: ``mean`` (an object by column) and
``cov`` (``{"columns", "data"}``) of an impute answer or of the best run of
``POST /v1/diagnostics/disperse``, so that either can be sent back as it is. The
library (:func:`imputer.impute`, ``start=``) aligns them to the modelled columns by
label and checks the values (finite, symmetric, positive definite); this schema checks
the form (a square matrix, unique labels).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from pydantic import Field, model_validator

from api.schemas.common import RequestModel, check_labelled_square

__all__ = ["START_HELP", "StartMatrix", "StartValues", "check_start_option"]

START_HELP = (
    "Starting values of EM instead of the engine's own, in the data's units: {\"mean\": {column: value}, "
    "\"cov\": {\"columns\": [...], \"data\": [[...], ...]}}, as the mean and cov of an impute answer or of "
    "POST /v1/diagnostics/disperse (its best run). Where the objective has several maxima EM ends at the "
    "one its start leads to. With m: the EM fit the imputations start from, and with method bootstrap each "
    "resample's fit. Model 'normal' only, without categorical, transforms, bounds, panel, idvars or integer; "
    "JSON bodies only."
)


class StartMatrix(RequestModel):
    """A labelled square matrix (the covariance of the start)."""

    columns: list[str] = Field(..., min_length=1, description="Labels of the rows and of the columns.")
    data: list[list[float]] = Field(..., description="Rows of the matrix, in the order of columns.")

    @model_validator(mode="after")
    def _square(self) -> StartMatrix:
        check_labelled_square(self.columns, self.data, "columns", "label of columns")
        return self


class StartValues(RequestModel):
    """Starting values of EM: a mean and a covariance, by column."""

    mean: dict[str, float] = Field(..., min_length=1, description="Mean, column -> value.")
    cov: StartMatrix = Field(..., description="Covariance, {\"columns\", \"data\"}.")

    def pair(self) -> tuple[pd.Series, pd.DataFrame]:
        """``(mean, cov)`` as a Series and a DataFrame, for ``imputer.impute(start=...)``."""
        labels = self.cov.columns
        return (pd.Series(self.mean, dtype=float),
                pd.DataFrame(self.cov.data, index=labels, columns=labels, dtype=float))


def check_start_option(value: Any, data: dict[str, Any]) -> None:
    """``start`` with another model or an option that models differently: ValueError (422 at ``start``)."""
    if value is None:
        return
    if data.get("model", "normal") != "normal":
        raise ValueError(f"start applies to model 'normal' only, not {data['model']!r}")
    others = [name for name in ("categorical", "continuous", "means", "probabilities", "transforms", "bounds",
                                "panel", "idvars", "integer") if data.get(name) is not None]
    if others:
        raise ValueError(f"start does not combine with {', '.join(others)} (the engine's own start is used there)")
