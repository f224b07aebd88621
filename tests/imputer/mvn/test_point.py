"""The per-point factorisations (imputer/mvn/_point.py) and the EM map's independence of call history.

References: ``numpy.linalg.inv`` and ``slogdet`` for the precision, a gather through the
``vech`` index for the packing.
"""

from __future__ import annotations

import numpy as np
import pytest

from imputer._gaussian.linalg import Infeasible
from imputer.mvn._fit import start_values
from imputer.mvn._point import PointCache, _permuted, pack_sigma, unpack_sigma
from imputer.mvn._problem import MVNProblem

from .conftest import simulate
from .test_problem import standard


def _spd(p: int, seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).standard_normal((p, p + 3))
    return a @ a.T / p


@pytest.mark.parametrize("p", [1, 7, 600])
def test_unpack_and_pack_are_the_vech_layout(p: int) -> None:
    sigma = _spd(p, p)
    rows, cols = np.tril_indices(p)
    vech = sigma[rows, cols]
    np.testing.assert_array_equal(pack_sigma(sigma), vech)
    back = unpack_sigma(vech, p)
    np.testing.assert_array_equal(back, sigma)
    np.testing.assert_array_equal(back, back.T)


@pytest.mark.parametrize("p", [1, 31, 32, 33, 100])  # around the block of rows
def test_permuted_is_the_two_sided_gather(p: int) -> None:
    a = np.random.default_rng(p).standard_normal((p, p))  # not symmetric: rows and columns told apart
    order = np.random.default_rng(p + 1).permutation(p)
    out = _permuted(a, order)
    np.testing.assert_array_equal(out, a[np.ix_(order, order)])
    assert out.flags.c_contiguous


@pytest.mark.parametrize("p", [4, 40, 600])
def test_the_precision_from_the_ordered_factor(p: int) -> None:
    sigma = _spd(p, 1)
    order = np.random.default_rng(2).permutation(p)
    cache = PointCache(p, order)
    x = np.concatenate([np.zeros(p), pack_sigma(sigma)])
    lam, logdet = cache.precision(x)
    np.testing.assert_allclose(lam, np.linalg.inv(sigma), rtol=1e-9, atol=1e-9 * np.abs(lam).max())
    np.testing.assert_array_equal(lam, lam.T)
    assert logdet == pytest.approx(np.linalg.slogdet(sigma)[1], rel=1e-12)
    # the factor is that of P Sigma P'
    c = cache.factor(x)
    np.testing.assert_allclose(c @ c.T, sigma[np.ix_(order, order)], rtol=1e-12, atol=1e-12)
    # precision_of: the same arithmetic, bit for bit (on a cache that keeps nothing), and
    # the kept point's own result where Sigma is exactly its Sigma
    lam2, logdet2 = PointCache(p, order).precision_of(sigma.copy())
    np.testing.assert_array_equal(lam2, lam)
    assert logdet2 == logdet
    assert cache.precision_of(sigma.copy()) is cache.precision(x)
    other = sigma.copy()
    other[0, 0] *= 1.5
    assert cache.precision_of(other)[0] is not lam
    assert cache.precision_of(other)[1] != logdet


def test_two_points_are_kept_and_a_third_replaces_the_older() -> None:
    p = 5
    cache = PointCache(p, np.arange(p))
    xs = [np.concatenate([np.zeros(p), pack_sigma(_spd(p, s))]) for s in range(3)]
    first = cache.precision(xs[0])
    cache.precision(xs[1])
    assert cache.precision(xs[0]) is first  # kept
    cache.precision(xs[2])  # xs[0] was asked about last: xs[1] goes
    assert cache.precision(xs[0]) is first
    again = cache.precision(xs[1])
    np.testing.assert_array_equal(again[0], cache.precision_of(unpack_sigma(xs[1][p:], p))[0])


def test_a_matrix_that_is_not_positive_definite_raises() -> None:
    p = 3
    sigma = np.diag([1.0, -1.0, 1.0])
    cache = PointCache(p, np.arange(p))
    with pytest.raises(Infeasible, match="not positive definite"):
        cache.precision(np.concatenate([np.zeros(p), pack_sigma(sigma)]))


@pytest.mark.parametrize("ridge", [0.0, 1.0])
@pytest.mark.parametrize("before", ["nothing", "feasible", "to_free", "feasible+to_free", "other points"])
def test_the_em_map_is_a_function_of_the_point_alone(ridge: float, before: str) -> None:
    # whatever the driver asked at x (or elsewhere) before, step(x) gives the same bits as
    # on a fresh problem
    df = simulate(25, 30, seed=4, rate=0.3)
    fresh = MVNProblem(standard(df), ridge)
    x0 = fresh.pack(start_values(fresh.data))
    x1, _ = fresh.step(x0)
    x = x1 + 0.0  # a new array object: nothing is known about it
    ref_fx, ref_obj = MVNProblem(standard(df), ridge).step(x.copy())
    problem = MVNProblem(standard(df), ridge)
    if "feasible" in before:
        assert problem.feasible(x)
    if "to_free" in before:
        z = problem.to_free(x)
        y = problem.from_free(z + 1e-3)  # a proposal, whose factor from_free made
        assert problem.feasible(y)
        fy, objy = problem.step(y)
        ref_fy, ref_objy = MVNProblem(standard(df), ridge).step(y.copy())
        assert objy == ref_objy
        np.testing.assert_array_equal(fy, ref_fy)
    if before == "other points":
        for s in (0.9, 1.1):
            y = x.copy()
            y[30:] *= s
            problem.step(y)
    fx, obj = problem.step(x)
    assert obj == ref_obj
    np.testing.assert_array_equal(fx, ref_fx)
    # the update's Sigma, kept for its next use, is exactly the one its packing holds
    np.testing.assert_array_equal(problem._point.sigma(fx), problem.unpack(fx).sigma)
