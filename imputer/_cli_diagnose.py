"""``imputer diagnose IN``: look at a table's missingness before imputing it.

Reads ``IN`` as ``imputer impute`` does (:mod:`imputer._cli_args`) and prints, for the
numeric columns (or ``--columns``), the missingness pattern table, the per-column
missing counts and Little's MCAR test at the EM estimate
(:mod:`imputer.diagnostics._overview`): readable text by default, or with ``--json`` one
JSON object (``Overview.to_dict()`` plus ``input``). When the MCAR test cannot be run (a
column with no observed value, as many rows as columns, ...) the patterns are still
printed and the reason is given; the exit status is then still 0. ``--report FILE.html``
also writes the one-file HTML report (:mod:`imputer._cli_report`).

The subcommand is declared by :func:`add_diagnose_parser` (called by
:func:`imputer.cli.build_parser`); an option is one more ``add_argument`` there and its
handling one more step in :func:`_cmd_diagnose`.
"""

from __future__ import annotations

import argparse
import json
import sys

from imputer._cli_args import add_input_options, add_input_positional, column_list, read_input
from imputer._cli_base import STDIO
from imputer._cli_report import add_report_option, check_report_path, write_cli_report

__all__ = ["add_diagnose_parser"]


def _cmd_diagnose(args: argparse.Namespace) -> int:
    from imputer.diagnostics._overview import overview

    columns = column_list(args.columns, "--columns")
    report = check_report_path(args.report)
    table, _ = read_input(args, columns)
    result = overview(table.frame, columns)
    if args.json:
        out = {"input": "<stdin>" if args.input == STDIO else args.input, **result.to_dict()}
        print(json.dumps(out, indent=2, allow_nan=False))
    else:
        print(result.summary())
    if report is not None:
        sys.stdout.flush()
        write_cli_report(args, report, table.frame, columns, result)
    return 0


def add_diagnose_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``diagnose`` subcommand to ``sub``; return its parser."""
    diag = sub.add_parser(
        "diagnose",
        help="missingness patterns and Little's MCAR test of a CSV/Parquet table",
        description=(
            "Print the missingness pattern table (one row per combination of observed and "
            "missing numeric columns, most frequent first, as mice's md.pattern), the missing "
            "cells of each column, and Little's (1988) chi-square test of missing completely at "
            "random at the maximum-likelihood (EM) estimate. A small p-value says the data are "
            "not MCAR; a large one does not show that they are, and no test can tell missing at "
            "random from missing not at random."
        ),
    )
    add_input_positional(diag)
    diag.add_argument(
        "--columns", metavar="A,B,...",
        help="comma-separated names of the numeric columns to look at (default: every numeric column)",
    )
    diag.add_argument(
        "--json", action="store_true",
        help="print the numbers as one JSON object (patterns, per-column missingness, MCAR test) "
        "instead of text",
    )
    add_report_option(diag)
    add_input_options(diag, output_note=False)
    diag.set_defaults(func=_cmd_diagnose)
    return diag
