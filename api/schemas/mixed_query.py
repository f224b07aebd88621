"""Query parameters of ``POST /v1/mixed/frame`` for a CSV or Parquet table (raw or uploaded).

A JSON body carries the model in its fields (:class:`api.schemas.mixed.MixedFrameRequest`);
a table sent as CSV or Parquet carries it in the query instead, with the same names:
``formula`` (an lme4 formula), or ``response`` (repeated for a multi-trait model),
``fixed`` and ``random`` (repeated), and ``intercept``, ``na_action``, ``method``, ``tol``,
``max_iter``, ``accelerate``. ``contrasts`` is a JSON object in one parameter
(``contrasts={"dose": "poly"}``). Relationship matrices (``kernels``) need a JSON body.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from api.schemas.common import MAX_ITER_LIMIT, CsvQuery, option_field
from api.schemas.mixed import MixedFrameRequest, MixedOptions, formula_or_columns
from imputer.options import MIXED_OPTIONS

__all__ = ["MixedFrameQuery"]

_FIELDS = MixedFrameRequest.model_fields


def _json_object(value: Any) -> Any:
    """A query value holding a JSON object, decoded (a malformed one is left for the type's error)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class MixedFrameQuery(CsvQuery):
    """The model and options of a table-form fit sent as CSV or Parquet (module docstring)."""

    formula: str | None = Field(None, min_length=1, description=_FIELDS["formula"].description)
    response: list[Annotated[str, Field(min_length=1)]] | None = Field(
        None, description="Column holding the response (without a formula); repeat the parameter for the "
        "traits of a multi-trait model."
    )
    fixed: list[str] | None = Field(None, description=str(_FIELDS["fixed"].description) + " Repeat the parameter.")
    random: list[str] | None = Field(None, description=str(_FIELDS["random"].description) + " Repeat the parameter.")
    intercept: bool = Field(True, description=_FIELDS["intercept"].description)
    contrasts: Annotated[dict[str, Literal["treatment", "poly"]] | None, BeforeValidator(_json_object)] = Field(
        None, description=str(_FIELDS["contrasts"].description) + ' A JSON object: contrasts={"dose": "poly"}.'
    )
    na_action: Literal["error", "drop"] = Field("error", description=_FIELDS["na_action"].description)
    method: Literal["REML", "ML"] = option_field(MIXED_OPTIONS["method"])
    tol: float | None = option_field(MIXED_OPTIONS["tol"], null_means_default=True)
    max_iter: int | None = option_field(MIXED_OPTIONS["max_iter"], null_means_default=True, le=MAX_ITER_LIMIT)
    accelerate: bool = option_field(MIXED_OPTIONS["accelerate"])

    def missing_model(self) -> str | None:
        """Why the query does not give a model (None when it does): checked for CSV and Parquet
        bodies only (a JSON body's model is in the body, and a query sent with it is refused, 422)."""
        return formula_or_columns(
            self, "a CSV or Parquet table needs the model in the query: 'formula', or 'response' and 'random'"
        )

    def model(self) -> dict[str, Any]:
        """The model fields of :class:`~api.schemas.mixed.MixedFrameRequest` (no ``data``, no ``kernels``)."""
        response: str | list[str] | None = self.response
        if response is not None and len(response) == 1:
            response = response[0]
        return {
            "formula": self.formula, "response": response, "fixed": self.fixed, "random": self.random,
            "kernels": None, "intercept": self.intercept, "contrasts": self.contrasts, "na_action": self.na_action,
            "options": MixedOptions(method=self.method, tol=self.tol, max_iter=self.max_iter, accelerate=self.accelerate),
        }
