"""imputer.impute(start=(mean, cov)): EM from given starting values.

Reference: Murray's (1977) twelve rows (see tests/imputer/diagnostics/test_dispersion.py),
whose likelihood has maxima at correlation +-1/2 (variances 8/3, log-likelihood
-29.97428641046502) and a saddle point at 0 (variances 5/2, -30.033342386268007) where the
engine's own start stays. A start with a correlation of either sign leads EM to that
sign's maximum (the data map to themselves under ``x2 -> -x2``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.errors import ImputerTypeError, ImputerValueError

DATA = Path(__file__).resolve().parents[2] / "data"
nan = math.nan
MURRAY = pd.DataFrame(
    {
        "x1": [1, 1, -1, -1, 2, 2, -2, -2, nan, nan, nan, nan],
        "x2": [1, -1, 1, -1, nan, nan, nan, nan, 2, 2, -2, -2],
        "note": list("abcdefghijkl"),
    }
)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_start_leads_to_its_maximum(sign: float) -> None:
    start = (np.zeros(2), np.array([[2.0, sign * 0.5], [sign * 0.5, 2.0]]))
    res = imputer.impute(MURRAY, start=start, tol=1e-10)
    assert res.converged and res.loglik == pytest.approx(-29.97428641046502, abs=1e-10)
    np.testing.assert_allclose(res.cov.to_numpy(), [[8 / 3, sign * 4 / 3], [sign * 4 / 3, 8 / 3]], atol=1e-8)
    assert imputer.impute(MURRAY).loglik == pytest.approx(-30.033342386268007, abs=1e-12)  # the engine's own start


def test_the_result_says_whether_a_start_was_given() -> None:
    given = imputer.impute(MURRAY, start=(np.zeros(2), np.eye(2)))
    own = imputer.impute(MURRAY)
    assert given.start_given and not own.start_given
    assert given.to_dict()["options"]["start"] is True and own.to_dict()["options"]["start"] is False
    assert "started from:         the given start" in given.summary()
    assert "started from" not in own.summary()


@pytest.mark.parametrize("labelled", [True, False])
def test_emimputer_takes_a_start(labelled: bool) -> None:
    """The estimator's fit from a start is impute's fit from it; transform fills with that estimate."""
    start = (np.zeros(2), np.array([[2.0, -0.5], [-0.5, 2.0]]))
    ref = imputer.impute(MURRAY, start=start)
    table = MURRAY[["x1", "x2"]]
    if labelled:
        start = (pd.Series(start[0], index=["x1", "x2"]), pd.DataFrame(start[1], index=["x1", "x2"], columns=["x1", "x2"]))
    est = imputer.EMImputer(start=start).fit(table if labelled else table.to_numpy())
    assert est.loglik_ == pytest.approx(-29.97428641046502, abs=1e-9) and est.loglik_ == ref.loglik
    np.testing.assert_array_equal(est.covariance_, ref.cov.to_numpy())
    np.testing.assert_allclose(est.transform(table), ref.completed[["x1", "x2"]].to_numpy(), rtol=1e-12, atol=1e-12)
    assert imputer.EMImputer().fit(table).loglik_ == pytest.approx(-30.033342386268007, abs=1e-12)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"model": "t"}, r"EMImputer: start applies to the normal model only, not with model='t'"),
        ({"transforms": {"x1": "log"}}, r"not with transforms"),
        ({"categorical": ["x1"]}, r"not with categorical"),
    ],
)
def test_emimputer_start_with_another_model_is_an_error(params: dict, match: str) -> None:
    with pytest.raises(ImputerTypeError, match=match):
        imputer.EMImputer(start=(np.zeros(2), np.eye(2)), **params).fit(MURRAY[["x1", "x2"]])


def test_emimputer_bad_start_is_named() -> None:
    with pytest.raises(ImputerValueError, match=r"start: the covariance is not positive definite"):
        imputer.EMImputer(start=(np.zeros(2), np.ones((2, 2)))).fit(MURRAY[["x1", "x2"]])


def test_labelled_start_is_aligned_by_label() -> None:
    mean = pd.Series({"x2": 0.1, "x1": -0.2, "other": 5.0})
    cov = pd.DataFrame([[3.0, 0.9], [0.9, 2.0]], index=["x2", "x1"], columns=["x2", "x1"])
    aligned = (np.array([-0.2, 0.1]), np.array([[2.0, 0.9], [0.9, 3.0]]))
    a = imputer.impute(MURRAY, start=(mean, cov))
    b = imputer.impute(MURRAY, start=aligned)
    assert a == b
    assert mean.index.tolist() == ["x2", "x1", "other"] and cov.iloc[0, 0] == 3.0  # the caller's objects untouched


def test_a_converged_fit_restarts_where_it_ended() -> None:
    air = pd.read_csv(DATA / "airquality.csv")
    first = imputer.impute(air, tol=1e-10)
    again = imputer.impute(air, start=(first.mean, first.cov), tol=1e-10)
    assert again.n_evals <= 3 < first.n_evals
    sd = np.sqrt(np.diag(first.cov.to_numpy()))
    assert np.max(np.abs(again.cov.to_numpy() - first.cov.to_numpy()) / np.outer(sd, sd)) < 1e-9
    # observed cells come back bit for bit whatever the start
    pd.testing.assert_frame_equal(again.completed[air.notna()].fillna(0), air[air.notna()].fillna(0), check_dtype=False)


def test_disperse_best_run_as_a_start() -> None:
    d = imputer.disperse(MURRAY, starts=8, seed=1)
    res = imputer.impute(MURRAY, start=(d.mean, d.cov))
    assert res.loglik == pytest.approx(d.runs.loc[d.best, "loglik"], abs=1e-10)


@pytest.mark.parametrize(
    ("start", "kwargs", "error", "match"),
    [
        ((np.zeros(2),), {}, ImputerTypeError, r"start must be a \(mean, cov\) pair, got tuple"),
        ("mean", {}, ImputerTypeError, r"start must be a \(mean, cov\) pair, got str"),
        ((np.zeros(3), np.eye(3)), {}, ImputerValueError, r"start: the mean must have shape \(2,\) and the covariance \(2, 2\)"),
        ((np.zeros(2), np.eye(3)), {}, ImputerValueError, r"got \(2,\) and \(3, 3\)"),
        ((pd.Series({"x1": 0.0}), np.eye(2)), {}, ImputerValueError, r"start: the mean has no entry for column\(s\) \['x2'\]"),
        ((np.zeros(2), pd.DataFrame(np.eye(2), index=["x1", "y"], columns=["x1", "y"])), {}, ImputerValueError,
         r"start: the covariance has no row or column for column\(s\) \['x2'\]"),
        ((np.array([0.0, nan]), np.eye(2)), {}, ImputerValueError, r"start: the mean and covariance must be finite"),
        ((np.zeros(2), np.array([[1.0, 0.5], [0.4, 1.0]])), {}, ImputerValueError, r"start: the covariance is not symmetric"),
        ((np.zeros(2), np.array([[1.0, 1.0], [1.0, 1.0]])), {}, ImputerValueError,
         r"start: the covariance is not positive definite"),
        ((np.zeros(2), np.array([[-1.0, 0.0], [0.0, 1.0]])), {}, ImputerValueError,
         r"start: the covariance is not positive definite"),
        ((np.array(["a", "b"]), np.eye(2)), {}, ImputerTypeError, r"start: the mean and covariance must be numeric"),
        ((np.zeros(2), np.eye(2)), {"bounds": {"x1": (0, None)}}, ImputerTypeError,
         r"start: available for the multivariate-normal model only"),
        ((np.zeros(2), np.eye(2)), {"idvars": ["note"]}, ImputerTypeError,
         r"start: available for the multivariate-normal model only"),
    ],
)
def test_bad_start_is_named(start: object, kwargs: dict, error: type, match: str) -> None:
    before = MURRAY.copy()
    with pytest.raises(error, match=match):
        imputer.impute(MURRAY, start=start, **kwargs)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(MURRAY, before)
