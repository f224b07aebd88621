"""Panels (time-series cross-sections) for the normal EM: ``impute(..., panel=, idvars=)``.

* :mod:`imputer.panel._spec`: checking ``panel``/``idvars``;
* :mod:`imputer.panel._design`: the time polynomials (per unit), lags and leads;
* :mod:`imputer.panel._model`: the modelled columns and the model's table;
* :mod:`imputer.panel.api`: the fit and the completed input table;
* :mod:`imputer.panel.result`: :class:`PanelImputeResult`.
"""

from imputer.panel._spec import PanelSpec
from imputer.panel.result import PanelImputeResult

__all__ = ["PanelImputeResult", "PanelSpec"]
