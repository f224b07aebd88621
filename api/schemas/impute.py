"""Request and response bodies of ``POST /v1/impute`` (multivariate-normal EM imputation).

The options mirror the keyword arguments of :func:`imputer.impute`: default, bound and
description of each come from :data:`imputer.options.MVN_OPTIONS`; an option left out
(or, for ``columns``, ``tol`` and ``max_iter``, null) takes the engine's default. The
response mirrors ``ImputeResult.to_dict()``.

With ``m`` the request asks for multiple imputation (:func:`imputer.multiple_impute`,
options ``m``, ``method``, ``seed``, ``burn_in``, ``thin`` from
:data:`imputer.options.MI_OPTIONS`, with service limits on top: ``m <= 100``); the answer
is then :class:`~api.schemas.impute_mi.ImputeMIResponse`. ``method``, ``seed``,
``burn_in`` and ``thin`` without ``m``, and ``conditional_var`` or ``accelerate=false``
with it, are errors (422). ``matrices`` (``"both"``, ``"cov"``, ``"corr"``, ``"none"``) leaves
the ``p x p`` matrices out of a single normal imputation's JSON answer (they are most of it on
wide tables); with another model, ``m`` or ``categorical`` it is a 422.

``model`` chooses the model: ``"normal"`` (the default, :func:`imputer.impute`), ``"t"``
(:func:`imputer.impute_t`, option ``dof``) or ``"mixture"`` (:func:`imputer.impute_mixture`,
options ``n_components``, ``covariance_type``, ``n_init``, ``seed``); an option of one
model sent with another is a 422 naming the option. ``m`` works with every model: the t
and the mixture by the bootstrap only (``method`` ``"posterior"``, ``burn_in`` or
``thin`` with them are 422s). The t's and the mixture's answers are
:class:`~api.schemas.impute_models.ImputeTResponse` and
:class:`~api.schemas.impute_models.ImputeMixtureResponse` (their results' ``to_dict()``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from api.schemas.common import (
    MAX_ITER_LIMIT,
    CsvQuery,
    FitWarnings,
    LabelledMatrix,
    RequestModel,
    ResponseModel,
    SplitFrame,
    SplitFrameOut,
    Trace,
    option_field,
)
from api.schemas.panel import (
    BOUNDS_HELP, CONTINUOUS_HELP, IDVARS_HELP, INTEGER_HELP, LIST_QUERY_HELP, QUERY_HELP, TRANSFORMS_HELP, Bound,
    BoundsQuery, PanelOptions, PanelQuery, TransformSpec, TransformsQuery, extended_fields_check, extended_kwargs,
    glom_combination_check, query_kwargs,
)
from api.schemas.start import START_HELP, StartValues, check_start_option
from imputer._json import Matrices
from imputer.options import MI_OPTIONS, MVN_OPTIONS

__all__ = [
    "MI_M_LIMIT",
    "ImputeOptions",
    "ImputeRequest",
    "ImputeQuery",
    "ImputeOptionsUsed",
    "ImputeResponse",
]

#: Most imputations one request may ask for (a service limit on top of the engine's ``m >= 1``).
MI_M_LIMIT = 100
#: Longest burn-in and spacing of the chain the service runs (the time limit applies as well).
BURN_IN_LIMIT = 100_000
THIN_LIMIT = 10_000
#: the options that apply to multiple imputation only
MI_ONLY = ("method", "seed", "burn_in", "thin")
#: Most mixture components, component counts in one request, and starts (service limits).
N_COMPONENTS_LIMIT = 50
N_INIT_LIMIT = 100
#: the options of one model only, and that model
MODEL_ONLY = {"dof": "t", "n_components": "mixture", "covariance_type": "mixture", "n_init": "mixture"}

Model = Literal["normal", "t", "mixture"]
Components = Annotated[int, Field(ge=1, le=N_COMPONENTS_LIMIT)]
CovarianceType = Literal["full", "tied", "diag", "spherical"]
Prior = Literal["ridge", "amelia"]

_MODEL_HELP = (
    "The model: normal (the multivariate normal, imputer.impute; the default), t (the "
    "multivariate t, robust to heavy tails and outliers, imputer.impute_t; option dof) or "
    "mixture (a Gaussian mixture, for multimodal data, imputer.impute_mixture; options "
    "n_components, covariance_type, n_init, seed). The answer holds the completed table and "
    "that model's estimates."
)
_DOF_HELP = "model t: the degrees of freedom, fixed (> 0); default: estimated."
_COMPONENTS_HELP = (
    "model mixture: the number of components K (1 to the number of rows, at most "
    f"{N_COMPONENTS_LIMIT}), or a list of them, of which the fit with the lowest BIC is "
    "answered (with bic_table). Default: 2."
)
_COVTYPE_HELP = (
    "model mixture: each component its own covariance (full, the default), one shared "
    "(tied), diagonal (diag) or one variance per component (spherical)."
)
_N_INIT_HELP = (
    "model mixture: starts (k-means++ and Lloyd), the best log-likelihood kept "
    f"(at most {N_INIT_LIMIT}). Default: 10."
)
_SEED_HELP = (
    " Or with model mixture: the seed of the starts (default: fresh entropy), the same seed "
    "giving the same fit."
)


def _check_model_option(value: Any, info: ValidationInfo) -> Any:
    """An option of one model (``MODEL_ONLY``), or ``m``, sent with another model: ValueError (422 at the option)."""
    model = info.data.get("model")
    if value is None or model is None:
        return value
    name = info.field_name
    if name != "m" and model != MODEL_ONLY[name]:
        raise ValueError(f"{name} applies to model {MODEL_ONLY[name]!r} only, not {model!r}")
    return value

_M_HELP = (
    MI_OPTIONS["m"].help
    + f" Given (1 to {MI_M_LIMIT}), the answer is multiple imputation: the m completed tables as one "
    "long table (.imp, .id, then the data) and the EM estimates with their standard errors; "
    "left out, the answer is one table of conditional means. The long table's m * n rows are "
    "limited too (IMPUTER_MAX_MI_ROWS)."
)
_NEEDS_M = " Only with m."


def _check_mi(values: Any) -> None:
    """``method``/``seed``/``burn_in``/``thin`` need ``m``; ``m`` excludes ``conditional_var``
    and ``accelerate=false``. Raises ValueError (a 422 naming the options)."""
    if values.m is None:
        # seed also seeds the mixture's starts
        own = [n for n in MI_ONLY if not (n == "seed" and values.model == "mixture")]
        given = [name for name in own if getattr(values, name) is not None]
        if given:
            raise ValueError(f"{', '.join(given)} apply to multiple imputation only: give m as well")
        return
    if values.conditional_var:
        raise ValueError("conditional_var applies to a single imputation: leave it out with m")
    if values.model != "normal":
        chain = [n for n in ("burn_in", "thin") if getattr(values, n) is not None]
        if values.method == "posterior" or chain:
            what = "method 'posterior'" if values.method == "posterior" else ", ".join(chain)
            raise ValueError(
                f"{what} applies to model 'normal' only: multiple imputation under model {values.model!r} "
                "is by the bootstrap (method 'bootstrap', the default for it)"
            )
    if not values.accelerate:
        raise ValueError("accelerate=false applies to a single imputation: multiple imputation always accelerates EM")


_MATRICES_HELP = (
    "Which of the estimated p x p matrices the answer carries: both (the default), cov, corr or none (one left "
    "out is null). On wide tables they are most of the answer: at 2,000 columns the two are 8 million numbers, "
    "about 160 MB of JSON. Model normal, single imputation (not with m or categorical); JSON answers."
)


def _check_matrices(values: Any) -> None:
    """``matrices`` other than ``"both"`` outside the normal model's single imputation: ValueError."""
    if values.matrices == "both":
        return
    given = [name for name, bad in (("model " + repr(values.model), values.model != "normal"), ("m", values.m is not None),
                                    ("categorical", values.categorical is not None)) if bad]
    if given:
        raise ValueError(f"matrices applies to a single imputation under model 'normal': not with {', '.join(given)}")


def _check_prior(values: Any) -> None:
    """``prior="amelia"`` with the t or the mixture: ValueError."""
    if values.prior != "ridge" and values.model != "normal":
        raise ValueError(f"prior {values.prior!r} applies to model 'normal' only, not {values.model!r}")


def _check_accelerate(values: Any) -> None:
    """``accelerate=false`` with the mixture (which always accelerates): ValueError."""
    if values.model == "mixture" and not values.accelerate:
        raise ValueError("accelerate=false applies to model 'normal' or 't': the mixture always accelerates EM")


_MODEL_FIELDS = ("dof", "n_components", "covariance_type", "n_init", "m")

Means = Literal["auto", "saturated", "additive"]
Probabilities = Literal["saturated", "pairwise"]
_CATEGORICAL_HELP = (
    "Model categorical columns too, by the general location model (imputer.impute_glom): \"auto\" (columns "
    "of two distinct numbers, and booleans) or a list of columns (text columns count only when listed; in a "
    "CSV body their empty cells are missing). A missing category is filled with its most probable level; with "
    "m, drawn (method bootstrap, the default with categorical, or posterior). Model normal only; not with "
    "columns, ridge or conditional_var. The answer is "
    "then ImputeGlomResponse (or ImputeResponse when \"auto\" finds no categorical column)."
)
_MEANS_HELP = (
    "With categorical: the cell means, one per cell (saturated) or main effects of each categorical column "
    "(additive); auto (the default) is saturated when every cell holds p + 1 rows with their categories observed."
)

_PROBABILITIES_HELP = (
    "With categorical: the cell probabilities, one per cell (saturated, the default) or log-linear with main "
    "effects and pairwise associations of the categorical columns (pairwise)."
)


def _check_glom(values: Any) -> None:
    """``categorical`` with what the general location model does not take, or ``means`` without it: ValueError."""
    if values.categorical is None:
        for name in ("means", "probabilities"):
            if getattr(values, name) is not None:
                raise ValueError(f"{name} applies with categorical only")
        return
    given = [
        name for name, bad in (
            ("model", values.model != "normal"), ("columns", bool(values.columns)),
            ("ridge", values.ridge > 0), ("conditional_var", values.conditional_var),
        ) if bad
    ]
    if given:
        raise ValueError(f"categorical (the general location model) is not available with {', '.join(given)}")
    chain = [name for name in ("burn_in", "thin") if getattr(values, name) is not None]
    if chain and values.method != "posterior":
        raise ValueError(f"{', '.join(chain)} applies to method='posterior' only (with categorical the default is "
                         "method 'bootstrap')")


class ImputeOptions(RequestModel):
    """Options of the EM fit (``imputer.impute`` keyword arguments, ``model`` and its options)."""

    model: Model = Field("normal", description=_MODEL_HELP)
    columns: list[str] | None = option_field(MVN_OPTIONS["columns"], min_length=1)
    tol: float | None = option_field(MVN_OPTIONS["tol"], null_means_default=True)
    max_iter: int | None = option_field(MVN_OPTIONS["max_iter"], null_means_default=True, le=MAX_ITER_LIMIT)
    ridge: float = option_field(MVN_OPTIONS["ridge"])
    prior: Prior = option_field(MVN_OPTIONS["prior"])
    accelerate: bool = option_field(MVN_OPTIONS["accelerate"])
    conditional_var: bool = Field(
        False,
        description="Also return the conditional variance of every filled cell "
        "(0 where observed).",
    )
    matrices: Matrices = Field("both", description=_MATRICES_HELP)
    m: int | None = Field(None, ge=1, le=MI_M_LIMIT, description=_M_HELP)
    method: Literal["posterior", "bootstrap"] | None = Field(
        None, description=MI_OPTIONS["method"].help + f" Default: {MI_OPTIONS['method'].default}." + _NEEDS_M
    )
    seed: int | None = Field(
        None, ge=0, le=2**63 - 1,
        description="Seed of the random draws, an integer from 0 to 2^63-1; the same seed gives the "
        "same imputations (as imputer.multiple_impute with that seed). Default: a random seed in "
        "that range, returned as seed, so that any answer can be repeated." + _NEEDS_M + _SEED_HELP,
    )
    burn_in: int | None = option_field(MI_OPTIONS["burn_in"], le=BURN_IN_LIMIT)
    thin: int | None = option_field(MI_OPTIONS["thin"], le=THIN_LIMIT)
    dof: float | None = Field(None, gt=0, allow_inf_nan=False, description=_DOF_HELP)
    n_components: Components | list[Components] | None = Field(
        None, description=_COMPONENTS_HELP, json_schema_extra={"maxItems": N_COMPONENTS_LIMIT}
    )
    covariance_type: CovarianceType | None = Field(None, description=_COVTYPE_HELP)
    n_init: int | None = Field(None, ge=1, le=N_INIT_LIMIT, description=_N_INIT_HELP)
    categorical: Literal["auto"] | list[str] | None = Field(None, description=_CATEGORICAL_HELP)
    continuous: list[str] | None = Field(None, description=CONTINUOUS_HELP)
    means: Means | None = Field(None, description=_MEANS_HELP)
    probabilities: Probabilities | None = Field(None, description=_PROBABILITIES_HELP)
    transforms: dict[str, TransformSpec] | None = Field(None, description=TRANSFORMS_HELP)
    bounds: dict[str, Bound] | None = Field(None, description=BOUNDS_HELP)
    panel: PanelOptions | None = Field(None, description=PanelOptions.__doc__)
    idvars: list[str] | None = Field(None, description=IDVARS_HELP)
    integer: list[str] | None = Field(None, description=INTEGER_HELP)
    start: StartValues | None = Field(None, description=START_HELP)  # last: its check reads the others

    _model_options = field_validator(*_MODEL_FIELDS)(_check_model_option)

    @field_validator("start")
    @classmethod
    def _start_alone(cls, value: StartValues | None, info: ValidationInfo) -> StartValues | None:
        check_start_option(value, info.data)
        return value

    def start_kwargs(self) -> dict[str, Any]:
        """``{"start": (mean, cov)}`` for :func:`imputer.impute` when given, else empty."""
        return {} if self.start is None else {"start": self.start.pair()}

    @model_validator(mode="after")
    def _mi_combination(self) -> ImputeOptions:
        _check_mi(self)
        _check_accelerate(self)
        _check_prior(self)
        _check_matrices(self)
        _check_glom(self)
        extended_fields_check(self)
        glom_combination_check(self)
        return self

    def glom_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`imputer.impute` with ``categorical`` (nulls left to the engine)."""
        kwargs = {k: v for k, v in self.engine_kwargs().items() if k in ("tol", "max_iter", "accelerate")}
        return {**kwargs, "categorical": self.categorical, "continuous": self.continuous, "means": self.means,
                "probabilities": self.probabilities}

    def extended_kwargs(self) -> dict[str, Any]:
        """``transforms``, ``bounds``, ``panel``, ``idvars``, ``integer`` as given (api/schemas/panel.py)."""
        return extended_kwargs(self)

    def engine_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`imputer.impute` (a null option is left to the engine)."""
        values = {name: getattr(self, name) for name in MVN_OPTIONS}
        return {name: value for name, value in values.items() if value is not None}

    def t_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`imputer.impute_t` (``dof``: None is estimated)."""
        kwargs = {k: v for k, v in self.engine_kwargs().items() if k != "prior"}  # checked: "ridge"
        return {**kwargs, "dof": self.dof}

    def mixture_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`imputer.impute_mixture` (nulls left to the engine)."""
        kwargs = {k: v for k, v in self.engine_kwargs().items() if k not in ("accelerate", "prior")}
        for name in ("n_components", "covariance_type", "n_init", "seed"):
            if getattr(self, name) is not None:
                kwargs[name] = getattr(self, name)
        return kwargs

    def mi_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`imputer.multiple_impute` (with ``m``; nulls left to the engine)."""
        names = [n for n in MI_OPTIONS if n in type(self).model_fields]
        if self.model != "normal":
            names += ["model", "dof", "n_components", "covariance_type", "n_init"]
        else:
            names.append("prior")
        if self.categorical is not None:  # the general location model (imputer.mi._glom)
            names += ["categorical", "means", "probabilities"]
        values = {name: getattr(self, name) for name in names}
        return {name: value for name, value in values.items() if value is not None}


class ImputeRequest(RequestModel):
    """JSON body: the table to complete and the options."""

    data: SplitFrame = Field(..., description="The incomplete table (missing cells are null).")
    options: ImputeOptions = Field(
        default_factory=ImputeOptions, description="Options of the fit."
    )


class ImputeQuery(CsvQuery):
    """Query parameters of ``POST /v1/impute`` for CSV and Parquet bodies.

    The parse options (:class:`~api.schemas.common.CsvQuery`) apply to CSV only (``index_col``
    and ``passthrough`` to Parquet too); the fit options to CSV and Parquet (a JSON body
    carries its options in ``options``; a query sent with it is refused, 422).
    ``n_components`` is repeated for several counts (``?n_components=1&n_components=2``).
    """

    model: Model = Field("normal", description=_MODEL_HELP)
    columns: list[str] | None = option_field(MVN_OPTIONS["columns"])
    tol: float | None = option_field(MVN_OPTIONS["tol"])
    max_iter: int | None = option_field(MVN_OPTIONS["max_iter"], le=MAX_ITER_LIMIT)
    ridge: float = option_field(MVN_OPTIONS["ridge"])
    prior: Prior = option_field(MVN_OPTIONS["prior"])
    accelerate: bool = option_field(MVN_OPTIONS["accelerate"])
    conditional_var: bool = Field(
        False, description="Also return conditional variances (JSON responses only)."
    )
    matrices: Matrices = Field("both", description=_MATRICES_HELP)
    m: int | None = Field(None, ge=1, le=MI_M_LIMIT, description=_M_HELP)
    method: Literal["posterior", "bootstrap"] | None = Field(
        None, description=MI_OPTIONS["method"].help + f" Default: {MI_OPTIONS['method'].default}." + _NEEDS_M
    )
    seed: int | None = Field(
        None, ge=0, le=2**63 - 1,
        description="Seed of the random draws, an integer from 0 to 2^63-1 (as for the JSON body's "
        "options.seed)." + _NEEDS_M + _SEED_HELP,
    )
    burn_in: int | None = option_field(MI_OPTIONS["burn_in"], le=BURN_IN_LIMIT)
    thin: int | None = option_field(MI_OPTIONS["thin"], le=THIN_LIMIT)
    dof: float | None = Field(None, gt=0, allow_inf_nan=False, description=_DOF_HELP)
    n_components: list[Components] | None = Field(
        None, max_length=N_COMPONENTS_LIMIT, description=_COMPONENTS_HELP + " Repeat the parameter for several."
    )
    covariance_type: CovarianceType | None = Field(None, description=_COVTYPE_HELP)
    n_init: int | None = Field(None, ge=1, le=N_INIT_LIMIT, description=_N_INIT_HELP)
    categorical: list[str] | None = Field(
        None, description=_CATEGORICAL_HELP + " Repeat the parameter for several columns (categorical=auto alone: the rule)."
    )
    means: Means | None = Field(None, description=_MEANS_HELP)
    probabilities: Probabilities | None = Field(None, description=_PROBABILITIES_HELP)
    continuous: list[str] | None = Field(None, description=CONTINUOUS_HELP + LIST_QUERY_HELP)
    transforms: TransformsQuery | None = Field(None, description=TRANSFORMS_HELP + QUERY_HELP)
    bounds: BoundsQuery | None = Field(None, description=BOUNDS_HELP + QUERY_HELP)
    panel: PanelQuery | None = Field(None, description=str(PanelOptions.__doc__) + QUERY_HELP)
    idvars: list[str] | None = Field(None, description=IDVARS_HELP + LIST_QUERY_HELP)
    integer: list[str] | None = Field(None, description=INTEGER_HELP + LIST_QUERY_HELP)

    _model_options = field_validator(*_MODEL_FIELDS)(_check_model_option)

    @model_validator(mode="after")
    def _mi_combination(self) -> ImputeQuery:
        _check_mi(self)
        _check_accelerate(self)
        _check_prior(self)
        _check_matrices(self)
        _check_glom(self)
        extended_fields_check(self)
        glom_combination_check(self)
        return self

    def options(self) -> ImputeOptions:
        """The fit options carried by the query."""
        counts = self.n_components or None
        return ImputeOptions(
            model=self.model,
            dof=self.dof,
            n_components=counts[0] if counts is not None and len(counts) == 1 else counts,
            covariance_type=self.covariance_type,
            n_init=self.n_init,
            columns=self.columns or None,
            tol=self.tol,
            max_iter=self.max_iter,
            ridge=self.ridge,
            prior=self.prior,
            accelerate=self.accelerate,
            conditional_var=self.conditional_var,
            matrices=self.matrices,
            m=self.m,
            method=self.method,
            seed=self.seed,
            burn_in=self.burn_in,
            thin=self.thin,
            categorical="auto" if self.categorical == ["auto"] else (self.categorical or None),
            means=self.means,
            probabilities=self.probabilities,
            **query_kwargs(self),
        )


class ImputeOptionsUsed(ResponseModel):
    """The options of the fit, engine defaults filled in."""

    tol: float | None = Field(..., description=MVN_OPTIONS["tol"].help)
    max_iter: int = Field(..., description=MVN_OPTIONS["max_iter"].help)
    ridge: float | None = Field(..., description=MVN_OPTIONS["ridge"].help)
    prior: Prior = Field(..., description=MVN_OPTIONS["prior"].help)
    accelerate: bool = Field(..., description=MVN_OPTIONS["accelerate"].help)
    start: bool = Field(..., description="Whether EM started from the request's options.start.")


class ImputeResponse(FitWarnings):
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
    cov: LabelledMatrix | None = Field(
        ..., description="Estimated covariance matrix (null when options.matrices leaves it out)."
    )
    corr: LabelledMatrix | None = Field(
        ..., description="Estimated correlation matrix (null when options.matrices leaves it out)."
    )
    loglik: float | None = Field(..., description="Observed-data log-likelihood at the estimate.")
    loglik_history: list[float | None] = Field(
        ...,
        description="The objective at each accepted iterate, non-decreasing: the observed-data "
        "log-likelihood, or the log-posterior when ridge > 0 (trace.history).",
    )
    n_iter: int = Field(..., description="EM iterations run (accelerated iterations when accelerated: Anderson for the normal, SQUAREM cycles otherwise).")
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
