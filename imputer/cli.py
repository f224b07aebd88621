"""Command line: ``imputer impute`` (EM-impute a table file) and ``imputer serve`` (REST API).

``imputer impute IN -o OUT`` reads a CSV (or Parquet) table, estimates the mean and
covariance of its numeric columns by EM under a multivariate-normal model
(:func:`imputer.impute`), prints the summary, and writes the table with every missing
numeric cell replaced by its conditional expectation given the row's observed cells.
Observed cells and the columns not modelled are written back unchanged: in a CSV, the
missing-value markers (``NA``, ``null``, ..., ``--na-values``) apply to the modelled
columns only, and every other column keeps each cell's text (:mod:`imputer._csv`).

``imputer serve`` runs the FastAPI application ``api.main:app`` under uvicorn.

Exit status: 0 on success, 1 when the input cannot be read or imputed (the reason is
printed on one line to standard error), 2 for command-line usage errors and for a CSV
column of numbers holding other text (name its markers with ``--na-values``, or keep it
as text with ``--passthrough``).
"""

from __future__ import annotations

import argparse
import codecs
import importlib.util
import io
import json
import sys
import warnings
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from imputer import __version__
from imputer._csv import SEPARATORS, Sniffed, decode_error, read_csv_table, sniff_sep, with_original_text
from imputer._util import first_line
from imputer.errors import ImputerError, ImputerValueError, ImputerWarning
from imputer.options import MVN_OPTIONS, Option

__all__ = ["main", "build_parser"]

_COMPRESSION = ("", ".gz", ".bz2", ".xz", ".zip", ".zst")
#: delimited text: comma (or the input's separator), tab, sniffed
_TEXT_FORMATS = {"csv": ",", "tsv": "\t", "txt": None}
_PARQUET_SUFFIXES = (".parquet", ".pq")
#: the path that means standard input (IN) or standard output (-o)
STDIO = "-"


class CliError(Exception):
    """A problem reported as one line on stderr with an exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


# ------------------------------------------------------------------------------ file I/O


def _format(path: Path, role: str) -> str:
    """``csv``, ``tsv``, ``txt`` (delimited text, optionally compressed) or ``parquet``."""
    name = path.name.lower()
    for fmt in _TEXT_FORMATS:
        if name.endswith(tuple(f".{fmt}{z}" for z in _COMPRESSION)):
            return fmt
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    raise CliError(
        f"{role} file {str(path)!r}: unknown extension; use .csv, .tsv or .txt (optionally "
        f"compressed: .gz, .bz2, .xz, .zip) or .parquet, or - for standard "
        f"{'input' if role == 'input' else 'output'}",
        status=2,
    )


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
    fmt: str = "csv",
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
        source: Path | bytes = sys.stdin.buffer.read()
        shown = "<stdin>"
    else:
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


def write_table(
    frame: pd.DataFrame,
    name: str,
    *,
    index: bool,
    originals: Mapping[Hashable, np.ndarray] | None = None,
    dialect: Dialect | None = None,
    encoding: str = "utf-8",
) -> None:
    """Write ``frame`` to ``name`` (``-``: standard output, CSV) as delimited text or
    Parquet (by extension), with the index only if ``index``. Text is written with the
    input's decimal mark and separator (see :func:`_output_sep`), in ``encoding``; the
    columns in ``originals`` are written as that text."""
    fmt = "csv" if name == STDIO else _format(Path(name), "output")
    try:
        if fmt == "parquet":
            _require_pyarrow(name)
            frame.to_parquet(name, index=index)
            return
        decimal = dialect.decimal if dialect is not None else "."
        out = with_original_text(frame, originals or {})
        options: dict[str, Any] = {"index": index, "sep": _output_sep(fmt, dialect), "decimal": decimal}
        if name == STDIO:
            out.to_csv(sys.stdout, **options)
            sys.stdout.flush()
        else:
            out.to_csv(name, encoding=encoding, **options)
    except CliError:
        raise
    except UnicodeEncodeError as exc:
        raise CliError(f"cannot write {name!r}: {first_line(exc)}") from None
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot write {name!r}: {first_line(exc)}") from None


# ------------------------------------------------------------------------------ commands


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _columns(text: str | None, flag: str) -> list[str] | None:
    if text is None:
        return None
    names = [c.strip() for c in text.split(",")]
    if not all(names):
        raise CliError(f"{flag} {text!r}: empty column name in the list", status=2)
    return names


def _char(text: str, flag: str) -> str:
    """One character (``\\t`` or ``tab`` for a tab)."""
    value = {"\\t": "\t", "tab": "\t"}.get(text, text)
    if len(value) != 1 or value in "\r\n\"":
        raise CliError(f"{flag} {text!r}: expected one character (for a tab: {flag} '\\t')", status=2)
    return value


def _no_numeric_column(frame: pd.DataFrame, name: str, dialect: Dialect) -> CliError:
    """The "no numeric column" error for delimited text, with what was read and the fix."""
    how = "detected from the header line" if dialect.sniffed is not None else "given"
    if dialect.sniffed is not None and dialect.sniffed.ambiguous:
        how = "a guess: the header line is ambiguous"
    labels = ", ".join(repr(str(c)) for c in list(frame.columns)[:5])
    more = ", ..." if len(frame.columns) > 5 else ""
    return CliError(
        f"{name!r}: data has no numeric column to model: read with separator "
        f"{_sep_name(dialect.sep)} ({dialect.sep!r}, {how}) and decimal mark {dialect.decimal!r} "
        f"as {len(frame.columns)} column{'s' if len(frame.columns) != 1 else ''} ({labels}{more}). "
        f"If the file uses another separator or a decimal comma, say so with --sep and --decimal "
        f"(for example --sep ';' --decimal ,)"
    )


def _cmd_impute(args: argparse.Namespace) -> int:
    import imputer
    from imputer.columns import modelled_columns

    to_stdout = args.output == STDIO
    if not to_stdout:
        _format(Path(args.output), "output")  # fail before the (possibly long) fit on a bad output name
    sep = None if args.sep is None else _char(args.sep, "--sep")
    decimal = _char(args.decimal, "--decimal")
    if decimal == sep:
        raise CliError(f"--decimal {args.decimal!r}: the decimal mark must differ from --sep", status=2)
    try:
        encoding = codecs.lookup(args.encoding).name
    except LookupError:
        raise CliError(f"--encoding {args.encoding!r}: unknown encoding (for example utf-8, latin-1, cp1252)",
                       status=2) from None
    options = {name: getattr(args, name) for name in MVN_OPTIONS}
    options["columns"] = _columns(options["columns"], "--columns")
    passthrough = _columns(args.passthrough, "--passthrough") or []
    table = read_table(
        args.input, fmt=args.format, columns=options["columns"], passthrough=passthrough,
        na_values=args.na_values or [], sep=sep, decimal=decimal, index_col=args.index_col,
        encoding=encoding,
    )
    frame = table.frame
    if options["columns"] is None and table.dialect is not None and not modelled_columns(frame):
        raise _no_numeric_column(frame, "<stdin>" if args.input == STDIO else args.input, table.dialect)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ImputerWarning)
        result = imputer.impute(frame, **options)
    for w in caught:
        print(f"imputer: warning: {_one_line(str(w.message))}", file=sys.stderr)
    # with the table on standard output, everything else goes to standard error
    info = sys.stderr if to_stdout else sys.stdout
    print(result.summary(), file=info)
    write_table(
        result.completed, args.output, index=table.has_index, originals=table.originals,
        dialect=table.dialect, encoding=encoding,
    )
    n_filled = int(frame.isna().sum().sum() - result.completed.isna().sum().sum())
    where = "<stdout>" if to_stdout else args.output
    print(f"\nwrote {where} ({len(result.completed)} rows, {n_filled} cells filled)", file=info)
    if args.json_summary is not None:
        out = Path(args.json_summary)
        try:
            out.write_text(json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
        except OSError as exc:
            raise CliError(f"cannot write {str(out)!r}: {exc.strerror or exc}") from None
    return 0


def _api_available() -> bool:
    try:
        return importlib.util.find_spec("api.main") is not None
    except ImportError:  # no top-level 'api' package
        return False


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        raise CliError(
            "imputer serve needs the REST extra: pip install 'imputer[api]'"
        ) from None
    if not _api_available():
        raise CliError("imputer serve: the 'api' package (api.main:app) is not installed")
    uvicorn.run("api.main:app", host=args.host, port=args.port, workers=args.workers)
    return 0


# -------------------------------------------------------------------------------- parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _add_option(parser: argparse.ArgumentParser, option: Option) -> argparse.Action:
    """Add ``--name`` for an option of :data:`~imputer.options.MVN_OPTIONS`.

    Default and help come from the table; ``argparse`` converts the text (``float``,
    ``int``), the engine checks the value (a bad one exits with status 1 naming it). A
    boolean option that defaults to on becomes ``--no-name``; a list of column names is
    given comma-separated.
    """
    flag = "--" + option.name.replace("_", "-")
    text = option.help.replace("%", "%%")  # argparse formats help with %
    if option.kind == "boolean" and option.default is True:
        return parser.add_argument(
            f"--no-{option.name.replace('_', '-')}", dest=option.name, action="store_false",
            help=f"turn {option.name} off. {text}",
        )
    if option.kind == "labels":
        return parser.add_argument(
            flag, metavar="A,B,...", default=option.default, help=f"comma-separated names. {text}"
        )
    convert = {"real": float, "integer": int}[option.kind]
    fmt = "%(default)g" if option.kind == "real" else "%(default)d"
    return parser.add_argument(
        flag, type=convert, default=option.default, help=f"{text} (default: {fmt})"
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``imputer`` argument parser (subcommands ``impute`` and ``serve``)."""
    parser = argparse.ArgumentParser(
        prog="imputer",
        description="EM imputation for incomplete tables (multivariate normal).",
        epilog="Exit status: 0 success, 1 unreadable or unusable input, 2 usage error "
        "(or a column of numbers holding other text).",
    )
    parser.add_argument("--version", action="version", version=f"imputer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    imp = sub.add_parser(
        "impute",
        help="fill the missing numeric cells of a CSV/Parquet table by EM",
        description=(
            "Estimate the mean and covariance of the numeric columns (or those given with "
            "--columns) by EM and write the table with each missing cell of those columns "
            "replaced by its conditional expectation given the row's observed cells. Observed "
            "cells and the columns not modelled are written unchanged (missing-value markers "
            "apply to modelled columns only). A CSV whose header starts with an empty cell (as "
            "written by pandas' to_csv) is read with that first column as the row index, and the "
            "index is written back; otherwise no index column is added."
        ),
    )
    imp.add_argument(
        "input", metavar="IN",
        help="input table: .csv, .tsv, .txt (optionally compressed: .gz, .bz2, .xz, .zip) or "
        ".parquet; - reads standard input (see --format)",
    )
    imp.add_argument(
        "-o", "--output", metavar="OUT", required=True,
        help="output table, format by extension (.csv, .tsv, .txt, .parquet); - writes CSV to "
        "standard output, and the summary then goes to standard error",
    )
    for option in MVN_OPTIONS.values():
        _add_option(imp, option)
    imp.add_argument(
        "--na-values", metavar="TEXT", action="append",
        help="a cell text that marks a missing value in the modelled columns, besides "
        "pandas' defaults (empty, NA, NaN, null, None, N/A, nan, ...); repeat for several "
        "(--na-values=- --na-values=.). Other columns are never altered.",
    )
    imp.add_argument(
        "--passthrough", metavar="A,B,...",
        help="comma-separated names of columns to keep as text, unmodelled, even if they "
        "hold numbers (a column of numbers with stray text is otherwise an error)",
    )
    imp.add_argument(
        "--sep", metavar="CHAR",
        help="field separator of delimited text (\\t or tab for a tab). Default: a tab for "
        ".tsv, else detected from the header line among comma, semicolon, tab and pipe (a "
        "note on standard error says which when it is not a comma). The output is written "
        "with the same separator (a .tsv with tabs, a .csv never with tabs).",
    )
    imp.add_argument(
        "--decimal", metavar="CHAR", default=".",
        help="decimal mark of the numbers in delimited text, for example , (default: %(default)s); "
        "the output uses the same mark",
    )
    imp.add_argument(
        "--index-col", metavar="NAME",
        help="the column holding the row labels: read as the index, not modelled, written "
        "back first (default: none, or the first column when the header starts with an empty cell)",
    )
    imp.add_argument(
        "--encoding", default="utf-8",
        help="text encoding of delimited input and output, for example latin-1 or cp1252 "
        "(default: %(default)s)",
    )
    imp.add_argument(
        "--format", choices=["csv", "tsv", "parquet"], default="csv",
        help="format of standard input (IN is -): csv (separator detected as for a file), "
        "tsv or parquet (default: %(default)s)",
    )
    imp.add_argument(
        "--json-summary", metavar="FILE", help="also write the estimates as JSON to FILE"
    )
    imp.set_defaults(func=_cmd_impute)

    srv = sub.add_parser("serve", help="run the REST service (needs the 'api' extra)")
    srv.add_argument("--host", default="127.0.0.1", help="bind address (default: %(default)s)")
    srv.add_argument("--port", type=int, default=8000, help="port (default: %(default)d)")
    srv.add_argument(
        "--workers", type=_positive_int, default=1,
        help="number of worker processes (default: %(default)d)",
    )
    srv.set_defaults(func=_cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 on unusable input, 2 on a usage error.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except CliError as exc:
        print(f"imputer: error: {_one_line(str(exc))}", file=sys.stderr)
        return exc.status
    except ImputerError as exc:
        print(f"imputer: error: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("imputer: interrupted", file=sys.stderr)
        return 130
