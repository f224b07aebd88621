"""Request and response bodies of ``POST /v1/pool``: Rubin's rules on ``m`` analyses.

The request carries what :func:`imputer.pool` takes: the ``m x k`` estimates (one row
per imputation, one column per term), and either each imputation's variances
(``m x k``, squared standard errors) or its covariance matrix (``m x k x k``), the
complete-data degrees of freedom and the interval level. The response mirrors
``Pooled.to_dict()``: the pooled table by column and term, the total covariance and
the options.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from api.schemas.common import LabelledMatrix, RequestModel, ResponseModel
from api.schemas.mixed import Matrix

__all__ = ["PoolRequest", "PoolTable", "PoolResponse", "POOL_EXAMPLE"]


def _rectangular_rows(rows: list[list[float]]) -> list[list[float]]:
    if rows:
        width = len(rows[0])
        for i, row in enumerate(rows):
            if len(row) != width:
                raise ValueError(
                    f"all rows must have the same length; row {i} has {len(row)} entries, row 0 has {width}"
                )
    return rows


def _squares(cubes: list[list[list[float]]]) -> list[list[list[float]]]:
    """Each entry a k x k matrix, the same k for every entry."""
    if cubes:
        k = len(cubes[0])
        for l, rows in enumerate(cubes):
            if len(rows) != k or any(len(row) != k for row in rows):
                widths = sorted({len(row) for row in rows})
                raise ValueError(
                    f"every covariance matrix must be k x k with the same k; matrix {l} has "
                    f"{len(rows)} rows of {widths} entries, matrix 0 is {k} x {k}"
                )
    return cubes


NonNegative = Annotated[float, Field(ge=0)]
#: m rectangular rows of non-negative numbers
VarianceMatrix = Annotated[list[list[NonNegative]], AfterValidator(_rectangular_rows)]
#: m square matrices of one size
Covariances = Annotated[list[list[list[float]]], AfterValidator(_squares)]


#: the example of the OpenAPI document and the README: three analyses of two terms
POOL_EXAMPLE = {
    "terms": ["(Intercept)", "x"],
    "estimates": [[2.01, 0.48], [1.93, 0.55], [2.10, 0.51]],
    "variances": [[0.040, 0.0036], [0.042, 0.0039], [0.039, 0.0035]],
    "dfcom": 97,
    "conf_level": 0.95,
}


class PoolRequest(RequestModel):
    """Estimates and their (co)variances from ``m`` analyses of multiply imputed data."""

    estimates: Matrix = Field(
        ...,
        min_length=2,
        description="m x k: one row per analysis (imputation), one column per term; m >= 2.",
    )
    terms: list[str] | None = Field(
        None,
        min_length=1,
        description="Names of the k terms (unique), one per column of 'estimates'; null: "
        "'0', '1', ..., 'k-1'.",
    )
    variances: VarianceMatrix | None = Field(
        None,
        description="m x k: each analysis's variances of its estimates (squared standard "
        "errors), >= 0. Give this or 'covariances'.",
    )
    covariances: Covariances | None = Field(
        None,
        description="m x k x k: each analysis's covariance matrix of its estimates (then "
        "the response's 'cov' is the full total covariance). Give this or 'variances'.",
    )
    dfcom: float | None = Field(
        None,
        gt=0,
        description="Complete-data degrees of freedom (e.g. the residual df n - p of a "
        "regression): Barnard-Rubin (1999) small-sample df. Null: Rubin's (1987) "
        "large-sample df (mice's dfcom = Inf).",
    )
    conf_level: float = Field(0.95, gt=0, lt=1, description="Level of the confidence intervals.")

    @field_validator("terms")
    @classmethod
    def _check_terms(cls, terms: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if terms is not None:
            if len(set(terms)) != len(terms):
                raise ValueError("'terms' must be unique")
            estimates = info.data.get("estimates")
            if estimates and len(terms) != len(estimates[0]):
                raise ValueError(f"'terms' has {len(terms)} names but 'estimates' has {len(estimates[0])} columns")
        return terms

    @field_validator("variances")
    @classmethod
    def _check_variances(cls, rows: list[list[float]] | None, info: ValidationInfo) -> list[list[float]] | None:
        estimates = info.data.get("estimates")
        if rows is not None and estimates:
            m, k = len(estimates), len(estimates[0])
            if len(rows) != m or any(len(row) != k for row in rows):
                widths = sorted({len(row) for row in rows})
                raise ValueError(
                    f"must be m x k = {m} x {k} like 'estimates', got {len(rows)} rows of {widths} entries"
                )
        return rows

    @field_validator("covariances")
    @classmethod
    def _check_covariances(
        cls, cubes: list[list[list[float]]] | None, info: ValidationInfo
    ) -> list[list[list[float]]] | None:
        estimates = info.data.get("estimates")
        if cubes is not None and estimates:
            m, k = len(estimates), len(estimates[0])
            if len(cubes) != m or len(cubes[0]) != k:
                size = len(cubes[0]) if cubes else 0
                raise ValueError(
                    f"must be m x k x k = {m} x {k} x {k} like 'estimates', got {len(cubes)} matrices of {size} x {size}"
                )
            for l, rows in enumerate(cubes):
                for j in range(k):
                    if rows[j][j] < 0:
                        raise ValueError(f"matrix {l} has a negative variance on its diagonal (entry [{j}][{j}])")
        return cubes

    @model_validator(mode="after")
    def _one_of(self) -> PoolRequest:
        if (self.variances is None) == (self.covariances is None):
            raise ValueError("give exactly one of 'variances' (m x k) and 'covariances' (m x k x k)")
        return self


def _column(what: str) -> object:
    return Field(..., description=f"{what}, term -> value (null where not finite).")


class PoolTable(ResponseModel):
    """The pooled table by column (``Pooled.table``), each column term -> value."""

    estimate: dict[str, float | None] = _column("Pooled estimate Qbar (mean of the m estimates)")
    ubar: dict[str, float | None] = _column("Mean within-imputation variance Ubar")
    b: dict[str, float | None] = _column("Between-imputation variance B")
    t: dict[str, float | None] = _column("Total variance T = Ubar + (1 + 1/m) B")
    se: dict[str, float | None] = _column("Standard error sqrt(T)")
    df: dict[str, float | None] = _column(
        "Degrees of freedom (Barnard-Rubin with dfcom, Rubin 1987 without)"
    )
    riv: dict[str, float | None] = _column("Relative increase in variance (1 + 1/m) B / Ubar")
    lambda_: dict[str, float | None] = Field(
        ...,
        alias="lambda",
        description="Proportion of the variance due to missingness (1 + 1/m) B / T, "
        "term -> value (null where not finite).",
    )
    fmi: dict[str, float | None] = _column(
        "Fraction of missing information (riv + 2/(df + 3)) / (riv + 1)"
    )
    statistic: dict[str, float | None] = _column("Wald statistic estimate / se")
    p_value: dict[str, float | None] = _column(
        "Two-sided p-value, Student's t on max(df, 0.001) df"
    )
    ci_low: dict[str, float | None] = _column("Lower end of the confidence interval")
    ci_high: dict[str, float | None] = _column("Upper end of the confidence interval")


class PoolResponse(ResponseModel):
    """Rubin's-rules combination (mirrors ``Pooled.to_dict()``)."""

    terms: list[str] = Field(..., description="The terms, in order.")
    table: PoolTable = Field(..., description="The pooled table, column -> term -> value.")
    cov: LabelledMatrix = Field(
        ...,
        description="Total covariance Ubar + (1 + 1/m) B; off-diagonal entries null when "
        "only variances were sent.",
    )
    m: int = Field(..., description="Number of analyses pooled.")
    dfcom: float | None = Field(
        ..., description="Complete-data degrees of freedom used (null: Rubin's 1987 df)."
    )
    conf_level: float = Field(..., description="Level of the confidence intervals.")
