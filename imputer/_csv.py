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

What pandas would read differently from what the file says is an error, not a silent
change (:func:`check_header`, :func:`read_csv_table`): a header naming a column twice or
leaving one unnamed (pandas renames them ``a.1``, ``Unnamed: 2``), a row with fewer
fields than the header (pandas pads it with missing cells, which would be imputed), and
in a modelled column read as float64 an integer that float64 rounds (``2**53 + 1``).

Speed: the table is parsed once by pandas' C reader exactly as before (numbers and
markers in every column); only the passed-through columns, when there are any, are
read a second time as raw text (``dtype=str``, no marker handling). The checks cost a
read of the header, and, only when the last column has missing cells (a short row
would leave it missing), one vectorised pass over the bytes to count each line's fields
(0.12 s on a 71 MB table that pandas parses in 0.15 s; quoted files go through
:mod:`csv`, slower). A column re-read as text to check its large integers is read only
when it holds a number of magnitude ``2**53`` or more.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np
import pandas as pd

from imputer.columns import is_modelled
from imputer.errors import ImputerValueError, MixedColumnError

__all__ = [
    "CSVTable", "SEPARATORS", "Sniffed", "check_header", "check_numeric_text", "decode_error", "read_csv_table",
    "sniff_sep", "with_original_text",
]

#: the field separators :func:`sniff_sep` recognises, by name (for messages)
SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

#: distinct offending values shown in a message, and lines shown for each
_SHOW_VALUES = 5
_SHOW_LINES = 3

#: integers from this magnitude are not all exact in float64
_EXACT_INT = 2.0**53
_INTEGER_TEXT = re.compile(r"\s*[+-]?\d+\s*")
#: bytes of the file read for its header line
_HEAD_BYTES = 1 << 20


def _opener(source: Path | bytes) -> Callable[[], IO[bytes] | Path]:
    if isinstance(source, bytes):
        return lambda: io.BytesIO(source)
    return lambda: source


def _raw_bytes(source: Path | bytes, limit: int | None = None) -> bytes:
    """The file's bytes (decompressed as pandas would, by the name's extension), or its first ``limit``."""
    if isinstance(source, bytes):
        return source if limit is None else source[:limit]
    from pandas.io.common import get_handle

    with get_handle(source, "rb", compression="infer", is_text=False) as handles:
        return handles.handle.read(-1 if limit is None else limit)  # type: ignore[union-attr]


def check_header(head: str, sep: str, *, unnamed_first: bool = False) -> None:
    """Refuse a header row that pandas would rename: a name given twice, or an empty one.

    pandas reads the second ``a`` as ``a.1`` and an empty name as ``Unnamed: 2``, so the
    table written back would have other names than it was given.

    Parameters
    ----------
    head : str
        The start of the file's text, its header row first (a byte-order mark is ignored).
    sep : str
        The field separator.
    unnamed_first : bool
        The first field may be empty: it holds the row labels (as ``DataFrame.to_csv``
        writes an index).

    Raises
    ------
    ImputerValueError
        Naming the repeated name and its fields, or the empty field.
    """
    try:
        names = next(csv.reader(io.StringIO(head.removeprefix("\ufeff")), delimiter=sep))
    except (csv.Error, StopIteration):  # pandas reports it
        return
    seen: dict[str, int] = {}
    for j, name in enumerate(names):
        if name == "":
            if j == 0 and unnamed_first:
                continue
            raise ImputerValueError(
                f"the CSV header's field {j + 1} is empty; give every column a name (pandas would call it "
                f"'Unnamed: {j}'), or name the column of row labels and say so with index_col"
            )
        if name in seen:
            raise ImputerValueError(
                f"the CSV header names column {name!r} twice (fields {seen[name] + 1} and {j + 1}); "
                "column names must be unique"
            )
        seen[name] = j


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
        for none. The labels are numbers where each prints as its cell (``8``), else the
        cells' text (``007``, ``1.50``, ``NA`` kept as written).
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
    check_header(_raw_bytes(source, _HEAD_BYTES).decode(encoding, errors="replace"), sep,
                 unnamed_first=index_col == 0 and not by_name)
    frame = read(
        open_source(), decimal=decimal, na_values=list(na_values) or None,
        index_col=False if by_name or index_col is None else index_col, **common,
    )
    if frame.shape[1] and frame.iloc[:, -1].isna().any():  # a row cut short pads its last cells
        _check_row_lengths(source, sep, encoding, frame.shape[1] + (index_col is not None and not by_name))
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
        elif frame.dtypes.iloc[j] == np.float64:
            big = np.abs(frame.iloc[:, j].to_numpy()) >= _EXACT_INT
            if big.any():
                _check_exact_integers(read(
                    open_source(), dtype=str, keep_default_na=False, na_filter=False, index_col=False,
                    usecols=[j + offset], **common,
                ).iloc[:, 0].to_numpy(), frame.iloc[:, j].to_numpy(), big, name)
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
    if index_col is not None:
        frame = _labels_as_written(frame, read(
            open_source(), dtype=str, keep_default_na=False, na_filter=False, index_col=False,
            usecols=[index_pos if index_pos is not None else 0], **common,
        ).iloc[:, 0].to_numpy(dtype=object))
    return CSVTable(frame, originals)


def _labels_as_written(frame: pd.DataFrame, text: np.ndarray) -> pd.DataFrame:
    """``frame`` with its row labels as the file wrote them unless the parsed labels read back so.

    The label column is parsed with the numbers and markers (``8`` an integer); where a
    label does not print as its cell (``007`` read as 7, ``1.50`` as 1.5, ``NA`` as
    missing), the labels are the cells' text instead, so the table is written back with
    the labels it was given (as every column left out of the model is).
    """
    if len(text) == len(frame) and not np.array_equal(frame.index.astype(str).to_numpy(dtype=object), text):
        frame = frame.set_axis(pd.Index(text, dtype=object, name=frame.index.name))
    return frame


def _check_exact_integers(text: np.ndarray, numbers: np.ndarray, big: np.ndarray, name: Hashable) -> None:
    """Refuse an integer that float64 rounds in a modelled column (its cells' ``text``).

    A column of integers with gaps is read as float64, which rounds integers from
    ``2**53`` on: the completed table would change an observed cell. The library refuses
    such an integer column (:func:`imputer.mvn._validate.check_exact_integers`); read from a
    CSV, the column reaches it as float64 already, so the text is checked here.
    """
    for i in np.flatnonzero(big):
        cell = str(text[i])
        if _INTEGER_TEXT.fullmatch(cell) and int(cell) != int(numbers[i]):
            raise ImputerValueError(
                f"column {name!r} holds integers of magnitude 2**53 or more ({cell.strip()}, line {i + 2}), "
                f"which float64 rounds ({float(numbers[i])!r}); leave it out of the model (columns=[...], or "
                f"passthrough=[{name!r}]; command line: --passthrough {name}) so it is passed through "
                "unchanged, or rescale it"
            )


def _check_row_lengths(source: Path | bytes, sep: str, encoding: str, n_fields: int) -> None:
    """Refuse a data row with fewer fields than the header.

    pandas fills the missing fields of a short row (a file cut off mid-line, a lost
    separator) with missing values, which the engine would then impute: a made-up value
    in a row that never had the cell. Blank lines are skipped, as pandas skips them.
    Without quotes in the file the fields are counted on the bytes (numpy); otherwise by
    :mod:`csv`, which reads quotes as pandas does.

    Raises
    ------
    ImputerValueError
        Naming the first short rows' lines and their field counts.
    """
    raw = _raw_bytes(source)
    if (sep + '\n"').encode(encoding, errors="replace") != (sep + '\n"').encode("utf-8"):
        raw = raw.decode(encoding, errors="replace").encode("utf-8")  # UTF-16, say: one byte a separator
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    if sep.isascii() and b'"' not in raw:
        buf = np.frombuffer(raw, dtype=np.uint8)
        ends = np.flatnonzero(buf == 10)
        if not raw.endswith(b"\n"):
            ends = np.append(ends, len(raw))
        starts = np.concatenate(([0], ends[:-1] + 1))
        seps = np.flatnonzero(buf == ord(sep))
        fields = np.searchsorted(seps, ends) - np.searchsorted(seps, starts) + 1
        length = ends - starts - (buf[np.maximum(ends - 1, 0)] == 13)  # without a CR before the LF
        short = np.flatnonzero((fields < n_fields) & (length > 0))
        short = short[short > 0]  # the header line
        lines, counts = (short + 1).tolist(), fields[short].tolist()
    else:
        lines, counts = [], []
        reader = csv.reader(io.StringIO(raw.decode("utf-8", errors="replace")), delimiter=sep)
        next(reader, None)
        for row in reader:
            if row and len(row) < n_fields:
                lines.append(reader.line_num)
                counts.append(len(row))
                if len(lines) > _SHOW_LINES:
                    break
    if lines:
        shown = ", ".join(f"line {ln} has {c}" for ln, c in zip(lines[:_SHOW_LINES], counts, strict=False))
        more = ", ..." if len(lines) > _SHOW_LINES else ""
        raise ImputerValueError(
            f"rows with fewer fields than the header's {n_fields} ({shown}{more}): a row cut short would have "
            "its missing fields imputed as if they were empty cells; complete the rows, or write their empty "
            "cells with separators"
        )


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
