"""imputer._gaussian.rows: per-row densities, distances, conditional means and draws."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from imputer._gaussian.estep import estep
from imputer._gaussian.layout import build_layout
from imputer._gaussian.objective import loglik
from imputer._gaussian.rows import conditional_draws, conditional_means, row_logdensity, row_mahalanobis


def test_row_logdensity_is_scipy_on_the_observed_cells(case) -> None:
    dens = row_logdensity(build_layout(case.x), case.mean, case.cov)
    assert dens.shape == (case.n,)
    for i, row in enumerate(case.x):
        o = ~np.isnan(row)
        expected = multivariate_normal(case.mean[o], case.cov[np.ix_(o, o)]).logpdf(row[o]) if o.any() else 0.0
        assert dens[i] == pytest.approx(expected, rel=1e-9, abs=1e-9), i


def test_row_logdensities_sum_to_the_loglik(case) -> None:
    data = build_layout(case.x)
    total = float(row_logdensity(data, case.mean, case.cov).sum())
    assert total == pytest.approx(loglik(estep(data, case.mean, case.cov), case.mean, case.cov), rel=1e-10)


def test_weighted_loglik_is_the_weighted_sum_of_row_logdensities(case) -> None:
    data = build_layout(case.x)
    w = np.random.default_rng(3).uniform(0.1, 2.0, case.n)
    dens = row_logdensity(data, case.mean, case.cov)
    assert loglik(estep(data, case.mean, case.cov, w), case.mean, case.cov) == pytest.approx(float(w @ dens), rel=1e-10)


def test_row_mahalanobis_is_the_formula(case) -> None:
    d2 = row_mahalanobis(build_layout(case.x), case.mean, case.cov)
    for i, row in enumerate(case.x):
        o = ~np.isnan(row)
        r = row[o] - case.mean[o]
        expected = float(r @ np.linalg.solve(case.cov[np.ix_(o, o)], r)) if o.any() else 0.0
        assert d2[i] == pytest.approx(expected, rel=1e-9, abs=1e-9), i


def test_conditional_means_are_the_regression_formula(case, ref) -> None:
    data = build_layout(case.x)
    work = data.work.copy()
    filled = conditional_means(data, case.mean, case.cov)
    expected = np.array([ref.row(row, case.mean, case.cov)[0] for row in case.x])
    np.testing.assert_allclose(filled, expected, rtol=1e-9, atol=1e-9)
    observed = ~np.isnan(case.x)
    assert np.array_equal(filled[observed], case.x[observed])  # bit for bit
    assert np.array_equal(data.work, work)  # out of place


@pytest.mark.parametrize("miss", [[1], [0, 2, 3], [0, 1, 2, 3, 4]])
def test_conditional_draws_have_the_conditional_moments(ref, miss) -> None:
    """20,000 copies of one row: sample mean and covariance of the drawn cells within 5 SE."""
    case = ref.make_case("small")
    row = np.array([0.4, -1.0, 2.0, 0.3, -0.7])
    row[miss] = np.nan
    n = 20_000
    data = build_layout(np.tile(row, (n, 1)))
    draws = conditional_draws(data, case.mean, case.cov, np.random.default_rng(5))[:, miss]
    zhat, c, _ = ref.row(row, case.mean, case.cov)
    mean, cov = zhat[miss], c[np.ix_(miss, miss)]
    sd = np.sqrt(np.diag(cov))
    assert np.all(np.abs(draws.mean(axis=0) - mean) <= 5 * sd / np.sqrt(n))
    se_cov = np.sqrt((np.outer(sd**2, sd**2) + cov**2) / n)
    assert np.all(np.abs(np.cov(draws, rowvar=False).reshape(cov.shape) - cov) <= 5 * se_cov)


def test_conditional_draws_keep_observed_cells_and_follow_the_seed(case) -> None:
    data = build_layout(case.x)
    work = data.work.copy()
    a = conditional_draws(data, case.mean, case.cov, np.random.default_rng(1))
    b = conditional_draws(data, case.mean, case.cov, np.random.default_rng(1))
    c = conditional_draws(data, case.mean, case.cov, np.random.default_rng(2))
    observed = ~np.isnan(case.x)
    assert np.array_equal(a[observed], case.x[observed])
    assert np.array_equal(a, b)
    assert not np.any(a[~observed] == c[~observed])
    assert np.array_equal(data.work, work)


def test_per_row_functions_need_the_complete_rows(ref) -> None:
    case = ref.make_case("small")
    data = build_layout(case.x, keep_complete=False)
    with pytest.raises(ValueError, match="without its complete rows"):
        row_logdensity(data, case.mean, case.cov)
