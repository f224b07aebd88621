"""Awkward partitionings against the in-memory engine on the concatenated table.

Uneven and empty partitions, a partition with no missing cell, one whose rows all miss
a column, unknown and known divisions, a nullable ``Int64`` column and carried-through
columns: the estimates equal :func:`imputer.impute`'s on ``pd.concat`` of the pieces (1e-10
SD) and ``completed`` equals its completed table, partition by partition with the
input's divisions and one set of dtypes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import imputer
from tests.imputer.dask._data import assert_same_estimates, mar_table

dd = pytest.importorskip("dask.dataframe")


def _pieces() -> list[pd.DataFrame]:
    frame = mar_table(6_000, 4, seed=5)
    frame["count"] = pd.array(np.round(frame["x1"].to_numpy() * 3), dtype="Int64")  # nullable, with missing
    frame["when"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(len(frame)), unit="h")
    no_missing = frame.iloc[:300].copy()
    no_missing[["x1", "x2", "x3", "count"]] = frame.iloc[300:600][["x0", "x0", "x0", "x0"]].to_numpy() * [1.5, -2.0, 0.5, 1.0]
    no_missing["count"] = pd.array(np.round(no_missing["count"].to_numpy(dtype=float)), dtype="Int64")
    no_missing.index = range(300)
    all_x2_missing = frame.iloc[600:900].copy()
    all_x2_missing["x2"] = np.nan
    return [
        no_missing,  # a partition with no missing cell
        frame.iloc[:0],  # empty
        all_x2_missing,  # every row misses x2
        frame.iloc[900:905],  # tiny
        frame.iloc[905:],  # large
        frame.iloc[:0],  # empty, last
    ]


@pytest.fixture(scope="module")
def table() -> tuple[pd.DataFrame, imputer.ImputeResult]:
    whole = pd.concat(_pieces())
    return whole, imputer.impute(whole)


def _from_pieces(pieces: list[pd.DataFrame], known: bool) -> object:
    if known:  # index sorted: 0..n-1 over the pieces, divisions at their boundaries
        sizes = [len(x) for x in pieces]
        whole = pd.concat(pieces).reset_index(drop=True)
        ddf = dd.from_pandas(whole, npartitions=1)
        bounds = np.cumsum([0] + [s for s in sizes if s])
        divisions = [int(b) for b in bounds[:-1]] + [int(bounds[-1]) - 1]
        return ddf.repartition(divisions=divisions)
    return dd.from_map(lambda x: x, pieces, meta=pieces[0].iloc[:0], enforce_metadata=False)


@pytest.mark.parametrize("engine", ["table", "rows"])
@pytest.mark.parametrize("known", [False, True], ids=["unknown-divisions", "known-divisions"])
def test_awkward_partitions_equal_in_memory(
    known: bool, engine: str, table: tuple[pd.DataFrame, imputer.ImputeResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    # engine: the pattern table, or a map-reduce per EM evaluation on persisted layouts
    from imputer.dask import api

    if engine == "rows":
        monkeypatch.setattr(api, "MAX_TABLE_BYTES", -1)
    whole, ref = table
    pieces = _pieces()
    ddf = _from_pieces(pieces, known)
    if known:
        ref = imputer.impute(whole.reset_index(drop=True))
    assert ddf.known_divisions is known
    res = imputer.impute(ddf, progress=False, persist=True)
    assert res.pattern_table is (engine == "table")
    assert_same_estimates(res, ref)
    assert res.passthrough == ("site", "when")
    assert res.completed.divisions == ddf.divisions
    parts = [res.completed.get_partition(i).compute() for i in range(res.completed.npartitions)]
    got = pd.concat(parts)
    expected = ref.completed
    cols = list(ref.columns)
    assert [list(x.dtypes) for x in parts] == [list(res.completed.dtypes)] * len(parts)  # every partition as meta
    assert got["count"].dtype == "Float64" and got["x0"].dtype == np.float64
    sd = np.sqrt(np.diag(ref.cov.to_numpy()))
    diff = np.abs(got[cols].to_numpy(dtype=float) - expected[cols].to_numpy(dtype=float)) / sd
    assert np.max(diff) <= 1e-10
    assert got["when"].equals(expected["when"]) and (got["site"].astype(str).to_numpy() == expected["site"].to_numpy()).all()
    cv = res.conditional_var.compute()
    assert cv.shape == (len(whole), len(cols))
    np.testing.assert_allclose(cv.to_numpy(), ref.conditional_var.to_numpy(), rtol=1e-9, atol=1e-12)
    # standard errors: the observed information summed over the partitions (empty ones included)
    np.testing.assert_allclose(res.vcov.to_numpy(), ref.vcov.to_numpy(), rtol=1e-7, atol=1e-12)
    assert res.vcov.index.equals(ref.vcov.index) and res.se_cov.index.equals(ref.se_cov.index)
    pd.testing.assert_series_equal(res.se_mean, ref.se_mean, rtol=1e-7)
    pd.testing.assert_series_equal(res.fraction_missing_info, ref.fraction_missing_info, rtol=1e-6, atol=1e-9)
    assert res.worst_fraction_missing_info == pytest.approx(ref.worst_fraction_missing_info, rel=1e-6)


def _values(entry: object) -> object:
    """The numbers of a to_dict entry (a labelled matrix or vector, or a number)."""
    return entry["data"] if isinstance(entry, dict) and "data" in entry else (
        list(entry.values()) if isinstance(entry, dict) else entry
    )


def test_standard_errors_with_a_ridge_equal_in_memory() -> None:
    frame = mar_table(3_000, 4, seed=13)
    ref = imputer.impute(frame, ridge=2.0, tol=1e-11)
    res = imputer.impute(dd.from_pandas(frame, npartitions=3), ridge=2.0, tol=1e-11, progress=False)
    np.testing.assert_allclose(res.vcov.to_numpy(), ref.vcov.to_numpy(), rtol=1e-8, atol=1e-14)
    ours, theirs = res.to_dict(standard_errors=True), ref.to_dict(standard_errors=True)
    assert "vcov" not in res.to_dict()
    for key in ("vcov", "se_mean", "se_cov", "fraction_missing_info", "worst_fraction_missing_info"):
        assert type(ours[key]) is type(theirs[key])
        if isinstance(ours[key], dict):
            assert ours[key].keys() == theirs[key].keys() and ours[key].get("columns") == theirs[key].get("columns")
        np.testing.assert_allclose(np.array(_values(ours[key]), dtype=float), np.array(_values(theirs[key]), dtype=float),
                                   rtol=1e-7, atol=1e-12)


def test_observed_cells_bit_for_bit_and_input_untouched() -> None:
    frame = mar_table(2_000, 3, seed=9)
    before = frame.copy()
    ddf = dd.from_pandas(frame, npartitions=3)
    got = imputer.impute(ddf, progress=False).completed.compute()
    pd.testing.assert_frame_equal(frame, before)
    cols = ["x0", "x1", "x2"]
    obs = frame[cols].notna().to_numpy()
    assert np.array_equal(got[cols].to_numpy()[obs], frame[cols].to_numpy()[obs])
    assert not got[cols].isna().any().any()
