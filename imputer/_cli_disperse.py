"""``imputer disperse IN``: EM from overdispersed starts, to see whether the maximum it finds is unique.

Reads ``IN`` as ``imputer impute`` does (:mod:`imputer._cli_args`), runs the
multivariate-normal EM fit of its numeric columns (or ``--columns``) from the engine's own
start and from ``--starts - 1`` overdispersed ones (:func:`imputer.disperse`, Amelia's
``disperse``) and prints where the runs ended: readable text by default
(``Dispersion.summary()``: the verdict, then one line per run), or with ``--json`` one JSON
object (``Dispersion.to_dict()`` plus ``input``). ``--plot FILE`` (``.png``, ``.svg`` or
``.pdf``) also saves :func:`imputer.plot.disperse` of the result. The options are
:data:`imputer.options.DISPERSE_OPTIONS` (flags, defaults and help from the table; the
EM options spelled as for ``imputer impute``). Warnings (runs that did not converge) go to
standard error as ``imputer: warning: ...``.

Exit status: 0 when the runs were made, whether they agree or not (several end points are
a finding, read from the verdict or ``unique``/``n_points`` in the JSON, not a failure);
1 for unusable input or an option value the engine refuses (the reason, naming the option
or column, on one line to standard error); 2 for usage errors, as every subcommand.

The subcommand is declared by :func:`add_disperse_parser` (called by
:func:`imputer.cli.build_parser`).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

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
from imputer._cli_base import STDIO, CliError
from imputer.options import DISPERSE_OPTIONS

__all__ = ["PLOT_SUFFIXES", "add_disperse_parser"]

#: the figure formats of ``--plot`` (by the file's suffix)
PLOT_SUFFIXES = (".png", ".svg", ".pdf")

_EXIT_STATUS = (
    "Exit status: 0 when the runs were made, whether they reached one point or several (read the "
    "verdict, or unique and n_points with --json); 1 for unusable input or an option value out of "
    "range; 2 for usage errors."
)


def _plot_path(text: str | None) -> Path | None:
    """``--plot FILE``: a ``.png``, ``.svg`` or ``.pdf`` path (else a usage error) in an existing
    directory (else status 1), both checked before the fit."""
    if text is None:
        return None
    path = Path(text)
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise CliError(f"--plot {text!r}: unknown figure format; use a file name ending in "
                       f"{', '.join(PLOT_SUFFIXES[:-1])} or {PLOT_SUFFIXES[-1]}", status=2)
    if not path.parent.is_dir():
        raise CliError(f"--plot {text!r}: no directory {str(path.parent)!r} to write the figure in")
    return path


def _save_plot(result: Any, path: Path) -> None:
    """Save :func:`imputer.plot.disperse` of ``result`` to ``path`` (format by suffix)."""
    from imputer.plot import disperse as plot_disperse

    fig = plot_disperse(result)
    try:
        fig.savefig(path)
    except OSError as exc:
        raise CliError(f"--plot {str(path)!r}: cannot write: {exc.strerror or exc}") from None


def _cmd_disperse(args: argparse.Namespace) -> int:
    import imputer

    columns = column_list(args.columns, "--columns")
    plot = _plot_path(args.plot)
    table, _ = read_input(args, columns)
    options = {name: getattr(args, name) for name in DISPERSE_OPTIONS if name != "columns"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", imputer.ImputerWarning)
        result = imputer.disperse(table.frame, columns, **options, **monitor_options(args), n_jobs=args.jobs)
    for w in caught:
        print(f"imputer: warning: {one_line(str(w.message))}", file=sys.stderr)
    if args.json:
        out = {"input": "<stdin>" if args.input == STDIO else args.input, **result.to_dict()}
        print(json.dumps(out, indent=2, allow_nan=False))
    else:
        print(result.summary())
    if plot is not None:
        sys.stdout.flush()
        _save_plot(result, plot)
    return 0


def _jobs(text: str) -> int:
    """``--jobs``: a positive integer or -1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or -1, got {text!r}") from None
    if value < 1 and value != -1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or -1, got {value}")
    return value


def add_disperse_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``disperse`` subcommand to ``sub``; return its parser."""
    disp = sub.add_parser(
        "disperse",
        help="EM from overdispersed starts: is the maximum EM finds unique?",
        description=(
            "Fit the multivariate normal of the numeric columns (or those given with --columns) by EM "
            "from the engine's own starting values and from --starts - 1 overdispersed ones (drawn "
            "around those starting values, or with --around estimate around the first run's estimate "
            "as Amelia's disperse), and print where each run ended: its "
            "objective, its gap to the best run, its distance from the best estimate in standard-"
            "deviation units, and which distinct end point it reached. Several end points mean "
            "several local maxima (or a saddle point where a run stayed): the estimate of "
            "imputer impute depends on where EM starts."
        ),
        epilog=_EXIT_STATUS,
    )
    add_input_positional(disp)
    for option in DISPERSE_OPTIONS.values():
        if option.name == "seed":
            disp.add_argument(
                "--seed", type=int, metavar="INT", default=option.default,
                help=option.help.replace("%", "%%"),
            )
        else:
            add_option(disp, option)
    disp.add_argument(
        "--json", action="store_true",
        help="print the runs, the end points and the best estimate as one JSON object instead of text",
    )
    disp.add_argument(
        "--plot", metavar="FILE",
        help="also save the figure of the runs (imputer.plot.disperse) to FILE, format by suffix: "
        ".png, .svg or .pdf (needs matplotlib: pip install 'imputer[plot]')",
    )
    disp.add_argument(
        "--jobs", type=_jobs, metavar="N", default=1,
        help="runs at once, each in its own process (-1: one per CPU); the same result as one at a time, "
        "--progress then counts finished runs (default: 1)",
    )
    add_monitor_options(disp, "stop after SECONDS for all the runs together: the run under way stops at its next "
                        "iterate and each later one at its first (not converged, point 0), with a warning; "
                        "default: no limit")
    add_input_options(disp, output_note=False)
    disp.set_defaults(func=_cmd_disperse)
    return disp
