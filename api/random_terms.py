"""Random terms that repeat one another: only the sum of their variance components is
identifiable, yet the fit reported ``converged: true`` without a warning (issue 14 item 11).

* :func:`reject_repeated_terms`: the matrix form (``POST /v1/mixed``), two terms with the
  same ``Z`` and ``K``.
* :func:`reject_repeated_frame_terms`: the table form (``POST /v1/mixed/frame``), two terms
  with the same grouping (the same partition of the rows, whatever its labels or columns:
  ``"g"`` and ``"(1 | g)"``, or two columns that group alike) and the same effects, neither
  with a kernel.

Both raise :class:`imputer.errors.ImputerValueError` (a 422 naming the two terms).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from imputer.errors import ImputerError, ImputerValueError

__all__ = ["reject_repeated_terms", "reject_repeated_frame_terms"]

_HINT = "only the sum of their variance components is identifiable: send the term once"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    if a is None or b is None:
        return a is None and b is None
    return bool(a.shape == b.shape and np.array_equal(a, b))


def reject_repeated_terms(zeta: Any) -> None:
    """ImputerValueError naming two terms of ``zeta`` (list or dict of ``{"Z", "K"?}``) with the
    same Z and K."""
    items = list(zeta.items()) if isinstance(zeta, dict) else list(enumerate(zeta))
    for i, (name_i, a) in enumerate(items):
        for name_j, b in items[i + 1:]:
            if _same(a["Z"], b["Z"]) and _same(a.get("K"), b.get("K")):
                raise ImputerValueError(f"ZETA: terms {name_i!r} and {name_j!r} have the same Z and K; {_HINT}")


def _term_key(frame: pd.DataFrame, term: str) -> tuple[bytes, bytes] | None:
    """What a term's Z is up to the order of its levels: the rows' group numbers in order of
    first appearance, and the effect values (intercept, slopes); None when the engine will
    reject the term anyway (its message is better)."""
    from imputer.mixed._design import _bar_term, _term

    try:
        bar = _bar_term(frame, term)
        group, values = (term, None) if bar is None else (bar[0], bar[2])
        codes, _ = _term(frame, group)
    except ImputerError:
        return None
    partition = pd.factorize(codes)[0].astype(np.int64)
    if values is not None and values.shape[1] == 1 and np.all(values == 1.0):
        values = None  # "(1 | g)" is "g"
    return partition.tobytes(), b"" if values is None else np.ascontiguousarray(values).tobytes() + bytes(values.shape[1])


def reject_repeated_frame_terms(frame: pd.DataFrame, random: list[str] | None, formula: str | None, kernels: Any) -> None:
    """ImputerValueError naming two terms of ``random`` (or of ``formula``) whose Z is the same
    (up to the order of levels), neither with a kernel."""
    if formula is not None:
        from imputer.mixed._formula import parse_formula

        try:
            random = parse_formula(formula, frame.columns).random
        except ImputerError:
            return
    terms = [t for t in (random or []) if not (kernels and t in kernels)]
    keys = {}
    for term in terms:
        key = _term_key(frame, term)
        if key is None:
            continue
        if key in keys:
            raise ImputerValueError(
                f"random: terms {keys[key]!r} and {term!r} group the rows alike with the same effects; {_HINT}"
            )
        keys[key] = term
