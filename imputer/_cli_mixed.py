"""``imputer mixed IN FORMULA``: a linear mixed model fitted to a table file, missing responses predicted.

Reads ``IN`` as ``imputer impute`` does (:mod:`imputer._cli_args`), fits ``FORMULA`` (lme4's
notation, ``"Reaction ~ Days + (Days | Subject)"``) by EM-REML or ML
(:func:`imputer.fit_mixed_frame`) and prints the summary (variance components, fixed
effects, log-likelihood, convergence). ``-o OUT`` also writes the table with each missing
response predicted (the conditional expectation ``X b + Z u``), every other cell as it was
read; ``--json-summary FILE`` writes the estimates as JSON (``MixedResult.to_dict()``
without the per-row parts, which are the output table). Grouping columns of numbers are
levels (a factor), as in the Python call. Warnings (a boundary fit, no convergence) go to
standard error as ``imputer: warning: ...``.

With ``--scheduler ADDRESS`` or ``--workers N``, ``IN`` may be a glob or a directory of
Parquet (or CSV) files: the fit runs on Dask (:func:`imputer.dask.fit_mixed_frame`: the
Gram sums partition by partition, EM on them here) and ``-o OUT`` is a directory of
Parquet files, the responses predicted lazily, partition by partition.

The subcommand is declared by :func:`add_mixed_parser` (called by
:func:`imputer.cli.build_parser`).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from imputer._cli_args import add_input_options, add_input_positional, one_line, read_input
from imputer._cli_base import STDIO, CliError, _format
from imputer.options import MIXED_OPTIONS

__all__ = ["add_mixed_parser"]

#: per-row parts of ``MixedResult.to_dict()``, left out of ``--json-summary`` (the table is the output)
_PER_ROW_KEYS = ("index", "fitted", "completed", "residuals")


def _contrasts(text: str | None) -> dict[str, str] | None:
    """``--contrasts dose=poly,recipe=treatment`` as a dict (a bad item is a usage error)."""
    if text is None:
        return None
    out: dict[str, str] = {}
    for item in text.split(","):
        col, sep, kind = item.partition("=")
        if not sep or not col.strip() or kind.strip() not in ("treatment", "poly"):
            raise CliError(f"--contrasts {text!r}: expected COL=poly or COL=treatment, comma-separated", status=2)
        out[col.strip()] = kind.strip()
    return out


def _cmd_mixed(args: argparse.Namespace) -> int:
    import imputer

    if args.scheduler is not None or args.workers is not None:
        return _mixed_dask(args, _contrasts(args.contrasts))
    to_stdout = args.output == STDIO
    if args.output is not None and not to_stdout:
        _format(Path(args.output), "output")  # fail before the fit on a bad output name
    contrasts = _contrasts(args.contrasts)
    table, encoding = read_input(args, None)
    frame = table.frame
    from imputer.mixed._fixed import contrast_factors

    model_frame = contrast_factors(frame, contrasts)  # a column of numbers named in --contrasts: a factor
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", imputer.ImputerWarning)
        result = imputer.fit_mixed_frame(
            model_frame, args.formula, contrasts=contrasts, na_action=args.na_action, method=args.method,
            tol=args.tol, max_iter=args.max_iter, accelerate=args.accelerate,
        )
    info = sys.stderr if to_stdout else sys.stdout
    _report(caught, result, info)
    if args.output is not None:
        from imputer._cli_io import write_table

        response = _response(args.formula)
        out = frame.copy()
        missing = out[response].isna()
        # observed responses are bit for bit; rows matched by position (row labels may repeat)
        completed = result.completed
        if len(completed) == len(out):
            out[response] = completed.to_numpy()
        elif out.index.is_unique:  # --na-action drop left rows out: matched by their labels
            out.loc[completed.index, response] = completed
        else:
            raise CliError(
                f"-o: {result.n_dropped} rows were dropped (--na-action drop) and the row labels repeat, so the "
                "fitted rows cannot be matched to the table's; give unique row labels (or none)", status=2,
            )
        write_table(
            out, args.output, index=table.has_index, originals=table.originals, dialect=table.dialect,
            encoding=encoding, float_format=args.float_format, filled=missing.to_frame().reindex(columns=out.columns, fill_value=False),
        )
        n_filled = int(missing.sum() - out[response].isna().sum())
        where = "<stdout>" if to_stdout else args.output
        print(f"\nwrote {where} ({len(out)} rows, {n_filled} missing {response!r} predicted)", file=info)
    _write_summary(args.json_summary, result)
    return 0


def _mixed_dask(args: argparse.Namespace, contrasts: dict[str, str] | None) -> int:
    """``imputer mixed`` with ``--scheduler``/``--workers``: the Gram sums on the cluster, EM on the
    client (:func:`imputer.dask.fit_mixed_frame`), OUT a directory of Parquet files."""
    import imputer
    from imputer._cli_dask import check_dask_io, dask_session, write_dask

    check_dask_io(args, "imputer mixed")
    with dask_session(args) as (ddf, client):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", imputer.ImputerWarning)
            result = imputer.fit_mixed_frame(
                ddf, args.formula, contrasts=contrasts, na_action=args.na_action, method=args.method,
                tol=args.tol, max_iter=args.max_iter, accelerate=args.accelerate, client=client,
            )
        _report(caught, result, sys.stdout)
        if args.output is not None:
            response = _response(args.formula)
            write_dask(ddf.assign(**{response: result.completed}), args.output)
            print(f"\nwrote {args.output} ({result.n_rows} rows in {result.n_partitions} Parquet files, "
                  f"{result.n_missing} missing {response!r} predicted)")
    _write_summary(args.json_summary, result)
    return 0


def _response(formula: str) -> str:
    """The response column of ``formula`` (the fit has checked it is one)."""
    return formula.partition("~")[0].strip().strip("`")


def _report(caught: list[warnings.WarningMessage], result: Any, info: Any) -> None:
    """The fit's warnings on standard error (one line each), then its summary on ``info``."""
    for w in caught:
        print(f"imputer: warning: {one_line(str(w.message))}", file=sys.stderr)
    print(result.summary(), file=info)


def _write_summary(path: str | None, result: Any) -> None:
    """``--json-summary``: the estimates (``to_dict()`` without the per-row parts)."""
    if path is None:
        return
    summary = {k: v for k, v in result.to_dict().items() if k not in _PER_ROW_KEYS}
    try:
        Path(path).write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    except OSError as exc:
        raise CliError(f"cannot write {path!r}: {exc.strerror or exc}") from None


def add_mixed_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``mixed`` subcommand to ``sub``; return its parser."""
    mix = sub.add_parser(
        "mixed",
        help="fit a linear mixed model (lme4 formula) to a CSV/Parquet table, predicting missing responses",
        description=(
            "Fit FORMULA, lme4's notation (e.g. 'Reaction ~ Days + (Days | Subject)': fixed part in "
            "Wilkinson notation, bar terms for random intercepts and slopes), by EM-REML (or ML), print "
            "the variance components, fixed effects and log-likelihood, and with -o write the table with "
            "each missing response predicted from the fixed and random effects."
        ),
    )
    add_input_positional(mix)
    mix.add_argument("formula", metavar="FORMULA", help="the model, e.g. 'Reaction ~ Days + (Days | Subject)'")
    mix.add_argument(
        "-o", "--output", metavar="OUT", default=None,
        help="write the table with the missing responses predicted (.csv, .tsv, .parquet, or - for standard output)",
    )
    mix.add_argument("--method", choices=MIXED_OPTIONS["method"].choices, default=MIXED_OPTIONS["method"].default,
                     help=MIXED_OPTIONS["method"].help.replace("%", "%%") + " (default: %(default)s)")
    mix.add_argument("--tol", type=float, default=MIXED_OPTIONS["tol"].default,
                     help=MIXED_OPTIONS["tol"].help.replace("%", "%%") + " (default: %(default)g)")
    mix.add_argument("--max-iter", type=int, default=MIXED_OPTIONS["max_iter"].default,
                     help=MIXED_OPTIONS["max_iter"].help.replace("%", "%%") + " (default: %(default)d)")
    mix.add_argument("--no-accelerate", dest="accelerate", action="store_false",
                     help="turn accelerate off. " + MIXED_OPTIONS["accelerate"].help.replace("%", "%%"))
    mix.add_argument("--na-action", choices=("error", "drop"), default="error",
                     help="a missing value in a fixed-effect or grouping column: an error naming the column, "
                     "or drop the row (default: %(default)s); missing responses are always predicted")
    mix.add_argument("--contrasts", metavar="COL=poly,...", default=None,
                     help="coding of fixed-effect factors: COL=treatment (the default) or COL=poly (R's contr.poly, "
                     "for ordered levels); a column of numbers named here is a factor, its levels ordered by value")
    mix.add_argument("--json-summary", metavar="FILE", default=None,
                     help="also write the estimates as JSON (variance components, fixed effects, BLUPs, "
                     "log-likelihood, convergence)")
    from imputer.cli import _float_format  # the impute subcommand's check of the format

    mix.add_argument("--float-format", type=_float_format, default=None, metavar="FMT",
                     help="printf-style format of the predicted responses in a CSV output (e.g. %%.6g)")
    add_input_options(mix)
    from imputer._cli_dask import add_cluster_options

    add_cluster_options(mix, "the Gram sums of the mixed-model equations are computed partition by partition on a "
                        "Dask cluster, EM runs on them in this process, and OUT is a directory of Parquet files")
    mix.set_defaults(func=_cmd_mixed)
    return mix
