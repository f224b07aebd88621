"""The model's table for ``panel=``/``idvars=``: which columns are modelled, and the added covariates.

The modelled columns are ``columns`` (default: every numeric column) less the panel's
time and unit columns and the ``idvars``; :mod:`imputer.panel._design` adds the time
covariates and the lags and leads. The caller's table is never changed.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from imputer._util import frame_like
from imputer.errors import ImputerValueError
from imputer.mvn._validate import select
from imputer.panel._design import augment
from imputer.panel._spec import PanelSpec, check_idvars, check_panel, check_panel_lags

__all__ = ["PanelModel", "completed_like", "panel_model"]


@dataclass(frozen=True, eq=False)
class PanelModel:
    """The input table, what is modelled, and the model's table (``table``: modelled + added columns)."""

    frame: pd.DataFrame
    spec: PanelSpec | None
    idvars: tuple[Hashable, ...]
    modelled: tuple[Hashable, ...]
    table: pd.DataFrame
    covariates: tuple[str, ...]
    shifted: tuple[str, ...]


def panel_model(data: Any, panel: Any, idvars: Any, columns: Sequence[Hashable] | None) -> PanelModel:
    """Check ``panel``, ``idvars`` and ``columns`` against ``data``; build the model's table."""
    frame, chosen = select(data, columns)
    ids = check_idvars(idvars, frame)
    spec = None if panel is None else check_panel(panel, frame)
    drop = set(ids)
    if spec is not None:
        drop |= {spec.time} | ({spec.unit} if spec.unit is not None else set())
    if columns is not None:
        for c in columns:
            if c in drop:
                what = "idvars" if c in ids else "panel's time or unit"
                raise ImputerValueError(f"columns: {c!r} is one of the {what} columns, which are not modelled")
    modelled = tuple(c for c in chosen if c not in drop)
    if not modelled:
        raise ImputerValueError("no column left to model once the panel's time and unit columns and idvars are set aside")
    if spec is None:
        return PanelModel(frame, None, ids, modelled, frame.loc[:, list(modelled)], (), ())
    check_panel_lags(spec, frame, modelled)
    table, covariates, shifted = augment(spec, frame, modelled)
    return PanelModel(frame, spec, ids, modelled, table, covariates, shifted)


def completed_like(frame: pd.DataFrame, modelled: Sequence[Hashable], fitted: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its modelled columns taken from ``fitted`` (same labels), every other column copied."""
    keep = set(modelled)
    parts = {k: (fitted[c] if c in keep else frame.iloc[:, k]).array.copy() for k, c in enumerate(frame.columns)}
    return frame_like(parts, frame)
