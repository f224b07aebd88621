"""imputer._gaussian.layout: the work array, its blocks and the frequent-pattern sums."""

from __future__ import annotations

import numpy as np
import pytest

from imputer._gaussian.layout import build_layout


@pytest.mark.parametrize("keep", [True, False])
def test_layout_holds_every_row(case, keep) -> None:
    data = build_layout(case.x, keep_complete=keep)
    pats = data.patterns
    inc, comp = pats.incomplete_rows, pats.complete_rows
    assert np.array_equal(data.work, np.nan_to_num(case.x[inc], nan=0.0))
    np.testing.assert_allclose(data.s1_complete, case.x[comp].sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(data.s2_complete, case.x[comp].T @ case.x[comp], rtol=1e-12)
    assert (data.complete is not None) == keep
    if keep:
        assert np.array_equal(data.complete, case.x[comp])
    covered = np.zeros(inc.size, dtype=int)
    for blk in data.blocks:
        covered[blk.start : blk.stop] += 1
        rows = case.x[inc[blk.start : blk.stop]]
        missing = np.isnan(rows)
        assert np.array_equal(np.isnan(rows.reshape(-1)[blk.flat]), np.ones(blk.flat.shape, bool))
        assert np.array_equal(np.nonzero(missing)[1].reshape(blk.cols.shape), blk.cols)
        assert np.array_equal(np.isnan(rows.T.reshape(-1)[blk.flat_t]), np.ones(blk.flat.shape, bool))
    assert np.all(covered == 1)


def test_frequent_pattern_sums(ref) -> None:
    case = ref.make_case("small")
    data = build_layout(case.x)
    assert data.dense
    z = np.nan_to_num(case.x, nan=0.0)
    for group, dense in zip(data.patterns.groups, data.dense):
        for g in range(dense.n_patterns):
            rows = z[group.rows[group.row_pattern == g]]
            np.testing.assert_allclose(dense.t[g], rows.sum(axis=0), rtol=1e-12)
            np.testing.assert_allclose(dense.T[g], rows.T @ rows, rtol=1e-12)
    np.testing.assert_allclose(data.s1_dense, sum(d.t.sum(axis=0) for d in data.dense), rtol=1e-12)
