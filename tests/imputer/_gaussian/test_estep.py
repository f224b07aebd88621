"""imputer._gaussian.estep: E-step statistics against row-by-row sums (conftest.naive_stats)."""

from __future__ import annotations

import numpy as np
import pytest

import imputer._gaussian.estep as estep_module
from imputer._gaussian.estep import estep, estep_diagonals, small_plan
from imputer._gaussian.layout import build_layout
from imputer._gaussian.linalg import Infeasible
from imputer._gaussian.stats import SufficientStats


@pytest.fixture(autouse=True, params=["small", "general", "precision", "observed"])
def kernel_path(request, monkeypatch) -> str:
    """Every test on every E-step path: the batched small-problem one (where the case
    qualifies and no chunk takes the observed route), the pattern-chunk loop with each
    chunk's route chosen by cost, and the loop with every chunk through the precision or
    through the observed blocks (:mod:`imputer._gaussian.observed`)."""
    monkeypatch.setattr(estep_module, "SMALL_PATH", request.param == "small")
    if request.param in ("precision", "observed"):
        monkeypatch.setattr(estep_module, "ROUTE", request.param)
    return request.param


@pytest.mark.parametrize("shortcut", [True, False])
def test_unweighted_statistics_match_row_by_row(case, ref, shortcut) -> None:
    data = build_layout(case.x)
    stats = estep(data, case.mean, case.cov, shortcut=shortcut)
    ones = np.ones(case.n)
    ref.assert_stats(stats, ref.stats(case.x, case.mean, case.cov, ones, ones))


@pytest.mark.parametrize("kind", ["same", "separate", "t"])
def test_weighted_statistics_match_row_by_row(case, ref, kind) -> None:
    """``same``: mixture-style ``w = v``; ``separate``: two weight vectors; ``t``: ``w = tau``, ``v = 1``."""
    rng = np.random.default_rng(7)
    w = rng.uniform(0.1, 2.0, case.n)
    v = {"same": w, "separate": rng.uniform(0.1, 2.0, case.n), "t": np.ones(case.n)}[kind]
    data = build_layout(case.x)
    stats = estep(data, case.mean, case.cov, w, None if kind == "same" else v)
    ref.assert_stats(stats, ref.stats(case.x, case.mean, case.cov, w, v))


def test_unit_weights_equal_unweighted(case, ref) -> None:
    data = build_layout(case.x)
    plain = estep(data, case.mean, case.cov)
    weighted = estep(data, case.mean, case.cov, np.ones(case.n), np.ones(case.n))
    ref.assert_stats(weighted, plain, rtol=1e-11)


def test_dense_shortcut_equals_row_path(ref) -> None:
    case = ref.make_case("small")
    data = build_layout(case.x)
    assert data.dense and any(s.dense for s in data.chunks)  # the shortcut is exercised
    ref.assert_stats(estep(data, case.mean, case.cov), estep(data, case.mean, case.cov, shortcut=False), rtol=1e-11)


@pytest.mark.parametrize("weighted", [False, True])
def test_statistics_add_over_row_splits(case, ref, weighted) -> None:
    rng = np.random.default_rng(11)
    w = rng.uniform(0.1, 2.0, case.n) if weighted else None
    v = rng.uniform(0.1, 2.0, case.n) if weighted else None
    part = rng.random(case.n) < 0.4
    pieces = []
    for sel in (part, ~part):
        ws = None if w is None else w[sel]
        vs = None if v is None else v[sel]
        pieces.append(estep(build_layout(case.x[sel]), case.mean, case.cov, ws, vs))
    whole = estep(build_layout(case.x), case.mean, case.cov, w, v)
    ref.assert_stats(pieces[0] + pieces[1], whole, rtol=1e-10)
    ref.assert_stats(SufficientStats.zeros(case.p) + whole, whole, rtol=0.0)


def test_estep_completes_the_work_array(case, ref) -> None:
    data = build_layout(case.x)
    estep(data, case.mean, case.cov, shortcut=False)
    inc = data.patterns.incomplete_rows
    expected = np.array([ref.row(case.x[i], case.mean, case.cov)[0] for i in inc])
    np.testing.assert_allclose(data.work, expected, rtol=1e-9, atol=1e-9)


def test_diagonals_are_those_of_the_conditional_covariances(case, ref) -> None:
    data = build_layout(case.x)
    _, diags = estep_diagonals(data, case.mean, case.cov)
    for group, diag in zip(data.patterns.groups, diags):
        assert diag.shape == (group.n_patterns, group.n_miss)
        for g in range(group.n_patterns):
            row = case.x[group.rows[np.argmax(group.row_pattern == g)]]
            c = ref.row(row, case.mean, case.cov)[1]
            np.testing.assert_allclose(diag[g], np.diag(c)[group.miss[g]], rtol=1e-9)


def test_weighted_needs_the_complete_rows(ref) -> None:
    case = ref.make_case("small")
    data = build_layout(case.x, keep_complete=False)
    with pytest.raises(ValueError, match="without its complete rows"):
        estep(data, case.mean, case.cov, np.ones(case.n))


def test_not_positive_definite_is_infeasible(ref) -> None:
    case = ref.make_case("small")
    with pytest.raises(Infeasible):
        estep(build_layout(case.x), case.mean, -case.cov)


def test_sum_of_parts(ref) -> None:
    """``sum(parts)`` starts from 0: the statistics of three row splits add to those of all rows."""
    case = ref.make_case("medium")
    parts = [estep(build_layout(case.x[k::3]), case.mean, case.cov) for k in range(3)]
    ref.assert_stats(sum(parts), estep(build_layout(case.x), case.mean, case.cov), rtol=1e-10)


@pytest.mark.parametrize("kernel_path", ["small"], indirect=True)  # it switches the paths itself
@pytest.mark.parametrize("case", ["small", "medium", "wide"], indirect=True)  # within the batched path's bounds
def test_small_path_equals_the_chunk_loop(case, ref, monkeypatch) -> None:
    """The batched small-problem E-step gives the chunk loop's statistics, conditional
    means and diagonals up to rounding (unweighted and weighted), whatever the work
    array's missing cells held (update form)."""
    rng = np.random.default_rng(5)
    w, v = rng.uniform(0.1, 2.0, case.n), rng.uniform(0.1, 2.0, case.n)
    out = {}
    for small in (True, False):
        monkeypatch.setattr(estep_module, "SMALL_PATH", small)
        data = build_layout(case.x)
        assert small_plan(data) is not None
        data.work[np.isnan(case.x[data.patterns.incomplete_rows])] = 3.0  # arbitrary content
        stats, diags = estep_diagonals(data, case.mean, case.cov, complete_all=True)
        out[small] = stats, diags, data.work.copy(), estep(data, case.mean, case.cov, w, v)
    ref.assert_stats(out[True][0], out[False][0], rtol=1e-11)
    ref.assert_stats(out[True][3], out[False][3], rtol=1e-11)
    for a, b in zip(out[True][1], out[False][1]):
        np.testing.assert_allclose(a, b, rtol=1e-11)
    np.testing.assert_allclose(out[True][2], out[False][2], rtol=1e-11, atol=1e-12)
    observed = ~np.isnan(case.x[build_layout(case.x).patterns.incomplete_rows])
    np.testing.assert_array_equal(out[True][2][observed], out[False][2][observed])


@pytest.mark.parametrize("kernel_path", ["small"], indirect=True)
@pytest.mark.parametrize("weighted", [False, True])
def test_small_path_is_a_function_of_the_parameters_alone(case, weighted: bool) -> None:
    """Bit for bit the same statistics and fills whatever the work array's missing cells
    held before (an earlier E-step's fills, or anything): the accelerators compare the
    objectives of revisited points exactly. (The sparse case is beyond the batched path's
    bounds and takes the observed route, which fills from the observed cells alone.)"""
    rng = np.random.default_rng(11)
    w = rng.uniform(0.1, 2.0, case.n) if weighted else None
    data = build_layout(case.x)
    assert (small_plan(data) is not None) == (case.name != "sparse")
    missing = np.isnan(case.x[data.patterns.incomplete_rows])
    out = []
    for content in (0.0, 1e3, -0.37):
        data.work[missing] = content
        stats = estep(data, case.mean, case.cov, w, w)
        out.append((stats, data.work.copy()))
    for stats, work in out[1:]:
        np.testing.assert_array_equal(work, out[0][1])
        for name in ("s1", "s2", "cond"):
            np.testing.assert_array_equal(getattr(stats, name), getattr(out[0][0], name))
        assert stats.entropy == out[0][0].entropy


def test_wide_rows_enter_s2_in_place_as_by_a_product(monkeypatch: pytest.MonkeyPatch) -> None:
    # from _INPLACE_MIN_P columns the completed rows' cross-product is added to S_2 by gemm
    # with beta = 1: the same statistics as the product-then-add path
    import imputer._gaussian.estep as es

    monkeypatch.setattr(es, "SMALL_PATH", False)  # the chunk path, where rows are added
    calls = []
    gemm = es.dgemm
    monkeypatch.setattr(es, "dgemm", lambda *a, **k: calls.append(1) or gemm(*a, **k))
    rng = np.random.default_rng(5)
    n, p = 12, 600
    x = rng.standard_normal((n, p))
    x[rng.random((n, p)) < 0.1] = np.nan
    data = build_layout(x)
    mean = np.zeros(p)
    cov = np.eye(p) * 1.5 + 0.2
    fast = es.estep(data, mean, cov)
    assert calls
    monkeypatch.setattr(es, "_INPLACE_MIN_P", 10**9)
    slow = es.estep(build_layout(x), mean, cov)
    np.testing.assert_allclose(fast.s2, slow.s2, rtol=0, atol=1e-12 * np.abs(slow.s2).max())
    np.testing.assert_allclose(fast.s1, slow.s1, rtol=1e-14)
