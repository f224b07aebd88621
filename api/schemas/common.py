"""Shared wire types: tables in pandas "split" orientation, matrices, problems, health.

Numbers sent *to* the service must be finite (``NaN``/``Infinity`` tokens and
overflowing literals such as ``1e999`` are rejected); a missing cell is ``null``.
Numbers sent *back* may be ``null`` wherever the computation produced a non-finite
value, and every such field is declared nullable.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from imputer.options import Option

__all__ = [
    "check_labelled_square",
    "RequestModel",
    "ResponseModel",
    "FitWarnings",
    "WARNINGS_HEADER",
    "WARNINGS_HEADER_DOC",
    "Cell",
    "OutCell",
    "IndexLabel",
    "SplitFrame",
    "SplitFrameOut",
    "LabelledMatrix",
    "Trace",
    "FieldError",
    "Problem",
    "Health",
    "Readiness",
    "CsvQuery",
    "MAX_ITER_LIMIT",
    "option_field",
]

#: an input cell: a finite number, a string (non-numeric columns), a boolean or null
#: (missing); 64-bit integers stay integers (an all-integer column is an int64 column),
#: larger ones are read as floats (and must be finite); a column of booleans and nulls is
#: a nullable boolean column (a category of the general location model).
Cell = float | Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | str | bool | None
#: an output cell: a number, a string, a boolean or null (missing or non-finite).
OutCell = bool | int | float | str | None
#: a row label.
IndexLabel = int | float | str


#: Largest ``max_iter`` the service accepts (a service limit on top of the engine's bound).
MAX_ITER_LIMIT = 1_000_000


def check_labelled_square(labels: list[str], rows: list[list[float]], labels_name: str, per: str) -> None:
    """A square matrix with one row and one column per unique label: ValueError naming the field otherwise."""
    k = len(labels)
    if len(set(labels)) != k:
        raise ValueError(f"'{labels_name}' must be unique")
    if len(rows) != k or any(len(row) != k for row in rows):
        width = len(rows[0]) if rows else 0
        raise ValueError(f"'data' must be {k} x {k} (one row and column per {per}), got {len(rows)} x {width}")


def option_field(option: Option, *, null_means_default: bool = False, **extra: Any) -> Any:
    """A pydantic ``Field`` for an engine option, from :mod:`imputer.options`.

    Default, lower bound (``gt``/``ge``) and description are the option's; ``extra``
    adds service-side constraints (e.g. ``le`` on ``max_iter``). With
    ``null_means_default`` the description says that null takes the default (for
    fields typed ``X | None``).
    """
    bounds: dict[str, Any] = {}
    if option.low is not None:
        low = int(option.low) if option.kind == "integer" else float(option.low)
        bounds["gt" if option.low_open else "ge"] = low
    description = option.help + (" Null: the default." if null_means_default else "")
    return Field(option.default, description=description, **bounds, **extra)


class RequestModel(BaseModel):
    """Base of request bodies: unknown fields and non-finite numbers are errors."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class CsvQuery(BaseModel):
    """Query parameters that say how a table body is read (shared by the endpoints taking tables): CSV
    only (``sep``, ``decimal``, ``na_values``: a 422 with a Parquet body), or CSV and Parquet
    (``index_col``, ``passthrough``: :func:`api.formats.parquet_query_table`).

    An unknown query parameter is an error naming it (422 at ``["query", name]``), as an unknown
    field of a JSON body is: a misspelled option (``?rigde=5``) would otherwise fit with the
    default in silence. The routes refuse it (:func:`api.deps.check_query`), not this model
    (``extra="forbid"`` would fail the request before the route sees the body's format, and a
    JSON body's query parameters are all refused, known or not, with the reason).
    """

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    sep: str = Field(
        ",", min_length=1, max_length=1, description="CSV field separator (CSV only: 422 with a Parquet body)."
    )
    decimal: str = Field(
        ".", min_length=1, max_length=1, description="CSV decimal mark (CSV only: 422 with a Parquet body)."
    )
    na_values: list[str] = Field(
        default_factory=list,
        description="Extra CSV strings read as missing in the modelled columns (besides "
        "empty, NA, NaN, null...); the other columns keep their text. CSV only: a Parquet body's missing cells "
        "are nulls (422 with a Parquet body).",
    )
    index_col: str | None = Field(
        None, min_length=1, description="Column holding the row labels (CSV or Parquet; for Parquet it replaces "
        "the index stored in the file); none by default."
    )
    passthrough: list[str] = Field(
        default_factory=list,
        description="Columns not modelled, even if they hold numbers, and returned unchanged: a CSV's as text "
        "(a column of numbers holding other text is otherwise an error, 422), a Parquet file's with their type "
        "(a mixed model reads either as a factor).",
    )


class ResponseModel(BaseModel):
    """Base of response bodies (non-finite numbers are sent as ``null``).

    A response describes every key the engine's ``to_dict()`` produces: an unknown key
    is an error (``additionalProperties: false`` in the OpenAPI document), so the
    document and the answers cannot drift apart.
    """

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="null")


#: the response header of a CSV or Parquet answer of a fit: its warnings (``warnings`` in JSON; :mod:`api.tasks`)
WARNINGS_HEADER = "Imputer-Warnings"

#: what the ``warnings`` key of a fit's answer holds (``FitWarnings``)
WARNINGS_DESCRIPTION = (
    "The messages of the warnings the fit raised, each once, in the order first raised; empty when "
    "none. Every warning of the imputer library is included (imputer.errors.ImputerWarning and its "
    "subclasses: a ConvergenceWarning when converged is false, saying why and what to change, e.g. a "
    "stronger ridge for a wide table); warnings of numpy or pandas (RuntimeWarning, FutureWarning, "
    "DeprecationWarning) are not. A warning is not an error: the answer is still 200. A CSV or Parquet "
    f"answer carries the same list in the header {WARNINGS_HEADER}."
)

#: the entry of WARNINGS_HEADER in the OpenAPI ``headers`` of those answers
WARNINGS_HEADER_DOC = {
    WARNINGS_HEADER: {
        "description": "CSV and Parquet answers: the warnings the fit raised (the JSON answer's `warnings`), as a "
        'JSON list of strings, ASCII only (other characters \\uXXXX-escaped); `[]` when none. Example: '
        '`["EM did not converge within max_iter=3 iterations (tol=1e-07); increase max_iter or tol"]`.',
        "schema": {"type": "string"},
    }
}


class FitWarnings(ResponseModel):
    """The ``warnings`` key of the answer of a fit (added by the service to the result's ``to_dict()``)."""

    warnings: list[str] = Field(..., description=WARNINGS_DESCRIPTION)


class SplitFrame(RequestModel):
    """A table in pandas "split" orientation (``DataFrame.to_dict(orient="split")``)."""

    columns: list[str] = Field(
        ..., min_length=1, description="Column names, unique, one per entry of each row."
    )
    index: list[IndexLabel] | None = Field(
        None,
        description="Row labels, one per row; omitted or null means 0, 1, ..., n-1.",
    )
    data: list[list[Cell]] = Field(
        ...,
        min_length=1,
        description="Rows, each a list with one cell per column: a finite number, a string "
        "(non-numeric columns), true/false (a boolean column) or null for a missing value.",
    )

    @model_validator(mode="after")
    def _check_shape(self) -> SplitFrame:
        ncol = len(self.columns)
        seen: set[str] = set()
        for name in self.columns:
            if name in seen:
                raise ValueError(f"column names must be unique; {name!r} appears twice")
            seen.add(name)
        for i, row in enumerate(self.data):
            if len(row) != ncol:
                raise ValueError(
                    f"row {i} of 'data' has {len(row)} cells but there are {ncol} columns"
                )
        if self.index is not None and len(self.index) != len(self.data):
            raise ValueError(
                f"'index' has {len(self.index)} labels but 'data' has {len(self.data)} rows"
            )
        return self


class SplitFrameOut(ResponseModel):
    """A table in pandas "split" orientation (missing or non-finite cells are null)."""

    columns: list[str] = Field(..., description="Column names.")
    index: list[IndexLabel | None] = Field(..., description="Row labels, one per row.")
    data: list[list[OutCell]] = Field(
        ..., description="Rows, one cell per column; null where missing or non-finite."
    )


class LabelledMatrix(ResponseModel):
    """A square matrix with its row/column labels."""

    columns: list[str] = Field(..., description="Labels of the rows and of the columns.")
    data: list[list[float | None]] = Field(
        ..., description="Rows of the matrix (null where non-finite)."
    )


class Trace(ResponseModel):
    """How the EM run went (``EMTrace.to_dict()``)."""

    n_iter: int = Field(..., description="Outer iterations: EM steps, or accelerated iterations (Anderson for the normal, SQUAREM cycles for the other models, and Newton steps for the mixed models where EM is slow) when accelerated.")
    n_evals: int = Field(
        ...,
        description="EM-map evaluations (E-step + M-step), acceleration included (mixed models: "
        "plus the boundary probes' likelihood and score evaluations and the final likelihood).",
    )
    converged: bool = Field(
        ...,
        description="stop_reason is 'converged': the convergence measure reached tol (and, "
        "for the imputation, the covariance is not nearly singular).",
    )
    stop_reason: Literal["converged", "max_iter", "singular", "stopped", "infeasible", "max_time"] = Field(
        ...,
        description="Why the run ended: 'converged' (tol met), 'max_iter' (iteration limit), "
        "'singular' (the objective increases toward a singular covariance: no maximum), "
        "'stopped' (stopped early on request), 'infeasible' (invalid starting point).",
    )
    n_rejected: int = Field(
        ..., description="Extrapolations (and Newton points) rejected by the monotonicity safeguard."
    )
    history: list[float | None] = Field(
        ...,
        description="The objective EM maximises at each accepted iterate, non-decreasing "
        "(log-likelihood, restricted log-likelihood or log-posterior).",
    )
    changes: list[float | None] = Field(
        ...,
        description="The convergence measure (parameter change of one EM update, compared "
        "with tol) at the start of each iteration; converged when the last is <= tol.",
    )


class FieldError(BaseModel):
    """One validation failure."""

    loc: list[str | int] = Field(
        ...,
        description='Path to the offending field, e.g. ["body", "data", "data", 3, 1] or '
        '["query", "max_iter"].',
    )
    msg: str = Field(..., description="What is wrong with it.")
    type: str = Field(..., description="Machine-readable error code.")


class Problem(BaseModel):
    """RFC 9457 problem details (media type ``application/problem+json``)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(
        "about:blank", description="URI reference identifying the problem type."
    )
    title: str = Field(..., description="Short summary of the problem type.")
    status: int = Field(..., description="HTTP status code.")
    detail: str = Field(..., description="Explanation of this occurrence, naming the field at fault.")
    instance: str | None = Field(None, description="Path of the request that failed.")
    errors: list[FieldError] | None = Field(
        None, description="Validation failures, one per offending field, the first 100 (422 only)."
    )
    error_count: int | None = Field(
        None, description="How many offending fields there were (with errors; 422 only)."
    )


class Health(BaseModel):
    """Liveness: the process answers."""

    status: Literal["ok"] = Field("ok", description="Always 'ok' when the server answers.")
    version: str = Field(..., description="Version of the imputer package.")


class Readiness(BaseModel):
    """Readiness: the worker pool is up and would accept a computation."""

    status: Literal["ready", "unavailable"] = Field(..., description="'ready' or 'unavailable'.")
    workers: int = Field(..., description="Configured worker processes.")
    alive: int = Field(..., description="Worker processes currently alive.")
    idle: int = Field(..., description="Workers free to start a computation now.")
    busy: int = Field(..., description="Workers running a computation.")
    waiting: int = Field(..., description="Requests waiting for a worker.")
    max_queue: int = Field(..., description="Requests allowed to wait before 503.")
