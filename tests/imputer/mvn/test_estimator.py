"""EMImputer: scikit-learn conventions, with and without scikit-learn installed.

The expected filled values come from the conditional-mean formula
``mu_m + S_mo S_oo^{-1} (x_o - mu_o)`` written out here with numpy, under the
fitted ``mean_`` / ``covariance_``; the fitted parameters are checked against
:func:`imputer.impute` on the same data.
"""

from __future__ import annotations

import importlib.util
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import imputer
from imputer.errors import ConvergenceWarning, ImputerTypeError, ImputerValueError, NotFittedError
from imputer.mvn import estimator as sk_module

DATA = Path(__file__).resolve().parents[2] / "data"
ESTIMATOR_PATH = Path(sk_module.__file__)


def _load_without_sklearn() -> Any:
    """A fresh copy of imputer.mvn.estimator imported while scikit-learn is hidden."""
    saved = {k: v for k, v in sys.modules.items() if k == "sklearn" or k.startswith("sklearn.")}
    try:
        for k in saved:
            del sys.modules[k]
        sys.modules["sklearn"] = None  # type: ignore[assignment]  # makes `import sklearn...` fail
        spec = importlib.util.spec_from_file_location("_emimputer_no_sklearn", ESTIMATOR_PATH)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # so that pickle can find the class again
        spec.loader.exec_module(module)
    finally:
        del sys.modules["sklearn"]
        sys.modules.update(saved)
    assert module.HAS_SKLEARN is False
    return module


LOCAL_MODULE = _load_without_sklearn()


@pytest.fixture(params=["sklearn", "local"])
def Est(request: pytest.FixtureRequest) -> type:
    if request.param == "sklearn":
        assert sk_module.HAS_SKLEARN
        return sk_module.EMImputer
    return LOCAL_MODULE.EMImputer


@pytest.fixture(scope="module")
def air() -> pd.DataFrame:
    return pd.read_csv(DATA / "airquality.csv")[["Ozone", "Solar.R", "Wind", "Temp"]]


def _conditional_mean(row: np.ndarray, mu: np.ndarray, cov: np.ndarray) -> np.ndarray:
    o = ~np.isnan(row)
    m = ~o
    out = row.copy()
    if not o.any():
        return mu.copy()
    out[m] = mu[m] + cov[np.ix_(m, o)] @ np.linalg.solve(cov[np.ix_(o, o)], row[o] - mu[o])
    return out


# ----------------------------------------------------------------------- parameters


def test_init_is_passive_and_params_round_trip(Est: type) -> None:
    est = Est(tol=-1.0, max_iter=0, ridge=-2.0, accelerate=False, model="cauchy")  # no validation in __init__
    assert est.get_params() == {"tol": -1.0, "max_iter": 0, "ridge": -2.0, "prior": "ridge", "accelerate": False, "model": "cauchy",
                                "dof": None, "n_components": 2, "covariance_type": "full", "n_init": 10, "seed": None,
                                "add_indicator": False, "categorical": None, "continuous": None, "means": None,
                                "transforms": None, "bounds": None, "start": None}
    assert est.set_params(tol=1e-6, ridge=0.5) is est
    assert est.get_params()["tol"] == 1e-6 and est.ridge == 0.5
    defaults = Est().get_params()
    assert set(defaults) == {"tol", "max_iter", "ridge", "prior", "accelerate", "model", "dof", "n_components",
                             "covariance_type", "n_init", "seed", "add_indicator", "categorical", "continuous", "means",
                             "transforms", "bounds", "start"}
    assert repr(Est()) == "EMImputer()"
    assert "ridge=0.5" in repr(Est(ridge=0.5))


def test_set_params_unknown_name(Est: type) -> None:
    with pytest.raises(ValueError, match="Invalid parameter 'alpha' for estimator EMImputer"):
        Est().set_params(alpha=1.0)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"tol": -1.0}, "tol"),
        ({"max_iter": 0}, "max_iter"),
        ({"ridge": -1.0}, "ridge"),
    ],
)
def test_fit_validates_params_through_impute(
    Est: type, air: pd.DataFrame, params: dict[str, Any], match: str
) -> None:
    with pytest.raises(ImputerValueError, match=match):
        Est(**params).fit(air)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"max_iter": 1}, r"EM did not converge within max_iter=1 iterations"),
        ({"tol": "small"}, None),
    ],
    ids=["not-converged", "bad-type"],
)
def test_fit_warns_and_fails_as_impute_does(
    Est: type, air: pd.DataFrame, params: dict[str, Any], match: str | None
) -> None:
    if match is None:
        with pytest.raises(ImputerTypeError) as mine:
            Est(**params).fit(air)
        with pytest.raises(ImputerTypeError) as theirs:
            imputer.impute(air, **params)
        assert str(mine.value) == str(theirs.value)
        return
    with pytest.warns(ConvergenceWarning, match=match):
        est = Est(**params).fit(air)
    assert est.converged_ is False


@pytest.mark.parametrize("ridge", [0.0, 2.0])
def test_loglik_is_the_log_likelihood_also_under_ridge(Est: type, air: pd.DataFrame, ridge: float) -> None:
    est = Est(ridge=ridge).fit(air)
    res = imputer.impute(air, ridge=ridge)
    assert est.loglik_ == res.loglik  # impute's log-likelihood, not the log-posterior


# ----------------------------------------------------------------------- fit / transform


def test_fit_matches_impute(Est: type, air: pd.DataFrame) -> None:
    est = Est().fit(air)
    res = imputer.impute(air)
    np.testing.assert_array_equal(est.mean_, res.mean.to_numpy())
    np.testing.assert_array_equal(est.covariance_, res.cov.to_numpy())
    assert est.n_features_in_ == 4
    assert list(est.feature_names_in_) == ["Ozone", "Solar.R", "Wind", "Temp"]
    assert est.n_iter_ == res.n_iter and est.converged_ is True
    assert est.loglik_ == res.loglik
    # fit_transform on the training data = impute's completed table
    np.testing.assert_allclose(
        Est().fit_transform(air), res.completed.to_numpy(dtype=float), rtol=1e-12, atol=0
    )


def test_fit_on_array_has_no_feature_names(Est: type, air: pd.DataFrame) -> None:
    est = Est().fit(air.to_numpy())
    assert not hasattr(est, "feature_names_in_")
    assert list(est.get_feature_names_out()) == ["x0", "x1", "x2", "x3"]
    # refitting on an array after a frame forgets the names
    est = Est().fit(air).fit(air.to_numpy())
    assert not hasattr(est, "feature_names_in_")


@pytest.mark.parametrize(
    "rows",
    [
        [[np.nan, 200.0, 10.0, 80.0]],
        [[30.0, np.nan, np.nan, 70.0], [np.nan, np.nan, np.nan, np.nan]],
        [[1.0, 2.0, 3.0, 4.0], [np.nan, 250.0, np.nan, 60.0], [50.0, np.nan, 5.0, np.nan]],
    ],
    ids=["one-missing", "two-missing+all-missing", "mixed"],
)
def test_transform_new_rows_is_conditional_mean(Est: type, air: pd.DataFrame, rows: list) -> None:
    est = Est().fit(air)
    x = np.array(rows)
    out = np.asarray(est.transform(x))
    expected = np.array([_conditional_mean(r, est.mean_, est.covariance_) for r in x])
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)
    obs = ~np.isnan(x)
    assert np.array_equal(out[obs], x[obs])  # observed cells bit-for-bit
    assert not np.isnan(out).any()

    var = est.conditional_variance(x)
    assert np.all(var[obs] == 0.0)
    for i, row in enumerate(x):
        o, m = ~np.isnan(row), np.isnan(row)
        c = est.covariance_
        if o.any():
            cv = c[np.ix_(m, m)] - c[np.ix_(m, o)] @ np.linalg.solve(c[np.ix_(o, o)], c[np.ix_(o, m)])
        else:
            cv = c
        np.testing.assert_allclose(var[i, m], np.diag(cv), rtol=1e-10)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 30),
    rate=st.floats(0.0, 1.0),
    scale=st.sampled_from([1e-3, 1.0, 1e4]),
)
def test_transform_property(seed: int, n: int, rate: float, scale: float) -> None:
    # Any new rows, any missingness: observed cells bit-for-bit, no NaN left, fills finite.
    rng = np.random.default_rng(seed)
    train = rng.normal(size=(40, 3)) @ np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 1.0]])
    train[rng.random(train.shape) < 0.2] = np.nan
    est = sk_module.EMImputer().fit(train * scale)
    x = rng.normal(size=(n, 3)) * scale
    x[rng.random(x.shape) < rate] = np.nan
    out = est.transform(x)
    obs = ~np.isnan(x)
    assert np.array_equal(out[obs], x[obs])
    assert np.isfinite(out).all()
    var = est.conditional_variance(x)
    assert np.all(var[obs] == 0.0) and np.all(var[~obs] > 0.0)


def test_transform_of_rows_observing_few_of_many_columns_is_the_regression() -> None:
    # 60 columns, new rows answering 4 to 8 of them: the observed-block route
    # (imputer/_gaussian/observed.py) against Sigma_MO Sigma_OO^-1 with the fitted parameters
    rng = np.random.default_rng(3)
    w = rng.normal(size=(3, 60))
    train = rng.normal(size=(300, 3)) @ w + rng.normal(size=(300, 60))
    train[rng.random(train.shape) < 0.1] = np.nan
    est = sk_module.EMImputer().fit(train)
    x = rng.normal(size=(25, 3)) @ w + rng.normal(size=(25, 60))
    for i in range(25):
        x[i, rng.permutation(60)[rng.integers(4, 9) :]] = np.nan
    out, var = est.transform(x), est.conditional_variance(x)
    mu, cov = est.mean_, est.covariance_
    for i in range(25):
        m = np.isnan(x[i])
        o = ~m
        coef = np.linalg.solve(cov[np.ix_(o, o)], cov[np.ix_(o, m)]).T
        np.testing.assert_allclose(out[i, m], mu[m] + coef @ (x[i, o] - mu[o]), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(var[i, m], np.diag(cov)[m] - np.einsum("ij,ji->i", coef, cov[np.ix_(o, m)]), rtol=1e-9)
        assert np.array_equal(out[i, o], x[i, o])


def test_transform_computes_no_variances_and_conditional_variance_no_means(
    Est: type, air: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = sys.modules[Est.__module__]
    est = Est().fit(air)
    expected_out, expected_var = est.transform(air), est.conditional_variance(air)

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("not needed for this answer")

    monkeypatch.setattr(module, "conditional_variances", forbidden)
    np.testing.assert_array_equal(est.transform(air), expected_out)
    monkeypatch.undo()
    monkeypatch.setattr(module, "fill_missing", forbidden)
    np.testing.assert_array_equal(est.conditional_variance(air), expected_var)


def test_boolean_array_is_refused_as_impute_refuses_it(Est: type) -> None:
    X = np.array([[True, False], [False, True], [True, True]])
    with pytest.raises(ImputerTypeError, match="EMImputer.fit: X has non-numeric dtype bool"):
        Est().fit(X)
    with pytest.raises(ImputerTypeError, match="boolean array has no numeric column"):
        imputer.impute(X)


def test_transform_accepts_nullable_and_does_not_mutate(Est: type, air: pd.DataFrame) -> None:
    est = Est().fit(air)
    new = air.head(6).astype("Float64")
    before = new.copy()
    out = np.asarray(est.transform(new))
    pd.testing.assert_frame_equal(new, before)
    assert not np.isnan(out).any()


def test_set_output_pandas(Est: type, air: pd.DataFrame) -> None:
    est = Est().set_output(transform="pandas").fit(air)
    new = air.iloc[[4, 9, 20]]
    out = est.transform(new)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(air.columns)
    assert list(out.index) == [4, 9, 20]
    assert not out.isna().any().any()
    out2 = Est().set_output(transform="pandas").fit_transform(air)
    assert isinstance(out2, pd.DataFrame) and list(out2.columns) == list(air.columns)


def test_get_feature_names_out(Est: type, air: pd.DataFrame) -> None:
    est = Est().fit(air)
    assert list(est.get_feature_names_out()) == list(air.columns)
    assert list(est.get_feature_names_out(list(air.columns))) == list(air.columns)
    with pytest.raises(ValueError, match="input_features is not equal to feature_names_in_"):
        est.get_feature_names_out(["a", "b", "c", "d"])
    est = Est().fit(air.to_numpy())
    assert list(est.get_feature_names_out(["a", "b", "c", "d"])) == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="input_features should have length equal to"):
        est.get_feature_names_out(["a"])


def test_pickle_round_trip(Est: type, air: pd.DataFrame) -> None:
    est = Est().fit(air)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.transform(air), est.transform(air))


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("method", ["transform", "conditional_variance", "get_feature_names_out"])
def test_not_fitted(Est: type, air: pd.DataFrame, method: str) -> None:
    est = Est()
    args = () if method == "get_feature_names_out" else (air,)
    with pytest.raises(NotFittedError, match=f"not fitted yet.*'{method}'"):
        getattr(est, method)(*args)


@pytest.mark.parametrize(
    ("make", "err", "match"),
    [
        (lambda a: a.iloc[:, :3], ImputerValueError, "the feature names should match.*missing: \\['Temp'\\]"),
        (
            lambda a: a.rename(columns={"Wind": "wind"}),
            ImputerValueError,
            "unseen at fit time: \\['wind'\\]",
        ),
        (lambda a: a[["Temp", "Wind", "Solar.R", "Ozone"]], ImputerValueError, "different order"),
        (lambda a: a.to_numpy()[:, :2], ImputerValueError, "X has 2 features, but EMImputer is expecting 4"),
        (lambda a: a.assign(Wind="calm"), ImputerTypeError, "column 'Wind' has non-numeric dtype"),
        (lambda a: a.assign(Temp=a["Temp"] > 70), ImputerTypeError, "column 'Temp' has non-numeric"),
        (lambda a: a.assign(Temp=np.inf), ImputerValueError, "column 'Temp' contains an infinite value"),
        (lambda a: a.to_numpy()[0], ImputerValueError, "Expected 2D array, got 1D array"),
        (lambda a: a.to_numpy()[:0], ImputerValueError, "0 sample\\(s\\)"),
        (lambda a: a.to_numpy() + 1j, ImputerValueError, "Complex data not supported"),
        (lambda a: np.array([["a", "b", "c", "d"]], dtype=object), ImputerTypeError, "X must be numeric"),
    ],
    ids=[
        "dropped-column", "renamed-column", "reordered", "too-few-array-columns", "string-column",
        "bool-column", "infinite", "1d", "no-rows", "complex", "strings-in-array",
    ],
)
def test_transform_rejects_bad_input(Est: type, air: pd.DataFrame, make: Any, err: type, match: str) -> None:
    est = Est().fit(air)
    with pytest.raises(err, match=match):
        est.transform(make(air))


def test_sparse_input_rejected(Est: type) -> None:
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(ImputerTypeError, match="sparse input is not supported"):
        Est().fit(sparse.csr_matrix(np.eye(3)))


@pytest.mark.parametrize(
    ("frame", "err", "match"),
    [
        (pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [np.nan] * 3}), ImputerValueError, "'b'"),
        (pd.DataFrame({"a": [1.0, np.inf, 3.0], "b": [1.0, 2.0, 4.0]}), ImputerValueError, "'a'.*infinite"),
        (pd.DataFrame([[1.0, 2.0], [3.0, 4.0]], columns=["a", "a"]), ImputerValueError, "duplicate column name 'a'"),
        (pd.DataFrame({"a": [1.0], "b": [2.0]}), ImputerValueError, "n_samples=1.*at least 2 rows"),
    ],
    ids=["all-missing-column", "infinite", "duplicate-names", "single-row"],
)
def test_fit_rejects_bad_data(Est: type, frame: pd.DataFrame, err: type, match: str) -> None:
    with pytest.raises(err, match=match):
        Est().fit(frame)


@pytest.mark.parametrize("model", ["normal", "t", "mixture"])
@pytest.mark.parametrize(
    ("column", "match"),
    [
        (np.nan, r"^column 'c' has no observed value; drop it from X before fitting \(in a pipeline, route it "
                 r"around EMImputer with a ColumnTransformer"),
        (7.0, r"^column 'c' is constant \(every observed value equals 7\): .*; drop it from X before fitting"),
        ([9e15, 9e15 + 1, 9e15 + 2, 9e15 + 4, np.nan] * 3, r"^column 'c' is not constant .* subtract an offset "
         r"first \(e\.g\. its minimum\), or drop it from X before fitting"),
    ],
    ids=["all-missing", "constant", "offset"],
)
def test_fit_names_the_remedy_emimputer_has(Est: type, model: str, column: Any, match: str) -> None:
    # the shared checks said "leave it out of columns=", an option EMImputer does not have
    frame = pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0, 5.5] * 3, "b": [2.0, np.nan, 3.5, 1.0, 0.5] * 3})
    frame = frame.assign(c=column)
    kw = {"n_init": 1, "seed": 0} if model == "mixture" else {}
    with pytest.raises(ImputerValueError, match=match) as info:
        Est(model=model, **kw).fit(frame)
    assert "columns=" not in str(info.value)


def test_fit_names_the_remedy_emimputer_has_with_categorical(Est: type) -> None:
    # the general location model's check said "leave it out of columns="
    frame = pd.DataFrame({"g": ["u", "v", "u", "v", "u"] * 3, "a": [1.0, 2.0, np.nan, 4.0, 5.5] * 3, "c": np.nan})
    with pytest.raises(ImputerValueError, match=r"^column 'c' has no observed value; drop it from X before fitting") as info:
        Est(categorical=["g"]).fit(frame)
    assert "columns=" not in str(info.value) and "continuous=" not in str(info.value)


# ----------------------------------------------------------------- scikit-learn proper


def test_pipeline_and_clone(air: pd.DataFrame) -> None:
    from sklearn.base import clone
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    full = pd.read_csv(DATA / "airquality.csv")
    X, y = full[["Ozone", "Solar.R", "Wind"]], full["Temp"]
    pipe = make_pipeline(sk_module.EMImputer(ridge=0.0), StandardScaler(), LinearRegression())
    pipe.fit(X, y)
    pred = pipe.predict(X)
    assert pred.shape == (len(X),) and np.isfinite(pred).all()
    assert 0.3 < pipe.score(X, y) < 1.0
    assert list(pipe[:-1].get_feature_names_out()) == ["Ozone", "Solar.R", "Wind"]

    twin = clone(pipe)
    assert twin.get_params()["emimputer__ridge"] == 0.0
    assert not hasattr(twin.named_steps["emimputer"], "mean_")
    twin.set_params(emimputer__tol=1e-10).fit(X, y)
    np.testing.assert_allclose(twin.predict(X), pred, rtol=1e-6)


def test_local_clone_protocol(air: pd.DataFrame) -> None:
    from sklearn.base import clone

    est = LOCAL_MODULE.EMImputer(ridge=0.25).set_output(transform="pandas").fit(air)
    twin = clone(est)
    assert type(twin) is LOCAL_MODULE.EMImputer and twin.ridge == 0.25
    assert not hasattr(twin, "mean_")
    assert isinstance(twin.fit_transform(air), pd.DataFrame)


def test_local_set_output_rejects_unknown() -> None:
    with pytest.raises(ImputerValueError, match="transform must be 'default' or 'pandas'"):
        LOCAL_MODULE.EMImputer().set_output(transform="polars")


def test_sklearn_tags_allow_nan() -> None:
    pytest.importorskip("sklearn", minversion="1.6")  # get_tags / __sklearn_tags__
    from sklearn.utils import get_tags

    assert get_tags(sk_module.EMImputer()).input_tags.allow_nan is True


@pytest.mark.filterwarnings("ignore:Skipping check")
def test_sklearn_check_estimator() -> None:
    pytest.importorskip("sklearn", minversion="1.6")  # check_estimator(on_fail=None)
    from sklearn.utils.estimator_checks import check_estimator

    results = check_estimator(sk_module.EMImputer(), on_fail=None)
    failed = {r["check_name"]: r["exception"] for r in results if r["status"] == "failed"}
    assert not failed, failed


def test_public_name() -> None:
    assert imputer.EMImputer is sk_module.EMImputer
