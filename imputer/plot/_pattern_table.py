"""Interim pattern table until ``imputer.patterns`` (wip/diag) is merged (private)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from imputer.columns import is_modelled, modelled_columns
from imputer.errors import ImputerTypeError, ImputerValueError


def pattern_table(data: Any, columns: Sequence[Hashable] | None) -> tuple[pd.DataFrame, pd.Series]:
    if columns is None:
        cols = modelled_columns(data)
    else:
        cols = list(columns)
        for c in cols:
            if c not in data.columns:
                raise ImputerValueError(f"columns: {c!r} is not a column of data")
            if not is_modelled(data[c]):
                raise ImputerTypeError(f"columns: {c!r} is not numeric (dtype {data[c].dtype})")
    if not cols:
        raise ImputerValueError("data has no numeric column")
    mask = data[cols].notna().to_numpy()
    uniq, counts = np.unique(mask, axis=0, return_counts=True)
    order = np.lexsort((np.arange(len(counts)), -counts))
    table = pd.DataFrame(uniq[order].astype(int), columns=cols)
    table["count"] = counts[order]
    table["n_missing"] = (1 - uniq[order]).sum(axis=1)
    return table, pd.Series((~mask).sum(axis=0), index=cols)
