"""``MultipleImputation.analyze`` and ``Analyses.pool``: statsmodels results, pairs, errors.

References: statsmodels' own ``params``/``cov_params()``/``bse``/``df_resid`` per imputation
(the analyses must hold exactly those numbers), and ``imputer.pool`` (checked against
mice on main) called directly on them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import imputer
from imputer.errors import ImputerTypeError, ImputerValueError
from imputer.mi.analyses import Analyses
from tests.imputer.mi.simulate import mar_table


@pytest.fixture(scope="module")
def mi() -> imputer.MultipleImputation:
    df, _, _ = mar_table(80, 3, seed=21, rate=0.3)
    return imputer.multiple_impute(df, m=5, seed=4)


def _ols(df: pd.DataFrame):
    return smf.ols("v2 ~ v0 + v1", data=df).fit()


def test_statsmodels_results(mi: imputer.MultipleImputation) -> None:
    an = mi.analyze(_ols)
    fits = [_ols(d) for d in mi.imputations]
    assert an.terms == ["Intercept", "v0", "v1"]
    assert an.estimates.index.equals(pd.RangeIndex(1, 6, name=".imp"))
    np.testing.assert_array_equal(an.estimates.to_numpy(), np.array([f.params.to_numpy() for f in fits]))
    np.testing.assert_array_equal(an.variances, np.array([f.cov_params().to_numpy() for f in fits]))
    assert an.dfcom == 77.0
    pooled = an.pool()
    ref = imputer.pool(an.estimates, an.variances, dfcom=77.0)
    pd.testing.assert_frame_equal(pooled.table, ref.table)
    # an explicit dfcom wins; inf gives Rubin's 1987 df
    pd.testing.assert_frame_equal(an.pool(dfcom=math.inf).table, imputer.pool(an.estimates, an.variances).table)
    assert an.pool(conf_level=0.9).table["ci_high"].lt(pooled.table["ci_high"]).all()
    with pytest.raises(ValueError):
        an.variances[0, 0, 0] = 1.0  # read-only


@pytest.mark.parametrize("form", ["cov", "se", "cov_shuffled", "arrays"])
def test_pairs(mi: imputer.MultipleImputation, form: str) -> None:
    def fn(df: pd.DataFrame):
        f = _ols(df)
        if form == "cov":
            return f.params, f.cov_params()
        if form == "se":
            return f.params, f.bse
        if form == "cov_shuffled":
            order = ["v1", "Intercept", "v0"]
            return f.params, f.cov_params().loc[order, order]
        return f.params.to_numpy(), f.cov_params().to_numpy()

    an = mi.analyze(fn)
    fits = [_ols(d) for d in mi.imputations]
    if form == "se":
        np.testing.assert_allclose(an.variances, np.array([np.diag(f.bse.to_numpy() ** 2) for f in fits]), rtol=1e-15)
    else:
        np.testing.assert_array_equal(an.variances, np.array([f.cov_params().to_numpy() for f in fits]))
    assert an.dfcom is None
    assert an.terms == ([0, 1, 2] if form == "arrays" else ["Intercept", "v0", "v1"])
    pooled = an.pool()
    pd.testing.assert_frame_equal(pooled.table, imputer.pool(an.estimates, an.variances).table)


@pytest.mark.parametrize(
    ("fn", "error", "match"),
    [
        (lambda df: 1 / 0, ImputerValueError, r"analyze: fn raised on imputation 1: ZeroDivisionError: division by zero"),
        (lambda df: 3.0, ImputerTypeError, r"analyze: imputation 1: fn returned float; return an object with params"),
        (lambda df: (pd.Series([1.0, 2.0], index=["a", "b"]), np.eye(3)), ImputerValueError, r"imputation 1: the covariance must be 2 x 2 .* got shape \(3, 3\)"),
        (lambda df: (pd.Series([1.0, 2.0], index=["a", "b"]), pd.Series([1.0])), ImputerValueError, r"imputation 1: 1 standard errors for 2 estimates"),
        (lambda df: (pd.Series([1.0, 2.0], index=["a", "b"]), pd.Series([1.0, 1.0], index=["a", "c"])), ImputerValueError, r"the standard errors' labels \['a', 'c'\] do not match"),
        (lambda df: (pd.Series([1.0, 2.0], index=["a", "b"]), pd.DataFrame(np.eye(2), index=["a", "c"], columns=["a", "c"])), ImputerValueError, r"the covariance's row/column labels do not match the estimates' terms \['a', 'b'\]"),
        (lambda df: (pd.Series([1.0, np.nan], index=["a", "b"]), np.eye(2)), ImputerValueError, r"imputation 1: an estimate or variance is not finite"),
        (lambda df: (np.ones((2, 2)), np.eye(2)), ImputerValueError, r"imputation 1: the estimates must be 1-D"),
    ],
)
def test_bad_analyses(mi: imputer.MultipleImputation, fn, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        mi.analyze(fn)


def test_inconsistent_terms_between_imputations(mi: imputer.MultipleImputation) -> None:
    calls = []

    def fn(df: pd.DataFrame):
        calls.append(1)
        names = ["a", "b"] if len(calls) < 3 else ["a", "z"]
        return pd.Series([1.0, 2.0], index=names), np.eye(2)

    with pytest.raises(ImputerValueError, match=r"imputation 3: terms \['a', 'z'\] differ from imputation 1's \['a', 'b'\]"):
        mi.analyze(fn)


def test_the_exception_is_chained(mi: imputer.MultipleImputation) -> None:
    def fn(df: pd.DataFrame):
        if df is mi.imputations[1] or len(fn.seen) == 1:
            raise KeyError("Ozone")
        fn.seen.append(1)
        return pd.Series([1.0]), pd.Series([1.0])

    fn.seen = []  # type: ignore[attr-defined]
    with pytest.raises(ImputerValueError, match=r"fn raised on imputation 2: KeyError: 'Ozone'") as info:
        mi.analyze(fn)
    assert isinstance(info.value.__cause__, KeyError)
    with pytest.raises(ImputerTypeError, match="fn must be callable"):
        mi.analyze(3)  # type: ignore[arg-type]


def test_analyses_is_a_value(mi: imputer.MultipleImputation) -> None:
    a, b = mi.analyze(_ols), mi.analyze(_ols)
    assert isinstance(a, Analyses) and a == b and hash(a) == hash(b)


@pytest.mark.parametrize("method", ["posterior", "bootstrap"])
def test_pooled_interval_for_a_mean_covers_the_truth(method: str) -> None:
    """30 simulated MAR data sets (n = 60, m = 5): the pooled 95% interval for the mean of a
    column with missing values covers the true mean in at least 80% of them (fixed seeds;
    expected ~95%: a binomial(30, 0.95) falls below 24 with probability ~0.1%). The
    properness study proper (>= 500 data sets) is benchmarks/bench_mi.py's."""
    covered = 0
    for rep in range(30):
        df, mu, _ = mar_table(60, 3, seed=1000 + rep, rate=0.3)
        mi = imputer.multiple_impute(df, m=5, method=method, seed=rep)
        an = mi.analyze(lambda d: (pd.Series({"mean": d["v1"].mean()}), pd.Series({"mean": d["v1"].std() / np.sqrt(len(d))})))
        row = an.pool(dfcom=59).table.loc["mean"]
        covered += bool(row["ci_low"] <= mu[1] <= row["ci_high"])
    assert covered >= 24, covered
