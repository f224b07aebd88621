"""The formula interface of fit_mixed_frame: the same fit as the keyword form, and its errors.

``fit_mixed_frame(df, "y ~ fixed + (x | g)")`` must give exactly (``==``: every field,
bit for bit) the fit of the keyword arguments it stands for; the formulas' fits against
lme4 are in ``test_lme4_interactions.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.errors import ImputerTypeError, ImputerValueError

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    sleep = pd.read_csv(DATA / "sleepstudy.csv", dtype={"Subject": str})
    sleep.loc[[3, 50], "Reaction"] = np.nan  # predicted in both forms
    return {
        "sleep": sleep,
        "orth": pd.read_csv(DATA / "lme4" / "orthodont.csv", dtype={"Subject": str, "Sex": str}),
        "pastes": pd.read_csv(DATA / "lme4" / "pastes.csv"),
        "cake": pd.read_csv(DATA / "lme4" / "cake.csv").assign(
            temperature=lambda d: pd.Categorical(d["temperature"], ordered=True)
        ),
    }


#: (frame, formula, the keyword arguments it stands for)
CASES = [
    ("sleep", "Reaction ~ Days + (Days | Subject)", {"response": "Reaction", "fixed": ["Days"], "random": ["(Days | Subject)"]}),
    ("sleep", "Reaction~Days+(Days||Subject)", {"response": "Reaction", "fixed": ["Days"], "random": ["(Days || Subject)"]}),
    ("sleep", "Reaction ~ 1 + (1 | Subject)", {"response": "Reaction", "random": ["Subject"]}),
    ("sleep", "Reaction ~ (1 | Subject)", {"response": "Reaction", "random": ["Subject"]}),
    ("sleep", "Reaction ~ 0 + Days + (1 | Subject)", {"response": "Reaction", "fixed": ["Days"], "random": ["Subject"], "intercept": False}),
    ("sleep", "Reaction ~ -1 + Days + (1 | Subject)", {"response": "Reaction", "fixed": ["Days"], "random": ["Subject"], "intercept": False}),
    ("sleep", "Reaction ~ Days + (0 + Days | Subject) - 1", {"response": "Reaction", "fixed": ["Days"], "random": ["(0 + Days | Subject)"], "intercept": False}),
    ("orth", "distance ~ age * Sex + (age | Subject)", {"response": "distance", "fixed": ["age*Sex"], "random": ["(age | Subject)"]}),
    ("cake", "angle ~ temp + recipe + temp:recipe + (1 | recipe:replicate)",
     {"response": "angle", "fixed": ["temp", "recipe", "recipe:temp"], "random": ["recipe:replicate"]}),
    ("pastes", "strength ~ 1 + (1 | batch) + (1 | batch:cask)", {"response": "strength", "random": ["batch", "batch:cask"]}),
    ("cake", "angle ~ recipe * temperature + (1 | recipe:replicate)",
     {"response": "angle", "fixed": ["recipe", "temperature", "recipe:temperature"], "random": ["recipe:replicate"],
      "contrasts": {"temperature": "poly"}}),
]


@pytest.mark.parametrize(("frame", "formula", "keywords"), CASES, ids=[c[1] for c in CASES])
def test_formula_is_the_keyword_fit(frames: dict, frame: str, formula: str, keywords: dict) -> None:
    df = frames[frame]
    extra = {k: v for k, v in keywords.items() if k == "contrasts"}
    by_formula = imputer.fit_mixed_frame(df, formula, **extra)
    kw = dict(keywords)
    by_keywords = imputer.fit_mixed_frame(df, kw.pop("response"), **kw)
    assert by_formula == by_keywords
    assert list(by_formula.beta.index) == list(by_keywords.beta.index)


def test_formula_by_keyword_name(frames: dict) -> None:
    df = frames["sleep"]
    a = imputer.fit_mixed_frame(data=df, response="Reaction ~ Days + (1 | Subject)")
    b = imputer.fit_mixed_frame(df, "Reaction", fixed=["Days"], random=["Subject"])
    assert a == b and a.n_missing == 2


def test_backticks_name_awkward_columns(frames: dict) -> None:
    df = frames["sleep"].rename(columns={"Days": "days of sleep deprivation"})
    res = imputer.fit_mixed_frame(df, "Reaction ~ `days of sleep deprivation` + (1 | Subject)")
    assert list(res.beta.index) == ["(Intercept)", "days of sleep deprivation"]


@pytest.mark.parametrize(
    ("formula", "kwargs", "err", "match"),
    [
        ("Reaction ~ Dayz + Nights + (1 | Subject)", {}, ImputerValueError,
         r"formula: column\(s\) \['Dayz', 'Nights'\] are not in data \(columns: "),
        ("Reactions ~ Days + (1 | Subject)", {}, ImputerValueError, r"formula: column\(s\) \['Reactions'\] are not in data"),
        ("Reaction ~ Days + (1 | Subjects)", {}, ImputerValueError, r"random: column 'Subjects' is not in data"),
        ("Reaction ~ Days", {}, ImputerValueError, r"formula: no random term in 'Reaction ~ Days'; add one in lme4's notation"),
        ("Reaction ~ np.log(Days) + (1 | Subject)", {}, ImputerValueError, r"formula: 'np.log\(Days\)' is not a column name"),
        ("Reaction ~ Days ~ x + (1 | Subject)", {}, ImputerValueError, r"formula: expected one '~'"),
        ("Reaction ~ Days + + (1 | Subject)", {}, ImputerValueError, r"formula: an empty term between '\+' or '-' signs"),
        ("Reaction ~ Days*(1 | Subject)", {}, ImputerValueError,
         r"formula: 'Days\*\(1 \| Subject\)' is not a term; a random term stands on its own"),
        ("Reaction ~ Days - (1 | Subject)", {}, ImputerValueError, r"formula: a random term cannot be subtracted"),
        ("Reaction ~ Days + (1 | Subject", {}, ImputerValueError, r"formula: unbalanced '\('"),
        ("Reaction ~ Days) + (1 | Subject)", {}, ImputerValueError, r"formula: unbalanced '\)'"),
        ("Reaction + Days ~ (1 | Subject)", {}, ImputerValueError, r"formula: the left-hand side must be one response column"),
        (" ~ Days + (1 | Subject)", {}, ImputerValueError, r"formula: the left-hand side must be one response column"),
        ("Reaction ~ Days %% 2 + (1 | Subject)", {}, ImputerValueError, r"formula: cannot parse"),
        ("Reaction ~ Days + (1 | Subject)", {"fixed": ["Days"]}, ImputerValueError,
         r"fixed: give the model either as a formula or by keywords, not both"),
        ("Reaction ~ Days + (1 | Subject)", {"random": ["Subject"], "intercept": False}, ImputerValueError,
         r"random, intercept: give the model either as a formula or by keywords, not both"),
    ],
)
def test_formula_errors(frames: dict, formula: str, kwargs: dict, err: type, match: str) -> None:
    with pytest.raises(err, match=match):
        imputer.fit_mixed_frame(frames["sleep"], formula, **kwargs)


def test_keyword_form_still_needs_random(frames: dict) -> None:
    with pytest.raises(ImputerValueError, match=r"random: give at least one grouping term, e\.g\. random=\['batch'\], or a formula"):
        imputer.fit_mixed_frame(frames["sleep"], "Reaction", fixed=["Days"])
    with pytest.raises(ImputerTypeError, match=r"data must be a pandas DataFrame, got dict"):
        imputer.fit_mixed_frame({"y": [1.0]}, "y ~ (1 | g)")


@pytest.mark.parametrize(
    ("formula", "match"),
    [
        ("Reaction ~ Days(1 2) + (1 | Subject)",
         r"^formula: cannot parse 'Reaction ~ Days\(1 2\) \+ \(1 \| Subject\)': invalid syntax\. Perhaps you forgot a "
         r"comma\? in the term 'Days\(1 2\)'$"),
        ("Reaction ~ Days.() + (1 | Subject)", r"^formula: cannot parse .*: invalid syntax in the term 'Days\.\(\)'$"),
        ("Reaction(1 2) ~ Days + (1 | Subject)", r"^formula: cannot parse .*in the term 'Reaction\(1 2\)'$"),
    ],
)
def test_a_term_that_is_not_python_is_a_formula_error(frames: dict, formula: str, match: str) -> None:
    # formulaic parses each term with Python's ast: its SyntaxError escaped as itself (a 500 over REST)
    with pytest.raises(ImputerValueError, match=match):
        imputer.fit_mixed_frame(frames["sleep"], formula)


#: (formula, the formula lme4 fits the same model for). lme4 builds a bar term's effects by
#: ``model.matrix(~ lhs, fr)`` (mkReTrms' mkBlist), so R's formula rules hold on the left of the
#: bar: ``-1`` or ``- 1`` anywhere drops the intercept (as ``0 +``), a later ``+ 1`` restores it.
MINUS_ONE = [
    ("Reaction ~ Days + (-1 + Days | Subject)", "Reaction ~ Days + (0 + Days | Subject)"),
    ("Reaction ~ Days + (- 1 + Days | Subject)", "Reaction ~ Days + (0 + Days | Subject)"),
    ("Reaction ~ Days + (Days - 1 | Subject)", "Reaction ~ Days + (0 + Days | Subject)"),
    ("Reaction~Days+(-1+Days|Subject)", "Reaction ~ Days + (0 + Days | Subject)"),
    ("Reaction ~ Days + (1 + Days - 1 | Subject)", "Reaction ~ Days + (0 + Days | Subject)"),
    ("Reaction ~ Days + (-1 + 1 + Days | Subject)", "Reaction ~ Days + (Days | Subject)"),
    ("Reaction ~ Days + (-1 + Days + 1 | Subject)", "Reaction ~ Days + (Days | Subject)"),
    ("Reaction ~ Days + (-1 + Days || Subject)", "Reaction ~ Days + (0 + Days || Subject)"),
    # the fixed part follows the same rules
    ("Reaction ~ -1 + Days + (-1 + Days | Subject)", "Reaction ~ 0 + Days + (0 + Days | Subject)"),
    ("Reaction ~ Days - 1 + (1 | Subject)", "Reaction ~ 0 + Days + (1 | Subject)"),
    ("Reaction ~ - 1 + Days + (1 | Subject)", "Reaction ~ 0 + Days + (1 | Subject)"),
]


@pytest.mark.parametrize(("formula", "same"), MINUS_ONE, ids=[c[0] for c in MINUS_ONE])
def test_minus_one_drops_the_intercept_as_in_lme4(frames: dict, formula: str, same: str) -> None:
    got = imputer.fit_mixed_frame(frames["sleep"], formula)
    want = imputer.fit_mixed_frame(frames["sleep"], same)
    assert got == want
    assert list(got.var_comp.index) == list(want.var_comp.index)
    assert list(got.beta.index) == list(want.beta.index)


#: (renamed columns, formula on the renamed table, the same formula on sleepstudy, var_comp labels)
SPACED = {"Subject": "the subject", "Days": "D ays"}
BACKTICKS = [
    (SPACED, "Reaction ~ `D ays` + (`D ays` | `the subject`)", "Reaction ~ Days + (Days | Subject)",
     ["the subject", "the subject.D ays", "residual"]),
    (SPACED, "Reaction ~ `D ays` + (1 | `the subject`)", "Reaction ~ Days + (1 | Subject)", ["the subject", "residual"]),
    (SPACED, "Reaction ~ `D ays` + ( 1 + `D ays` || `the subject` )", "Reaction ~ Days + (1 + Days || Subject)",
     ["the subject", "the subject.D ays", "residual"]),
    (SPACED, "Reaction ~ `D ays` + (-1 + `D ays` | `the subject`)", "Reaction ~ Days + (0 + Days | Subject)",
     ["the subject.D ays", "residual"]),
    ({"Days": "D ays"}, "Reaction ~ `D ays` + (`D ays` | Subject)", "Reaction ~ Days + (Days | Subject)",
     ["Subject", "Subject.D ays", "residual"]),
    # '-', '|', '(' inside backticks are part of the name, on both sides of '~' and of the bar
    ({"Subject": "sub|ject", "Days": "days-1 (x)"}, "Reaction ~ `days-1 (x)` + (`days-1 (x)` | `sub|ject`)",
     "Reaction ~ Days + (Days | Subject)", ["sub|ject", "sub|ject.days-1 (x)", "residual"]),
    ({"Days": "days-1"}, "Reaction ~ `days-1` + (1 | Subject)", "Reaction ~ Days + (1 | Subject)", ["Subject", "residual"]),
]


@pytest.mark.parametrize(("renames", "formula", "same", "labels"), BACKTICKS, ids=[c[1] for c in BACKTICKS])
def test_backticks_name_awkward_columns_in_bar_terms(
    frames: dict, renames: dict, formula: str, same: str, labels: list[str]
) -> None:
    sleep = frames["sleep"]
    got = imputer.fit_mixed_frame(sleep.rename(columns=renames), formula)
    want = imputer.fit_mixed_frame(sleep, same)
    assert list(got.var_comp.index) == labels
    assert list(got.beta.index) == [renames.get(c, c) for c in want.beta.index]
    assert got.loglik == want.loglik
    np.testing.assert_array_equal(got.var_comp.to_numpy(), want.var_comp.to_numpy())
    np.testing.assert_array_equal(got.beta.to_numpy(), want.beta.to_numpy())
    group = labels[0].partition(".")[0]
    u_got, u_want = got.u[group], want.u["Subject"]
    np.testing.assert_array_equal(np.asarray(u_got), np.asarray(u_want))
    if isinstance(u_got, pd.DataFrame):
        assert list(u_got.columns) == [renames.get(c, c) for c in u_want.columns]


@pytest.mark.parametrize(
    ("formula", "err", "match"),
    [
        ("Reaction ~ Days + (`Dayz` | Subject)", ImputerValueError,
         r"^random term '\(`Dayz` \| Subject\)': column 'Dayz' is not in data \(columns: "),
        ("Reaction ~ Days + (1 | `Subjects`)", ImputerValueError, r"^random: column 'Subjects' is not in data \(columns: "),
        ("Reaction ~ Days + (Days | `Subjects`)", ImputerValueError, r"^random: column 'Subjects' is not in data \(columns: "),
        ("Reaction ~ Days + (`Days | Subject)", ImputerValueError,
         r"^formula: an unmatched backtick in 'Days \+ \(`Days \| Subject\)'$"),
        ("Reaction ~ Days + (D`ays` | Subject)", ImputerValueError,
         r"^random: term '\(D`ays` \| Subject\)' is malformed \('D`ays`' is not a name; quote a whole name in backticks"),
        ("Reaction ~ Days + (-1 | Subject)", ImputerValueError,
         r"^random: term '\(-1 \| Subject\)' has no effect \(no intercept and no covariate\)$"),
        ("Reaction ~ Days + (Days + - 1 | Subject)", ImputerValueError,
         r"^random: term '\(Days \+ - 1 \| Subject\)' is malformed \(an empty part between '\+' or '-' signs\)$"),
        ("Reaction ~ Days + (-1 + Days + Days | Subject)", ImputerValueError,
         r"^random: term '\(-1 \+ Days \+ Days \| Subject\)' names 'Days' twice$"),
    ],
)
def test_bar_term_errors_name_the_written_term_and_the_unquoted_column(
    frames: dict, formula: str, err: type, match: str
) -> None:
    with pytest.raises(err, match=match):
        imputer.fit_mixed_frame(frames["sleep"], formula)
