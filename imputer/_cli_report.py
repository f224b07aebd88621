"""``imputer diagnose IN --report FILE.html``: the one-file HTML report from the command line.

The report (:mod:`imputer.diagnostics.report`) is written after the text or JSON output
of ``diagnose``, from the same table and the same patterns and MCAR test. The command
line it prints is the one that was run (``imputer`` and the arguments, shell-quoted).
The output name is checked before any work: it must end in ``.html`` or ``.htm`` (so a
data file is never overwritten by mistake) and its folder must exist (status 2
otherwise); a file that cannot be written is status 1. The "wrote" line goes to standard
error, so ``--json`` output on standard output stays pure JSON.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

from imputer._cli_base import STDIO, CliError

__all__ = ["add_report_option", "check_report_path", "write_cli_report"]


def add_report_option(parser: argparse.ArgumentParser) -> None:
    """Declare ``--report FILE.html`` on ``parser``."""
    parser.add_argument(
        "--report", metavar="FILE.html",
        help="also write one self-contained HTML file (pattern table and picture, MCAR test, estimates "
        "with standard errors when available, observed vs imputed densities, overimputation, convergence "
        "trace, the command and library version); figures need matplotlib (pip install 'imputer[plot]')",
    )


def check_report_path(text: str | None) -> Path | None:
    """The report's path, or a usage error (status 2) before any work is done."""
    if text is None:
        return None
    path = Path(text)
    if path.suffix.lower() not in (".html", ".htm"):
        raise CliError(f"--report {text!r}: the report is an HTML file; give a name ending in .html", status=2)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise CliError(f"--report {text!r}: folder {str(folder)!r} does not exist", status=2)
    return path


def command_line(args: argparse.Namespace) -> str:
    """The command that was run: ``imputer`` and its arguments, shell-quoted."""
    argv = getattr(args, "argv", None)
    if argv is None:
        argv = sys.argv[1:]
    return shlex.join(["imputer", *map(str, argv)])


def write_cli_report(args: argparse.Namespace, path: Path, frame: Any, columns: Sequence[Hashable] | None,
                     overview: Any) -> None:
    """Write the report of ``frame`` to ``path``; say so on standard error."""
    from imputer.diagnostics.report import html_report

    source = "<stdin>" if args.input == STDIO else Path(args.input).name
    report = html_report(frame, columns=columns, command=command_line(args), source=source, overview=overview)
    try:
        path.write_text(report.html, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"--report {str(path)!r}: cannot write the report: {exc.strerror or exc}") from None
    figures = f"{report.n_figures} figure{'s' if report.n_figures != 1 else ''}"
    left_out = [n for n in report.notes if ": not available:" in n]
    more = f"; {len(left_out)} part{'s' if len(left_out) != 1 else ''} not available (see its notes)" if left_out else ""
    print(f"imputer: wrote report {str(path)!r} ({figures}{more})", file=sys.stderr)
