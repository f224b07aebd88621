"""MixedResult as a value: equality and hash, read-only contents, the trace, to_dict() and summary()."""

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
from imputer import fit_mixed, fit_mixed_frame
from tests.imputer import mutations


def _frame() -> pd.DataFrame:
    """24 rows, 6 groups of 4, a covariate, one missing response (row "r5")."""
    rng = np.random.default_rng(21)
    g = np.repeat([f"g{i}" for i in range(6)], 4)
    x = np.round(rng.normal(size=24), 2)
    effect = dict(zip(sorted(set(g)), rng.normal(scale=1.5, size=6)))
    y = 2.0 + 0.5 * x + np.array([effect[v] for v in g]) + rng.normal(scale=0.7, size=24)
    df = pd.DataFrame({"y": np.round(y, 3), "x": x, "g": g}, index=pd.Index([f"r{i}" for i in range(24)], name="obs"))
    df.loc["r5", "y"] = np.nan
    return df


def _fit(df: pd.DataFrame | None = None, **kw: Any) -> imputer.MixedResult:
    return fit_mixed_frame(_frame() if df is None else df, "y", fixed=["x"], random=["g"], **kw)


def test_equal_fits_are_equal_and_hash_alike() -> None:
    a, b = _fit(), _fit()
    assert a == b and not (a != b) and hash(a) == hash(b) and len({a, b}) == 1
    back = pickle.loads(pickle.dumps(a))
    assert back == a and hash(back) == hash(a)


@pytest.mark.parametrize(
    "change",
    [
        lambda: _fit(method="ML"),
        lambda: _fit(tol=1e-4),
        lambda: _fit(accelerate=False),
        lambda: _fit(max_iter=9_999),  # same numbers, other options
        lambda: _fit(_frame().set_axis([f"o{i}" for i in range(24)])),  # other row labels
        lambda: fit_mixed_frame(_frame(), "y", random=["g"]),
    ],
    ids=["method", "tol", "plain-em", "max_iter", "index", "model"],
)
def test_different_fits_differ(change: Any) -> None:
    base, other = _fit(), change()
    assert base != other and not (base == other)
    hash(other)  # never raises


def test_comparison_with_other_types() -> None:
    res = _fit()
    assert res.__eq__(1) is NotImplemented
    assert res != 1 and res != res.to_dict() and res != None  # noqa: E711
    df = _frame()
    assert res != imputer.impute(df.drop(columns="g"))  # the other result type


def test_trace_options_and_derived_counters() -> None:
    res = _fit()
    t = res.trace
    assert (res.n_iter, res.n_evals, res.converged) == (t.n_iter, t.n_evals, t.converged)
    assert res.loglik_history is t.history and t.stop_reason == "converged"
    assert res.loglik_history[-1] == pytest.approx(res.loglik, rel=1e-9)
    assert (res.method, res.tol, res.max_iter, res.accelerate, res.engine) == ("REML", 1e-10, 10_000, True, "mme")
    assert re.search(r"stopped because: +converged", res.summary()) and "EM evaluations" in res.summary()
    with pytest.warns(imputer.ConvergenceWarning, match="max_iter=2"):
        short = _fit(max_iter=2, accelerate=False)
    assert short.trace.stop_reason == "max_iter" and not short.converged
    assert re.search(r"stopped because: +iteration limit \(max_iter\) reached", short.summary())


PANDAS_FIELDS = ["var_comp", "beta", "var_beta", "fitted", "completed", "residuals"]


MUTATIONS = mutations.BASIC


def _attempt(mutate: Any, obj: Any) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mutate(obj)
    except (ValueError, TypeError):
        pass  # refused: fine


@pytest.mark.parametrize("name", PANDAS_FIELDS)
@pytest.mark.parametrize("mutate", MUTATIONS, ids=lambda f: f.__name__)
def test_changing_a_read_field_leaves_the_result_unchanged(name: str, mutate: Any) -> None:
    res = _fit()
    before = pickle.loads(pickle.dumps(res))
    _attempt(mutate, getattr(res, name))
    assert res == before


@pytest.mark.parametrize("name", ["u", "pev"])
@pytest.mark.parametrize("mutate", MUTATIONS, ids=lambda f: f.__name__)
def test_blup_mappings_are_read_only(name: str, mutate: Any) -> None:
    res = _fit()
    before = pickle.loads(pickle.dumps(res))
    mapping = getattr(res, name)
    with pytest.raises(TypeError, match="does not support item assignment"):
        mapping["g"] = pd.Series([0.0])
    _attempt(mutate, mapping["g"])
    assert res == before
    assert getattr(res, name)["g"].equals(getattr(before, name)["g"])


def test_literal_item_assignment_and_history_writes() -> None:
    res = _fit()
    b0 = float(res.beta.iloc[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas 3 warns that chained assignment never works
        res.beta.iloc[0] = 99.0
        res.u["g"].iloc[0] = 99.0
    assert float(res.beta.iloc[0]) == b0 and res.u["g"].iloc[0] != 99.0
    with pytest.raises(ValueError, match="read-only"):
        res.loglik_history[0] = 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.u = {}  # type: ignore[misc]


def test_to_dict_carries_index_trace_options_and_engine() -> None:
    df = _frame()
    res = _fit(df)
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["index"] == list(df.index) and len(d["fitted"]) == len(d["index"]) == 24
    assert d["residuals"][5] is None and d["completed"][5] == pytest.approx(d["fitted"][5])
    assert d["trace"] == json.loads(json.dumps(res.trace.to_dict()))
    assert (d["n_iter"], d["n_evals"], d["converged"]) == (res.n_iter, res.n_evals, True)
    assert d["loglik_history"] == d["trace"]["history"]
    assert d["engine"] == "mme" and d["method"] == "REML"
    assert d["options"] == {"method": "REML", "tol": 1e-10, "max_iter": 10_000, "accelerate": True}
    matrix = fit_mixed(df["y"].to_numpy(), None, {"g": {"Z": pd.get_dummies(df["g"]).astype(float).to_numpy()}})
    assert matrix.to_dict()["index"] == list(range(24))


def test_spectral_engine_is_reported() -> None:
    rng = np.random.default_rng(2)
    n = 30
    G = rng.normal(size=(n, 60))
    K = G @ G.T / 60
    y = rng.normal(size=n) + G[:, 0]
    res = fit_mixed(y, None, {"k": {"Z": np.eye(n), "K": K}})
    d = res.to_dict()
    assert res.engine == d["engine"] == "spectral" and "(EM, spectral)" in res.summary()
    assert d["options"]["method"] == "REML" and d["trace"]["stop_reason"] in {"converged", "max_iter"}
