"""``imputer impute --categorical COL[,COL] --continuous COL[,COL] --means MODEL --probabilities MODEL``:
the command line's spelling of ``impute(categorical=..., continuous=..., means=..., probabilities=...)``
(the general location model, :func:`imputer.impute_glom`).

``--categorical auto`` applies the library's automatic rule (columns of two distinct
numbers; a CSV has no ``category`` or boolean dtype); ``--categorical sex,region`` lists
the columns. A listed column of text is read as text (the reader applies missing-value
markers to the columns of numbers only), so its empty cells, and cells equal to a
``--na-values`` marker, are its missing cells; any other text is a level. Only with
``--model normal`` (a usage error, status 2, otherwise); with ``-m M`` the imputations are
drawn by the bootstrap, or with ``--method posterior`` by data augmentation
(``multiple_impute(categorical=...)``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from imputer._cli_args import column_list
from imputer._cli_base import CliError

__all__ = ["add_glom_options", "categorical_missing", "glom_options"]


def add_glom_options(parser: argparse.ArgumentParser) -> None:
    """``--categorical``, ``--continuous``, ``--means`` and ``--probabilities`` on ``parser``."""
    parser.add_argument(
        "--categorical", metavar="COL[,COL]", default=None,
        help="model these columns as categorical by the general location model (cells of their levels, the "
        "numeric columns normal given the cell): a missing category is filled with its most probable level; "
        "'auto' takes the columns of two distinct numbers (0/1 answers). Text columns count only when listed",
    )
    parser.add_argument(
        "--continuous", metavar="COL[,COL]", default=None,
        help="with --categorical: numeric columns kept continuous whatever the automatic rule says (a two-valued "
        "measurement)",
    )
    parser.add_argument(
        "--means", choices=("auto", "saturated", "additive"), default=None,
        help="with --categorical: one mean per cell (saturated) or main effects of each categorical column "
        "(additive); auto: saturated when every cell holds p + 1 rows with their categories observed",
    )
    parser.add_argument(
        "--probabilities", choices=("saturated", "pairwise"), default=None,
        help="with --categorical: the cell probabilities, one per cell (saturated, the default) or log-linear "
        "with main effects and pairwise associations of the categorical columns (pairwise)",
    )


def glom_options(args: argparse.Namespace) -> dict[str, Any]:
    """``{"categorical": ..., "continuous": ..., "means": ..., "probabilities": ...}`` for :func:`imputer.impute` (empty without ``--categorical``)."""
    if args.categorical is None:
        for flag, value in (("--means", args.means), ("--probabilities", args.probabilities),
                            ("--continuous", args.continuous)):
            if value is not None:
                raise CliError(f"{flag} applies with --categorical only", status=2)
        return {}
    if args.model != "normal" or args.transform or getattr(args, "log", None) or args.bounds:
        raise CliError("--categorical applies with --model normal only (no --transform, --log, --bounds)", status=2)
    if args.m is not None and args.method != "posterior" and (args.burn_in is not None or args.thin is not None):
        raise CliError("--categorical with -m: --burn-in and --thin apply to --method posterior only (the default "
                       "with --categorical is --method bootstrap)", status=2)
    text = args.categorical.strip()
    cats: Any = "auto" if text == "auto" else column_list(text, "--categorical")
    out = {"categorical": cats, "means": args.means or "auto", "probabilities": args.probabilities or "saturated"}
    if args.continuous is not None:
        out["continuous"] = column_list(args.continuous.strip(), "--continuous")
    return out


def categorical_missing(frame: Any, categorical: Any, na_values: Sequence[str]) -> Any:
    """:func:`imputer.glom._text.categorical_missing` (imported on call: the parser needs no pandas)."""
    from imputer.glom._text import categorical_missing as convert

    return convert(frame, categorical, na_values)
