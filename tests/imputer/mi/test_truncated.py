"""Truncated conditional draws (imputer.mi._truncated) against numerical integration.

Reference: for a row with observed x0 and missing (x1, x2) under N(mu, Sigma), the
conditional normal N(m, C) of (x1, x2) is computed here from the partitioned-normal
formulas; truncated to the box x1 >= a1, x2 >= a2 its mean is

    E[x1] = int_{a1}^inf x1 f(x1) P(x2 >= a2 | x1) dx1 / int_{a1}^inf f(x1) P(x2 >= a2 | x1) dx1

with f the N(m_1, C_11) density and x2 | x1 normal (mean m_2 + C_21/C_11 (x1 - m_1), variance
C_22 - C_21^2/C_11): one-dimensional integrals by scipy.integrate.quad, independent of
the samplers (rejection, and the Gibbs fallback forced with max_tries=0).
"""

import numpy as np
import pytest
from scipy import integrate, stats

from imputer.mi._truncated import truncate_rows

MU = np.array([0.5, -0.4, 0.2])
SIGMA = np.array([[1.0, 0.5, 0.3], [0.5, 1.0, 0.6], [0.3, 0.6, 1.5]])
LOWER = np.array([-np.inf, 0.0, 0.3])
UPPER = np.full(3, np.inf)
X0 = -0.8
N = 10_000


def _conditional() -> tuple[np.ndarray, np.ndarray]:
    coef = SIGMA[1:, :1] / SIGMA[0, 0]
    m = MU[1:] + coef[:, 0] * (X0 - MU[0])
    c = SIGMA[1:, 1:] - coef @ SIGMA[:1, 1:]
    return m, c


def _reference_means() -> tuple[float, float]:
    m, c = _conditional()
    s1 = np.sqrt(c[0, 0])
    b = c[1, 0] / c[0, 0]
    s21 = np.sqrt(c[1, 1] - c[1, 0] ** 2 / c[0, 0])

    def weight(x1: float) -> float:
        return stats.norm.pdf(x1, m[0], s1) * stats.norm.sf(LOWER[2], m[1] + b * (x1 - m[0]), s21)

    def x2_mean_given(x1: float) -> float:  # E[x2 1(x2 >= a2) | x1]
        mu2 = m[1] + b * (x1 - m[0])
        alpha = (LOWER[2] - mu2) / s21
        return mu2 * stats.norm.sf(alpha) + s21 * stats.norm.pdf(alpha)

    z = integrate.quad(weight, LOWER[1], np.inf)[0]
    e1 = integrate.quad(lambda x: x * weight(x), LOWER[1], np.inf)[0] / z
    e2 = integrate.quad(lambda x: stats.norm.pdf(x, m[0], s1) * x2_mean_given(x), LOWER[1], np.inf)[0] / z
    return e1, e2


@pytest.fixture(scope="module")
def reference() -> tuple[float, float]:
    return _reference_means()


@pytest.mark.parametrize("max_tries", [50, 0], ids=["rejection", "gibbs"])
def test_truncated_mean_matches_integration(max_tries: int, reference: tuple[float, float]) -> None:
    rng = np.random.default_rng(7)
    m, c = _conditional()
    y = np.empty((N, 3))
    y[:, 0] = X0
    y[:, 1:] = m + rng.standard_normal((N, 2)) @ np.linalg.cholesky(c).T  # the untruncated imputation
    miss = np.zeros((N, 3), dtype=bool)
    miss[:, 1:] = True
    gibbs = truncate_rows(y, miss, MU, SIGMA, LOWER, UPPER, rng, max_tries=max_tries, sweeps=10)
    assert (y[:, 1:] >= LOWER[1:]).all()
    assert (y[:, 0] == X0).all()
    if max_tries == 0:
        assert gibbs > 0
    # Monte Carlo standard error of the mean: sd / sqrt(N) (< 0.01 here); 4 of them allowed
    se = y[:, 1:].std(axis=0) / np.sqrt(N)
    np.testing.assert_array_less(np.abs(y[:, 1:].mean(axis=0) - np.array(reference)), 4 * se)


def test_rows_inside_are_kept_unchanged() -> None:
    rng = np.random.default_rng(1)
    y = np.array([[0.1, 0.5, 0.4], [0.2, -1.0, 0.9]])
    miss = np.array([[False, True, True], [False, True, False]])
    before = y.copy()
    truncate_rows(y, miss, MU, SIGMA, LOWER, UPPER, rng)
    np.testing.assert_array_equal(y[0], before[0])  # inside the box: the draw stands
    assert y[1, 1] >= 0.0 and y[1, 2] == before[1, 2] and y[1, 0] == before[1, 0]
