r"""The fixed-effect design of :func:`imputer.fit_mixed_frame`: terms, interactions, contrasts.

A *term* is a product of columns: ``"x"`` (one column), ``"a:b"`` (the interaction of
``a`` and ``b``); ``"a*b"`` expands to ``a + b + a:b`` (and ``a*b*c`` to every
non-empty subset of ``{a, b, c}``). Terms are ordered as R orders them: by degree
(main effects first), in order of appearance within a degree; the columns of a term in
order of their first appearance in the model (``x + a:x`` has the term ``x:a``); a
repeated term (``a:b`` and ``b:a``) counts once.

Each column of a term is coded, and the term's columns are the row-wise products of its
columns' codings, the first column varying fastest (R's ``model.matrix`` order):

* a numeric column enters as itself (label ``x``);
* a column of dates or times is an error (a number or a factor: the caller says which);
* a factor (categorical, string, object or boolean column; levels as in
  :func:`~imputer.mixed._design._codes`) with ``k`` levels enters by *contrasts*
  (``k - 1`` columns) when the term without it is also in the model (the intercept
  counts as the empty term), else by *indicators* (``k`` columns, labels
  ``"col[level]"``) -- R's marginality rule. Without an intercept the first factor of the
  first term holding one is coded by indicators (R's rule too).
* contrasts are ``"treatment"`` (default: level ``j > 1`` against the first, labels
  ``"col[T.level]"``) or ``"poly"`` (R's ``contr.poly``: the orthonormal polynomials of
  degree ``1..k-1`` in the equally spaced scores ``1..k``, signed so that the leading
  coefficient is positive, labels ``"col.L"``, ``"col.Q"``, ``"col.C"``, ``"col^4"``, ...;
  meant for ordered factors).

An interaction's label joins its parts' labels with ``":"`` (``"recipe[T.B]:temperature.L"``,
``"age:Sex[T.Male]"``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from imputer.columns import is_modelled as _is_numeric
from imputer.errors import ImputerTypeError, ImputerValueError

__all__ = ["CONTRASTS", "contr_poly", "fixed_design", "fixed_terms"]

#: The contrast codings of a factor in the fixed effects.
CONTRASTS = ("treatment", "poly")

Term = tuple[str, ...]


def _split(entry: str, columns: pd.Index, sep: str) -> list[str]:
    if entry in columns or sep not in entry:
        return [entry]
    parts = [p.strip() for p in entry.split(sep)]
    if any(not p for p in parts):
        raise ImputerValueError(f"fixed: term {entry!r} is malformed (an empty part around {sep!r})")
    return parts


def fixed_terms(fixed: list, columns: pd.Index) -> list[Term]:
    """Expand the ``fixed`` entries into terms (tuples of column names), in R's order.

    Parameters
    ----------
    fixed : list of str
        Column names, interactions ``"a:b"``, crossings ``"a*b"`` (a column whose name
        contains ``:`` or ``*`` is that column), or terms as tuples of column names.
    columns : Index
        The table's columns.
    """
    terms: list[Term] = []
    for entry in fixed:
        if isinstance(entry, tuple):  # an already split term (from a formula)
            terms.append(entry)
            continue
        if not isinstance(entry, str):
            if entry in columns:  # a non-string column label
                terms.append((entry,))
                continue
            raise ImputerTypeError(f"fixed: entries must be column names (str), got {entry!r}")
        factors = [tuple(_split(f, columns, ":")) for f in _split(entry, columns, "*")]
        for r in range(1, len(factors) + 1):
            for combo in combinations(factors, r):
                terms.append(tuple(c for f in combo for c in f))
    # R orders a term's columns by their first appearance in the model (x + a:x gives x:a)
    first: dict = {}
    for t in terms:
        for c in t:
            first.setdefault(c, len(first))
    terms = [tuple(sorted(t, key=first.__getitem__)) for t in terms]
    out: list[Term] = []
    seen: set[frozenset] = set()
    for t in terms:
        if len(set(t)) != len(t):
            raise ImputerValueError(f"fixed: term {':'.join(map(str, t))!r} names a column twice")
        if frozenset(t) not in seen:
            seen.add(frozenset(t))
            out.append(t)
    return sorted(out, key=len)  # stable: by degree, then order of appearance


def contr_poly(k: int) -> np.ndarray:
    """R's ``contr.poly(k)``: shape (k, k - 1), orthonormal polynomial contrasts in scores 1..k."""
    x = np.arange(1, k + 1, dtype=float)
    V = np.vander(x - x.mean(), k, increasing=True)
    Q, R = np.linalg.qr(V)
    Q = Q * np.sign(np.diag(R))
    return Q[:, 1:]


def _poly_names(col: str, k: int) -> list[str]:
    named = [".L", ".Q", ".C"]
    return [f"{col}{named[j]}" if j < 3 else f"{col}^{j + 1}" for j in range(k - 1)]


def _factor_coding(
    col: str, codes: np.ndarray, levels: pd.Index, contrast: str, full: bool
) -> tuple[np.ndarray, list[str]]:
    """The (n, m) coding of one factor and its column labels."""
    k = len(levels)
    if full:
        return (codes[:, None] == np.arange(k)[None, :]).astype(float), [f"{col}[{lv}]" for lv in levels]
    if k < 2:
        raise ImputerValueError(f"fixed: column {col!r} has only one level ({levels[0]!r}): it has no effect to estimate")
    if contrast == "poly":
        return contr_poly(k)[codes], _poly_names(col, k)
    return (codes[:, None] == np.arange(1, k)[None, :]).astype(float), [f"{col}[T.{lv}]" for lv in levels[1:]]


def contrast_factors(frame: pd.DataFrame, contrasts: Mapping[str, str] | None) -> pd.DataFrame:
    """``frame`` with every numeric column named in ``contrasts`` as an ordered factor (levels by value).

    A table read from text (CSV, a REST body) has no categorical dtype, so naming a column of
    numbers in ``contrasts`` is how the command line and the service make it a factor; the
    caller's frame is not modified (a copy is returned when a column changes).
    """
    cols = [c for c in (contrasts or {}) if c in frame.columns and _is_numeric(frame[c])]
    if not cols:
        return frame
    out = frame.copy()
    for col in cols:
        out[col] = pd.Categorical(out[col], ordered=True)
    return out


def check_contrasts(contrasts: Any, factors: list[str]) -> dict[str, str]:
    """Validate ``contrasts`` (factor column -> ``"treatment"`` or ``"poly"``) against the fixed factors."""
    if contrasts is None:
        return {}
    if not isinstance(contrasts, Mapping):
        raise ImputerTypeError(f"contrasts must be a dict column -> 'treatment' or 'poly', got {type(contrasts).__name__}")
    out: dict[str, str] = {}
    for col, kind in contrasts.items():
        if col not in factors:
            raise ImputerValueError(
                f"contrasts: {col!r} is not a factor of the fixed effects (factors: {factors}); "
                "a numeric column must be made categorical (e.g. an ordered pandas Categorical) to be coded"
            )
        if not isinstance(kind, str) or kind.lower() not in CONTRASTS:
            raise ImputerValueError(f"contrasts[{col!r}] must be one of {list(CONTRASTS)}, got {kind!r}")
        out[col] = kind.lower()
    return out


def fixed_design(
    data: pd.DataFrame,
    terms: list[Term],
    intercept: bool,
    contrasts: Any,
    column: Callable[[pd.DataFrame, Any, str], pd.Series],
    codes: Callable[[pd.Series], tuple[np.ndarray, pd.Index]],
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The fixed-effect design matrix and the coding of each factor.

    Parameters
    ----------
    data : DataFrame, shape (n, ...)
    terms : list of tuple of str
        From :func:`fixed_terms`.
    intercept : bool
    contrasts : dict or None
        Factor column -> ``"treatment"`` or ``"poly"`` (default treatment).
    column, codes : callables
        The checked column of ``data`` (missing values are errors naming it) and a factor's
        integer codes and levels.

    Returns
    -------
    X : DataFrame, shape (n, p)
        Labelled columns, ``"(Intercept)"`` first when ``intercept``.
    coding : dict
        Each factor of the fixed effects -> ``"treatment"`` or ``"poly"``, in order of appearance.
    """
    n = len(data)
    values: dict[Any, tuple[np.ndarray, pd.Index] | np.ndarray] = {}
    for t in terms:
        for col in t:
            if col in values:
                continue
            s = column(data, col, "fixed")
            if pd.api.types.is_datetime64_any_dtype(s.dtype) or pd.api.types.is_timedelta64_dtype(s.dtype) \
                    or isinstance(s.dtype, pd.PeriodDtype):
                # a level per date would be a silent choice (R's model.matrix takes a Date as its day number)
                raise ImputerTypeError(
                    f"fixed: column {col!r} holds dates or times ({s.dtype}); say how it enters the model: as a "
                    "number (e.g. days since the first date, (d - d.min()).dt.days) or as a factor (d.astype(str))"
                )
            if _is_numeric(s):
                v = s.to_numpy(dtype=float)
                if not np.all(np.isfinite(v)):
                    raise ImputerValueError(f"fixed: column {col!r} has non-finite values")
                values[col] = v
            else:
                values[col] = codes(s)
    factors = [str(c) for c, v in values.items() if isinstance(v, tuple)]
    chosen = check_contrasts(contrasts, factors)
    coding = {f: chosen.get(f, "treatment") for f in factors}
    present = {frozenset(t) for t in terms} | {frozenset()}  # as R: the intercept, then the no-intercept rule
    cols: dict[str, np.ndarray] = {"(Intercept)": np.ones(n)} if intercept else {}
    first_full = not intercept
    for t in terms:
        block, labels = np.ones((n, 1)), [""]
        for col in t:
            v = values[col]
            if isinstance(v, tuple):
                full = frozenset(t) - {col} not in present
                if first_full:
                    full, first_full = True, False
                m, names = _factor_coding(str(col), v[0], v[1], coding[str(col)], full)
            else:
                m, names = v[:, None], [str(col)]
            # the new part varies slowest: earlier columns of the term vary fastest
            block = (block[:, None, :] * m[:, :, None]).reshape(n, m.shape[1] * block.shape[1])  # n may be 0
            labels = [f"{a}:{b}" if a else b for b in names for a in labels]
        for lab, j in zip(labels, range(block.shape[1])):
            if lab in cols:
                raise ImputerValueError(f"fixed: the design has two columns labelled {lab!r}")
            cols[lab] = block[:, j]
    if not cols:
        raise ImputerValueError("fixed: no fixed effects (intercept=False and no fixed columns)")
    return pd.DataFrame(cols, index=data.index), coding
