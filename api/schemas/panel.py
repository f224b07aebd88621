"""Request and response pieces of ``POST /v1/impute`` for transformed, bounded, integer and panel data.

``options.transforms``, ``options.bounds``, ``options.panel``, ``options.idvars`` and
``options.integer`` (JSON bodies) are :func:`imputer.impute` / :func:`imputer.multiple_impute`'s
keyword arguments of the same names; a single imputation with any of them answers
:class:`ImputeExtendedResponse` (``TransformedImputeResult.to_dict()`` /
``PanelImputeResult.to_dict()``).

For a CSV or Parquet body they (and ``categorical``'s ``continuous``) are query parameters of
the same names: a list by repeating the parameter, an object (``transforms``, ``bounds``,
``panel``) as the JSON body's value in JSON text (:func:`json_query`). A malformed one is a
422 at its field (``["query", "bounds", "tariff"]``: ``lower < upper``, a logit's ``lo <
hi``); so is a column whose observed values break its transform or bounds
(:func:`check_columns_against_data`, the library's message naming column, row and value).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, TypeAdapter, WithJsonSchema

from api.schemas.common import RequestModel, ResponseModel
from imputer.errors import ImputerValueError

__all__ = [
    "Bound", "BoundsQuery", "FieldError", "PanelOptions", "PanelQuery", "TransformSpec", "TransformsQuery",
    "check_columns_against_data", "extended_fields_check", "glom_combination_check", "json_query", "query_kwargs",
]


def _ordered_range(spec: Any) -> Any:
    """``["logit", lo, hi]`` with ``lo < hi`` (ValueError: a 422 at the column's field)."""
    if isinstance(spec, tuple) and not spec[1] < spec[2]:
        raise ValueError(f"the logit's range needs lo < hi, got ({spec[1]:g}, {spec[2]:g})")
    return spec


def _ordered_bounds(spec: tuple[float | None, float | None]) -> tuple[float | None, float | None]:
    """``[lower, upper]`` with ``lower < upper`` when both are given (ValueError: a 422 at the column's field)."""
    if spec[0] is not None and spec[1] is not None and not spec[0] < spec[1]:
        raise ValueError(f"lower {spec[0]:g} must be below upper {spec[1]:g}")
    return spec


#: ``"log"``, ``"sqrt"``, ``"logit"`` (range 0-1) or ``["logit", lo, hi]``
TransformSpec = Annotated[
    Literal["log", "sqrt", "logit"] | tuple[Literal["logit"], float, float], AfterValidator(_ordered_range)
]
#: ``[lower, upper]``, either null for none
Bound = Annotated[tuple[float | None, float | None], AfterValidator(_ordered_bounds)]

TRANSFORMS_HELP = (
    "Columns modelled on another scale (Amelia's logs, sqrts, lgstc): column -> 'log', 'sqrt', "
    "'logit' (range 0-1) or ['logit', lo, hi]. Fills (and draws) are on the original scale."
)
BOUNDS_HELP = (
    "Column -> [lower, upper] (either null): fills are conditional expectations, and with m draws, "
    "of the conditional distribution truncated to the bounds (not clipped). Untransformed or log columns."
)
IDVARS_HELP = "Columns carried through unmodelled and untouched (Amelia's idvars)."
INTEGER_HELP = "With m: columns whose drawn cells are rounded to integers (the draw is rounded, not the mean)."


class PanelOptions(RequestModel):
    """A time-series cross-section (Amelia's ts, cs, polytime, intercs, lags, leads)."""

    time: str = Field(..., description="The time column: numeric, fully observed; not modelled.")
    unit: str | None = Field(None, description="The unit (cross-section) column: fully observed; not modelled.")
    polytime: int = Field(0, ge=0, le=3, description="Degree of the time polynomials added to the model.")
    intercs: bool = Field(False, description="A time trend per unit (needs unit).")
    lags: list[str] = Field(default_factory=list, description="Columns whose previous value in the unit is added to the model.")
    leads: list[str] = Field(default_factory=list, description="Columns whose next value in the unit is added to the model.")


def _json_text(value: Any) -> Any:
    """A query parameter's JSON text parsed (a value already parsed, as re-validated by the task, as it is)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at character {exc.pos}); send the JSON body's value, URL-encoded") from None


def json_query(tp: Any, example: str) -> Any:
    """``tp`` as a query parameter holding JSON text (an object option of a CSV or Parquet request).

    The value is the JSON body's option, as JSON text, validated by the same type (a 422 at
    the field inside it, ``["query", "panel", "polytime"]``); the OpenAPI document shows it
    as a string of media type ``application/json`` with the type's schema as its content.
    """
    schema = {
        "type": "string",
        "contentMediaType": "application/json",
        "contentSchema": TypeAdapter(tp).json_schema(),
        "examples": [example],
    }
    return Annotated[tp, BeforeValidator(_json_text), WithJsonSchema(schema)]


#: the JSON body's options given in a CSV or Parquet request's query, and how
QUERY_HELP = (
    " In the query of a CSV or Parquet body: the JSON body's value as JSON text (URL-encoded)."
)
LIST_QUERY_HELP = " In the query of a CSV or Parquet body: repeat the parameter for several columns."
CONTINUOUS_HELP = (
    "With categorical: numeric columns kept continuous whatever the automatic rule says (a two-valued "
    "measurement)."
)

#: the object options as query parameters (JSON text)
TransformsQuery = json_query(dict[str, TransformSpec], '{"tariff": "log", "share": ["logit", 0, 100]}')
BoundsQuery = json_query(dict[str, Bound], '{"tariff": [0, null]}')
PanelQuery = json_query(PanelOptions, '{"time": "year", "unit": "country", "polytime": 2, "intercs": true}')


def glom_combination_check(values: Any) -> None:
    """``categorical`` with transforms/bounds/panel/idvars/integer; ``continuous`` without ``categorical`` (ValueError)."""
    if getattr(values, "continuous", None) is not None and values.categorical is None:
        raise ValueError("continuous applies with categorical only")
    if values.categorical is not None and any(
        getattr(values, n) is not None for n in ("transforms", "bounds", "panel", "idvars", "integer")
    ):
        raise ValueError("categorical does not combine with transforms, bounds, panel, idvars or integer")


def query_kwargs(query: Any) -> dict[str, Any]:
    """The options of this module (and ``continuous``) carried by a CSV/Parquet query, for ``ImputeOptions``."""
    out: dict[str, Any] = {}
    for name in ("continuous", "transforms", "bounds", "panel", "idvars", "integer"):
        value = getattr(query, name)
        if value is not None and value != []:
            out[name] = value
    return out


class FieldError(ImputerValueError):
    """A library error about one option's column, with its place in the request (``loc``)."""

    def __init__(self, message: str, loc: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.loc = loc


def check_columns_against_data(values: Any, frame: Any, prefix: tuple[str, ...]) -> None:
    """Each column of ``transforms`` and ``bounds`` checked against its observed values in ``frame``.

    The library's rules (:func:`imputer.transform._spec.column_maps`: a log column's values
    positive, values inside their bounds, ...), one column at a time, so that a failure is a
    :class:`FieldError` at ``prefix + (option, column)`` with the library's message (naming the
    column, the row and the value). Columns that are absent or not numeric are left to the library.
    """
    from imputer.columns import is_modelled
    from imputer.transform._spec import column_maps

    transforms, bounds = values.transforms or {}, values.bounds or {}
    for column in dict.fromkeys([*transforms, *bounds]):
        if column not in frame.columns or not is_modelled(frame[column]):
            continue
        x = frame[column].to_numpy(dtype=float, na_value=float("nan"))
        transform = {column: transforms[column]} if column in transforms else None
        for option, bound in (("transforms", None), ("bounds", {column: bounds.get(column)})):
            if column not in (transforms if option == "transforms" else bounds):
                continue
            try:  # the transform alone, then with the bounds: the first failure is the option's
                column_maps(transform, bound, [column], [x], frame.index)
            except ImputerValueError as exc:
                raise FieldError(str(exc), (*prefix, option, column)) from None


def extended_fields_check(values: Any) -> None:
    """The options above need model 'normal'; integer needs m (ValueError otherwise)."""
    given = [n for n in ("transforms", "bounds", "panel", "idvars", "integer") if getattr(values, n) is not None]
    if given and values.model != "normal":
        raise ValueError(f"{', '.join(given)} apply to model 'normal' only")
    if values.integer is not None and values.m is None:
        raise ValueError("integer applies to multiple imputation (m): it rounds drawn cells")


def extended_kwargs(values: Any) -> dict[str, Any]:
    """The given options above as keyword arguments (``integer`` only with ``m``)."""
    out: dict[str, Any] = {}
    for name in ("transforms", "bounds", "idvars", "integer"):
        if getattr(values, name) is not None:
            out[name] = getattr(values, name)
    if values.panel is not None:
        out["panel"] = values.panel.model_dump()
    return out


class PanelSettings(ResponseModel):
    """The panel's settings as used."""

    time: str = Field(..., description="The time column.")
    unit: str | None = Field(..., description="The unit column (null: one series).")
    polytime: int = Field(..., description="Degree of the time polynomials.")
    intercs: bool = Field(..., description="Whether each unit has its own trend.")
    lags: list[str] = Field(..., description="Columns whose lags are in the model.")
    leads: list[str] = Field(..., description="Columns whose leads are in the model.")


class ColumnTransform(ResponseModel):
    """A transformed or bounded column (non-finite as null)."""

    transform: str = Field(..., description="identity, log, sqrt or logit.")
    lo: float | None = Field(..., description="The logit's lower end (null otherwise).")
    hi: float | None = Field(..., description="The logit's upper end (null otherwise).")
    lower: float | None = Field(..., description="The lower bound (null: none).")
    upper: float | None = Field(..., description="The upper bound (null: none).")
    label: str = Field(..., description="The column's model-scale label, e.g. log(gdp).")
