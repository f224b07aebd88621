"""Request and response pieces of ``POST /v1/impute`` for transformed, bounded, integer and panel data.

``options.transforms``, ``options.bounds``, ``options.panel``, ``options.idvars`` and
``options.integer`` (JSON bodies) are :func:`imputer.impute` / :func:`imputer.multiple_impute`'s
keyword arguments of the same names; a single imputation with any of them answers
:class:`ImputeExtendedResponse` (``TransformedImputeResult.to_dict()`` /
``PanelImputeResult.to_dict()``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from api.schemas.common import RequestModel, ResponseModel

__all__ = ["Bound", "PanelOptions", "TransformSpec", "extended_fields_check"]

#: ``"log"``, ``"sqrt"``, ``"logit"`` (range 0-1) or ``["logit", lo, hi]``
TransformSpec = Literal["log", "sqrt", "logit"] | tuple[Literal["logit"], float, float]
#: ``[lower, upper]``, either null for none
Bound = tuple[float | None, float | None]

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
