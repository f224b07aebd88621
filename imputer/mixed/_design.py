"""From a DataFrame to the matrices of a mixed model (:func:`imputer.fit_mixed_frame`).

* Fixed effects (``fixed``): a numeric column is a covariate (its name labels it); a
  categorical, string, object or boolean column is treatment-coded: one 0/1 column per
  level except the first (labels ``"col[T.level]"``), or, without an intercept, one per
  level for the first such column (labels ``"col[level]"``). Levels are the categories
  of a categorical column (in their order, unused ones dropped), otherwise the sorted
  distinct values.
* Random effects (``random``): a term ``"g"`` is a random intercept per level of column
  ``g``; a term ``"a:b"`` (any number of columns) is a random intercept per *observed*
  combination, labelled ``"a1:b1"``. ``Z`` is the sparse n x q incidence matrix.
* Bar terms, lme4's notation: ``"(Days | Subject)"`` is a random intercept and slope
  per level of ``Subject`` with an unstructured 2 x 2 covariance, ``"(0 + Days |
  Subject)"`` (or ``- 1``) the slope alone, ``"(1 + x + z | g)"`` several covariates,
  ``"(Days || Subject)"`` independent effects (diagonal covariance). The left-hand side
  follows R's formula rules, as lme4's ``model.matrix(~ lhs)``: ``0 +`` or ``- 1``
  anywhere (``"(-1 + Days | Subject)"``) drops the intercept, ``1 +`` keeps it, ``- x``
  drops ``x``. The covariates must be numeric; the grouping part is a column or an
  interaction ``a:b`` as above. Names in backticks are unquoted on both sides of the bar
  (``"(`D ays` | `the subject`)"``, as in the fixed part of a formula).
  The term is named by its grouping part (``"Subject"``; a second term on the same
  grouping gets ``"Subject.1"``, as in lme4), its effects ``"(Intercept)"`` and the
  covariate names. ``Z`` has one column per level and effect, level-major.
* ``kernels[term]``: a DataFrame ``K`` indexed (rows and columns) by the term's levels;
  its index defines the levels (and their order), so levels without data (e.g.
  genotyped individuals without a record) get a BLUP too.

Fixed-effect interactions (``"a:b"``, ``"a*b"``) and contrasts: :mod:`imputer.mixed._fixed`.

Missing values are allowed in the response (they are predicted). A missing value in a
column the model uses (a fixed effect, a slope covariate, a grouping factor) is an error
naming the column, or with ``na_action="drop"`` its row is left out of the model
(``Problem.dropped`` lists those rows).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import reprlib

import numpy as np
import pandas as pd
import scipy.sparse as sp

from imputer.columns import is_modelled as _is_numeric
from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.mixed._fixed import fixed_design, fixed_terms
from imputer.mixed._validate import (
    Component,
    Problem,
    _check_rank,
    check_informative,
    check_labels,
    check_method,
    factor_kernel,
)

__all__ = ["build_frame_problem", "NA_ACTIONS"]

#: What a missing value in a fixed-effect or grouping column does: an error, or drop its row.
NA_ACTIONS = ("error", "drop")


#: A factor's integer codes and levels: ``codes(series) -> (codes (n,), levels)``.
Codes = Callable[[pd.Series], tuple[np.ndarray, pd.Index]]


def _codes(s: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes and levels of a grouping/categorical column (unused levels dropped)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        cat = s.cat.remove_unused_categories()
        return np.asarray(cat.cat.codes, dtype=np.int64), pd.Index(cat.cat.categories)
    try:
        codes, uniques = pd.factorize(s, sort=True)
    except TypeError:  # mixed, unorderable types: order of appearance
        codes, uniques = pd.factorize(s, sort=False)
    return np.asarray(codes, dtype=np.int64), pd.Index(uniques)


def _column(data: pd.DataFrame, col: Any, role: str) -> pd.Series:
    if col not in data.columns:
        raise ImputerValueError(f"{role}: column {col!r} is not in data (columns: {list(data.columns)})")
    s = data[col]
    if isinstance(s, pd.DataFrame):
        raise ImputerValueError(f"{role}: column name {col!r} is not unique in data")
    if s.isna().any():
        raise ImputerValueError(
            f"{role}: column {col!r} has {int(s.isna().sum())} missing value(s); "
            "pass na_action=\"drop\" to leave those rows out of the model"
        )
    return s


def _as_list(value: Any, role: str) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) or isinstance(value, pd.Index):
        return list(value)
    raise ImputerTypeError(f"{role} must be a list of column names, got {type(value).__name__}")


def _term(data: pd.DataFrame, term: str, codes: Codes | None = None) -> tuple[np.ndarray, pd.Index]:
    codes = _codes if codes is None else codes
    if term in data.columns:  # a column, even if its name contains ':'
        return codes(_column(data, term, "random"))
    parts = [t.strip() for t in str(term).split(":")]
    if any(not t for t in parts):
        raise ImputerValueError(f"random: term {term!r} is malformed (expected 'g' or 'a:b')")
    if len(parts) == 1:
        return codes(_column(data, parts[0], "random"))
    if codes is not _codes:  # the observed combinations are levels: only known from all the rows
        raise ImputerValueError(
            f"random: the interaction term {term!r} is available in memory only (not on a Dask DataFrame)"
        )
    codes_list, levels_list = [], []
    for t in parts:
        c, lv = _codes(_column(data, t, f"random term {term!r}"))
        codes_list.append(c)
        levels_list.append(lv)
    key = np.zeros(len(data), dtype=np.int64)
    for c, lv in zip(codes_list, levels_list):
        key = key * len(lv) + c
    _, first, codes = np.unique(key, return_index=True, return_inverse=True)
    # label of each combination from the levels at its first row
    parts_at_first = [map(str, lv[c[first]]) for c, lv in zip(codes_list, levels_list)]
    labels = [":".join(parts) for parts in zip(*parts_at_first)]
    return codes.astype(np.int64), pd.Index(labels)


def _split_unquoted(text: str, seps: str) -> list[tuple[str, str]]:
    """``text`` cut at the characters of ``seps`` outside backtick-quoted names: (the separator before, part)."""
    parts, quoted, start, op = [], False, 0, ""
    for i, ch in enumerate(text):
        if ch == "`":
            quoted = not quoted
        elif ch in seps and not quoted:
            parts.append((op, text[start:i]))
            start, op = i + 1, ch
    parts.append((op, text[start:]))
    return parts


def _malformed(term: Any, why: str = "expected '(x | g)', '(0 + x | g)' or '(x || g)'") -> ImputerValueError:
    return ImputerValueError(f"random: term {term!r} is malformed ({why})")


def _unquote(term: Any, name: str) -> str:
    """A name of a bar term without its backticks (```D ays``` is ``D ays``, as in the fixed part)."""
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == "`" and "`" not in name[1:-1]:
        return name[1:-1]
    if "`" in name:
        raise _malformed(term, f"{name!r} is not a name; quote a whole name in backticks, e.g. `my column`")
    return name


def _split_bar(term: Any) -> tuple[str, str, str]:
    """``"(x + z | g)"`` as its left-hand side, bar (``"|"`` or ``"||"``) and grouping part, as written.

    A ``|`` inside backticks is part of a name.
    """
    text = str(term).strip()
    inner = text[1:-1]
    if inner.count("`") % 2:
        raise _malformed(term, "an unmatched backtick")
    pieces = _split_unquoted(inner, "|")
    if len(pieces) == 2:
        bar = "|"
    elif len(pieces) == 3 and pieces[1][1] == "":
        bar = "||"
    else:
        raise _malformed(term)
    lhs, group = pieces[0][1], pieces[-1][1]
    if not group.strip():
        raise _malformed(term)
    return lhs, bar, group


def _bar_effects(term: Any, lhs: str) -> tuple[bool, list[str]]:
    """The intercept and covariates of a bar term's left-hand side, by R's formula rules (as lme4,
    which builds ``model.matrix(~ lhs)``): ``0`` or ``- 1`` anywhere drops the intercept, ``1``
    (or ``- 0``) restores it, the last one written counts; ``- x`` drops ``x``; names in
    backticks are unquoted."""
    parts = [(op, p.strip()) for op, p in _split_unquoted(lhs, "+-")]
    if len(parts) > 1 and parts[0][1] == "":
        parts = parts[1:]  # a leading sign: "-1 + x", "- 1 + x", "+ x"
    if parts == [("", "")]:
        return True, []  # "( | g)": the intercept alone, as before
    if any(not p for _, p in parts):
        raise _malformed(term, "an empty part between '+' or '-' signs")
    intercept = True
    covariates: list[str] = []
    for op, p in parts:
        if p in ("0", "1"):
            intercept = (p == "1") == (op != "-")
            continue
        name = _unquote(term, p)
        if op == "-":
            covariates = [c for c in covariates if c != name]
        elif name in covariates:
            raise ImputerValueError(f"random: term {term!r} names {name!r} twice")
        else:
            covariates.append(name)
    return intercept, covariates


def _group_name(term: Any, group: str) -> str:
    """A bar term's grouping part with its names unquoted: ```the subject``` is ``the subject``,
    ```a b`:c`` the interaction ``a b:c``; without backticks, as written."""
    group = group.strip()
    if "`" not in group:
        return group
    return ":".join(_unquote(term, p) for _, p in _split_unquoted(group, ":"))


def _is_bar_text(data: pd.DataFrame, term: Any) -> bool:
    text = str(term).strip()
    return text.startswith("(") and text.endswith(")") and "|" in text and term not in data.columns


def _bar_term(data: pd.DataFrame, term: str) -> tuple[str, list[str], np.ndarray, str] | None:
    """Parse ``"(x + z | g)"``: the grouping part, effect names, effect values (n, d), structure.

    None when ``term`` is not in bar notation.
    """
    if not _is_bar_text(data, term):
        return None
    lhs, bar, group = _split_bar(term)
    intercept, covariates = _bar_effects(term, lhs)
    n = len(data)
    effects = (["(Intercept)"] if intercept else []) + covariates
    if not effects:
        raise ImputerValueError(f"random: term {term!r} has no effect (no intercept and no covariate)")
    cols = [np.ones(n)] if intercept else []
    for c in covariates:
        s = _column(data, c, f"random term {term!r}")
        if not _is_numeric(s):
            raise ImputerTypeError(
                f"random term {term!r}: column {c!r} is not numeric (dtype {s.dtype}); "
                "covariates of a random slope must be numeric"
            )
        vals = s.to_numpy(dtype=float)
        if not np.all(np.isfinite(vals)):
            raise ImputerValueError(f"random term {term!r}: column {c!r} has non-finite values")
        cols.append(vals)
    structure = "diag" if bar == "||" else "us"
    return _group_name(term, group), effects, np.column_stack(cols), structure


def _kernel_levels(term: str, K: Any, codes: np.ndarray, levels: pd.Index) -> tuple[np.ndarray, pd.Index, np.ndarray]:
    if not isinstance(K, pd.DataFrame):
        raise ImputerTypeError(f"kernels[{term!r}] must be a DataFrame indexed by the levels of {term!r}")
    if not K.index.equals(K.columns):
        raise ImputerValueError(f"kernels[{term!r}]: the index and the columns must hold the same levels in the same order")
    if not K.index.is_unique:
        raise ImputerValueError(f"kernels[{term!r}]: the levels in the index are not unique")
    pos = K.index.get_indexer(levels)
    if np.any(pos < 0):
        pos = pd.Index(K.index.map(str)).get_indexer(levels.map(str))
    if np.any(pos < 0):
        missing = [str(v) for v in levels[pos < 0][:5]]
        raise ImputerValueError(
            f"kernels[{term!r}] has no row for level(s) {missing} of {term!r} "
            f"({int(np.sum(pos < 0))} missing)"
        )
    try:
        Kd = K.to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise ImputerTypeError(f"kernels[{term!r}] must be numeric") from None
    if not np.all(np.isfinite(Kd)):
        raise ImputerValueError(f"kernels[{term!r}] contains non-finite values (NaN or inf)")
    return pos[codes], pd.Index(K.index), Kd


def _unique_name(name: str, taken: set[str]) -> str:
    """``name``, or lme4's ``name.1``, ``name.2``, ... when taken; recorded in ``taken``."""
    out, j = name, 0
    while out in taken:
        j += 1
        out = f"{name}.{j}"
    taken.add(out)
    return out


def _used_columns(data: pd.DataFrame, terms: list, random_l: list) -> list:
    """The columns of ``data`` the model's terms use (fixed, slope covariates, grouping parts)."""
    used: list = [c for t in terms for c in t]
    for term in random_l:
        if _is_bar_text(data, term):
            try:
                lhs, _, group = _split_bar(term)
                used += _bar_effects(term, lhs)[1]
                term = _group_name(term, group)
            except ImputerValueError:  # a malformed term: reported by _bar_term, with the others' checks
                continue
        used += [term] if term in data.columns else [t.strip() for t in str(term).split(":")]
    out: list = []
    for c in used:
        if c in data.columns and c not in out:
            out.append(c)
    return out


def _drop_missing(data: pd.DataFrame, used: list, na_action: Any) -> tuple[pd.DataFrame, tuple]:
    """``data`` without the rows missing a used column (``na_action="drop"``), and their labels."""
    if not isinstance(na_action, str) or na_action.lower() not in NA_ACTIONS:
        raise ImputerValueError(f"na_action must be one of {list(NA_ACTIONS)}, got {na_action!r}")
    if na_action.lower() == "error" or not used:
        return data, ()
    missing = np.zeros(len(data), dtype=bool)
    for c in used:
        s = data[c]
        missing |= np.asarray(s.isna().any(axis=1) if isinstance(s, pd.DataFrame) else s.isna())
    if not missing.any():
        return data, ()
    return data.loc[~missing], tuple(data.index[missing])


def check_response_type(columns: pd.Index, response: Any) -> None:
    """ImputerTypeError unless ``response`` is a string or a (non-string) label of one of ``columns``."""
    if isinstance(response, str):
        return
    try:
        known = response in columns
    except TypeError:  # unhashable: a dict, a set, an array
        known = False
    if not known:
        raise ImputerTypeError(
            "response must be a column name or a formula such as 'y ~ x + (1 | g)' (a str), or a list of "
            f"trait columns; got {type(response).__name__} {reprlib.repr(response)}"
        )


def build_frame_problem(
    data: Any,
    response: Any,
    fixed: Any,
    random: Any,
    kernels: Any,
    intercept: bool,
    method: str,
    na_action: Any = "error",
    contrasts: Any = None,
) -> Problem:
    """Validate the DataFrame entry point's arguments into a :class:`Problem`.

    Returns
    -------
    Problem
        ``y`` (n,), ``X`` (n, p) with labels, and one sparse-incidence component per
        random term (named by the term); ``n`` counts the rows kept (all but those
        dropped by ``na_action="drop"``, listed in ``dropped``).
    """
    check_method(method)
    if not isinstance(data, pd.DataFrame):
        raise ImputerTypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if not isinstance(intercept, (bool, np.bool_)):
        raise ImputerTypeError(f"intercept must be True or False, got {intercept!r}")
    check_response_type(data.columns, response)
    if response not in data.columns:
        raise ImputerValueError(f"response: column {response!r} is not in data")
    fixed_l = _as_list(fixed, "fixed")
    random_l = _as_list(random, "random")
    if not random_l:
        raise ImputerValueError("random: give at least one grouping term, e.g. random=['batch']")
    terms = fixed_terms(fixed_l, data.columns)
    for t in terms:
        if response in t:
            raise ImputerValueError(f"fixed: {response!r} is the response")
    data, dropped = _drop_missing(data, _used_columns(data, terms, random_l), na_action)
    ys = data[response]
    if isinstance(ys, pd.DataFrame):
        raise ImputerValueError(f"response: column name {response!r} is not unique in data")
    if not _is_numeric(ys):
        raise ImputerTypeError(f"response: column {response!r} is not numeric (dtype {ys.dtype})")
    y = ys.to_numpy(dtype=float, na_value=np.nan)
    if np.any(np.isinf(y)):
        raise ImputerValueError(f"response: column {response!r} has infinite values")
    if len(set(map(str, random_l))) != len(random_l):
        raise ImputerValueError(f"random: terms are not unique: {random_l}")
    kernels = {} if kernels is None else kernels
    if not isinstance(kernels, Mapping):
        raise ImputerTypeError(f"kernels must be a dict term -> DataFrame, got {type(kernels).__name__}")
    unknown = [t for t in kernels if t not in random_l]
    if unknown:
        raise ImputerValueError(f"kernels: term(s) {unknown} are not in random={random_l}")
    observed = ~np.isnan(y)
    n_obs = int(observed.sum())
    if n_obs == 0:
        raise ImputerValueError(f"response: column {response!r} is entirely missing")
    Xdf, coding = fixed_design(data, terms, bool(intercept), contrasts, _column, _codes)
    X = Xdf.to_numpy(dtype=float)
    names = [str(c) for c in Xdf.columns]
    if n_obs <= X.shape[1]:
        raise ImputerValueError(
            f"response: only {n_obs} observed values for {X.shape[1]} fixed effects: "
            "need more observed y than fixed effects"
        )
    _check_rank(X[observed], names)
    comps = _random_components(data, random_l, kernels)
    check_informative(comps, observed, X)
    return Problem(
        y=y, X=X, x_names=names, components=comps, index=data.index, observed=observed,
        dropped=dropped, contrasts=coding,
    )


def _random_components(
    data: pd.DataFrame, random_l: list, kernels: Mapping, codes_of: Codes | None = None
) -> list[Component]:
    """One :class:`Component` per random term (``codes_of``: a factor's codes and levels, default :func:`_codes`).

    A term may not be named ``"residual"`` (the residual variance's label in ``var_comp``,
    ``init`` and the output), and no two terms may get the same ``var_comp`` label (e.g.
    ``(Days | Subject)``'s slope ``"Subject.Days"`` and a grouping column ``Subject.Days``).
    """
    comps = []
    n = len(data)
    taken: set[str] = set()
    for term in random_l:
        bar = _bar_term(data, term)
        group, effects, values, structure = (str(term), None, None, "us") if bar is None else bar
        codes, levels = _term(data, group, codes_of)
        eig = None
        if term in kernels:
            codes, levels, Kd = _kernel_levels(term, kernels[term], codes, levels)
            eig = factor_kernel(Kd, str(term))
        name = _unique_name(group, taken)
        if name == "residual":
            raise ImputerValueError(
                f"random: term {term!r} would be named 'residual', which is reserved for the residual "
                f"variance; rename the grouping column {group!r} (e.g. "
                f"data.rename(columns={{{group!r}: {group + '_group'!r}}}))"
            )
        if values is None:
            Z = sp.csr_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, len(levels)))
            comps.append(Component(name=name, Z=Z, eig=eig, levels=levels))
            continue
        d = values.shape[1]
        rows = np.repeat(np.arange(n), d)
        cols = (codes[:, None] * d + np.arange(d)[None, :]).ravel()
        Z = sp.csr_matrix((values.ravel(), (rows, cols)), shape=(n, len(levels) * d))
        Z.eliminate_zeros()
        comps.append(Component(name=name, Z=Z, eig=eig, levels=levels, effects=tuple(effects), structure=structure))
    check_labels(comps, [str(t) for t in random_l], "random: terms", "rename a grouping column so that they differ")
    return comps
