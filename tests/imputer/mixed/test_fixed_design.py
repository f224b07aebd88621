"""The fixed-effect design of fit_mixed_frame against R's ``model.matrix``.

Reference: ``tests/data/lme4/interactions_model_matrix.json``, ``model.matrix(formula, toy)``
for 15 formulas on ``interactions_toy.csv`` (12 rows: factors ``a`` (3 levels), ``b`` (2),
an ordered factor ``o`` (4, coded by ``contr.poly``), numeric ``x``, ``z``), made by
``tests/data/lme4/make_interactions.R``. Checked: column names (ours mapped
``a[T.q]`` -> ``aq``, ``a[p]`` -> ``ap``), their order and every value; R's rules for
marginality (``a:b`` alone codes both by indicators), no intercept (the first factor by
indicators) and variable order within a term (``x + a:x`` gives ``x:a``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.mixed._design import _codes, _column
from imputer.mixed._fixed import fixed_design, fixed_terms
from imputer.mixed._formula import parse_formula

DATA = Path(__file__).resolve().parents[2] / "data" / "lme4"
CASES = json.loads((DATA / "interactions_model_matrix.json").read_text())


@pytest.fixture(scope="module")
def toy() -> pd.DataFrame:
    df = pd.read_csv(DATA / "interactions_toy.csv")
    df["o"] = pd.Categorical(df["o"], categories=["lo", "mid", "hi", "top"], ordered=True)
    return df.assign(y=np.arange(12.0), g=list("ghij") * 3)


def r_name(label: str) -> str:
    return re.sub(r"\[(?:T\.)?([^\]]*)\]", r"\1", label)


def design(df: pd.DataFrame, rhs: str, contrasts: dict | None = None) -> tuple[pd.DataFrame, dict]:
    parsed = parse_formula(f"y {rhs} + (1 | g)", df.columns)
    return fixed_design(df, fixed_terms(parsed.fixed, df.columns), parsed.intercept, contrasts, _column, _codes)


@pytest.mark.parametrize("case", CASES, ids=[c["formula"] for c in CASES])
def test_design_is_r_model_matrix(toy: pd.DataFrame, case: dict) -> None:
    contrasts = {"o": "poly"} if re.search(r"\bo\b", case["formula"]) else None
    X, coding = design(toy, case["formula"], contrasts)
    assert [r_name(c) for c in X.columns] == case["columns"]
    np.testing.assert_allclose(X.to_numpy(), np.asarray(case["data"], dtype=float).reshape(X.shape), rtol=0, atol=1e-13)
    if contrasts:
        assert coding["o"] == "poly"


@pytest.mark.parametrize(
    ("fixed", "terms"),
    [
        (["a*b"], [("a",), ("b",), ("a", "b")]),
        (["a", "b", "b:a"], [("a",), ("b",), ("a", "b")]),
        (["a*b*x"], [("a",), ("b",), ("x",), ("a", "b"), ("a", "x"), ("b", "x"), ("a", "b", "x")]),
        (["x:a", "a:x"], [("x", "a")]),
        (["a*b:x"], [("a",), ("b", "x"), ("a", "b", "x")]),
    ],
)
def test_terms_expand_as_r(toy: pd.DataFrame, fixed: list, terms: list) -> None:
    assert fixed_terms(fixed, toy.columns) == terms


def test_column_whose_name_has_a_colon_is_a_column() -> None:
    df = pd.DataFrame({"a:b": [1.0, 2.0], "a": [1.0, 0.0], "b": [0.0, 1.0]})
    assert fixed_terms(["a:b", "a*b"], df.columns) == [("a:b",), ("a",), ("b",), ("a", "b")]


@pytest.mark.parametrize(
    ("fixed", "contrasts", "err", "match"),
    [
        (["a:a"], None, ImputerValueError, r"fixed: term 'a:a' names a column twice"),
        (["a*"], None, ImputerValueError, r"fixed: term 'a\*' is malformed \(an empty part around '\*'\)"),
        ([3.5], None, ImputerTypeError, r"fixed: entries must be column names \(str\), got 3.5"),
        (["a"], {"x": "poly"}, ImputerValueError, r"contrasts: 'x' is not a factor of the fixed effects \(factors: \['a'\]\)"),
        (["a"], {"a": "helmert"}, ImputerValueError, r"contrasts\['a'\] must be one of \['treatment', 'poly'\], got 'helmert'"),
        (["a"], ["poly"], ImputerTypeError, r"contrasts must be a dict column -> 'treatment' or 'poly', got list"),
        (["a:w"], None, ImputerValueError, r"fixed: column 'w' is not in data"),
    ],
)
def test_bad_terms_and_contrasts(toy: pd.DataFrame, fixed: list, contrasts: object, err: type, match: str) -> None:
    with pytest.raises(err, match=match):
        fixed_design(toy, fixed_terms(fixed, toy.columns), True, contrasts, _column, _codes)


def test_poly_contrasts_case_insensitive_and_treatment_default(toy: pd.DataFrame) -> None:
    X, coding = fixed_design(toy, [("o",), ("a",)], True, {"o": "Poly"}, _column, _codes)
    assert coding == {"o": "poly", "a": "treatment"}
    assert list(X.columns) == ["(Intercept)", "o.L", "o.Q", "o.C", "a[T.q]", "a[T.r]"]


@pytest.mark.parametrize(
    "dates",
    [
        pd.date_range("2020-01-01", periods=12),
        pd.date_range("2020-01-01", periods=12, tz="UTC"),
        pd.to_timedelta(np.arange(12), unit="D"),
        pd.period_range("2020-01", periods=12, freq="M"),
    ],
    ids=["datetime", "datetime-tz", "timedelta", "period"],
)
def test_a_column_of_dates_must_be_made_a_number_or_a_factor(toy: pd.DataFrame, dates: object) -> None:
    # before: a factor with a level per date (R's model.matrix takes a Date as its day number)
    df = toy.assign(d=dates)
    with pytest.raises(ImputerTypeError, match=r"fixed: column 'd' holds dates or times .*as a number .* or as a factor"):
        fixed_design(df, fixed_terms(["d"], df.columns), True, None, _column, _codes)
