"""Request and response bodies of ``POST /v1/mixed`` and ``POST /v1/mixed/frame``.

Model: ``y = X beta + sum_k Z_k u_k + e`` with ``u_k ~ N(0, K_k (x) G_k)`` (``G_k =
sigma_k^2`` for a scalar term, a covariance matrix for random intercepts and slopes) and
``e ~ N(0, sigma_e^2 I)``, fitted by EM-(RE)ML; missing ``y`` are predicted by
``X beta + sum_k Z_k u_k``. The options mirror :func:`imputer.fit_mixed`'s keyword
arguments (default, bound and description from :data:`imputer.options.MIXED_OPTIONS`)
and the response mirrors ``MixedResult.to_dict()``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd

from pydantic import AfterValidator, Field, model_validator

from api.schemas.common import (
    FitWarnings,
    IndexLabel,
    MAX_ITER_LIMIT,
    LabelledMatrix,
    RequestModel,
    ResponseModel,
    SplitFrame,
    SplitFrameOut,
    Trace,
    check_labelled_square,
    option_field,
)
from imputer.options import MIXED_OPTIONS

__all__ = [
    "MultiTraitResponse",
    "response_model_for",
    "MixedOptions",
    "RandomTerm",
    "Kernel",
    "MixedRequest",
    "MixedFrameRequest",
    "MixedOptionsUsed",
    "MixedResponse",
]



def _rectangular(rows: list[list[float]]) -> list[list[float]]:
    if rows:
        width = len(rows[0])
        for i, row in enumerate(rows):
            if len(row) != width:
                raise ValueError(
                    f"all rows must have the same length; row {i} has {len(row)} "
                    f"entries, row 0 has {width}"
                )
    return rows


#: a rectangular matrix as a list of rows of finite numbers.
Matrix = Annotated[list[list[float]], AfterValidator(_rectangular)]
#: a rectangular matrix whose cells may be null (missing traits).
MatrixWithNull = Annotated[list[list[float | None]], AfterValidator(_rectangular)]


class MixedOptions(RequestModel):
    """Options of the EM-(RE)ML fit."""

    method: Literal["REML", "ML"] = option_field(MIXED_OPTIONS["method"])
    tol: float | None = option_field(MIXED_OPTIONS["tol"], null_means_default=True)
    max_iter: int | None = option_field(MIXED_OPTIONS["max_iter"], null_means_default=True, le=MAX_ITER_LIMIT)
    accelerate: bool = option_field(MIXED_OPTIONS["accelerate"])

    def engine_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the engine (a null option is left to the engine)."""
        values = {name: getattr(self, name) for name in type(self).model_fields}
        return {name: value for name, value in values.items() if value is not None}


class RandomTerm(RequestModel):
    """One random effect: incidence matrix ``Z`` (n x q) and covariance structure ``K`` (q x q).

    Several effects per level (random intercepts and slopes, with a covariance matrix
    between them): ``Z`` is a list of d matrices (n x q each, effect a's design on the
    q levels), named by ``effects``.
    """

    Z: Matrix | list[Matrix] = Field(
        ...,
        min_length=1,
        description="Incidence/design matrix, n rows of q numbers; or a list of d such "
        "matrices, one per effect, for a term with a d x d covariance matrix.",
    )
    K: Matrix | None = Field(
        None, description="Known covariance structure (q x q, symmetric positive "
        "semi-definite); null means the identity."
    )
    effects: list[str] | None = Field(
        None, description="Names of the effects when Z is a list (default z1, z2, ...)."
    )
    structure: Literal["unstructured", "diagonal"] | None = Field(
        None,
        description="Covariance between the effects when Z is a list: 'unstructured' "
        "(default, every variance and covariance) or 'diagonal' (independent effects).",
    )


class MixedRequest(RequestModel):
    """Matrix form: response vector, fixed-effect design and random-effect terms."""

    y: list[float | None] | None = Field(
        None, min_length=1, description="Response, n values; null marks a value to predict (or give Y)."
    )
    Y: MatrixWithNull | None = Field(
        None,
        min_length=1,
        description="Several traits instead of y (a multi-trait model: an unstructured t x t "
        "covariance per random term and for the residual): n rows of t values, null for a "
        "missing trait, which is predicted from the observed ones.",
    )
    traits: list[str] | None = Field(
        None, min_length=1, description="Names of the traits (the columns of Y; default y1, y2, ...)."
    )
    X: Matrix | None = Field(
        None, description="Fixed-effect design (n x p); null means an intercept column."
    )
    ZETA: list[RandomTerm] | dict[str, RandomTerm] = Field(
        ...,
        description="Random-effect terms: a list (named u1, u2, ...) or an object name -> term.",
    )
    options: MixedOptions = Field(default_factory=MixedOptions, description="Options of the fit.")

    @model_validator(mode="after")
    def _check_response(self) -> MixedRequest:
        if (self.y is None) == (self.Y is None):
            raise ValueError("give 'y' (one response) or 'Y' (several traits), exactly one of them")
        if self.traits is not None:
            if self.Y is None:
                raise ValueError("'traits' names the columns of Y (n rows of t values)")
            t = len(self.Y[0])
            if len(self.traits) != t or len(set(self.traits)) != t:
                raise ValueError(f"'traits' must be {t} unique names, one per column of Y")
        return self

    def response_values(self) -> np.ndarray | pd.DataFrame:
        """The response for :func:`imputer.fit_mixed`: ``y`` as a vector, or ``Y`` as an n x t DataFrame named by ``traits``."""
        if self.Y is not None:
            arr = np.array(self.Y, dtype=float)  # None -> NaN
            names = self.traits or [f"y{j + 1}" for j in range(arr.shape[1])]
            return pd.DataFrame(arr, columns=names)
        return np.array(self.y, dtype=float)  # None -> NaN


class Kernel(RequestModel):
    """A relationship matrix ``K`` of one random term, labelled by level."""

    levels: list[str] = Field(
        ..., min_length=1, description="Level labels (unique), one per row and column."
    )
    data: Matrix = Field(..., min_length=1, description="The matrix, one row per level.")

    @model_validator(mode="after")
    def _check_square(self) -> Kernel:
        check_labelled_square(self.levels, self.data, "levels", "level")
        return self


class MixedFrameRequest(RequestModel):
    """Table form: one row per observation, model given by column names."""

    data: SplitFrame = Field(..., description="The table (missing response cells are null).")
    formula: str | None = Field(
        None,
        min_length=1,
        description="The model as an lme4 formula, e.g. 'Reaction ~ Days + (Days | Subject)' "
        "or 'angle ~ recipe * temperature + (1 | recipe:replicate)' (fixed part in Wilkinson "
        "notation: a:b, a*b, 0 + or - 1 for no intercept; bar terms for the random part); "
        "instead of response, fixed, random and intercept.",
    )
    response: Annotated[str, Field(min_length=1)] | Annotated[list[str], Field(min_length=1)] | None = Field(
        None,
        description="Column holding the response (without a formula); a list of two or more "
        "columns fits a multi-trait model (unstructured covariances between the traits, "
        "missing traits predicted from the observed ones).",
    )
    fixed: list[str] | None = Field(
        None,
        description="Fixed-effect terms (besides the intercept): numeric columns as covariates, "
        "text ones as treatment-coded dummies, 'a:b' an interaction, 'a*b' = a + b + a:b.",
    )
    random: list[str] | None = Field(
        None,
        min_length=1,
        description="Random terms: a grouping column ('batch') or an interaction of columns "
        "('batch:cask') for a random intercept; lme4's bar notation for random slopes: "
        "'(Days | Subject)' (intercept and slope, unstructured covariance), "
        "'(0 + Days | Subject)' (slope only), '(Days || Subject)' (independent).",
    )
    kernels: dict[str, Kernel] | None = Field(
        None,
        description="Optional relationship matrix per random term, labelled by level "
        "(its labels define the term's levels; levels without observations are predicted "
        "too); identity when absent.",
    )
    intercept: bool = Field(True, description="Include an intercept in the fixed effects.")
    contrasts: dict[str, Literal["treatment", "poly"]] | None = Field(
        None,
        description="Coding of fixed-effect factors, column -> 'treatment' (default) or 'poly' "
        "(R's contr.poly: orthonormal polynomial contrasts, for ordered levels). A column named "
        "here is a factor: numeric values become levels ordered by value, text ones sorted.",
    )
    na_action: Literal["error", "drop"] = Field(
        "error",
        description="A missing value in a fixed-effect or grouping column: an error naming the "
        "column, or 'drop' the row (counted in n_dropped). Missing responses are predicted.",
    )
    options: MixedOptions = Field(default_factory=MixedOptions, description="Options of the fit.")

    @model_validator(mode="after")
    def _formula_or_columns(self) -> MixedFrameRequest:
        why = formula_or_columns(self)
        if why is not None:
            raise ValueError(why)
        return self


def formula_or_columns(model: Any, missing: str = "give 'formula', or 'response' and 'random'") -> str | None:
    """Why ``model`` (its ``formula``, ``response``, ``fixed``, ``random``, ``intercept``) names no model
    or both forms; None when it gives exactly one (the JSON body's and the query's rule)."""
    if model.formula is not None:
        given = [k for k in ("response", "fixed", "random") if getattr(model, k) is not None]
        given += [] if model.intercept else ["intercept"]
        if given:
            return f"give either 'formula' or {given}, not both"
    elif model.response is None or model.random is None:
        return missing
    return None


class MixedOptionsUsed(ResponseModel):
    """The options of the fit, engine defaults filled in."""

    method: Literal["REML", "ML"] = Field(..., description=MIXED_OPTIONS["method"].help)
    tol: float = Field(..., description=MIXED_OPTIONS["tol"].help)
    max_iter: int = Field(..., description=MIXED_OPTIONS["max_iter"].help)
    accelerate: bool = Field(..., description=MIXED_OPTIONS["accelerate"].help)


class MixedResponse(FitWarnings):
    """Result of the fit (mirrors ``MixedResult.to_dict()``)."""

    var_comp: dict[str, float | None] = Field(
        ..., description="Variance components, name -> value, residual last."
    )
    beta: dict[str, float | None] = Field(..., description="Fixed effects (BLUE), name -> value.")
    var_beta: LabelledMatrix = Field(..., description="Covariance matrix of the fixed effects.")
    covariances: dict[str, LabelledMatrix] = Field(
        ...,
        description="Covariance matrix of each term's effects, term -> matrix labelled by "
        "effect ('(Intercept)', 'Days', ...); 1 x 1 for a scalar term.",
    )
    correlations: dict[str, LabelledMatrix] = Field(
        ..., description="Correlation matrix of each term's effects (null where a variance is 0)."
    )
    u: dict[str, dict[str, float | None] | SplitFrameOut] = Field(
        ...,
        description="Predicted random effects (BLUP): for a scalar term level -> value; for "
        "a term with a covariance matrix a table, levels x effects.",
    )
    pev: dict[str, dict[str, float | None] | SplitFrameOut] = Field(
        ..., description="Prediction error variances of u, shaped like u."
    )
    index: list[IndexLabel | None] = Field(
        ...,
        description="Row labels (the table's index, or 0..n-1), one per entry of fitted, "
        "completed and residuals.",
    )
    fitted: list[float | None] = Field(..., description="X beta + sum Z u for every observation.")
    completed: list[float | None] = Field(
        ..., description="The response with missing values replaced by their prediction."
    )
    residuals: list[float | None] = Field(
        ..., description="y - fitted (null where y is missing)."
    )
    loglik: float | None = Field(..., description="(Restricted) log-likelihood at the estimate.")
    aic: float | None = Field(..., description="Akaike information criterion.")
    bic: float | None = Field(..., description="Bayesian information criterion.")
    n_iter: int = Field(..., description="EM iterations run (SQUAREM cycles, or Newton steps where EM is slow, when accelerated).")
    n_evals: int = Field(
        ...,
        description="EM steps (map evaluations) computed, acceleration included, plus the "
        "boundary probes' likelihood and score evaluations and the final likelihood.",
    )
    converged: bool = Field(..., description="Whether the tolerance was met within max_iter.")
    trace: Trace = Field(..., description="How the EM run went, and why it stopped.")
    method: str = Field(..., description="REML or ML.")
    engine: Literal["mme", "spectral"] = Field(
        ...,
        description="'mme' (Henderson's mixed-model equations) or 'spectral' (one dense "
        "kernel, one eigendecomposition).",
    )
    boundary: list[str] = Field(
        ...,
        description="Terms whose covariance is singular at the estimate: 0, or of lower "
        "rank (a correlation of +-1 or a zero variance).",
    )
    loglik_history: list[float | None] = Field(
        ...,
        description="The objective at each accepted iterate, non-decreasing: the restricted "
        "(REML) or full (ML) log-likelihood (trace.history).",
    )
    n_obs: int = Field(..., description="Observations with a response.")
    n_missing: int = Field(..., description="Missing responses (predicted).")
    n_dropped: int = Field(
        ..., description="Rows left out for a missing covariate or grouping factor (na_action 'drop')."
    )
    dropped: list[IndexLabel | None] = Field(..., description="Labels of the dropped rows.")
    contrasts: dict[str, str] = Field(
        ..., description="Coding of each fixed-effect factor (table form): 'treatment' or 'poly'."
    )
    options: MixedOptionsUsed = Field(..., description="The options used, defaults filled in.")


class MultiTraitResponse(FitWarnings):
    """Result of a multi-trait fit (mirrors ``MultiTraitResult.to_dict()``)."""

    traits: list[str] = Field(..., description="The traits, in order.")
    covariances: dict[str, LabelledMatrix] = Field(
        ...,
        description="t x t covariance matrix of each random term (genetic covariances) and of "
        "the residual ('residual'), labelled by trait.",
    )
    correlations: dict[str, LabelledMatrix] = Field(
        ..., description="The corresponding correlation matrices (null where a variance is 0)."
    )
    beta: SplitFrameOut = Field(..., description="Fixed effects (GLS), effects x traits.")
    u: dict[str, SplitFrameOut] = Field(..., description="BLUPs of each term, levels x traits.")
    index: list[IndexLabel | None] = Field(..., description="Row labels of fitted and completed.")
    fitted: SplitFrameOut = Field(..., description="X B + Z U for every row, rows x traits.")
    completed: SplitFrameOut = Field(
        ...,
        description="The traits with each missing value replaced by its conditional expectation "
        "given every observed value (observed values unchanged).",
    )
    loglik: float | None = Field(..., description="(Restricted) log-likelihood at the estimate.")
    aic: float | None = Field(..., description="Akaike information criterion.")
    bic: float | None = Field(..., description="Bayesian information criterion.")
    n_iter: int = Field(..., description="Iterations (AI-REML steps, EM steps when they fall back).")
    n_evals: int = Field(..., description="Likelihood evaluations (each with its EM update and AI matrix).")
    converged: bool = Field(..., description="Whether the tolerance was met within max_iter.")
    loglik_history: list[float | None] = Field(
        ..., description="The objective at each accepted iterate, non-decreasing (trace.history)."
    )
    trace: Trace = Field(..., description="How the run went, and why it stopped.")
    method: str = Field(..., description="REML or ML.")
    boundary: list[str] = Field(
        ..., description="Covariance matrices singular at the estimate (a term's name, 'residual')."
    )
    n_obs: int = Field(..., description="Observed trait values.")
    n_missing: int = Field(..., description="Missing trait values (predicted).")
    options: MixedOptionsUsed = Field(..., description="The options used, defaults filled in.")


def response_model_for(result: Any) -> type[ResponseModel]:
    """The response body of a fit: :class:`MultiTraitResponse` for a multi-trait result, else :class:`MixedResponse`."""
    from imputer.mixed.multitrait_result import MultiTraitResult

    return MultiTraitResponse if isinstance(result, MultiTraitResult) else MixedResponse
