"""The feasibility certificates (imputer/mvn/_certify.py) against the exact smallest correlation eigenvalue.

Reference: ``min_corr_eig`` (``numpy.linalg.eigvalsh`` of the correlation matrix). A
certificate may stay silent on a feasible matrix, but where it certifies, the exact
eigenvalue must be at least ``CERTIFY_EIG``.
"""

from __future__ import annotations

import numpy as np
import pytest

from imputer._gaussian.linalg import precision
from imputer.mvn._certify import CERTIFY_EIG, certified_by_floor, certified_by_precision
from imputer.mvn._emmap import em_update
from imputer.mvn._fit import min_corr_eig, start_values
from imputer.mvn._problem import MVNProblem

from .conftest import simulate
from .test_problem import standard


def _with_min_corr_eig(p: int, target: float, seed: int) -> np.ndarray:
    """A covariance (random scales) whose correlation matrix has smallest eigenvalue ``target``."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((p, p)))
    eig = np.linspace(target, 1.0, p)
    eig *= p / eig.sum()
    corr = q @ np.diag(eig) @ q.T
    d = np.sqrt(np.diag(corr))
    corr = corr / np.outer(d, d)
    # renormalising moves the smallest eigenvalue: shift it back onto the target
    corr += (target - np.linalg.eigvalsh(corr)[0]) * np.eye(p)
    corr /= np.outer(np.sqrt(np.diag(corr)), np.sqrt(np.diag(corr)))
    scale = np.exp(rng.uniform(-3.0, 3.0, p))
    return corr * np.outer(scale, scale)


@pytest.mark.parametrize("p", [3, 40, 300])
@pytest.mark.parametrize("target", [0.5, 1e-3, 1e-5, 1e-7, 1e-9])
def test_the_precision_bound_certifies_only_feasible_matrices(p: int, target: float) -> None:
    sigma = _with_min_corr_eig(p, target, seed=p)
    exact = min_corr_eig(sigma)
    lam, _ = precision(sigma)
    ok = certified_by_precision(np.diag(sigma), np.diag(lam))
    if ok:
        assert exact >= CERTIFY_EIG
    # the trace bound is at most p times pessimistic: well above that it must certify
    if exact >= 10 * p * CERTIFY_EIG:
        assert ok
    if exact < CERTIFY_EIG:
        assert not ok


def test_the_precision_bound_is_silent_on_non_finite_input() -> None:
    assert not certified_by_precision(np.array([1.0, np.nan]), np.array([1.0, 1.0]))
    assert not certified_by_precision(np.array([1.0, 1.0]), np.array([-1.0, -1.0]))


@pytest.mark.parametrize("p", [3, 50])
@pytest.mark.parametrize("share", [0.5, 1e-3, 1e-7])
def test_the_floor_bound_certifies_only_feasible_matrices(p: int, share: float) -> None:
    # Sigma = F + (a rank-one, singular part): min corr eig >= min F_jj / sigma_jj
    rng = np.random.default_rng(p)
    v = rng.standard_normal(p)
    floor = share * np.exp(rng.uniform(-1.0, 1.0, p))
    sigma = np.outer(v, v) + np.diag(floor)
    ok = certified_by_floor(np.diag(sigma), floor)
    assert ok == (np.min(floor / np.diag(sigma)) >= CERTIFY_EIG)
    if ok:
        assert min_corr_eig(sigma) >= CERTIFY_EIG
    assert not certified_by_floor(np.diag(sigma), None)


@pytest.mark.parametrize("ridge", [0.0, 1.0, 25.0])
@pytest.mark.parametrize(("n", "p"), [(40, 5), (10, 60)])
def test_the_updates_floor_is_below_its_covariance(ridge: float, n: int, p: int) -> None:
    # the M-step's Sigma' minus diag(floor) is the expected scatter over V + a: positive
    # semi-definite, so its smallest eigenvalue is >= 0 up to rounding
    data = standard(simulate(n, p, seed=3, rate=0.3))
    mu, sigma = start_values(data)
    upd = em_update(data, mu, sigma, ridge)
    if ridge == 0.0:
        assert upd.floor is None
        return
    rest = upd.sigma - np.diag(upd.floor)
    assert np.linalg.eigvalsh(rest)[0] >= -1e-12 * np.abs(upd.sigma).max()
    np.testing.assert_allclose(upd.floor, ridge / (n + ridge))


def test_a_nearly_singular_point_is_refused_by_the_exact_test() -> None:
    # a covariance whose correlation has its smallest eigenvalue below SINGULAR_EIG: no
    # bound certifies it, and the exact test refuses it
    data = standard(simulate(30, 4, seed=1))
    problem = MVNProblem(data, 0.0)
    sigma = _with_min_corr_eig(4, 1e-12, seed=0)
    x = problem.pack((np.zeros(4), sigma))
    assert not problem.feasible(x)
    _, objective = problem.step(x)
    assert objective == -np.inf
