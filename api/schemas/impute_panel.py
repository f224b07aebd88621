"""``ImputeExtendedResponse``: a single imputation with transforms, bounds, a panel or idvars."""

from __future__ import annotations

from pydantic import Field

from api.schemas.impute import ImputeResponse
from api.schemas.panel import ColumnTransform, PanelSettings

__all__ = ["ImputeExtendedResponse", "extended_payload"]


class ImputeExtendedResponse(ImputeResponse):
    """``ImputeResponse`` of the model's fit, plus what the model added (``to_dict()`` of the result).

    ``mean``, ``cov``, ``corr`` and ``n_missing`` are the model's: transformed columns by their
    model-scale labels (``log(gdp)``), then a panel's covariates (``time[unit]``, ``lag(x)``);
    ``completed`` is the input table on its own scale.
    """

    model_columns: list[str] = Field(..., description="The model's columns (model-scale labels, panel covariates).")
    transforms: dict[str, ColumnTransform] | None = Field(..., description="The transformed or bounded columns (null: none).")
    panel: PanelSettings | None = Field(..., description="The panel's settings (null: no panel).")
    idvars: list[str] | None = Field(..., description="The columns carried through untouched (null: none given).")
    covariates: list[str] | None = Field(..., description="The panel's covariates in the model (time terms, lags, leads; null: no panel).")


def extended_payload(result_dict: dict) -> dict:
    """``to_dict()`` of a transformed or panel result with every key of the response (absent: null)."""
    out = {"transforms": None, "panel": None, "idvars": None, "covariates": None, **result_dict}
    out.setdefault("model_columns", out["columns"])
    return out
