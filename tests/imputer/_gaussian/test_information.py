"""The observed-information kernel: chunking does not change it, the complete-data forms agree.

* Chunks of patterns and blocks of rows are an implementation detail: with tiny
  temporaries (one pattern per chunk, a few rows per block, so that patterns straddle
  blocks) the information is the same as in one pass.
* Complete data at the MLE: the observed information is the complete-data information
  (``n Sigma^-1``; ``(n/2) D_p'(Sigma^-1 kron Sigma^-1) D_p``, built here with an explicit
  duplication matrix), and :func:`complete_variances` is the diagonal of its inverse.
"""

from __future__ import annotations

import numpy as np
import pytest

from imputer._gaussian import information
from imputer._gaussian.patterns import build_patterns


def _data(seed: int, n: int, p: int, rate: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p)) @ rng.normal(size=(p, p))
    x[rng.random((n, p)) < rate] = np.nan
    x[3] = np.nan  # a row with nothing observed
    return x


def _info(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray, ridge: float = 0.0) -> np.ndarray:
    mask = np.isnan(x)
    values = tuple(np.where(mask[:, j], 123.0, x[:, j]) for j in range(x.shape[1]))  # missing cells are not read
    return information.observed_information(
        values, build_patterns(mask), np.zeros(x.shape[1]), np.ones(x.shape[1]), mu, sigma, prior_weight=ridge
    )


def _duplication(p: int) -> np.ndarray:
    """``D_p``: ``vec(S) = D_p vech(S)`` for symmetric ``S`` (vech = upper triangle, row-major)."""
    a, b = np.triu_indices(p)
    d = np.zeros((p * p, a.size))
    for k, (i, j) in enumerate(zip(a, b)):
        d[i * p + j, k] = d[j * p + i, k] = 1.0
    return d


@pytest.mark.parametrize(("p", "rate", "ridge"), [(3, 0.3, 0.0), (5, 0.4, 2.0), (2, 0.6, 0.0)])
def test_chunking_does_not_change_the_information(monkeypatch: pytest.MonkeyPatch, p: int, rate: float, ridge: float) -> None:
    x = _data(p, 200, p, rate)
    mu = np.nanmean(x, axis=0)
    sigma = np.cov(np.nan_to_num(x - mu).T) + np.eye(p)
    whole = _info(x, mu, sigma, ridge)
    monkeypatch.setattr(information, "_ELEMENTS", 3 * p * p)  # 3 rows per block, 1 pattern per chunk
    pieces = _info(x, mu, sigma, ridge)
    np.testing.assert_allclose(pieces, whole, rtol=1e-12, atol=1e-12 * np.abs(whole).max())
    groups = build_patterns(np.isnan(x)).groups
    assert sum(g.n_patterns for g in groups) >= 3 and max(int(g.counts.max()) for g in groups) > 3  # pieces really differ


@pytest.mark.parametrize("p", [1, 2, 4])
def test_complete_data_at_the_mle_is_the_complete_information(p: int) -> None:
    rng = np.random.default_rng(10 + p)
    x = rng.normal(size=(50, p)) @ rng.normal(size=(p, p))
    n = x.shape[0]
    mu, sigma = x.mean(axis=0), np.cov(x.T, bias=True).reshape(p, p)
    obs = _info(x, mu, sigma)
    com = information.complete_information(sigma, n, n)
    lam = np.linalg.inv(sigma)
    dp = _duplication(p)
    expected = np.zeros_like(com)
    expected[:p, :p] = n * lam
    expected[p:, p:] = 0.5 * n * dp.T @ np.kron(lam, lam) @ dp
    np.testing.assert_allclose(com, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
    np.testing.assert_allclose(obs, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())
    np.testing.assert_allclose(information.complete_variances(sigma, n, n), np.diag(np.linalg.inv(com)), rtol=1e-10)


def test_complete_variances_with_a_prior_weight() -> None:
    sigma = np.array([[2.0, 0.3, -0.4], [0.3, 1.0, 0.2], [-0.4, 0.2, 3.0]])
    com = information.complete_information(sigma, 40.0, 43.5)
    np.testing.assert_allclose(information.complete_variances(sigma, 40.0, 43.5), np.diag(np.linalg.inv(com)), rtol=1e-12)


def test_vech_order_and_parameter_count() -> None:
    a, b = information.vech_indices(3)
    assert list(zip(a.tolist(), b.tolist())) == [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    assert [information.n_parameters(p) for p in (1, 2, 20, 200)] == [2, 5, 230, 20300]
