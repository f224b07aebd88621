"""fit_mixed_frame in daily use: na_action="drop", case-insensitive options, summary()'s groups and contrasts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.errors import ImputerValueError
from imputer.options import MI_OPTIONS, MIXED_OPTIONS, Option

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def pastes() -> pd.DataFrame:
    df = pd.read_csv(DATA / "lme4" / "pastes.csv")
    df["x"] = np.linspace(-1.0, 1.0, len(df)) ** 2
    df.index = [f"r{i}" for i in range(len(df))]
    df.loc[["r3", "r17"], "x"] = np.nan          # fixed covariate
    df.loc["r22", "cask"] = None                 # part of the interaction grouping batch:cask
    df.loc["r40", "batch"] = None                # grouping factor
    df.loc[["r5", "r41"], "strength"] = np.nan   # response: predicted, not dropped
    return df


MODEL = {"fixed": ["x"], "random": ["batch", "batch:cask"]}


def test_drop_equals_fitting_the_prefiltered_frame(pastes: pd.DataFrame) -> None:
    res = imputer.fit_mixed_frame(pastes, "strength", na_action="drop", **MODEL)
    keep = pastes.dropna(subset=["x", "batch", "cask"])
    ref = imputer.fit_mixed_frame(keep, "strength", **MODEL)
    assert res.n_dropped == 4 and res.dropped == ("r3", "r17", "r22", "r40")
    assert ref.n_dropped == 0 and ref.dropped == ()
    assert res.n_obs == len(pastes) - 4 - 2 and res.n_missing == 2
    pd.testing.assert_series_equal(res.beta, ref.beta, check_exact=True)
    pd.testing.assert_series_equal(res.var_comp, ref.var_comp, check_exact=True)
    pd.testing.assert_series_equal(res.completed, ref.completed, check_exact=True)
    assert res.loglik == ref.loglik
    assert list(res.fitted.index) == list(keep.index)
    assert "rows dropped (missing covariate): 4" in res.summary()
    d = res.to_dict()
    assert d["n_dropped"] == 4 and d["dropped"] == ["r3", "r17", "r22", "r40"]
    json.dumps(d)


def test_drop_covers_slope_covariates_and_leaves_complete_frames_alone() -> None:
    sleep = pd.read_csv(DATA / "sleepstudy.csv", dtype={"Subject": str})
    holey = sleep.copy()
    holey.loc[[7, 99], "Days"] = np.nan
    res = imputer.fit_mixed_frame(holey, "Reaction ~ Days + (Days | Subject)", na_action="DROP")
    assert res.dropped == (7, 99)
    same = imputer.fit_mixed_frame(sleep, "Reaction ~ 1 + (1 | Subject)", na_action="drop")
    assert same == imputer.fit_mixed_frame(sleep, "Reaction", random=["Subject"])


@pytest.mark.parametrize(
    ("model", "match"),
    [
        ({"fixed": ["x"], "random": ["batch"]},
         r"fixed: column 'x' has 2 missing value\(s\); pass na_action=\"drop\" to leave those rows out of the model"),
        ({"random": ["batch"]}, r"random: column 'batch' has 1 missing value\(s\); pass na_action=\"drop\""),
        ({"random": ["batch:cask"]}, r"random term 'batch:cask': column 'batch' has 1 missing value\(s\); pass na_action"),
    ],
)
def test_missing_covariate_error_suggests_drop(pastes: pd.DataFrame, model: dict, match: str) -> None:
    with pytest.raises(ImputerValueError, match=match):
        imputer.fit_mixed_frame(pastes, "strength", **model)


@pytest.mark.parametrize("bad", ["omit", None, 1])
def test_bad_na_action(pastes: pd.DataFrame, bad: object) -> None:
    with pytest.raises(ImputerValueError, match=r"na_action must be one of \['error', 'drop'\], got "):
        imputer.fit_mixed_frame(pastes, "strength", random=["batch"], na_action=bad)


@pytest.mark.parametrize(("given", "method"), [("reml", "REML"), ("Ml", "ML"), ("ML", "ML")])
def test_method_is_case_insensitive(given: str, method: str) -> None:
    df = pd.read_csv(DATA / "dyestuff.csv")
    res = imputer.fit_mixed_frame(df, "Yield", random=["Batch"], method=given)
    assert res.method == method and res == imputer.fit_mixed_frame(df, "Yield", random=["Batch"], method=method)
    assert imputer.fit_mixed(df["Yield"], None, {"Batch": {"Z": pd.get_dummies(df["Batch"], dtype=float)}}, method=given).method == method


def test_choices_case_insensitive_only_where_unambiguous() -> None:
    assert MIXED_OPTIONS["method"].check("reml") == "REML"
    assert MI_OPTIONS["method"].check("Bootstrap") == "bootstrap"
    two = Option("case", "choice", "ab", "h", choices=("ab", "AB"))
    assert two.check("AB") == "AB"
    with pytest.raises(ImputerValueError, match=r"case must be one of \['ab', 'AB'\], got 'Ab'"):
        two.check("Ab")


def test_summary_shows_groups_and_contrasts() -> None:
    df = pd.read_csv(DATA / "lme4" / "pastes.csv")
    text = imputer.fit_mixed_frame(df, "strength", random=["batch", "batch:cask"]).summary()
    assert "Number of obs: 60, groups: batch, 10; batch:cask, 30" in text
    assert "Contrasts" not in text  # no factor among the fixed effects
    orth = pd.read_csv(DATA / "lme4" / "orthodont.csv", dtype={"Subject": str})
    res = imputer.fit_mixed_frame(orth, "distance ~ age + Sex + (1 | Subject)")
    assert res.contrasts == {"Sex": "treatment"}
    assert res.summary().endswith("Contrasts: Sex treatment")
    assert "Number of obs: 108, groups: Subject, 27" in res.summary()
    assert res.to_dict()["contrasts"] == {"Sex": "treatment"}
    with pytest.raises(TypeError):
        res.contrasts["Sex"] = "poly"  # type: ignore[index]
