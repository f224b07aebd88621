"""The I-step kernels: in-place draws, pattern-level statistics, batch-last Cholesky.

References: :func:`imputer._gaussian.rows.conditional_draws` (the out-of-place draw, tested
against per-row textbook conditionals in tests/imputer/_gaussian/test_rows.py) for the
in-place draw; the row-level draw's statistics for the pattern-level ones (same
distribution: means and standard deviations of every entry of ``sum z``, ``sum z z'``
over many draws agree within Monte-Carlo error); ``np.linalg.cholesky`` for the factors.
"""

from __future__ import annotations

import numpy as np
import pytest

from imputer._gaussian.chunks import iter_chunks
from imputer._gaussian.layout import build_layout
from imputer._gaussian.linalg import precision
from imputer._gaussian.rows import conditional_draws
from imputer._threads import single_blas_thread
from imputer.mi._dense import dense_factors
from imputer.mi._istep import completed_sums, cond_cholesky, draw_missing, draw_sums

COV = np.array([[1.0, 0.5, 0.3, 0.2], [0.5, 1.0, 0.4, 0.1], [0.3, 0.4, 1.0, 0.3], [0.2, 0.1, 0.3, 1.0]])


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with single_blas_thread(True):
        yield


def _data(n: int, seed: int, *, duplicated: bool = False) -> np.ndarray:
    """Frequent patterns (x1 missing; x2, x3 missing), rare ones, a row with nothing observed."""
    rng = np.random.default_rng(seed)
    x = rng.multivariate_normal(np.zeros(4), COV, size=n)
    kind = rng.integers(0, 3, size=n)
    x[kind == 1, 1] = np.nan
    x[kind == 2, 2:] = np.nan
    x[:3, 0] = np.nan
    x[3] = np.nan
    if duplicated:  # a frequent pattern of identical rows: H'H of rank 1 < q
        x[4:16] = [np.nan, np.nan, np.nan, 0.7]
    return x


@pytest.mark.parametrize("seed", [0, 1])
def test_draw_missing_equals_conditional_draws(seed: int) -> None:
    x = _data(120, seed)
    mu, cov = np.array([0.1, -0.2, 0.3, 0.0]), COV * 1.2
    ref = conditional_draws(build_layout(x, keep_complete=True), mu, cov, np.random.default_rng(seed))
    data = build_layout(x, keep_complete=False)
    data.work[:] = np.where(np.isnan(x[data.patterns.incomplete_rows]), 123.0, data.work)  # stale content
    draw_missing(data, mu, cov, np.random.default_rng(seed))
    np.testing.assert_allclose(data.work, ref[data.patterns.incomplete_rows], rtol=0, atol=1e-12)
    obs = ~np.isnan(x[data.patterns.incomplete_rows])
    assert np.array_equal(data.work[obs], x[data.patterns.incomplete_rows][obs])
    s1, s2 = completed_sums(data)
    np.testing.assert_allclose(s1, ref.sum(axis=0), atol=1e-10)
    np.testing.assert_allclose(s2, ref.T @ ref, atol=1e-10)


@pytest.mark.parametrize("duplicated", [False, True])
def test_pattern_level_sums_have_the_row_level_distribution(duplicated: bool) -> None:
    x = _data(300, 4, duplicated=duplicated)
    data = build_layout(x, keep_complete=False)
    factors = dense_factors(data)
    assert factors, "the data must have frequent patterns"
    if duplicated:  # some pattern's root has a zero row (rank-deficient H'H)
        assert any(np.any(np.all(f.root == 0.0, axis=2)) for f in factors.values())
    mu, cov = np.array([0.1, -0.1, 0.2, 0.0]), COV * 1.1
    r1, r2 = np.random.default_rng(1), np.random.default_rng(2)
    n_draws = 600
    agg, rows = [], []
    for _ in range(n_draws):
        s1, s2 = draw_sums(data, mu, cov, r1, factors)
        agg.append(np.concatenate([s1, s2[np.triu_indices(4)]]))
        draw_missing(data, mu, cov, r2)
        s1, s2 = completed_sums(data)
        rows.append(np.concatenate([s1, s2[np.triu_indices(4)]]))
    a, b = np.array(agg), np.array(rows)
    z = (a.mean(axis=0) - b.mean(axis=0)) / np.sqrt((a.var(axis=0) + b.var(axis=0)) / n_draws)
    assert np.all(np.abs(z) < 4.5), z
    np.testing.assert_allclose(a.std(axis=0), b.std(axis=0), rtol=0.2)


@pytest.mark.parametrize("m_max", [2, 5, 17])
def test_cond_cholesky_matches_lapack(m_max: int) -> None:
    rng = np.random.default_rng(m_max)
    p = 18
    a = rng.normal(size=(p, p))
    cov = a @ a.T / p + np.eye(p)
    x = rng.normal(size=(400, p))
    x[rng.random((400, p)) < m_max / p] = np.nan
    data = build_layout(x)
    for ch in iter_chunks(data.patterns, precision(cov)[0], data.chunks):
        np.testing.assert_allclose(cond_cholesky(ch), np.linalg.cholesky(ch.cond), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("df", "m"), [(0, 2), (1, 3), (2, 2), (7, 3)])
def test_wishart_identity_moments_including_singular(df: int, m: int) -> None:
    """``W ~ Wishart_m(df, I)``: ``E W = df I``, ``Var W_ii = 2 df``, ``Var W_ij = df``, rank ``min(df, m)``."""
    from imputer.mi._dense import _wishart_identity

    w = _wishart_identity(np.full(4000, df), m, np.random.default_rng(df + m))
    np.testing.assert_allclose(w.mean(axis=0), df * np.eye(m), atol=5 * np.sqrt(max(2 * df, 1) / 4000))
    if df:
        np.testing.assert_allclose(w[:, 0, 0].var(), 2 * df, rtol=0.15)
        np.testing.assert_allclose(w[:, 1, 0].var(), df, rtol=0.15)
    assert np.all(np.linalg.matrix_rank(w[:20]) == min(df, m))
