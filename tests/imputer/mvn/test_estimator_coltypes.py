"""EMImputer with ``categorical=`` (the general location model) and ``transforms=``/``bounds=``.

Fit on all rows equals :func:`imputer.impute` with the same options; fills of new rows
against a direct computation from the fitted parameters (posterior cell probabilities
``pi_c N(x_O; mu_{c,O}, Sigma_OO)`` normalised, the cell-mixture conditional mean); the
bad inputs are errors naming column and value; with and without scikit-learn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import multivariate_normal

import imputer
from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.mvn import estimator as sk_module
from tests.imputer.mvn.conftest import DATA

# fixtures Est (EMImputer with and without scikit-learn) and air: tests/imputer/mvn/conftest.py


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    """150 rows, ``a`` a category (u/v/w observed, 'z' never), ``b`` 0/1, ``x1``, ``x2``; gaps in every column."""
    df = pd.read_csv(DATA / "glom" / "sim.csv")
    df["a"] = pd.Categorical(df["a"], categories=["u", "v", "w", "z"])
    return df


@pytest.mark.parametrize("means", ["saturated", "additive"])
def test_fit_on_all_equals_impute(Est: type, sim: pd.DataFrame, means: str) -> None:
    before = sim.copy()
    res = imputer.impute(sim, categorical="auto", means=means)
    est = Est(categorical="auto", means=means).set_output(transform="pandas")
    out = est.fit_transform(sim)
    pd.testing.assert_frame_equal(sim, before)  # the caller's table untouched
    assert est.loglik_ == pytest.approx(res.loglik, rel=1e-12)
    assert est.mean_model_ == means and list(est.categorical_) == ["a", "b"] and list(est.continuous_) == ["x1", "x2"]
    pd.testing.assert_series_equal(est.probabilities_, res.probabilities)
    pd.testing.assert_frame_equal(est.within_covariance_, res.cov)
    np.testing.assert_allclose(out[["x1", "x2"]].to_numpy(), res.completed[["x1", "x2"]].to_numpy(), rtol=1e-10)
    assert out["a"].dtype == sim["a"].dtype  # a category keeps its categories ('z' included)
    assert out["a"].tolist() == res.completed["a"].tolist() and out["b"].tolist() == res.completed["b"].tolist()
    assert out.notna().all().all()
    observed = sim.notna()
    for c in sim.columns:  # observed cells bit for bit
        assert (out.loc[observed[c], c] == sim.loc[observed[c], c]).all()


def _direct_fill(est: object, row: pd.Series) -> tuple[str, float]:
    """Level of ``a`` and value of ``x2`` for a row missing both (``b``, ``x1`` observed): Bayes by hand."""
    pi = est.probabilities_  # type: ignore[attr-defined]
    mu = est.cell_means_  # type: ignore[attr-defined]
    sigma = est.within_covariance_.to_numpy()  # type: ignore[attr-defined]
    weights, cond = {}, {}
    for (a, b), p in pi.items():
        if b != row["b"]:
            continue
        m = mu.loc[(a, b)].to_numpy()
        weights[a] = p * multivariate_normal(m[0], sigma[0, 0]).pdf(row["x1"])
        cond[a] = m[1] + sigma[1, 0] / sigma[0, 0] * (row["x1"] - m[0])
    total = sum(weights.values())
    return max(weights, key=weights.get), sum(weights[a] / total * cond[a] for a in weights)  # type: ignore[arg-type]


def test_new_rows_against_the_direct_posterior(Est: type, sim: pd.DataFrame) -> None:
    est = Est(categorical=["a", "b"], means="additive").set_output(transform="pandas").fit(sim)
    new = pd.DataFrame({"a": pd.Categorical([None, None, "w"], categories=["u", "v", "w", "z"]),
                        "b": [0.0, 1.0, np.nan], "x1": [-1.5, 2.0, 0.3], "x2": [np.nan, np.nan, 1.0]},
                       index=["p", "q", "r"])
    out = est.transform(new)
    for label in ("p", "q"):
        level, x2 = _direct_fill(est, new.loc[label])
        assert out.loc[label, "a"] == level
        assert out.loc[label, "x2"] == pytest.approx(x2, rel=1e-10)
    assert out.loc["r", "b"] in (0.0, 1.0) and list(out.index) == ["p", "q", "r"]
    arr = Est(categorical=["a", "b"]).fit(sim).transform(new)  # default output: an object array of the values
    assert arr.dtype == object and arr.shape == (3, 4) and arr[2, 0] == "w"


@pytest.mark.parametrize(
    ("new", "match"),
    [
        (pd.DataFrame({"a": pd.Categorical(["z"], categories=["u", "v", "w", "z"]), "b": [1.0], "x1": [0.0], "x2": [1.0]}),
         r"^EMImputer\.transform: categorical column 'a': value 'z' \(row 0\) was not seen in fit \(levels: \['u', 'v', 'w'\]\)"),
        (pd.DataFrame({"a": ["u"], "b": [2.0], "x1": [0.0], "x2": [1.0]}),
         r"^EMImputer\.transform: categorical column 'b': value 2\.0 \(row 0\) was not seen in fit"),
    ],
    ids=["category", "number"],
)
def test_a_level_seen_only_in_new_rows_is_named(Est: type, sim: pd.DataFrame, new: pd.DataFrame, match: str) -> None:
    est = Est(categorical="auto").fit(sim)
    with pytest.raises(ImputerValueError, match=match):
        est.transform(new)


def test_text_columns_indicators_and_names(Est: type, sim: pd.DataFrame) -> None:
    text = sim.assign(a=sim["a"].astype(object).where(sim["a"].notna(), None))
    est = Est(categorical=["a"], add_indicator=True).set_output(transform="pandas").fit(text)
    out = est.transform(text)
    assert list(est.get_feature_names_out()) == ["a", "b", "x1", "x2", *(f"missingindicator_{c}" for c in ("a", "b", "x1", "x2"))]
    assert list(out.columns) == list(est.get_feature_names_out())
    assert out["a"].dtype == text["a"].dtype and set(out["a"]) == {"u", "v", "w"}
    assert (out["missingindicator_a"] == text["a"].isna()).all()
    assert list(est.continuous_) == ["b", "x1", "x2"]  # listed: only a is categorical


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"categorical": "auto", "transforms": {"x1": "log"}}, ImputerValueError,
         r"categorical= \(the general location model\) does not combine with transforms"),
        ({"categorical": "auto", "ridge": 1.0}, ImputerValueError, r"does not combine with ridge"),
        ({"means": "additive"}, ImputerTypeError, r"continuous= and means= go with categorical="),
        ({"categorical": ["nope"]}, ImputerValueError, r"categorical: unknown column 'nope'"),
    ],
)
def test_bad_combinations(Est: type, sim: pd.DataFrame, params: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        Est(**params).fit(sim)


def test_conditional_variance_is_not_available_with_categorical(Est: type, sim: pd.DataFrame) -> None:
    with pytest.raises(ImputerTypeError, match=r"^EMImputer\.conditional_variance: not available with categorical="):
        Est(categorical="auto").fit(sim).conditional_variance(sim)


def test_a_column_neither_categorical_nor_numeric(Est: type, sim: pd.DataFrame) -> None:
    with pytest.raises(ImputerTypeError, match=r"column 'note' \(dtype .*\) is neither categorical nor numeric"):
        Est(categorical="auto").fit(sim.assign(note="x"))


# ------------------------------------------------------------------------ transforms, bounds

SPEC = {"transforms": {"Ozone": "log"}, "bounds": {"Solar.R": (0, None)}}


def test_transforms_fit_on_all_equals_impute(Est: type, air: pd.DataFrame) -> None:
    res = imputer.impute(air, **SPEC)
    est = Est(**SPEC).set_output(transform="pandas")
    out = est.fit_transform(air)
    np.testing.assert_allclose(out.to_numpy(), res.completed.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(est.mean_, res.mean.to_numpy(), rtol=1e-10)  # the model (log) scale
    np.testing.assert_allclose(est.conditional_variance(air).to_numpy(), res.conditional_var.to_numpy(), rtol=1e-9)
    obs = air.notna().to_numpy()
    assert np.array_equal(out.to_numpy()[obs], air.to_numpy()[obs])
    new = pd.DataFrame({"Ozone": [np.nan], "Solar.R": [np.nan], "Wind": [30.0], "Temp": [40.0]})
    filled = est.transform(new)  # far out: the normal's mean of Solar.R is below 0, the truncated one is not
    assert filled.loc[0, "Solar.R"] > 0 and filled.loc[0, "Ozone"] > 0


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("Ozone", -3.0, r"^EMImputer\.transform: transforms\['Ozone'\]: 'log' needs positive values, but row 1 holds -3\.0$"),
        ("Solar.R", -5.0, r"^EMImputer\.transform: bounds\['Solar\.R'\]: row 1 holds -5\.0, outside \[0, inf\]$"),
    ],
)
def test_new_values_outside_the_domain_or_bounds(Est: type, air: pd.DataFrame, column: str, value: float, match: str) -> None:
    est = Est(**SPEC).fit(air)
    new = air.head(3).copy()
    new.loc[1, column] = value
    with pytest.raises(ImputerValueError, match=match):
        est.transform(new)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"transforms": {"Wind": "log"}}, r"^EMImputer\.fit: transforms\['Wind'\]: 'log' needs positive values, but row \d+ holds"),
        ({"bounds": {"Wind": (5, 1)}}, r"^EMImputer\.fit: bounds\['Wind'\]: lower 5 must be below upper 1$"),
        ({"bounds": {"Wind": (3, None)}}, r"^EMImputer\.fit: bounds\['Wind'\]: row \d+ holds [\d.]+, outside \[3, inf\]$"),
    ],
)
def test_bad_specs_in_fit(Est: type, air: pd.DataFrame, params: dict, match: str) -> None:
    data = air.assign(Wind=air["Wind"] - 5.0) if "transforms" in params else air
    with pytest.raises(ImputerValueError, match=match):
        Est(**params).fit(data)


@pytest.mark.parametrize("params", [{"categorical": "auto"}, {"transforms": {}, "bounds": {}}], ids=["categorical", "transforms"])
def test_check_estimator_with_the_new_options(params: dict) -> None:
    """scikit-learn's checks (numeric data: "auto" finds two-valued columns at most) pass with the options set."""
    pytest.importorskip("sklearn")
    import warnings

    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(sk_module.EMImputer(**params), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert failed == []


def test_ten_thousand_levels_is_an_error_not_a_memory_blow_up(Est: type) -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"id": [f"c{i}" for i in range(10_000)], "x": rng.normal(size=10_000), "y": rng.normal(size=10_000)})
    with pytest.raises(ImputerValueError, match=r"categorical column 'id' has 10000 levels: the cells .* exceed the limit of 4096"):
        Est(categorical=["id"]).fit(df)


def test_readme_example_runs(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.readme import run_python_block

    ns = run_python_block("### Categorical columns in scikit-learn", monkeypatch)
    filled, new = ns["filled"], ns["new"]
    assert filled["a"].dtype == new["a"].dtype and not filled.isna().any().any()
    assert set(filled["b"]) <= {0.0, 1.0}
    assert "categorical column 'a': value 'q' (row 121) was not seen in fit" in capsys.readouterr().out
