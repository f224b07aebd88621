"""Row pairing, identifiability and term names of fit_mixed / fit_mixed_frame.

* Labelled ``y`` and labelled ``X`` / ``Z`` are paired by label: their indexes must be
  equal (a default RangeIndex on ``y`` included); positional pairing only when one side
  is a plain array. Before, a RangeIndex ``y`` silently paired sorted or shuffled rows.
* A random term whose observed-row design lies in the column span of the observed-row
  ``X`` (a single-level factor, one level with observed ``y``, a grouping factor that is
  also a fixed factor) was returned as a converged estimate equal to its start.
* ``fit_mixed_frame`` took a grouping column named ``residual`` and terms whose
  ``var_comp`` labels collide (two entries with one label).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.errors import ImputerValueError

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return pd.read_csv(DATA / "sleepstudy.csv", dtype={"Subject": str})


@pytest.fixture(scope="module")
def parts(sleep: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    y = sleep["Reaction"]  # default RangeIndex
    X = sleep[["Days"]].assign(one=1.0)[["one", "Days"]]
    Z = pd.get_dummies(sleep["Subject"]).astype(float)
    return y, X, Z


# --- rows: labelled arguments are paired by label -------------------------------------

_X_MISMATCH = r"X's index does not match y's index \(row \d+: X has label .*\): y and X are both pandas objects"
_Z_MISMATCH = r"Z of random effect 'Subject': its index does not match y's index \(row \d+: Z has label"


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("X sorted", _X_MISMATCH + r".*reorder it with X\.loc\[y\.index\], or to pair the rows by position on purpose pass X\.to_numpy\(\)"),
        ("X relabelled", _X_MISMATCH + r".*; to pair the rows by position on purpose pass X\.to_numpy\(\) \(or reset_index\(drop=True\) on both\)"),
        ("X Series sorted", _X_MISMATCH),
        ("Z shuffled", _Z_MISMATCH + r".*reorder it with Z\.loc\[y\.index\], or to pair the rows by position on purpose pass Z\.to_numpy\(\)"),
        ("Z list shuffled", _Z_MISMATCH),
        ("Z Series shuffled", _Z_MISMATCH),
        ("y DataFrame, X sorted", _X_MISMATCH),
        ("y labelled, X RangeIndex", _X_MISMATCH),
        ("y labelled, Z RangeIndex", _Z_MISMATCH),
    ],
)
def test_labelled_rows_must_match_y(parts: tuple, case: str, match: str) -> None:
    y, X, Z = parts
    ZETA = {"Subject": {"Z": Z}}
    shuffled = Z.sample(frac=1, random_state=0)
    args = {
        "X sorted": (y, X.sort_values("Days"), ZETA),
        "X relabelled": (y, X.set_axis(X.index + 1000), ZETA),
        "X Series sorted": (y, X["Days"].sort_values(), ZETA),
        "Z shuffled": (y, X, {"Subject": {"Z": shuffled}}),
        "Z list shuffled": (y, X, {"Subject": {"Z": [Z, shuffled.mul(X["Days"].loc[shuffled.index].to_numpy(), axis=0)],
                                               "effects": ["(Intercept)", "Days"]}}),
        "Z Series shuffled": (y, X, {"Subject": {"Z": Z.iloc[:, 0].sample(frac=1, random_state=0)}}),
        "y DataFrame, X sorted": (y.to_frame(), X.sort_values("Days"), ZETA),
        "y labelled, X RangeIndex": (y.set_axis(y.index + 7), X, {"Subject": {"Z": Z.to_numpy()}}),
        "y labelled, Z RangeIndex": (y.set_axis(y.index + 7), X.set_axis(X.index + 7), ZETA),
    }[case]
    with pytest.raises(ImputerValueError, match=match):
        imputer.fit_mixed(*args)


@pytest.mark.parametrize(
    "case",
    [
        "all labelled alike",
        "RangeIndex y, Int64 index X and Z",  # equal labels, different index types
        "plain y, relabelled X and Z",  # one side a plain array: by position
        "labelled y, plain X and Z",
        "string labels on all",
    ],
)
def test_matching_or_positional_rows_fit_as_arrays(parts: tuple, case: str) -> None:
    y, X, Z = parts
    want = imputer.fit_mixed(y.to_numpy(), X.to_numpy(), {"Subject": {"Z": Z.to_numpy()}})
    other = pd.Index(np.arange(len(y))[::-1] * 3)
    text = pd.Index([f"r{i}" for i in range(len(y))])
    args = {
        "all labelled alike": (y, X, Z),
        "RangeIndex y, Int64 index X and Z": (y, X.set_axis(pd.Index(np.arange(len(y)))), Z.set_axis(pd.Index(np.arange(len(y))))),
        "plain y, relabelled X and Z": (y.to_numpy(), X.set_axis(other), Z.set_axis(other)),
        "labelled y, plain X and Z": (y.set_axis(other), X.to_numpy(), Z.to_numpy()),
        "string labels on all": (y.set_axis(text), X.set_axis(text), Z.set_axis(text)),
    }[case]
    got = imputer.fit_mixed(args[0], args[1], {"Subject": {"Z": args[2]}})
    np.testing.assert_allclose(got.var_comp.to_numpy(), want.var_comp.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(got.beta.to_numpy(), want.beta.to_numpy(), rtol=1e-10)


# --- identifiability: a term inside the span of X -------------------------------------

_ABSORBED = r", so its Z( \(times K's factor\))? on the rows with observed y lies in the column span of the fixed effects X"


def _one_observed_subject(sleep: pd.DataFrame) -> pd.DataFrame:
    return sleep.assign(Reaction=sleep["Reaction"].where(sleep["Subject"] == "308"))


@pytest.mark.parametrize(
    ("data", "formula", "kwargs", "match"),
    [
        (lambda s: s.assign(site="A"), "Reaction ~ Days + (1 | site)", {},
         r"random effect 'site' cannot be estimated: it has a single level \('A'\)" + _ABSORBED
         + r".*lme4: grouping factors must have > 1 sampled level\); drop the term"),
        (lambda s: s.assign(site="A"), "Reaction ~ Days + (1 | site)", {"method": "ML"},
         r"random effect 'site' cannot be estimated: it has a single level"),
        (lambda s: s.assign(c=1), "Reaction ~ Days + (1 | c)", {},  # a number as the level, shown plainly
         r"random effect 'c' cannot be estimated: it has a single level \(1\), so"),
        (lambda s: s.assign(site="A"), "Reaction ~ Days + (Days | site)", {},
         r"random effect 'site', effect\(s\) \['\(Intercept\)', 'Days'\], cannot be estimated: it has a single level"),
        (lambda s: s, "Reaction ~ Days + Subject + (1 | Subject)", {},
         r"random effect 'Subject' cannot be estimated: it is confounded with the fixed effects \(e\.g\. its "
         r"grouping factor is also a fixed effect\)" + _ABSORBED + r".*drop the term or the fixed effects it duplicates"),
        (lambda s: s, "Reaction ~ Days + Subject + (Days | Subject)", {},
         r"random effect 'Subject', effect\(s\) \['\(Intercept\)'\], cannot be estimated: it is confounded"),
        (_one_observed_subject, "Reaction ~ Days + (1 | Subject)", {},
         r"random effect 'Subject' cannot be estimated: only its level '308' has observed y" + _ABSORBED),
        (lambda s: s.assign(site="A", R2=s["Reaction"] * 2 + np.sin(s["Days"])), ["Reaction", "R2"],
         {"fixed": ["Days"], "random": ["site"]},  # multi-trait table: the same design check
         r"random effect 'site' cannot be estimated: it has a single level"),
    ],
)
def test_term_in_the_span_of_x_is_refused(sleep: pd.DataFrame, data, formula, kwargs: dict, match: str) -> None:
    with pytest.raises(ImputerValueError, match=match):
        imputer.fit_mixed_frame(data(sleep), formula, **kwargs)


def _two_traits(y: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"r": y, "r2": 0.5 * y + 20 * np.random.default_rng(0).standard_normal(len(y))})


@pytest.mark.parametrize(
    ("case", "match"),
    [("X sorted", _X_MISMATCH), ("Z shuffled", _Z_MISMATCH)],
)
def test_multitrait_labelled_rows_must_match_y(parts: tuple, case: str, match: str) -> None:
    y, X, Z = parts
    if case == "X sorted":
        X = X.sort_values("Days")
    else:
        Z = Z.sample(frac=1, random_state=0)
    with pytest.raises(ImputerValueError, match=match):
        imputer.fit_mixed(_two_traits(y), X, {"Subject": {"Z": Z}})


def test_multitrait_array_pairs_by_position_and_single_level_is_refused(parts: tuple) -> None:
    y, X, Z = parts
    res = imputer.fit_mixed(_two_traits(y).to_numpy(), X.to_numpy(), {"Subject": {"Z": Z.to_numpy()}})
    assert res.converged
    with pytest.raises(ImputerValueError, match=r"random effect 'site' cannot be estimated: it has a single level"):
        imputer.fit_mixed(_two_traits(y), X, {"site": {"Z": np.ones((len(y), 1))}})


@pytest.mark.parametrize(
    ("ZETA", "match"),
    [
        (lambda Z: {"g": {"Z": np.ones((Z.shape[0], 1))}}, r"random effect 'g' cannot be estimated: it has a single level \(0\)"),
        (lambda Z: {"g": {"Z": Z, "K": np.ones((Z.shape[1], Z.shape[1]))}},  # Z K Z' = 1 1'
         r"random effect 'g' cannot be estimated: it is confounded with the fixed effects, so its Z \(times K's factor\)"),
        (lambda Z: {"ok": {"Z": Z}, "g": {"Z": [np.ones((Z.shape[0], 1)), np.ones((Z.shape[0], 1))]}},
         r"random effect 'g', effect\(s\) \['z1', 'z2'\], cannot be estimated: it has a single level"),
    ],
)
def test_matrix_term_in_the_span_of_x_is_refused(parts: tuple, ZETA, match: str) -> None:
    y, X, Z = parts
    with pytest.raises(ImputerValueError, match=match):
        imputer.fit_mixed(y.to_numpy(), X.to_numpy(), ZETA(Z.to_numpy()))


@pytest.mark.parametrize(
    "formula",
    [
        "Reaction ~ Days + (1 | Subject)",
        "Reaction ~ Days + (Days | Subject)",
        "Reaction ~ Days + Subject + (0 + Days | Subject)",  # the slopes are not in span(X)
        "Reaction ~ 0 + Days + (1 | site)",  # one level, but no intercept absorbs it
    ],
)
def test_terms_outside_the_span_of_x_still_fit(sleep: pd.DataFrame, formula: str) -> None:
    res = imputer.fit_mixed_frame(sleep.assign(site="A"), formula)
    assert res.converged and np.all(np.isfinite(res.var_comp))


# --- names: 'residual' and colliding var_comp labels ----------------------------------


@pytest.mark.parametrize(
    ("rename", "args", "kwargs", "match"),
    [
        ({"Subject": "residual"}, ("Reaction ~ Days + (1 | residual)",), {},
         r"random: term 'residual' would be named 'residual', which is reserved for the residual variance; "
         r"rename the grouping column 'residual' \(e\.g\. data\.rename\(columns=\{'residual': 'residual_group'\}\)\)"),
        ({"Subject": "residual"}, ("Reaction ~ Days + (Days | residual)",), {},
         r"random: term '\(Days \| residual\)' would be named 'residual', which is reserved"),
        ({"Subject": "residual"}, ("Reaction",), {"fixed": ["Days"], "random": ["residual"]},
         r"random: term 'residual' would be named 'residual'"),
        ({}, ("Reaction",), {"fixed": ["Days"], "random": ["(Days | Subject)", "Subject.Days"]},
         r"random: terms '\(Days \| Subject\)' and 'Subject\.Days' would both be labelled 'Subject\.Days' in var_comp "
         r"\(named 'Subject' and 'Subject\.Days'; .*\); rename a grouping column so that they differ"),
        ({}, ("Reaction",), {"fixed": ["Days"], "random": ["Subject.Days", "(0 + Days | Subject)"]},
         r"random: terms 'Subject\.Days' and '\(0 \+ Days \| Subject\)' would both be labelled 'Subject\.Days'"),
    ],
)
def test_frame_term_names_must_be_distinct(sleep: pd.DataFrame, rename: dict, args: tuple, kwargs: dict, match: str) -> None:
    data = sleep.assign(**{"Subject.Days": sleep["Subject"] + "x"}).rename(columns=rename)
    with pytest.raises(ImputerValueError, match=match):
        imputer.fit_mixed_frame(data, *args, **kwargs)


def test_zeta_var_comp_labels_must_be_distinct(parts: tuple) -> None:
    y, X, Z = parts
    slopes = {"Z": [Z, Z.mul(X["Days"], axis=0)], "effects": ["(Intercept)", "Days"]}
    with pytest.raises(ImputerValueError, match=r"ZETA: components 'S' and 'S\.Days' would both be labelled 'S\.Days' in var_comp"):
        imputer.fit_mixed(y, X, {"S": slopes, "S.Days": {"Z": Z}})


@pytest.mark.parametrize(
    ("rename", "random", "match"),
    [
        ({"Subject": "residual"}, ["residual"], r"random: term 'residual' would be named 'residual', which is reserved"),
        ({}, ["(Days | Subject)", "Subject.Days"], r"random: terms '\(Days \| Subject\)' and 'Subject\.Days' would both be labelled"),
    ],
)
def test_dask_term_names_must_be_distinct(sleep: pd.DataFrame, rename: dict, random: list, match: str) -> None:
    dd = pytest.importorskip("dask.dataframe")
    data = sleep.assign(**{"Subject.Days": sleep["Subject"] + "x"}).rename(columns=rename)
    with pytest.raises(ImputerValueError, match=match):
        imputer.fit_mixed_frame(dd.from_pandas(data, npartitions=2), "Reaction", fixed=["Days"], random=random)


@pytest.mark.parametrize(
    ("formula", "match"),
    [
        ("Reaction ~ Days + (1 | site)", r"random effect 'site' cannot be estimated: it has a single level \('A'\)"),
        ("Reaction ~ Days + Subject + (1 | Subject)",
         r"random effect 'Subject' cannot be estimated: it is confounded with the fixed effects"),
    ],
)
def test_dask_term_in_the_span_of_x_is_refused_as_in_memory(sleep: pd.DataFrame, formula: str, match: str) -> None:
    dd = pytest.importorskip("dask.dataframe")
    data = sleep.assign(site="A")
    with pytest.raises(ImputerValueError, match=match):
        imputer.fit_mixed_frame(data, formula)
    with pytest.raises(ImputerValueError, match=match):
        imputer.fit_mixed_frame(dd.from_pandas(data, npartitions=3), formula)
    fit = imputer.fit_mixed_frame(dd.from_pandas(data, npartitions=3), "Reaction ~ Days + (Days | Subject)")
    assert fit.converged
