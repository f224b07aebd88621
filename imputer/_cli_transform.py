"""``imputer impute --transform COL=SPEC --bounds COL=LO:HI``: the command line's spelling of
``impute(transforms=..., bounds=...)``.

* ``--transform income=log``, ``--transform count=sqrt``, ``--transform share=logit`` (range
  0 to 1) or ``--transform share=logit:0:100``;
* ``--bounds wind=0:`` (no upper bound), ``--bounds x=:10``, ``--bounds x=0:10``.

Each may be repeated, one column each. A malformed value is a usage error (status 2)
naming the flag and the value; the checks against the data are the library's.
"""

from __future__ import annotations

import argparse
from typing import Any

from imputer._cli_base import CliError

__all__ = ["add_transform_options", "transform_options"]


def add_transform_options(parser: argparse.ArgumentParser) -> None:
    """``--transform`` and ``--bounds`` on ``parser``."""
    parser.add_argument(
        "--transform", action="append", default=None, metavar="COL=SPEC",
        help="model COL on another scale: log, sqrt, logit (range 0-1) or logit:LO:HI; filled cells are "
        "conditional expectations on the original scale (repeat for more columns; --model normal)",
    )
    parser.add_argument(
        "--bounds", action="append", default=None, metavar="COL=LO:HI",
        help="keep the fills of COL within [LO, HI] (either may be empty: 0: is 'at least 0') by truncating "
        "its conditional distribution (repeat for more columns; --model normal)",
    )


def _pair(text: str, flag: str) -> tuple[str, str]:
    column, sep, spec = text.rpartition("=")
    if not sep or not column or not spec:
        raise CliError(f"{flag} {text!r}: expected COL=SPEC", status=2)
    return column, spec


def _number(text: str, flag: str, whole: str) -> float | None:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise CliError(f"{flag} {whole!r}: {text!r} is not a number", status=2) from None


def transform_options(args: argparse.Namespace) -> dict[str, Any]:
    """``{"transforms": ..., "bounds": ...}`` for :func:`imputer.impute` (only those given)."""
    out: dict[str, Any] = {}
    if args.transform:
        transforms: dict[str, Any] = {}
        for text in args.transform:
            column, spec = _pair(text, "--transform")
            kind, *rng = spec.split(":")
            if kind == "logit" and len(rng) == 2:
                lo, hi = (_number(x, "--transform", text) for x in rng)
                if lo is None or hi is None:
                    raise CliError(f"--transform {text!r}: logit:LO:HI needs both ends", status=2)
                transforms[column] = ("logit", lo, hi)
            elif not rng and kind in ("log", "sqrt", "logit"):
                transforms[column] = kind
            else:
                raise CliError(f"--transform {text!r}: expected log, sqrt, logit or logit:LO:HI", status=2)
        out["transforms"] = transforms
    if args.bounds:
        bounds: dict[str, Any] = {}
        for text in args.bounds:
            column, spec = _pair(text, "--bounds")
            parts = spec.split(":")
            if len(parts) != 2:
                raise CliError(f"--bounds {text!r}: expected COL=LO:HI (either may be empty)", status=2)
            bounds[column] = tuple(_number(x, "--bounds", text) for x in parts)
        out["bounds"] = bounds
    if out and (args.model != "normal" or args.m is not None):
        flag = "--transform" if "transforms" in out else "--bounds"
        raise CliError(f"{flag} applies to a single imputation with --model normal", status=2)
    return out
