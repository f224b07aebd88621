"""HTML pieces of the diagnostics report: escaping, numbers, tables, inline figures, the page (private).

The job: turn labelled values into one self-contained HTML document. Every piece of text
that comes from the user (column labels, file names, the command line, messages that
quote them) goes through :func:`esc` (:func:`html.escape`, quotes included) and nowhere
else is text inserted; figures are PNG images inlined as ``data:`` URIs; the style sheet
is inline; there are no scripts, external styles, fonts or images, so the file renders
the same from an e-mail attachment, offline.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure, SubFigure

__all__ = ["esc", "fields", "figure", "number", "page", "table"]

#: resolution of the inlined figures (the figures are sized in inches)
DPI = 100

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #1a1a1a; margin: 0 auto; max-width: 72rem; padding: 1rem 1.5rem 3rem; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.25rem; border-bottom: 1px solid #ccc; padding-bottom: 0.2rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin-bottom: 0.3rem; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.9em; }
pre { background: #f4f4f4; padding: 0.5rem 0.75rem; overflow-x: auto; white-space: pre-wrap; }
nav a { margin-right: 0.9rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #d0d0d0; padding: 0.2rem 0.5rem; text-align: right; }
th { background: #f0f0f0; }
th.row, td.text { text-align: left; }
dl.fields { display: grid; grid-template-columns: max-content auto; gap: 0.15rem 1rem; margin: 0.5rem 0; }
dl.fields dt { font-weight: 600; }
dl.fields dd { margin: 0; }
td.obs { background: #56B4E9; color: #000; text-align: center; }
td.mis { background: #D55E00; color: #fff; text-align: center; }
.scroll { overflow-x: auto; max-width: 100%; }
.note { background: #fff8e1; border-left: 4px solid #E69F00; padding: 0.4rem 0.75rem; margin: 0.75rem 0; }
.ok { background: #e8f5e9; border-left: 4px solid #009E73; padding: 0.4rem 0.75rem; margin: 0.75rem 0; }
figure { margin: 0.75rem 0 1.5rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #e0e0e0; }
figcaption { font-size: 0.9rem; color: #444; }
footer { margin-top: 3rem; font-size: 0.85rem; color: #555; }
"""


def esc(value: Any) -> str:
    """``str(value)`` escaped for HTML text and attribute values (``& < > " '``)."""
    return html.escape(label_text(value), quote=True)


def label_text(value: Any) -> str:
    """A column label as text (tuples joined by ``/``)."""
    if isinstance(value, tuple):
        return " / ".join(map(str, value))
    return str(value)


def number(value: Any, digits: int = 4) -> str:
    """A number for a table cell: integers with thousands separators, floats to ``digits``
    significant digits (fixed point when that is short), ``n/a`` for NaN/None."""
    if value is None or value is pd.NA:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return esc(value)
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v):,}"
    return esc(f"{v:.{digits}g}")


def fields(items: Iterable[tuple[str, str]]) -> str:
    """A definition list of ``(name, html)`` pairs (names escaped, values already HTML)."""
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in items)
    return f'<dl class="fields">{rows}</dl>'


def table(frame: pd.DataFrame, *, index_name: str | None = None, digits: int = 4,
          cell: Callable[[Any, Any, Any], tuple[str, str]] | None = None, caption: str | None = None) -> str:
    """An HTML table of ``frame`` (labels escaped, numbers by :func:`number`).

    Parameters
    ----------
    frame : DataFrame
        Rows and columns as they should appear.
    index_name : str, optional
        Header of the row-label column (default: the index name, or nothing).
    digits : int, default 4
        Significant digits of floats.
    cell : callable, optional
        ``cell(row_label, column_label, value) -> (css_class, html)`` to render a cell
        otherwise than :func:`number`.
    caption : str, optional
        Escaped caption text.
    """
    head = "".join(f'<th scope="col">{esc(c)}</th>' for c in frame.columns)
    first = esc(index_name if index_name is not None else (frame.index.name or ""))
    body = []
    values = frame.to_numpy(dtype=object)
    for label, row in zip(frame.index, values, strict=True):
        cells = []
        for c, v in zip(frame.columns, row, strict=True):
            if cell is not None:
                klass, inner = cell(label, c, v)
            elif isinstance(v, str):
                klass, inner = "text", esc(v)
            else:
                klass, inner = "", number(v, digits)
            cells.append(f'<td class="{klass}">{inner}</td>' if klass else f"<td>{inner}</td>")
        body.append(f'<tr><th scope="row" class="row">{esc(label)}</th>{"".join(cells)}</tr>')
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f'<div class="scroll"><table>{cap}<thead><tr><th scope="col" class="row">{first}</th>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def figure(fig: Figure | SubFigure, alt: str, caption: str) -> str:
    """``fig`` as an inline PNG (``data:image/png;base64``) with its alt text and caption."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    width, height = (int(round(v * DPI)) for v in fig.get_size_inches())
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{esc(alt)}" width="{width}" '
            f'height="{height}"><figcaption>{esc(caption)}</figcaption></figure>')


def page(title: str, sections: Sequence[tuple[str, str, str]], header: str, footer: str) -> str:
    """The whole document: ``sections`` are ``(id, heading, html)``; a table of contents on top."""
    nav = "".join(f'<a href="#{esc(sid)}">{esc(head)}</a>' for sid, head, _ in sections)
    body = "".join(f'<section id="{esc(sid)}"><h2>{esc(head)}</h2>{inner}</section>' for sid, head, inner in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head>"
        f"<body><header>{header}</header><nav>{nav}</nav>{body}<footer>{footer}</footer></body></html>\n"
    )
