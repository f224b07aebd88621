"""Multi-trait models with several random terms (dense V engine) against the dense direct
REML/ML maximisation of the stacked model (tests/reference/multitrait_direct.py), and the
dense engine against the spectral one on one term."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imputer import fit_mixed, fit_mixed_frame
from imputer._threads import single_blas_thread
from imputer.errors import ImputerValueError
from imputer.mixed._multitrait import MultiTraitEngine
from imputer.mixed._multitrait_dense import DenseMultiEngine
from tests.reference import multitrait_direct as ref

G1 = np.array([[1.5, 0.6], [0.6, 1.0]])
G2 = np.array([[1.0, 0.3], [0.3, 0.8]])
R0 = np.array([[1.0, 0.3], [0.3, 0.7]])


def _data(n: int = 60, seed: int = 4, miss: float = 0.2):
    """Two traits: a kernel term (K) and a block term (10 environments of 6 rows)."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n // 2))
    K = A @ A.T / (n // 2) + 0.05 * np.eye(n)
    env = np.repeat(np.arange(10), n // 10)
    Zb = (env[:, None] == np.arange(10)[None, :]).astype(float)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    Y = (X @ rng.normal(size=(2, 2)) + np.linalg.cholesky(K) @ rng.normal(size=(n, 2)) @ np.linalg.cholesky(G1).T
         + Zb @ rng.normal(size=(10, 2)) @ np.linalg.cholesky(G2).T + rng.normal(size=(n, 2)) @ np.linalg.cholesky(R0).T)
    Y[rng.random((n, 2)) < miss] = np.nan
    return Y, X, K, Zb, env


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_two_terms_against_dense_direct(data, method):
    Y, X, K, Zb, _ = data
    res = fit_mixed(pd.DataFrame(Y, columns=["a", "b"]), X, {"g": {"Z": np.eye(len(Y)), "K": K}, "env": {"Z": Zb}},
                    method=method, tol=1e-10)
    assert res.converged and list(res.covariances) == ["g", "env", "residual"]
    Ms = [K, Zb @ Zb.T]
    s2 = np.nanvar(Y, axis=0)
    with single_blas_thread():
        covs, ll_ref = ref.fit(Y, X, Ms, [np.diag(s2 / 3)] * 3, method == "ML")
    assert res.loglik >= ll_ref - 1e-8 * abs(ll_ref)
    for name, S in zip(["g", "env", "residual"], covs):
        np.testing.assert_allclose(res.covariances[name].to_numpy(), S, atol=1e-5, rtol=1e-5)
    mats = [res.covariances[k].to_numpy() for k in ("g", "env", "residual")]
    assert res.loglik == pytest.approx(ref.loglik(Y, X, Ms, mats, method == "ML"), rel=1e-12)
    np.testing.assert_allclose(res.completed.to_numpy(), ref.conditional_mean(Y, X, Ms, mats), rtol=1e-9, atol=1e-9)
    assert np.all(np.diff(res.loglik_history) >= -1e-9 * abs(res.loglik))
    assert res.u["env"].shape == (10, 2) and res.u["g"].shape == (len(Y), 2)


def test_two_terms_from_a_table(data):
    Y, X, K, Zb, env = data
    ids = [f"i{j}" for j in range(len(Y))]
    df = pd.DataFrame({"id": ids, "env": [f"e{e}" for e in env], "x": X[:, 1], "a": Y[:, 0], "b": Y[:, 1]})
    res = fit_mixed_frame(df, ["a", "b"], fixed=["x"], random=["id", "env"],
                          kernels={"id": pd.DataFrame(K, index=ids, columns=ids)}, tol=1e-9)
    mat = fit_mixed(pd.DataFrame(Y, columns=["a", "b"]), X, {"id": {"Z": np.eye(len(Y)), "K": K}, "env": {"Z": Zb}},
                    tol=1e-9)
    for name in ("id", "env", "residual"):
        np.testing.assert_allclose(res.covariances[name].to_numpy(), mat.covariances[name].to_numpy(), rtol=1e-7)


@pytest.mark.parametrize("ml", [False, True])
def test_dense_engine_equals_spectral_on_one_term(data, ml):
    Y, X, K, _, _ = data
    s, U = np.linalg.eigh(K)
    spectral = MultiTraitEngine(X, Y, s, U, len(s), ml).evaluate_full(G1, R0)
    dense = DenseMultiEngine(X, Y, [K], [len(s)], ml).evaluate_full([G1, R0])
    assert dense.loglik == pytest.approx(spectral.loglik, rel=1e-12)
    np.testing.assert_allclose(dense.score, spectral.score, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(dense.ai, spectral.ai, rtol=1e-8, atol=1e-10)
    for a, b in zip(dense.em, spectral.em):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    ("case", "match"),
    [("missing", "response: trait 'b' has no observed values"), ("constant", "response: trait 'b' has zero variance")],
)
def test_bad_traits_in_a_table_name_the_response(data, case, match):
    Y, X, _, _, env = data
    df = pd.DataFrame({"env": [f"e{e}" for e in env], "a": Y[:, 0], "b": np.nan if case == "missing" else 2.5})
    with pytest.raises(ImputerValueError, match=match):
        fit_mixed_frame(df, ["a", "b"], random=["env"])
