"""Small helpers shared by the engines and the service (private).

* :data:`LOG_2PI`: ``log(2 pi)``, the constant of every Gaussian log-density.
* :func:`readonly`: a non-writeable float copy of an array, for values stored on
  immutable results.
* :func:`readonly_mapping`: a read-only view of a dict (``types.MappingProxyType``).
* :func:`first_line`: the first line of an exception's message, for one-line errors on
  the command line and in HTTP problem details.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np

__all__ = ["LOG_2PI", "first_line", "frame_like", "readonly", "readonly_mapping"]

#: ``log(2 pi)``.
LOG_2PI = float(np.log(2.0 * np.pi))

K = TypeVar("K")
V = TypeVar("V")


def readonly(a: Any, dtype: Any = float) -> np.ndarray:
    """A non-writeable copy of ``a`` as an ndarray of ``dtype`` (the input is untouched).

    Parameters
    ----------
    a : array-like, any shape
    dtype : numpy dtype, default float

    Returns
    -------
    ndarray, same shape, ``flags.writeable`` False
    """
    out = np.array(a, dtype=dtype, copy=True)
    out.flags.writeable = False
    return out


def readonly_mapping(d: Mapping[K, V]) -> Mapping[K, V]:
    """A read-only view of a shallow copy of ``d`` (item assignment raises ``TypeError``)."""
    return MappingProxyType(dict(d))


def first_line(exc: BaseException) -> str:
    """First non-empty line of ``str(exc)``; the exception's class name when it has no message."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def frame_like(parts: Mapping[int, Any], like: Any) -> Any:
    """A DataFrame with ``like``'s index and column labels over the positional ``parts``.

    Each part (a NumPy or pandas extension array, one per column of ``like``, keyed by
    position) keeps its own dtype: ``pd.DataFrame`` would infer one from an object array,
    and pandas 3 makes a column of strings ``str`` (``None`` becoming NaN), so a column
    carried through unchanged would come back changed.
    """
    import pandas as pd

    if not parts:
        return pd.DataFrame(index=like.index, columns=like.columns)
    out = pd.DataFrame({k: pd.Series(v, dtype=v.dtype, copy=False) for k, v in parts.items()}, copy=False)
    out.index = like.index
    out.columns = like.columns
    return out

