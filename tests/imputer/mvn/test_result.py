"""ImputeResult: labelled outputs, dtype handling, immutability, value equality, summary() and to_dict()."""

from __future__ import annotations

import dataclasses
import json
import pickle
import re
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.mvn.api import DEFAULT_TOL
from tests.imputer import mutations


def _mixed_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 40
    base = rng.normal(size=(n, 3)) @ np.array([[1.0, 0.6, 0.2], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    df = pd.DataFrame(
        {
            "name": pd.array([f"r{i}" for i in range(n)], dtype="string"),
            "f": base[:, 0],
            "i_na": pd.array(np.round(base[:, 1] * 10).astype(int), dtype="Int64"),
            "F_na": pd.array(base[:, 2], dtype="Float64"),
            "i_full": np.arange(n, dtype=np.int64) % 7,
            "cat": pd.Categorical(["u", "v"] * (n // 2)),
            "when": pd.date_range("2020-01-01", periods=n, freq="D"),
            "flag": [True, False] * (n // 2),
        },
        index=pd.Index([f"id{i}" for i in range(n)], name="rowid"),
    )
    df.loc[df.index[::5], "f"] = np.nan
    df.loc[df.index[1::6], "i_na"] = pd.NA
    df.loc[df.index[2::7], "F_na"] = pd.NA
    return df


def test_dtypes_and_unmodelled_columns() -> None:
    df = _mixed_frame()
    before = df.copy(deep=True)
    res = imputer.impute(df)
    pd.testing.assert_frame_equal(df, before)  # caller's frame untouched
    out = res.completed
    assert list(out.columns) == list(df.columns)
    assert out.index.equals(df.index) and out.index.name == "rowid"
    assert res.columns == ("f", "i_na", "F_na", "i_full")
    # carried through unchanged
    for col in ["name", "cat", "when", "flag"]:
        pd.testing.assert_series_equal(out[col], df[col])
    # integer column without missing cells keeps its dtype; filled columns become float
    assert out["i_full"].dtype == np.int64
    pd.testing.assert_series_equal(out["i_full"], df["i_full"])
    assert out["f"].dtype == np.float64
    assert out["i_na"].dtype == pd.Float64Dtype()
    assert out["F_na"].dtype == pd.Float64Dtype()
    assert not out[list(res.columns)].isna().any().any()
    # observed cells as given
    for col in ["f", "i_na", "F_na"]:
        obs = df[col].notna().to_numpy()
        a = out[col].to_numpy(dtype=float)[obs]
        b = df[col].to_numpy(dtype=float, na_value=np.nan)[obs]
        assert np.array_equal(a, b)
    assert res.n_missing.to_dict() == {"f": 8, "i_na": 7, "F_na": 6, "i_full": 0}


def test_columns_selects_and_orders_the_model() -> None:
    df = _mixed_frame()
    res = imputer.impute(df, columns=["F_na", "f"])
    assert res.columns == ("F_na", "f")
    assert list(res.mean.index) == ["F_na", "f"]
    assert list(res.cov.columns) == ["F_na", "f"] and list(res.conditional_var.columns) == ["F_na", "f"]
    # the unselected numeric column keeps its missing cells
    pd.testing.assert_series_equal(res.completed["i_na"], df["i_na"])
    assert not res.completed[["F_na", "f"]].isna().any().any()


def test_array_input_and_duplicate_index_labels() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 3))
    x[::4, 1] = np.nan
    res = imputer.impute(x)
    assert list(res.completed.columns) == [0, 1, 2]
    assert res.completed.shape == (30, 3)
    obj = x.astype(object)
    obj[0, 0] = None
    obj[1, 2] = pd.NA
    res2 = imputer.impute(obj.tolist())
    assert res2.n_missing.tolist() == [1, 8, 1]
    df = pd.DataFrame(x, index=[0, 0, 1] * 10, columns=["a", "b", "c"])
    res3 = imputer.impute(df)
    assert res3.completed.index.equals(df.index)
    assert res3.conditional_var.index.equals(df.index)


def test_result_is_frozen_and_consistent() -> None:
    res = imputer.impute(_mixed_frame())
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.loglik = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        res.loglik_history[0] = 0.0
    cov = res.cov.to_numpy()
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(res.corr.to_numpy(), cov / np.outer(sd, sd), rtol=1e-12)
    assert np.allclose(cov, cov.T)
    assert res.n_rows == 40 and res.tol == DEFAULT_TOL and res.ridge == 0.0


def test_to_dict_is_json_ready() -> None:
    df = _mixed_frame()
    res = imputer.impute(df, ridge=0.5)
    d = res.to_dict()
    text = json.dumps(d, allow_nan=False)  # plain Python values, no NaN/inf
    back = json.loads(text)
    assert set(back) == {
        "columns", "completed", "mean", "cov", "corr", "loglik", "loglik_history",
        "n_iter", "n_evals", "converged", "n_rows", "n_missing", "options", "trace", "passthrough",
    }
    assert back["columns"] == ["f", "i_na", "F_na", "i_full"]
    assert back["completed"]["columns"] == list(df.columns)
    assert back["completed"]["index"] == list(df.index)
    assert len(back["completed"]["data"]) == 40 and len(back["completed"]["data"][0]) == 8
    row0 = back["completed"]["data"][0]
    assert row0[0] == "r0" and row0[5] == "u" and row0[6].startswith("2020-01-01") and row0[7] is True
    assert back["mean"]["f"] == pytest.approx(float(res.mean["f"]))
    assert back["cov"]["data"][0][0] == pytest.approx(float(res.cov.iloc[0, 0]))
    assert back["options"] == {"tol": DEFAULT_TOL, "max_iter": 1000, "ridge": 0.5, "prior": "ridge", "accelerate": True,
                               "start": False}
    assert back["n_missing"] == {"f": 8, "i_na": 7, "F_na": 6, "i_full": 0}
    assert back["loglik_history"] == pytest.approx(res.loglik_history.tolist())
    with_var = res.to_dict(conditional_var=True)
    cv = with_var["conditional_var"]
    assert cv["columns"] == back["columns"] and len(cv["data"]) == 40
    assert cv["data"][0][0] > 0.0  # row id0 misses f


def test_to_dict_maps_non_finite_to_none() -> None:
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.5], "b": [1.0, 0.0, 2.0, 1.5], "note": [np.nan, np.inf, 1.0, 2.0]})
    res = imputer.impute(df, columns=["a", "b"])
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert [row[2] for row in d["completed"]["data"]] == [None, None, 1.0, 2.0]


def test_summary_reports_the_fit() -> None:
    res = imputer.impute(_mixed_frame())
    text = res.summary()
    for needle in ["rows:", "40", "missing cells:", "21 of 160", "iterations:", "converged:", "yes", "log-likelihood:", "i_na", "Correlation"]:
        assert needle in text


def test_to_dict_keys_of_tuple_labels() -> None:
    # MultiIndex columns: the keys of mean / n_missing are the JSON text of the label's
    # entry in "columns", the same rule for both
    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 3))
    x[::5, 0] = np.nan
    x[1::7, 2] = np.nan
    df = pd.DataFrame(x, columns=pd.MultiIndex.from_tuples([("x", 1), ("x", 2), ("y", 1)]))
    res = imputer.impute(df)
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["columns"] == [["x", 1], ["x", 2], ["y", 1]]
    keys = ['["x", 1]', '["x", 2]', '["y", 1]']
    assert list(d["mean"]) == keys and list(d["n_missing"]) == keys
    assert [json.loads(k) for k in d["mean"]] == d["columns"]
    assert d["n_missing"] == {'["x", 1]': 6, '["x", 2]': 0, '["y", 1]': 5}
    assert d["mean"]['["y", 1]'] == pytest.approx(float(res.mean[("y", 1)]))
    # plain labels are unchanged: strings as they are, numbers as str
    d2 = imputer.impute(pd.DataFrame(x)).to_dict()
    assert list(d2["mean"]) == ["0", "1", "2"] and list(d2["n_missing"]) == ["0", "1", "2"]


def test_conditional_var_built_on_first_access_and_picklable() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(60, 4)) @ np.array([[1, 0.5, 0, 0], [0, 1, 0.3, 0], [0, 0, 1, 0.2], [0, 0, 0, 1.0]])
    x[rng.random(x.shape) < 0.2] = np.nan
    x[:, 0] = rng.normal(size=60)  # one always-observed column
    df = pd.DataFrame(x, columns=list("abcd"))
    res = imputer.impute(df)
    early = pickle.loads(pickle.dumps(res))  # before the variances are built
    cv = res.conditional_var
    assert res.conditional_var is cv  # built once, cached
    pd.testing.assert_frame_equal(early.conditional_var, cv)
    late = pickle.loads(pickle.dumps(res))
    pd.testing.assert_frame_equal(late.conditional_var, cv)
    assert np.all(cv.to_numpy()[~np.isnan(x)] == 0.0) and np.all(cv.to_numpy()[np.isnan(x)] > 0.0)


# ------------------------------------------------------------------ a result is a value
def _small() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(30, 3)) @ np.array([[1.0, 0.5, 0.2], [0.0, 1.0, 0.4], [0.0, 0.0, 1.0]])
    x[rng.random(x.shape) < 0.15] = np.nan
    x[:, 0] = np.round(rng.normal(size=30), 3)  # always observed
    return pd.DataFrame(x, columns=["a", "b", "c"], index=pd.Index([f"r{i}" for i in range(30)], name="row")).assign(
        label=[f"s{i % 4}" for i in range(30)]
    )


def test_equal_fits_are_equal_and_hash_alike() -> None:
    df = _small()
    a, b = imputer.impute(df), imputer.impute(df.copy())
    assert a == b and not (a != b) and hash(a) == hash(b)
    assert len({a, b}) == 1
    back = pickle.loads(pickle.dumps(a))
    assert back == a and hash(back) == hash(a)
    a.conditional_var  # noqa: B018 -- built and cached on one side only: not part of the value
    assert a == b


@pytest.mark.parametrize(
    "change",
    [
        lambda df: imputer.impute(df, tol=1e-3),
        lambda df: imputer.impute(df, ridge=1.0),
        lambda df: imputer.impute(df, accelerate=False),
        lambda df: imputer.impute(df, max_iter=500),  # same numbers, other options
        lambda df: imputer.impute(df, columns=["a", "b"]),
        lambda df: imputer.impute(df.set_axis([f"x{i}" for i in range(30)])),  # other row labels
        lambda df: imputer.impute(df.assign(label="same")),  # an unmodelled column
    ],
    ids=["tol", "ridge", "plain-em", "max_iter", "columns", "index", "unmodelled"],
)
def test_different_fits_differ(change: Any) -> None:
    df = _small()
    base, other = imputer.impute(df), change(df)
    assert base != other and not (base == other)
    hash(other)  # never raises


def test_comparison_with_other_types() -> None:
    res = imputer.impute(_small())
    assert res.__eq__(1) is NotImplemented
    assert res != 1 and res != res.to_dict() and res != None  # noqa: E711


def test_trace_and_derived_counters() -> None:
    res = imputer.impute(_small(), ridge=0.5)
    t = res.trace
    assert (res.n_iter, res.n_evals, res.converged) == (t.n_iter, t.n_evals, t.converged)
    assert res.loglik_history is t.history and t.stop_reason == "converged"
    # the history is shifted to the data's units: without a prior its last entry is the
    # log-likelihood one EM update before the estimate
    ml = imputer.impute(_small())
    assert ml.loglik_history[-1] <= ml.loglik + 1e-9 * abs(ml.loglik)
    assert ml.loglik_history[-1] == pytest.approx(ml.loglik, rel=1e-8)
    assert res.to_dict()["trace"] == t.to_dict()
    with pytest.raises(AttributeError):
        res.n_iter = 0  # type: ignore[misc]
    with pytest.warns(imputer.ConvergenceWarning, match="max_iter=2"):
        stopped = imputer.impute(_small(), max_iter=2)
    assert stopped.trace.stop_reason == "max_iter" and not stopped.converged
    assert "iteration limit (max_iter) reached" in stopped.summary()
    assert re.search(r"stopped because: +converged \(parameter change <= tol\)", res.summary())


def test_singular_fit_has_stop_reason_singular() -> None:
    # two rows observe y: the regression of y on x fits them exactly, Var(y | x) -> 0
    x = np.random.default_rng(3).normal(size=30)
    y = np.full(30, np.nan)
    y[[0, 1]] = [1.0, 2.5]
    df = pd.DataFrame({"x": x, "y": y})
    with pytest.warns(imputer.ConvergenceWarning, match="singular"):
        res = imputer.impute(df)
    assert res.trace.stop_reason == "singular" and res.converged is False
    assert "covariance heading to singular" in res.summary()


FIELDS = ["completed", "mean", "cov", "corr", "n_missing"]


@pytest.mark.parametrize("name", FIELDS)
@pytest.mark.parametrize("mutate", mutations.BASIC, ids=lambda f: f.__name__)
def test_changing_a_read_field_leaves_the_result_unchanged(name: str, mutate: Any) -> None:
    res = imputer.impute(_small())
    before = pickle.loads(pickle.dumps(res))
    obj = getattr(res, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mutate(obj)
    except (ValueError, TypeError):
        pass  # refused: fine
    assert res == before
    pd.testing.assert_frame_equal(res.completed, before.completed)


def test_literal_item_assignment_leaves_the_result_unchanged() -> None:
    res = imputer.impute(_small())
    mean0, cov00 = float(res.mean.iloc[0]), float(res.cov.iloc[0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas 3 warns that chained assignment never works
        res.mean.iloc[0] = 99.0
        res.cov.iloc[0, 0] = 99.0
        res.completed["b"] = 0.0
    assert float(res.mean.iloc[0]) == mean0 and float(res.cov.iloc[0, 0]) == cov00
    assert res.completed["b"].isna().sum() == 0 and (res.completed["b"] != 0.0).all()


@pytest.mark.parametrize("name", ["loglik_history", "conditional_var"])
def test_arrays_and_cached_variances_refuse_writes(name: str) -> None:
    res = imputer.impute(_small())
    obj = getattr(res, name)
    with pytest.raises(ValueError, match="read-only"):
        if isinstance(obj, pd.DataFrame):
            obj.iloc[0, 1] = 99.0
        else:
            obj[0] = 99.0
    with pytest.raises(ValueError, match="WRITEABLE"):
        np.asarray(obj.to_numpy() if isinstance(obj, pd.DataFrame) else obj).flags.writeable = True


def test_callers_frame_and_completed_are_independent() -> None:
    df = _small()
    res = imputer.impute(df)
    snapshot = res.completed.copy()
    df.iloc[0, 0] = 1e6  # the caller edits their frame afterwards (an always-observed column)
    df.iloc[0, 3] = "edited"
    pd.testing.assert_frame_equal(res.completed, snapshot)
    mine = res.completed.copy()  # what users do to edit the completed table
    mine.iloc[0, 0] = -1.0
    assert mine.iloc[0, 0] == -1.0 and res.completed.iloc[0, 0] == snapshot.iloc[0, 0]
