r"""The covariates a panel adds to the model (Amelia's ``polytime``, ``intercs``, ``lags``, ``leads``).

With ``t`` the time column standardised over the rows, ``tau = (t - mean t)/sd t``, and
``K = polytime``:

* without ``intercs``: the columns ``tau, tau^2, .., tau^K`` (one trend for all units);
* with ``intercs``: for every unit ``u`` the columns ``1[unit = u] tau^k``, ``k = 1..K``,
  and the unit's indicator ``1[unit = u]`` for all units but the first in sorted order
  (the model's mean is that unit's intercept): a trend of degree ``K`` per unit.

These are Amelia's columns (``amsubset``: ``dummy * cbind(1, time, time^2, time^3)``, the
first unit's indicator dropped) up to the affine change ``t -> tau`` of the time basis,
which spans the same functions of time, so the fitted normal's conditional distribution
of the other columns given them -- the imputations -- is the same; ``tau`` keeps
``tau^2`` from being collinear with ``tau`` in floating point (``year^2`` is). The
covariates are fully observed: each row's gaps are regressed on its own unit's trend.

``lag(x)`` (``lead(x)``) is, for each row, ``x`` at the unit's previous (next) row in time
order, missing at the unit's first (last) time; it is modelled (and imputed) like any
column with missing cells and then dropped.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd

from imputer.errors import ImputerValueError
from imputer.panel._spec import PanelSpec

__all__ = ["augment"]


def _time_columns(spec: PanelSpec, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    t = frame[spec.time].to_numpy(dtype=float)
    tau = (t - t.mean()) / t.std()
    powers = [tau**k for k in range(1, spec.polytime + 1)]
    if not spec.intercs:
        return {("time" if k == 1 else f"time^{k}"): col for k, col in enumerate(powers, start=1)}
    out: dict[str, np.ndarray] = {}
    units = sorted(pd.unique(frame[spec.unit]), key=str)  # row order does not matter
    codes = frame[spec.unit].to_numpy()
    for i, u in enumerate(units):
        dummy = (codes == u).astype(float)
        if i > 0:
            out[f"unit[{u}]"] = dummy
        for k, col in enumerate(powers, start=1):
            out[f"{'time' if k == 1 else f'time^{k}'}[{u}]"] = dummy * col
    return out


def _shifted(spec: PanelSpec, frame: pd.DataFrame, column: Hashable, step: int) -> np.ndarray:
    keys = [spec.time] if spec.unit is None else [spec.unit, spec.time]
    order = np.lexsort([frame[k].to_numpy() for k in reversed(keys)]) if spec.unit is not None else np.argsort(
        frame[spec.time].to_numpy(), kind="stable"
    )
    values = frame[column].to_numpy(dtype=float, na_value=np.nan)[order]
    groups = np.zeros(len(order), dtype=np.intp) if spec.unit is None else pd.factorize(frame[spec.unit].to_numpy()[order])[0]
    shifted = np.full(len(order), np.nan)
    if step > 0:  # lag: the previous row of the same unit
        same = groups[1:] == groups[:-1]
        shifted[1:] = np.where(same, values[:-1], np.nan)
    else:
        same = groups[:-1] == groups[1:]
        shifted[:-1] = np.where(same, values[1:], np.nan)
    out = np.empty(len(order))
    out[order] = shifted
    return out


def augment(spec: PanelSpec, frame: pd.DataFrame, modelled: Sequence[Hashable]) -> tuple[pd.DataFrame, tuple[str, ...], tuple[str, ...]]:
    """The model's table: the modelled columns, then the time covariates, then lags and leads.

    Returns
    -------
    (table, covariates, shifted)
        ``table`` has the rows of ``frame`` (same index); ``covariates`` names the time
        columns, ``shifted`` the lag and lead columns.

    Raises
    ------
    ImputerValueError
        A new column's name is taken by a modelled column.
    """
    parts: dict[Hashable, np.ndarray | pd.Series] = {c: frame[c] for c in modelled}
    time_cols = _time_columns(spec, frame)
    shifted = {f"lag({c})": _shifted(spec, frame, c, 1) for c in spec.lags}
    shifted.update({f"lead({c})": _shifted(spec, frame, c, -1) for c in spec.leads})
    for name in (*time_cols, *shifted):
        if name in parts:
            raise ImputerValueError(f"panel: the model's new column {name!r} is already a column of the data; rename it")
    parts.update(time_cols)
    parts.update(shifted)
    table = pd.DataFrame(parts, index=frame.index)
    table.columns = pd.Index(list(parts), tupleize_cols=False)
    return table, tuple(time_cols), tuple(shifted)
