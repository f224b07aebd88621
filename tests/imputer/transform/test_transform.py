"""impute(..., transforms=, bounds=): the fit is impute's on the transformed table, and each
fill is the conditional expectation on the original scale, checked against closed forms
(log: exp(m + v/2); sqrt: m^2 + v) and numerical integration (scipy.integrate.quad) of the
model's conditional normal (logit; truncation to bounds)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.special import expit
from scipy.stats import norm

import imputer
from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.transform import TransformedImputeResult


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 300
    z = rng.multivariate_normal([0, 0, 0, 0], [[1, 0.6, 0.3, 0.2], [0.6, 1, 0.4, 0.1], [0.3, 0.4, 1, 0.5], [0.2, 0.1, 0.5, 1]], n)
    df = pd.DataFrame({
        "income": np.exp(9 + 0.8 * z[:, 0]),               # skewed, positive
        "share": 100 * expit(0.5 + z[:, 1]),               # in (0, 100)
        "count": (3 + z[:, 2]) ** 2,                       # a square
        "wind": 2.0 + np.abs(3 * z[:, 3]),                 # >= 2
        "label": [f"r{i}" for i in range(n)],
    })
    for col, rate in [("income", 0.2), ("share", 0.15), ("count", 0.1), ("wind", 0.25)]:
        df.loc[rng.random(n) < rate, col] = np.nan
    return df


SPEC: dict[str, Any] = {"transforms": {"income": "log", "share": ("logit", 0, 100), "count": "sqrt"}, "bounds": {"wind": (2.0, None)}}


@pytest.fixture(scope="module")
def fitted(table: pd.DataFrame) -> TransformedImputeResult:
    before = table.copy()
    res = imputer.impute(table, **SPEC)
    pd.testing.assert_frame_equal(table, before)  # the caller's table is not touched
    assert isinstance(res, TransformedImputeResult)
    return res


def _model_table(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "log(income)": np.log(table["income"]),
        "logit(share; 0, 100)": np.log(table["share"] / 100) - np.log1p(-table["share"] / 100),
        "sqrt(count)": np.sqrt(table["count"]),
        "wind": table["wind"],
    })


def test_estimates_are_impute_on_the_transformed_table(table: pd.DataFrame, fitted: TransformedImputeResult) -> None:
    direct = imputer.impute(_model_table(table))
    assert fitted.model == direct  # every field, bit for bit
    pd.testing.assert_series_equal(fitted.mean, direct.mean)
    assert list(fitted.cov.columns) == ["log(income)", "logit(share; 0, 100)", "sqrt(count)", "wind"]


def test_observed_cells_and_layout_are_the_inputs(table: pd.DataFrame, fitted: TransformedImputeResult) -> None:
    out = fitted.completed
    assert list(out.columns) == list(table.columns) and out.index.equals(table.index)
    observed = table[["income", "share", "count", "wind"]].notna()
    for c in observed:
        np.testing.assert_array_equal(out[c][observed[c]].to_numpy(), table[c][observed[c]].to_numpy())
    assert out["label"].tolist() == table["label"].tolist()
    assert not out.isna().any().any()


def _moments(fitted: TransformedImputeResult, table: pd.DataFrame, col: str, label: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    miss = table[col].isna().to_numpy()
    m = fitted.model.completed[label].to_numpy()[miss]
    v = fitted.model.conditional_var[label].to_numpy()[miss]
    return miss, m, v


def test_log_fill_is_the_lognormal_mean(table: pd.DataFrame, fitted: TransformedImputeResult) -> None:
    miss, m, v = _moments(fitted, table, "income", "log(income)")
    np.testing.assert_allclose(fitted.completed["income"].to_numpy()[miss], np.exp(m + v / 2), rtol=1e-14)
    np.testing.assert_allclose(fitted.conditional_var["income"].to_numpy()[miss], np.expm1(v) * np.exp(2 * m + v), rtol=1e-12)


def test_sqrt_fill(table: pd.DataFrame, fitted: TransformedImputeResult) -> None:
    miss, m, v = _moments(fitted, table, "count", "sqrt(count)")
    np.testing.assert_allclose(fitted.completed["count"].to_numpy()[miss], m * m + v, rtol=1e-14)


def _quad_moments(g: Any, m: float, v: float, lo: float = -np.inf, hi: float = np.inf) -> tuple[float, float]:
    s = np.sqrt(v)
    z = norm.cdf(hi, m, s) - norm.cdf(lo, m, s)
    e1 = integrate.quad(lambda y: g(y) * norm.pdf(y, m, s), lo, hi, epsabs=1e-13, epsrel=1e-12, limit=200)[0] / z
    e2 = integrate.quad(lambda y: g(y) ** 2 * norm.pdf(y, m, s), lo, hi, epsabs=1e-13, epsrel=1e-12, limit=200)[0] / z
    return e1, e2 - e1 * e1


def test_logit_fill_matches_numerical_integration(table: pd.DataFrame, fitted: TransformedImputeResult) -> None:
    miss, m, v = _moments(fitted, table, "share", "logit(share; 0, 100)")
    fills = fitted.completed["share"].to_numpy()[miss]
    variances = fitted.conditional_var["share"].to_numpy()[miss]
    for k in range(0, len(m), max(1, len(m) // 6)):
        e, var = _quad_moments(lambda y: 100 * expit(y), m[k], v[k])
        assert fills[k] == pytest.approx(e, rel=1e-10)
        assert variances[k] == pytest.approx(var, rel=1e-7)
    assert ((fills > 0) & (fills < 100)).all()


def test_bounded_fill_is_the_truncated_mean(table: pd.DataFrame, fitted: TransformedImputeResult) -> None:
    miss, m, v = _moments(fitted, table, "wind", "wind")
    fills = fitted.completed["wind"].to_numpy()[miss]
    variances = fitted.conditional_var["wind"].to_numpy()[miss]
    assert (fills >= 2.0).all()
    assert (fills > m).all()  # truncation from below raises every mean
    for k in range(0, len(m), max(1, len(m) // 6)):
        e, var = _quad_moments(lambda y: y, m[k], v[k], lo=2.0)
        assert fills[k] == pytest.approx(e, rel=1e-10)
        assert variances[k] == pytest.approx(var, rel=1e-7)


@pytest.mark.parametrize("lower", [None, 0.9])
def test_bounded_log_fill(table: pd.DataFrame, lower: float | None) -> None:
    # bounds just around the observed range, so that truncation matters for many fills
    x = table["income"].dropna()
    bound = (None if lower is None else lower * x.min(), 1.05 * x.max())
    res = imputer.impute(table, transforms={"income": "log"}, bounds={"income": bound})
    miss = table["income"].isna().to_numpy()
    m = res.model.completed["log(income)"].to_numpy()[miss]
    v = res.model.conditional_var["log(income)"].to_numpy()[miss]
    fills = res.completed["income"].to_numpy()[miss]
    lo = -np.inf if bound[0] is None else np.log(bound[0])
    for k in range(0, len(m), max(1, len(m) // 5)):
        e, _ = _quad_moments(np.exp, m[k], v[k], lo=lo, hi=np.log(bound[1]))
        assert fills[k] == pytest.approx(e, rel=1e-9)
    assert (fills <= bound[1]).all() and (fills >= (bound[0] or 0)).all()


def test_value_semantics_and_json(table: pd.DataFrame, fitted: TransformedImputeResult) -> None:
    again = imputer.impute(table, **SPEC)
    assert again == fitted and hash(again) == hash(fitted)
    d = json.loads(json.dumps(fitted.to_dict(conditional_var=True), allow_nan=False))
    assert d["columns"] == ["income", "share", "count", "wind"]
    assert d["model_columns"] == ["log(income)", "logit(share; 0, 100)", "sqrt(count)", "wind"]
    assert d["transforms"]["wind"] == {"transform": "identity", "lo": None, "hi": None, "lower": 2.0, "upper": None, "label": "wind"}
    assert d["completed"]["columns"] == list(table.columns)
    text = fitted.summary()
    assert "income: log(income)" in text.replace("  ", " ") or "log(income)" in text
    assert "wind, bounded to [2, inf)" in text


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"transforms": {"income": "cube"}}, ImputerValueError, r"transforms\['income'\]: unknown transform 'cube'"),
        ({"transforms": {"nope": "log"}}, ImputerValueError, r"^transforms: 'nope' is not a modelled column"),
        ({"transforms": {"income": 3}}, ImputerTypeError, r"transforms\['income'\] must be 'log', 'sqrt', 'logit'"),
        ({"transforms": {"wind": ("logit", 5, 1)}}, ImputerValueError, r"the logit's range needs finite lo < hi, got \(5, 1\)"),
        ({"transforms": {"share": ("logit", 0, 50)}}, ImputerValueError,
         r"transforms\['share'\]: 'logit' needs values strictly between 0 and 50, but row \d+ holds"),
        ({"bounds": {"wind": (5, 1)}}, ImputerValueError, r"bounds\['wind'\]: lower 5 must be below upper 1"),
        ({"bounds": {"wind": (3, None)}}, ImputerValueError, r"bounds\['wind'\]: row \d+ holds [\d.]+, outside \[3, inf\]"),
        ({"bounds": {"wind": 3}}, ImputerTypeError, r"bounds\['wind'\] must be a pair \(lower, upper\)"),
        ({"transforms": {"share": "logit"}, "bounds": {"share": (0, 1)}}, ImputerValueError,
         r"bounds\['share'\]: a logit column is bounded by its transform already; give the range in \('logit', lo, hi\)"),
        ({"transforms": {"share": "logit"}}, ImputerValueError,
         r"transforms\['share'\]: 'logit' needs values strictly between 0 and 1, but row \d+ holds"),
        ({"transforms": {"count": "sqrt"}, "bounds": {"count": (1, None)}}, ImputerValueError,
         r"bounds\['count'\]: a sqrt column is bounded by its transform already"),
        ({"transforms": ["income"]}, ImputerTypeError, r"^transforms must be a dict from column to spec, got list"),
    ],
)
def test_bad_specs_are_named(table: pd.DataFrame, kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        imputer.impute(table, **kwargs)


def test_log_of_a_non_positive_value_names_the_row() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0, -0.5, np.nan, 3.0], "y": [1.0, np.nan, 2.0, 3.0, 4.0]}, index=list("abcde"))
    with pytest.raises(ImputerValueError, match=r"^transforms\['x'\]: 'log' needs positive values, but row 'c' holds -0\.5$"):
        imputer.impute(df, transforms={"x": "log"})


@pytest.mark.parametrize("alpha", [0.5, 3.0, 7.5, 8.0, 8.3, 12.0, 30.0])
@pytest.mark.parametrize("side", ["lower", "upper"])
def test_truncated_moments_far_in_a_tail_match_scipy(alpha: float, side: str) -> None:
    # before: Z = Phi(beta) - Phi(alpha) cancelled to 0 from about 8 sd below a lower
    # bound: the fill was the bound itself, then inf (NaN on a log column)
    from scipy.stats import truncnorm

    from imputer.transform._maps import ColumnMap, back_moments

    m, v = np.array([-alpha]), np.array([1.0])  # the mean alpha sd beyond the bound at 0
    cmap = ColumnMap(lower=0.0) if side == "lower" else ColumnMap(upper=0.0)
    if side == "upper":
        m = -m
    a, b = (alpha, np.inf) if side == "lower" else (-np.inf, -alpha)
    mean, var = back_moments(cmap, m, v)
    ref = truncnorm(a, b, loc=m[0], scale=1.0)
    assert np.isfinite(mean).all() and np.isfinite(var).all()
    assert mean[0] == pytest.approx(ref.mean(), rel=1e-9, abs=1e-300)
    assert var[0] == pytest.approx(ref.var(), rel=1e-6)


@pytest.mark.parametrize("alpha", [0.5, 8.3, 20.0])
def test_truncated_log_moments_far_below_a_lower_bound_are_finite_and_exact(alpha: float) -> None:
    from imputer.transform._maps import ColumnMap, back_moments

    s = 0.5
    cmap = ColumnMap(kind="log", lower=1.0)  # x >= 1: y = log x >= 0
    m = np.array([-alpha * s])
    mean, var = back_moments(cmap, m, np.array([s * s]))
    # the truncated density over y >= 0 up to its constant, rescaled so it cannot underflow:
    # exp(-((y - m)^2 - m^2) / (2 s^2)) = exp(-(y^2 - 2 y m) / (2 s^2))
    def moment(k: int) -> float:
        return integrate.quad(lambda y: np.exp(k * y - (y * y - 2 * y * m[0]) / (2 * s * s)), 0, np.inf,
                              epsabs=0, epsrel=1e-12)[0]

    first = moment(1) / moment(0)
    second = moment(2) / moment(0)
    assert mean[0] == pytest.approx(first, rel=1e-8)
    assert mean[0] >= 1.0
    assert var[0] == pytest.approx(second - first * first, rel=1e-5)


def test_a_fill_far_below_a_lower_bound_is_the_truncated_mean_not_inf() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(1, 5, 50)
    y = x + rng.normal(0, 0.1, 50)
    x[:4] = [0.3, -0.5, -0.8, -2.0]
    y[:4] = np.nan
    res = imputer.impute(pd.DataFrame({"x": x, "y": y}), bounds={"y": (0, None)})
    fills = res.completed["y"].to_numpy()[:4]
    assert np.isfinite(fills).all() and (fills >= 0).all()
    assert fills[2] < fills[1] < fills[0]  # the further below, the closer to the bound

