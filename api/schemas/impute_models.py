"""Response bodies of ``POST /v1/impute`` with ``model`` ``"t"`` or ``"mixture"``.

Each mirrors its result's ``to_dict()``: :class:`ImputeTResponse` is
``TImputeResult.to_dict()`` (:func:`imputer.impute_t`: location, scale matrix, covariance
``dof/(dof-2) * scale``, degrees of freedom, each row's precision weight),
:class:`ImputeMixtureResponse` is ``MixtureImputeResult.to_dict()``
(:func:`imputer.impute_mixture`: weights, means, covariances, responsibilities, labels,
log-likelihood, AIC, BIC and, for several component counts, the BIC table). Like every
response model they forbid unknown keys, so the OpenAPI document cannot drift from the
engines' answers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from api.schemas.common import FitWarnings, IndexLabel, LabelledMatrix, ResponseModel, SplitFrameOut, Trace
from imputer.options import MVN_OPTIONS

__all__ = [
    "ComponentMatrix", "ImputeMixtureResponse", "ImputeTResponse", "MixtureEstimatesOut", "MixtureOptionsUsed",
    "Responsibilities", "RowValues", "TEstimatesOut", "TOptionsUsed",
]

_COMPLETED = (
    "The input table with every missing cell of the modelled columns filled by its conditional "
    "expectation under the model; observed values unchanged."
)
_CONDITIONAL_VAR = (
    "Conditional variance of each filled cell given the observed cells of its row (0 where "
    "observed, null where non-finite); present only when asked for."
)


class RowValues(ResponseModel):
    """One number per row, with the row labels."""

    index: list[IndexLabel | None] = Field(..., description="Row labels, one per row.")
    data: list[float | None] = Field(..., description="The value of each row (null where non-finite).")


class ComponentMatrix(ResponseModel):
    """A K x p matrix: one row per mixture component, one column per modelled column."""

    columns: list[str] = Field(..., description="The modelled columns.")
    data: list[list[float | None]] = Field(..., description="Rows by component (null where non-finite).")


class Responsibilities(ResponseModel):
    """An n x K table in pandas "split" orientation: one row per row of the input, one column per component."""

    columns: list[int] = Field(..., description="The components, 0 to K-1.")
    index: list[IndexLabel | None] = Field(..., description="Row labels, one per row.")
    data: list[list[float | None]] = Field(..., description="Rows, one probability per component.")


class TOptionsUsed(ResponseModel):
    """The options of the t fit, defaults filled in."""

    dof: float | None = Field(..., description="The fixed degrees of freedom; null when they were estimated.")
    tol: float = Field(..., description=MVN_OPTIONS["tol"].help)
    max_iter: int = Field(..., description=MVN_OPTIONS["max_iter"].help)
    ridge: float = Field(..., description=MVN_OPTIONS["ridge"].help)
    accelerate: bool = Field(..., description=MVN_OPTIONS["accelerate"].help)


class MixtureOptionsUsed(ResponseModel):
    """The options of the mixture fit, defaults filled in."""

    n_init: int = Field(..., description="Starts per component count; the best log-likelihood kept.")
    tol: float = Field(..., description=MVN_OPTIONS["tol"].help)
    max_iter: int = Field(..., description=MVN_OPTIONS["max_iter"].help)
    ridge: float = Field(..., description=MVN_OPTIONS["ridge"].help)


class _FitCore(ResponseModel):
    """Keys every model's estimates share (with or without the completed table)."""

    loglik: float | None = Field(..., description="Observed-data log-likelihood at the estimate.")
    loglik_history: list[float | None] = Field(
        ..., description="The objective at each accepted iterate, non-decreasing: the observed-data "
        "log-likelihood, or the log-posterior when ridge > 0 (trace.history)."
    )
    n_iter: int = Field(..., description="EM iterations run (accelerated iterations when accelerated: Anderson for the normal, SQUAREM cycles otherwise).")
    n_evals: int = Field(..., description="EM steps (map evaluations) computed, acceleration included.")
    converged: bool = Field(
        ..., description="Whether the tolerance was met within max_iter (false is a warning, not an error)."
    )
    trace: Trace = Field(..., description="How the EM run went, and why it stopped.")
    n_rows: int = Field(..., description="Rows of the table.")
    n_missing: dict[str, int] = Field(..., description="Missing cells per modelled column.")


class _Fit(_FitCore, FitWarnings):
    """Keys every model's answer shares."""

    columns: list[str] = Field(..., description="The modelled columns, in order.")
    passthrough: list[str] = Field(
        ..., description="The columns carried through unchanged (not modelled), in order."
    )
    completed: SplitFrameOut = Field(..., description=_COMPLETED)
    conditional_var: SplitFrameOut | None = Field(None, description=_CONDITIONAL_VAR)


class _TFields(ResponseModel):
    """The t's own keys."""

    mean: dict[str, float | None] = Field(..., description="Estimated location, column -> value.")
    scale: LabelledMatrix = Field(..., description="Estimated scale matrix.")
    cov: LabelledMatrix = Field(
        ..., description="Covariance dof/(dof-2) * scale; all null when dof <= 2 (no finite covariance)."
    )
    dof: float | None = Field(..., description="Degrees of freedom (estimated, or as fixed).")
    dof_estimated: bool = Field(..., description="Whether dof was estimated (true) or fixed by the request.")
    row_weights: RowValues = Field(
        ..., description="Each row's expected precision weight (dof + p_i)/(dof + d_i^2), about 1 on "
        "average: the rows far below 1 are the outliers."
    )
    options: TOptionsUsed = Field(..., description="The options used, defaults filled in.")


class ImputeTResponse(_Fit, _TFields):
    """Result of the multivariate-t fit (mirrors ``TImputeResult.to_dict()``; options.model ``"t"``)."""


class TEstimatesOut(_FitCore, _TFields):
    """The t fitted to the whole data, in a multiple imputation's answer (``TImputeResult.to_dict()`` without the table)."""


class _MixtureFields(ResponseModel):
    """The mixture's own keys."""

    responsibilities: Responsibilities = Field(
        ..., description="Each row's posterior component probabilities given its observed cells (n x K)."
    )
    labels: list[int] = Field(..., description="Each row's most probable component (0-based), in row order.")
    weights: list[float | None] = Field(..., description="Mixing proportions, by component.")
    means: ComponentMatrix = Field(..., description="Component means (K x p).")
    covs: list[LabelledMatrix] = Field(..., description="Component covariances, by component.")
    covariance_type: Literal["full", "tied", "diag", "spherical"] = Field(..., description="full, tied, diag or spherical.")
    aic: float | None = Field(..., description="-2 loglik + 2 k (k: n_parameters).")
    bic: float | None = Field(
        ..., description="-2 loglik + k log n, scikit-learn's sign (mclust reports the negative)."
    )
    n_parameters: int = Field(..., description="Free parameters k of the mixture.")
    bic_table: SplitFrameOut | None = Field(
        ..., description="With several n_components: loglik, n_parameters, aic, bic (and more) per "
        "number of components, the answered fit having the lowest bic; null otherwise."
    )
    seed: int | None = Field(
        ..., description="The seed of the starts: sent back as options.seed it repeats the fit."
    )
    options: MixtureOptionsUsed = Field(..., description="The options used, defaults filled in.")


class ImputeMixtureResponse(_Fit, _MixtureFields):
    """Result of the Gaussian-mixture fit (mirrors ``MixtureImputeResult.to_dict()``; options.model ``"mixture"``)."""


class MixtureEstimatesOut(_FitCore, _MixtureFields):
    """The mixture fitted to the whole data, in a multiple imputation's answer (``MixtureImputeResult.to_dict()`` without the table)."""
