"""Input checks for :func:`imputer.impute_glom`: which columns are categorical, which continuous, ``means``.

The automatic rule (``categorical="auto"``) makes a column categorical when it is a
pandas ``category`` (ordered or not), a boolean (``bool`` or ``boolean``), or a numeric
column with exactly two distinct observed values (0/1 answers, 1/2 codes); text and
object columns are carried through unchanged unless listed in ``categorical=`` (issue 17's
rule for :func:`imputer.impute`), and ``continuous=`` overrides the rule for numeric
columns. Every other numeric column is continuous. The cells (the product of the
categorical columns' level counts) are limited to :data:`MAX_CELLS`, checked before
anything of that size is allocated.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from imputer.columns import is_modelled
from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.glom._cells import CellGrid, column_codes
from imputer.mvn._validate import _array_to_frame, check_column, check_exact_integers, float_values

__all__ = [
    "MAX_CELLS", "MEANS", "PROBABILITIES", "GlomInput", "check_probabilities", "choose_means", "is_auto_categorical",
    "prepare_glom",
]

#: Largest number of cells (product of the categorical columns' level counts).
MAX_CELLS = 4096
#: The cell-mean models.
MEANS = ("auto", "saturated", "additive")
#: The cell-probability models.
PROBABILITIES = ("saturated", "pairwise")


@dataclass(frozen=True, eq=False)
class GlomInput:
    """A validated table: ``frame`` (the caller's, never modified), the ``continuous`` and
    ``categorical`` labels, ``values`` (p arrays of float64, NaN missing), ``codes`` (n, J;
    -1 missing) and the ``cells``."""

    frame: pd.DataFrame
    continuous: tuple[Hashable, ...]
    categorical: tuple[Hashable, ...]
    values: tuple[np.ndarray, ...]
    codes: np.ndarray
    cells: CellGrid

    @property
    def n_rows(self) -> int:
        return int(self.frame.shape[0])


def is_auto_categorical(series: pd.Series) -> bool:
    """The automatic rule: ``category``, boolean, or numeric with exactly two distinct observed values."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype) or ptypes.is_bool_dtype(dtype):
        return True
    return is_modelled(dtype) and series.dropna().nunique() == 2


def _labels(name: str, value: Any, frame: pd.DataFrame) -> list[Hashable]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence | pd.Index | np.ndarray):
        raise ImputerTypeError(f"{name} must be a list of column names, got {value!r}")
    out: list[Hashable] = []
    for c in value:
        if c not in frame.columns:
            raise ImputerValueError(f"{name}: unknown column {c!r} (available: {list(frame.columns)!r})")
        if c in out:
            raise ImputerValueError(f"{name}: column {c!r} is listed twice")
        out.append(c)
    return out


def _columns(frame: pd.DataFrame, categorical: Any, continuous: Any) -> tuple[list[Hashable], list[Hashable]]:
    forced = _labels("continuous", continuous, frame) if continuous is not None else []
    for c in forced:
        if not is_modelled(frame[c]):
            raise ImputerTypeError(f"continuous: column {c!r} has non-numeric dtype {frame[c].dtype} and cannot be modelled")
    if isinstance(categorical, str) and categorical == "auto":
        cat = [c for c in frame.columns if c not in forced and is_auto_categorical(frame[c])]
    else:
        cat = _labels("categorical", list(categorical) if isinstance(categorical, Mapping) else categorical, frame)
        both = [c for c in cat if c in forced]
        if both:
            raise ImputerValueError(f"column {both[0]!r} is listed in both categorical and continuous")
    cont = [c for c in frame.columns if c not in cat and is_modelled(frame[c])]
    return cat, cont


def _listed_levels(label: Hashable, value: Any) -> list[object] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence | pd.Index | np.ndarray):
        raise ImputerTypeError(f"categorical: the levels of column {label!r} must be a list, got {value!r}")
    out = list(value)
    if not out or len(set(out)) != len(out):
        raise ImputerValueError(f"categorical: the levels of column {label!r} must be distinct and not empty, got {out!r}")
    return out


def _check_listed(label: Hashable, series: pd.Series, codes: np.ndarray, levels: list[object]) -> None:
    """Every observed value among the listed levels, every listed level observed."""
    unknown = np.flatnonzero((codes < 0) & series.notna().to_numpy())
    if unknown.size:
        raise ImputerValueError(
            f"categorical column {label!r}: value {series.iloc[unknown[0]]!r} (row {series.index[unknown[0]]!r}) "
            f"is not one of its levels {levels!r}"
        )
    unseen = [lv for k, lv in enumerate(levels) if not (codes == k).any()]
    if unseen:
        raise ImputerValueError(
            f"categorical column {label!r}: level {unseen[0]!r} is never observed (its cells would rest on no data); "
            "leave it out of the levels"
        )


#: How a caller of :func:`imputer.impute_glom` leaves a continuous column out of the model.
LEAVE_OUT = "drop it or leave it out of continuous="


def prepare_glom(data: Any, categorical: Any, continuous: Any, *, leave_out: str = LEAVE_OUT) -> GlomInput:
    """Validate the table and the column lists; codes of the categorical columns.

    ``leave_out`` ends the message about a continuous column with no observed value: how
    the caller's user leaves it out of the model (:class:`imputer.EMImputer` models every
    column of ``X``: drop it from ``X``).

    Raises
    ------
    ImputerTypeError
        ``data`` not tabular; a list option not a list; a non-numeric continuous column;
        nothing to model.
    ImputerValueError
        Empty data, duplicate names, a single row, an unknown or repeated column, a
        column in both lists, a column with no observed value or an infinite value, more
        than :data:`MAX_CELLS` cells.
    """
    frame = data if isinstance(data, pd.DataFrame) else _array_to_frame(data)
    n, k = frame.shape
    if n == 0 or k == 0:
        raise ImputerValueError(f"data is empty ({n} rows x {k} columns)")
    if frame.columns.has_duplicates:
        dup = list(dict.fromkeys(frame.columns[frame.columns.duplicated()]))
        raise ImputerValueError(f"data has duplicate column names: {dup!r}; column names must be unique")
    if n < 2:
        raise ImputerValueError("data has a single row: estimating a covariance needs at least 2 rows")
    if isinstance(categorical, str) and categorical != "auto":
        raise ImputerTypeError(f"categorical must be 'auto' or a list of column names, got {categorical!r}")
    cat, cont = _columns(frame, "auto" if categorical is None else categorical, continuous)
    if not cat and not cont:
        raise ImputerTypeError("data has no column to model (no numeric column and no categorical column)")
    given = categorical if isinstance(categorical, Mapping) else {}
    codes = np.empty((n, len(cat)), dtype=np.intp)
    levels: list[list[object]] = []
    n_cells = 1
    for j, c in enumerate(cat):
        series = frame[c]
        listed = _listed_levels(c, given.get(c))
        try:
            codes[:, j], lv = column_codes(series, listed)
        except TypeError as exc:
            raise ImputerTypeError(f"categorical column {c!r}: its values cannot be used as levels ({exc})") from None
        if listed is not None:
            _check_listed(c, series, codes[:, j], listed)
        if not lv:
            raise ImputerValueError(f"categorical column {c!r} has no observed value; drop it or leave it out of categorical=")
        n_cells *= len(lv)
        if n_cells > MAX_CELLS:
            counts = [len(x) for x in levels] + [len(lv)]
            worst = int(np.argmax(counts))
            wl = counts[worst]
            raise ImputerValueError(
                f"categorical column {cat[worst]!r} has {wl} levels: the cells (the product of the level counts "
                f"of {cat[: j + 1]!r}, at least {n_cells}) exceed the limit of {MAX_CELLS}; list fewer columns "
                "in categorical= (a free-text or identifier column is not a category), or merge levels"
            )
        levels.append(lv)
    values = []
    for c in cont:
        v = float_values(frame[c])
        check_column(c, v, leave_out=leave_out)
        check_exact_integers(c, frame[c], v)
        values.append(v)
    cells = CellGrid.of(tuple(cat), tuple(levels))
    return GlomInput(frame, tuple(cont), tuple(cat), tuple(values), codes, cells)


def choose_means(means: Any, inp: GlomInput) -> str:
    """``"saturated"`` or ``"additive"``: the caller's choice checked, or the automatic one.

    ``"auto"``: saturated when every cell holds at least ``p + 1`` rows with every
    categorical cell observed, additive otherwise.

    Raises
    ------
    ImputerTypeError, ImputerValueError
        ``means`` not one of :data:`MEANS`; ``"saturated"`` with a cell that no row with
        every categorical cell observed lies in (its mean would rest on no data).
    """
    if not isinstance(means, str):
        raise ImputerTypeError(f"means must be one of {MEANS!r}, got {means!r}")
    if means not in MEANS:
        raise ImputerValueError(f"means must be one of {MEANS!r}, got {means!r}")
    full = (inp.codes >= 0).all(axis=1)
    counts = np.bincount(inp.cells.cell_of(inp.codes[full]), minlength=inp.cells.n_cells)
    if means == "auto":
        return "saturated" if counts.min() >= len(inp.continuous) + 1 else "additive"
    if means == "saturated" and inp.continuous and counts.min() == 0:
        c = int(np.argmin(counts))
        label = ", ".join(f"{name}={inp.cells.levels[j][inp.cells.grid[c, j]]!r}" for j, name in enumerate(inp.categorical))
        raise ImputerValueError(
            f"means='saturated': the cell ({label}) has no row with every categorical column observed, so its "
            "mean rests on no data; pass means='additive' (main effects of each categorical column)"
        )
    return means


def check_probabilities(probabilities: Any) -> str:
    """``probabilities`` checked: one of :data:`PROBABILITIES`.

    Raises
    ------
    ImputerTypeError, ImputerValueError
        Not a str; not one of :data:`PROBABILITIES`.
    """
    if not isinstance(probabilities, str):
        raise ImputerTypeError(f"probabilities must be one of {PROBABILITIES!r}, got {probabilities!r}")
    if probabilities not in PROBABILITIES:
        raise ImputerValueError(f"probabilities must be one of {PROBABILITIES!r}, got {probabilities!r}")
    return probabilities
