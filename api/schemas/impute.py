"""Request and response bodies of ``POST /v1/impute`` (multivariate-normal EM imputation).

The options mirror the keyword arguments of :func:`imputer.impute`: default, bound and
description of each come from :data:`imputer.options.MVN_OPTIONS`; an option left out
(or, for ``columns``, ``tol`` and ``max_iter``, null) takes the engine's default. The
response mirrors ``ImputeResult.to_dict()``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.schemas.common import (
    MAX_ITER_LIMIT,
    CsvQuery,
    LabelledMatrix,
    RequestModel,
    ResponseModel,
    SplitFrame,
    SplitFrameOut,
    Trace,
    option_field,
)
from imputer.options import MVN_OPTIONS

__all__ = ["ImputeOptions", "ImputeRequest", "ImputeQuery", "ImputeOptionsUsed", "ImputeResponse"]


class ImputeOptions(RequestModel):
    """Options of the EM fit (``imputer.impute`` keyword arguments)."""

    columns: list[str] | None = option_field(MVN_OPTIONS["columns"], min_length=1)
    tol: float | None = option_field(MVN_OPTIONS["tol"], null_means_default=True)
    max_iter: int | None = option_field(MVN_OPTIONS["max_iter"], null_means_default=True, le=MAX_ITER_LIMIT)
    ridge: float = option_field(MVN_OPTIONS["ridge"])
    accelerate: bool = option_field(MVN_OPTIONS["accelerate"])
    conditional_var: bool = Field(
        False,
        description="Also return the conditional variance of every filled cell "
        "(0 where observed).",
    )

    def engine_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`imputer.impute` (a null option is left to the engine)."""
        values = {name: getattr(self, name) for name in MVN_OPTIONS}
        return {name: value for name, value in values.items() if value is not None}


class ImputeRequest(RequestModel):
    """JSON body: the table to complete and the options."""

    data: SplitFrame = Field(..., description="The incomplete table (missing cells are null).")
    options: ImputeOptions = Field(
        default_factory=ImputeOptions, description="Options of the fit."
    )


class ImputeQuery(CsvQuery):
    """Query parameters of ``POST /v1/impute`` for CSV and Parquet bodies.

    The parse options (:class:`~api.schemas.common.CsvQuery`) apply to CSV only; the fit
    options to CSV and Parquet (a JSON body carries its options in ``options``; there the
    query is ignored).
    """

    columns: list[str] | None = option_field(MVN_OPTIONS["columns"])
    tol: float | None = option_field(MVN_OPTIONS["tol"])
    max_iter: int | None = option_field(MVN_OPTIONS["max_iter"], le=MAX_ITER_LIMIT)
    ridge: float = option_field(MVN_OPTIONS["ridge"])
    accelerate: bool = option_field(MVN_OPTIONS["accelerate"])
    conditional_var: bool = Field(
        False, description="Also return conditional variances (JSON responses only)."
    )

    def options(self) -> ImputeOptions:
        """The fit options carried by the query."""
        return ImputeOptions(
            columns=self.columns or None,
            tol=self.tol,
            max_iter=self.max_iter,
            ridge=self.ridge,
            accelerate=self.accelerate,
            conditional_var=self.conditional_var,
        )


class ImputeOptionsUsed(ResponseModel):
    """The options of the fit, engine defaults filled in."""

    tol: float | None = Field(..., description=MVN_OPTIONS["tol"].help)
    max_iter: int = Field(..., description=MVN_OPTIONS["max_iter"].help)
    ridge: float | None = Field(..., description=MVN_OPTIONS["ridge"].help)
    accelerate: bool = Field(..., description=MVN_OPTIONS["accelerate"].help)


class ImputeResponse(ResponseModel):
    """Result of the EM fit (mirrors ``ImputeResult.to_dict()``)."""

    columns: list[str] = Field(..., description="The modelled columns, in order.")
    passthrough: list[str] = Field(
        ..., description="The columns carried through unchanged (not modelled), in order."
    )
    completed: SplitFrameOut = Field(
        ..., description="The input table with every missing cell of the modelled columns "
        "filled by its conditional expectation; observed values unchanged."
    )
    mean: dict[str, float | None] = Field(..., description="Estimated mean, column -> value.")
    cov: LabelledMatrix = Field(..., description="Estimated covariance matrix.")
    corr: LabelledMatrix = Field(..., description="Estimated correlation matrix.")
    loglik: float | None = Field(..., description="Observed-data log-likelihood at the estimate.")
    loglik_history: list[float | None] = Field(
        ...,
        description="The objective at each accepted iterate, non-decreasing: the observed-data "
        "log-likelihood, or the log-posterior when ridge > 0 (trace.history).",
    )
    n_iter: int = Field(..., description="EM iterations run (SQUAREM cycles when accelerated).")
    n_evals: int = Field(..., description="EM steps (map evaluations) computed, acceleration included.")
    converged: bool = Field(
        ..., description="Whether the tolerance was met within max_iter (false, also when the "
        "covariance heads to singular, is a warning, not an error)."
    )
    trace: Trace = Field(..., description="How the EM run went, and why it stopped.")
    n_rows: int = Field(..., description="Rows of the table.")
    n_missing: dict[str, int] = Field(..., description="Missing cells per modelled column.")
    options: ImputeOptionsUsed = Field(..., description="The options used, defaults filled in.")
    conditional_var: SplitFrameOut | None = Field(
        None,
        description="Conditional variance of each filled cell given the observed cells of "
        "its row (0 where observed, null where non-finite); present only when asked for.",
    )
