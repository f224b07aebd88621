"""Kernels for wide data: the batched row pass, LAPACK-sized blocks, the Cholesky feasibility test.

References: ``np.linalg.inv``/``slogdet``/``eigvalsh`` and the per-block
:func:`~imputer._gaussian.chunks.update_block` (itself checked row by row in test_chunks).
"""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from imputer._gaussian.chunks import iter_chunks, iter_completed, update_block
from imputer._gaussian.layout import build_layout
from imputer._gaussian.linalg import SWEEP_MAX_M, mirror_upper, precision, spd_inverse_batch
from imputer.mvn._fit import SINGULAR_EIG, corr_feasible, min_corr_eig


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():  # type: ignore[no-untyped-def]
    """The kernels are called here outside the engine's own BLAS limit: set it (as the engine does)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _spd(p: int, seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).normal(size=(p, p + 3))
    return a @ a.T / p + 0.1 * np.eye(p)


def _layout(n: int, p: int, rate: float, seed: int):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    x[rng.random((n, p)) < rate] = np.nan
    x[:5, : SWEEP_MAX_M + 2] = np.nan  # a frequent pattern with a LAPACK-sized block
    return build_layout(x)


@pytest.mark.parametrize(("n", "p", "rate"), [(40, 150, 0.2), (3000, 6, 0.3), (60, 25, 0.05)])
@pytest.mark.parametrize("skip_dense", [False, True])
def test_iter_completed_equals_the_per_block_update(n, p, rate, skip_dense) -> None:
    """Same completed rows as update_block block by block; every row block reported once, in order."""
    data = _layout(n, p, rate, 0)
    other = _layout(n, p, rate, 0)
    cov = _spd(p, 1)
    mean = np.linspace(-1.0, 1.0, p)
    prec = precision(cov)[0]
    reported: list[int] = []

    def done(first: int, stop: int) -> None:
        assert not reported or first == reported[-1] + 1 or all(b.dense for b in data.blocks[reported[-1] + 1 : first])
        reported.extend(range(first, stop))

    specs = [ch.spec for ch in iter_completed(data, prec, prec @ mean, skip_dense=skip_dense, rows_done=done)]
    assert specs == list(data.chunks)
    for ch in iter_chunks(other.patterns, prec, other.chunks):
        for blk in other.blocks[ch.spec.block_start : ch.spec.block_stop]:
            if not (skip_dense and blk.dense):
                update_block(other.work[blk.start : blk.stop], blk, ch.cond, prec, prec @ mean)
    np.testing.assert_allclose(data.work, other.work, rtol=1e-12, atol=1e-12)
    expected = [b for b, blk in enumerate(data.blocks) if not (skip_dense and blk.dense)]
    assert reported == expected


@pytest.mark.parametrize("p", [5, 64, 65, 300])
def test_precision_and_mirror(p) -> None:
    cov = _spd(p, p)
    prec, logdet = precision(cov)
    assert np.array_equal(prec, prec.T) and prec.flags.c_contiguous
    np.testing.assert_allclose(prec, np.linalg.inv(cov), rtol=1e-9, atol=1e-9)
    assert logdet == pytest.approx(np.linalg.slogdet(cov)[1], rel=1e-12)
    a = np.random.default_rng(p).normal(size=(p, p))
    b = mirror_upper(a.copy())
    assert np.array_equal(b, np.triu(a) + np.triu(a, 1).T)


@pytest.mark.parametrize("m", [SWEEP_MAX_M - 1, SWEEP_MAX_M, 40])
def test_inverses_either_side_of_the_crossover(m) -> None:
    mats = np.stack([_spd(m, s) for s in range(4)])
    inv, logdet = spd_inverse_batch(mats)
    np.testing.assert_allclose(inv, np.linalg.inv(mats), rtol=1e-9, atol=1e-10)
    if m >= SWEEP_MAX_M:  # LAPACK's triangle, mirrored
        assert np.array_equal(inv, inv.transpose(0, 2, 1))
    np.testing.assert_allclose(logdet, np.linalg.slogdet(mats)[1], rtol=1e-12)
    assert np.array_equal(mats, np.stack([_spd(m, s) for s in range(4)]))  # input untouched


@pytest.mark.parametrize("eig", [1e-6, 1e-9, 2e-10, 5e-11, 1e-12, -1e-3])
def test_corr_feasible_agrees_with_the_eigenvalue_test(eig) -> None:
    """A correlation matrix with a chosen smallest eigenvalue, scaled by column SDs."""
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.normal(size=(30, 30)))
    vals = np.concatenate([[eig], rng.uniform(0.5, 2.0, 29)])
    corr = (q * vals) @ q.T
    d = np.sqrt(np.diag(corr))
    corr = corr / np.outer(d, d)
    sd = rng.uniform(0.1, 10.0, 30)
    sigma = corr * np.outer(sd, sd)
    assert corr_feasible(sigma) == (min_corr_eig(sigma) >= SINGULAR_EIG)
    assert not corr_feasible(np.full((3, 3), np.nan)) and not corr_feasible(np.diag([1.0, 0.0, 1.0]))
