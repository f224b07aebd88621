"""Command line: ``imputer impute`` (EM-impute a table file) and ``imputer serve`` (REST API).

``imputer impute IN -o OUT`` reads a delimited text (.csv, .tsv, .txt; ``-`` for
standard input) or Parquet table, estimates the mean and covariance of its numeric
columns by EM under a multivariate-normal model (:func:`imputer.impute`), prints the
summary (to standard error when the table goes to standard output), and writes the
table with every missing numeric cell replaced by its conditional expectation given the
row's observed cells. Observed cells and the columns not modelled are written back
unchanged: the missing-value markers (``NA``, ``null``, ..., ``--na-values``) apply to
the modelled columns only, and every other column keeps each cell's text
(:mod:`imputer._csv`). Separator (given or sniffed), decimal mark, encoding, index
column and standard input/output are handled in :mod:`imputer._cli_io`.

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
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from imputer import __version__
from imputer._cli_io import STDIO, CliError, Dialect, _format, _sep_name, read_table, write_table
from imputer.errors import ImputerError, ImputerWarning
from imputer.options import MVN_OPTIONS, Option

__all__ = ["main", "build_parser"]

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
        "--format", choices=["csv", "tsv", "parquet"],
        help="format of standard input (IN is -): csv (separator detected as for a file, the "
        "default), tsv or parquet; a file's format comes from its extension",
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
