"""One self-contained HTML file to look at before trusting an imputation.

The job: for one table, put together what a user of mice, naniar and Amelia looks at --
the missingness (per column, the pattern table and its picture), Little's MCAR test,
the EM estimates with their standard errors when the fit provides them, observed against
imputed distributions, overimputation with its coverage, the convergence trace -- and
the exact command and library version that produced it, as one HTML document with
every figure inlined as PNG data and no scripts or external resources
(:mod:`imputer.diagnostics._html`).

Each part that cannot be computed says why in its place (no missing cell, the MCAR test
or the fit refused by the data, matplotlib absent) instead of failing the whole report;
only a table with no numeric column to look at is an error. Warnings (e.g. EM not
converging) are listed. Every user-supplied string is escaped.
"""

from __future__ import annotations

import datetime as _dt
import platform
import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imputer.diagnostics._html import esc, fields, figure, number, page, table
from imputer.diagnostics._overview import Overview
from imputer.diagnostics._overview import overview as compute_overview
from imputer.diagnostics.mcar import MCARTest
from imputer.diagnostics.patterns import PatternTable
from imputer.errors import ImputerError

__all__ = ["Report", "html_report", "write_report", "SHOW_PATTERNS"]

#: patterns listed and drawn (the most frequent); the report says how many more
SHOW_PATTERNS = 50
#: columns up to which the correlation matrix is printed
_SHOW_CORR = 20
#: incomplete columns drawn in the per-column figures (those with the most missing cells)
SHOW_PANELS = 12


@dataclass(frozen=True)
class Report:
    """What went into a report: the numbers, and the HTML text.

    Attributes
    ----------
    html : str
        The document.
    patterns : PatternTable
    mcar : MCARTest or None
        None when the test could not be run (``notes`` says why).
    fit : ImputeResult or None
        The EM fit behind the estimates and figures; None when it could not be made.
    n_figures : int
        Figures inlined.
    notes : tuple of str
        Parts left out and why, and the warnings raised, one line each.
    """

    html: str
    patterns: PatternTable
    mcar: MCARTest | None
    fit: Any
    n_figures: int
    notes: tuple[str, ...]


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


class _Collector:
    """Notes and warnings gathered while the report is built."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def run(self, what: str, func: Any, *args: Any, **kwargs: Any) -> tuple[Any, str | None]:
        """``func(*args, **kwargs)``, or None and the reason (an :class:`ImputerError`)."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value, error = func(*args, **kwargs), None
            except ImputerError as exc:
                value, error = None, _one_line(exc)
                self.notes.append(f"{what}: not available: {error}")
        for w in caught:
            self.notes.append(f"{what}: warning: {_one_line(w.message)}")
        return value, error


def _note(text: str, kind: str = "note") -> str:
    return f'<p class="{kind}">{esc(text)}</p>'


def _pattern_section(pt: PatternTable, top: int) -> str:
    miss = pt.n_missing_cells
    summary = fields([
        ("rows", number(pt.n_rows)),
        ("numeric columns looked at", number(len(pt.columns))),
        ("missing cells", f"{miss:,} of {pt.n_cells:,} ({100.0 * miss / max(pt.n_cells, 1):.1f}%)"),
        ("complete rows", f"{pt.n_complete_rows:,} of {pt.n_rows:,}"),
        ("missingness patterns", number(pt.n_patterns)),
    ])
    parts = [summary]
    if miss == 0:
        parts.append(_note("No missing cells: every numeric cell is observed, so there is nothing to impute. "
                           "The estimates below are the complete-data mean and covariance.", "ok"))
    per_col = pd.DataFrame({
        "missing": pt.column_missing.to_numpy(),
        "% missing": (100.0 * pt.column_missing_share.to_numpy()).round(1),
    }, index=pd.Index(list(pt.columns), tupleize_cols=False))
    parts += ["<h3>Missing cells per column</h3>", table(per_col, index_name="column")]
    p = len(pt.columns)
    shown = pt.table.iloc[:top]

    def cell(_: Any, col: Any, value: Any) -> tuple[str, str]:
        del col
        return ("obs", "1") if int(value) == 1 else ("mis", "0")

    body = shown.iloc[:, :p].copy()
    body.columns = pd.Index(list(pt.columns), tupleize_cols=False)
    counts = pd.DataFrame({"rows": shown.iloc[:, -2].to_numpy(), "missing cells": shown.iloc[:, -1].to_numpy()},
                          index=shown.index)
    parts.append("<h3>Patterns (1 observed, 0 missing; most frequent first)</h3>")
    parts.append('<div class="scroll" style="display:flex;gap:0.5rem;align-items:flex-start">'
                 + table(body, index_name="pattern", cell=cell) + table(counts, index_name="pattern") + "</div>")
    if pt.n_patterns > len(shown):
        rest = int(pt.table.iloc[len(shown):, -2].sum())
        parts.append(_note(f"The {len(shown)} most frequent patterns are shown; {pt.n_patterns - len(shown):,} more "
                           f"patterns ({rest:,} rows) are not."))
    return "".join(parts)


def _mcar_section(mcar: MCARTest | None, error: str | None) -> str:
    if mcar is None:
        return _note(f"Little's MCAR test could not be run: {error}")
    if not mcar.testable:
        verdict = ("Nothing to test (0 degrees of freedom: a single pattern, or patterns that share no "
                   "observed column).")
    elif mcar.p_value < 0.05:
        verdict = ("MCAR is rejected at the 5% level: whether a cell is missing is related to the values. "
                   "Imputation under MAR (which EM assumes) may still be right; the test cannot tell MAR from MNAR.")
    else:
        verdict = ("No evidence against MCAR at the 5% level. This does not show the data are MCAR (the test has "
                   "little power in small samples), and no test can confirm MAR.")
    items = [
        ("chi-square statistic", number(mcar.statistic, 8)),
        ("degrees of freedom", number(mcar.df)),
        ("p-value", number(mcar.p_value, 4)),
        ("patterns used", number(mcar.n_patterns)),
        ("rows left out (nothing observed)", number(mcar.n_rows_excluded)),
        ("EM estimate", f"{'converged' if mcar.converged else 'not converged'} in {mcar.n_iter} iterations "
                        f"(tol {number(mcar.tol)})"),
    ]
    return fields(items) + f"<p>{esc(verdict)}</p>"


def _standard_errors(fit: Any, col: _Collector) -> pd.Series | None:
    """``fit.se_mean`` when the result has it (and it can be computed), else None."""
    if not hasattr(type(fit), "se_mean"):
        return None
    se, _ = col.run("standard errors", lambda: getattr(fit, "se_mean"))
    return None if se is None else pd.Series(np.asarray(se, dtype=float), index=fit.mean.index)


def _estimates_section(fit: Any, col: _Collector) -> str:
    labels = pd.Index(list(fit.columns), tupleize_cols=False)
    data: dict[str, Any] = {
        "missing": fit.n_missing.to_numpy(),
        "mean": fit.mean.to_numpy(dtype=float),
    }
    se = _standard_errors(fit, col)
    if se is not None:
        data["se(mean)"] = se.to_numpy()
    data["sd"] = np.sqrt(np.diag(fit.cov.to_numpy(dtype=float)))
    method = "maximum likelihood" if fit.ridge == 0 else f"posterior mode (ridge {fit.ridge:g})"
    parts = [
        fields([
            ("estimate", esc(f"{method}, multivariate normal, by EM")),
            ("log-likelihood", number(fit.loglik, 10)),
            ("passed through (not modelled)", _names(fit.passthrough)),
        ]),
        table(pd.DataFrame(data, index=labels), index_name="column", digits=5),
    ]
    if se is None:
        parts.append(_note("Standard errors of the means are not available from this version of imputer's result "
                           "(or could not be computed; see the notes)."))
    else:
        parts.append("<p>se(mean): from the observed-data information at the estimate.</p>")
    if len(fit.columns) <= _SHOW_CORR:
        corr = fit.corr.copy()
        corr.index = labels
        corr.columns = labels
        parts += ["<h3>Correlation</h3>", table(corr, index_name="", digits=3)]
    return "".join(parts)


def _names(labels: Sequence[Hashable]) -> str:
    if not labels:
        return "none"
    return f"{len(labels)}: " + ", ".join(f"<code>{esc(c)}</code>" for c in labels)


def _convergence_fields(fit: Any) -> str:
    t = fit.trace
    return fields([
        ("iterations", number(t.n_iter)),
        ("EM evaluations", number(t.n_evals)),
        ("converged", "yes" if t.converged else "no"),
        ("stopped because", esc(t.stop_reason)),
        ("tolerance", number(fit.tol)),
        ("acceleration", "SQUAREM" if fit.accelerate else "none (plain EM)"),
    ])


def _panel_columns(fit: Any) -> list[Hashable]:
    """The incomplete columns drawn: all, or the :data:`SHOW_PANELS` with the most missing cells."""
    miss = fit.n_missing
    incomplete = [c for c in fit.columns if int(miss[c]) > 0]
    if len(incomplete) <= SHOW_PANELS:
        return incomplete
    order = sorted(range(len(incomplete)), key=lambda i: (-int(miss[incomplete[i]]), i))[:SHOW_PANELS]
    return [incomplete[i] for i in sorted(order)]


def _figures(pt: PatternTable, fit: Any, col: _Collector, top: int) -> dict[str, str]:
    """The inlined figures by name (empty when matplotlib is missing: a note says so)."""
    from imputer import plot

    out: dict[str, str] = {}
    fig, err = col.run("pattern figure", plot.patterns, pt, top=top)
    if fig is None:
        return out
    out["patterns"] = figure(fig, "missingness pattern matrix",
                             "Missingness patterns: blue observed, vermillion missing; rows per pattern on the right.")
    if fit is None:
        return out
    if int(fit.n_missing.sum()) > 0:
        cols = _panel_columns(fit)
        fig, _ = col.run("densities figure", plot.densities, fit, columns=cols)
        if fig is not None:
            out["densities"] = figure(fig, "observed and imputed densities",
                                      "Kernel densities of the observed values (blue) and of the imputed conditional "
                                      "means (vermillion), per incomplete column. Conditional means are less spread "
                                      "than the data by construction; a shift can be legitimate under MAR.")
        fig, _ = col.run("overimputation figure", plot.overimpute, fit, columns=cols)
        if fig is not None:
            out["overimpute"] = figure(fig, "overimputation: observed against predicted",
                                       "Each observed value of an incomplete column predicted from the rest of its "
                                       "row at the estimate, with its 90% interval; about 90% should cover.")
    fig, _ = col.run("trace figure", plot.trace, fit)
    if fig is not None:
        out["trace"] = figure(fig, "convergence trace", "The objective per accepted iterate, its increments, and the parameter change of each iteration against tol.")
    return out


def _coverage_table(fit: Any, col: _Collector) -> str:
    from imputer.plot.overimpute import overimpute_table

    tab, _ = col.run("overimputation", overimpute_table, fit)
    if tab is None or tab.empty:
        return ""
    g = tab.groupby("column", sort=False)["inside"]
    cov = pd.DataFrame({"observed cells": g.size(), "inside 90% interval": g.sum(),
                        "coverage %": (100.0 * g.mean()).round(1)})
    cov.index = pd.Index(list(cov.index), tupleize_cols=False)
    return table(cov, index_name="column")


def html_report(data: pd.DataFrame, *, columns: Sequence[Hashable] | None = None, command: str | None = None,
                source: str | None = None, top: int = SHOW_PATTERNS, overview: Overview | None = None) -> Report:
    """Build the diagnostics report of a table.

    Parameters
    ----------
    data : DataFrame, shape (n, k)
        The table (not modified). Numeric columns are looked at; the others are listed
        as passed through.
    columns : list of labels, optional
        Numeric columns to look at (default: every numeric column).
    command : str, optional
        The command line that produced the report, printed verbatim (escaped).
    source : str, optional
        Where the table came from (a file name), for the title.
    top : int, default 50
        Patterns listed and drawn.
    overview : Overview, optional
        The patterns and MCAR test of ``data`` and ``columns`` when already computed
        (``imputer diagnose`` prints them too); default: computed here.

    Returns
    -------
    Report
        ``html`` (the document) and the numbers behind it.

    Raises
    ------
    ImputerTypeError, ImputerValueError
        As :func:`imputer.patterns`: not a table, no numeric column, an unknown or
        non-numeric name in ``columns``. Everything after the pattern table that
        cannot be computed is noted in the report instead.
    """
    import imputer

    ov = overview if overview is not None else compute_overview(data, columns)
    pt, mcar, mcar_error = ov.patterns, ov.mcar, ov.mcar_error
    col = _Collector()
    if mcar_error is not None:
        col.notes.append(f"MCAR test: not available: {mcar_error}")
    col.notes += [f"MCAR test: warning: {w}" for w in ov.warnings]
    fit, fit_error = col.run("EM fit", imputer.impute, data, columns=list(pt.columns))
    figs = _figures(pt, fit, col, top)  # without matplotlib: none, and a note says why

    sections: list[tuple[str, str, str]] = []
    missing_html = _pattern_section(pt, top) + figs.get("patterns", "")
    sections.append(("missingness", "Missingness", missing_html))
    sections.append(("mcar", "Little's MCAR test", _mcar_section(mcar, mcar_error)))
    if fit is None:
        sections.append(("estimates", "Estimates", _note(f"The EM fit could not be made: {fit_error}")))
    else:
        sections.append(("estimates", "Estimates", _estimates_section(fit, col)))
        if int(fit.n_missing.sum()) == 0:
            checks = _note("No missing cells: there are no imputed values to compare or check.", "ok")
        else:
            n_inc = int((fit.n_missing > 0).sum())
            more = (_note(f"The figures show the {SHOW_PANELS} columns with the most missing cells; "
                          f"{n_inc - SHOW_PANELS:,} more incomplete columns are in the table only.")
                    if n_inc > SHOW_PANELS else "")
            checks = "".join([
                more, "<h3>Observed and imputed distributions</h3>", figs.get("densities", ""),
                "<h3>Overimputation</h3>", _coverage_table(fit, col), figs.get("overimpute", ""),
            ])
        sections.append(("checks", "Imputation checks", checks))
        sections.append(("convergence", "Convergence", _convergence_fields(fit) + figs.get("trace", "")))
    notes = tuple(col.notes)
    notes_html = ("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>") if notes else "<p>None.</p>"
    sections.append(("notes", "Notes and warnings", notes_html))

    name = source if source is not None else "table"
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    header = (f"<h1>Diagnostics: {esc(name)}</h1>"
              + fields([
                  ("command", f"<code>{esc(command)}</code>" if command else "(called from Python)"),
                  ("library", f"imputer {esc(imputer.__version__)}"),
                  ("generated", esc(stamp)),
                  ("columns looked at", _names(pt.columns)),
                  ("other columns (not looked at, passed through)", _names(pt.passthrough)),
              ]))
    provenance = [("imputer", esc(imputer.__version__)), ("python", esc(platform.python_version())),
                  ("numpy", esc(np.__version__)), ("pandas", esc(pd.__version__))]
    try:
        import matplotlib

        provenance.append(("matplotlib", esc(matplotlib.__version__)))
    except ImportError:
        pass
    cmd = f"<p>Produced by:</p><pre>{esc(command)}</pre>" if command else ""
    footer = cmd + fields(provenance)
    html_text = page(f"imputer diagnostics: {name}", sections, header, footer)
    return Report(html=html_text, patterns=pt, mcar=mcar, fit=fit, n_figures=len(figs), notes=notes)


def write_report(path: str | Path, data: pd.DataFrame, **kwargs: Any) -> Report:
    """:func:`html_report` written to ``path`` (UTF-8); the same arguments."""
    report = html_report(data, **kwargs)
    Path(path).write_text(report.html, encoding="utf-8")
    return report
