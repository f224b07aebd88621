"""Media types in and out: JSON (split orientation), CSV and Parquet tables.

Input: ``application/json`` (validated by the pydantic models, non-finite tokens
rejected), ``text/csv`` (read by pandas with the parse options given as query
parameters; missing-value markers apply to the modelled columns only, the others keep
their text) and ``application/vnd.apache.parquet`` (read by pyarrow). Anything else
is answered with 415. Output: JSON by default; ``Accept: text/csv`` returns the
completed table as CSV (missing or non-finite cells empty), ``Accept:
application/vnd.apache.parquet`` as Parquet (``POST /v1/impute``). An ``Accept`` header
admitting neither is answered with 406.

All parsing happens in the worker processes (see :mod:`api.tasks`), never on the
event loop; the media-type negotiation here only looks at headers.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from fastapi import HTTPException

from api.schemas.common import SplitFrame
from imputer._csv import CSVTable, decode_error, read_csv_table, with_original_text
from imputer._util import first_line
from imputer.errors import ImputerValueError, MixedColumnError

__all__ = [
    "JSON",
    "CSV",
    "PARQUET",
    "InputKind",
    "OutputKind",
    "request_kind",
    "response_kind",
    "frame_from_split",
    "read_csv_body",
    "read_csv_table_body",
    "read_parquet_body",
    "parquet_query_table",
    "restore_types",
    "frame_to_csv",
    "frame_to_parquet",
]

JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
_PARQUET_ALIASES = {PARQUET, "application/x-parquet", "application/parquet"}

InputKind = Literal["json", "csv", "parquet"]
OutputKind = Literal["json", "csv", "parquet"]


def _media_type(header: str) -> str:
    return header.split(";", 1)[0].strip().lower()


def request_kind(content_type: str | None, allowed: Sequence[InputKind]) -> InputKind:
    """Classify the request's ``Content-Type``; 415 when it is missing or not allowed."""
    media = _media_type(content_type or "")
    kind: InputKind | None = None
    if media == JSON or (media.startswith("application/") and media.endswith("+json")):
        kind = "json"
    elif media in (CSV, "application/csv"):
        kind = "csv"
    elif media in _PARQUET_ALIASES:
        kind = "parquet"
    if kind is None or kind not in allowed:
        names = {"json": JSON, "csv": CSV, "parquet": PARQUET}
        accepted = ", ".join(names[k] for k in allowed)
        got = f"'{media}'" if media else "no Content-Type"
        raise HTTPException(
            status_code=415, detail=f"Unsupported media type {got}; send one of: {accepted}."
        )
    return kind


def _parse_accept(accept: str) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        if not fields[0]:
            continue
        q = 1.0
        for f in fields[1:]:
            if f.lower().startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
                if not math.isfinite(q):
                    q = 0.0
        out.append((fields[0].lower(), q))
    return out


def response_kind(accept: str | None, allowed: Sequence[OutputKind] = ("json",)) -> OutputKind:
    """Choose the response format from ``Accept`` (JSON unless CSV is preferred); 406 if none fits."""
    if not accept or not accept.strip():
        return "json"
    offers: dict[OutputKind, str] = {"json": JSON, "csv": CSV, "parquet": PARQUET}
    ranges = _parse_accept(accept)
    best: tuple[float, int, OutputKind] | None = None
    for rank, kind in enumerate(allowed):
        media = offers[kind]
        main = media.split("/")[0]
        q = max(
            (
                qv
                for m, qv in ranges
                if m in (media, f"{main}/*", "*/*")
                or (kind == "json" and m == "application/problem+json")
                or (kind == "parquet" and m in _PARQUET_ALIASES)
            ),
            default=0.0,
        )
        if q > 0 and (best is None or (q, -rank) > (best[0], best[1])):
            best = (q, -rank, kind)
    if best is None:
        names = ", ".join(offers[k] for k in allowed)
        raise HTTPException(status_code=406, detail=f"Cannot answer Accept: {accept!r}; available: {names}.")
    return best[2]


_NUMBER_CELL_TYPES = {int, float, type(None)}


def _column_as_numbers(values: list[object]) -> Any:
    """int64 when every cell is an integer, float64 when every cell is a number or
    None (missing -> NaN), else None (a text/mixed column, kept as objects). Integers
    and nulls with an integer beyond 2**53 become a nullable ``Int64`` array, so that
    float64 never rounds them (the engine then names the column if it is modelled)."""
    # the set of exact types settles validated cells in one C-level pass; subclasses
    # (other than bool) fall back to the isinstance test
    if not set(map(type, values)) <= _NUMBER_CELL_TYPES and not all(
        v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values
    ):
        return None
    if all(isinstance(v, int) for v in values) and all(abs(v) < 2**63 for v in values):  # type: ignore[arg-type]
        return np.array(values, dtype=np.int64)
    present = [v for v in values if v is not None]
    if (
        present and all(isinstance(v, int) for v in present)
        and any(abs(v) >= 2**53 for v in present)  # type: ignore[arg-type]
        and all(abs(v) < 2**63 for v in present)  # type: ignore[arg-type]
    ):
        return pd.array(values, dtype="Int64")
    return np.array(values, dtype=float)  # None -> NaN


#: distinct offending cells shown in a mixed column's message, and rows shown for each
_SHOW_VALUES, _SHOW_ROWS = 3, 5


def _check_mixed(values: list[object], name: str, index: Sequence[object] | None) -> None:
    """A column whose non-null cells are at least half numbers, the rest other JSON values,
    would silently drop out of the model as text: :class:`MixedColumnError` naming the
    column, the first offending cells with their rows, and the fixes."""
    present = [(i, v) for i, v in enumerate(values) if v is not None]
    bad = [(i, v) for i, v in present if not isinstance(v, (int, float)) or isinstance(v, bool)]
    n_num = len(present) - len(bad)
    if not bad or n_num == 0 or n_num < len(bad):
        return
    rows: dict[str, list[object]] = {}
    for i, v in bad:
        rows.setdefault(json.dumps(v), []).append(i if index is None else index[i])
    shown = "; ".join(
        f"{text} (row{'s' if len(at) > 1 else ''} {', '.join(repr(r) for r in at[:_SHOW_ROWS])}"
        f"{', ...' if len(at) > _SHOW_ROWS else ''})"
        for text, at in list(rows.items())[:_SHOW_VALUES]
    ) + ("; ..." if len(rows) > _SHOW_VALUES else "")
    raise MixedColumnError(
        f"column {name!r} holds numbers, but {len(bad)} of its {len(present)} non-null cells "
        f"{'is' if len(bad) == 1 else 'are'} not a number: {shown}. Send null for a missing "
        "value (JSON has no NaN), or leave the column out of the model by listing the modelled "
        "ones in options.columns"
    )


def frame_from_split(split: SplitFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """DataFrame from a validated split-orientation table.

    Integer columns become int64, other numeric columns (missing = null) float64, columns
    of booleans (and nulls) pandas' nullable ``boolean``, anything else (text) an object column. A column of numbers with a few other values
    (a stray ``"n/a"``) is an error rather than text (see :func:`_check_mixed`), unless
    ``columns`` (the request's modelled columns) leaves it out.
    """
    chosen = None if columns is None else set(columns)
    n = len(split.data)
    cols: dict[str, object] = {}
    for j, name in enumerate(split.columns):
        values = [row[j] for row in split.data]
        numbers = _column_as_numbers(values)
        if numbers is None and (chosen is None or name in chosen):
            _check_mixed(values, name, split.index)
        if numbers is not None:
            cols[name] = numbers
        elif all(v is None or isinstance(v, bool) for v in values):  # true/false and nulls
            cols[name] = pd.array(values, dtype="boolean")
        else:
            cols[name] = pd.array(values, dtype="object")
    index = pd.Index(split.index) if split.index is not None else pd.RangeIndex(n)
    return pd.DataFrame(cols, index=index, columns=list(split.columns))


def _reject_infinite(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_float_dtype(col.dtype):
            values = col.to_numpy(dtype=float, na_value=np.nan)
            bad = np.isinf(values)
            if bad.any():
                row = frame.index[int(np.argmax(bad))]
                raise ImputerValueError(
                    f"{where}: column {name!r} holds an infinite value (row {row!r}); "
                    "send finite numbers, with empty cells for missing values"
                )
    return frame


def read_csv_body(body: bytes, **options: Any) -> pd.DataFrame:
    """The table of :func:`read_csv_table_body` (same options), without the original text."""
    return read_csv_table_body(body, **options).frame


def read_csv_table_body(
    body: bytes,
    *,
    sep: str = ",",
    decimal: str = ".",
    na_values: Sequence[str] = (),
    index_col: str | None = None,
    columns: Sequence[str] | None = None,
    passthrough: Sequence[str] = (),
) -> CSVTable:
    """Read a CSV request body (header row required); the table and the text of its
    passed-through columns of numbers (see :class:`imputer._csv.CSVTable`).

    The missing-value markers (pandas' defaults and ``na_values``) apply to the modelled
    columns only (``columns``, or the columns of numbers); every other column, and those
    in ``passthrough``, keeps each cell's text (:func:`imputer._csv.read_csv_table`).

    Raises
    ------
    ImputerValueError
        When the body is empty or not parseable, ``index_col`` or a ``passthrough`` name is
        not a column; :class:`~imputer.errors.MixedColumnError` for a column of numbers
        holding other text.
    """
    if not body.strip():
        raise ImputerValueError("body: the CSV body is empty; send a header row and data rows")
    try:
        with warnings.catch_warnings():
            # rows longer than the header: an error, not a silently dropped cell
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame, originals = read_csv_table(
                body, sep=sep, decimal=decimal, na_values=na_values, index_col=index_col,
                columns=columns, passthrough=passthrough,
            )
    except UnicodeDecodeError:
        # pandas decodes piece by piece: its offset is within a field, not the body
        exc = decode_error(body, "utf-8")
        if exc is not None:
            raise ImputerValueError(
                f"body: the CSV is not valid UTF-8 ({exc.reason} at byte {exc.start})"
            ) from None
        raise  # pragma: no cover - pandas failed on a body that decodes
    except ImputerValueError:
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError, pd.errors.ParserWarning, ValueError) as exc:
        raise ImputerValueError(f"body: the CSV could not be parsed: {first_line(exc)}") from None
    frame.columns = [str(c) for c in frame.columns]
    return CSVTable(_reject_infinite(frame, "body"), {str(k): v for k, v in originals.items()})


def parquet_cell_limit() -> int:
    """Most cells (rows x columns) a Parquet body may decode to: as many as a CSV body of
    ``IMPUTER_MAX_BODY_BYTES`` could hold at two bytes a cell (``1,``). Parquet compresses
    so well that a 1.1 MB file held 40 million rows and drove a worker to 3.5 GB."""
    from api.settings import get_settings

    return get_settings().max_body_bytes // 2


def read_parquet_body(body: bytes, max_cells: int | None = None) -> pd.DataFrame:
    """Read a Parquet request body (the pandas index is restored when stored; a
    MultiIndex becomes one string label per row, levels joined by ``|``).

    Raises
    ------
    ImputerValueError
        When the body is not a readable Parquet file, decodes to more than ``max_cells``
        cells (default :func:`parquet_cell_limit`; checked from the file's metadata before
        any column is read), its pandas metadata is malformed, or a column has a type a
        table of values cannot hold (binary, lists, structs, maps, decimals), named with
        the type.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    limit = parquet_cell_limit() if max_cells is None else max_cells
    try:
        meta = pq.read_metadata(pa.BufferReader(body))
        cells = meta.num_rows * max(1, meta.num_columns)
        if cells > limit:
            raise ImputerValueError(
                f"body: the Parquet file holds {meta.num_rows:,} rows x {meta.num_columns:,} columns = {cells:,} "
                f"cells, more than the {limit:,} a request may decode to (IMPUTER_MAX_BODY_BYTES / 2); send "
                "fewer rows or columns"
            )
        table = pq.read_table(pa.BufferReader(body))
    except (pa.ArrowException, OSError, ValueError) as exc:
        if isinstance(exc, ImputerValueError):
            raise
        raise ImputerValueError(f"body: the Parquet file could not be read: {first_line(exc)}") from None
    _check_parquet_types(table)
    try:
        frame = table.to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:  # e.g. text that is not UTF-8
        raise ImputerValueError(f"body: the Parquet file could not be read: {first_line(exc)}") from None
    except (KeyError, TypeError, IndexError, AttributeError) as exc:
        raise ImputerValueError(
            f"body: the Parquet file's pandas metadata (schema key 'pandas') is malformed ({type(exc).__name__}: "
            f"{first_line(exc)}); write the file again with DataFrame.to_parquet, or without that metadata"
        ) from None
    frame.columns = [str(c) for c in frame.columns]
    if isinstance(frame.index, pd.MultiIndex):  # one label per row: "level1|level2"
        frame.index = pd.Index(["|".join(map(str, key)) for key in frame.index], name="|".join(
            str(n) for n in frame.index.names if n is not None) or None)
    return _reject_infinite(frame, "body")


def _check_parquet_types(table: Any) -> None:
    """Columns of numbers, text, booleans, categories and times only: a binary, list,
    struct, map or decimal column would come back as Python reprs or drop out of the model;
    and text must be valid UTF-8 (pandas would fail on it later, when writing the answer)."""
    import pyarrow as pa
    import pyarrow.types as pt

    for j, field in enumerate(table.schema):
        if pt.is_string(field.type) or pt.is_large_string(field.type):
            try:
                table.column(j).validate(full=True)
            except pa.ArrowException as exc:
                raise ImputerValueError(
                    f"body: column {field.name!r} of the Parquet file holds text that is not valid UTF-8 "
                    f"({first_line(exc)})"
                ) from None
        t = field.type
        if pt.is_dictionary(t):
            t = t.value_type
        if (
            pt.is_binary(t) or pt.is_large_binary(t) or pt.is_fixed_size_binary(t) or pt.is_nested(t)
            or pt.is_decimal(t) or pt.is_union(t)
        ):
            hint = "cast it to float64" if pt.is_decimal(t) else "send it as text (string) or numbers, or leave it out"
            raise ImputerValueError(
                f"body: column {field.name!r} of the Parquet file has type {field.type}, which a table of values "
                f"cannot hold; {hint}"
            )


def parquet_query_table(
    frame: pd.DataFrame,
    *,
    index_col: str | None = None,
    passthrough: Sequence[str] = (),
    columns: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The table of a Parquet body (:func:`read_parquet_body`) with the query's ``index_col`` and
    ``passthrough`` applied, as :func:`read_csv_table_body` applies them to a CSV.

    ``index_col`` names the column holding the row labels (they replace any index stored in
    the file). A column in ``passthrough`` is left out of the model whatever it holds: it
    is made an ``object`` column of its values, which every engine carries through
    unchanged (and a mixed model reads as a factor, as it reads a CSV's text). Its type
    is given back for the answer's table (:func:`restore_types`), so the column comes
    back exactly as sent.

    Returns
    -------
    (DataFrame, dict)
        The table, and the original dtype of each passed-through column made ``object``.

    Raises
    ------
    ImputerValueError
        ``index_col`` or a ``passthrough`` name is not a column, or a ``passthrough`` name is
        also in ``columns`` (the messages of the CSV reader's, naming the parameter).
    """
    if index_col is not None:
        if index_col not in frame.columns:
            raise ImputerValueError(
                f"index_col: {index_col!r} is not a column of the Parquet file (columns: {list(frame.columns)})"
            )
        frame = frame.set_index(index_col)
    for name in passthrough:
        if name not in frame.columns:
            raise ImputerValueError(f"passthrough: {name!r} is not a column of the Parquet file")
        if columns is not None and name in columns:
            raise ImputerValueError(f"passthrough: {name!r} is also in columns; a column is either modelled or not")
    types = {
        name: frame[name].dtype for name in dict.fromkeys(passthrough)
        if frame[name].dtype != object and not pd.api.types.is_datetime64_any_dtype(frame[name].dtype)
        and not pd.api.types.is_timedelta64_dtype(frame[name].dtype)  # times: never modelled, kept as they are
    }
    if types:
        frame = frame.astype(dict.fromkeys(types, object))
    return frame, types


def restore_types(frame: pd.DataFrame, types: Mapping[str, Any]) -> pd.DataFrame:
    """``frame`` with the columns of ``types`` (:func:`parquet_query_table`) given back their dtype
    (exact: they hold the values sent, carried through by the engine)."""
    present = {name: dtype for name, dtype in types.items() if name in frame.columns}
    return frame.astype(present) if present else frame


def frame_to_csv(frame: pd.DataFrame, originals: Mapping[Hashable, np.ndarray] | None = None) -> bytes:
    """CSV bytes of ``frame`` (index written unless it is the default 0..n-1); the columns
    in ``originals`` are written as that text (:func:`imputer._csv.with_original_text`)."""
    default_index = isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0 and frame.index.step == 1
    out = frame.replace([np.inf, -np.inf], np.nan) if len(frame.columns) else frame
    out = with_original_text(out, originals or {})
    return out.to_csv(index=not default_index, na_rep="", lineterminator="\n").encode()


def frame_to_parquet(frame: pd.DataFrame) -> bytes:
    """Parquet bytes of ``frame`` (pyarrow; the index kept unless it is the default 0..n-1,
    column types as they are: read back with ``pandas.read_parquet``).

    A Parquet column holds one type: a column of text and numbers (a passed-through JSON
    column), or row labels mixing text and numbers (a JSON ``index`` such as
    ``["x", 1, "y"]``), is written as text (``"1"``), missing cells staying null.
    """
    import io as _io

    default_index = isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0 and frame.index.step == 1
    mixed = [c for c in frame.columns if frame[c].dtype == object and not _all_text(frame[c])]
    mixed_index = (
        not default_index and not isinstance(frame.index, pd.MultiIndex) and frame.index.dtype == object
        and not _all_text(frame.index)
    )
    if mixed or mixed_index:  # Parquet holds one type a column: the text
        frame = frame.copy()  # (the caller's frame is not changed)
        for c in mixed:
            frame[c] = frame[c].map(lambda v: v if _missing(v) else str(v))
        if mixed_index:
            frame.index = pd.Index([v if _missing(v) else str(v) for v in frame.index], name=frame.index.name,
                                   dtype=object)
    out = _io.BytesIO()
    frame.to_parquet(out, engine="pyarrow", index=None if default_index else True)
    return out.getvalue()


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _all_text(column: pd.Series | pd.Index) -> bool:
    return all(isinstance(v, str) or _missing(v) for v in column)
