"""``imputer impute --transform COL=SPEC --bounds COL=LO:HI``: the command line's spelling of
``impute(transforms=..., bounds=...)``.

* ``--transform income=log``, ``--transform count=sqrt``, ``--transform share=logit`` (range
  0 to 1) or ``--transform share=logit:0:100``; ``--log income,gdp`` (Amelia's ``logs``) is
  ``--transform COL=log`` for each column;
* ``--bounds wind=0:`` (no upper bound), ``--bounds x=:10``, ``--bounds x=0:10``.

Each may be repeated, one column each. A malformed value is a usage error (status 2)
naming the flag and the value; the checks against the data are the library's.

Panels and identifiers, in Amelia's words (``impute(panel=..., idvars=...)``, also with ``-m``):
``--ts year --cs country --polytime 2 --intercs --lags gdp --leads gdp --idvars code``;
``--integer COL`` (with ``-m`` only) rounds the drawn cells of COL. List flags take
comma-separated columns and may be repeated.
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
        "--log", action="append", default=None, metavar="COL[,COL]",
        help="model these columns on the log scale (Amelia's logs): --transform COL=log for each",
    )
    parser.add_argument(
        "--bounds", action="append", default=None, metavar="COL=LO:HI",
        help="keep the fills of COL within [LO, HI] (either may be empty: 0: is 'at least 0') by truncating "
        "its conditional distribution (repeat for more columns; --model normal)",
    )
    group = parser.add_argument_group("panels (time-series cross-sections, Amelia's ts/cs)")
    group.add_argument("--ts", default=None, metavar="COL", help="the time column (fully observed, numeric); not modelled")
    group.add_argument("--cs", default=None, metavar="COL", help="the unit (cross-section) column; not modelled")
    group.add_argument("--polytime", type=int, default=None, metavar="K",
                       help="add time polynomials of degree K (0-3) to the model (needs --ts)")
    group.add_argument("--intercs", action="store_true", default=False,
                       help="a time trend per unit (needs --cs)")
    group.add_argument("--lags", action="append", default=None, metavar="COLS",
                       help="add each unit's previous value of these columns to the model (needs --ts)")
    group.add_argument("--leads", action="append", default=None, metavar="COLS",
                       help="add each unit's next value of these columns to the model (needs --ts)")
    group.add_argument("--idvars", action="append", default=None, metavar="COLS",
                       help="columns carried through unmodelled and untouched")
    group.add_argument("--integer", action="append", default=None, metavar="COLS",
                       help="with -m: round the drawn cells of these columns (the draw, not the mean)")


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
    """``{"transforms", "bounds", "panel", "idvars", "integer"}`` for :func:`imputer.impute` /
    :func:`imputer.multiple_impute` (only those given)."""
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
    for column in _columns(args.log):
        if column in out.get("transforms", {}):
            raise CliError(f"--log {column}: the column has a --transform too; give it once", status=2)
        out.setdefault("transforms", {})[column] = "log"
    if args.bounds:
        bounds: dict[str, Any] = {}
        for text in args.bounds:
            column, spec = _pair(text, "--bounds")
            parts = spec.split(":")
            if len(parts) != 2:
                raise CliError(f"--bounds {text!r}: expected COL=LO:HI (either may be empty)", status=2)
            bounds[column] = tuple(_number(x, "--bounds", text) for x in parts)
        out["bounds"] = bounds
    out.update(_panel_options(args))
    if out and args.model != "normal":
        flag = next(f for k, f in _FLAGS.items() if k in out)
        raise CliError(f"{flag} applies to --model normal only", status=2)
    return out


_FLAGS = {"transforms": "--transform", "bounds": "--bounds", "panel": "--ts", "idvars": "--idvars", "integer": "--integer"}


def _columns(values: list[str] | None) -> list[str]:
    return [c.strip() for text in values or () for c in text.split(",") if c.strip()]


def _panel_options(args: argparse.Namespace) -> dict[str, Any]:
    """``panel``, ``idvars`` and ``integer`` from the Amelia-style flags (only those given)."""
    out: dict[str, Any] = {}
    lags, leads = _columns(args.lags), _columns(args.leads)
    if args.ts is None:
        for flag, given in (("--cs", args.cs), ("--polytime", args.polytime), ("--intercs", args.intercs or None),
                            ("--lags", lags or None), ("--leads", leads or None)):
            if given is not None:
                raise CliError(f"{flag} needs --ts (the time column)", status=2)
    else:
        panel: dict[str, Any] = {"time": args.ts, "polytime": 0 if args.polytime is None else args.polytime,
                                 "intercs": bool(args.intercs), "lags": lags, "leads": leads}
        if args.cs is not None:
            panel["unit"] = args.cs
        out["panel"] = panel
    if args.idvars:
        out["idvars"] = _columns(args.idvars)
    if args.integer:
        if args.m is None:
            raise CliError("--integer applies to multiple imputation (-m M): it rounds drawn cells", status=2)
        out["integer"] = _columns(args.integer)
    return out
