"""Checking ``transforms=`` and ``bounds=`` against the modelled columns and their values.

Public rules (the messages name the option, the column and, for a value, its row):

* ``transforms={"col": "log" | "sqrt" | "logit" | ("logit", lo, hi)}``: ``"logit"`` alone is
  the range ``(0, 1)``; observed values must be in the transform's domain (``log``: > 0,
  ``sqrt``: >= 0, ``logit``: strictly inside ``(lo, hi)``).
* ``bounds={"col": (lower, upper)}``, either end ``None`` for none: ``lower < upper``,
  observed values inside; on untransformed and log columns only.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.transform._maps import ColumnMap

__all__ = ["column_maps"]

_KINDS = ("log", "sqrt", "logit")


def _number(value: Any, where: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise ImputerTypeError(f"{where} must be a number, got {type(value).__name__}")
    out = float(value)
    if np.isnan(out):
        raise ImputerValueError(f"{where} must be a number, got nan")
    return out


def _transform(label: Hashable, spec: Any) -> ColumnMap:
    where = f"transforms[{label!r}]"
    if isinstance(spec, str):
        kind, rng = spec, None
    elif isinstance(spec, (tuple, list)) and len(spec) == 3 and isinstance(spec[0], str):
        kind, rng = spec[0], spec[1:]
    else:
        raise ImputerTypeError(
            f"{where} must be 'log', 'sqrt', 'logit' or ('logit', lo, hi), got {spec!r}"
        )
    if kind not in _KINDS:
        raise ImputerValueError(f"{where}: unknown transform {kind!r}; use 'log', 'sqrt', 'logit' or ('logit', lo, hi)")
    if kind != "logit":
        if rng is not None:
            raise ImputerValueError(f"{where}: {kind!r} takes no range; only ('logit', lo, hi) does")
        return ColumnMap(kind=kind)  # type: ignore[arg-type]
    lo, hi = (0.0, 1.0) if rng is None else (_number(rng[0], f"{where} lo"), _number(rng[1], f"{where} hi"))
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ImputerValueError(f"{where}: the logit's range needs finite lo < hi, got ({lo:g}, {hi:g})")
    return ColumnMap(kind="logit", lo=lo, hi=hi)


def _bounds(label: Hashable, spec: Any, cmap: ColumnMap) -> ColumnMap:
    where = f"bounds[{label!r}]"
    if not isinstance(spec, (tuple, list)) or len(spec) != 2:
        raise ImputerTypeError(f"{where} must be a pair (lower, upper), either None, got {spec!r}")
    lower = -np.inf if spec[0] is None else _number(spec[0], f"{where} lower")
    upper = np.inf if spec[1] is None else _number(spec[1], f"{where} upper")
    if not lower < upper:
        raise ImputerValueError(f"{where}: lower {lower:g} must be below upper {upper:g}")
    if cmap.kind in ("logit", "sqrt"):
        raise ImputerValueError(
            f"{where}: a {cmap.kind} column is bounded by its transform already"
            + ("; give the range in ('logit', lo, hi)" if cmap.kind == "logit" else " (at 0)")
        )
    return ColumnMap(kind=cmap.kind, lo=cmap.lo, hi=cmap.hi, lower=lower, upper=upper)


def _first_bad(index: pd.Index, values: np.ndarray, bad: np.ndarray) -> str:
    i = int(np.flatnonzero(bad)[0])
    label = index[i]
    label = label.item() if isinstance(label, np.generic) else label  # row 2, not np.int64(2)
    return f"row {label!r} holds {float(values[i])!r}"


def _check_domain(label: Hashable, cmap: ColumnMap, values: np.ndarray, index: pd.Index) -> None:
    obs = ~np.isnan(values)
    with np.errstate(invalid="ignore"):
        if cmap.kind == "log":
            bad = obs & ~(values > 0)
            need = "positive values"
        elif cmap.kind == "sqrt":
            bad = obs & ~(values >= 0)
            need = "values >= 0"
        elif cmap.kind == "logit":
            bad = obs & ~((values > cmap.lo) & (values < cmap.hi))
            need = f"values strictly between {cmap.lo:g} and {cmap.hi:g}"
        else:
            bad = np.zeros(values.shape, dtype=bool)
            need = ""
        if bad.any():
            raise ImputerValueError(
                f"transforms[{label!r}]: {cmap.kind!r} needs {need}, but {_first_bad(index, values, bad)}"
            )
        if cmap.bounded:
            out = obs & ((values < cmap.lower) | (values > cmap.upper))
            if out.any():
                raise ImputerValueError(
                    f"bounds[{label!r}]: {_first_bad(index, values, out)}, outside [{cmap.lower:g}, {cmap.upper:g}]"
                )


def column_maps(
    transforms: Mapping[Hashable, Any] | None,
    bounds: Mapping[Hashable, Any] | None,
    columns: Sequence[Hashable],
    values: Sequence[np.ndarray],
    index: pd.Index,
) -> tuple[ColumnMap, ...]:
    """One :class:`ColumnMap` per modelled column, checked against its observed values.

    Raises
    ------
    ImputerTypeError, ImputerValueError
        A malformed spec, a column that is not modelled, a value outside the transform's
        domain or the bounds (naming the option, the column and the row).
    """
    maps = {c: ColumnMap() for c in columns}
    for name, arg in (("transforms", transforms), ("bounds", bounds)):
        if arg is not None and not isinstance(arg, Mapping):
            raise ImputerTypeError(f"{name} must be a dict from column to spec, got {type(arg).__name__}")
        for label in arg or {}:
            if label not in maps:
                raise ImputerValueError(f"{name}: {label!r} is not a modelled column (modelled: {list(columns)!r})")
    for label, spec in (transforms or {}).items():
        maps[label] = _transform(label, spec)
    for label, spec in (bounds or {}).items():
        maps[label] = _bounds(label, spec, maps[label])
    for label, v in zip(columns, values, strict=True):
        _check_domain(label, maps[label], v, index)
    return tuple(maps[c] for c in columns)
