"""fit_mixed_frame builds the matrices a pandas user expects, with labelled results.

Each test compares the DataFrame entry point with fit_mixed on hand-built matrices
(dummy columns written out with numpy below), so a wrong design shows up as different
numbers, and checks the labels of every output.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imputer import ImputerTypeError, ImputerValueError, fit_mixed, fit_mixed_frame
from imputer.mixed._design import build_frame_problem

DATA = Path(__file__).resolve().parents[2] / "data"


def pastes() -> pd.DataFrame:
    return pd.read_csv(DATA / "lme4" / "pastes.csv")


def dummies(values: np.ndarray, levels: list) -> np.ndarray:
    return (np.asarray(values)[:, None] == np.asarray(levels)[None, :]).astype(float)


def test_interaction_term_matches_hand_built_incidence() -> None:
    df = pastes()
    prob = build_frame_problem(df, "strength", None, ["batch", "batch:cask"], None, True, "REML")
    batches = sorted(df["batch"].unique())
    combos = sorted({f"{b}:{c}" for b, c in zip(df["batch"], df["cask"])})
    comp_b, comp_bc = prob.components
    assert comp_b.name == "batch" and comp_bc.name == "batch:cask"
    assert list(comp_b.levels) == batches
    assert list(comp_bc.levels) == combos  # "A:a", "A:b", ... observed combinations only
    np.testing.assert_array_equal(comp_b.Z.toarray(), dummies(df["batch"], batches))
    np.testing.assert_array_equal(comp_bc.Z.toarray(), dummies(df["batch"] + ":" + df["cask"], combos))
    np.testing.assert_array_equal(prob.X, np.ones((len(df), 1)))
    assert prob.x_names == ["(Intercept)"]


def test_frame_fit_equals_matrix_fit_with_labels() -> None:
    df = pastes()
    res = fit_mixed_frame(df, "strength", random=["batch", "batch:cask"])
    combos = sorted(df["sample"].unique())  # the data set's own batch:cask label
    ref = fit_mixed(
        df["strength"],
        None,
        {
            "batch": {"Z": pd.DataFrame(dummies(df["batch"], sorted(df["batch"].unique())), columns=sorted(df["batch"].unique()))},
            "batch:cask": {"Z": pd.DataFrame(dummies(df["sample"], combos), columns=combos)},
        },
    )
    pd.testing.assert_series_equal(res.var_comp, ref.var_comp, rtol=1e-12)
    assert list(res.var_comp.index) == ["batch", "batch:cask", "residual"]
    for name in ("batch", "batch:cask"):
        pd.testing.assert_series_equal(res.u[name], ref.u[name], rtol=1e-10, atol=1e-12, check_index_type=False)
        pd.testing.assert_series_equal(res.pev[name], ref.pev[name], rtol=1e-10, check_index_type=False)
    assert res.u["batch:cask"].index[0] == "A:a"
    assert res.loglik == pytest.approx(ref.loglik, rel=1e-13)


def test_categorical_and_numeric_fixed_effects() -> None:
    rng = np.random.default_rng(11)
    n = 60
    df = pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "dose": rng.normal(size=n),
            "sample": pd.Categorical(rng.choice(["C", "A", "B"], size=n), categories=["C", "A", "B", "unused"]),
            "site": rng.choice(["s2", "s1"], size=n),
            "g": rng.choice(list("abcdef"), size=n),
        }
    )
    res = fit_mixed_frame(df, "y", fixed=["dose", "sample", "site"], random=["g"])
    # categorical: category order (unused dropped), first level dropped; strings: sorted
    expected = ["(Intercept)", "dose", "sample[T.A]", "sample[T.B]", "site[T.s2]"]
    assert list(res.beta.index) == expected
    assert list(res.var_beta.index) == expected and list(res.var_beta.columns) == expected
    X = np.column_stack(
        [
            np.ones(n),
            df["dose"],
            (df["sample"] == "A").to_numpy(float),
            (df["sample"] == "B").to_numpy(float),
            (df["site"] == "s2").to_numpy(float),
        ]
    )
    levels = sorted(df["g"].unique())
    ref = fit_mixed(df["y"], pd.DataFrame(X, columns=expected), {"g": {"Z": pd.DataFrame(dummies(df["g"], levels), columns=levels)}})
    pd.testing.assert_series_equal(res.beta, ref.beta, rtol=1e-10)
    pd.testing.assert_series_equal(res.var_comp, ref.var_comp, rtol=1e-10)


def test_no_intercept_keeps_every_level_of_the_first_factor() -> None:
    df = pastes()
    res = fit_mixed_frame(df, "strength", fixed=["cask"], random=["batch"], intercept=False)
    assert list(res.beta.index) == ["cask[a]", "cask[b]", "cask[c]"]
    with_int = fit_mixed_frame(df, "strength", fixed=["cask"], random=["batch"])
    assert list(with_int.beta.index) == ["(Intercept)", "cask[T.b]", "cask[T.c]"]
    # the same model, reparametrised
    assert res.loglik == pytest.approx(with_int.loglik, rel=1e-10)
    assert res.beta["cask[b]"] == pytest.approx(with_int.beta["(Intercept)"] + with_int.beta["cask[T.b]"], rel=1e-10)


def test_kernel_index_defines_levels_and_predicts_unobserved_ones() -> None:
    rng = np.random.default_rng(5)
    ids = [f"id{i}" for i in range(12)]
    G = rng.normal(size=(12, 30))
    K = pd.DataFrame(G @ G.T / 30, index=ids, columns=ids)
    # records for the first 10 individuals only, 3 each; K's order differs from the data's
    rec = np.repeat(ids[:10][::-1], 3)
    df = pd.DataFrame({"y": rng.normal(size=30), "id": rec})
    res = fit_mixed_frame(df, "y", random=["id"], kernels={"id": K})
    assert list(res.u["id"].index) == ids  # all 12, in K's order
    Z = dummies(rec, ids)
    ref = fit_mixed(df["y"], None, {"id": {"Z": pd.DataFrame(Z, columns=ids), "K": K}})
    pd.testing.assert_series_equal(res.var_comp, ref.var_comp, rtol=1e-10)
    pd.testing.assert_series_equal(res.u["id"], ref.u["id"], rtol=1e-8, atol=1e-12)
    # unobserved individuals are predicted through their relationship, not set to zero
    assert np.all(res.u["id"].iloc[10:].abs() > 0)
    assert np.all(res.pev["id"].iloc[10:] > res.pev["id"].iloc[:10].max() * 0.5)


def test_kernel_labels_match_across_types() -> None:
    # integer ids in the data, string labels in K (as read from a CSV header)
    rng = np.random.default_rng(9)
    K = pd.DataFrame(np.eye(4) + 0.3, index=["1", "2", "3", "4"], columns=["1", "2", "3", "4"])
    df = pd.DataFrame({"y": rng.normal(size=16), "id": np.repeat([1, 2, 3, 4], 4)})
    res = fit_mixed_frame(df, "y", random=["id"], kernels={"id": K})
    assert list(res.u["id"].index) == ["1", "2", "3", "4"]


def test_outputs_are_indexed_like_data_and_missing_response_is_predicted() -> None:
    df = pastes()
    df.index = pd.Index([f"r{i}" for i in range(len(df))])
    df.loc["r3", "strength"] = np.nan
    res = fit_mixed_frame(df, "strength", random=["batch", "batch:cask"])
    assert res.fitted.index.equals(df.index) and res.completed.index.equals(df.index)
    assert np.isnan(res.residuals["r3"])
    assert res.completed["r3"] == res.fitted["r3"]
    obs = df["strength"].notna()
    np.testing.assert_array_equal(res.completed[obs].to_numpy(), df.loc[obs, "strength"].to_numpy())
    assert res.n_obs == len(df) - 1 and res.n_missing == 1
    row = df.loc["r3"]
    manual = res.beta["(Intercept)"] + res.u["batch"][row["batch"]] + res.u["batch:cask"][f"{row['batch']}:{row['cask']}"]
    assert res.fitted["r3"] == pytest.approx(manual, rel=1e-12)


def test_a_column_named_with_a_colon_is_a_term_not_an_interaction() -> None:
    df = pastes()
    combo = df["batch"] + ":" + df["cask"]
    res = fit_mixed_frame(df.assign(**{"batch:cask": combo, "batch": "x"}), "strength", random=["batch:cask"])
    ref = fit_mixed_frame(df, "strength", random=["batch:cask"])
    assert list(res.u["batch:cask"].index) == list(ref.u["batch:cask"].index)
    np.testing.assert_allclose(res.var_comp, ref.var_comp, rtol=1e-12)


def test_grouping_levels_of_unorderable_types_keep_their_order_of_appearance() -> None:
    rng = np.random.default_rng(4)
    day = pd.Timestamp("2020-01-01")
    g = np.array(["b", day, 1, "a"] * 4, dtype=object)  # Timestamp vs int: pandas cannot sort these
    df = pd.DataFrame({"y": rng.normal(size=16), "g": g})
    res = fit_mixed_frame(df, "y", random=["g"])
    assert list(res.u["g"].index) == ["b", day, 1, "a"]


def sleepstudy() -> pd.DataFrame:
    return pd.read_csv(DATA / "sleepstudy.csv", dtype={"Subject": str})


@pytest.mark.parametrize(
    ("term", "same"),
    [
        ("(-1 + Days | Subject)", "(0 + Days | Subject)"),
        ("(- 1 + Days | Subject)", "(0 + Days | Subject)"),
        ("(Days-1|Subject)", "(0 + Days | Subject)"),
        ("(+ Days | Subject)", "(Days | Subject)"),
        ("(0 + 1 + Days | Subject)", "(Days | Subject)"),
        ("(Days - 1 + 1 | Subject)", "(Days | Subject)"),
        ("(Days + x - x | Subject)", "(Days | Subject)"),  # R's '- x' drops x
    ],
)
def test_bar_term_left_side_follows_r_formula_rules(term: str, same: str) -> None:
    df = sleepstudy().assign(x=lambda d: np.sqrt(d["Days"]))
    got = fit_mixed_frame(df, "Reaction", fixed=["Days"], random=[term])
    want = fit_mixed_frame(df, "Reaction", fixed=["Days"], random=[same])
    assert got == want and list(got.var_comp.index) == list(want.var_comp.index)


@pytest.mark.parametrize(
    ("term", "labels", "effects"),
    [
        ("(`D ays` | `the subject`)", ["the subject", "the subject.D ays", "residual"], ["(Intercept)", "D ays"]),
        ("(0 + `D ays` || `the subject`)", ["the subject.D ays", "residual"], ["D ays"]),
        ("(1 | `the subject`)", ["the subject", "residual"], ["(Intercept)"]),
        ("(`D ays` | the subject)", ["the subject", "the subject.D ays", "residual"], ["(Intercept)", "D ays"]),
    ],
)
def test_bar_terms_unquote_backticked_names(term: str, labels: list[str], effects: list[str]) -> None:
    df = sleepstudy()
    df.loc[[4, 70], "Days"] = np.nan  # left out by na_action="drop": the quoted covariate is a used column
    spaced = df.rename(columns={"Subject": "the subject", "Days": "D ays"})
    got = fit_mixed_frame(spaced, "Reaction", fixed=["D ays"], random=[term], na_action="drop")
    plain = term.replace("`", "").replace("D ays", "Days").replace("the subject", "Subject")
    want = fit_mixed_frame(df, "Reaction", fixed=["Days"], random=[plain], na_action="drop")
    assert list(got.var_comp.index) == labels
    assert list(got.covariances[labels[0].partition(".")[0]].index) == effects
    assert got.dropped == want.dropped == (4, 70)
    assert got.loglik == want.loglik
    np.testing.assert_array_equal(got.var_comp.to_numpy(), want.var_comp.to_numpy())


@pytest.mark.parametrize(
    ("term", "match"),
    [
        ("(`Days | Subject)", r"^random: term '\(`Days \| Subject\)' is malformed \(an unmatched backtick\)$"),
        ("(Days | `Subj`ect)", r"^random: term '\(Days \| `Subj`ect\)' is malformed \('`Subj`ect' is not a name; "),
        ("(-1 | Subject)", r"^random: term '\(-1 \| Subject\)' has no effect"),
        ("(Days - | Subject)", r"^random: term '\(Days - \| Subject\)' is malformed \(an empty part between '\+' or '-' signs\)$"),
        ("(Days | | Subject)", r"^random: term '\(Days \| \| Subject\)' is malformed \(expected '\(x \| g\)'"),
        ("(Days | )", r"^random: term '\(Days \| \)' is malformed \(expected '\(x \| g\)'"),
        ("(`Dayz` | Subject)", r"^random term '\(`Dayz` \| Subject\)': column 'Dayz' is not in data"),
    ],
)
def test_malformed_bar_terms_are_named(term: str, match: str) -> None:
    with pytest.raises(ImputerValueError, match=match):
        fit_mixed_frame(sleepstudy(), "Reaction", fixed=["Days"], random=[term])


@pytest.mark.parametrize("response", [3, None, 2.5, {"y": 1}, np.array([1.0, 2.0]), b"Reaction"],
                         ids=["int", "None", "float", "dict", "array", "bytes"])
def test_a_response_that_is_no_column_name_is_a_type_error(response: object) -> None:
    given = re.escape(f"{type(response).__name__} {response!r}")
    match = (r"^response must be a column name or a formula such as 'y ~ x \+ \(1 \| g\)' \(a str\), "
             rf"or a list of trait columns; got {given}$")
    with pytest.raises(ImputerTypeError, match=match):
        fit_mixed_frame(sleepstudy(), response, random=["Subject"])


def test_a_response_labelled_by_a_non_string_column_label_still_fits() -> None:
    df = sleepstudy()
    by_label = fit_mixed_frame(df.rename(columns={"Reaction": 0}), 0, fixed=["Days"], random=["Subject"])
    assert by_label.loglik == fit_mixed_frame(df, "Reaction", fixed=["Days"], random=["Subject"]).loglik


@pytest.mark.parametrize("response", [3, None], ids=["int", "None"])
def test_a_formula_that_is_not_a_string_is_a_type_error(response: object) -> None:
    # before: "random: give at least one grouping term"
    match = rf"^response must be a column name or a formula .*; got {type(response).__name__} "
    with pytest.raises(ImputerTypeError, match=match):
        fit_mixed_frame(sleepstudy(), response)
    dd = pytest.importorskip("dask.dataframe")
    with pytest.raises(ImputerTypeError, match=match):
        fit_mixed_frame(dd.from_pandas(sleepstudy(), npartitions=2), response)
