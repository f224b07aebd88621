"""Response body of ``POST /v1/impute`` with ``options.categorical``: the general location model.

Mirrors ``GlomImputeResult.to_dict()`` (:func:`imputer.impute_glom`: cell probabilities by
level combination, cell means, the common within-cell covariance, each missing
categorical cell's posterior level probabilities, log-likelihood, AIC and BIC). Like every
response model it forbids unknown keys, so the OpenAPI document cannot drift from the
engine's answer.
"""

from __future__ import annotations

from pydantic import Field

from api.schemas.common import FitWarnings, IndexLabel, LabelledMatrix, OutCell, ResponseModel, SplitFrameOut, Trace
from imputer.options import MVN_OPTIONS

__all__ = ["CellMeans", "GlomOptionsUsed", "ImputeGlomResponse", "LevelProbabilities"]


class CellMeans(ResponseModel):
    """Cells x continuous columns."""

    columns: list[str] = Field(..., description="The continuous columns.")
    data: list[list[float | None]] = Field(..., description="One row per cell, in the order of cells.")


class LevelProbabilities(ResponseModel):
    """One categorical column's rows with a missing cell and their posterior level probabilities."""

    levels: list[OutCell] = Field(..., description="The column's levels (their JSON type kept).")
    index: list[IndexLabel | None] = Field(..., description="Labels of the rows missing this column.")
    data: list[list[float | None]] = Field(..., description="Per row, one probability per level (summing to 1).")


class GlomOptionsUsed(ResponseModel):
    """The options of the fit, defaults filled in."""

    tol: float = Field(..., description=MVN_OPTIONS["tol"].help)
    max_iter: int = Field(..., description=MVN_OPTIONS["max_iter"].help)
    accelerate: bool = Field(..., description="SQUAREM acceleration (false: plain EM).")


class ImputeGlomResponse(FitWarnings):
    """Result of the general location model (mirrors ``GlomImputeResult.to_dict()``; ``options.categorical``)."""

    categorical: list[str] = Field(..., description="The categorical columns (they define the cells).")
    continuous: list[str] = Field(..., description="The continuous columns (normal given the cell).")
    passthrough: list[str] = Field(..., description="The columns carried through unchanged, in order.")
    completed: SplitFrameOut = Field(
        ..., description="The input table with each missing category filled by its most probable level and each "
        "missing number by its conditional expectation; observed values unchanged."
    )
    cells: list[list[OutCell]] = Field(..., description="The cells: one level per categorical column.")
    probabilities: list[float | None] = Field(..., description="Cell probabilities, in the order of cells.")
    cell_means: CellMeans = Field(..., description="Mean of the continuous columns in each cell.")
    cov: LabelledMatrix = Field(..., description="The within-cell covariance, common to the cells.")
    level_probabilities: dict[str, LevelProbabilities] = Field(
        ..., description="Per categorical column: its rows with a missing cell and their posterior level probabilities."
    )
    means: str = Field(..., description="The cell-mean model: saturated or additive (main effects).")
    probability_model: str = Field(
        ..., description="The cell-probability model: saturated or pairwise (log-linear, pairwise associations)."
    )
    loglik: float | None = Field(..., description="Observed-data log-likelihood at the estimate, constants included.")
    aic: float | None = Field(..., description="-2 loglik + 2 n_parameters.")
    bic: float | None = Field(..., description="-2 loglik + n_parameters log n.")
    n_parameters: int = Field(..., description="Free parameters.")
    loglik_history: list[float | None] = Field(..., description="The log-likelihood at each accepted iterate, non-decreasing.")
    n_iter: int = Field(..., description="SQUAREM cycles (EM steps without acceleration).")
    n_evals: int = Field(..., description="EM steps computed.")
    converged: bool = Field(..., description="Whether the tolerance was met within max_iter.")
    trace: Trace = Field(..., description="How the EM run went, and why it stopped.")
    n_rows: int = Field(..., description="Rows of the table.")
    n_cells: int = Field(..., description="Cells (the product of the categorical columns' level counts).")
    n_missing: dict[str, int] = Field(..., description="Missing cells per modelled column.")
    options: GlomOptionsUsed = Field(..., description="The options used, defaults filled in.")
