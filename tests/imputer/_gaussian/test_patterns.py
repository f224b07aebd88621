"""Pattern grouping, against direct computations."""

from __future__ import annotations

import numpy as np
import pytest

from imputer._gaussian.patterns import build_patterns


@pytest.mark.parametrize(("n", "p", "rate"), [(500, 6, 0.3), (300, 70, 0.05), (200, 3, 0.0), (100, 4, 1.0)])
def test_patterns_partition_the_rows(n, p, rate) -> None:
    rng = np.random.default_rng(p)
    mask = rng.random((n, p)) < rate
    pats = build_patterns(mask)
    seen = [pats.complete_rows]
    distinct = {tuple(r) for r in mask}
    assert pats.n_patterns == len(distinct)
    offset = 0
    for g in pats.groups:
        assert g.offset == offset
        offset += g.n_rows
        assert g.counts.sum() == g.n_rows
        assert np.all(g.miss.shape == (g.n_patterns, g.n_miss))
        # every row of the group has exactly its pattern's missing columns
        for row, loc in zip(g.rows, g.row_pattern):
            assert np.array_equal(np.flatnonzero(mask[row]), g.miss[loc])
        assert np.all(np.diff(g.row_pattern) >= 0)  # rows sorted by pattern
        seen.append(g.rows)
    rows = np.concatenate(seen)
    assert np.array_equal(np.sort(rows), np.arange(n))
    assert np.array_equal(pats.incomplete_rows, np.concatenate([g.rows for g in pats.groups]) if pats.groups else [])
    assert not mask[pats.complete_rows].any()


def test_wide_masks_use_the_same_grouping() -> None:
    """p > 63 takes the packbits path; it must agree with the integer-key path."""
    rng = np.random.default_rng(0)
    narrow = rng.random((400, 8)) < 0.3
    wide = np.zeros((400, 80), dtype=bool)
    wide[:, 70:78] = narrow
    a, b = build_patterns(narrow), build_patterns(wide)
    assert a.n_patterns == b.n_patterns
    for ga, gb in zip(a.groups, b.groups):
        assert np.array_equal(np.sort(ga.rows), np.sort(gb.rows))
        assert np.array_equal(np.sort(ga.miss + 70, axis=0), np.sort(gb.miss, axis=0))
