"""Reading and writing the command line's tables: delimited text (separator given or
sniffed, decimal mark, encoding, index column), Parquet, standard input and output.

A delimited input is read by :func:`imputer._csv.read_csv_table` (the reader the service
uses for a CSV body): missing-value markers apply to the modelled columns only, every
other column keeps each cell's text. The separator is ``--sep``, else a tab for
``.tsv``, else sniffed from the header line (:func:`imputer._csv.sniff_sep`). The output
is written in the input's dialect: same separator (a ``.tsv`` with tabs, a ``.csv``
never with tabs), same decimal mark, same encoding.
"""

from __future__ import annotations

import codecs
import contextlib
import importlib.util
import io
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from imputer._cli_base import _TEXT_FORMATS, STDIO, CliError, _format
from imputer._csv import (
    SEPARATORS,
    Sniffed,
    decode_error,
    read_csv_table,
    sniff_sep,
    with_original_text,
)
from imputer._csv_write import csv_chunks
from imputer._util import first_line
from imputer.errors import ImputerValueError

__all__ = ["STDIO", "CliError", "Dialect", "Table", "read_table", "write_table"]

def _require_pyarrow(name: str) -> None:
    if importlib.util.find_spec("pyarrow") is None:
        raise CliError(
            f"{name!r}: reading or writing Parquet needs pyarrow; install it with "
            "pip install 'imputer[parquet]' (or use a .csv file)"
        )


def _raw_bytes(source: Path | bytes) -> bytes:
    """The file's bytes, decompressed as pandas would (by extension)."""
    if isinstance(source, bytes):
        return source
    from pandas.io.common import get_handle

    with get_handle(source, "rb", compression="infer", is_text=False) as handles:
        return handles.handle.read()  # type: ignore[no-any-return]


def _header_line(source: Path | bytes, encoding: str) -> str:
    """The first line of a delimited text file (decoding errors replaced: for sniffing only)."""
    if isinstance(source, bytes):
        first = source.split(b"\n", 1)[0]
    else:
        from pandas.io.common import get_handle

        with get_handle(source, "rb", compression="infer", is_text=False) as handles:
            first = handles.handle.readline()  # type: ignore[union-attr]
    return first.decode(encoding, errors="replace").lstrip("\ufeff")


def _header_has_empty_first_cell(header: str, sep: str) -> bool:
    """True when the header's first cell is empty, as ``DataFrame.to_csv`` writes an index."""
    names = pd.read_csv(io.StringIO(header), sep=sep, nrows=0, dtype=str, keep_default_na=False)
    return len(names.columns) > 0 and str(names.columns[0]).startswith("Unnamed: 0")


class Dialect(NamedTuple):
    """How a delimited text table was read (and how the output is written)."""

    sep: str
    decimal: str
    sniffed: Sniffed | None  # None: the separator was given (--sep, or .tsv)


class Table(NamedTuple):
    """A table read by :func:`read_table`."""

    frame: pd.DataFrame
    has_index: bool  # a meaningful index, to be written back
    originals: dict[Hashable, np.ndarray]  # text of passed-through columns of numbers
    dialect: Dialect | None  # None for Parquet


def _sep_name(sep: str) -> str:
    return SEPARATORS.get(sep, repr(sep))


def read_table(
    name: str,
    *,
    fmt: str | None = None,
    columns: Sequence[str] | None = None,
    passthrough: Sequence[str] = (),
    na_values: Sequence[str] = (),
    sep: str | None = None,
    decimal: str = ".",
    index_col: str | None = None,
    encoding: str = "utf-8",
) -> Table:
    """Read the input file ``name`` (``-``: standard input, in format ``fmt``).

    Delimited text is read by :func:`imputer._csv.read_csv_table`: the missing-value
    markers (pandas' defaults and ``na_values``) apply to the modelled columns only
    (``columns``, or the columns of numbers); every other column, and those in
    ``passthrough``, keeps each cell's text. A column of numbers with stray text is a
    usage error (status 2). The separator is ``sep``, else a tab for ``.tsv``, else
    sniffed from the header line (:func:`imputer._csv.sniff_sep`); a note on standard
    error says which when it is not a comma.
    """
    if name == STDIO:
        fmt = fmt or "csv"
        source: Path | bytes = sys.stdin.buffer.read()
        shown = "<stdin>"
    else:
        if fmt is not None:
            raise CliError(
                f"--format {fmt} applies to standard input (IN is -); the extension of {name!r} "
                "gives its format (--sep gives a separator)", status=2,
            )
        path = Path(name)
        fmt = _format(path, "input")
        if not path.exists():
            raise CliError(f"input file {name!r} does not exist")
        if path.is_dir():
            raise CliError(f"input {name!r} is a directory, not a file")
        source, shown = path, name
    try:
        if fmt == "parquet":
            _require_pyarrow(shown)
            frame = pd.read_parquet(io.BytesIO(source) if isinstance(source, bytes) else source)
            has_index = index_col is not None or not (
                isinstance(frame.index, pd.RangeIndex)
                and frame.index.start == 0
                and frame.index.step == 1
                and frame.index.name is None
            )
            if index_col is not None:
                if index_col not in frame.columns:
                    raise CliError(f"{shown!r}: --index-col {index_col!r} is not a column", status=2)
                frame = frame.set_index(index_col)
            return Table(frame, has_index, {}, None)
        if isinstance(source, bytes) and not source.strip():
            raise pd.errors.EmptyDataError("no data")
        header = _header_line(source, encoding)
        sniffed = None
        if sep is None and _TEXT_FORMATS[fmt] is not None and fmt != "csv":
            sep = _TEXT_FORMATS[fmt]
        if sep is None:
            sniffed = sniff_sep(header)
            sep = sniffed.sep
            if sep != ",":
                print(
                    f"imputer: note: {shown!r}: reading fields separated by {_sep_name(sep)} "
                    f"({sep!r}), detected from the header line; give --sep to override",
                    file=sys.stderr,
                )
        if sep == decimal:
            raise CliError(
                f"{shown!r}: the separator {_sep_name(sep)} ({sep!r}) is also the decimal mark; "
                f"give the separator with --sep", status=2,
            )
        empty_first = index_col is None and _header_has_empty_first_cell(header, sep)
        with warnings.catch_warnings():
            # rows longer than the header: an error, not a silently dropped cell
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame, originals = read_csv_table(
                source, sep=sep, decimal=decimal, encoding=encoding,
                index_col=0 if empty_first else index_col, columns=columns,
                passthrough=passthrough, na_values=na_values,
            )
        if empty_first:
            frame.index.name = None
        return Table(frame, empty_first or index_col is not None, originals, Dialect(sep, decimal, sniffed))
    except CliError:
        raise
    except ImputerValueError as exc:  # a column of numbers with text, a bad column name
        raise CliError(f"{shown!r}: {exc}", status=2) from None
    except pd.errors.EmptyDataError:
        raise CliError(f"input file {shown!r} is empty (no header row)") from None
    except UnicodeDecodeError as exc:
        where = decode_error(_raw_bytes(source), encoding) or exc
        raise CliError(
            f"cannot read {shown!r}: it is not valid {encoding} text ({where.reason} at byte "
            f"offset {where.start}); give the file's encoding with --encoding (for example "
            f"--encoding latin-1 or --encoding cp1252)"
        ) from None
    except (pd.errors.ParserError, pd.errors.ParserWarning, OSError, ValueError) as exc:
        raise CliError(f"cannot read {shown!r}: {first_line(exc)}") from None


def _output_sep(fmt: str, dialect: Dialect | None) -> str:
    """.tsv: tab; .txt: the input's separator; .csv and stdout: the input's unless a tab."""
    read_with = dialect.sep if dialect is not None else ","
    if fmt == "tsv":
        return "\t"
    if fmt == "txt":
        return read_with
    return "," if read_with == "\t" else read_with


@contextlib.contextmanager
def _staged(name: str) -> Iterator[str]:
    """A temporary file beside ``name`` to write to, renamed over ``name`` when the block ends
    without an error (removed otherwise): a failed write leaves an existing file as it was,
    and never a half-written one. The file gets the replaced file's permissions (else the
    umask's). A target that exists and is not a regular file (``/dev/null``, a pipe) is
    written in place; a symbolic link's target is replaced, not the link.
    """
    target = os.path.realpath(name)
    if os.path.exists(target) and not os.path.isfile(target):
        yield name
        return
    try:  # a directory of its own, so the file keeps its name (recorded by gzip and zip)
        folder = tempfile.mkdtemp(prefix=".imputer-", dir=os.path.dirname(target))
    except OSError as exc:  # named by the target, not by the temporary directory
        raise OSError(exc.errno, exc.strerror, name) from None
    tmp = os.path.join(folder, os.path.basename(target))
    try:
        yield tmp
        if os.path.exists(target):
            shutil.copymode(target, tmp)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _encoded(chunks: Iterable[bytes], encoding: str) -> Iterator[bytes]:
    """UTF-8 ``chunks`` re-encoded as one stream in ``encoding`` (one byte-order mark, at the start)."""
    if codecs.lookup(encoding).name == "utf-8":
        yield from chunks
        return
    decoder = codecs.getincrementaldecoder("utf-8")()
    encoder = codecs.getincrementalencoder(encoding)()
    for chunk in chunks:
        yield encoder.encode(decoder.decode(bytes(chunk)))
    yield encoder.encode(decoder.decode(b"", final=True), final=True)


def write_table(
    frame: pd.DataFrame,
    name: str,
    *,
    index: bool,
    originals: Mapping[Hashable, np.ndarray] | None = None,
    dialect: Dialect | None = None,
    encoding: str = "utf-8",
    float_format: str | None = None,
    filled: pd.DataFrame | None = None,
) -> None:
    """Write ``frame`` to ``name`` (``-``: standard output, CSV) as delimited text or
    Parquet (by extension), with the index only if ``index``. Text is written with the
    input's decimal mark and separator (see :func:`_output_sep`), in ``encoding``; the
    columns in ``originals`` are written as that text. ``float_format`` (printf) formats
    the cells marked in ``filled`` (the imputed ones; same shape as ``frame``) in text
    output. Text goes through :func:`imputer._csv_write.csv_chunks` (vectorised, ~10x
    ``to_csv``), or ``to_csv`` for the tables that does not cover, encoded as one stream
    (a byte-order mark once). A file is written beside ``name`` and renamed over it
    (:func:`_staged`): a failure leaves no half-written file and an existing one intact."""
    fmt = "csv" if name == STDIO else _format(Path(name), "output")
    try:
        if fmt == "parquet":
            _require_pyarrow(name)
            with _staged(name) as path:
                frame.to_parquet(path, index=index)
            return
        decimal = dialect.decimal if dialect is not None else "."
        out = with_original_text(frame, originals or {})
        sep = _output_sep(fmt, dialect)
        chunks = csv_chunks(out, index=index, sep=sep, decimal=decimal, float_format=float_format, filled=filled)
        if chunks is None:
            chunks = _pandas_csv(out, index=index, sep=sep, decimal=decimal, float_format=float_format, filled=filled)
        if name == STDIO:
            sys.stdout.flush()
            buffer = getattr(sys.stdout, "buffer", None)
            if buffer is None:  # a text-only stream: its own encoding
                for chunk in chunks:
                    sys.stdout.write(bytes(chunk).decode("utf-8"))
            else:
                for data in _encoded(chunks, encoding):
                    buffer.write(data)
                buffer.flush()
        else:
            from pandas.io.common import get_handle, infer_compression

            compression = infer_compression(name, "infer")  # by the name's extension (.gz, ...)
            with _staged(name) as path, get_handle(path, "wb", compression=compression, is_text=False) as handles:
                for data in _encoded(chunks, encoding):
                    handles.handle.write(data)  # type: ignore[arg-type]
    except CliError:
        raise
    except UnicodeEncodeError as exc:
        raise CliError(f"cannot write {name!r}: {first_line(exc)}") from None
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot write {name!r}: {first_line(exc)}") from None


def _pandas_csv(
    out: pd.DataFrame, *, index: bool, sep: str, decimal: str, float_format: str | None, filled: pd.DataFrame | None
) -> list[bytes]:
    """``to_csv`` for the tables :func:`csv_chunks` does not cover, ``float_format`` on ``filled`` cells only."""
    if float_format is not None and filled is not None:
        out = out.copy()
        for j in range(out.shape[1]):
            col = out.iloc[:, j]
            mask = np.asarray(filled.iloc[:, j], dtype=bool) & np.asarray(col.notna())
            if mask.any() and pd.api.types.is_float_dtype(col.dtype):
                cells = col.to_numpy(dtype=object)
                cells[mask] = [(float_format % v).replace(".", decimal) for v in col.to_numpy(dtype=float)[mask]]
                out.isetitem(j, pd.Series(cells, index=out.index, name=out.columns[j]))
    return [out.to_csv(index=index, sep=sep, decimal=decimal).encode("utf-8")]

