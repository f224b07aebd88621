"""imputer._gaussian.observed: the observed-block route against row-by-row formulas, and its choice."""

from __future__ import annotations

import numpy as np
import pytest

from imputer._gaussian.chunks import iter_chunks, iter_completed
from imputer._gaussian.layout import StandardData, build_layout, chunk_specs
from imputer._gaussian.linalg import Infeasible, precision
from imputer._gaussian.observed import chunk_routes, fill_block, observed_chunk, observed_columns


def test_observed_columns_are_the_complement() -> None:
    miss = np.array([[0, 3], [1, 2], [3, 4]])
    assert observed_columns(miss, 5).tolist() == [[1, 2, 4], [0, 3, 4], [0, 1, 2]]


@pytest.mark.parametrize("full", [True, False])
@pytest.mark.parametrize("coef", [True, False])
def test_blocks_and_fills_match_row_by_row(case, ref, full: bool, coef: bool) -> None:
    """``C_M`` (or its diagonal), ``log|Sigma_OO|`` and the conditional means of every
    pattern (rows with nothing observed included), with ``B`` formed or through ``L`` and
    ``A``, against ``Sigma_MO Sigma_OO^-1`` row by row."""
    data = build_layout(case.x)
    inc = data.patterns.incomplete_rows
    logdet_sigma = float(np.linalg.slogdet(case.cov)[1])
    for spec in data.chunks:
        group = data.patterns.groups[spec.group]
        oc = observed_chunk(case.cov, group.miss[spec.pat_start : spec.pat_stop], full=full, coef=coef)
        assert (oc.cond is not None) == full and (oc.coef is not None) == coef and len(oc.a) == (0 if coef else len(oc.obs))
        for g in range(len(oc.cond_diag)):
            row = case.x[group.rows[np.argmax(group.row_pattern == spec.pat_start + g)]]
            _, c, logdet = ref.row(row, case.mean, case.cov)
            miss = group.miss[spec.pat_start + g]
            if oc.cond is not None:
                np.testing.assert_allclose(oc.cond[g], c[np.ix_(miss, miss)], rtol=1e-8, atol=1e-10)
            np.testing.assert_allclose(oc.cond_diag[g], np.diag(c)[miss], rtol=1e-8, atol=1e-10)
            assert logdet_sigma - oc.logdet_oo[g] == pytest.approx(logdet, rel=1e-9, abs=1e-9)
        for blk in data.blocks[spec.block_start : spec.block_stop]:
            block = data.work[blk.start : blk.stop].copy()
            block.reshape(-1)[blk.flat] = 1e3  # whatever the missing cells hold
            fill_block(block, blk, oc, case.mean)
            expected = np.array([ref.row(case.x[i], case.mean, case.cov)[0] for i in inc[blk.start : blk.stop]])
            np.testing.assert_allclose(block, expected, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("pattern", ["alternate", "all"])
def test_completed_rows_are_reported_once_in_order_across_routes(case, ref, pattern) -> None:
    """With the routes mixed chunk by chunk, every block is completed and reported
    through ``rows_done`` exactly once, in layout order, and the work array holds the
    conditional means."""
    data = build_layout(case.x)
    n_chunks = len(data.chunks)
    routes = tuple(i % 2 == 0 for i in range(n_chunks)) if pattern == "alternate" else (True,) * n_chunks
    prec, logdet = precision(case.cov)
    reported: list[tuple[int, int]] = []
    chunks = list(
        iter_completed(
            data,
            None if all(routes) else prec,
            None if all(routes) else prec @ case.mean,
            rows_done=lambda a, b: reported.append((a, b)),
            routes=routes,
            sigma=(case.cov, logdet),
            mean=case.mean,
        )
    )
    assert [ch.observed is not None for ch in chunks] == list(routes)
    assert reported[0][0] == 0 and reported[-1][1] == len(data.blocks)
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(reported, reported[1:]))
    inc = data.patterns.incomplete_rows
    expected = np.array([ref.row(case.x[i], case.mean, case.cov)[0] for i in inc])
    np.testing.assert_allclose(data.work, expected, rtol=1e-8, atol=1e-9)


def test_chunks_of_either_route_agree(case) -> None:
    data = build_layout(case.x)
    prec, logdet = precision(case.cov)
    every = (True,) * len(data.chunks)
    by_prec = list(iter_chunks(data.patterns, prec, data.chunks))
    by_obs = list(iter_chunks(data.patterns, None, data.chunks, routes=every, sigma=(case.cov, logdet)))
    for a, b in zip(by_prec, by_obs, strict=True):
        np.testing.assert_allclose(b.cond, a.cond, rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(b.cond_t, a.cond_t, rtol=1e-9, atol=1e-11)
        assert np.array_equal(b.cells, a.cells)
        np.testing.assert_allclose(b.logdet, a.logdet, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("name", "expected"), [("small", False), ("medium", False), ("sparse", True)])
def test_auto_takes_the_observed_route_where_rows_observe_few_cells(ref, name: str, expected: bool) -> None:
    case = ref.make_case(name)
    data = build_layout(case.x)
    for needed in (True, False):
        routes = chunk_routes(data.patterns, data.chunks, data.blocks, "auto", precision_needed=needed)
        # small, medium: few missing cells per row; sparse: 90% of 100 missing, most chunks
        assert (np.mean(routes) > 0.5) == expected, (name, needed, routes)
    assert all(chunk_routes(data.patterns, data.chunks, None, "observed", precision_needed=True))
    assert not any(chunk_routes(data.patterns, data.chunks, None, "precision", precision_needed=False))


def test_without_the_precision_a_mostly_observed_route_goes_all_the_way() -> None:
    """When the caller would form the ``p^3`` precision only for the chunks that prefer
    it, and the observed route is cheaper in all, every chunk takes it."""
    rng = np.random.default_rng(0)
    p = 200
    x = rng.standard_normal((30, p))
    x[rng.random(x.shape) < 0.9] = np.nan
    x[:2, :5] = np.nan  # two rows that miss few cells: the precision route's own chunk
    x[:2, 5:] = 1.0
    data = build_layout(x)
    specs = chunk_specs(data.patterns)
    needed = chunk_routes(data.patterns, specs, None, "auto", precision_needed=True)
    alone = chunk_routes(data.patterns, specs, None, "auto", precision_needed=False)
    assert not all(needed) and all(alone)


def test_a_singular_observed_block_is_infeasible() -> None:
    cov = np.array([[1.0, 1.0, 0.2], [1.0, 1.0, 0.2], [0.2, 0.2, 1.0]])
    with pytest.raises(Infeasible, match="observed block"):
        observed_chunk(cov, np.array([[2]]))


def _tall_frequent(missing: tuple[int, ...]) -> StandardData:
    """2,000 rows of 20 columns for each number of missing cells in ``missing`` (one pattern each)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2000 * len(missing), 20))
    for i, m in enumerate(missing):
        x[i * 2000 : (i + 1) * 2000, rng.permutation(20) < m] = np.nan
    data = build_layout(x)
    assert all(spec.dense for spec in data.chunks)
    return data


def test_rows_summed_per_pattern_weigh_on_neither_route() -> None:
    """Frequent patterns missing 16 to 18 of 20 cells: completing their 2,000 rows each would
    be cheaper from the observed blocks, but the E-step sums them per pattern and never
    completes them (``skip_dense``), and then the precision route's blocks are cheaper."""
    data = _tall_frequent((16, 17, 18))
    args = (data.patterns, data.chunks, data.blocks, "auto")
    assert all(chunk_routes(*args, precision_needed=True))
    assert not any(chunk_routes(*args, precision_needed=True, skip_dense=True))


def test_filling_tall_data_with_few_missing_cells_stays_on_the_precision_route() -> None:
    """Ten frequent patterns missing 2 to 5 of 20 cells (ab_revisions' ``mvn-few``, where the
    observed route was 1.12x slower): counted with each row's gathers, filling them stays on
    the precision route."""
    data = _tall_frequent((2, 2, 3, 3, 4, 4, 5, 5, 2, 3))
    assert not any(chunk_routes(data.patterns, data.chunks, data.blocks, "auto", precision_needed=False, full=False))
