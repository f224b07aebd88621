r"""Cells of the categorical columns (private): level codes, the cell grid, compatibility, designs.

``J`` categorical columns with ``L_1, ..., L_J`` levels define ``C = prod_j L_j`` cells,
numbered in C order (the last column's level varies fastest), as
``numpy.unravel_index``: cell ``c`` has level ``grid[c, j]`` of column ``j``. A row whose
categorical cells are all observed lies in one cell; a row with some of them missing
(code ``-1``) is *compatible* with every cell that agrees with its observed levels,

.. math::

    \mathcal C_i = \{c : \text{grid}_{c,j} = \text{code}_{ij} \text{ for every observed } j\}.

The additive design of the cell means (main effects only) is the ``C x (1 + sum_j (L_j -
1))`` matrix ``D`` with an intercept and one indicator per level of each column after
its first: ``mu_c = B' d_c``.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["CellGrid", "column_codes"]


def column_codes(series: pd.Series, levels: list[object] | None = None) -> tuple[np.ndarray, list[object]]:
    """A categorical column's integer codes (``-1`` where missing) and its levels.

    With ``levels`` given, those (in that order); an observed value outside them keeps
    code ``-1`` (the caller checks). Otherwise a pandas ``category`` keeps its
    categories' order (categories never observed are dropped from the model) and other
    columns take their distinct observed values, sorted when they can be.

    Returns
    -------
    codes : ndarray of intp, shape (n,)
    levels : list, length L
        The level values (``level[codes[i]]`` is row ``i``'s value).
    """
    if levels is not None:
        codes = pd.Index(levels).get_indexer(series.astype(object).where(series.notna(), None))
        return np.asarray(codes, dtype=np.intp), list(levels)
    if isinstance(series.dtype, pd.CategoricalDtype):
        raw = series.cat.codes.to_numpy().astype(np.intp)
        used = np.unique(raw[raw >= 0])
        remap = np.full(len(series.cat.categories) + 1, -1, dtype=np.intp)
        remap[used] = np.arange(used.size)
        codes = remap[raw]  # raw == -1 reads the last entry, -1
        return codes, list(series.cat.categories[used])
    try:
        codes, uniques = pd.factorize(series, sort=True)
    except TypeError:  # values of types that do not sort together
        codes, uniques = pd.factorize(series, sort=False)
    return np.asarray(codes, dtype=np.intp), list(uniques)


@dataclass(frozen=True, eq=False)
class CellGrid:
    """The cells of ``J`` categorical columns.

    Attributes
    ----------
    names : tuple, length J
        Column labels.
    levels : tuple of lists, length J
        Each column's levels.
    grid : ndarray of intp, shape (C, J)
        Level codes of each cell.
    """

    names: tuple[Hashable, ...]
    levels: tuple[list[object], ...]
    grid: np.ndarray

    @classmethod
    def of(cls, names: tuple[Hashable, ...], levels: tuple[list[object], ...]) -> CellGrid:
        shape = tuple(len(lv) for lv in levels)
        n_cells = int(np.prod(shape, dtype=np.int64)) if shape else 1
        grid = np.stack(np.unravel_index(np.arange(n_cells), shape), axis=1) if shape else np.zeros((1, 0), np.intp)
        return cls(names, levels, np.asarray(grid, dtype=np.intp))

    @property
    def n_cells(self) -> int:
        return int(self.grid.shape[0])

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(lv) for lv in self.levels)

    def cell_of(self, codes: np.ndarray) -> np.ndarray:
        """Cell number of rows with every categorical cell observed, shape (r,) from codes (r, J)."""
        if not self.names:
            return np.zeros(codes.shape[0], dtype=np.intp)
        return np.ravel_multi_index(tuple(codes.T), self.shape).astype(np.intp)

    def compatible(self, codes: np.ndarray) -> np.ndarray:
        """Boolean (r, C): cell ``c`` agrees with row ``i``'s observed levels (codes (r, J), -1 missing)."""
        ok = np.ones((codes.shape[0], self.n_cells), dtype=bool)
        for j in range(len(self.names)):
            cj = codes[:, j : j + 1]
            ok &= (cj < 0) | (cj == self.grid[None, :, j])
        return ok

    def additive_design(self) -> np.ndarray:
        """``D``, shape (C, 1 + sum_j (L_j - 1)): intercept and the indicators of levels 2.. of each column."""
        cols = [np.ones(self.n_cells)]
        for j, lv in enumerate(self.levels):
            for level in range(1, len(lv)):
                cols.append((self.grid[:, j] == level).astype(float))
        return np.stack(cols, axis=1)

    def index(self) -> pd.Index:
        """Cell labels: a MultiIndex of the level combinations (a one-cell ``RangeIndex`` with no column)."""
        if not self.names:
            return pd.RangeIndex(1, name="cell")
        return pd.MultiIndex.from_product([pd.Index(lv, dtype=object) for lv in self.levels], names=list(self.names))

    def level_sums(self, resp: np.ndarray, j: int) -> np.ndarray:
        """Posterior level probabilities of column ``j``: ``resp`` (r, C) summed over the cells of each level, (r, L_j)."""
        out = np.zeros((resp.shape[0], len(self.levels[j])))
        for level in range(out.shape[1]):
            out[:, level] = resp[:, self.grid[:, j] == level].sum(axis=1)
        return out
