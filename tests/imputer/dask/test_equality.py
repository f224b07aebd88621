"""The Dask engine against the in-memory engine on 200,000 x 10 MAR rows in 8 partitions.

Reference: :func:`imputer.impute` on the same pandas table (conftest). Threaded scheduler
here; a real ``distributed.LocalCluster`` in ``test_distributed.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.dask import DaskImputeResult

from tests.imputer.dask._data import assert_same_estimates, mar_table

dd = pytest.importorskip("dask.dataframe")


@pytest.fixture(scope="module")
def fitted(big: pd.DataFrame) -> tuple[object, DaskImputeResult]:
    ddf = dd.from_pandas(big, npartitions=8)
    return ddf, imputer.impute(ddf, persist=True, progress=False)


def test_estimates_equal_in_memory(fitted: tuple[object, DaskImputeResult], big_ref: imputer.ImputeResult) -> None:
    _, res = fitted
    assert isinstance(res, DaskImputeResult)
    assert_same_estimates(res, big_ref)
    assert res.n_partitions == 8


def test_completed_equals_in_memory(fitted: tuple[object, DaskImputeResult], big: pd.DataFrame, big_ref: imputer.ImputeResult) -> None:
    ddf, res = fitted
    assert res.completed.divisions == ddf.divisions
    got = res.completed.compute()
    ref = big_ref.completed
    assert list(got.columns) == list(ref.columns)
    pd.testing.assert_index_equal(got.index, ref.index)
    cols = list(big_ref.columns)
    assert (got[cols].dtypes == ref[cols].dtypes).all()
    observed = big[cols].notna().to_numpy()
    g, r = got[cols].to_numpy(), ref[cols].to_numpy()
    assert np.array_equal(g[observed], big[cols].to_numpy()[observed])  # bit for bit
    sd = np.sqrt(np.diag(big_ref.cov.to_numpy()))
    assert np.max(np.abs(g - r) / sd) <= 1e-10
    assert (got["site"].astype(str) == ref["site"]).all()


def test_conditional_var_equals_in_memory(fitted: tuple[object, DaskImputeResult], big_ref: imputer.ImputeResult) -> None:
    ddf, res = fitted
    assert res.conditional_var.divisions == ddf.divisions
    got = res.conditional_var.compute()
    ref = big_ref.conditional_var
    assert list(got.columns) == list(ref.columns)
    var = np.diag(big_ref.cov.to_numpy())
    assert np.max(np.abs(got.to_numpy() - ref.to_numpy()) / var) <= 1e-10
    assert (got.to_numpy()[~big_ref.completed[list(ref.columns)].isna().to_numpy() & (ref.to_numpy() == 0)] == 0).all()


def test_summary_and_dict(fitted: tuple[object, DaskImputeResult], big_ref: imputer.ImputeResult) -> None:
    _, res = fitted
    text = res.summary()
    assert "rows:                 200,000" in text
    assert "8 (read once, EM on the pattern statistics)" in text
    d = res.to_dict()
    assert d["columns"] == list(big_ref.columns) and d["passthrough"] == ["site"]
    assert d["n_missing"] == {str(c): int(v) for c, v in big_ref.n_missing.items()}
    assert (d["n_rows"], d["n_iter"], d["n_evals"], d["converged"]) == (200_000, big_ref.n_iter, big_ref.n_evals, True)
    assert d["persisted"] is False and d["pattern_table"] is True and d["n_partitions"] == 8
    assert d["options"] == {"tol": 1e-7, "max_iter": 1000, "ridge": 0.0, "accelerate": True}
    assert res == res and hash(res) == hash(res)


@pytest.mark.parametrize("engine", ["table", "streamed", "persisted"])
@pytest.mark.parametrize(("ridge", "accelerate"), [(0.0, True), (20.0, False)])
def test_engines_equal_in_memory(ridge: float, accelerate: bool, engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # the pattern table (the default with few patterns), or a map-reduce per EM evaluation
    # over partitions read again every time (persist=False) or persisted
    from imputer.dask import api

    if engine != "table":
        monkeypatch.setattr(api, "MAX_TABLE_BYTES", -1)
    frame = mar_table(8_000, 5, seed=3)
    ref = imputer.impute(frame, ridge=ridge, accelerate=accelerate)
    res = imputer.impute(
        dd.from_pandas(frame, npartitions=4), ridge=ridge, accelerate=accelerate, persist=engine == "persisted", progress=False
    )
    assert (res.pattern_table, res.persisted) == (engine == "table", engine == "persisted")
    np.testing.assert_allclose(res.se_mean.to_numpy(), ref.se_mean.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(res.vcov.to_numpy(), ref.vcov.to_numpy(), rtol=1e-8, atol=1e-12 * np.abs(ref.vcov.to_numpy()).max())
    assert_same_estimates(res, ref)
    got = res.completed.compute()
    sd = np.sqrt(np.diag(ref.cov.to_numpy()))
    cols = list(ref.columns)
    assert np.max(np.abs(got[cols].to_numpy() - ref.completed[cols].to_numpy()) / sd) <= 1e-10
