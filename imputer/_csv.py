"""Read a CSV table for imputation: modelled columns parsed as numbers, the others kept as text.

A CSV cell is text; which cells are numbers, and which text marks a missing value, is
a decision about a column, not about a cell. The rule (used by ``imputer impute`` and by
``POST /v1/impute`` with a CSV body):

* The *modelled* columns are those named in ``columns``, or else every column whose
  cells are all numbers or missing-value markers (pandas' defaults -- empty, ``NA``,
  ``NaN``, ``null``, ``None``, ``N/A``, ``nan``, ... -- plus ``na_values``), unless named
  in ``passthrough``. Only there do the markers mean "missing" (a column of markers
  only is modelled, and the engine reports that it has no observed value).
* Every other column is *passed through*: read as text, cell for cell (no marker is
  turned into a missing value, ``007`` stays ``007``, a 25-digit identifier keeps its
  digits), so writing the table back reproduces each cell's text. A passed-through
  column that holds only numbers and empty cells (and is not named in ``passthrough``,
  which keeps text) stays numeric (typed answers, JSON
  and Parquet, keep its numbers), and its text is kept beside it for writing CSV
  (:func:`with_original_text`).
* A column of numbers in which at least half of the non-missing cells are numbers but
  some are not (a stray ``n/a``, ``-`` or ``.`` used as a marker) would silently drop
  out of the model: it is an error (:class:`~imputer.errors.MixedColumnError`) naming
  the column, the first offending values with their lines, and the fixes (``na_values``,
  ``columns``, or ``passthrough`` to keep it as text on purpose).

Speed: the table is parsed once by pandas' C reader exactly as before (numbers and
markers in every column); only the passed-through columns, when there are any, are
read a second time as raw text (``dtype=str``, no marker handling). A table of numbers
costs what it did.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np
import pandas as pd

from imputer.columns import is_modelled
from imputer.errors import ImputerValueError, MixedColumnError

__all__ = [
    "CSVTable", "SEPARATORS", "Sniffed", "check_numeric_text", "decode_error", "read_csv_table",
    "sniff_sep", "with_original_text",
]

#: the field separators :func:`sniff_sep` recognises, by name (for messages)
SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

#: distinct offending values shown in a message, and lines shown for each
_SHOW_VALUES = 5
_SHOW_LINES = 3


def _opener(source: Path | bytes) -> Callable[[], IO[bytes] | Path]:
    if isinstance(source, bytes):
        return lambda: io.BytesIO(source)
    return lambda: source


class Sniffed(NamedTuple):
    """The field separator :func:`sniff_sep` read from a header line.

    Attributes
    ----------
    sep : str
        The separator to use (a comma when nothing better was found).
    ambiguous : bool
        No candidate occurs in the header (a single column, or another separator), or
        two occur equally often: the comma is a guess.
    """

    sep: str
    ambiguous: bool


def sniff_sep(header: str) -> Sniffed:
    """The field separator of a delimited text file, from its header line.

    Counts each of comma, semicolon, tab and pipe outside double quotes; the most
    frequent wins. Header lines are short and hold no numbers, so a decimal comma in
    the data cannot mislead it (which sniffing data rows would risk).

    Parameters
    ----------
    header : str
        The first line of the file (its line ending may be included).

    Returns
    -------
    Sniffed
        The separator, and whether the choice is a guess (none found, or a tie).
    """
    counts = dict.fromkeys(SEPARATORS, 0)
    quoted = False
    for ch in header.rstrip("\r\n"):
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts.values())
    if best == 0:
        return Sniffed(",", True)
    winners = [sep for sep, n in counts.items() if n == best]
    return Sniffed(winners[0], len(winners) > 1)


def decode_error(data: bytes, encoding: str) -> UnicodeDecodeError | None:
    """The first decoding error of ``data`` in ``encoding`` (its ``start`` is the byte
    offset in ``data``), or None when it decodes.

    pandas reports a decoding error with an offset inside a buffer it read, not in the
    file: this recomputes it for the message.
    """
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        return exc
    return None


class CSVTable(NamedTuple):
    """A table read by :func:`read_csv_table`.

    Attributes
    ----------
    frame : DataFrame, shape (n, k)
        The table to impute.
    originals : dict
        Passed-through columns kept as numbers (typed JSON and Parquet answers), by
        label: the text of each cell, shape (n,), for writing CSV
        (:func:`with_original_text`).
    """

    frame: pd.DataFrame
    originals: dict[Hashable, np.ndarray]


def _is_text(dtype: Any) -> bool:
    """Object or string dtype: what the reader gives a column it could not read as numbers."""
    return dtype == object or pd.api.types.is_string_dtype(dtype)


def _lines(positions: np.ndarray) -> str:
    shown = ", ".join(str(int(p) + 2) for p in positions[:_SHOW_LINES])  # header is line 1
    more = ", ..." if len(positions) > _SHOW_LINES else ""
    return f"line{'s' if len(positions) > 1 else ''} {shown}{more}"


def check_numeric_text(
    values: pd.Series, name: Hashable, *, decimal: str = ".", named: bool = False
) -> bool:
    """Whether a text column read with the markers applied is a column of numbers.

    Parameters
    ----------
    values : Series of str (NaN where a missing-value marker was read), shape (n,)
        The column as the CSV reader gave it when it could not parse every cell as a number.
    name : label
        The column's label, for the message.
    decimal : str
        The decimal mark of the file.
    named : bool
        The caller asked for the column to be modelled (``columns``): any number in it
        makes the non-numbers an error.

    Returns
    -------
    bool
        False when the column is text (fewer numbers than other cells, or no number):
        it is passed through.

    Raises
    ------
    MixedColumnError
        At least half of the non-missing cells are numbers (or ``named`` and some are):
        the message names the column, the first non-numbers with their lines, and the fixes.
    """
    text = values.dropna()
    if text.empty:
        return False
    text = text.astype(str)
    # parse each distinct text once (a label column has few): hashing is cheaper than parsing
    codes, distinct_text = pd.factorize(text.to_numpy(dtype=object))
    as_numbers = pd.Series(distinct_text, dtype=object).astype(str)
    if decimal != ".":
        as_numbers = as_numbers.str.replace(decimal, ".", regex=False)
    is_number = pd.to_numeric(as_numbers.str.strip(), errors="coerce").notna().to_numpy()[codes]
    n_num = int(is_number.sum())
    n_bad = len(text) - n_num
    # no number: a text column; no non-number: numbers too long for int64 (identifiers)
    if n_num == 0 or n_bad == 0 or (not named and n_num < n_bad):
        return False
    position = np.flatnonzero(values.notna().to_numpy())[~is_number]
    bad = text.to_numpy()[~is_number]
    distinct = list(dict.fromkeys(bad.tolist()))
    shown = "; ".join(
        f"{v!r} ({_lines(position[bad == v])})" for v in distinct[:_SHOW_VALUES]
    ) + ("; ..." if len(distinct) > _SHOW_VALUES else "")
    markers = distinct[:_SHOW_VALUES]
    flags = " ".join(f"--na-values={m}" for m in markers)
    raise MixedColumnError(
        f"column {name!r} holds numbers, but {n_bad} of its {len(text)} non-empty cells "
        f"{'is' if n_bad == 1 else 'are'} not a number: {shown}. If they mark missing values, "
        f"say so with na_values={markers!r} (command line: {flags}); otherwise leave the "
        f"column out of the model by listing the modelled ones in columns=[...], or keep it "
        f"as text with passthrough=[{name!r}] (command line: --passthrough {name})"
    )


def read_csv_table(
    source: Path | bytes,
    *,
    sep: str = ",",
    decimal: str = ".",
    na_values: Sequence[str] = (),
    index_col: int | str | None = None,
    columns: Sequence[Hashable] | None = None,
    passthrough: Sequence[Hashable] = (),
    encoding: str = "utf-8",
    read: Callable[..., pd.DataFrame] = pd.read_csv,
) -> CSVTable:
    """Read a CSV with numbers and markers in the modelled columns and text elsewhere.

    Parameters
    ----------
    source : Path or bytes
        The file, or its content.
    sep, decimal : str
        Field separator and decimal mark.
    na_values : sequence of str
        Missing-value markers besides pandas' defaults (modelled columns only).
    index_col : int, str or None
        The column holding the row labels: by name, or ``0`` for the first column; None
        for none. The labels are read with pandas' inference and markers.
    columns : sequence of labels, optional
        The columns to model (the others are passed through); default: the columns of numbers.
    passthrough : sequence of labels
        Columns kept as text whatever they hold.
    encoding : str
        The text encoding of the file.
    read : callable
        ``pd.read_csv`` or a wrapper of it (for the caller's error handling).

    Returns
    -------
    CSVTable
        ``frame``: modelled columns numeric (NaN where missing); a passed-through column
        of numbers (missing only where empty) stays numeric with its text in
        ``originals``; any other passed-through column holds each cell's text (``""``
        for an empty cell).

    Raises
    ------
    MixedColumnError
        A column of numbers holds other text (see :func:`check_numeric_text`).
    ImputerValueError
        A name in ``passthrough`` is not a column or is also in ``columns``; ``index_col``
        is not a column.
    pandas and OSError exceptions
        From the reader, for the caller to report.
    """
    open_source = _opener(source)
    originals: dict[Hashable, np.ndarray] = {}
    common: dict[str, Any] = {"sep": sep, "encoding": encoding}
    by_name = isinstance(index_col, str)
    frame = read(
        open_source(), decimal=decimal, na_values=list(na_values) or None,
        index_col=False if by_name or index_col is None else index_col, **common,
    )
    labels = list(frame.columns)
    index_pos: int | None = None  # position in ``labels`` of a named index column
    offset = 0  # position in the file of ``labels[0]``
    if by_name:
        if index_col not in labels:
            raise ImputerValueError(
                f"index_col: {index_col!r} is not a column of the CSV (columns: {list(map(str, labels))})"
            )
        index_pos = labels.index(index_col)
    elif index_col is not None:
        offset = 1
    for name in passthrough:
        if name not in labels or labels.index(name) == index_pos:
            raise ImputerValueError(f"passthrough: {name!r} is not a column of the CSV")
        if columns is not None and name in columns:
            raise ImputerValueError(f"passthrough: {name!r} is also in columns; a column is either modelled or not")
    keep = set(passthrough)
    wanted = None if columns is None else set(columns)
    text_positions: list[int] = []
    for j, (name, dtype) in enumerate(zip(labels, frame.dtypes, strict=True)):
        if j == index_pos:
            continue
        if name in keep:
            modelled = False
        elif wanted is not None:
            modelled = name in wanted
            if modelled and _is_text(dtype):
                check_numeric_text(frame.iloc[:, j], name, decimal=decimal, named=True)
        elif is_modelled(dtype):
            modelled = True  # all missing: the engine says so (or it goes with passthrough)
        elif _is_text(dtype):
            modelled = check_numeric_text(frame.iloc[:, j], name, decimal=decimal)  # False or raises
        else:
            modelled = False
        if not modelled:
            text_positions.append(j)
    if text_positions:
        text = read(
            open_source(), dtype=str, keep_default_na=False, na_filter=False, index_col=False,
            usecols=[j + offset for j in text_positions], **common,
        )
        if len(text) != len(frame) or len(text.columns) != len(text_positions):  # pragma: no cover
            raise ImputerValueError("the CSV reads differently as text and as numbers; check its quoting")
        for k, j in enumerate(text_positions):
            cells = text.iloc[:, k]
            numbers = frame.iloc[:, j]
            if labels[j] not in keep and is_modelled(numbers.dtype) and (cells.to_numpy()[numbers.isna().to_numpy()] == "").all():
                # numbers (missing only where empty): kept as numbers, the text kept for CSV
                originals[labels[j]] = cells.to_numpy(dtype=object)
            else:
                frame.isetitem(j, pd.Series(cells.array, index=frame.index))
    if index_pos is not None:
        frame = frame.set_index(labels[index_pos])
    return CSVTable(frame, originals)


def with_original_text(frame: pd.DataFrame, originals: Mapping[Hashable, np.ndarray]) -> pd.DataFrame:
    """``frame`` with the passed-through columns of numbers replaced by the cells' text.

    For writing CSV: each such column then reads back as it was written in the input
    (``007``, ``8`` in a column of decimals, ``1e3``). ``frame`` is not modified.
    """
    if not originals:
        return frame
    out = frame.copy(deep=False)
    for label, cells in originals.items():
        out.isetitem(out.columns.get_loc(label), pd.Series(cells, index=out.index, dtype=object))
    return out
