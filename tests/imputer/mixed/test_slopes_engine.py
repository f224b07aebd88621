"""The engine for covariance terms: parameter layout, feasibility, the EM map, block elimination.

* :class:`Layout` packs each ``G_i`` as its lower triangle (vech) or diagonal and back;
* an extrapolated point with an indefinite ``G`` is infeasible (SQUAREM then falls back);
* the EM map has the estimate as a fixed point, and plain EM never lowers the likelihood;
* eliminating a term's ``d x d`` blocks level by level gives the same log-likelihood and
  EM update as keeping the term in the dense Schur complement (REML and ML, with a
  crossed term and missing y).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

import imputer
from imputer.mixed._design import build_frame_problem
from imputer.mixed._mme import System
from imputer.mixed._problem import Layout, MixedProblem
from imputer.mixed.api import _centre, _engine


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n, q = 120, 12
    g = rng.integers(0, q, size=n)
    t = rng.uniform(0, 5, size=n)
    h = rng.integers(0, 4, size=n)
    U = rng.multivariate_normal([0, 0], [[2.0, 0.3], [0.3, 0.4]], size=q)
    y = 1 + 0.5 * t + U[g, 0] + U[g, 1] * t + rng.normal(scale=0.8, size=4)[h] + rng.normal(size=n)
    df = pd.DataFrame({"y": y, "t": t, "g": [f"g{i}" for i in g], "h": [f"h{i}" for i in h]})
    df.loc[[5, 50], "y"] = np.nan
    return df


def test_layout_packs_and_unpacks() -> None:
    lay = Layout(dims=(1, 3, 2), structures=("us", "us", "diag"))
    assert lay.size == 1 + 6 + 2 and lay.offsets == (0, 1, 7, 9)
    G = np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 3.0]])
    theta = np.zeros(lay.size + 1)
    theta[lay.slot(1)] = lay.vector(G, 1)
    np.testing.assert_array_equal(lay.matrix(theta, 1), G)
    assert list(theta[lay.slot(1)]) == [2.0, 0.5, 1.0, 0.1, 0.2, 3.0]  # vech, row by row
    D = np.diag([4.0, 5.0])
    theta[lay.slot(2)] = lay.vector(D, 2)
    np.testing.assert_array_equal(lay.matrix(theta, 2), D)
    mask = lay.variances()
    assert list(np.flatnonzero(mask)) == [0, 1, 3, 6, 7, 8, 9]


@pytest.mark.parametrize(
    ("G", "ok"),
    [([[1.0, 0.5], [0.5, 1.0]], True), ([[1.0, 1.5], [1.5, 1.0]], False), ([[1.0, 0.0], [0.0, -1e-9]], False)],
)
def test_feasible_requires_a_positive_definite_G(G: list, ok: bool) -> None:
    problem = build_frame_problem(_frame(), "y", ["t"], ["(t | g)"], None, True, "REML")
    ols = _centre(problem)
    engine, _ = _engine(problem, ols.X, ols.y0, ols.Z, False, None)
    mp = MixedProblem(engine, (0,))
    x = np.concatenate([engine.layout.vector(np.array(G), 0), [1.0]])
    assert mp.feasible(x) is ok
    if not ok:
        assert mp.step(x)[1] == -np.inf


def test_em_fixed_point_and_monotone_plain_em() -> None:
    df = _frame()
    res = imputer.fit_mixed_frame(df, "y", fixed=["t"], random=["(t | g)", "h"])
    plain = imputer.fit_mixed_frame(df, "y", fixed=["t"], random=["(t | g)", "h"], accelerate=False)
    assert np.all(np.diff(plain.loglik_history) >= -1e-10 * abs(plain.loglik))
    assert plain.loglik == pytest.approx(res.loglik, rel=1e-10)
    problem = build_frame_problem(df, "y", ["t"], ["(t | g)", "h"], None, True, "REML")
    ols = _centre(problem)
    engine, _ = _engine(problem, ols.X, ols.y0, ols.Z, False, None)
    mp = MixedProblem(engine, (0, 1))
    lay = engine.layout
    x = np.concatenate([lay.vector(res.covariances["g"].to_numpy(), 0), [res.var_comp["h"], res.var_comp["residual"]]])
    new, ll = mp.step(x)
    assert ll == pytest.approx(res.loglik, rel=1e-12)
    assert mp.distance(x, new) < 1e-8


@pytest.mark.parametrize("ml", [False, True])
def test_block_elimination_equals_the_dense_path(ml: bool) -> None:
    problem = build_frame_problem(_frame(), "y", ["t"], ["(t | g)", "h"], None, True, "ML" if ml else "REML")
    ols = _centre(problem)
    engine, _ = _engine(problem, ols.X, ols.y0, ols.Z, ml, None)
    gram = engine.g
    eliminated = System(gram, (0, 1))
    assert eliminated.e == 0  # the slopes term (24 columns) is eliminated block by block
    dense_gram = copy.copy(gram)
    dense_gram.block_ok = [False, False]
    dense = System(dense_gram, (0, 1))
    assert dense.e is None
    lay = engine.layout
    sig2 = np.concatenate([lay.vector(np.array([[1.5, 0.2], [0.2, 0.3]]), 0), [0.7]])
    ll_a, up_a = eliminated.evaluate(lay, sig2, 1.1, ml)
    ll_b, up_b = dense.evaluate(lay, sig2, 1.1, ml)
    assert ll_a == pytest.approx(ll_b, rel=1e-12)
    np.testing.assert_allclose(up_a, up_b, rtol=1e-10)
    # the score of the whole term at zero, from a model without it
    sc_a = System(gram, (1,)).score_at_zero(lay, sig2, 1.1, 0, ml)
    sc_b = System(dense_gram, (1,)).score_at_zero(lay, sig2, 1.1, 0, ml)
    assert sc_a == pytest.approx(sc_b, rel=1e-10)
    sol_a, sol_b = eliminated.final(lay, sig2, 1.1), dense.final(lay, sig2, 1.1)
    np.testing.assert_allclose(sol_a.Cii[0], sol_b.Cii[0], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(sol_a.v[0], sol_b.v[0], rtol=1e-10)
