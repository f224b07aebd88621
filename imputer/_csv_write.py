r"""Writing a table as delimited text fast: each column formatted once, vectorised, by Arrow.

``DataFrame.to_csv`` formats every float through Python (17-digit conversions of a
million-row table take tens of seconds); :func:`csv_chunks` formats each column in one
vectorised Arrow pass and joins the fields of each row in another, so the text costs
about a tenth of that. It writes what ``to_csv(index=..., sep=..., decimal=...)`` writes,
field for field, with one deliberate difference in notation:

* floats are written in the shortest form that reads back to the same double (as
  ``repr`` does; Arrow picks fixed or exponent notation at slightly different
  magnitudes, ``0.00003`` for ``3e-05``); a whole number keeps a trailing ``.0`` as in
  pandas, NaN is an empty field, infinities ``inf``/``-inf``;
* integers (nullable ones too: ``<NA>`` is empty) in decimal, booleans ``True``/``False``;
* text unchanged, quoted with ``"`` (a ``"`` inside doubled) exactly when it contains the
  separator, a quote, ``\n`` or ``\r`` (the ``csv`` module's minimal quoting, which pandas
  uses, except that a lone ``\r`` is quoted too: unquoted, pandas' reader takes it for a
  line end); missing text is an empty field;
* with ``decimal=","`` the floats' decimal point becomes a comma;
* ``float_format`` (a printf format such as ``"%.6g"``) is applied to the cells given in
  ``filled`` only (the imputed ones): observed values are always written in full, so they
  read back bit for bit.

A table this module does not cover (datetimes, categories, other objects than text, a
MultiIndex, a single field per row, where pandas quotes an empty field) gives None and the
caller uses pandas.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["csv_chunks"]

#: rows formatted per chunk (bounds the memory of the text to about 100 MB for 10 columns)
CHUNK_ROWS = 250_000


def csv_chunks(
    frame: pd.DataFrame,
    *,
    index: bool,
    sep: str = ",",
    decimal: str = ".",
    float_format: str | None = None,
    filled: pd.DataFrame | None = None,
) -> Iterator[bytes] | None:
    """The UTF-8 text of ``frame`` as delimited text, in chunks; None when not covered.

    Parameters
    ----------
    frame : DataFrame, shape (n, k)
    index : bool
        Write the index first (header: its name, or empty).
    sep, decimal : str
        One-character separator and decimal mark.
    float_format : str, optional
        printf format for the cells of ``filled``.
    filled : DataFrame of bool, shape (n, k), optional
        Which cells ``float_format`` applies to (labels as ``frame``'s).

    Returns
    -------
    iterator of bytes-like (bytes, memoryviews of Arrow buffers), or None
        Header line first, then the rows, ``\n``-terminated.
    """
    try:
        import pyarrow as pa  # noqa: F401
        import pyarrow.compute  # noqa: F401
    except ImportError:
        return None
    if isinstance(frame.index, pd.MultiIndex) or isinstance(frame.columns, pd.MultiIndex):
        return None
    if frame.shape[1] + int(index) < 2 or len(sep) != 1 or sep in '"\r\n' or sep == decimal:
        return None
    fields: list[tuple[Hashable, Any]] = []
    if index:
        fields.append(("" if frame.index.name is None else frame.index.name, frame.index))
    for j, label in enumerate(frame.columns):
        fields.append((label, frame.iloc[:, j]))
    if not all(_covered(values) for _, values in fields):
        return None
    masks: list[np.ndarray | None] = [None] * len(fields)
    if float_format is not None and filled is not None:
        off = int(index)
        for j in range(frame.shape[1]):
            masks[j + off] = np.asarray(filled.iloc[:, j], dtype=bool)
    header = sep.join(_quote(str(label), sep) for label, _ in fields) + "\n"
    return _generate(header, fields, masks, sep, decimal, float_format, len(frame))


def _generate(
    header: str, fields: list[tuple[Hashable, Any]], masks: list[np.ndarray | None], sep: str, decimal: str,
    float_format: str | None, n: int,
) -> Iterator[bytes | memoryview]:
    yield header.encode("utf-8")
    with ThreadPoolExecutor(max_workers=min(len(fields), os.cpu_count() or 1)) as pool:
        yield from _rows(pool, fields, masks, sep, decimal, float_format, n)


def _rows(
    pool: ThreadPoolExecutor, fields: list[tuple[Hashable, Any]], masks: list[np.ndarray | None], sep: str,
    decimal: str, float_format: str | None, n: int,
) -> Iterator[memoryview]:
    import pyarrow as pa
    import pyarrow.compute as pc

    for start in range(0, n, CHUNK_ROWS):
        stop = min(n, start + CHUNK_ROWS)

        def one(j: int, start: int = start, stop: int = stop) -> Any:
            mask = masks[j]
            return _format(fields[j][1][start:stop], None if mask is None else mask[start:stop], sep, decimal, float_format)

        # Arrow's kernels release the GIL: format the columns on the cores there are
        cols = list(pool.map(one, range(len(fields))))
        large = pa.large_string()
        # the line end joins the last field (cheaper than appending it to whole lines)
        cols[-1] = pc.binary_join_element_wise(
            cols[-1], pa.scalar("\n", large), pa.scalar("", large), null_handling="replace", null_replacement=""
        )
        rows = pc.binary_join_element_wise(*cols, pa.scalar(sep, large), null_handling="replace", null_replacement="")
        yield _values(rows)


def _covered(values: pd.Index | pd.Series) -> bool:
    dtype = values.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind in "fiub":
            return True
        if dtype.kind != "O":
            return False
    elif isinstance(dtype, (pd.Float64Dtype, pd.Float32Dtype)) or pd.api.types.is_integer_dtype(dtype):
        return True
    elif isinstance(dtype, pd.StringDtype):
        return True
    elif not (dtype == object):
        return False
    # text: every cell a str or missing (pandas' C-level type inference, no Python loop over rows)
    return pd.api.types.infer_dtype(np.asarray(values, dtype=object), skipna=True) in ("string", "empty")


def _format(values: Any, mask: np.ndarray | None, sep: str, decimal: str, float_format: str | None) -> Any:
    """One column (a Series or Index slice) as an Arrow large_string array (nulls: empty)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dtype = values.dtype
    kind = dtype.kind if isinstance(dtype, np.dtype) else None
    if kind == "f" or isinstance(dtype, (pd.Float64Dtype, pd.Float32Dtype)):
        if isinstance(dtype, np.dtype):
            arr = np.asarray(values)
        else:
            arr = values.to_numpy(dtype=np.float32 if isinstance(dtype, pd.Float32Dtype) else np.float64, na_value=np.nan)
        text = pc.cast(pa.array(arr, from_pandas=True), pa.large_string())
        # a whole number keeps pandas' ".0" (also "-0" -> "-0.0"; "inf" stays): Arrow writes
        # whole numbers below 1e16 without it when it writes them in fixed notation
        whole = np.isfinite(arr) & (np.floor(arr) == arr) & (np.abs(arr) < 1e16)
        if whole.any():
            pos = np.flatnonzero(whole)
            sub = text.take(pa.array(pos))
            bare = pc.match_substring_regex(sub, r"^-?[0-9]+$")  # not "1e+15"
            fixed = pc.if_else(
                bare, pc.binary_join_element_wise(sub, pa.scalar(".0", pa.large_string()), pa.scalar("", pa.large_string())), sub
            )
            text = pc.replace_with_mask(text, pa.array(whole), fixed)
        if decimal != ".":
            text = pc.replace_substring(text, ".", decimal)
        if mask is not None and float_format is not None and mask.any():
            pos = np.flatnonzero(mask & ~np.isnan(arr))
            if pos.size:
                formatted = [float_format % v for v in arr[pos].tolist()]
                if decimal != ".":
                    formatted = [f.replace(".", decimal) for f in formatted]
                full = np.zeros(len(arr), dtype=bool)
                full[pos] = True
                text = pc.replace_with_mask(text, pa.array(full), pa.array(formatted, pa.large_string()))
        return text
    if kind == "b":
        large = pa.large_string()
        return pc.if_else(pa.array(np.asarray(values)), pa.scalar("True", large), pa.scalar("False", large))
    if kind in ("i", "u") or pd.api.types.is_integer_dtype(dtype):
        return pc.cast(pa.array(values, from_pandas=True), pa.large_string())
    # text
    text = pa.array(np.asarray(values, dtype=object), type=pa.large_string(), from_pandas=True)
    special = pc.match_substring_regex(text, _special_pattern(sep))
    if pc.any(special).as_py():
        q = pa.scalar('"', pa.large_string())
        quoted = pc.binary_join_element_wise(q, pc.replace_substring(text, '"', '""'), q, pa.scalar("", pa.large_string()))
        text = pc.if_else(special, quoted, text)
    return text


def _special_pattern(sep: str) -> str:
    import re

    return "[" + re.escape(sep) + '"\r\n]'


def _quote(text: str, sep: str) -> str:
    if any(c in text for c in (sep, '"', "\n", "\r")):
        return '"' + text.replace('"', '""') + '"'
    return text


def _values(rows: Any) -> memoryview:
    """The concatenated values of a large_string array: its data buffer between the offsets."""
    if hasattr(rows, "combine_chunks"):
        rows = rows.combine_chunks()
    bufs = rows.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64)[rows.offset : rows.offset + len(rows) + 1]
    if bufs[2] is None:
        return memoryview(b"")
    return memoryview(bufs[2])[int(offsets[0]) : int(offsets[-1])]
