"""``imputer impute -m M``: multiple imputation from the command line.

With ``-m M`` the ``impute`` subcommand calls :func:`imputer.multiple_impute` instead of
:func:`imputer.impute` and writes either

* the *long* table (mice's convention, :meth:`MultipleImputation.long`): columns
  ``.imp`` (``1..M``) and ``.id`` (the row label) first, then the data, ``M * n`` rows; or
* one table per imputation when ``-o`` contains ``{imp}`` (``out_{imp}.csv`` ->
  ``out_1.csv`` ... ``out_M.csv``), each exactly as a single imputation is written (the
  input's index when it had one). All files are written to a temporary directory beside
  the target and then renamed, so a failure leaves none of them behind.

The options ``-m``, ``--method``, ``--seed``, ``--burn-in`` and ``--thin`` come from
:data:`imputer.options.MI_OPTIONS`; the others (``--columns``, ``--tol``, ...) are the
single imputation's. ``--method``, ``--seed``, ``--burn-in``, ``--thin`` and ``{imp}``
without ``-m`` are usage errors (status 2): without ``-m`` the command is unchanged.
With ``--model t`` or ``--model mixture`` (and their options) the imputations are drawn
under that model, by the bootstrap (:func:`imputer.multiple_impute`'s ``model``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import string
import tempfile
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

from imputer._cli_base import STDIO, CliError, _format
from imputer.options import MI_OPTIONS

if TYPE_CHECKING:
    import numpy as np

    from imputer._cli_io import Table

__all__ = ["MI_FLAGS", "add_mi_options", "check_mi_usage", "mi_summary_dict", "model_mi_options", "write_mi"]

#: options of MI_OPTIONS added by this module (the others are the single imputation's)
MI_FLAGS = ("m", "method", "seed", "burn_in", "thin")
#: the placeholder of -o for one file per imputation
PLACEHOLDER = "{imp}"


def add_mi_options(parser: argparse.ArgumentParser) -> None:
    """Add ``-m``, ``--method``, ``--seed``, ``--burn-in`` and ``--thin`` (help from MI_OPTIONS).

    Every default is None (not given); the engine's defaults apply when ``-m`` is given.
    """
    group = parser.add_argument_group(
        "multiple imputation", "draw M completed tables instead of filling conditional means "
        "(imputer.multiple_impute); the other options apply to its EM fit"
    )
    m = MI_OPTIONS["m"]
    group.add_argument(
        "-m", "--m", dest="m", type=int, metavar="M", default=None,
        help=f"{m.help} Writes the long table (.imp, .id, then the data), or one file per "
        f"imputation when -o contains {PLACEHOLDER} (e.g. out_{PLACEHOLDER}.csv). Without -m: one "
        "table of conditional means.",
    )
    method = MI_OPTIONS["method"]
    group.add_argument(
        "--method", choices=list(method.choices), default=None,
        help=f"{method.help} (default: {method.default}; needs -m)",
    )
    group.add_argument(
        "--seed", type=int, metavar="INT", default=None,
        help=MI_OPTIONS["seed"].help.replace(" (an integer, or a numpy Generator)", " (an integer >= 0)")
        + " (needs -m; with --model mixture it seeds the starts instead)",
    )
    for name in ("burn_in", "thin"):
        option = MI_OPTIONS[name]
        group.add_argument(
            "--" + name.replace("_", "-"), dest=name, type=int, metavar="N", default=None,
            help=f"{option.help} (needs -m)".replace("%", "%%"),
        )


def _pattern_error(output: str, why: str) -> CliError:
    return CliError(f"-o {output!r}: {why}", status=2)


def check_mi_usage(args: argparse.Namespace) -> None:
    """Usage errors (status 2): MI options without ``-m``; a bad ``{imp}`` pattern in ``-o``.

    The pattern must hold ``{imp}`` exactly once and no other brace, must not be ``-``,
    and must name a known format once filled in.
    """
    output = args.output
    braces = "{" in output or "}" in output
    if args.m is None:
        # --seed also seeds the starts of --model mixture
        own = [n for n in MI_FLAGS[1:] if not (n == "seed" and getattr(args, "model", None) == "mixture")]
        given = [f"--{n.replace('_', '-')}" for n in own if getattr(args, n) is not None]
        if given:
            raise CliError(f"{', '.join(given)} applies to multiple imputation: give -m M", status=2)
        if PLACEHOLDER in output:
            raise _pattern_error(output, f"{PLACEHOLDER} (one file per imputation) needs -m M")
        return
    if not braces:
        return
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(output) if f is not None]
    except ValueError as exc:
        raise _pattern_error(output, f"unbalanced braces ({exc}); the only placeholder is {PLACEHOLDER}") from None
    if fields != ["imp"]:
        shown = ", ".join("{" + f + "}" for f in fields if f != "imp") or "repeated " + PLACEHOLDER
        raise _pattern_error(
            output, f"{shown}: the only placeholder is {PLACEHOLDER}, once (the imputation number 1..M)"
        )
    name = output.replace(PLACEHOLDER, "1")
    if PLACEHOLDER in str(Path(output).parent):
        raise _pattern_error(output, f"{PLACEHOLDER} must be in the file name, not the directory")
    _format(Path(name), "output")
    if not Path(output).parent.is_dir():
        raise CliError(f"-o {output!r}: directory {str(Path(output).parent)!r} does not exist")


def _tiled(originals: Mapping[Hashable, np.ndarray], m: int) -> dict[Hashable, np.ndarray]:
    """The original cell texts of passed-through columns, repeated for the m stacked tables."""
    import numpy as np

    return {label: np.tile(np.asarray(cells, dtype=object), m) for label, cells in originals.items()}


def write_mi(mi: Any, output: str, table: Table, encoding: str) -> str:
    """Write the imputations of ``mi`` to ``output`` (long table or one file per imputation).

    Returns
    -------
    str
        What was written, for the closing line (``<stdout>``, the file, or the pattern).
    """
    from imputer._cli_io import write_table

    if PLACEHOLDER not in output:
        write_table(
            mi.long(), output, index=False, originals=_tiled(table.originals, mi.m),
            dialect=table.dialect, encoding=encoding,
        )
        return "<stdout>" if output == STDIO else output
    target = Path(output).parent
    try:
        tmp = Path(tempfile.mkdtemp(prefix=".imputer-", dir=target))
    except OSError as exc:
        raise CliError(f"cannot write {output!r} (no file written): {exc.strerror or exc}") from None
    names = [output.replace(PLACEHOLDER, str(j)) for j in range(1, mi.m + 1)]
    placed: list[str] = []
    try:
        staged = []
        for name, frame in zip(names, mi.imputations):
            path = tmp / Path(name).name
            write_table(
                frame, str(path), index=table.has_index, originals=table.originals,
                dialect=table.dialect, encoding=encoding,
            )
            staged.append((path, name))
        for path, name in staged:
            os.replace(path, name)
            placed.append(name)
    except (OSError, CliError) as exc:
        for name in placed:  # a rename failed half-way: take back those already in place
            try:
                os.remove(name)
            except OSError:
                pass
        why = str(exc) if isinstance(exc, CliError) else (exc.strerror or str(exc))
        raise CliError(f"cannot write {output!r} (no file written): {why}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return f"{names[0]} ... {names[-1]}" if len(names) > 1 else names[0]


def mi_summary_dict(mi: Any) -> dict[str, Any]:
    """``mi.to_dict()`` without the tables: the EM estimates with their standard errors.

    The long table is left out, and ``em`` is ``ImputeResult.to_dict(standard_errors=True)``
    (for ``--model t``/``mixture``: that fit's ``to_dict()`` without its per-row parts:
    responsibilities, labels, row weights) without ``completed``; above :data:`~imputer.mvn._information.MAX_PARAMETERS`
    parameters (``p > 89``) the standard-error keys are None (as in the service's answer).
    """
    from imputer._gaussian.information import n_parameters
    from imputer.mvn._information import MAX_PARAMETERS

    out = mi.to_dict()
    del out["long"]
    if mi.model != "normal":  # the t's or the mixture's fit, without its per-row parts
        em_model = mi.em.to_dict()
        for key in ("completed", "conditional_var", "responsibilities", "labels", "row_weights"):
            em_model.pop(key, None)
        out["em"] = em_model
        return out
    with_se = n_parameters(len(mi.em.columns)) <= MAX_PARAMETERS
    em = mi.em.to_dict(standard_errors=with_se)
    del em["completed"]
    if not with_se:
        em.update(dict.fromkeys(("vcov", "se_mean", "se_cov", "fraction_missing_info", "worst_fraction_missing_info")))
    out["em"] = em
    return out


def model_mi_options(args: argparse.Namespace) -> dict[str, Any]:
    """:func:`imputer.multiple_impute`'s ``model`` keywords from ``--model`` and its options.

    ``--seed`` is the imputations' seed with ``-m`` (the mixture's starts are seeded from it).
    """
    model = getattr(args, "model", "normal")
    if model == "normal":
        return {}
    out: dict[str, Any] = {"model": model}
    names = {"t": (("dof", "dof"),), "mixture": (("components", "n_components"), ("covariance_type", "covariance_type"), ("n_init", "n_init"))}
    for dest, name in names[model]:
        if getattr(args, dest, None) is not None:
            out[name] = getattr(args, dest)
    return out


def write_json(mi: Any, path: str) -> None:
    """Write :func:`mi_summary_dict` as JSON to ``path``."""
    out = Path(path)
    try:
        out.write_text(json.dumps(mi_summary_dict(mi), indent=2, allow_nan=False) + "\n")
    except OSError as exc:
        raise CliError(f"cannot write {str(out)!r}: {exc.strerror or exc}") from None
