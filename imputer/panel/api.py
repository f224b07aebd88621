r"""``impute(..., panel=, idvars=)``: EM imputation of a time-series cross-section (Amelia's ``ts``/``cs``).

Model. Rows are unit-time observations. The modelled columns ``x`` and the panel's
covariates ``w`` (time polynomials, per unit with ``intercs``; lags and leads of chosen
columns: :mod:`imputer.panel._design`) are jointly normal, ``(x, w) ~ N(mu, Sigma)``,
fitted by :func:`imputer.impute` (with its ``transforms``/``bounds``) on that augmented
table. Since the time covariates are fully observed, a missing ``x_ij`` is filled from its
conditional distribution given them and the row's observed cells: the regression of
``x_j`` on the unit's own time trend and the other variables, so a gap in a unit's
series is filled from that unit's trend. The time and unit columns and the ``idvars``
are not modelled and come back untouched.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from imputer.panel._model import completed_like, panel_model
from imputer.panel.result import PanelImputeResult

__all__ = ["impute_panel"]


def _shifted_transforms(transforms: Mapping[Hashable, Any] | None, pm: Any) -> Mapping[Hashable, Any] | None:
    """A lag or lead of a transformed column is modelled on the same scale."""
    if not transforms or pm.spec is None:
        return transforms
    out = dict(transforms)
    for key, cols in (("lag", pm.spec.lags), ("lead", pm.spec.leads)):
        for c in cols:
            if c in transforms:
                out[f"{key}({c})"] = transforms[c]
    return out


def impute_panel(
    data: Any,
    *,
    panel: Mapping[str, Any] | None,
    idvars: Sequence[Hashable] | None,
    columns: Sequence[Hashable] | None,
    transforms: Mapping[Hashable, Any] | None,
    bounds: Mapping[Hashable, Any] | None,
    **fit_options: Any,
) -> PanelImputeResult:
    """:func:`imputer.impute` with ``panel``/``idvars`` (see there and the module docstring)."""
    from imputer.mvn.api import impute

    pm = panel_model(data, panel, idvars, columns)
    model = impute(pm.table, transforms=_shifted_transforms(transforms, pm), bounds=bounds, **fit_options)
    completed = completed_like(pm.frame, pm.modelled, model.completed)
    return PanelImputeResult(
        completed=completed, model=model, panel=pm.spec, idvars=pm.idvars, columns=pm.modelled,
        covariates=pm.covariates, shifted=pm.shifted,
    )
