"""``imputer.mcar_test`` against an independent implementation of Little's statistic.

The reference (:func:`tests.reference.little_mcar.little_d2`) writes the formula directly,
pattern by pattern, at the MLE found by direct maximisation of the likelihood
(:func:`tests.reference.mvn_mle.mvn_mle`, no EM); its p-value comes from the incomplete
gamma function. The airquality value 35.106175 on 14 df (p = 0.00142) is the one the issue
pins (R: Little's formula at norm's EM estimate run to convergence; naniar's
``mcar_test`` prints 35.1061 because norm's EM stops early).
"""

from __future__ import annotations

import json
import math
import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer import ConvergenceWarning, ImputerTypeError, ImputerValueError, MCARTest
from imputer.diagnostics import mcar as mcar_mod
from tests.reference.little_mcar import little_d2
from tests.reference.mvn_mle import mvn_mle

DATA = Path(__file__).resolve().parents[2] / "data"
AIR = pd.read_csv(DATA / "airquality.csv")


def _mar(n: int, p: int, seed: int, *, empty_rows: int = 0) -> pd.DataFrame:
    """Correlated normal rows; column 0 complete, others missing more often when column 0 is large (MAR)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(p, p))
    x = rng.normal(size=(n, p)) @ (a + p * np.eye(p)) + np.arange(p)
    prob = 1.0 / (1.0 + np.exp(-(x[:, :1] - x[:, :1].mean()) / x[:, :1].std()))
    miss = rng.random((n, p)) < 0.35 * prob
    miss[:, 0] = False
    x[miss] = np.nan
    x[:empty_rows] = np.nan
    return pd.DataFrame(x, columns=[f"x{j}" for j in range(p)])


def _mcar(n: int, p: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p)) @ np.triu(np.ones((p, p)))
    x[rng.random((n, p)) < 0.15] = np.nan
    return pd.DataFrame(x)


CASES = {
    "airquality": (AIR, None),
    "airquality-two": (AIR, ["Ozone", "Solar.R"]),
    "airquality-three": (AIR, ["Temp", "Ozone", "Wind"]),
    "mar-5": (_mar(400, 5, 1), None),
    "mcar-4": (_mcar(300, 4, 2), None),
    "mar-empty-rows": (_mar(300, 4, 3, empty_rows=7), None),
}


@pytest.mark.parametrize("name", list(CASES))
def test_agrees_with_reference_at_direct_mle(name: str) -> None:
    frame, columns = CASES[name]
    cols = list(columns) if columns is not None else list(frame.columns)
    values = frame[cols].to_numpy(dtype=float)
    mle = mvn_mle(values)
    d2, df, p_value, used = little_d2(values, mle.mean, mle.cov)
    res = imputer.mcar_test(frame, columns)
    assert res.df == df and res.n_patterns == used
    assert res.statistic == pytest.approx(d2, rel=1e-7, abs=1e-9)
    assert res.p_value == pytest.approx(p_value, rel=1e-6)
    sd = np.sqrt(np.diag(mle.cov))
    assert np.max(np.abs(res.mean.to_numpy() - mle.mean) / sd) < 1e-6
    assert list(res.mean.index) == cols and list(res.cov.columns) == cols


def test_airquality_pinned() -> None:
    res = imputer.mcar_test(AIR)
    assert res.statistic == pytest.approx(35.106175, abs=5e-7)
    assert res.df == 14
    assert res.p_value == pytest.approx(0.0014178, abs=5e-7)
    assert (res.n_patterns, res.n_rows, res.n_rows_excluded, res.converged) == (4, 153, 0, True)


def test_kernel_equals_reference_formula_on_many_patterns(monkeypatch: pytest.MonkeyPatch) -> None:
    # the batched kernel at a fixed estimate, with thousands of patterns and small chunks
    rng = np.random.default_rng(5)
    p = 12
    x = rng.normal(size=(4000, p))
    x[rng.random(x.shape) < 0.3] = np.nan
    x[:3] = np.nan  # a pattern observing nothing
    mean = rng.normal(size=p) * 0.1
    a = rng.normal(size=(p, p))
    cov = a @ a.T / p + np.eye(p)
    monkeypatch.setattr(mcar_mod, "_BLOCK_ENTRIES", 500)
    stat, df, used, excluded = mcar_mod.little_statistic(x, mean, cov)
    d2, ref_df, _, ref_used = little_d2(x, mean, cov)
    assert used == ref_used > 1000 and df == ref_df and excluded == 3
    assert stat == pytest.approx(d2, rel=1e-10)


def test_pattern_observing_nothing_is_excluded() -> None:
    frame = CASES["mar-empty-rows"][0]
    res = imputer.mcar_test(frame)
    without = imputer.mcar_test(frame.dropna(how="all"))
    assert res.n_rows_excluded == 7 and without.n_rows_excluded == 0
    assert res.n_rows == 300 and without.n_rows == 293
    # the all-missing rows add nothing to the likelihood, the statistic or df
    assert (res.df, res.n_patterns) == (without.df, without.n_patterns)
    assert res.statistic == pytest.approx(without.statistic, rel=1e-9)


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"a": [1.0, 2.0, 4.0, 3.0], "b": [2.0, 1.0, 5.0, 3.0]}),  # no missing cell
        pd.DataFrame({"a": [1.0, 2.0, np.nan, 3.0]}),  # one column: its missing rows observe nothing
        pd.DataFrame({"a": [1.0, 2.0, 5.0, np.nan, np.nan, np.nan], "b": [np.nan, np.nan, np.nan, 1.0, 3.0, 2.0]}),
    ],
    ids=["complete", "one-column", "disjoint-patterns"],
)
def test_nothing_to_test_is_a_clear_result(frame: pd.DataFrame) -> None:
    res = imputer.mcar_test(frame)
    assert res.statistic == 0.0 and res.df == 0 and math.isnan(res.p_value)
    assert not res.testable
    assert "nothing to test" in res.summary()
    assert res.to_dict()["p_value"] is None


def test_summary_and_to_dict() -> None:
    res = imputer.mcar_test(AIR, ["Ozone", "Solar.R", "Wind"])
    text = res.summary()
    assert "Little's MCAR test" in text and "degrees of freedom" in text and "cannot tell MAR from MNAR" in text
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["statistic"] == res.statistic and d["df"] == res.df and d["p_value"] == res.p_value
    assert d["columns"] == ["Ozone", "Solar.R", "Wind"] and list(d["mean"]) == d["columns"]
    assert d["cov"]["data"] == res.cov.to_numpy().tolist()
    assert isinstance(res, MCARTest) and res == imputer.mcar_test(AIR, ["Ozone", "Solar.R", "Wind"])
    assert pickle.loads(pickle.dumps(res)) == res and hash(pickle.loads(pickle.dumps(res))) == hash(res)


def test_nonconvergence_warns_at_the_caller() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = imputer.mcar_test(CASES["mar-5"][0], max_iter=1)
    conv = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert conv and conv[0].filename == __file__
    assert res.converged is False


def test_does_not_change_the_data() -> None:
    frame = CASES["mar-5"][0]
    before = frame.copy()
    imputer.mcar_test(frame)
    pd.testing.assert_frame_equal(frame, before)


@pytest.mark.parametrize(
    "data, kwargs, err, match",
    [
        (pd.DataFrame({"a": [1.0, np.nan], "b": [2.0, 3.0]}), {}, ImputerValueError, "data has 2 rows for 2 modelled columns"),
        (pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [np.nan] * 3}), {}, ImputerValueError, "column 'b' has no observed value"),
        (pd.DataFrame({"a": [1.0, 2.0, 3.0], "s": list("xyz")}), {"columns": ["s"]}, ImputerTypeError, "column 's' has non-numeric dtype"),
        (pd.DataFrame({"s": list("xyz")}), {}, ImputerTypeError, "data has no numeric column to model"),
        (pd.DataFrame({"a": [1.0, np.inf, 3.0]}), {}, ImputerValueError, "column 'a' contains an infinite value"),
        (pd.DataFrame({"a": [1.0]}), {}, ImputerValueError, "data has a single row"),
        (AIR, {"tol": -1.0}, ImputerValueError, "tol"),
        (AIR, {"max_iter": "many"}, ImputerTypeError, "max_iter"),
    ],
)
def test_bad_input(data: object, kwargs: dict, err: type, match: str) -> None:
    with pytest.raises(err, match=match):
        imputer.mcar_test(data, **kwargs)


def test_singular_estimate_is_an_error_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def singular(values, mean, cov):  # type: ignore[no-untyped-def]
        raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr(mcar_mod, "little_statistic", singular)
    with pytest.raises(ImputerValueError, match="the maximum-likelihood covariance is singular"):
        imputer.mcar_test(AIR)


def test_nearly_singular_estimate_warns_and_says_not_converged() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    y = np.full(30, np.nan)
    y[[0, 1]] = [1.0, 2.5]
    with pytest.warns(ConvergenceWarning, match="singular"):
        res = imputer.mcar_test(pd.DataFrame({"x": x, "y": y}))
    assert res.converged is False and res.df == 1 and math.isfinite(res.statistic)
