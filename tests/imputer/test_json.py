"""The JSON-ready conversion and the one wire convention shared by both results' to_dict()."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer._json import (
    finite_or_none, float_list, json_key, json_labels, json_value, labelled_values, split_frame, square_frame, wanted_matrices,
)
from imputer.errors import ImputerValueError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (pd.NA, None),
        (pd.NaT, None),
        (np.bool_(True), True),
        (np.int64(7), 7),
        (np.float32(1.5), 1.5),
        (float("nan"), None),
        (float("inf"), None),
        (pd.Timestamp("2020-01-02"), "2020-01-02T00:00:00"),
        (("x", np.int64(1)), ["x", 1]),
        ("s", "s"),
    ],
)
def test_json_value(value: object, expected: object) -> None:
    assert json_value(value) == expected


@pytest.mark.parametrize(("label", "key"), [("a", "a"), (3, "3"), (("x", 1), '["x", 1]')])
def test_json_key_round_trips_tuples(label: object, key: str) -> None:
    assert json_key(label) == key


@pytest.mark.parametrize(("x", "expected"), [(np.float64(2.0), 2.0), (np.inf, None), (np.nan, None), (3, 3.0)])
def test_finite_or_none(x: object, expected: float | None) -> None:
    assert finite_or_none(x) == expected


def test_split_and_square_frames_are_json_serialisable_with_nulls() -> None:
    frame = pd.DataFrame({"a": [1.0, np.nan], "s": ["u", None]}, index=["r1", "r2"])
    split = split_frame(frame)
    assert split == {"columns": ["a", "s"], "index": ["r1", "r2"], "data": [[1.0, "u"], [None, None]]}
    square = square_frame(pd.DataFrame([[1.0, np.inf], [np.inf, 2.0]], index=["a", "b"], columns=["a", "b"]))
    assert square == {"columns": ["a", "b"], "data": [[1.0, None], [None, 2.0]]}
    json.dumps([split, square], allow_nan=False)


def test_labelled_values_and_float_list() -> None:
    s = pd.Series([1.5, np.nan, 2.0], index=pd.Index(["a", 3, ("x", 1)], tupleize_cols=False))
    assert labelled_values(s) == {"a": 1.5, "3": None, '["x", 1]': 2.0}
    assert float_list(np.array([1.0, np.inf, -2.5])) == [1.0, None, -2.5]
    assert float_list([]) == []
    assert json_labels(pd.Index(["a", 2, 2.5])) == ["a", 2, 2.5]


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([1, "1"], r"labels 1 and '1' both become the JSON key '1'"),
        (["True", True], r"labels 'True' and True both become the JSON key 'True'"),
        ([("x", 1), '["x", 1]'], r"labels \('x', 1\) and '\[\"x\", 1\]' both become"),
    ],
)
def test_labelled_values_refuse_labels_that_share_a_key(labels: list[object], message: str) -> None:
    s = pd.Series([1.0, 2.0], index=pd.Index(labels, dtype=object, tupleize_cols=False))
    with pytest.raises(ImputerValueError, match=message):
        labelled_values(s)


def test_to_dict_refuses_columns_that_share_a_key_rather_than_drop_one() -> None:
    df = pd.DataFrame({1: [1.0, 2, np.nan, 4, 5, 3], "1": [2.0, 1, 3, np.nan, 4, 1], "c": [0.0, 1, 1, 2, 3, 5]})
    res = imputer.impute(df, ridge=1.0)
    with pytest.raises(ImputerValueError, match=r"rename one of them before calling to_dict\(\)"):
        res.to_dict()


def _both() -> tuple[dict[str, object], dict[str, object]]:
    """An MVN and a mixed-model fit whose labels are tuples (MultiIndex columns / levels)."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(20, 2))
    x[::4, 1] = np.nan
    cols = pd.MultiIndex.from_tuples([("x", 0), ("x", 1)])
    index = pd.Index([f"r{i}" for i in range(20)])
    mvn = imputer.impute(pd.DataFrame(x, columns=cols, index=index))
    g = np.repeat(np.arange(4), 5)
    Z = pd.get_dummies(g).astype(float).set_axis(index)
    Z.columns = pd.MultiIndex.from_tuples([("x", i) for i in range(4)])
    y = pd.Series(rng.normal(size=20) + g, index=index)
    mixed = imputer.fit_mixed(y, None, {"g": {"Z": Z}})
    return (json.loads(json.dumps(mvn.to_dict(), allow_nan=False)), json.loads(json.dumps(mixed.to_dict(), allow_nan=False)))


def test_both_results_share_one_convention() -> None:
    mvn, mixed = _both()
    # how the fit went: the same keys, types and layout
    for d in (mvn, mixed):
        assert set(d["trace"]) == {"n_iter", "n_evals", "converged", "stop_reason", "n_rejected", "history", "changes"}
        assert (d["n_iter"], d["n_evals"], d["converged"]) == (d["trace"]["n_iter"], d["trace"]["n_evals"], d["trace"]["converged"])
        assert d["loglik_history"] == d["trace"]["history"]
    shared = set(mvn) & set(mixed)
    assert {"trace", "n_iter", "n_evals", "converged", "loglik", "loglik_history", "options"} <= shared
    for key in shared - {"completed", "n_missing"}:  # a table vs a vector; per column vs a count
        assert type(mvn[key]) is type(mixed[key]), key
    # the options: the shared ones have the same types
    for key in ("tol", "max_iter", "accelerate"):
        assert type(mvn["options"][key]) is type(mixed["options"][key]), key
    # labels: tuple labels become the JSON text of their list, as keys, in both
    assert list(mvn["mean"]) == ['["x", 0]', '["x", 1]'] and mvn["columns"] == [["x", 0], ["x", 1]]
    assert list(mixed["u"]["g"]) == ['["x", 0]', '["x", 1]', '["x", 2]', '["x", 3]']
    # per-row values carry the row labels
    assert mvn["completed"]["index"] == mixed["index"] == [f"r{i}" for i in range(20)]


@pytest.mark.parametrize(
    ("matrices", "cov", "corr"),
    [("both", True, True), ("cov", True, False), ("corr", False, True), ("none", False, False)],
)
def test_to_dict_writes_out_the_matrices_asked_for(matrices: str, cov: bool, corr: bool) -> None:
    assert wanted_matrices(matrices) == (cov, corr)
    frame = pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0, 5.0, 3.0], "b": [2.0, np.nan, 3.0, 5.0, 4.0, 1.0]})
    result = imputer.impute(frame)
    full, out = result.to_dict(), result.to_dict(matrices=matrices)
    assert out["cov"] == (full["cov"] if cov else None)
    assert out["corr"] == (full["corr"] if corr else None)
    assert {k: v for k, v in out.items() if k not in ("cov", "corr")} == {
        k: v for k, v in full.items() if k not in ("cov", "corr")
    }


@pytest.mark.parametrize("bad", ["all", "", None, True])
def test_unknown_matrices_is_an_error_naming_it(bad: object) -> None:
    with pytest.raises(ImputerValueError, match=r"^matrices must be one of 'both', 'cov', 'corr', 'none'; got "):
        wanted_matrices(bad)
