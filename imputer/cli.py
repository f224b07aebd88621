"""Command line: ``imputer impute`` (EM-impute a table file) and ``imputer serve`` (REST API).

``imputer impute IN -o OUT`` reads a delimited text (.csv, .tsv, .txt; ``-`` for
standard input) or Parquet table, estimates the mean and covariance of its numeric
columns by EM under a multivariate-normal model (:func:`imputer.impute`), prints the
summary (to standard error when the table goes to standard output), and writes the
table with every missing numeric cell replaced by its conditional expectation given the
row's observed cells; ``--model t`` fits the multivariate t instead
(:func:`imputer.impute_t`, ``--dof`` fixing its degrees of freedom), ``--model mixture``
a Gaussian mixture (:func:`imputer.impute_mixture`: ``--components K`` or a comma list
of counts, the lowest BIC kept; ``--covariance-type``, ``--n-init``, ``--seed``); an
option of one model given with another is a usage error. Observed cells and the columns not modelled are written back
unchanged: the missing-value markers (``NA``, ``null``, ..., ``--na-values``) apply to
the modelled columns only, and every other column keeps each cell's text
(:mod:`imputer._csv`). Separator (given or sniffed), decimal mark, encoding, index
column and standard input/output are handled in :mod:`imputer._cli_io`.

``imputer impute IN -m M -o OUT`` draws ``M`` completed tables instead
(:func:`imputer.multiple_impute`) and writes mice's long table, or one file per
imputation when ``OUT`` contains ``{imp}``; see :mod:`imputer._cli_mi`.

``imputer diagnose IN`` prints the missingness patterns and Little's MCAR test of the
table's numeric columns (text, or ``--json``); see :mod:`imputer._cli_diagnose`.
``imputer disperse IN`` runs the EM fit from overdispersed starts and prints whether the
runs reach one maximum (:func:`imputer.disperse`); see :mod:`imputer._cli_disperse`. The
input options shared by the subcommands are declared and read in
:mod:`imputer._cli_args`.

``imputer mixed IN FORMULA`` fits a linear mixed model (lme4's notation) and predicts the
missing responses; see :mod:`imputer._cli_mixed`.

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
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imputer import __version__
from imputer._cli_args import (
    add_input_options,
    add_input_positional,
    add_monitor_options,
    add_option,
    column_list,
    monitor_options,
    one_line,
    read_input,
)
from imputer._cli_dask import add_dask_options, wants_dask
from imputer._cli_diagnose import add_diagnose_parser
from imputer._cli_disperse import add_disperse_parser
from imputer._cli_mixed import add_mixed_parser
from imputer._cli_mi import add_mi_options, check_mi_usage, model_mi_options, write_json, write_mi
from imputer._cli_transform import add_transform_options, transform_options
from imputer._cli_glom import add_glom_options, categorical_missing, glom_options
from imputer._cli_base import STDIO, CliError, _format
from imputer.errors import ImputerError, ImputerWarning
from imputer.options import MVN_OPTIONS

if TYPE_CHECKING:
    from imputer._cli_io import Table

__all__ = ["main", "build_parser"]

# ------------------------------------------------------------------------------ commands


def _cmd_impute(args: argparse.Namespace) -> int:
    import imputer

    _check_matrices_usage(args)
    if wants_dask(args):  # --scheduler / --workers: imputer/_cli_dask.py
        from imputer._cli_dask import impute_dask

        if transform_options(args):
            raise CliError("--transform, --bounds and the panel flags (--ts, --idvars, ...) are not available with "
                           "--scheduler/--workers", status=2)

        return impute_dask(args)
    to_stdout = args.output == STDIO
    _check_model_usage(args)
    check_mi_usage(args)
    if not to_stdout and args.m is None:
        _format(Path(args.output), "output")  # fail before the (possibly long) fit on a bad output name
    extra = transform_options(args)
    extra.update(glom_options(args))
    options = {name: getattr(args, name) for name in MVN_OPTIONS}
    options["columns"] = column_list(options["columns"], "--columns")
    start = _start_values(args)
    table, encoding = read_input(args, options["columns"])
    if args.m is not None:
        return _multiple_impute(args, {**options, **extra, **({} if start is None else {"start": start})}, table,
                                encoding)
    frame = categorical_missing(table.frame, extra.get("categorical"), args.na_values or [])
    options.update(monitor_options(args))
    if start is not None:
        extra["start"] = start
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ImputerWarning)
        if args.model != "normal":
            del options["prior"]  # checked above: "ridge", the other models' only convention
        if args.model == "t":
            result: Any = imputer.impute_t(frame, dof=args.dof, **options)
        elif args.model == "mixture":
            del options["accelerate"]  # checked above: the mixture always accelerates
            result = imputer.impute_mixture(frame, **_mixture_options(args), **options)
        else:
            result = imputer.impute(frame, **options, **extra)
    for w in caught:
        print(f"imputer: warning: {one_line(str(w.message))}", file=sys.stderr)
    # with the table on standard output, everything else goes to standard error
    info = sys.stderr if to_stdout else sys.stdout
    print(result.summary(), file=info)
    from imputer._cli_io import write_table

    write_table(
        result.completed, args.output, index=table.has_index, originals=table.originals,
        dialect=table.dialect, encoding=encoding, float_format=args.float_format, filled=frame.isna(),
    )
    n_filled = int(frame.isna().sum().sum() - result.completed.isna().sum().sum())
    where = "<stdout>" if to_stdout else args.output
    print(f"\nwrote {where} ({len(result.completed)} rows, {n_filled} cells filled)", file=info)
    if args.json_summary is not None:
        out = Path(args.json_summary)
        with warnings.catch_warnings(record=True) as caught:  # the standard errors' own (once, as the fit's)
            warnings.simplefilter("always", ImputerWarning)
            summary = _json_summary(result, args.matrices)
        for message in dict.fromkeys(one_line(str(w.message)) for w in caught):
            print(f"imputer: warning: {message}", file=sys.stderr)
        try:
            out.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
        except OSError as exc:
            raise CliError(f"cannot write {str(out)!r}: {exc.strerror or exc}") from None
    return 0


#: per-row parts of a result's to_dict(), left out of --json-summary (the table is the output file)
_PER_ROW_KEYS = ("completed", "conditional_var", "responsibilities", "labels", "row_weights", "level_probabilities")


def _json_summary(result: Any, matrices: str = "both") -> dict[str, Any]:
    """The estimates and diagnostics of a fit for ``--json-summary``, without per-row data.

    For the normal, the standard errors too when the parameters are few enough for
    ``vcov`` (``p <= 89``); ``matrices`` (``--matrices``, the normal's single fit only:
    checked by :func:`_check_matrices_usage`) as for ``ImputeResult.to_dict``.
    """
    from imputer.mvn.result import ImputeResult

    summary = None
    kwargs = {} if matrices == "both" else {"matrices": matrices}
    if isinstance(result, ImputeResult):
        p = len(result.columns)
        if p * (p + 3) // 2 <= 4096:
            summary = result.to_dict(standard_errors=True, **kwargs)
    if summary is None:
        summary = result.to_dict(**kwargs)
    for key in _PER_ROW_KEYS:
        summary.pop(key, None)
    return summary


#: options of one model only: (dest, flag, model)
_MODEL_FLAGS = (
    ("dof", "--dof", "t"),
    ("components", "--components", "mixture"),
    ("covariance_type", "--covariance-type", "mixture"),
    ("n_init", "--n-init", "mixture"),
)
_MIXTURE_DEFAULTS = {"components": 2, "covariance_type": "full", "n_init": 10}


def _check_matrices_usage(args: argparse.Namespace) -> None:
    """Usage errors (status 2): ``--matrices`` without ``--json-summary``, or with a fit whose summary is not the
    normal model's single imputation."""
    if args.matrices == "both":
        return
    if args.json_summary is None:
        raise CliError(f"--matrices {args.matrices} applies to --json-summary: give it too", status=2)
    given = [flag for flag, bad in (("-m", args.m is not None), (f"--model {args.model}", args.model != "normal"),
                                    ("--categorical", args.categorical is not None)) if bad]
    if given:
        raise CliError(f"--matrices applies to a single imputation under --model normal, not with {', '.join(given)}",
                       status=2)


def _check_model_usage(args: argparse.Namespace) -> None:
    """Usage errors (status 2): an option of one model given with another."""
    for dest, flag, model in _MODEL_FLAGS:
        if getattr(args, dest) is not None and args.model != model:
            raise CliError(f"{flag} applies to --model {model} only, not --model {args.model}", status=2)
    if args.model != "normal" and args.prior != "ridge":
        raise CliError(f"--prior {args.prior} applies to --model normal only, not --model {args.model}", status=2)
    if args.model == "mixture" and not args.accelerate:
        raise CliError("--no-accelerate applies to --model normal or t (the mixture always accelerates EM)",
                       status=2)


def _start_values(args: argparse.Namespace) -> tuple[Any, Any] | None:
    """``--start FILE.json``: the ``mean`` (object by column) and ``cov`` (``{"columns", "data"}``) in
    it, as a Series and a DataFrame for ``imputer.impute(start=...)``, which checks the values;
    usage errors (status 2) with another model, status 1 for an unreadable file (with ``-m``:
    ``multiple_impute(start=...)``, which checks the options it does not combine with)."""
    if args.start is None:
        return None
    if args.model != "normal":
        raise CliError("--start applies to the normal model only", status=2)
    import pandas as pd

    try:
        doc = json.loads(Path(args.start).read_text())
    except OSError as exc:
        raise CliError(f"--start {args.start!r}: cannot read it ({exc.strerror or exc})") from exc
    except ValueError as exc:
        raise CliError(f"--start {args.start!r}: not JSON ({exc})") from exc
    if isinstance(doc, dict) and "cov" in doc and doc["cov"] is None:
        raise CliError(f"--start {args.start!r}: its \"cov\" is null (a --json-summary written with --matrices corr "
                       "or none); write it with the covariance (--matrices both or cov)")
    try:
        mean, cov = doc["mean"], doc["cov"]
        return (pd.Series(mean, dtype=float),
                pd.DataFrame(cov["data"], index=cov["columns"], columns=cov["columns"], dtype=float))
    except (KeyError, TypeError, ValueError) as exc:
        raise CliError(
            f"--start {args.start!r}: expected \"mean\" (an object by column) and \"cov\" ({{\"columns\", \"data\"}}), "
            "as --json-summary and imputer disperse --json write them"
        ) from exc


def _mixture_options(args: argparse.Namespace) -> dict[str, Any]:
    """``impute_mixture``'s keywords from ``--components``, ``--covariance-type``, ``--n-init``, ``--seed``."""
    given = {dest: getattr(args, dest) for dest in _MIXTURE_DEFAULTS}
    chosen = {dest: _MIXTURE_DEFAULTS[dest] if v is None else v for dest, v in given.items()}
    return {
        "n_components": chosen["components"], "covariance_type": chosen["covariance_type"],
        "n_init": chosen["n_init"], "seed": args.seed,
    }


def _components(text: str) -> int | list[int]:
    """``--components``: ``K`` or a comma list ``K1,K2,...`` of integers."""
    parts = [t.strip() for t in text.split(",")]
    try:
        counts = [int(t) for t in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or a comma list of integers, got {text!r}") from None
    return counts[0] if len(counts) == 1 and "," not in text else counts


def _multiple_impute(args: argparse.Namespace, options: dict[str, Any], table: Table, encoding: str) -> int:
    """``impute -m M``: :func:`imputer.multiple_impute`, the long table or one file per imputation."""
    import imputer

    to_stdout = args.output == STDIO
    if not options.pop("accelerate"):
        raise CliError("--no-accelerate applies to a single imputation (multiple imputation always accelerates EM)",
                       status=2)
    mi_options = {name: getattr(args, name) for name in ("method", "seed", "burn_in", "thin") if getattr(args, name) is not None}
    mi_options.update(model_mi_options(args))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ImputerWarning)
        frame = categorical_missing(table.frame, options.get("categorical"), args.na_values or [])
        mi = imputer.multiple_impute(frame, args.m, **options, **mi_options)
    for w in caught:
        print(f"imputer: warning: {one_line(str(w.message))}", file=sys.stderr)
    info = sys.stderr if to_stdout else sys.stdout
    print(mi.summary(), file=info)
    where = write_mi(mi, args.output, table, encoding)
    n = len(mi.original)
    shape = f"{mi.m} x {n} rows, long table" if "{imp}" not in args.output else f"{mi.m} files of {n} rows"
    print(f"\nwrote {where} ({shape})", file=info)
    if args.json_summary is not None:
        write_json(mi, args.json_summary)
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
    # README's production options: the guarded HTTP protocol (a deadline on request heads and
    # bodies: slowloris) and a short keep-alive
    uvicorn.run(
        "api.main:app", host=args.host, port=args.port, workers=args.workers,
        http="api.http:GuardedH11Protocol", timeout_keep_alive=5, server_header=False,
    )
    return 0


# -------------------------------------------------------------------------------- parser


def _float_format(text: str) -> str:
    """A printf format that turns one float into text that reads back as a number."""
    try:
        out = text % 1.25
        float(out.strip())
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"expected a printf format for one number such as %.6g or %.3f, got {text!r}"
        ) from None
    return text


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``imputer`` argument parser (subcommands ``impute``, ``diagnose``, ``disperse``, ``mixed`` and ``serve``)."""
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
    add_input_positional(imp)
    imp.add_argument(
        "-o", "--output", metavar="OUT", required=True,
        help="output table, format by extension (.csv, .tsv, .txt, .parquet); - writes CSV to "
        "standard output, and the summary then goes to standard error",
    )
    for option in MVN_OPTIONS.values():
        add_option(imp, option)
    imp.add_argument(
        "--model", choices=("normal", "t", "mixture"), default="normal",
        help="normal: the multivariate normal (default); t: the multivariate t, robust to heavy "
        "tails and outliers (imputer.impute_t); mixture: a Gaussian mixture, for multimodal "
        "data (imputer.impute_mixture)",
    )
    imp.add_argument(
        "--dof", type=float, metavar="NU",
        help="with --model t: fix the degrees of freedom at NU > 0 (default: estimated)",
    )
    imp.add_argument(
        "--components", type=_components, metavar="K",
        help="with --model mixture: the number of components K (default: 2), or a comma list "
        "such as 1,2,3 of which the fit with the lowest BIC is kept",
    )
    imp.add_argument(
        "--covariance-type", choices=("full", "tied", "diag", "spherical"), default=None,
        help="with --model mixture: each component its own covariance (full, the default), one "
        "shared (tied), diagonal (diag) or one variance per component (spherical)",
    )
    imp.add_argument(
        "--n-init", type=int, metavar="N",
        help="with --model mixture: starts (k-means++ and Lloyd), the best log-likelihood kept "
        "(default: 10); --seed S makes them reproducible",
    )
    add_transform_options(imp)
    add_glom_options(imp)
    imp.add_argument(
        "--float-format", type=_float_format, metavar="FMT", default=None,
        help="printf format of the filled cells in text output, e.g. %%.6g (observed cells are "
        "always written in full, so they read back exactly); default: the shortest text that "
        "reads back to the same number",
    )
    add_monitor_options(imp, "stop EM after SECONDS and write the best iterate so far, with a warning "
                        "(converged: false); default: no limit")
    add_input_options(imp)
    imp.add_argument(
        "--json-summary", metavar="FILE", help="also write the estimates as JSON to FILE (with -m: "
        "the multiple imputation without its tables, and the EM estimates with their standard errors)"
    )
    imp.add_argument(
        "--matrices", choices=("both", "cov", "corr", "none"), default="both",
        help="which p x p matrices --json-summary writes: both (the default), cov, corr or none (null); on "
        "wide tables they are most of the file. The normal model's single imputation only",
    )
    imp.add_argument(
        "--start", metavar="FILE.json",
        help="start EM from the mean and cov of a JSON file instead of the engine's own start: the "
        "--json-summary of an earlier fit, or imputer disperse --json (its best run); the normal model "
        "only (with -m: the EM fit and each bootstrap resample's)",
    )
    add_mi_options(imp)
    add_dask_options(imp)
    imp.set_defaults(func=_cmd_impute)

    add_diagnose_parser(sub)
    add_disperse_parser(sub)

    add_mixed_parser(sub)
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
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the command as run, for reports
    try:
        return int(args.func(args))
    except CliError as exc:
        print(f"imputer: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.status
    except ImputerError as exc:
        print(f"imputer: error: {one_line(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("imputer: interrupted", file=sys.stderr)
        return 130
