"""Bad input to ``imputer.impute_t`` raises an error from imputer.errors naming what is wrong."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.errors import ImputerError, ImputerTypeError, ImputerValueError

from .conftest import datasets


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0, 5.5], "b": [2.0, np.nan, 3.5, 1.0, 0.5], "label": list("xyzxy")})


@pytest.mark.parametrize(
    ("data", "kwargs", "error", "match"),
    [
        (_frame(), {"dof": 0}, ImputerValueError, r"dof must be > 0"),
        (_frame(), {"dof": -3.0}, ImputerValueError, r"dof must be > 0 .*got -3\.0"),
        (_frame(), {"dof": float("nan")}, ImputerValueError, r"dof must be > 0"),
        (_frame(), {"dof": float("inf")}, ImputerValueError, r"dof must be finite.*imputer\.impute"),
        (_frame(), {"dof": True}, ImputerTypeError, r"dof must be a positive number or None .*got True"),
        (_frame(), {"dof": np.bool_(False)}, ImputerTypeError, r"dof must be a positive number"),
        (_frame(), {"dof": "4"}, ImputerTypeError, r"dof must be a positive number or None .*got '4'"),
        (_frame(), {"dof": [4]}, ImputerTypeError, r"dof must be a positive number"),
        # impute's checks hold
        (_frame(), {"tol": 0.0}, ImputerValueError, r"tol must be a finite number > 0"),
        (_frame(), {"ridge": -1.0}, ImputerValueError, r"ridge must be a finite number >= 0"),
        (_frame(), {"max_iter": True}, ImputerTypeError, r"max_iter must be an integer"),
        (_frame(), {"columns": ["a", "nope"]}, ImputerValueError, r"columns: unknown column 'nope'"),
        (_frame(), {"columns": ["a", "label"]}, ImputerTypeError, r"column 'label' has non-numeric dtype"),
        (pd.DataFrame({"a": [1.0, 2.0, 3.0], "gone": [np.nan] * 3}), {}, ImputerValueError, r"column 'gone' has no observed value"),
        (pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "k": [7.0, 7.0, np.nan, 7.0]}), {}, ImputerValueError, r"column 'k' is constant"),
        (pd.DataFrame(np.arange(12.0).reshape(3, 4) ** 1.5), {}, ImputerValueError, r"3 rows for 4 modelled columns.*ridge > 0"),
        (pd.DataFrame({"s": ["a", "b"]}), {}, ImputerTypeError, r"no numeric column to model"),
    ],
)
def test_bad_input_is_rejected_with_a_named_error(data, kwargs, error, match) -> None:
    before = data.copy()
    with pytest.raises(error, match=match) as info:
        imputer.impute_t(data, **kwargs)
    assert isinstance(info.value, ImputerError)
    pd.testing.assert_frame_equal(data, before)


@pytest.mark.parametrize("dof", [3, 4.5, np.float32(7.0), np.int64(2)])
def test_numbers_of_any_real_type_are_accepted_as_dof(dof: float) -> None:
    res = imputer.impute_t(datasets()["airquality"], dof=dof)
    assert res.converged and res.dof == float(dof) and isinstance(res.dof, float) and not res.dof_estimated


def test_singular_scale_warns_and_says_so() -> None:
    # two rows observe y: the regression of y on x fits them exactly, the scale of y | x -> 0
    x = np.random.default_rng(3).normal(size=30)
    y = np.full(30, np.nan)
    y[[0, 1]] = [1.0, 2.5]
    with pytest.warns(imputer.ConvergenceWarning, match="singular"):
        res = imputer.impute_t(pd.DataFrame({"x": x, "y": y}), dof=4.0)
    assert res.trace.stop_reason == "singular" and not res.converged
    assert "heading to singular" in res.summary()


def test_iteration_limit_warns() -> None:
    with pytest.warns(imputer.ConvergenceWarning, match="max_iter=1"):
        res = imputer.impute_t(_frame(), max_iter=1)
    assert not res.converged and res.trace.stop_reason == "max_iter"
