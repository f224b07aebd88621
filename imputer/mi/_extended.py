r"""``multiple_impute(..., transforms=, bounds=, integer=, panel=, idvars=)`` (private).

Model. The normal of :func:`imputer.multiple_impute` is fitted, and its imputations
drawn, on the model's table: the modelled columns on their transformed scale
``y_j = g_j(x_j)`` (:mod:`imputer.transform._maps`), then the panel's covariates
(:mod:`imputer.panel._design`). For imputation ``j`` with parameters ``theta_j`` (the
draw it was imputed under, :attr:`MultipleImputation.params`, on the model scale):

1. bounds: each row whose drawn cells leave the box ``g([lower, upper])`` is drawn again
   from its conditional normal under ``theta_j`` truncated to the box -- rejection, then
   Gibbs sweeps over the row's missing cells' univariate truncated conditionals as a
   fallback (:mod:`imputer.mi._truncated`). The bounds constrain the imputations only,
   not the posterior of ``theta`` (as Amelia's ``bounds``: the model stays the normal);
2. the cells are mapped back, ``x = g^{-1}(y)`` (a draw on the transformed scale mapped
   back, not a transformed mean);
3. ``integer`` columns: the draw is rounded to the nearest integer (Amelia's rounding of
   ``ords``), then moved to the nearest integer inside the bounds if the bounds are not
   integers. Rounding a *draw* keeps the spread of the imputation distribution; what
   Horton, Lipsitz & Parzen (2003, The American Statistician 57:229-232) showed biased is
   rounding imputed values whose distribution is far from the normal's (their case: a
   binary variable, rounding 0/1 means), which is why rounding is done only where asked.

Observed cells come back bit for bit (only missing cells are written); the time, unit and
``idvars`` columns are copied; the lags and leads are dropped. A seeded stream
(``SeedSequence([seed, TRUNCATION_KEY])``, one child per imputation) drives step 1, so the
imputations repeat with the seed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.mi._truncated import truncate_rows
from imputer.mi.result import MultipleImputation
from imputer.mvn._validate import prepare
from imputer.panel._model import panel_model
from imputer.transform._maps import ColumnMap, forward, inverse, model_bounds
from imputer.transform._spec import column_maps

__all__ = ["TRUNCATION_KEY", "multiple_impute_extended"]

#: Second word of the seed of the truncation stream ("trun").
TRUNCATION_KEY = 0x7472756E


def _check_integer(integer: Any, modelled: Sequence[Hashable]) -> tuple[Hashable, ...]:
    if isinstance(integer, (str, bytes)) or not isinstance(integer, Sequence):
        raise ImputerTypeError(f"integer must be a list of column labels, got {type(integer).__name__} {integer!r}")
    for c in integer:
        if c not in modelled:
            raise ImputerValueError(f"integer: {c!r} is not a modelled column (modelled: {list(modelled)!r})")
    return tuple(dict.fromkeys(integer))


def _round(x: np.ndarray, cmap: ColumnMap) -> np.ndarray:
    out = np.rint(x)
    lo, hi = np.ceil(cmap.lower), np.floor(cmap.upper)
    return np.clip(out, lo, hi) if lo <= hi else out


def multiple_impute_extended(
    data: Any,
    m: int,
    *,
    transforms: Mapping[Hashable, Any] | None,
    bounds: Mapping[Hashable, Any] | None,
    integer: Sequence[Hashable] | None,
    panel: Mapping[str, Any] | None,
    idvars: Sequence[Hashable] | None,
    columns: Sequence[Hashable] | None,
    **options: Any,
) -> MultipleImputation:
    """:func:`imputer.multiple_impute` with the options above (see there and the module docstring)."""
    from imputer.mi.api import multiple_impute
    from imputer.panel.api import _shifted_transforms

    if options.get("model", "normal") != "normal":
        raise ImputerValueError(
            f"transforms, bounds, integer, panel and idvars are available for model='normal' only, not {options['model']!r}"
        )
    pm = panel_model(data, panel, idvars, columns)
    ints = _check_integer(integer or (), pm.modelled)
    prep = prepare(pm.table, None)
    maps = column_maps(_shifted_transforms(transforms, pm), bounds, prep.columns, prep.values, prep.frame.index)
    labels = [mp.label(str(c)) if mp.kind != "identity" else c for c, mp in zip(prep.columns, maps, strict=True)]
    if len(set(labels)) != len(labels):
        dup = next(x for x in labels if labels.count(x) > 1)
        raise ImputerValueError(f"transforms: the model-scale label {dup!r} names two columns; rename one of them")
    model_frame = pd.DataFrame(
        {k: forward(mp, v) for k, (mp, v) in enumerate(zip(maps, prep.values, strict=True))}, index=prep.frame.index
    )
    model_frame.columns = pd.Index(labels, tupleize_cols=False)
    mi = multiple_impute(model_frame, m, **options)
    p = len(labels)
    miss = np.column_stack([np.isnan(v) for v in prep.values])
    box = np.array([model_bounds(mp) for mp in maps]).reshape(p, 2)
    lower, upper = box[:, 0], box[:, 1]
    bounded = bool(np.isfinite(box).any())
    streams = np.random.SeedSequence([mi.seed, TRUNCATION_KEY]).spawn(m)
    position = {c: k for k, c in enumerate(prep.columns)}
    imputations = []
    for j, (imp, (mu, sigma)) in enumerate(zip(mi.imputations, mi.params, strict=True)):
        y = imp.loc[:, labels].to_numpy(dtype=float, copy=True)
        if bounded:
            truncate_rows(
                y, miss, mu.to_numpy(float), sigma.to_numpy(float), lower, upper, np.random.default_rng(streams[j])
            )
        out = pm.frame.copy(deep=True)
        for c in pm.modelled:
            k = position[c]
            rows = miss[:, k]
            if not rows.any():
                continue
            x = inverse(maps[k], y[rows, k])
            if c in ints:
                x = _round(x, maps[k])
            col = prep.values[k].copy()
            col[rows] = x
            dtype = pm.frame[c].dtype
            if c in ints and isinstance(dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_integer_dtype(dtype):
                out[c] = pd.array(col, dtype="Float64").astype(dtype)
            elif isinstance(dtype, pd.api.extensions.ExtensionDtype):
                out[c] = pd.array(col, dtype="Float64")
            else:
                out[c] = col
        imputations.append(out)
    return dataclasses.replace(mi, imputations=tuple(imputations), original=pm.frame)
