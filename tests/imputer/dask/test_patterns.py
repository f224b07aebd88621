"""The per-pattern moments of :mod:`imputer.dask._patterns` and the choice of route.

Reference for the table: a pandas ``groupby`` on the missing mask of the standardised
rows (counts, sums and cross-products with 0 in the missing cells), independent of the
in-memory layout. The route: the table when it fits ``MAX_TABLE_BYTES``, else the
per-evaluation map-reduce, with the same estimates either way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.dask import _kernels as k
from imputer.dask import _patterns, api
from imputer.dask._kernels import Scaling
from tests.imputer.dask._data import assert_same_estimates, mar_table

dd = pytest.importorskip("dask.dataframe")


def _direct(x: np.ndarray, scaling: Scaling) -> dict[tuple[bool, ...], tuple[int, np.ndarray, np.ndarray]]:
    z = (x - scaling.center) / scaling.scale
    miss = np.isnan(z)
    v = np.where(miss, 0.0, z)
    out = {}
    for key, rows in pd.DataFrame(miss).groupby(list(range(x.shape[1]))).indices.items():
        out[tuple(bool(b) for b in key)] = (rows.size, v[rows].sum(axis=0), v[rows].T @ v[rows])
    return out


BUDGET = 2**30


@pytest.mark.parametrize("route", ["standardised", "scan"])
@pytest.mark.parametrize("p", [3, 70])  # one 64-bit word per key, and two
def test_merged_table_equals_groupby(p: int, route: str) -> None:
    rng = np.random.default_rng(p)
    x = rng.standard_normal((600, p)) * 3.0 + 5.0
    x[rng.random((600, p)) < (0.02 if p > 64 else 0.3)] = np.nan
    x[:5, p - 1] = np.nan  # column p - 1: a pattern across the word boundary for p = 70
    scaling = Scaling(center=np.full(p, 5.0), scale=np.full(p, 3.0), n_observed=np.full(p, 600.0))
    parts = [x[:0], x[:250], x[250:251], x[251:]]  # an empty partition, a one-row one
    if route == "standardised":
        tables = [_patterns.partition_table(tuple(part.T.copy()), scaling) for part in parts]
        merged = _patterns.merge_tables(_patterns.merge_tables(*tables[:2]), _patterns.merge_tables(*tables[2:]))
    else:  # as the scan makes it: raw values about each partition's means, moved to a common shift, standardised
        scans = [_patterns.scan_partition(tuple(part.T.copy()), BUDGET) for part in parts]
        both = _patterns.merge_scans(
            _patterns.merge_scans(*scans[:2], budget=BUDGET), _patterns.merge_scans(*scans[2:], budget=BUDGET), budget=BUDGET
        )
        assert both.table is not None and both.moments.n == 600
        merged = _patterns.standardised(both.table, both.moments.shift, scaling)
    ref = _direct(x, scaling)
    masks = _patterns.pattern_masks(merged)
    assert merged.n_patterns == len(ref) and merged.n_rows == 600
    for g, mask in enumerate(masks):
        count, t, T = ref[tuple(mask)]
        assert merged.counts[g] == count
        np.testing.assert_allclose(merged.t[g], t, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(merged.T[g], T, rtol=1e-12, atol=1e-11)


def test_scan_drops_the_table_beyond_the_budget() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 6))
    x[rng.random((400, 6)) < 0.3] = np.nan
    halves = [tuple(x[:200].T.copy()), tuple(x[200:].T.copy())]
    g0 = _patterns.scan_partition(halves[0], BUDGET).table.n_patterns
    assert _patterns.scan_partition(halves[0], _patterns.table_bytes(g0, 6) - 1).table is None
    fits = [_patterns.scan_partition(h, _patterns.table_bytes(g0, 6) + 10**6) for h in halves]
    merged_g = _patterns.merge_scans(*fits, budget=BUDGET).table.n_patterns
    assert merged_g > g0
    # each half fits, the merged table does not: no table, the moments still merged
    out = _patterns.merge_scans(*fits, budget=_patterns.table_bytes(merged_g, 6) - 1)
    assert out.table is None and out.moments.n == 400


@pytest.mark.parametrize("room", [0, -1], ids=["table-fits", "one-pattern-too-many"])
def test_route_at_the_budget(room: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # the table is used up to MAX_TABLE_BYTES exactly, the map-reduce beyond; same estimates
    frame = mar_table(3_000, 4, seed=8)
    ref = imputer.impute(frame)
    monkeypatch.setattr(api, "MAX_TABLE_BYTES", _patterns.table_bytes(ref.n_patterns, 4) + room)
    reads = []
    column_values = k.column_values
    monkeypatch.setattr(k, "column_values", lambda *a: reads.append(None) or column_values(*a))
    res = imputer.impute(dd.from_pandas(frame, npartitions=3), progress=False, persist=False)
    assert res.pattern_table is (room == 0)
    # the table: one read of each partition for the whole fit; else one more per EM evaluation
    assert len(reads) == (3 if room == 0 else 3 * (1 + res.n_evals + 1))
    assert_same_estimates(res, ref)
