"""imputer._gaussian.chunks: the chunk loop and the update-form conditional mean."""

from __future__ import annotations

import numpy as np
import pytest

from imputer._gaussian.chunks import iter_chunks, update_block
from imputer._gaussian.layout import build_layout


@pytest.mark.parametrize("factor", [False, True])
def test_chunks_cover_every_pattern_once_with_its_blocks(case, ref, factor) -> None:
    data = build_layout(case.x)
    prec = np.linalg.inv(case.cov)
    for source in (data.chunks, None):  # the layout's chunks, and the patterns' own
        seen = {gi: [] for gi in range(len(data.patterns.groups))}
        for ch in iter_chunks(data.patterns, prec, source, factor=factor):
            group = data.patterns.groups[ch.spec.group]
            seen[ch.spec.group].append((ch.spec.pat_start, ch.spec.pat_stop))
            assert np.array_equal(ch.miss, group.miss[ch.spec.pat_start : ch.spec.pat_stop])
            assert np.array_equal(ch.counts, group.counts[ch.spec.pat_start : ch.spec.pat_stop])
            assert np.array_equal(ch.cond, ch.cond_t.transpose(2, 0, 1))
            assert (ch.chol is not None) == factor
            for g in range(ch.miss.shape[0]):
                row = case.x[group.rows[np.argmax(group.row_pattern == ch.spec.pat_start + g)]]
                _, c, logdet = ref.row(row, case.mean, case.cov)
                c_m = c[np.ix_(ch.miss[g], ch.miss[g])]
                np.testing.assert_allclose(ch.cond[g], c_m, rtol=1e-8, atol=1e-10)
                assert ch.logdet[g] == pytest.approx(logdet, rel=1e-9, abs=1e-9)
                if factor:
                    np.testing.assert_allclose(ch.chol[g] @ ch.chol[g].T, c_m, rtol=1e-8, atol=1e-10)
            for blk in data.blocks[ch.spec.block_start : ch.spec.block_stop]:
                assert (blk.group, blk.pat_start, blk.pat_stop) == (ch.spec.group, ch.spec.pat_start, ch.spec.pat_stop)
        for gi, group in enumerate(data.patterns.groups):
            bounds = sorted(seen[gi])
            assert bounds[0][0] == 0 and bounds[-1][1] == group.n_patterns
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    spans = [(s.block_start, s.block_stop) for s in data.chunks]
    assert spans[0][0] == 0 and spans[-1][1] == len(data.blocks)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))


@pytest.mark.parametrize("fill", [0.0, 1e3])
def test_update_form_is_exact_for_any_content_of_the_missing_cells(case, ref, fill) -> None:
    data = build_layout(case.x)
    prec = np.linalg.inv(case.cov)
    inc = data.patterns.incomplete_rows
    for ch in iter_chunks(data.patterns, prec, data.chunks):
        for blk in data.blocks[ch.spec.block_start : ch.spec.block_stop]:
            block = data.work[blk.start : blk.stop].copy()
            block.reshape(-1)[blk.flat] = fill
            update_block(block, blk, ch.cond, prec, prec @ case.mean)
            expected = np.array([ref.row(case.x[i], case.mean, case.cov)[0] for i in inc[blk.start : blk.stop]])
            np.testing.assert_allclose(block, expected, rtol=1e-8, atol=1e-8 * max(1.0, fill))
