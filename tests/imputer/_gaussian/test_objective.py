"""imputer._gaussian.objective: log-likelihood, log-posterior and M-step from the statistics."""

from __future__ import annotations

import numpy as np
import pytest

from imputer._gaussian.estep import estep
from imputer._gaussian.layout import build_layout
from imputer._gaussian.objective import log_posterior, loglik, mstep, ridge_penalty, scatter_about
from tests.reference.mvn_mle import observed_loglik


def test_loglik_from_statistics_is_the_observed_data_loglik(case) -> None:
    stats = estep(build_layout(case.x), case.mean, case.cov)
    assert loglik(stats, case.mean, case.cov) == pytest.approx(observed_loglik(case.x, case.mean, case.cov), rel=1e-10)


@pytest.mark.parametrize("ridge", [0.0, 2.5])
def test_log_posterior_subtracts_the_ridge_prior(case, ridge) -> None:
    stats = estep(build_layout(case.x), case.mean, case.cov)
    logdet = np.linalg.slogdet(case.cov)[1]
    penalty = 0.5 * ridge * (logdet + np.trace(np.linalg.inv(case.cov)))
    assert ridge_penalty(ridge, case.cov) == pytest.approx(penalty, rel=1e-12, abs=0.0)
    assert log_posterior(stats, case.mean, case.cov, ridge) == pytest.approx(
        observed_loglik(case.x, case.mean, case.cov) - penalty, rel=1e-10
    )


@pytest.mark.parametrize("ridge", [0.0, 2.5])
@pytest.mark.parametrize("kind", ["unweighted", "mixture", "t"])
def test_mstep_is_the_weighted_mode(case, ref, ridge, kind) -> None:
    """``mu' = sum w zhat / W``, ``Sigma' = (sum w (zhat - mu')(zhat - mu')' + sum v C + ridge I) / (V + ridge)``."""
    rng = np.random.default_rng(9)
    w = np.ones(case.n) if kind == "unweighted" else rng.uniform(0.1, 2.0, case.n)
    v = np.ones(case.n) if kind != "mixture" else w
    data = build_layout(case.x)
    stats = estep(data, case.mean, case.cov, None if kind == "unweighted" else w, None if kind == "unweighted" else v)
    rows = [ref.row(row, case.mean, case.cov) for row in case.x]
    zhat = np.array([r[0] for r in rows])
    mu = w @ zhat / w.sum()
    d = zhat - mu
    sigma = ((d.T * w) @ d + sum(vi * r[1] for vi, r in zip(v, rows)) + ridge * np.eye(case.p)) / (v.sum() + ridge)
    mu_new, sigma_new = mstep(stats, case.mean, ridge)
    np.testing.assert_allclose(mu_new, mu, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(sigma_new, sigma, rtol=1e-9, atol=1e-10)
    assert np.array_equal(sigma_new, sigma_new.T)


def test_scatter_about_the_mean(case, ref) -> None:
    stats = estep(build_layout(case.x), case.mean, case.cov)
    expected = np.zeros((case.p, case.p))
    for row in case.x:
        zhat, c, _ = ref.row(row, case.mean, case.cov)
        expected += np.outer(zhat - case.mean, zhat - case.mean) + c
    np.testing.assert_allclose(scatter_about(stats, case.mean), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("p", [40, 600])  # whole-matrix operations, and tiles above p = 512
@pytest.mark.parametrize("overwrite", [False, True])
def test_scatter_and_mstep_by_tiles_are_the_formula(p: int, overwrite: bool) -> None:
    # A = (S2 + C + (S2 + C)')/2 - (u mu' + mu u'), u = s1 - (W/2) mu, and the M-step's
    # (A - W delta delta' + lambda I) / (V + lambda): exactly symmetric, and the given
    # scatter left alone unless it may be overwritten
    from imputer._gaussian.stats import SufficientStats

    rng = np.random.default_rng(p)
    s2 = rng.standard_normal((p, p))
    cond = rng.standard_normal((p, p))
    stats = SufficientStats(weight=50.0, cov_weight=50.0, s1=rng.standard_normal(p), s2=s2, cond=cond, entropy=0.0)
    mean = rng.standard_normal(p)
    a = scatter_about(stats, mean)
    u = stats.s1 - 25.0 * mean
    ref = 0.5 * ((s2 + cond) + (s2 + cond).T) - (np.outer(u, mean) + np.outer(mean, u))
    np.testing.assert_allclose(a, ref, rtol=0, atol=1e-13 * np.abs(ref).max())
    np.testing.assert_array_equal(a, a.T)
    given = a.copy()
    mu_new, sigma = mstep(stats, mean, 2.0, scatter=given, overwrite_scatter=overwrite)
    delta = (stats.s1 - 50.0 * mean) / 50.0
    np.testing.assert_allclose(mu_new, mean + delta, rtol=1e-15)
    ref_sigma = (a - 50.0 * np.outer(delta, delta) + 2.0 * np.eye(p)) / 52.0
    np.testing.assert_allclose(sigma, ref_sigma, rtol=0, atol=1e-13 * np.abs(ref_sigma).max())
    np.testing.assert_array_equal(sigma, sigma.T)
    if not overwrite:
        np.testing.assert_array_equal(given, a)


@pytest.mark.parametrize("p", [40, 600])
def test_scatter_made_in_the_memory_of_cond_is_the_same(p: int) -> None:
    # overwrite=True: the same numbers, bit for bit, in stats.cond's array; S2 untouched
    from imputer._gaussian.stats import SufficientStats

    rng = np.random.default_rng(p + 1)
    s2, cond = rng.standard_normal((p, p)), rng.standard_normal((p, p))
    stats = SufficientStats(weight=9.0, cov_weight=9.0, s1=rng.standard_normal(p), s2=s2.copy(), cond=cond, entropy=0.0)
    mean = rng.standard_normal(p)
    ref = scatter_about(stats, mean)
    np.testing.assert_array_equal(stats.cond, cond)  # by default nothing given is written
    a = scatter_about(stats, mean, overwrite=True)
    assert a is stats.cond
    np.testing.assert_array_equal(a, ref)
    np.testing.assert_array_equal(stats.s2, s2)
