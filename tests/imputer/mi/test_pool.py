"""imputer.pool (Rubin's rules) against R's mice 3.15, its input forms, result and errors.

The reference values are ``tests/data/mice/pool.json``, written by
``tests/data/mice/make_pool_fixtures.R`` (its README lists the cases): ``mice::pool``'s
pooled table, ``summary(pool(.), conf.int = TRUE)`` (statistic, p-value, interval),
``pool.scalar`` for the one-term cases, and the total covariance ``Ubar + (1 + 1/m) B``
computed in R from that formula.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.mi.pool import TABLE_COLUMNS, Pooled
from tests.imputer import mutations

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "mice" / "pool.json"
CASES: dict[str, dict[str, Any]] = json.loads(FIXTURE.read_text())
RTOL = 1e-10

#: our column -> (fixture block, mice's name)
MICE_COLUMNS = {
    "estimate": ("pooled", "estimate"),
    "ubar": ("pooled", "ubar"),
    "b": ("pooled", "b"),
    "t": ("pooled", "t"),
    "se": ("summary", "std.error"),
    "df": ("pooled", "df"),
    "riv": ("pooled", "riv"),
    "lambda": ("pooled", "lambda"),
    "fmi": ("pooled", "fmi"),
    "statistic": ("summary", "statistic"),
    "p_value": ("summary", "p.value"),
    "ci_low": ("summary", "conf.low"),
    "ci_high": ("summary", "conf.high"),
}
#: our column -> pool.scalar's name
SCALAR_COLUMNS = {"estimate": "qbar", "ubar": "ubar", "b": "b", "t": "t", "df": "df", "riv": "r", "fmi": "fmi"}


def _floats(values: Any) -> np.ndarray:
    """Fixture numbers (non-finite ones are the strings "NaN", "Inf", "-Inf") as floats."""
    return np.array([float(v) for v in np.ravel(np.array(values, dtype=object))], dtype=float)


def _dfcom(case: dict[str, Any]) -> float | None:
    return None if case["dfcom"] == "Inf" else float(case["dfcom"])


def _pooled(name: str, *, full: bool = True) -> Pooled:
    case = CASES[name]
    u = case["covariances"] if full and case["covariances"] is not None else case["variances"]
    est = pd.DataFrame(np.array(case["estimates"], dtype=float), columns=case["terms"])
    return imputer.pool(est, np.array(u, dtype=float), dfcom=_dfcom(case), conf_level=case["conf_level"])


def _assert_close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """Relative agreement to RTOL; exact zeros and non-finite values must match exactly."""
    assert np.array_equal(np.isnan(got), np.isnan(want)), what
    assert np.array_equal(np.isposinf(got), np.isposinf(want)), what
    ok = np.isfinite(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=RTOL, atol=0, err_msg=what)


# ------------------------------------------------------------------ against mice


def test_fixture_has_every_case() -> None:
    assert set(CASES) == {
        "scalar_inf", "scalar_n30", "scalar_m2", "nhanes_lm", "nhanes_lm_inf", "nhanes_lm_90",
        "nhanes_m2", "made_b0", "made_b0_inf", "made_ubar0",
    }  # fmt: skip


@pytest.mark.parametrize("column", TABLE_COLUMNS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_table_matches_mice(name: str, column: str) -> None:
    case = CASES[name]
    res = _pooled(name)
    assert list(res.table.columns) == list(TABLE_COLUMNS)
    assert list(res.table.index) == case["terms"]
    block, mice_name = MICE_COLUMNS[column]
    _assert_close(res.table[column].to_numpy(), _floats(case[block][mice_name]), f"{name}: {column}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_options_match_mice(name: str) -> None:
    case = CASES[name]
    res = _pooled(name)
    assert res.m == case["m"] == len(case["estimates"])
    assert res.conf_level == case["conf_level"]
    dfcom = _floats(case["pooled"]["dfcom"])
    assert (dfcom == dfcom[0]).all()
    assert res.dfcom == (None if math.isinf(dfcom[0]) else dfcom[0])


@pytest.mark.parametrize("name", sorted(n for n in CASES if CASES[n]["scalar"] is not None))
def test_scalar_matches_pool_scalar(name: str) -> None:
    case = CASES[name]
    q = [row[0] for row in case["estimates"]]
    u = [row[0] for row in case["variances"]]
    res = imputer.pool(q, u, dfcom=_dfcom(case))
    assert list(res.table.index) == ["estimate"]
    for ours, theirs in SCALAR_COLUMNS.items():
        _assert_close(
            res.table[ours].to_numpy(), _floats([case["scalar"][theirs]]), f"{name}: {ours} vs pool.scalar {theirs}"
        )


@pytest.mark.parametrize("name", sorted(n for n in CASES if CASES[n]["cov"] is not None))
def test_total_covariance(name: str) -> None:
    case = CASES[name]
    res = _pooled(name)
    want = np.array(case["cov"], dtype=float)
    np.testing.assert_allclose(res.cov.to_numpy(), want, rtol=RTOL, atol=1e-15 * np.abs(want).max())
    assert list(res.cov.index) == list(res.cov.columns) == case["terms"]
    np.testing.assert_array_equal(np.diag(res.cov.to_numpy()), res.table["t"].to_numpy())


@pytest.mark.parametrize("name", sorted(n for n in CASES if CASES[n]["cov"] is not None))
def test_variances_only_give_the_same_table_and_a_diagonal_cov(name: str) -> None:
    full, diag = _pooled(name), _pooled(name, full=False)
    pd.testing.assert_frame_equal(diag.table, full.table, rtol=1e-13, atol=0)
    cov = diag.cov.to_numpy()
    off = ~np.eye(len(cov), dtype=bool)
    assert np.isnan(cov[off]).all()
    np.testing.assert_array_equal(np.diag(cov), diag.table["t"].to_numpy())


def test_lambda_floor_and_zero_within_variance() -> None:
    """The b = 0 term: lambda 0 in the table, df (m - 1) / 1e-8 from the floor; ubar = 0: df 0."""
    res = _pooled("made_b0_inf")
    row = res.table.loc["const"]
    assert row["b"] == 0.0 and row["lambda"] == 0.0 and row["riv"] == 0.0
    assert row["df"] == pytest.approx(3 / 1e-8, rel=1e-12)
    zero = _pooled("made_ubar0").table.loc["a"]
    assert zero["df"] == 0.0 and zero["riv"] == math.inf and zero["lambda"] == 1.0
    assert math.isnan(zero["fmi"]) and math.isnan(zero["ci_low"]) and math.isnan(zero["ci_high"])
    assert 0.99 < zero["p_value"] < 1.0  # mice's max(df, 0.001)


# ------------------------------------------------------------------ input forms


def _nhanes() -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    case = CASES["nhanes_lm"]
    est = pd.DataFrame(np.array(case["estimates"], dtype=float), columns=case["terms"])
    return est, np.array(case["covariances"], dtype=float), case["terms"]


def _forms() -> dict[str, tuple[Any, Any]]:
    est, cov, terms = _nhanes()
    var = np.array([np.diag(c) for c in cov])
    return {
        "frame+cube": (est, cov),
        "frame+frames": (est, [pd.DataFrame(c, index=terms, columns=terms) for c in cov]),
        "array+cube": (est.to_numpy(), cov),
        "list_of_series+cube": ([est.iloc[i] for i in range(len(est))], cov),
        "list_of_series+frames": ([est.iloc[i] for i in range(len(est))], [pd.DataFrame(c, index=terms, columns=terms) for c in cov]),
        "frame+variances": (est, var),
        "frame+variance_frame": (est, pd.DataFrame(var, columns=terms)),
        "list_of_series+variance_series": ([est.iloc[i] for i in range(len(est))], [pd.Series(v, index=terms) for v in var]),
        "nested_lists": (est.to_numpy().tolist(), cov.tolist()),
    }  # fmt: skip


@pytest.mark.parametrize("form", sorted(_forms()))
def test_input_forms_agree(form: str) -> None:
    est, cov = _forms()[form]
    want = _pooled("nhanes_lm")
    res = imputer.pool(est, cov, dfcom=22)
    labelled = not form.startswith(("array", "nested"))
    assert list(res.table.index) == (CASES["nhanes_lm"]["terms"] if labelled else [0, 1, 2])
    pd.testing.assert_frame_equal(
        res.table.set_axis(want.table.index), want.table, rtol=1e-13, atol=0, check_names=False
    )


@pytest.mark.parametrize(
    "q, u",
    [
        ([1.02, 0.87, 1.21, 0.95, 1.10], [0.041, 0.052, 0.047, 0.039, 0.050]),
        ((1.02, 0.87, 1.21, 0.95, 1.10), np.array([0.041, 0.052, 0.047, 0.039, 0.050])),
        (pd.Series([1.02, 0.87, 1.21, 0.95, 1.10]), pd.Series([0.041, 0.052, 0.047, 0.039, 0.050])),
        (np.array([[1.02], [0.87], [1.21], [0.95], [1.10]]), np.array([[[0.041]], [[0.052]], [[0.047]], [[0.039]], [[0.050]]])),
    ],
    ids=["lists", "tuple+array", "series", "column+cube"],
)  # fmt: skip
def test_scalar_forms(q: Any, u: Any) -> None:
    res = imputer.pool(q, u, dfcom=29)
    want = _pooled("scalar_n30").table
    np.testing.assert_allclose(res.table.to_numpy(), want.to_numpy(), rtol=1e-13)


def test_inputs_are_not_mutated() -> None:
    est, cov, terms = _nhanes()
    frames = [pd.DataFrame(c, index=terms, columns=terms) for c in cov]
    est0, cov0, frames0 = est.copy(), cov.copy(), [f.copy() for f in frames]
    imputer.pool(est, frames, dfcom=22)
    imputer.pool(est, cov)
    pd.testing.assert_frame_equal(est, est0)
    np.testing.assert_array_equal(cov, cov0)
    for f, f0 in zip(frames, frames0):
        pd.testing.assert_frame_equal(f, f0)


def test_dfcom_infinite_is_none() -> None:
    est, cov, _ = _nhanes()
    a, b = imputer.pool(est, cov, dfcom=math.inf), imputer.pool(est, cov)
    assert a == b and a.dfcom is None
    assert imputer.pool(est, cov, dfcom=np.int64(22)) == imputer.pool(est, cov, dfcom=22.0)


# ------------------------------------------------------------------ result object


def test_to_dict_json_round_trip() -> None:
    res = _pooled("made_ubar0")  # has inf and NaN cells: they become null
    d = res.to_dict()
    back = json.loads(json.dumps(d, allow_nan=False))
    assert back == d
    assert set(back) == {"terms", "table", "cov", "m", "dfcom", "conf_level"}
    assert back["terms"] == ["a", "b"] and back["m"] == 3 and back["dfcom"] == 10.0 and back["conf_level"] == 0.95
    assert list(back["table"]) == list(TABLE_COLUMNS)
    for col in TABLE_COLUMNS:
        for term in ("a", "b"):
            v = float(res.table.loc[term, col])
            assert back["table"][col][term] == (v if math.isfinite(v) else None)
    assert back["table"]["riv"]["a"] is None and back["table"]["fmi"]["a"] is None
    assert back["cov"]["columns"] == ["a", "b"] and back["cov"]["data"][0][1] is None
    full = _pooled("nhanes_lm").to_dict()
    np.testing.assert_allclose(np.array(full["cov"]["data"]), np.array(CASES["nhanes_lm"]["cov"]), rtol=RTOL)
    assert _pooled("nhanes_lm_inf").to_dict()["dfcom"] is None


def test_summary_text() -> None:
    text = _pooled("nhanes_lm_90").summary()
    assert "Pooled by Rubin's rules" in text
    assert "imputations" in text and "22" in text and "90%" in text
    for term in CASES["nhanes_lm_90"]["terms"]:
        assert term in text
    assert "Rubin 1987" in _pooled("nhanes_lm_inf").summary()


def test_frozen_and_equality() -> None:
    res = _pooled("nhanes_lm")
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.m = 3  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.table = res.table  # type: ignore[misc]
    again = _pooled("nhanes_lm")
    assert res == again and hash(res) == hash(again)
    assert res != _pooled("nhanes_lm_inf") and res != _pooled("nhanes_lm_90")
    assert res != "not a result"


@pytest.mark.parametrize("edit", mutations.BASIC, ids=lambda f: f.__name__)
@pytest.mark.parametrize("field", ["table", "cov"])
def test_fields_cannot_be_edited_through(field: str, edit: Any) -> None:
    res = _pooled("nhanes_lm")
    before = getattr(res, field).copy()
    obj = getattr(res, field)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            edit(obj)
        except ValueError:
            pass  # read-only arrays refuse the write: also fine
    pd.testing.assert_frame_equal(getattr(res, field), before)


# ------------------------------------------------------------------ bad input


def _bad() -> list[tuple[str, dict[str, Any], type[Exception], str]]:
    est, cov, terms = _nhanes()
    var = np.array([np.diag(c) for c in cov])
    nan_est = est.copy()
    nan_est.iloc[2, 1] = np.nan
    inf_var = var.copy()
    inf_var[1, 0] = np.inf
    neg_var = var.copy()
    neg_var[0, 2] = -1e-3
    neg_cov = cov.copy()
    neg_cov[3, 1, 1] = -1.0
    other = [pd.Series(est.iloc[i].to_numpy(), index=["(Intercept)", "age", "chl"] if i == 2 else terms) for i in range(5)]
    relabelled = [pd.DataFrame(c, index=terms, columns=terms) for c in cov]
    relabelled[1] = relabelled[1].rename(index={"bmi": "hyp"}, columns={"bmi": "hyp"})
    return [
        ("one analysis", dict(estimates=est.iloc[:1], variances=cov[:1]), ImputerValueError, r"at least 2 analyses .*got 1"),
        ("one scalar", dict(estimates=[1.0], variances=[0.1]), ImputerValueError, r"at least 2 analyses"),
        ("no terms", dict(estimates=np.empty((3, 0)), variances=np.empty((3, 0))), ImputerValueError, r"estimates: no term"),
        ("3-d estimates", dict(estimates=np.zeros((2, 2, 2)), variances=np.ones((2, 2))), ImputerValueError, r"estimates must be \(m, k\).*3 dimensions"),
        ("text estimates", dict(estimates=["a", "b"], variances=[1.0, 1.0]), ImputerTypeError, r"estimates must be numbers"),
        ("text variances", dict(estimates=[1.0, 2.0], variances=["x", "y"]), ImputerTypeError, r"variances must be numbers"),
        ("variances rows", dict(estimates=est, variances=var[:4]), ImputerValueError, r"variances must be \(m, k\) = \(5, 3\).*got shape \(4, 3\)"),
        ("variances cols", dict(estimates=est, variances=var[:, :2]), ImputerValueError, r"\(5, 3\).*got shape \(5, 2\)"),
        ("cov shape", dict(estimates=est, variances=cov[:, :2, :2]), ImputerValueError, r"got shape \(5, 2, 2\)"),
        ("scalar variances", dict(estimates=[1.0, 2.0, 3.0], variances=[0.1, 0.2]), ImputerValueError, r"\(m, k\) = \(3, 1\).*got shape \(2, 1\)"),
        ("nan estimate", dict(estimates=nan_est, variances=cov), ImputerValueError, r"estimates: a value is missing or infinite \(analysis 3, term 1\)"),
        ("inf variance", dict(estimates=est, variances=inf_var), ImputerValueError, r"variances: a value is missing or infinite \(analysis 2, term 0\)"),
        ("negative variance", dict(estimates=est, variances=neg_var), ImputerValueError, r"variances: a variance is negative"),
        ("negative cov diagonal", dict(estimates=est, variances=neg_cov), ImputerValueError, r"negative diagonal entry"),
        ("series terms", dict(estimates=other, variances=cov), ImputerValueError, r"analysis 3 has terms \['\(Intercept\)', 'age', 'chl'\]"),
        ("frame labels", dict(estimates=est, variances=relabelled), ImputerValueError, r"covariance 2 is labelled .*'hyp'"),
        ("variance frame columns", dict(estimates=est, variances=pd.DataFrame(var, columns=["(Intercept)", "bmi", "age"])), ImputerValueError, r"variances: the columns are \['\(Intercept\)', 'bmi', 'age'\], the estimates' terms"),
        ("variance series labels", dict(estimates=est, variances=[pd.Series(v, index=["a", "b", "c"]) for v in var]), ImputerValueError, r"variances: analysis 1 has terms \['a', 'b', 'c'\]"),
        ("variance series length", dict(estimates=est.to_numpy(), variances=[pd.Series(v[:2]) for v in var]), ImputerValueError, r"variances: analysis 1 has terms \[0, 1\]"),
        ("covariance frame shape", dict(estimates=est, variances=[pd.DataFrame(c[:2, :2]) for c in cov]), ImputerValueError, r"variances: covariance 1 has shape \(2, 2\); the estimates have 3 terms, so \(3, 3\)"),
        ("dfcom 0", dict(estimates=est, variances=cov, dfcom=0), ImputerValueError, r"dfcom must be a number > 0 or None; got 0"),
        ("dfcom negative", dict(estimates=est, variances=cov, dfcom=-3.5), ImputerValueError, r"dfcom .*got -3.5"),
        ("dfcom nan", dict(estimates=est, variances=cov, dfcom=math.nan), ImputerValueError, r"dfcom .*got nan"),
        ("dfcom bool", dict(estimates=est, variances=cov, dfcom=True), ImputerTypeError, r"dfcom must be a number > 0 or None; got bool"),
        ("dfcom str", dict(estimates=est, variances=cov, dfcom="22"), ImputerTypeError, r"dfcom .*got str"),
        ("conf_level 0", dict(estimates=est, variances=cov, conf_level=0.0), ImputerValueError, r"conf_level must be a number in \(0, 1\); got 0.0"),
        ("conf_level 1", dict(estimates=est, variances=cov, conf_level=1), ImputerValueError, r"conf_level .*got 1"),
        ("conf_level 95", dict(estimates=est, variances=cov, conf_level=95), ImputerValueError, r"conf_level .*got 95"),
        ("conf_level nan", dict(estimates=est, variances=cov, conf_level=math.nan), ImputerValueError, r"conf_level .*got nan"),
        ("conf_level str", dict(estimates=est, variances=cov, conf_level="0.9"), ImputerTypeError, r"conf_level .*got str"),
        ("conf_level bool", dict(estimates=est, variances=cov, conf_level=True), ImputerTypeError, r"conf_level .*got bool"),
    ]  # fmt: skip


@pytest.mark.parametrize("case", _bad(), ids=lambda c: c[0])
def test_bad_input(case: tuple[str, dict[str, Any], type[Exception], str]) -> None:
    _, kwargs, err, match = case
    with pytest.raises(err, match=match):
        imputer.pool(**kwargs)


# ------------------------------------------------------------------ README


def test_readme_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """The python block of README's Rubin's-rules section runs and prints the pooled table."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    start = readme.index("## Rubin's rules")
    section = readme[start : readme.index("\n## ", start + 1)]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    namespace: dict[str, Any] = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    pooled = namespace["pooled"]
    out = capsys.readouterr().out
    assert "Pooled by Rubin's rules" in out and "(Intercept)" in out
    # the hand formulas on the README's numbers (term x)
    q, se = np.array([0.48, 0.55, 0.51]), np.array([0.060, 0.062, 0.059])
    ubar, b = np.mean(se**2), np.var(q, ddof=1)
    t = ubar + (1 + 1 / 3) * b
    row = pooled.table.loc["x"]
    assert row["estimate"] == pytest.approx(q.mean(), rel=1e-14)
    assert row["t"] == pytest.approx(t, rel=1e-13)
    lam = (1 + 1 / 3) * b / t
    df_old, df_obs = 2 / lam**2, (98 / 100) * 97 * (1 - lam)
    assert row["df"] == pytest.approx(df_old * df_obs / (df_old + df_obs), rel=1e-13)
    assert pooled.dfcom == 97.0 and pooled.m == 3
