"""Coercion of a ZETA entry's ``Z``: one matrix, or a list of matrices (several effects per level).

A random term with ``d`` effects per level is given as ``{"Z": [Z_1, ..., Z_d]}``, each
``Z_a`` shape (n, q) on the same q levels; the engine wants one (n, q d) matrix with its
columns in level-major order (column ``l d + a`` is ``Z_a[:, l]``, :func:`interleave`).
Every failure raises :class:`~imputer.errors.ImputerValueError` or
:class:`~imputer.errors.ImputerTypeError` naming the random effect at fault.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from imputer.errors import ImputerTypeError, ImputerValueError

__all__ = ["as_float", "check_rows", "coerce_Z", "finite_or_raise", "is_matrix_list", "multi_Z"]


def finite_or_raise(values: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(values)):
        raise ImputerValueError(f"{what} contains non-finite values (NaN or inf)")


def as_float(values: Any, what: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ImputerTypeError(f"{what} must be numeric ({exc})") from None
    return arr


_STRUCTURES = {"unstructured": "us", "diagonal": "diag"}


def check_rows(labels: pd.Index, index: pd.Index | None, what: str, prefix: str) -> None:
    """A labelled argument's rows must carry y's row labels, in y's order.

    ``index`` is y's row labels, or None when y is a plain array (then every argument is
    paired with y by position). When y and the argument ``what`` are both pandas objects
    their rows are paired by label, so any difference -- other labels, or the same labels
    in another order, whatever the types of the two indexes -- is an error (``prefix``
    starts its message) that says how to align them or pair by position on purpose.
    A different number of rows is left to the caller's shape check.
    """
    if index is None or len(labels) != len(index) or labels.equals(index):
        return
    where = ""
    for i, (a, b) in enumerate(zip(labels, index)):
        try:
            same = bool(a == b)
        except (TypeError, ValueError):
            same = False
        if not same:
            where = f" (row {i}: {what} has label {a!r}, y has {b!r})"
            break
    try:
        reordered = labels.is_unique and index.is_unique and set(labels) == set(index)
    except TypeError:  # unhashable labels
        reordered = False
    fix = f"reorder it with {what}.loc[y.index], or " if reordered else ""
    raise ImputerValueError(
        f"{prefix}{where}: y and {what} are both pandas objects, so their rows are paired by label; "
        f"{fix}to pair the rows by position on purpose pass {what}.to_numpy() "
        "(or reset_index(drop=True) on both)"
    )


def coerce_Z(Z: Any, name: str, n: int, index: pd.Index | None) -> tuple[sp.csr_matrix, pd.Index | None]:
    """One incidence/design matrix as CSR (n, q) with its column labels (None: unlabelled).

    ``index``: y's row labels, None when y is a plain array (a labelled Z is then paired
    with y by position); see :func:`check_rows`.
    """
    levels: pd.Index | None = None
    if isinstance(Z, (pd.Series, pd.DataFrame)):  # a Series is one column, paired by label alike
        check_rows(Z.index, index, "Z", f"Z of random effect '{name}': its index does not match y's index")
    if isinstance(Z, pd.DataFrame):
        levels = pd.Index(Z.columns)
        Z = Z.to_numpy(dtype=float, na_value=np.nan)
    if sp.issparse(Z):
        Zs = sp.csr_matrix(Z, dtype=float)
        finite_or_raise(Zs.data, f"Z of random effect '{name}'")
    else:
        Zd = as_float(Z, f"Z of random effect '{name}'")
        if Zd.ndim == 1:
            Zd = Zd[:, None]
        if Zd.ndim != 2:
            raise ImputerValueError(f"Z of random effect '{name}' must be 2-D, got shape {Zd.shape}")
        finite_or_raise(Zd, f"Z of random effect '{name}'")
        Zs = sp.csr_matrix(Zd)
    if Zs.shape[0] != n:
        raise ImputerValueError(f"Z of random effect '{name}' has {Zs.shape[0]} rows but y has {n}")
    if Zs.shape[1] == 0:
        raise ImputerValueError(f"Z of random effect '{name}' has no columns")
    return Zs, levels


def is_matrix_list(Z: Any) -> bool:
    """Whether ``Z`` is a list of matrices (several effects per level) rather than one matrix."""
    if not isinstance(Z, (list, tuple)) or not Z:
        return False
    for e in Z:
        if sp.issparse(e) or isinstance(e, pd.DataFrame):
            continue
        if isinstance(e, np.ndarray) and e.ndim == 2:
            continue
        if isinstance(e, (list, tuple)) and e and isinstance(e[0], (list, tuple, np.ndarray)):
            continue
        return False
    return True


def interleave(Zs: list[sp.csr_matrix]) -> sp.csr_matrix:
    """Columns of d matrices (n, q) in level-major order: column ``l d + a`` is ``Zs[a][:, l]``."""
    d, q = len(Zs), Zs[0].shape[1]
    perm = (np.arange(d)[None, :] * q + np.arange(q)[:, None]).ravel()
    return sp.hstack(Zs, format="csc")[:, perm].tocsr()


def multi_Z(name: str, spec: Mapping, n: int, index: pd.Index | None) -> tuple[sp.csr_matrix, pd.Index | None, tuple[str, ...], str]:
    """``Z`` as a list of d matrices: the level-major Z, its levels, the effect names and the structure."""
    mats = [coerce_Z(Z, name, n, index) for Z in spec["Z"]]
    q = mats[0][0].shape[1]
    if any(Z.shape[1] != q for Z, _ in mats):
        raise ImputerValueError(
            f"random effect '{name}': the matrices in Z must have the same number of columns "
            f"(one per level), got {[Z.shape[1] for Z, _ in mats]}"
        )
    labelled = [lv for _, lv in mats if lv is not None]
    levels = labelled[0] if labelled else None
    if any(not lv.equals(levels) for lv in labelled):
        raise ImputerValueError(f"random effect '{name}': the matrices in Z must label their columns (levels) alike")
    d = len(mats)
    effects = spec.get("effects")
    if effects is None:
        effects = [f"z{a + 1}" for a in range(d)]
    if isinstance(effects, str) or not isinstance(effects, Sequence) or len(effects) != d:
        raise ImputerValueError(f"random effect '{name}': 'effects' must name each of the {d} matrices in Z")
    effects = [str(e) for e in effects]
    if len(set(effects)) != d:
        raise ImputerValueError(f"random effect '{name}': 'effects' are not unique: {effects}")
    structure = spec.get("structure", "unstructured")
    if structure not in _STRUCTURES:
        raise ImputerValueError(
            f"random effect '{name}': 'structure' must be 'unstructured' or 'diagonal', got {structure!r}"
        )
    return interleave([Z for Z, _ in mats]), levels, tuple(effects), _STRUCTURES[structure]
