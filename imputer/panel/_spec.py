"""Checking ``panel=`` and ``idvars=`` against the table (Amelia's ``ts``/``cs``/``polytime``/``intercs``/``lags``/``leads``/``idvars``).

Public rules (the messages name the option, the column and, for a value, its row):

* ``panel={"time": col, "unit": col, "polytime": k, "intercs": bool, "lags": [...], "leads": [...]}``:
  ``time`` is required, a numeric column with no missing value and at least two distinct
  values; ``unit`` (optional) a column with no missing value; ``polytime`` an integer
  0..3 (default 0); ``intercs`` needs ``unit``; lags and leads name modelled columns and
  need each ``(unit, time)`` pair to occur once.
* ``idvars=[...]``: columns of the table, carried through unmodelled and untouched.
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from imputer.errors import ImputerTypeError, ImputerValueError

__all__ = ["PanelSpec", "check_idvars", "check_panel", "check_panel_lags"]

_KEYS = ("time", "unit", "polytime", "intercs", "lags", "leads")


@dataclass(frozen=True)
class PanelSpec:
    """A checked ``panel=`` (see the module docstring)."""

    time: Hashable
    unit: Hashable | None = None
    polytime: int = 0
    intercs: bool = False
    lags: tuple[Hashable, ...] = ()
    leads: tuple[Hashable, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"time": str(self.time), "unit": None if self.unit is None else str(self.unit),
                "polytime": self.polytime, "intercs": self.intercs,
                "lags": [str(c) for c in self.lags], "leads": [str(c) for c in self.leads]}


def _labels(value: Any, where: str) -> tuple[Hashable, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ImputerTypeError(f"{where} must be a list of column labels, got {type(value).__name__} {value!r}")
    return tuple(dict.fromkeys(value))


def _row(index: pd.Index, i: int) -> Any:
    """The label of row ``i`` as a plain Python value (for messages)."""
    label = index[i]
    return label.item() if isinstance(label, np.generic) else label


def _column(frame: pd.DataFrame, label: Any, where: str) -> pd.Series:
    if label not in frame.columns:
        raise ImputerValueError(f"{where}: column {label!r} is not in the data (columns: {list(frame.columns)!r})")
    col = frame[label]
    missing = col.isna().to_numpy()
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise ImputerValueError(
            f"{where}: column {label!r} has {int(missing.sum())} missing value(s) (first at row {_row(frame.index, i)!r}); "
            "it must be fully observed"
        )
    return col


def check_idvars(idvars: Any, frame: pd.DataFrame) -> tuple[Hashable, ...]:
    """``idvars`` as a tuple of columns of ``frame``."""
    out = _labels(idvars, "idvars")
    for c in out:
        if c not in frame.columns:
            raise ImputerValueError(f"idvars: column {c!r} is not in the data (columns: {list(frame.columns)!r})")
    return out


def check_panel(panel: Any, frame: pd.DataFrame) -> PanelSpec:
    """``panel`` checked against ``frame`` (lags and leads against the model by :func:`check_panel_lags`)."""
    if not isinstance(panel, Mapping):
        raise ImputerTypeError(f"panel must be a dict with keys {', '.join(_KEYS)}, got {type(panel).__name__}")
    unknown = [k for k in panel if k not in _KEYS]
    if unknown:
        raise ImputerValueError(f"panel: unknown key(s) {', '.join(map(repr, unknown))}; use {', '.join(_KEYS)}")
    if panel.get("time") is None:
        raise ImputerValueError("panel: 'time' (the time column, Amelia's ts) is required")
    time = _column(frame, panel["time"], "panel['time']")
    if not pd.api.types.is_numeric_dtype(time.dtype) or pd.api.types.is_bool_dtype(time.dtype):
        raise ImputerTypeError(f"panel['time']: column {panel['time']!r} must be numeric, got {time.dtype}")
    if np.unique(time.to_numpy(dtype=float)).size < 2:
        raise ImputerValueError(f"panel['time']: column {panel['time']!r} has a single value; a time trend needs two")
    unit = panel.get("unit")
    if unit is not None:
        _column(frame, unit, "panel['unit']")
        if unit == panel["time"]:
            raise ImputerValueError(f"panel: 'unit' and 'time' are the same column {unit!r}")
    polytime = panel.get("polytime", 0)
    if isinstance(polytime, (bool, np.bool_)) or not isinstance(polytime, numbers.Integral):
        raise ImputerTypeError(f"panel['polytime'] must be an integer 0..3, got {type(polytime).__name__} {polytime!r}")
    if not 0 <= int(polytime) <= 3:
        raise ImputerValueError(f"panel['polytime'] must be 0..3, got {polytime!r}")
    intercs = panel.get("intercs", False)
    if not isinstance(intercs, (bool, np.bool_)):
        raise ImputerTypeError(f"panel['intercs'] must be True or False, got {intercs!r}")
    if intercs and unit is None:
        raise ImputerValueError("panel['intercs']: time trends per unit need panel['unit']")
    return PanelSpec(
        time=panel["time"], unit=unit, polytime=int(polytime), intercs=bool(intercs),
        lags=_labels(panel.get("lags"), "panel['lags']"), leads=_labels(panel.get("leads"), "panel['leads']"),
    )


def check_panel_lags(spec: PanelSpec, frame: pd.DataFrame, modelled: Sequence[Hashable]) -> None:
    """Lags and leads name modelled columns, and each ``(unit, time)`` occurs once."""
    for key, cols in (("lags", spec.lags), ("leads", spec.leads)):
        for c in cols:
            if c not in modelled:
                raise ImputerValueError(
                    f"panel['{key}']: {c!r} is not a modelled column (modelled: {list(modelled)!r})"
                )
    if spec.lags or spec.leads:
        keys = [spec.time] if spec.unit is None else [spec.unit, spec.time]
        dup = frame.duplicated(subset=keys)
        if dup.any():
            i = int(np.flatnonzero(dup.to_numpy())[0])
            raise ImputerValueError(
                f"panel: row {_row(frame.index, i)!r} repeats {'time' if spec.unit is None else '(unit, time)'} "
                f"{tuple(frame.iloc[i][keys])!r}; lags and leads need one row per unit and time"
            )
