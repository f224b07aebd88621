"""``impute_mixture``: one component is ``impute``; monotone EM; seeds; bad input; the result's value semantics."""

from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.errors import ConvergenceWarning, ImputerTypeError, ImputerValueError
from tests.imputer.mixture.helpers import COV_TYPES, DATA, with_holes


@pytest.fixture(scope="module")
def airquality() -> pd.DataFrame:
    return pd.read_csv(DATA / "airquality.csv")


@pytest.mark.parametrize("dataset", ["faithful_holes", "airquality"])
@pytest.mark.parametrize("ridge", [0.0, 2.0])
def test_one_component_is_impute(request: pytest.FixtureRequest, dataset: str, ridge: float) -> None:
    frame = request.getfixturevalue(dataset)
    mix = imputer.impute_mixture(frame, 1, tol=1e-12, ridge=ridge)
    mvn = imputer.impute(frame, tol=1e-12, ridge=ridge)
    sd = np.sqrt(np.diag(mvn.cov.to_numpy()))
    assert mix.loglik == pytest.approx(mvn.loglik, abs=1e-10 * abs(mvn.loglik))
    np.testing.assert_allclose(mix.means.to_numpy()[0] / sd, mvn.mean.to_numpy() / sd, atol=1e-10)
    np.testing.assert_allclose(mix.covs[0].to_numpy() / np.outer(sd, sd), mvn.cov.to_numpy() / np.outer(sd, sd), atol=1e-10)
    modelled = list(mvn.columns)
    np.testing.assert_allclose(mix.completed[modelled].to_numpy(float), mvn.completed[modelled].to_numpy(float), rtol=1e-10)
    np.testing.assert_allclose(mix.conditional_var.to_numpy(), mvn.conditional_var.to_numpy(), rtol=1e-8, atol=1e-12)
    assert mix.weights.tolist() == [1.0]
    assert (mix.labels == 0).all()
    # same index, columns, dtypes and passthrough as impute
    assert mix.completed.columns.equals(mvn.completed.columns) and mix.completed.index.equals(mvn.completed.index)
    assert mix.completed.dtypes.equals(mvn.completed.dtypes)
    assert mix.passthrough == mvn.passthrough


@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("ridge", [0.0, 1.0])
def test_objective_never_decreases_and_observed_cells_are_kept(faithful_holes: pd.DataFrame, cov_type: str, ridge: float) -> None:
    res = imputer.impute_mixture(faithful_holes, 3, covariance_type=cov_type, seed=2, ridge=ridge, n_init=3)
    hist = res.loglik_history
    assert hist.size >= 2
    assert np.all(np.diff(hist) >= -1e-12 * np.abs(hist[1:]))
    observed = faithful_holes.notna().to_numpy()
    assert np.array_equal(res.completed.to_numpy()[observed], faithful_holes.to_numpy()[observed])
    assert not res.completed.isna().any().any()
    assert res.responsibilities.sum(axis=1).to_numpy() == pytest.approx(np.ones(len(faithful_holes)), abs=1e-12)
    assert res.weights.sum() == pytest.approx(1.0, abs=1e-12)
    if ridge == 0.0:
        assert hist[-1] <= res.loglik + 1e-9


@pytest.mark.parametrize(
    ("cov_type", "k"), [("full", 3 * 3 + 3 * 2 + 2), ("tied", 3 + 3 * 2 + 2), ("diag", 3 * 2 + 3 * 2 + 2), ("spherical", 3 + 3 * 2 + 2)]
)
def test_parameter_count_and_criteria(faithful_holes: pd.DataFrame, cov_type: str, k: int) -> None:
    res = imputer.impute_mixture(faithful_holes, 3, covariance_type=cov_type, seed=0, n_init=2)
    assert res.n_parameters == k
    assert res.bic == pytest.approx(-2 * res.loglik + k * np.log(272))
    assert res.aic == pytest.approx(-2 * res.loglik + 2 * k)


def test_seed_reproduces_and_n_components_list_picks_lowest_bic(faithful_holes: pd.DataFrame) -> None:
    a = imputer.impute_mixture(faithful_holes, 2, seed=7, n_init=3)
    b = imputer.impute_mixture(faithful_holes, 2, seed=7, n_init=3)
    assert a == b and hash(a) == hash(b)
    several = imputer.impute_mixture(faithful_holes, range(1, 4), seed=7, n_init=3)
    table = several.bic_table
    assert list(table.index) == [1, 2, 3] and table.index.name == "n_components"
    assert several.n_components == int(table["bic"].idxmin()) == 2
    # a K's fit does not depend on which other K are fitted alongside
    assert table.loc[2, "loglik"] == a.loglik
    assert several.bic == pytest.approx(table["bic"].min())
    assert a.bic_table is None


def test_collapsing_component_warns_and_ridge_cures_it() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(np.r_[rng.normal(size=(40, 2)), np.tile([[10.0, 10.0]], (3, 1))], columns=["u", "v"])
    frame.iloc[0, 1] = np.nan
    with pytest.warns(ConvergenceWarning, match=r"n_components=2: a component collapsed in every start"):
        res = imputer.impute_mixture(frame, 2, seed=0, n_init=3)
    assert not res.converged and res.trace.stop_reason == "singular" and res.n_singular_starts == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ok = imputer.impute_mixture(frame, 2, seed=0, n_init=3, ridge=1.0)
    assert ok.converged and ok.n_singular_starts == 0
    assert sorted(ok.weights.round(6).tolist()) == pytest.approx([3 / 43, 40 / 43], abs=1e-6)


def test_max_iter_warns(faithful_holes: pd.DataFrame) -> None:
    with pytest.warns(ConvergenceWarning, match=r"did not converge within max_iter=1"):
        res = imputer.impute_mixture(faithful_holes, 2, seed=0, n_init=1, max_iter=1)
    assert not res.converged


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_components": 0}, ImputerValueError, r"n_components must be >= 1, got 0"),
        ({"n_components": 11}, ImputerValueError, r"n_components=11 exceeds the number of rows \(10\)"),
        ({"n_components": [1, 0]}, ImputerValueError, r"n_components must be >= 1"),
        ({"n_components": []}, ImputerValueError, r"n_components must not be empty"),
        ({"n_components": [2, 2]}, ImputerValueError, r"n_components has repeated values"),
        ({"n_components": 2.0}, ImputerTypeError, r"n_components must be an integer or a list/range"),
        ({"n_components": True}, ImputerTypeError, r"n_components must be an integer"),
        ({"covariance_type": "VVV"}, ImputerValueError, r"covariance_type must be one of 'full', 'tied', 'diag', 'spherical', got 'VVV'"),
        ({"n_init": 0}, ImputerValueError, r"n_init must be an integer >= 1, got 0"),
        ({"n_init": 1.5}, ImputerTypeError, r"n_init must be an integer >= 1, not float"),
        ({"seed": -1}, ImputerValueError, r"seed must be a non-negative integer"),
        ({"seed": "a"}, ImputerTypeError, r"seed must be None"),
        ({"tol": 0}, ImputerValueError, r"tol"),
        ({"ridge": -1.0}, ImputerValueError, r"ridge"),
        ({"columns": ["nope"]}, ImputerValueError, r"nope"),
    ],
)
def test_bad_input(kwargs: dict, error: type, match: str) -> None:
    frame = pd.DataFrame({"a": np.arange(10.0), "b": np.r_[np.nan, np.arange(9.0) ** 2]})
    with pytest.raises(error, match=match):
        imputer.impute_mixture(frame, **kwargs)


def test_result_is_a_frozen_labelled_value(airquality: pd.DataFrame) -> None:
    frame = airquality.copy()
    frame["note"] = "x"
    frame.index = [f"r{i}" for i in range(len(frame))]
    before = frame.copy()
    res = imputer.impute_mixture(frame, 2, seed=0, n_init=2, columns=["Ozone", "Solar.R", "Wind", "Temp"])
    pd.testing.assert_frame_equal(frame, before)  # the caller's data untouched
    assert res.passthrough == ("Month", "Day", "note")
    assert res.completed.index.equals(frame.index) and list(res.completed.columns) == list(frame.columns)
    assert res.completed["note"].tolist() == ["x"] * len(frame)
    assert res.means.shape == (2, 4) and list(res.means.columns) == ["Ozone", "Solar.R", "Wind", "Temp"]
    assert res.responsibilities.shape == (len(frame), 2) and res.responsibilities.index.equals(frame.index)
    assert res.labels.equals(pd.Series(res.responsibilities.to_numpy().argmax(axis=1), index=frame.index, name="component"))
    covs = res.covs
    covs[0].iloc[0, 0] = -1.0
    means = res.means
    means.iloc[0, 0] = -1.0
    assert res.covs[0].iloc[0, 0] > 0 and res.means.iloc[0, 0] != -1.0
    with pytest.raises(AttributeError):
        res.loglik = 0.0  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(res)) == res
    d = res.to_dict(conditional_var=True)
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text)["weights"] == pytest.approx(res.weights.tolist())
    assert d["labels"] == res.labels.tolist() and d["covariance_type"] == "full" and d["bic_table"] is None
    assert len(d["covs"]) == 2 and d["conditional_var"]["columns"] == ["Ozone", "Solar.R", "Wind", "Temp"]
    text = res.summary()
    assert "Gaussian-mixture EM imputation" in text and "BIC" in text and "components:" in text


def test_summary_and_dict_show_the_bic_table(faithful: pd.DataFrame) -> None:
    res = imputer.impute_mixture(with_holes(faithful, 10, 1), [1, 2], seed=0, n_init=2)
    assert "BIC by number of components" in res.summary()
    assert res.to_dict()["bic_table"]["index"] == [1, 2]


def test_import_does_not_load_sklearn() -> None:
    import subprocess
    import sys

    code = "import sys, imputer; imputer.impute_mixture; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
