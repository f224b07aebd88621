"""``EMImputer.fit(ddf)`` / ``transform(ddf)`` against the same estimator on the pandas table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.errors import ImputerTypeError, ImputerValueError, NotFittedError
from tests.imputer.dask._data import mar_table

dd = pytest.importorskip("dask.dataframe")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return mar_table(5_000, 4, seed=4).drop(columns="site")


def test_fit_and_transform_equal_pandas(frame: pd.DataFrame) -> None:
    ddf = dd.from_pandas(frame, npartitions=3)
    ref = imputer.EMImputer().fit(frame)
    est = imputer.EMImputer().fit(ddf)
    sd = np.sqrt(np.diag(ref.covariance_))
    assert np.max(np.abs(est.mean_ - ref.mean_) / sd) <= 1e-10
    assert np.max(np.abs(est.covariance_ - ref.covariance_) / np.outer(sd, sd)) <= 1e-10
    assert (est.n_iter_, est.converged_, est.n_features_in_) == (ref.n_iter_, ref.converged_, 4)
    assert list(est.feature_names_in_) == list(ref.feature_names_in_)
    assert est.loglik_ == pytest.approx(ref.loglik_, rel=1e-12)
    lazy = est.transform(ddf)
    assert lazy.divisions == ddf.divisions and list(lazy.columns) == list(frame.columns)
    got = lazy.compute()
    np.testing.assert_allclose(got.to_numpy(), ref.transform(frame), rtol=1e-10, atol=1e-10)
    pd.testing.assert_index_equal(got.index, frame.index)
    # a pandas table through a Dask fit, and a Dask table through a pandas fit
    np.testing.assert_allclose(est.transform(frame), ref.transform(frame), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ref.transform(ddf).compute().to_numpy(), ref.transform(frame), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("make", "err", "match"),
    [
        (lambda f: imputer.EMImputer(model="t").fit(dd.from_pandas(f, npartitions=2)), ImputerValueError,
         "a Dask DataFrame is fitted with model='normal' only, not 't'"),
        (lambda f: imputer.EMImputer().fit(dd.from_pandas(f.assign(s="a"), npartitions=2)), ImputerTypeError,
         "every column of X must be numeric; 's' has dtype"),
        (lambda f: imputer.EMImputer().transform(dd.from_pandas(f, npartitions=2)), NotFittedError, "not fitted yet"),
        (lambda f: imputer.EMImputer().fit(dd.from_pandas(f, npartitions=2)["x0"]), ImputerTypeError, "dask Series"),
        (lambda f: imputer.EMImputer(start=(np.zeros(4), np.eye(4))).fit(dd.from_pandas(f, npartitions=2)),
         ImputerTypeError, "EMImputer: start applies to the normal model only, not with a Dask DataFrame"),
    ],
    ids=["model-t", "text-column", "not-fitted", "series", "start"],
)
def test_errors(frame: pd.DataFrame, make: object, err: type[Exception], match: str) -> None:
    with pytest.raises(err, match=match):
        make(frame)  # type: ignore[operator]


@pytest.mark.parametrize(("column", "what"), [(np.nan, "has no observed value"), (7.0, r"is constant \(every observed value equals 7\)")],
                         ids=["all-missing", "constant"])
def test_unusable_column_names_the_remedy_emimputer_has(frame: pd.DataFrame, column: float, what: str) -> None:
    # the Dask scan said "leave it out of columns=" / "with columns=", options EMImputer does not have
    ddf = dd.from_pandas(frame.assign(c=column), npartitions=2)
    with pytest.raises(ImputerValueError, match=rf"^column 'c' {what}.*; drop it from X before fitting \(in a pipeline") as info:
        imputer.EMImputer().fit(ddf)
    assert "columns=" not in str(info.value)
    # imputer.impute on the same frame, as before: it has columns=
    with pytest.raises(ImputerValueError, match=rf"^column 'c' {what}.*columns=$"):
        imputer.impute(ddf)


def _sd_gap(got: np.ndarray, ref: np.ndarray, cov: np.ndarray) -> float:
    sd = np.sqrt(np.diag(cov))
    scale = np.outer(sd, sd) if got.ndim == 2 else sd
    return float(np.max(np.abs(got - ref) / scale))


@pytest.mark.parametrize("options", [{"ridge": 0.0}, {"ridge": 5.0}, {"ridge": 50.0, "prior": "ridge"}],
                         ids=["ml", "ridge-5", "ridge-50"])
def test_ridge_fit_equals_pandas(frame: pd.DataFrame, options: dict[str, object]) -> None:
    """``ridge`` (imputer's prior, the one the Dask engine has) reaches the Dask fit: the in-memory estimates."""
    ref = imputer.EMImputer(**options).fit(frame)
    est = imputer.EMImputer(**options).fit(dd.from_pandas(frame, npartitions=3))
    assert _sd_gap(est.mean_, ref.mean_, ref.covariance_) <= 1e-10
    assert _sd_gap(est.covariance_, ref.covariance_, ref.covariance_) <= 1e-10
    assert est.loglik_ == pytest.approx(ref.loglik_, rel=1e-12)
    if options["ridge"]:  # the prior changed the estimate: it was not ignored
        assert _sd_gap(est.covariance_, imputer.EMImputer().fit(frame).covariance_, ref.covariance_) > 1e-6


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"ridge": 5.0, "prior": "amelia"}, r"^EMImputer\.fit: prior='amelia': not available for a Dask DataFrame \("),
        ({"prior": "amelia"}, r"^EMImputer\.fit: prior='amelia': not available for a Dask DataFrame"),
        ({"transforms": {"x1": "log"}}, r"^EMImputer\.fit: transforms: not available for a Dask DataFrame"),
        ({"bounds": {"x1": (0, None)}}, r"^EMImputer\.fit: bounds: not available for a Dask DataFrame"),
        ({"categorical": ["x1"]}, r"^EMImputer\.fit: categorical: not available for a Dask DataFrame"),
        ({"categorical": "auto"}, r"^EMImputer\.fit: categorical: not available for a Dask DataFrame"),
        ({"continuous": ["x0"]}, r"^EMImputer\.fit: continuous: not available for a Dask DataFrame"),
        ({"means": "additive"}, r"^EMImputer\.fit: means: not available for a Dask DataFrame"),
        ({"transforms": {"x1": "log"}, "bounds": {"x2": (0, None)}},
         r"^EMImputer\.fit: transforms, bounds: not available for a Dask DataFrame \(.*X\.compute\(\)"),
    ],
    ids=["prior-amelia", "prior-amelia-no-ridge", "transforms", "bounds", "categorical", "categorical-auto",
         "continuous", "means", "two"],
)
def test_in_memory_options_refused(frame: pd.DataFrame, options: dict[str, object], match: str) -> None:
    """An option the Dask fit has not is refused by name, not ignored (a plain normal fit)."""
    est = imputer.EMImputer(**options)
    with pytest.raises(ImputerTypeError, match=match):
        est.fit(dd.from_pandas(frame, npartitions=2))
    assert not hasattr(est, "mean_")


@pytest.mark.parametrize(
    ("options", "err", "match"),
    [
        ({"dof": 4.0}, ImputerValueError, r"^EMImputer: dof applies to model='t' only, not model='normal'"),
        ({"model": "student"}, ImputerValueError, r"^EMImputer: model must be 'normal', 't' or 'mixture', got 'student'"),
        ({"add_indicator": "yes"}, ImputerTypeError, r"^add_indicator must be a bool, got str"),
        ({"prior": "jeffreys"}, ImputerValueError, "prior"),
    ],
    ids=["dof", "model", "add_indicator", "prior-value"],
)
def test_options_checked_as_in_memory(frame: pd.DataFrame, options: dict[str, object], err: type[Exception],
                                      match: str) -> None:
    """The in-memory fit's checks of the options, on a Dask DataFrame too."""
    with pytest.raises(err, match=match):
        imputer.EMImputer(**options).fit(frame)
    with pytest.raises(err, match=match):
        imputer.EMImputer(**options).fit(dd.from_pandas(frame, npartitions=2))


@pytest.mark.parametrize("layout", ["partitions", "an-empty-partition"])
def test_add_indicator_equals_pandas(frame: pd.DataFrame, layout: str) -> None:
    """``add_indicator=True``: the indicator columns in the lazy frame's meta and values, as in memory."""
    if layout == "partitions":
        ddf = dd.from_pandas(frame, npartitions=3)
    else:  # the middle partition empty
        pieces = [frame.iloc[:2000], frame.iloc[:0], frame.iloc[2000:]]
        ddf = dd.from_map(lambda x: x, pieces, meta=frame.iloc[:0], enforce_metadata=False)
    ref = imputer.EMImputer(add_indicator=True).fit(frame)
    est = imputer.EMImputer(add_indicator=True).fit(ddf)
    np.testing.assert_array_equal(est.indicator_features_, ref.indicator_features_)
    assert list(ref.indicator_features_) == [1, 2, 3]
    lazy = est.transform(ddf)
    names = [*frame.columns, "missingindicator_x1", "missingindicator_x2", "missingindicator_x3"]
    assert list(lazy.columns) == names == list(ref.get_feature_names_out())
    assert list(lazy.dtypes) == [np.dtype(float)] * 7
    got = lazy.compute()
    np.testing.assert_allclose(got.to_numpy(), ref.transform(frame), rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(got.to_numpy()[:, 4:], frame[["x1", "x2", "x3"]].isna().to_numpy(dtype=float))
    pd.testing.assert_index_equal(got.index, frame.index)
    # the in-memory pandas output's labels
    assert list(ref.set_output(transform="pandas").transform(frame).columns) == list(got.columns)


@pytest.mark.parametrize("setting", ["add_indicator", "later-refit"])
def test_add_indicator_set_after_fit_fails_at_transform(frame: pd.DataFrame, setting: str) -> None:
    """``add_indicator=True`` set after a fit without it: the error at ``transform``, not at compute time;
    the lazy frame keeps the columns it was made with whatever is set on the estimator later."""
    ddf = dd.from_pandas(frame, npartitions=2)
    est = imputer.EMImputer().fit(ddf)
    if setting == "add_indicator":
        est.set_params(add_indicator=True)
        with pytest.raises(NotFittedError, match=r"^EMImputer\.transform: add_indicator=True was set after"):
            est.transform(ddf)
    else:
        lazy = est.transform(ddf)
        est.set_params(add_indicator=True).fit(frame)  # the estimator changes before the lazy frame is computed
        assert list(lazy.compute().columns) == list(frame.columns)


@pytest.mark.parametrize(
    ("first", "attribute"),
    [({"categorical": ["g"]}, "categorical_"), ({"bounds": {"x1": (0, None)}}, "column_maps_"),
     ({"add_indicator": True}, "indicator_features_")],
    ids=["categorical", "bounds", "add_indicator"],
)
def test_dask_refit_forgets_an_earlier_fit(frame: pd.DataFrame, first: dict[str, object], attribute: str) -> None:
    """A Dask refit after an in-memory fit with other options leaves none of that fit's attributes,
    so that ``transform`` is the Dask fit's (not the general location model's, say)."""
    table = frame.assign(g=pd.Categorical(np.where(frame["x0"] > frame["x0"].median(), "hi", "lo")))
    est = imputer.EMImputer(**first).fit(table if "categorical" in first else frame)
    assert hasattr(est, attribute)
    est.set_params(categorical=None, bounds=None, add_indicator=False).fit(dd.from_pandas(frame, npartitions=2))
    assert not hasattr(est, attribute)
    np.testing.assert_allclose(est.transform(frame), imputer.EMImputer().fit(frame).transform(frame),
                               rtol=1e-10, atol=1e-10)
