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

__all__ = ["as_float", "coerce_Z", "finite_or_raise", "is_matrix_list", "multi_Z"]


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


def coerce_Z(Z: Any, name: str, n: int, index: pd.Index | None) -> tuple[sp.csr_matrix, pd.Index | None]:
    """One incidence/design matrix as CSR (n, q) with its column labels (None: unlabelled)."""
    levels: pd.Index | None = None
    if isinstance(Z, pd.DataFrame):
        if index is not None and len(Z) == len(index) and not Z.index.equals(index):
            raise ImputerValueError(f"Z of random effect '{name}': its index does not match y's index")
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
