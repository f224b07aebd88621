"""Request and response bodies of ``POST /v1/diagnostics/disperse`` (EM from overdispersed starts).

The request carries a table as ``POST /v1/diagnostics`` does (JSON split orientation with
options, or a CSV/Parquet body with the options as query parameters). The options mirror
the keyword arguments of :func:`imputer.disperse`: default, bound and description of each
come from :data:`imputer.options.DISPERSE_OPTIONS`, with service limits on top
(``starts <= 100``, ``max_iter`` as for imputation, ``seed < 2^63``). The response
mirrors ``Dispersion.to_dict()`` key for key, plus the ``warnings`` of the runs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from api.schemas.common import (
    MAX_ITER_LIMIT,
    CsvQuery,
    FitWarnings,
    LabelledMatrix,
    RequestModel,
    ResponseModel,
    SplitFrame,
    option_field,
)
from imputer.options import DISPERSE_OPTIONS

__all__ = [
    "SEED_LIMIT",
    "STARTS_LIMIT",
    "DisperseMeans",
    "DisperseOptions",
    "DisperseQuery",
    "DisperseRequest",
    "DisperseResponse",
    "DisperseRun",
]

#: Most runs one request may ask for (a service limit on top of the engine's ``starts >= 2``).
STARTS_LIMIT = 100
#: Largest seed (the one the engine draws when none is given is below it, so any answer can be replayed).
SEED_LIMIT = 2**63 - 1

Prior = Literal["ridge", "amelia"]
Around = Literal["start", "estimate"]
StopReason = Literal["converged", "max_iter", "singular", "stopped", "infeasible", "max_time"]

_SEED_NOTE = " At most 2^63 - 1."


class DisperseOptions(RequestModel):
    """Options of the runs (``imputer.disperse`` keyword arguments)."""

    starts: int = option_field(DISPERSE_OPTIONS["starts"], le=STARTS_LIMIT)
    around: Around = option_field(DISPERSE_OPTIONS["around"])
    columns: list[str] | None = option_field(DISPERSE_OPTIONS["columns"], min_length=1)
    ridge: float = option_field(DISPERSE_OPTIONS["ridge"])
    prior: Prior = option_field(DISPERSE_OPTIONS["prior"])
    seed: int | None = Field(
        DISPERSE_OPTIONS["seed"].default, ge=0, le=SEED_LIMIT,
        description=DISPERSE_OPTIONS["seed"].help + _SEED_NOTE,
    )
    atol: float = option_field(DISPERSE_OPTIONS["atol"])
    tol: float = option_field(DISPERSE_OPTIONS["tol"])
    max_iter: int = option_field(DISPERSE_OPTIONS["max_iter"], le=MAX_ITER_LIMIT)
    accelerate: bool = option_field(DISPERSE_OPTIONS["accelerate"])

    def engine_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`imputer.disperse` (every option, ``columns`` included)."""
        return {name: getattr(self, name) for name in DISPERSE_OPTIONS}


class DisperseRequest(RequestModel):
    """JSON body: the table and the options of the runs."""

    data: SplitFrame = Field(..., description="The incomplete table (missing cells are null).")
    options: DisperseOptions = Field(default_factory=DisperseOptions, description="Options of the runs.")


class DisperseQuery(CsvQuery):
    """Query parameters of ``POST /v1/diagnostics/disperse`` for CSV and Parquet bodies.

    The parse options (:class:`~api.schemas.common.CsvQuery`) apply to CSV only (``index_col``
    and ``passthrough`` to Parquet too); the options of the runs to CSV and Parquet (a JSON
    body carries its options in ``options``; a query sent with it is refused, 422).
    ``columns`` is repeated for several.
    """

    starts: int = option_field(DISPERSE_OPTIONS["starts"], le=STARTS_LIMIT)
    around: Around = option_field(DISPERSE_OPTIONS["around"])
    columns: list[str] | None = option_field(DISPERSE_OPTIONS["columns"])
    ridge: float = option_field(DISPERSE_OPTIONS["ridge"])
    prior: Prior = option_field(DISPERSE_OPTIONS["prior"])
    seed: int | None = Field(
        DISPERSE_OPTIONS["seed"].default, ge=0, le=SEED_LIMIT,
        description=DISPERSE_OPTIONS["seed"].help + _SEED_NOTE,
    )
    atol: float = option_field(DISPERSE_OPTIONS["atol"])
    tol: float = option_field(DISPERSE_OPTIONS["tol"])
    max_iter: int = option_field(DISPERSE_OPTIONS["max_iter"], le=MAX_ITER_LIMIT)
    accelerate: bool = option_field(DISPERSE_OPTIONS["accelerate"])

    def options(self) -> DisperseOptions:
        """The options of the runs carried by the query (an empty ``columns``: every numeric column)."""
        values = {name: getattr(self, name) for name in DISPERSE_OPTIONS}
        values["columns"] = self.columns or None
        return DisperseOptions(**values)


class DisperseRun(ResponseModel):
    """One EM run: where it started and where it ended (a row of ``Dispersion.runs``)."""

    run: int = Field(..., description="Run number, 1 = the engine's own start.")
    start: Literal["engine", "dispersed"] = Field(
        ..., description="engine: the engine's own starting values; dispersed: an overdispersed start."
    )
    objective: float | None = Field(
        ..., description="The objective EM maximised at the run's end: the log-likelihood, or the "
        "log-posterior under a ridge prior (original units)."
    )
    loglik: float | None = Field(..., description="Observed-data log-likelihood at the run's end.")
    gap: float | None = Field(..., description="The best run's objective minus this run's (>= 0).")
    distance: float | None = Field(
        ..., description="Largest difference of a mean or covariance entry from the best run's estimate, "
        "in the best run's standard-deviation units."
    )
    point: int = Field(
        ..., description="The distinct end point the run reached, 1 = the best run's, numbered by "
        "objective; 0 for a run that did not converge."
    )
    maximum: bool | None = Field(
        ..., description="Whether the observed information is positive definite at the run's end (a strict "
        "local maximum); false at a saddle point or along a flat direction; null when not checked (a run "
        "that did not converge, or more than 4,096 parameters)."
    )
    converged: bool = Field(..., description="Whether the run met its tolerance within max_iter.")
    stop_reason: StopReason = Field(
        ..., description="Why the run ended: 'converged' (tol met), 'max_iter' (iteration limit), "
        "'singular' (the objective increases toward a singular covariance), 'stopped', 'infeasible', "
        "'max_time'."
    )
    n_evals: int = Field(..., description="EM steps (map evaluations) the run computed, acceleration included.")


class DisperseMeans(ResponseModel):
    """Each run's estimated mean: one row per run, in run order."""

    columns: list[str] = Field(..., description="The modelled columns.")
    data: list[list[float | None]] = Field(..., description="One row per run (null where non-finite).")


class DisperseResponse(FitWarnings):
    """EM runs from overdispersed starts and the distinct points they reached (mirrors ``Dispersion.to_dict()``)."""

    runs: list[DisperseRun] = Field(..., description="One entry per run, run 1 first.")
    best: int = Field(..., description="The converged run of highest objective (of all runs when none converged).")
    n_points: int = Field(
        ..., description="Distinct end points among the converged runs (0 if none converged); more than "
        "1: the objective has several stationary points EM stops at, and the estimate depends on the start."
    )
    unique: bool = Field(
        ..., description="Whether every run converged to the same point (within atol): the maximum found looks unique."
    )
    columns: list[str] = Field(..., description="The modelled columns, in order.")
    passthrough: list[str] = Field(..., description="The table's other columns (not modelled), in order.")
    means: DisperseMeans = Field(..., description="Each run's estimated mean (original units).")
    mean: dict[str, float | None] = Field(..., description="The best run's mean, column -> value.")
    cov: LabelledMatrix = Field(..., description="The best run's covariance (original units).")
    histories: dict[str, list[float | None]] = Field(
        ..., description="Each run's objective at every accepted iterate (non-decreasing), by run number."
    )
    n_rows: int = Field(..., description="Rows of the table.")
    around: Around = Field(..., description=DISPERSE_OPTIONS["around"].help)
    ridge: float = Field(..., description=DISPERSE_OPTIONS["ridge"].help)
    prior: Prior = Field(..., description=DISPERSE_OPTIONS["prior"].help)
    tol: float = Field(..., description=DISPERSE_OPTIONS["tol"].help)
    max_iter: int = Field(..., description=DISPERSE_OPTIONS["max_iter"].help)
    atol: float = Field(..., description=DISPERSE_OPTIONS["atol"].help)
    seed: int = Field(
        ..., description="The seed of the starts: the one sent, or the one drawn when none was; send it "
        "back to repeat the runs."
    )
