"""imputer._gaussian.linalg: batched SPD inverse, Cholesky, precision and conditional blocks."""

from __future__ import annotations

import numpy as np
import pytest

from imputer._gaussian.linalg import Infeasible, cholesky_batch, chunk_conditional, floor_correlation, precision, spd_inverse_batch


@pytest.mark.parametrize("m", [1, 2, 3, 7, 12, 25])
def test_spd_inverse_batch(m) -> None:
    rng = np.random.default_rng(m)
    a = rng.normal(size=(30, m, m + 2))
    mats = a @ a.transpose(0, 2, 1)
    inv, logdet = spd_inverse_batch(mats)
    np.testing.assert_allclose(inv, np.linalg.inv(mats), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(logdet, np.linalg.slogdet(mats)[1], rtol=1e-12, atol=1e-12)
    bad = mats.copy()
    bad[4] = -np.eye(m)
    with pytest.raises(Infeasible):
        spd_inverse_batch(bad)


def _spd_stack(g: int, m: int, seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).normal(size=(g, m, m + 2))
    return a @ a.transpose(0, 2, 1)


@pytest.mark.parametrize("m", [1, 2, 7, 33])
def test_cholesky_batch(m) -> None:
    mats = _spd_stack(20, m, m)
    chol = cholesky_batch(mats)
    assert np.array_equal(chol, np.tril(chol))
    np.testing.assert_allclose(chol @ chol.transpose(0, 2, 1), mats, rtol=1e-10, atol=1e-10)
    bad = mats.copy()
    bad[3] = -np.eye(m)
    with pytest.raises(Infeasible, match="not positive definite"):
        cholesky_batch(bad)


def test_precision() -> None:
    cov = _spd_stack(1, 6, 0)[0]
    prec, logdet = precision(cov)
    np.testing.assert_allclose(prec, np.linalg.inv(cov), rtol=1e-10)
    assert logdet == pytest.approx(np.linalg.slogdet(cov)[1], rel=1e-12)
    with pytest.raises(Infeasible):
        precision(-cov)
    with pytest.raises(Infeasible, match="non-finite"):
        precision(np.full((2, 2), np.nan))


@pytest.mark.parametrize("m", [1, 3, 8, 33])
def test_chunk_conditional_is_the_schur_complement(m) -> None:
    """``C_M = (Lambda_MM)^-1 = Sigma_MM - Sigma_MO Sigma_OO^-1 Sigma_OM``, batch-last, with cells."""
    p = 36
    cov = _spd_stack(1, p, 1)[0] + np.eye(p)
    rng = np.random.default_rng(m)
    miss = np.sort(np.array([rng.choice(p, m, replace=False) for _ in range(5)]), axis=1)
    cond_t, logdet, cells = chunk_conditional(np.linalg.inv(cov), miss)
    assert cond_t.shape == cells.shape == (m, m, 5)
    for g, mi in enumerate(miss):
        o = np.setdiff1d(np.arange(p), mi)
        c = cov[np.ix_(mi, mi)] - cov[np.ix_(mi, o)] @ np.linalg.solve(cov[np.ix_(o, o)], cov[np.ix_(o, mi)])
        np.testing.assert_allclose(cond_t[:, :, g], c, rtol=1e-8, atol=1e-10)
        assert logdet[g] == pytest.approx(np.linalg.slogdet(c)[1], rel=1e-9, abs=1e-9)
        assert np.array_equal(cells[:, :, g], mi[:, None] * p + mi[None, :])


@pytest.mark.parametrize("floor", [0.01, 0.05])
@pytest.mark.parametrize("rho", [0.995, 0.9, -0.6, 0.2])
def test_floor_correlation_lifts_the_smallest_eigenvalue_to_the_floor_only(rho: float, floor: float) -> None:
    # three variables with equal correlation rho: eigenvalues 1 + 2 rho and 1 - rho (twice); rho = -0.6 is indefinite
    corr = np.full((3, 3), rho)
    np.fill_diagonal(corr, 1.0)
    low = min(1 + 2 * rho, 1 - rho)
    out = floor_correlation(corr, floor)
    if low >= floor:
        assert out is corr
    else:
        assert np.linalg.eigvalsh(out)[0] == pytest.approx(floor, abs=1e-12)
        np.testing.assert_allclose(np.diag(out), 1.0, rtol=0, atol=1e-15)
        t = (floor - low) / (1 - low)
        np.testing.assert_allclose(out, (1 - t) * corr + t * np.eye(3), rtol=0, atol=1e-12)
