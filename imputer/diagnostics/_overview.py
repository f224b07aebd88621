"""The numbers a user looks at before trusting an imputation, computed together (private).

The job: for one table, the missingness patterns (:func:`imputer.patterns`), the
per-column missingness and Little's MCAR test (:func:`imputer.mcar_test`), as one value
with a text ``summary()`` and a JSON-ready ``to_dict()``. The command line
(``imputer diagnose``) and the service (``POST /v1/diagnostics``) both print this, so
they agree. The pattern table needs nothing but a table with a numeric column; the MCAR
test also needs a maximum-likelihood fit, and when it cannot be run (a column with no
observed value, ``n <= p``, a constant column, ...) the overview still has the patterns
and says why the test is missing instead of failing.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from imputer._json import json_value
from imputer._util import first_line
from imputer.diagnostics.mcar import MCARTest, mcar_test
from imputer.diagnostics.patterns import PatternTable, patterns
from imputer.errors import ImputerError

__all__ = ["Overview", "overview"]


@dataclass(frozen=True)
class Overview:
    """Patterns, per-column missingness and the MCAR test of one table.

    Attributes
    ----------
    patterns : PatternTable
    mcar : MCARTest or None
        None when the test could not be run (``mcar_error`` says why).
    mcar_error : str or None
        One line: why there is no MCAR test.
    warnings : tuple of str
        Warnings raised while computing (e.g. EM not converging), one line each.
    """

    patterns: PatternTable
    mcar: MCARTest | None
    mcar_error: str | None
    warnings: tuple[str, ...]

    def summary(self) -> str:
        """The pattern summary, then the MCAR test's (or why it is missing), then warnings."""
        parts = [self.patterns.summary(), ""]
        if self.mcar is not None:
            parts.append(self.mcar.summary())
        else:
            parts.append(f"Little's MCAR test: not run: {self.mcar_error}")
        parts += [f"warning: {w}" for w in self.warnings]
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary.

        Returns
        -------
        dict
            ``n_rows``, ``columns``, ``passthrough``, ``missing`` (one object per modelled
            column: ``column``, ``n_missing``, ``share``), ``patterns``
            (:meth:`PatternTable.to_dict`), ``mcar`` (:meth:`MCARTest.to_dict`, or None),
            ``mcar_error`` (str or None) and ``warnings`` (list of str).
        """
        pt = self.patterns
        n = pt.n_rows
        missing = pt.column_missing
        return {
            "n_rows": int(n),
            "columns": [json_value(c) for c in pt.columns],
            "passthrough": [json_value(c) for c in pt.passthrough],
            "missing": [
                {"column": json_value(c), "n_missing": int(k), "share": float(k) / n}
                for c, k in zip(pt.columns, missing.tolist())
            ],
            "patterns": pt.to_dict(),
            "mcar": None if self.mcar is None else self.mcar.to_dict(),
            "mcar_error": self.mcar_error,
            "warnings": list(self.warnings),
        }


def overview(data: Any, columns: Sequence[Hashable] | None = None) -> Overview:
    """Patterns, per-column missingness and Little's test of ``data``.

    Parameters
    ----------
    data : DataFrame or 2-D array-like, shape (n, k)
    columns : sequence of labels, optional
        Columns to look at (numeric); default: every numeric column.

    Returns
    -------
    Overview

    Raises
    ------
    ImputerTypeError, ImputerValueError
        What :func:`imputer.patterns` raises (no numeric column, empty data, a bad
        ``columns``); errors of the MCAR test are kept in ``mcar_error`` instead.
    """
    table = patterns(data, columns)
    test: MCARTest | None = None
    error: str | None = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            test = mcar_test(data, columns)
        except ImputerError as exc:
            error = first_line(exc)
    notes = tuple(" ".join(str(w.message).split()) for w in caught)
    return Overview(patterns=table, mcar=test, mcar_error=error, warnings=notes)
