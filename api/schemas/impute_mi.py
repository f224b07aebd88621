"""Response body of ``POST /v1/impute`` with ``m``: multiple imputation.

Mirrors ``MultipleImputation.to_dict()`` (:func:`imputer.multiple_impute`) without the
drawn parameters, with the EM estimate as ``ImputeResult.to_dict(standard_errors=True)``
(or, for ``model`` t and mixture, their results' ``to_dict()``) without its table (:func:`api.tasks.mi_payload` builds it): the ``m`` completed tables
as one long table in mice's convention, and the estimates with their standard errors
from the observed-data information.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, create_model

from api.schemas.common import FitWarnings, LabelledMatrix, ResponseModel, SplitFrameOut, Trace
from api.schemas.impute import ImputeOptionsUsed
from api.schemas.impute_glom import ImputeGlomResponse
from api.schemas.impute_models import MixtureEstimatesOut, TEstimatesOut
from imputer.options import MI_OPTIONS, MVN_OPTIONS

__all__ = ["EstimatesOut", "GlomEstimatesOut", "ImputeMIResponse", "MIOptionsUsed"]

_SE_NOTE = " Null when there are more than 4,096 parameters (p > 89 columns)."


class EstimatesOut(ResponseModel):
    """The EM estimate (maximum likelihood, or posterior mode with ridge) and its standard errors."""

    mean: dict[str, float | None] = Field(..., description="Estimated mean, column -> value.")
    cov: LabelledMatrix = Field(..., description="Estimated covariance matrix.")
    corr: LabelledMatrix = Field(..., description="Estimated correlation matrix.")
    loglik: float | None = Field(..., description="Observed-data log-likelihood at the estimate.")
    loglik_history: list[float | None] = Field(
        ..., description="The objective at each accepted iterate (log-likelihood, or log-posterior when ridge > 0)."
    )
    n_iter: int = Field(..., description="EM iterations run (accelerated: Anderson for the normal, SQUAREM cycles otherwise).")
    n_evals: int = Field(..., description="EM steps (map evaluations) computed, acceleration included.")
    converged: bool = Field(..., description="Whether the tolerance was met within max_iter.")
    trace: Trace = Field(..., description="How the EM run went, and why it stopped.")
    n_rows: int = Field(..., description="Rows of the table.")
    n_missing: dict[str, int] = Field(..., description="Missing cells per modelled column.")
    options: ImputeOptionsUsed = Field(..., description="The options of the EM fit.")
    vcov: LabelledMatrix | None = Field(
        ...,
        description="Covariance matrix of the estimated parameters (means, then the upper triangle of the "
        "covariance, labelled mean[a], cov[a,b]) from the observed-data information at the estimate "
        "(the curvature of the log-posterior when ridge > 0)." + _SE_NOTE,
    )
    se_mean: dict[str, float | None] | None = Field(
        ..., description="Standard error of each estimated mean, column -> value." + _SE_NOTE
    )
    se_cov: LabelledMatrix | None = Field(
        ..., description="Standard error of each estimated covariance entry." + _SE_NOTE
    )
    fraction_missing_info: dict[str, float | None] | None = Field(
        ..., description="Fraction of missing information per parameter (label -> value)." + _SE_NOTE
    )
    worst_fraction_missing_info: float | None = Field(
        ..., description="The largest fraction of missing information (EM's rate of convergence)." + _SE_NOTE
    )


#: The general location model's fit to the whole data: ImputeGlomResponse without the table, passthrough and warnings.
GlomEstimatesOut = create_model(
    "GlomEstimatesOut",
    __base__=ResponseModel,
    __doc__="The general location model's fit to the whole data (ImputeGlomResponse without the completed table).",
    **{name: (f.annotation, f) for name, f in ImputeGlomResponse.model_fields.items() if name not in ("completed", "passthrough", "warnings")},
)


class MIOptionsUsed(ResponseModel):
    """The options of the EM fits, defaults filled in."""

    tol: float = Field(..., description=MVN_OPTIONS["tol"].help)
    max_iter: int = Field(..., description=MVN_OPTIONS["max_iter"].help)
    ridge: float = Field(..., description=MVN_OPTIONS["ridge"].help)
    prior: Literal["ridge", "amelia"] = Field(..., description=MVN_OPTIONS["prior"].help)


class ImputeMIResponse(FitWarnings):
    """Multiple imputation (mirrors ``MultipleImputation.to_dict()`` without the drawn parameters)."""

    model: Literal["normal", "t", "mixture", "glom"] = Field(
        ..., description="The imputation model (options.model; glom with options.categorical): the estimates are "
        "that model's."
    )
    method: Literal["posterior", "bootstrap"] = Field(..., description=MI_OPTIONS["method"].help)
    m: int = Field(..., description=MI_OPTIONS["m"].help)
    seed: int = Field(
        ..., description="The seed used: the same request with this seed repeats the imputations."
    )
    burn_in: int | None = Field(
        ..., description="posterior: iterations of the chain discarded before the first imputation; null for the bootstrap."
    )
    thin: int | None = Field(
        ..., description="posterior: iterations between successive imputations; null for the bootstrap."
    )
    rate: float | None = Field(
        ..., description="posterior: the estimated worst fraction of missing information (EM's rate of "
        "convergence) that set the default burn_in and thin; null for the bootstrap."
    )
    wlf_acf: list[float | None] | None = Field(
        ..., description="posterior: autocorrelation of the worst linear function of the parameters after "
        "the burn-in, by lag from 0 (near 0 at lag thin: nearly independent imputations); null for the bootstrap."
    )
    redraws: list[int] | None = Field(
        ..., description="bootstrap: unusable resamples discarded before each imputation's; null for the posterior."
    )
    columns: list[str] = Field(..., description="The modelled columns, in order.")
    passthrough: list[str] = Field(
        ..., description="The columns carried through unchanged (not modelled), in order."
    )
    long: SplitFrameOut = Field(
        ..., description="The m completed tables stacked (mice's long form): columns .imp (1..m) and .id "
        "(the row label), then the data; m * n rows. Observed cells as sent, every missing cell of the "
        "modelled columns drawn."
    )
    estimates: EstimatesOut | TEstimatesOut | MixtureEstimatesOut | GlomEstimatesOut = Field(
        ..., description="The EM estimate and its standard errors (model normal), or the t's, the mixture's or "
        "the general location model's fit to the whole data (their single-imputation answers without the "
        "completed table)."
    )
    options: MIOptionsUsed = Field(..., description="The options used, defaults filled in.")
