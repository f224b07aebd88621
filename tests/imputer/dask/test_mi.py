"""``imputer.multiple_impute`` on a Dask DataFrame (:mod:`imputer.dask.mi`).

References: the in-memory data augmentation (:func:`imputer.multiple_impute`), whose
chain is the same one up to the first imputation when every pattern is a frequent one
in memory too (the same generator consumed in the same order); the conditional normal
of the in-memory kernels for the draws at fixed parameters (standardised residuals
against the in-memory ``draw_missing``'s, two-sample Kolmogorov-Smirnov); explicit
``SeedSequence`` spawns for the per-partition streams; the observed-information standard
errors for the spread of the bootstrap estimates. The draws on worker processes of a
``LocalCluster``: ``tests/imputer/dask/test_cli.py::test_multiple_imputation``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import imputer
from imputer.dask import _kernels as k
from imputer.dask.mi import DaskMultipleImputation, draw_partition
from imputer.errors import ImputerValueError
from imputer.mi._istep import draw_missing
from imputer.mvn._scaling import scaling_of
from tests.imputer.dask._data import mar_table

dd = pytest.importorskip("dask.dataframe")

COLS = ["x0", "x1", "x2"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return mar_table(3_000, 3, seed=4)


@pytest.fixture(scope="module")
def drawn(frame: pd.DataFrame) -> DaskMultipleImputation:
    return imputer.multiple_impute(dd.from_pandas(frame, npartitions=3), m=3, seed=7)


def test_chain_equals_in_memory_until_the_first_imputation(frame: pd.DataFrame, drawn: DaskMultipleImputation) -> None:
    ref = imputer.multiple_impute(frame, m=3, seed=7)
    assert isinstance(drawn, DaskMultipleImputation) and drawn.method == "posterior"
    assert (drawn.burn_in, drawn.thin) == (ref.burn_in, ref.thin)
    assert drawn.rate == pytest.approx(ref.rate, rel=1e-8)
    np.testing.assert_allclose(drawn.params[0][0].to_numpy(), ref.params[0][0].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(drawn.params[0][1].to_numpy(), ref.params[0][1].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(drawn.wlf.to_numpy()[: ref.burn_in + ref.thin], ref.wlf.to_numpy()[: ref.burn_in + ref.thin],
                               rtol=1e-6, atol=1e-8)
    # after it the chains continue from different (equally distributed) draws of the statistics
    assert not np.allclose(drawn.params[1][0].to_numpy(), ref.params[1][0].to_numpy(), rtol=1e-9)


def _residuals(values: np.ndarray, frame: pd.DataFrame, mu: np.ndarray, sigma: np.ndarray, scaling: Any) -> np.ndarray:
    """(draw - conditional mean) / conditional sd of every missing cell."""
    cols = tuple(COLS)
    mean = k.completed_partition(frame, cols, np.ones(3), mu, sigma, scaling)[COLS].to_numpy()
    var = k.conditional_var_partition(frame, cols, sigma, scaling).to_numpy()
    miss = frame[COLS].isna().to_numpy()
    return (values[miss] - mean[miss]) / np.sqrt(var[miss])


def test_draws_at_fixed_parameters_match_in_memory(frame: pd.DataFrame) -> None:
    ddf = dd.from_pandas(frame, npartitions=4)
    res = imputer.impute(frame)
    values = tuple(frame[c].to_numpy() for c in COLS)
    scaling = scaling_of(tuple(COLS), values, frame[COLS].isna().to_numpy())
    mu = (res.mean.to_numpy() - scaling.center) / scaling.scale
    sigma = res.cov.to_numpy() / np.outer(scaling.scale, scaling.scale)
    # Dask: partition by partition with their own streams
    seeds = np.random.SeedSequence(3).spawn(ddf.npartitions)
    parts = [draw_partition(ddf.get_partition(i).compute(), tuple(COLS), np.ones(3), mu, sigma, scaling, np.random.default_rng(s))
             for i, s in enumerate(seeds)]
    ours = _residuals(pd.concat(parts)[COLS].to_numpy(), frame, mu, sigma, scaling)
    # in memory: the whole table's layout, one stream
    layout = k.layout(values, scaling)
    draw_missing(layout, mu, sigma, np.random.default_rng(4))
    filled = np.column_stack(values)
    k.fill_missing(layout, mu, sigma, filled, scaling, refresh=False)
    theirs = _residuals(filled, frame, mu, sigma, scaling)
    assert ours.size == theirs.size == int(frame[COLS].isna().sum().sum())
    assert stats.ks_2samp(ours, theirs).pvalue > 1e-3
    assert stats.kstest(ours, "norm").pvalue > 1e-3
    assert abs(ours.mean()) < 4 / np.sqrt(ours.size) and abs(ours.var() - 1) < 6 * np.sqrt(2 / ours.size)


def test_seeds_reproducible_and_per_partition(frame: pd.DataFrame, drawn: DaskMultipleImputation) -> None:
    ddf = dd.from_pandas(frame, npartitions=3)
    again = imputer.multiple_impute(ddf, m=3, seed=7)
    first = drawn.imputations[1].compute()
    pd.testing.assert_frame_equal(first, again.imputations[1].compute())
    assert not first[COLS].equals(drawn.imputations[2].compute()[COLS])
    observed = frame[COLS].notna().to_numpy()
    assert np.array_equal(first[COLS].to_numpy()[observed], frame[COLS].to_numpy()[observed])
    assert not first[COLS].isna().any().any() and (first["site"] == frame["site"]).all()
    # imputation j, partition i: default_rng(SeedSequence(seed).spawn(2)[1].spawn(m)[j].spawn(P)[i])
    imp_seeds = np.random.SeedSequence(7).spawn(2)[1].spawn(3)[1].spawn(3)
    mu_z, sigma_z = _standardised(drawn, frame)
    for i in range(3):
        part = ddf.get_partition(i).compute()
        alone = drawn.imputations[1].get_partition(i).compute()
        pd.testing.assert_frame_equal(alone, first.loc[part.index])
        explicit = draw_partition(part, tuple(COLS), drawn.em.n_missing.to_numpy(), mu_z, sigma_z, _scaling(frame),
                                  np.random.default_rng(imp_seeds[i]))
        np.testing.assert_allclose(alone[COLS].to_numpy(), explicit[COLS].to_numpy(), rtol=1e-12)


def _scaling(frame: pd.DataFrame) -> Any:
    values = tuple(frame[c].to_numpy() for c in COLS)
    return scaling_of(tuple(COLS), values, frame[COLS].isna().to_numpy())


def _standardised(drawn: DaskMultipleImputation, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    sc = _scaling(frame)
    mu, cov = drawn.params[1]
    return (mu.to_numpy() - sc.center) / sc.scale, cov.to_numpy() / np.outer(sc.scale, sc.scale)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"method": "bootstrap", "thin": 2}, "burn_in and thin are options of method='posterior'"),
        ({"method": "chained"}, "method must be 'posterior' or 'bootstrap', got 'chained'"),
        ({"model": "t"}, "model='t' is not available for a Dask DataFrame"),
        ({"transforms": {"x1": "log"}}, "transforms=.* is not available for a Dask DataFrame"),
        ({"start": (np.zeros(3), np.eye(3))}, r"start=\(mean, cov\) is not available for a Dask DataFrame"),
        ({"m": 0}, "m must be >= 1, got 0"),
        ({"thin": 0}, "thin must be >= 1, got 0"),
    ],
)
def test_refused(options: dict[str, Any], match: str, frame: pd.DataFrame) -> None:
    options = {"m": 2, **options}
    with pytest.raises(ImputerValueError, match=match):
        imputer.multiple_impute(dd.from_pandas(frame.iloc[:200], npartitions=2), **options)


@pytest.mark.parametrize("method", ["posterior", "bootstrap"])
def test_too_many_patterns_is_refused(method: str, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    from imputer.dask import api

    monkeypatch.setattr(api, "MAX_TABLE_BYTES", -1)
    with pytest.raises(ImputerValueError, match=f"method='{method}' on a Dask DataFrame .* too many distinct missingness"):
        imputer.multiple_impute(dd.from_pandas(frame.iloc[:200], npartitions=2), m=2, method=method)


@pytest.mark.filterwarnings("ignore::imputer.ConvergenceWarning")
def test_collinear_columns_ask_for_a_ridge_as_in_memory() -> None:
    # before: numpy's LinAlgError from the chain's first draw
    rng = np.random.default_rng(1)
    df = pd.DataFrame(rng.standard_normal((30, 2)), columns=["a", "b"])
    df["c"] = df["b"] * 2 + 1
    df.iloc[::5, 0] = np.nan
    df.loc[[4, 11], "c"] = np.nan
    match = r"method='posterior': the covariance is \(nearly\) singular .* the columns \['[bc]', '[bc]'\] are collinear.*pass ridge > 0"
    with pytest.raises(ImputerValueError, match=match):
        imputer.multiple_impute(df, m=2, seed=0)
    with pytest.raises(ImputerValueError, match=match):
        imputer.multiple_impute(dd.from_pandas(df, npartitions=2), m=2, seed=0)
    assert imputer.multiple_impute(dd.from_pandas(df, npartitions=2), m=2, seed=0, ridge=0.5).m == 2


def test_bootstrap_spread_matches_the_standard_errors(frame: pd.DataFrame) -> None:
    # the bootstrap estimates' spread stands in for the posterior: their SD is the observed
    # information's standard error (in memory, an independent computation) up to the
    # sampling error of 20 draws (about 16% on an SD)
    ddf = dd.from_pandas(frame.iloc[:1_000], npartitions=2)
    mi = imputer.multiple_impute(ddf, m=20, method="bootstrap", seed=5)
    assert mi.method == "bootstrap" and mi.burn_in is None and mi.wlf is None
    se = imputer.impute(frame.iloc[:1_000]).se_mean.to_numpy()
    ratio = np.array([p[0].to_numpy() for p in mi.params]).std(axis=0, ddof=1) / se
    assert np.all((ratio > 0.6) & (ratio < 1.5)), ratio
    # reproducible, and imputation j does not depend on m (its own streams)
    again = imputer.multiple_impute(ddf, m=4, method="bootstrap", seed=5)
    np.testing.assert_array_equal(again.params[3][1].to_numpy(), mi.params[3][1].to_numpy())
    first = mi.imputations[3].compute()
    pd.testing.assert_frame_equal(first, again.imputations[3].compute())
    assert not first[COLS].isna().any().any()
    assert "Poisson bootstrap" in mi.summary() and mi.to_dict()["burn_in"] is None
