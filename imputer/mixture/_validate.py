"""Input checks of :func:`imputer.impute_mixture` beyond those it shares with :func:`imputer.impute`.

The table, ``columns``, ``tol``, ``max_iter`` and ``ridge`` are checked by
:mod:`imputer.mvn._validate` (same rules, same messages); here: ``n_components``,
``covariance_type``, ``n_init`` and ``seed``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.mixture._covtypes import COVARIANCE_TYPES

__all__ = ["check_components", "check_covariance_type", "check_n_init", "check_seed"]


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_components(n_components: Any, n_rows: int) -> tuple[int, ...]:
    """The component counts to fit: an int, or a non-empty range/list of distinct ints, each in ``[1, n_rows]``."""
    if _is_int(n_components):
        counts: tuple[Any, ...] = (n_components,)
    elif isinstance(n_components, (range, list, tuple, np.ndarray)):
        counts = tuple(n_components)
        if not counts:
            raise ImputerValueError("n_components must not be empty")
    else:
        raise ImputerTypeError(
            f"n_components must be an integer or a list/range of integers, not {type(n_components).__name__}"
        )
    out = []
    for g in counts:
        if not _is_int(g):
            raise ImputerTypeError(f"n_components must hold integers, not {type(g).__name__} ({g!r})")
        g = int(g)
        if g < 1:
            raise ImputerValueError(f"n_components must be >= 1, got {g}")
        if g > n_rows:
            raise ImputerValueError(f"n_components={g} exceeds the number of rows ({n_rows}): a component needs rows")
        out.append(g)
    if len(set(out)) != len(out):
        raise ImputerValueError(f"n_components has repeated values: {out}")
    return tuple(out)


def check_covariance_type(covariance_type: Any) -> str:
    """One of ``"full"``, ``"tied"``, ``"diag"``, ``"spherical"``."""
    if covariance_type not in COVARIANCE_TYPES:
        raise ImputerValueError(
            f"covariance_type must be one of {', '.join(map(repr, COVARIANCE_TYPES))}, got {covariance_type!r}"
        )
    return str(covariance_type)


def check_n_init(n_init: Any) -> int:
    """A positive integer."""
    if not _is_int(n_init):
        raise ImputerTypeError(f"n_init must be an integer >= 1, not {type(n_init).__name__}")
    if n_init < 1:
        raise ImputerValueError(f"n_init must be an integer >= 1, got {n_init}")
    return int(n_init)


def check_seed(seed: Any) -> np.random.SeedSequence:
    """``None`` (fresh entropy), a non-negative integer or a ``SeedSequence``: the root of the starts' streams."""
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return seed if seed is not None else np.random.SeedSequence()
    if not _is_int(seed):
        raise ImputerTypeError(f"seed must be None, a non-negative integer or a numpy SeedSequence, not {type(seed).__name__}")
    if seed < 0:
        raise ImputerValueError(f"seed must be a non-negative integer, got {seed}")
    return np.random.SeedSequence(int(seed))
