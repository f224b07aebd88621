"""Command-line pieces shared by the subcommands that read a table (``impute``, ``diagnose``, ``disperse``).

The job: the input options (``IN``, ``--sep``, ``--decimal``, ``--encoding``,
``--index-col``, ``--na-values``, ``--passthrough``, ``--format``) declared once
(:func:`add_input_options`) and turned into a table once (:func:`read_input`, through
:func:`imputer._cli_io.read_table`), so every subcommand reads files the same way; an
engine option declared from its entry of an option table (:func:`add_option`: flag,
default and help from :mod:`imputer.options`); ``--progress`` and ``--max-time``
(:func:`add_monitor_options`, :func:`monitor_options`); and the small parsers of option
text (comma-separated names, one character, seconds).
"""

from __future__ import annotations

import argparse
import codecs
import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from imputer._cli_base import STDIO, CliError
from imputer.options import Option

if TYPE_CHECKING:  # pandas and the reader are imported when a table is read
    import pandas as pd

    from imputer._cli_io import Dialect, Table

__all__ = [
    "add_input_options",
    "add_monitor_options",
    "add_option",
    "char",
    "column_list",
    "monitor_options",
    "no_numeric_column",
    "one_line",
    "positive_seconds",
    "read_input",
]


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) as one space."""
    return " ".join(text.split())


def column_list(text: str | None, flag: str) -> list[str] | None:
    """Comma-separated column names (None stays None); an empty name is a usage error."""
    if text is None:
        return None
    names = [c.strip() for c in text.split(",")]
    if not all(names):
        raise CliError(f"{flag} {text!r}: empty column name in the list", status=2)
    return names


def char(text: str, flag: str) -> str:
    """One character (``\\t`` or ``tab`` for a tab)."""
    value = {"\\t": "\t", "tab": "\t"}.get(text, text)
    if len(value) != 1 or value in "\r\n\"":
        raise CliError(f"{flag} {text!r}: expected one character (for a tab: {flag} '\\t')", status=2)
    return value


def no_numeric_column(frame: pd.DataFrame, name: str, dialect: Dialect) -> CliError:
    """The "no numeric column" error for delimited text, with what was read and the fix."""
    from imputer._cli_io import _sep_name

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


def add_input_positional(parser: argparse.ArgumentParser) -> None:
    """The ``IN`` argument."""
    parser.add_argument(
        "input", metavar="IN",
        help="input table: .csv, .tsv, .txt (optionally compressed: .gz, .bz2, .xz, .zip) or "
        ".parquet; - reads standard input (see --format)",
    )


def add_input_options(parser: argparse.ArgumentParser, *, output_note: bool = True) -> None:
    """The options that say how ``IN`` is read (not ``IN`` itself: :func:`add_input_positional`).

    Parameters
    ----------
    parser : ArgumentParser
        A subcommand's parser.
    output_note : bool
        Whether the help says the output is written in the input's dialect (for
        subcommands that write a table).
    """
    parser.add_argument(
        "--na-values", metavar="TEXT", action="append",
        help="a cell text that marks a missing value in the modelled columns, besides "
        "pandas' defaults (empty, NA, NaN, null, None, N/A, nan, ...); repeat for several "
        "(--na-values=- --na-values=.). Other columns are never altered.",
    )
    parser.add_argument(
        "--passthrough", metavar="A,B,...",
        help="comma-separated names of columns to keep as text, unmodelled, even if they "
        "hold numbers (a column of numbers with stray text is otherwise an error)",
    )
    sep_out = (
        " The output is written with the same separator (a .tsv with tabs, a .csv never with tabs)."
        if output_note else ""
    )
    parser.add_argument(
        "--sep", metavar="CHAR",
        help="field separator of delimited text (\\t or tab for a tab). Default: a tab for "
        ".tsv, else detected from the header line among comma, semicolon, tab and pipe (a "
        "note on standard error says which when it is not a comma)." + sep_out,
    )
    parser.add_argument(
        "--decimal", metavar="CHAR", default=".",
        help="decimal mark of the numbers in delimited text, for example , (default: %(default)s)"
        + ("; the output uses the same mark" if output_note else ""),
    )
    parser.add_argument(
        "--index-col", metavar="NAME",
        help="the column holding the row labels: read as the index, not modelled"
        + (", written back first" if output_note else "")
        + " (default: none, or the first column when the header starts with an empty cell)",
    )
    parser.add_argument(
        "--encoding", default="utf-8",
        help="text encoding of delimited input" + (" and output" if output_note else "")
        + ", for example latin-1 or cp1252 (default: %(default)s)",
    )
    parser.add_argument(
        "--format", choices=["csv", "tsv", "parquet"],
        help="format of standard input (IN is -): csv (separator detected as for a file, the "
        "default), tsv or parquet; a file's format comes from its extension",
    )


def read_input(args: argparse.Namespace, columns: Sequence[str] | None) -> tuple[Table, str]:
    """Read ``args.input`` as the options of :func:`add_input_options` say.

    Parameters
    ----------
    args : Namespace
        Parsed arguments of a subcommand with :func:`add_input_positional` and
        :func:`add_input_options`.
    columns : sequence of str, optional
        The modelled columns (``--columns``), or None for the columns of numbers.

    Returns
    -------
    table : Table
        The frame, whether it has an index column, the original cell texts, the dialect.
    encoding : str
        The canonical name of ``--encoding`` (for writing in the same encoding).

    Raises
    ------
    CliError
        A bad option value (status 2), an unreadable file, or delimited text with no
        numeric column when ``columns`` is None (with what was read and the fix).
    """
    sep = None if args.sep is None else char(args.sep, "--sep")
    decimal = char(args.decimal, "--decimal")
    if decimal == sep:
        raise CliError(f"--decimal {args.decimal!r}: the decimal mark must differ from --sep", status=2)
    try:
        encoding = codecs.lookup(args.encoding).name
    except LookupError:
        raise CliError(f"--encoding {args.encoding!r}: unknown encoding (for example utf-8, latin-1, cp1252)",
                       status=2) from None
    passthrough = column_list(args.passthrough, "--passthrough") or []
    from imputer._cli_io import read_table

    table = read_table(
        args.input, fmt=args.format, columns=columns, passthrough=passthrough,
        na_values=args.na_values or [], sep=sep, decimal=decimal, index_col=args.index_col,
        encoding=encoding,
    )
    from imputer.columns import modelled_columns

    if columns is None and table.dialect is not None and not modelled_columns(table.frame):
        raise no_numeric_column(table.frame, "<stdin>" if args.input == STDIO else args.input, table.dialect)
    return table, encoding


def add_option(parser: argparse.ArgumentParser, option: Option) -> argparse.Action:
    """Add ``--name`` for an option of an :class:`~imputer.options.OptionTable`.

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
    if option.kind == "choice":
        return parser.add_argument(
            flag, choices=option.choices, type=str.lower, default=option.default,
            help=f"{text} (default: %(default)s)",
        )
    convert = {"real": float, "integer": int}[option.kind]
    fmt = "%(default)g" if option.kind == "real" else "%(default)d"
    return parser.add_argument(
        flag, type=convert, default=option.default, help=f"{text} (default: {fmt})"
    )


def positive_seconds(text: str) -> float:
    """``--max-time``'s type: a finite number of seconds > 0 (else a usage error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def add_monitor_options(parser: argparse.ArgumentParser, max_time_help: str) -> None:
    """``--progress``/``--no-progress`` and ``--max-time SECONDS`` (read back by :func:`monitor_options`)."""
    parser.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None,
        help="show iterations, objective and parameter change on standard error while EM runs "
        "(default: on when standard error is a terminal; the line appears after a second)",
    )
    parser.add_argument("--max-time", type=positive_seconds, metavar="SECONDS", default=None, help=max_time_help)


def monitor_options(args: argparse.Namespace) -> dict[str, object]:
    """``progress`` (default: whether standard error is a terminal) and ``max_time`` of the engines."""
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    return {"progress": progress, "max_time": args.max_time}
