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
