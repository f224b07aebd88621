"""lme4-style model formulas for :func:`imputer.fit_mixed_frame`, mapped to its keyword arguments.

``"Reaction ~ Days + (Days | Subject)"`` is ``response="Reaction", fixed=[("Days",)],
random=["(Days | Subject)"], intercept=True``:

* the right-hand side is split at its top-level ``+`` and ``-`` signs; each part that is a bar term
  ``( ... | ... )`` or ``( ... || ... )`` goes, as written, to ``random`` (parsed by
  :mod:`imputer.mixed._design`'s bar-term parser: R's formula rules on the left of the bar,
  ``(-1 + x | g)`` as ``(0 + x | g)``, names in backticks unquoted on both sides), except
  ``(1 | g)``, which is the scalar random intercept ``"g"`` (``random=["g"]``, ``u["g"]``
  a Series; ``(1 | `the group`)`` is ``random=["the group"]``);
* the rest is the fixed part, parsed by `formulaic <https://matthewwardrop.github.io/formulaic/>`_
  (Wilkinson notation: ``a:b``, ``a*b``, ``(a + b)**2``, ``- a``, ``0 +`` / ``- 1`` for no
  intercept, backticks around awkward column names); each of its terms becomes a tuple of
  column names. Factors that are not column names (``np.log(x)``, ``C(x)``, ``I(x**2)``)
  are errors: transform the column first.

formulaic is imported on first use (it takes about 2 s to import), so ``import imputer``
stays fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from imputer.errors import ImputerValueError
from imputer.mixed._design import _group_name, _split_bar, _split_unquoted

__all__ = ["ParsedFormula", "parse_formula"]


@dataclass(frozen=True)
class ParsedFormula:
    """A formula as :func:`imputer.fit_mixed_frame`'s keyword arguments."""

    response: str
    fixed: list[tuple[str, ...]]
    random: list[str]
    intercept: bool


def _top_level_split(text: str, seps: str) -> list[tuple[str, str]]:
    """``text`` cut at the characters of ``seps`` outside parentheses and backtick-quoted names:
    (the separator before, part)."""
    parts, depth, start, op, quoted = [], 0, 0, "", False
    for i, ch in enumerate(text):
        if ch == "`":
            quoted = not quoted
        elif quoted:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ImputerValueError(f"formula: unbalanced ')' in {text!r}")
        elif ch in seps and depth == 0:
            parts.append((op, text[start:i]))
            start, op = i + 1, ch
    if quoted:
        raise ImputerValueError(f"formula: an unmatched backtick in {text!r}")
    if depth != 0:
        raise ImputerValueError(f"formula: unbalanced '(' in {text!r}")
    parts.append((op, text[start:]))
    return parts


def _is_bar(part: str) -> bool:
    p = part.strip()
    return p.startswith("(") and p.endswith(")") and len(_top_level_split(p[1:-1], "|")) > 1


def _has_bar(part: str) -> bool:
    """Whether ``part`` has a ``|`` outside backtick-quoted names."""
    return len(_split_unquoted(part, "|")) > 1


def _squeeze(text: str) -> str:
    """``text`` with each run of white space outside backticks made one space (names in backticks as written)."""
    pieces = text.strip().split("`")
    return "`".join(p if i % 2 else re.sub(r"\s+", " ", p) for i, p in enumerate(pieces))


def _random_term(part: str) -> str:
    """A bar term as a ``random`` entry: ``(1 | g)`` is the scalar term ``g`` (as ``random=["g"]``,
    backticks removed: ``(1 | `the subject`)`` is ``"the subject"``)."""
    text = _squeeze(part)
    lhs, bar, group = _split_bar(text)
    if lhs.strip() == "1" and bar == "|":
        return _group_name(text, group)
    return text


def parse_formula(formula: str, columns: pd.Index) -> ParsedFormula:
    """Parse ``"y ~ fixed + (x | g)"`` against the table's ``columns``.

    Raises
    ------
    ImputerValueError
        A malformed formula, no ``~``, no random term, a factor that is not a column
        (naming the unknown columns).
    """
    if formula.count("~") != 1:
        raise ImputerValueError(f"formula: expected one '~' between the response and the terms, got {formula!r}")
    lhs, rhs = (s.strip() for s in formula.split("~"))
    parts = [(op, p.strip()) for op, p in _top_level_split(rhs, "+-")]
    if parts[0] == ("", "") and len(parts) > 1 and parts[1][0] == "-":
        parts = parts[1:]  # "~ -1 + ..."
    if any(not p for _, p in parts):
        raise ImputerValueError(f"formula: an empty term between '+' or '-' signs in {formula!r}")
    random = [_random_term(p) for op, p in parts if _is_bar(p)]
    if any(_is_bar(p) and op == "-" for op, p in parts):
        raise ImputerValueError(f"formula: a random term cannot be subtracted in {formula!r}")
    fixed_parts = [(op, p) for op, p in parts if not _is_bar(p)]
    if any(_has_bar(p) for _, p in fixed_parts):
        bad = next(p for _, p in fixed_parts if _has_bar(p))
        raise ImputerValueError(
            f"formula: {bad!r} is not a term; a random term stands on its own, e.g. '+ (x | g)'"
        )
    if not random:
        raise ImputerValueError(
            f"formula: no random term in {formula!r}; add one in lme4's notation, e.g. '(1 | group)'"
        )
    fixed_text = " ".join(f"{op or '+'} {p}" for op, p in fixed_parts).removeprefix("+ ") if fixed_parts else "1"
    from formulaic import Formula  # lazy: a 2 s import
    from formulaic.errors import FormulaicError

    try:
        # terms in the order written (fixed_terms orders them by degree, as R does)
        parsed = Formula(f"{lhs or '0'} ~ {fixed_text}", _ordering="none")
    except FormulaicError as exc:
        raise ImputerValueError(f"formula: cannot parse {formula!r}: {str(exc).splitlines()[0]}") from None
    except SyntaxError as exc:  # a term that is not Python (formulaic parses terms with ast): 'x(1 2)', 'x.()'
        raise ImputerValueError(
            f"formula: cannot parse {formula!r}: {exc.msg} in the term {(exc.text or '').strip()!r}"
        ) from None
    lhs_terms = [t for t in parsed.lhs if str(t) != "0"] if lhs else []
    if len(lhs_terms) != 1 or len(lhs_terms[0].factors) != 1:
        raise ImputerValueError(f"formula: the left-hand side must be one response column, got {lhs!r}")
    response = lhs_terms[0].factors[0].expr
    intercept = False
    fixed: list[tuple[str, ...]] = []
    unknown: list[str] = []
    for term in parsed.rhs:
        if str(term) == "1":
            intercept = True
            continue
        names = []
        for factor in term.factors:
            if factor.eval_method.value != "lookup":
                raise ImputerValueError(
                    f"formula: {factor.expr!r} is not a column name; fit_mixed_frame's formulas take "
                    "columns, ':' and '*' (add a transformed column to the table first)"
                )
            names.append(factor.expr)
        unknown += [c for c in names if c not in columns and c not in unknown]
        fixed.append(tuple(names))
    if response not in columns:
        unknown.insert(0, response)
    if unknown:
        raise ImputerValueError(f"formula: column(s) {unknown} are not in data (columns: {list(columns)})")
    return ParsedFormula(response=response, fixed=fixed, random=random, intercept=intercept)
