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
import importlib.util
import json
import sys
import warnings
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from imputer import __version__
from imputer._csv import read_csv_table, with_original_text
from imputer._util import first_line
from imputer.errors import ImputerError, ImputerValueError, ImputerWarning
from imputer.options import MVN_OPTIONS, Option

__all__ = ["main", "build_parser"]

_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip", ".csv.zst")
_PARQUET_SUFFIXES = (".parquet", ".pq")


class CliError(Exception):
    """A problem reported as one line on stderr with an exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


# ------------------------------------------------------------------------------ file I/O


def _format(path: Path, role: str) -> str:
    name = path.name.lower()
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    raise CliError(
        f"{role} file {str(path)!r}: unknown extension; use .csv (optionally compressed: "
        f".csv.gz, .csv.bz2, .csv.xz, .csv.zip) or .parquet",
        status=2,
    )


def _require_pyarrow(path: Path) -> None:
    if importlib.util.find_spec("pyarrow") is None:
        raise CliError(
            f"{str(path)!r}: reading or writing Parquet needs pyarrow; install it with "
            "pip install 'imputer[parquet]' (or use a .csv file)"
        )


def _csv_has_index(path: Path) -> bool:
    """True when the header's first cell is empty, as ``DataFrame.to_csv`` writes an index."""
    header = pd.read_csv(path, nrows=0, dtype=str, keep_default_na=False)
    return len(header.columns) > 0 and str(header.columns[0]).startswith("Unnamed: 0")


def read_table(
    path: Path,
    *,
    columns: Sequence[str] | None = None,
    passthrough: Sequence[str] = (),
    na_values: Sequence[str] = (),
) -> tuple[pd.DataFrame, bool, dict[Hashable, np.ndarray]]:
    """Read ``path``; return the frame, whether it carried a meaningful index, and the
    text of the passed-through columns of numbers (for writing CSV; see
    :class:`imputer._csv.CSVTable`).

    A CSV is read by :func:`imputer._csv.read_csv_table`: the missing-value markers
    (pandas' defaults and ``na_values``) apply to the modelled columns only (``columns``,
    or the columns of numbers); every other column, and those in ``passthrough``, keeps
    each cell's text. A column of numbers with stray text is a usage error (status 2).
    """
    fmt = _format(path, "input")
    if not path.exists():
        raise CliError(f"input file {str(path)!r} does not exist")
    if path.is_dir():
        raise CliError(f"input {str(path)!r} is a directory, not a file")
    try:
        if fmt == "parquet":
            _require_pyarrow(path)
            frame = pd.read_parquet(path)
            has_index = not (
                isinstance(frame.index, pd.RangeIndex)
                and frame.index.start == 0
                and frame.index.step == 1
                and frame.index.name is None
            )
            return frame, has_index, {}
        has_index = _csv_has_index(path)
        with warnings.catch_warnings():
            # rows longer than the header: an error, not a silently dropped cell
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame, originals = read_csv_table(
                path, index_col=0 if has_index else None, columns=columns,
                passthrough=passthrough, na_values=na_values,
            )
        if has_index:
            frame.index.name = None
        return frame, has_index, originals
    except CliError:
        raise
    except ImputerValueError as exc:  # a column of numbers with text, a bad column name
        raise CliError(f"{str(path)!r}: {exc}", status=2) from None
    except pd.errors.EmptyDataError:
        raise CliError(f"input file {str(path)!r} is empty (no header row)") from None
    except (pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError, OSError, ValueError) as exc:
        raise CliError(f"cannot read {str(path)!r}: {first_line(exc)}") from None


def write_table(
    frame: pd.DataFrame, path: Path, *, index: bool, originals: Mapping[Hashable, np.ndarray] | None = None
) -> None:
    """Write ``frame`` as CSV or Parquet (by extension), with the index only if ``index``;
    in a CSV, the columns in ``originals`` are written as that text."""
    fmt = _format(path, "output")
    try:
        if fmt == "parquet":
            _require_pyarrow(path)
            frame.to_parquet(path, index=index)
        else:
            with_original_text(frame, originals or {}).to_csv(path, index=index)
    except CliError:
        raise
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot write {str(path)!r}: {first_line(exc)}") from None


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


def _cmd_impute(args: argparse.Namespace) -> int:
    import imputer

    src, dst = Path(args.input), Path(args.output)
    _format(dst, "output")  # fail before the (possibly long) fit on a bad output name
    options = {name: getattr(args, name) for name in MVN_OPTIONS}
    options["columns"] = _columns(options["columns"], "--columns")
    passthrough = _columns(args.passthrough, "--passthrough") or []
    frame, has_index, originals = read_table(
        src, columns=options["columns"], passthrough=passthrough, na_values=args.na_values or []
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ImputerWarning)
        result = imputer.impute(frame, **options)
    for w in caught:
        print(f"imputer: warning: {_one_line(str(w.message))}", file=sys.stderr)
    print(result.summary())
    write_table(result.completed, dst, index=has_index, originals=originals)
    n_filled = int(frame.isna().sum().sum() - result.completed.isna().sum().sum())
    print(f"\nwrote {dst} ({len(result.completed)} rows, {n_filled} cells filled)")
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
    imp.add_argument("input", metavar="IN", help="input table (.csv or .parquet)")
    imp.add_argument(
        "-o", "--output", metavar="OUT", required=True,
        help="output table (.csv or .parquet, chosen by extension)",
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
