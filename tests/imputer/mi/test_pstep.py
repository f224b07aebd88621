"""The P-step's normal-inverse-Wishart draws against the posterior's known moments.

Reference values (closed forms of the normal-inverse-Wishart posterior, module docstring
of ``imputer.mi._pstep``): with ``nu = n + lambda - 1`` and ``B = A + lambda I``,
``E[Sigma] = B / (nu - p - 1)``, ``Var(Sigma_jj) = 2 B_jj^2 / ((nu-p-1)^2 (nu-p-3))``
(scipy's ``invwishart.var``), ``E[mu] = zbar``, ``Var(mu_j) = E[Sigma_jj] / n``; and
scipy's ``invwishart.rvs`` as an independent sampler. Amelia's prior (weight ``a = lambda
+ p + 2`` on ``log|Sigma|``, scale ``D``): ``nu = n + a - 1``, ``B = A + lambda D``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import invwishart

from imputer._gaussian.prior import RidgePrior
from imputer._threads import single_blas_thread
from imputer.mi._pstep import draw_niw


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Thousands of tiny LAPACK calls: one BLAS thread (as the engine runs them)."""
    with single_blas_thread(True):
        yield

N_DRAWS = 8_000


def _stats(n: int, p: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, p)) @ rng.normal(size=(p, p)) * 0.5 + rng.normal(size=p)
    return z, z.sum(axis=0), z.T @ z


@pytest.mark.parametrize(
    ("n", "p", "ridge", "prior"),
    [(30, 1, 0.0, "ridge"), (25, 3, 0.0, "ridge"), (40, 4, 2.5, "ridge"), (12, 3, 7.0, "ridge"), (6, 3, 2.0, "amelia")],
)
def test_draws_match_the_normal_inverse_wishart_moments(n: int, p: int, ridge: float, prior: str) -> None:
    z, s1, s2 = _stats(n, p, seed=n + p)
    rng = np.random.default_rng(7)
    kernel = RidgePrior.of(prior, ridge, np.arange(n - p, n, dtype=float))  # D = n_j / (n_j - 1) for amelia
    draws = [draw_niw(s1, s2, float(n), kernel, rng) for _ in range(N_DRAWS)]
    mus = np.array([d[0] for d in draws])
    sigmas = np.array([d[1] for d in draws])
    zbar = z.mean(axis=0)
    d = np.ones(p) if prior == "ridge" else np.arange(n - p, n) / np.arange(n - p - 1, n - 1)
    b = (z - zbar).T @ (z - zbar) + ridge * np.diag(d)
    nu = n + ridge - 1 + (p + 2 if prior == "amelia" else 0)
    ref = invwishart(df=nu, scale=b)
    mean_sigma = b / (nu - p - 1)
    np.testing.assert_allclose(np.atleast_2d(ref.mean()), mean_sigma, rtol=1e-12)
    var_sigma = np.atleast_2d(ref.var())
    se = np.sqrt(var_sigma / N_DRAWS)
    assert np.all(np.abs(sigmas.mean(axis=0) - mean_sigma) < 5 * se)
    # the variance of the diagonal draws (relative MC error of a variance ~ sqrt(2/N) x kurtosis factor)
    diag_var = sigmas.var(axis=0)[np.diag_indices(p)]
    np.testing.assert_allclose(diag_var, np.diag(var_sigma), rtol=0.2)
    var_mu = np.diag(mean_sigma) / n
    assert np.all(np.abs(mus.mean(axis=0) - zbar) < 5 * np.sqrt(var_mu / N_DRAWS))
    np.testing.assert_allclose(mus.var(axis=0), var_mu, rtol=0.08)


@pytest.mark.parametrize(("p", "ridge"), [(2, 0.0), (3, 1.5)])
def test_draws_agree_with_scipy_invwishart_in_distribution(p: int, ridge: float) -> None:
    """Quantiles of Sigma_11 and of the correlation from both samplers agree (two-sample KS)."""
    from scipy.stats import ks_2samp

    n = 20
    z, s1, s2 = _stats(n, p, seed=3)
    zbar = z.mean(axis=0)
    b = (z - zbar).T @ (z - zbar) + ridge * np.eye(p)
    rng = np.random.default_rng(11)
    ours = np.array([draw_niw(s1, s2, float(n), ridge, rng)[1] for _ in range(4000)])
    ref = invwishart(df=n + ridge - 1, scale=b).rvs(size=4000, random_state=np.random.default_rng(12))
    for f in (lambda s: s[:, 0, 0], lambda s: s[:, 0, 1] / np.sqrt(s[:, 0, 0] * s[:, 1, 1])):
        assert ks_2samp(f(ours), f(ref)).pvalue > 0.001


def test_draws_follow_the_generator_and_are_positive_definite() -> None:
    z, s1, s2 = _stats(15, 3, seed=1)
    a = draw_niw(s1, s2, 15.0, 0.0, np.random.default_rng(5))
    b = draw_niw(s1, s2, 15.0, 0.0, np.random.default_rng(5))
    c = draw_niw(s1, s2, 15.0, 0.0, np.random.default_rng(6))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    assert np.all(np.linalg.eigvalsh(a[1]) > 0) and np.array_equal(a[1], a[1].T)
