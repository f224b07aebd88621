"""Request and response bodies of ``POST /v1/diagnostics`` (missingness patterns, MCAR test).

The request carries a table as ``POST /v1/impute`` does (JSON split orientation with
options, or a CSV/Parquet body with the options as query parameters); the only option is
``columns``. The response mirrors ``imputer.diagnostics._overview.Overview.to_dict()``:
the pattern table (:meth:`imputer.PatternTable.to_dict`), the missing cells per column and
Little's test (:meth:`imputer.MCARTest.to_dict`), or why the test could not be run.
"""

from __future__ import annotations

from pydantic import Field

from api.schemas.common import CsvQuery, LabelledMatrix, RequestModel, ResponseModel, SplitFrame

__all__ = [
    "ColumnMissing",
    "DiagnosticsOptions",
    "DiagnosticsQuery",
    "DiagnosticsRequest",
    "DiagnosticsResponse",
    "MCARTestOut",
    "PatternTableOut",
    "PatternTableOutTable",
]

_COLUMNS = "Numeric columns to look at, in this order; default: every numeric column."


class DiagnosticsOptions(RequestModel):
    """Options of the diagnostics."""

    columns: list[str] | None = Field(None, min_length=1, description=_COLUMNS)


class DiagnosticsRequest(RequestModel):
    """JSON body: the table to look at and the options."""

    data: SplitFrame = Field(..., description="The incomplete table (missing cells are null).")
    options: DiagnosticsOptions = Field(default_factory=DiagnosticsOptions, description="Options.")


class DiagnosticsQuery(CsvQuery):
    """Query parameters of ``POST /v1/diagnostics`` for CSV and Parquet bodies.

    The parse options apply to CSV only (``index_col`` and ``passthrough`` to Parquet too),
    ``columns`` to CSV and Parquet (a JSON body carries its options in ``options``; a query
    sent with it is refused, 422).
    """

    columns: list[str] | None = Field(None, description=_COLUMNS)


class ColumnMissing(ResponseModel):
    """Missing cells of one modelled column."""

    column: str = Field(..., description="The column.")
    n_missing: int = Field(..., description="Its missing cells.")
    share: float = Field(..., description="n_missing / n_rows (0 to 1).")


class PatternTableOutTable(ResponseModel):
    """The pattern table in split orientation: one row per pattern, most frequent first."""

    columns: list[str] = Field(
        ..., description="The modelled columns (1 observed, 0 missing), then 'count' and 'n_missing'."
    )
    index: list[int] = Field(..., description="Pattern numbers 0, 1, ...")
    data: list[list[int]] = Field(..., description="One row per pattern.")


class PatternTableOut(ResponseModel):
    """Missingness patterns (``PatternTable.to_dict()``)."""

    columns: list[str] = Field(..., description="The modelled columns.")
    passthrough: list[str] = Field(..., description="The other columns (not tabulated).")
    n_rows: int = Field(..., description="Rows of the table.")
    n_patterns: int = Field(..., description="Distinct missingness patterns.")
    n_complete_rows: int = Field(..., description="Rows with no missing modelled cell.")
    n_missing_cells: int = Field(..., description="Missing cells of the modelled columns.")
    table: PatternTableOutTable = Field(
        ...,
        description="One row per pattern, sorted by count (most frequent first; ties: fewer "
        "missing first, then observed before missing column by column).",
    )
    column_missing: dict[str, int] = Field(..., description="Missing cells per modelled column.")


class MCARTestOut(ResponseModel):
    """Little's (1988) chi-square test of missing completely at random (``MCARTest.to_dict()``)."""

    statistic: float | None = Field(
        ..., description="d^2 = sum_g n_g (ybar_g - mu_g)' Sigma_g^-1 (ybar_g - mu_g) at the EM estimate."
    )
    df: int = Field(..., description="Degrees of freedom, sum_g p_g - p (0: nothing to test).")
    p_value: float | None = Field(
        ...,
        description="P(chi2_df >= statistic); null when df is 0. Small: not MCAR. Large: no "
        "evidence against MCAR (which does not show MCAR; no test can tell MAR from MNAR).",
    )
    n_patterns: int = Field(..., description="Patterns used (those observing at least one column).")
    n_rows: int = Field(..., description="Rows of the table.")
    n_rows_excluded: int = Field(..., description="Rows observing no modelled column (left out).")
    columns: list[str] = Field(..., description="The modelled columns.")
    mean: dict[str, float | None] = Field(..., description="EM (maximum-likelihood) mean used, column -> value.")
    cov: LabelledMatrix = Field(..., description="EM (maximum-likelihood) covariance used.")
    converged: bool = Field(..., description="Whether EM met its tolerance (if not, the statistic is not at the MLE).")
    n_iter: int = Field(..., description="EM iterations.")
    tol: float = Field(..., description="EM tolerance used.")


class DiagnosticsResponse(ResponseModel):
    """Missingness patterns, per-column missingness and Little's MCAR test."""

    n_rows: int = Field(..., description="Rows of the table.")
    columns: list[str] = Field(..., description="The modelled columns.")
    passthrough: list[str] = Field(..., description="The other columns.")
    missing: list[ColumnMissing] = Field(..., description="Missing cells of each modelled column.")
    patterns: PatternTableOut = Field(..., description="The missingness pattern table.")
    mcar: MCARTestOut | None = Field(
        ..., description="Little's MCAR test; null when it could not be run (see mcar_error)."
    )
    mcar_error: str | None = Field(
        ..., description="Why the MCAR test could not be run (e.g. a column with no observed value)."
    )
    warnings: list[str] = Field(..., description="Warnings raised while computing (e.g. EM not converging).")
