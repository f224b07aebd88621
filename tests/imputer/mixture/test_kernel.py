"""The mixture passes (PatternPlan, RowPlan) against a row-by-row computation.

Reference: for every row, the observed part's log-density under each component (the
normal density formula with numpy's slogdet and inverse), the responsibilities by log-sum-exp, and the
conditional mean and covariance of the missing cells under each component, summed row by
row into N_k, s1 and the expected second moments. No pattern grouping, no update form,
no closed form.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp

from imputer._gaussian.layout import build_layout
from imputer._gaussian.linalg import Infeasible
from imputer.mixture._kernel import MixturePlan, PatternPlan
from imputer.mixture._rowkernel import RowPlan

from tests.imputer.mixture.helpers import COMPILED, plan_class


def _data(n: int, p: int, rate: float, complete_rows: bool, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, p)) @ rng.standard_normal((p, p)) + rng.integers(0, 3, n)[:, None] * 2.0
    x[rng.random((n, p)) < rate] = np.nan
    x[:3] = np.nan  # rows with nothing observed
    x[5, 1:] = np.nan  # and a pattern of its own
    if not complete_rows:
        x[~np.isnan(x).any(axis=1), 0] = np.nan
    return x


def _params(k: int, p: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(k) * 3)
    means = rng.standard_normal((k, p)) * 2.0
    covs = np.stack([a @ a.T + 0.5 * np.eye(p) for a in rng.standard_normal((k, p, p))])
    return weights, means, covs


def _by_rows(x: np.ndarray, weights: np.ndarray, means: np.ndarray, covs: np.ndarray):
    n, p = x.shape
    k = weights.size
    dens = np.zeros((n, k))
    zhat = np.zeros((n, k, p))
    cond = np.zeros((n, k, p, p))
    for i in range(n):
        o = ~np.isnan(x[i])
        m = ~o
        for j in range(k):
            mu, s = means[j], covs[j]
            if o.any():
                s_oo_inv = np.linalg.inv(s[np.ix_(o, o)])
                r = x[i, o] - mu[o]
                dens[i, j] = -0.5 * (o.sum() * np.log(2 * np.pi) + np.linalg.slogdet(s[np.ix_(o, o)])[1] + r @ s_oo_inv @ r)
                b = s[np.ix_(m, o)] @ s_oo_inv
                zhat[i, j, o] = x[i, o]
                zhat[i, j, m] = mu[m] + b @ (x[i, o] - mu[o])
                cond[i, j][np.ix_(m, m)] = s[np.ix_(m, m)] - b @ s[np.ix_(o, m)]
            else:
                zhat[i, j] = mu
                cond[i, j] = s
    joint = dens + np.log(weights)
    loglik = logsumexp(joint, axis=1)
    resp = np.exp(joint - loglik[:, None])
    nk = resp.sum(axis=0)
    s1 = np.einsum("ik,ikp->kp", resp, zhat)
    s2 = np.einsum("ik,ikp,ikq->kpq", resp, zhat, zhat) + np.einsum("ik,ikpq->kpq", resp, cond)
    return loglik.sum(), resp, dens, nk, s1, s2


@pytest.mark.parametrize("plan_name", ["pattern", "row", COMPILED])
@pytest.mark.parametrize(
    ("k", "n", "rate", "complete_rows"),
    # the last: patterns of over 1024 and over 128 rows (cut into items of 1024, 128 and 16)
    [(1, 150, 0.3, True), (3, 300, 0.25, True), (3, 200, 0.4, False), (4, 1600, 0.06, True)],
    ids=["K1", "K3", "K3-no-complete-rows", "K4-big-patterns"],
)
def test_pass_equals_the_row_by_row_computation(plan_name: str, k: int, n: int, rate: float, complete_rows: bool) -> None:
    p = 4
    x = _data(n, p, rate, complete_rows, seed=k)
    params = _params(k, p, seed=10 + k)
    cp = plan_class(plan_name)(build_layout(x), k).run(*params, rows=True)
    loglik, resp, dens, nk, s1, s2 = _by_rows(x, *params)
    assert cp.loglik == pytest.approx(loglik, rel=1e-12, abs=1e-9)
    np.testing.assert_allclose(cp.resp, resp, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cp.log_dens, dens, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(cp.nk, nk, rtol=1e-10)
    np.testing.assert_allclose(cp.s1, s1, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(cp.s2, s2, rtol=1e-10, atol=1e-9)


def test_statistics_do_not_depend_on_the_order_of_components() -> None:
    """One component's moments are the total minus the others' (the largest weight's): any order gives the same."""
    x = _data(400, 4, 0.25, True, seed=7)
    weights, means, covs = _params(3, 4, seed=8)
    plan = PatternPlan(build_layout(x), 3)
    a = plan.run(weights, means, covs)
    perm = np.array([2, 0, 1])
    b = plan.run(weights[perm], means[perm], covs[perm])
    np.testing.assert_allclose(b.nk, a.nk[perm], rtol=1e-12)
    np.testing.assert_allclose(b.s2, a.s2[perm], rtol=1e-11, atol=1e-10)


@pytest.mark.parametrize("plan_name", ["pattern", "row", COMPILED])
def test_a_singular_covariance_is_infeasible(plan_name: str) -> None:
    x = _data(100, 3, 0.2, True, seed=3)
    weights, means, covs = _params(2, 3, seed=4)
    covs[1] = np.outer([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    with pytest.raises(Infeasible, match="positive definite"):
        plan_class(plan_name)(build_layout(x), 2).run(weights, means, covs)


@pytest.mark.parametrize(("n", "expected"), [(2000, PatternPlan), (100, RowPlan)])
def test_the_pattern_pass_needs_enough_rows_per_pattern(n: int, expected: type) -> None:
    """At least (p + 1)^2 rows per pattern on average: 2,000 rows in 8 patterns of 3 columns, not 100."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 3))
    x[rng.random((n, 3)) < 0.5] = np.nan
    data = build_layout(x)
    assert data.patterns.n_patterns == 8
    assert isinstance(MixturePlan(data, 2), expected)


def test_patterns_in_chunks_give_the_same_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pattern-level arrays in chunks of 7 patterns (groups cut at chunk boundaries) change nothing."""
    x = _data(500, 4, 0.3, True, seed=11)
    params = _params(3, 4, seed=12)
    whole = PatternPlan(build_layout(x), 3).run(*params, rows=True)
    monkeypatch.setattr("imputer.mixture._kernel._PATTERN_ELEMENTS", 7 * 3 * 25)
    plan = PatternPlan(build_layout(x), 3)
    assert len(plan.chunks) > 2
    cut = plan.run(*params, rows=True)
    assert cut.loglik == pytest.approx(whole.loglik, rel=1e-13)
    np.testing.assert_allclose(cut.resp, whole.resp, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cut.s2, whole.s2, rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize("plan_name", ["pattern", COMPILED])
def test_rows_far_from_every_component_keep_their_responsibilities(plan_name: str) -> None:
    """Rows whose shifted log-densities all fall below -600 are redone with their own shift
    (the compiled pass shifts every row by its own largest term)."""
    k, p = 3, 4
    x = _data(400, p, 0.25, True, seed=21)
    x[10] = [300.0, -250.0, np.nan, 280.0]  # Mahalanobis distance in the thousands
    x[11] = 400.0
    params = _params(k, p, seed=22)
    cp = plan_class(plan_name)(build_layout(x), k).run(*params, rows=True)
    loglik, resp, dens, _, _, s2 = _by_rows(x, *params)
    assert cp.loglik == pytest.approx(loglik, rel=1e-12)
    np.testing.assert_allclose(cp.resp, resp, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cp.log_dens, dens, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(cp.s2, s2, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("plan_name", ["pattern", COMPILED])
def test_ill_conditioned_covariances_keep_their_digits(plan_name: str) -> None:
    """Nearly rank-2 covariances (condition number about 1e6): the pattern pass as exact as the row-by-row one."""
    k, p = 3, 5
    x = _data(600, p, 0.25, True, seed=3)
    rng = np.random.default_rng(4)
    weights, means = rng.dirichlet(np.ones(k) * 3), rng.standard_normal((k, p))
    covs = np.stack([a @ a.T + 1e-5 * np.eye(p) for a in rng.standard_normal((k, p, 2))])
    cp = plan_class(plan_name)(build_layout(x), k).run(weights, means, covs, rows=True)
    loglik, resp, _, _, _, s2 = _by_rows(x, weights, means, covs)
    assert cp.loglik == pytest.approx(loglik, rel=1e-10)
    np.testing.assert_allclose(cp.resp, resp, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cp.s2, s2, rtol=1e-9, atol=1e-8)
