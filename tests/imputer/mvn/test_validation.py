"""Bad input to ``imputer.impute`` raises an error from imputer.errors naming what is wrong."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.errors import ImputerError, ImputerTypeError, ImputerValueError


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": [1.0, 2.0, np.nan, 4.0, 5.5],
            "b": [2.0, np.nan, 3.5, 1.0, 0.5],
            "label": ["x", "y", "z", "x", "y"],
        }
    )


@pytest.mark.parametrize(
    ("data", "kwargs", "error", "match"),
    [
        (pd.DataFrame(), {}, ImputerValueError, r"data is empty \(0 rows x 0 columns\)"),
        (pd.DataFrame({"a": pd.Series([], dtype=float)}), {}, ImputerValueError, r"data is empty \(0 rows"),
        (pd.DataFrame({"s": ["a", "b"], "t": ["c", "d"]}), {}, ImputerTypeError, r"no numeric column to model"),
        (
            pd.DataFrame([[1.0, 2.0], [3.0, 4.0]], columns=["a", "a"]),
            {},
            ImputerValueError,
            r"duplicate column names: \['a'\]",
        ),
        (pd.DataFrame({"a": [1.0], "b": [2.0]}), {}, ImputerValueError, r"single row"),
        (
            pd.DataFrame({"a": [1.0, 2.0, 3.0], "gone": [np.nan, np.nan, np.nan]}),
            {},
            ImputerValueError,
            r"column 'gone' has no observed value",
        ),
        (
            pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [1.0, np.inf, 2.0]}),
            {},
            ImputerValueError,
            r"column 'b' contains an infinite value",
        ),
        (
            pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "k": [7.0, 7.0, np.nan, 7.0]}),
            {},
            ImputerValueError,
            r"column 'k' is constant.*columns=",
        ),
        (
            pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "huge": [1e308, -1e308, np.nan, 5e307]}),
            {},
            ImputerValueError,
            r"column 'huge': its values are too large in magnitude.*rescale",
        ),
        (
            pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "big": [3e154, -2e154, np.nan, 1e154]}),
            {},
            ImputerValueError,
            r"column 'big': its values are too large",
        ),
        (
            pd.DataFrame(np.arange(12.0).reshape(3, 4) ** 1.5, columns=list("abcd")),
            {},
            ImputerValueError,
            r"3 rows for 4 modelled columns.*pass ridge > 0",
        ),
        (_frame(), {"columns": ["a", "nope"]}, ImputerValueError, r"columns: unknown column 'nope'"),
        (_frame(), {"columns": ["a", "a"]}, ImputerValueError, r"columns: column 'a' is listed twice"),
        (_frame(), {"columns": []}, ImputerValueError, r"columns is empty"),
        (_frame(), {"columns": "a"}, ImputerTypeError, r"columns must be a list of column names"),
        (_frame(), {"columns": ["a", "label"]}, ImputerTypeError, r"column 'label' has non-numeric dtype"),
        (_frame(), {"tol": 0.0}, ImputerValueError, r"tol must be a finite number > 0"),
        (_frame(), {"tol": float("nan")}, ImputerValueError, r"tol must be a finite number > 0"),
        (_frame(), {"tol": "small"}, ImputerTypeError, r"tol must be a real number"),
        (_frame(), {"max_iter": 0}, ImputerValueError, r"max_iter must be >= 1"),
        (_frame(), {"max_iter": 2.5}, ImputerTypeError, r"max_iter must be an integer"),
        (_frame(), {"max_iter": True}, ImputerTypeError, r"max_iter must be an integer"),
        (_frame(), {"ridge": -1.0}, ImputerValueError, r"ridge must be a finite number >= 0"),
        (_frame(), {"ridge": float("inf")}, ImputerValueError, r"ridge must be a finite number >= 0"),
        (_frame(), {"accelerate": "yes"}, ImputerTypeError, r"accelerate must be True or False"),
        (np.arange(5.0), {}, ImputerValueError, r"data must be 2-D .* 1 dimension"),
        ([[1.0, "x"], [2.0, 3.0]], {}, ImputerTypeError, r"column 1 \(row 0\) holds the non-numeric value 'x'"),
        (np.array([[True, False], [False, True]]), {}, ImputerTypeError, r"no numeric column"),
    ],
)
def test_bad_input_is_rejected_with_a_named_error(data, kwargs, error, match) -> None:
    with pytest.raises(error, match=match) as info:
        imputer.impute(data, **kwargs)
    assert isinstance(info.value, ImputerError)
    assert isinstance(info.value, (ValueError, TypeError))


def test_ridge_lifts_the_rows_for_columns_error() -> None:
    data = pd.DataFrame(np.random.default_rng(0).normal(size=(3, 4)), columns=list("abcd"))
    res = imputer.impute(data, ridge=2.0)
    assert np.all(np.isfinite(res.cov.to_numpy()))


def test_ridge_near_the_largest_float_is_named() -> None:
    # every iterate's covariance overflows: the engine's internal signal becomes an error naming ridge
    df = pd.DataFrame({"a": [1.0, 2, 3, 4, 5], "b": [2.0, np.nan, 5, 1, 3]})
    with pytest.raises(ImputerValueError, match=r"^ridge=1e\+308: the fit found no valid estimate"):
        imputer.impute(df, ridge=1e308)
    assert imputer.impute(df, ridge=1e300).converged  # large but representable: fine


def test_errors_leave_the_callers_frame_alone() -> None:
    df = _frame()
    before = df.copy(deep=True)
    with pytest.raises(ImputerValueError):
        imputer.impute(df, tol=-1.0)
    pd.testing.assert_frame_equal(df, before)


@pytest.mark.parametrize("dtype", ["Int64", "int64"])
def test_integers_beyond_2_53_in_a_column_with_gaps(dtype: str) -> None:
    big = 2**53 + 1
    values = [big, 3, 5, 7, 11]
    x = [1.0, 2.0, np.nan, 4.0, 3.5]
    if dtype == "Int64":
        frame = pd.DataFrame({"id": pd.array([big, None, 5, 7, 11], dtype="Int64"), "x": x})
        with pytest.raises(ImputerValueError, match=r"^column 'id' holds integers of magnitude 2\*\*53 or more \(9007199254740993\), which"):
            imputer.impute(frame)
        out = imputer.impute(frame, columns=["x"]).completed
        assert out["id"].tolist()[0] == big and out["id"].dtype == "Int64"
    else:  # no gap: the column keeps its dtype and every value
        frame = pd.DataFrame({"id": np.array(values, dtype=np.int64), "x": x})
        out = imputer.impute(frame).completed
        assert out["id"].tolist() == values and out["id"].dtype == np.int64


def test_tiny_spread_at_a_huge_magnitude_is_not_called_constant() -> None:
    frame = pd.DataFrame({"t": [9e15, 9e15 + 1, 9e15 + 2, 9e15 + 4, np.nan], "x": [1.0, 2.0, np.nan, 4.0, 3.0]})
    with pytest.raises(ImputerValueError, match=r"^column 't' is not constant \(its values run from 9000000000000000\.0 "
                                                r"to 9000000000000004\.0\), but its spread .* subtract an offset first"):
        imputer.impute(frame)
    shifted = frame.assign(t=frame["t"] - 9e15)
    assert imputer.impute(shifted).converged


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (np.array([[10**400, 2.0], [3.0, 4.0], [5.0, np.nan], [6, 1.0]], dtype=object),
         r"^data: column 0 \(row 0\) holds a value too large for a float \(about 1e\+400\); rescale the column"),
        ([[1.0, 2.0], [3.0, -(10**400)], [5.0, np.nan], [6.0, 1.0]],
         r"^data: column 1 \(row 1\) holds a value too large for a float \(about -1e\+400\); rescale the column"),
    ],
    ids=["object-array", "nested-list"],
)
def test_an_integer_beyond_float_range_in_an_array_is_named(data, match: str) -> None:
    # float(10**400) raises OverflowError: the conversion names the cell instead
    with pytest.raises(ImputerValueError, match=match):
        imputer.impute(data)


@pytest.mark.parametrize(
    ("dtype", "values", "shown"),
    [
        ("UInt64", [2**63, None, 2**63 + 8, 5], "9223372036854775808"),  # through int64 it read -9223372036854775808
        ("UInt64", [2**64 - 1, None, 3, 5], "18446744073709551615"),
        ("Int64", [-(2**62), None, 3, 5], "-4611686018427387904"),
    ],
)
def test_integers_beyond_2_53_are_shown_with_their_true_value(dtype: str, values: list, shown: str) -> None:
    frame = pd.DataFrame({"u": pd.array(values, dtype=dtype), "x": [1.0, 2.0, 4.0, 3.0]})
    with pytest.raises(ImputerValueError,
                       match=rf"^column 'u' holds integers of magnitude 2\*\*53 or more \({shown}\), "):
        imputer.impute(frame)


@pytest.mark.parametrize(
    ("column", "match"),
    [
        # squares of deviations about 1e-300 underflow to 0: a scale problem, not an offset one
        ([1e-300, -2e-300, 3e-300, np.nan, 2.5e-300], r"^column 't': its values are too small in magnitude for "
         r"float64 \(about 3e-300: the squares of their deviations from the mean underflow.*multiply it by a power"),
        ([3e-310, 1e-310, np.nan, 2e-310, 4e-310], r"^column 't': its values are too small in magnitude"),
        ([1e-300, 1e-300 + 1e-310, 1e-300 + 2e-310, np.nan, 1e-300 + 4e-310], r"^column 't': its values are too small"),
        # the spread lost against the magnitude still says so
        ([9e15, 9e15 + 1, 9e15 + 2, 9e15 + 4, np.nan], r"^column 't' is not constant .* subtract an offset first"),
        ([1e10] * 30 + [1e10 + 2e-6, np.nan], r"^column 't' is not constant .* subtract an offset first"),
    ],
    ids=["1e-300", "subnormal", "1e-300-offset", "offset", "offset-one-outlier"],
)
def test_underflow_is_told_apart_from_a_spread_lost_to_an_offset(column: list, match: str) -> None:
    x = np.resize([1.0, 2.0, np.nan, 4.0, 3.0], len(column))
    with pytest.raises(ImputerValueError, match=match):
        imputer.impute(pd.DataFrame({"t": column, "x": x}))
    if "small" in match:  # the remedy works
        assert imputer.impute(pd.DataFrame({"t": np.asarray(column) * 1e300, "x": x})).mean.notna().all()


class _FakeDaskFrame:
    """Stands for a Dask DataFrame where Dask is not installed: what counts is the module name."""


_FakeDaskFrame.__module__ = "dask.dataframe.dask_expr._collection"
_FakeDaskFrame.__name__ = "DataFrame"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: imputer.patterns(_FakeDaskFrame()), r"^imputer\.patterns: not available for a Dask DataFrame \(.*data\.compute\(\)"),
        (lambda: imputer.mcar_test(_FakeDaskFrame()), r"^imputer\.mcar_test: not available for a Dask DataFrame"),
        (lambda: imputer.disperse(_FakeDaskFrame()), r"^imputer\.disperse: not available for a Dask DataFrame"),
        (lambda: imputer.impute_t(_FakeDaskFrame()), r"^data is a Dask DataFrame, which this function does not take; pass data\.compute\(\)"),
    ],
    ids=["patterns", "mcar_test", "disperse", "select"],
)
def test_a_dask_frame_is_refused_before_being_read_as_an_array(call, match: str) -> None:
    """A Dask frame read as an array lost its labels: refused by the in-memory functions' table check."""
    with pytest.raises(ImputerTypeError, match=match):
        call()


@pytest.mark.parametrize(
    ("options", "where", "message"),
    [
        (["transforms"], None, "transforms: not available for a Dask DataFrame (why)"),
        (["categorical", "means"], "EMImputer.fit", "EMImputer.fit: categorical, means: not available for a Dask DataFrame (why)"),
    ],
)
def test_not_for_dask_wording(options: list[str], where: str | None, message: str) -> None:
    from imputer.mvn._validate import not_for_dask

    err = not_for_dask(options, "why", where=where)
    assert isinstance(err, ImputerTypeError) and str(err) == message
