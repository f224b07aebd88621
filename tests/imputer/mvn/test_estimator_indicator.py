"""EMImputer's ``add_indicator`` (scikit-learn's ``SimpleImputer`` as the reference) and
``conditional_variance`` under ``set_output(transform="pandas")``; with and without
scikit-learn installed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imputer.errors import ImputerTypeError, NotFittedError
from imputer.mvn import estimator as sk_module

# fixtures Est (EMImputer with and without scikit-learn) and air: tests/imputer/mvn/conftest.py


@pytest.mark.parametrize("model", ["normal", "t", "mixture"])
def test_indicator_columns_match_simple_imputers(Est: type, air: pd.DataFrame, model: str) -> None:
    from sklearn.impute import SimpleImputer

    kw = {"n_init": 2, "seed": 0} if model == "mixture" else {}
    est = Est(add_indicator=True, model=model, **kw).fit(air)
    ref = SimpleImputer(add_indicator=True).fit(air)
    new = air.iloc[:40]
    out, expected = est.transform(new), ref.transform(new)
    p = air.shape[1]
    np.testing.assert_array_equal(out[:, p:], expected[:, p:])  # the same indicator columns
    np.testing.assert_array_equal(out[:, :p], Est(model=model, **kw).fit(air).transform(new))
    assert list(est.get_feature_names_out()) == list(ref.get_feature_names_out())
    assert list(est.indicator_features_) == [0, 1]  # Ozone and Solar.R have gaps


def test_indicator_under_pandas_output(Est: type, air: pd.DataFrame) -> None:
    out = Est(add_indicator=True).set_output(transform="pandas").fit_transform(air)
    assert list(out.columns) == ["Ozone", "Solar.R", "Wind", "Temp", "missingindicator_Ozone", "missingindicator_Solar.R"]
    pd.testing.assert_series_equal(
        out["missingindicator_Ozone"], air["Ozone"].isna().astype(float), check_names=False
    )


def test_no_indicator_for_complete_fit_columns_even_if_missing_later(Est: type, air: pd.DataFrame) -> None:
    est = Est(add_indicator=True).fit(air)
    new = air.iloc[:5].copy()
    new.iloc[0, 3] = np.nan  # Temp had no gaps in fit: filled, but no indicator column
    out = est.transform(new)
    assert out.shape == (5, 6) and not np.isnan(out).any()


def test_add_indicator_must_be_bool(Est: type, air: pd.DataFrame) -> None:
    with pytest.raises(ImputerTypeError, match="add_indicator must be a bool, got str"):
        Est(add_indicator="yes").fit(air)


@pytest.mark.parametrize("model", ["normal", "t"])
def test_conditional_variance_follows_set_output(Est: type, air: pd.DataFrame, model: str) -> None:
    new = air.iloc[[4, 9, 20]]
    plain = Est(model=model).fit(air).conditional_variance(new)
    framed = Est(model=model, add_indicator=True).set_output(transform="pandas").fit(air).conditional_variance(new)
    assert isinstance(plain, np.ndarray)
    assert isinstance(framed, pd.DataFrame)
    assert list(framed.columns) == list(air.columns) and list(framed.index) == [4, 9, 20]
    np.testing.assert_array_equal(framed.to_numpy(), plain)


def test_non_numeric_column_message_shows_the_column_transformer(Est: type, air: pd.DataFrame) -> None:
    with pytest.raises(ImputerTypeError, match=r"column 'city' has non-numeric dtype .*make_column_transformer\(\(EMImputer\(\)"):
        Est().fit(air.assign(city="x"))


def test_the_suggested_column_transformer_works(air: pd.DataFrame) -> None:
    from sklearn.compose import make_column_selector, make_column_transformer

    df = air.assign(city=["a", "b"] * (len(air) // 2) + ["a"] * (len(air) % 2))
    ct = make_column_transformer(
        (sk_module.EMImputer(), make_column_selector(dtype_include="number")), remainder="passthrough"
    )
    out = ct.fit_transform(df)
    np.testing.assert_array_equal(out[:, :4].astype(float), sk_module.EMImputer().fit_transform(air))
    assert list(out[:, 4]) == list(df["city"])


@pytest.mark.parametrize("where", ["transform", "get_feature_names_out"])
@pytest.mark.parametrize("model", ["normal", "t", "categorical"])
def test_add_indicator_set_after_fit_asks_for_fit_again(Est: type, air: pd.DataFrame, model: str, where: str) -> None:
    # fit without indicators learned none: the output follows what fit learned (scikit-learn's rule), so
    # set_params(add_indicator=True) is the NotFittedError of an unfitted estimator, not an AttributeError
    data = air.assign(month=pd.Categorical(np.arange(len(air)) % 3)) if model == "categorical" else air
    kw = {"categorical": ["month"], "means": "additive"} if model == "categorical" else {"model": model}
    est = Est(**kw).fit(data).set_params(add_indicator=True)
    with pytest.raises(NotFittedError, match=(
        rf"^EMImputer\.{where}: add_indicator=True was set after this EMImputer was fitted without it, so fit "
        r"recorded no missing-value indicators; call 'fit' again"
    )):
        est.transform(data) if where == "transform" else est.get_feature_names_out()
    est.fit(data)  # as asked: then both agree
    assert len(est.get_feature_names_out()) == est.transform(data).shape[1] == data.shape[1] + 2


def test_add_indicator_switched_off_after_fit_drops_the_indicators(Est: type, air: pd.DataFrame) -> None:
    est = Est(add_indicator=True).fit(air).set_params(add_indicator=False)
    assert est.transform(air).shape[1] == len(est.get_feature_names_out()) == air.shape[1]
